//! Message compression, as gRPC negotiates it: `grpc-encoding` names the encoding of a stream's
//! compressed messages, `grpc-accept-encoding` lists what a peer can decode, and each message's
//! flag says whether that message is compressed. Supported: gzip, deflate (zlib format, as
//! C-core and Java send it) and zstd, each behind a cargo feature.

use std::fmt;
use std::io::Write as _;

use bytes::{BufMut, BytesMut};
use http::HeaderValue;

/// A message compression algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CompressionEncoding {
    /// gzip (RFC 1952).
    #[cfg(feature = "gzip")]
    Gzip,
    /// deflate in the zlib format (RFC 1950), as gRPC implementations use it.
    #[cfg(feature = "gzip")]
    Deflate,
    /// Zstandard (RFC 8878).
    #[cfg(feature = "zstd")]
    Zstd,
}

impl CompressionEncoding {
    /// Every encoding this build supports, in order of preference.
    pub const ALL: &'static [CompressionEncoding] = &[
        #[cfg(feature = "gzip")]
        CompressionEncoding::Gzip,
        #[cfg(feature = "zstd")]
        CompressionEncoding::Zstd,
        #[cfg(feature = "gzip")]
        CompressionEncoding::Deflate,
    ];

    /// The name in `grpc-encoding`.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(feature = "gzip")]
            CompressionEncoding::Gzip => "gzip",
            #[cfg(feature = "gzip")]
            CompressionEncoding::Deflate => "deflate",
            #[cfg(feature = "zstd")]
            CompressionEncoding::Zstd => "zstd",
        }
    }

    /// The encoding with this name; `None` for `identity` and for encodings not supported.
    pub fn from_name(name: &[u8]) -> Option<CompressionEncoding> {
        CompressionEncoding::ALL
            .iter()
            .copied()
            .find(|e| e.name().as_bytes().eq_ignore_ascii_case(name.trim_ascii()))
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

impl fmt::Display for CompressionEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a `grpc-encoding` header asks of the receiver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StreamEncoding {
    /// No compression (no header, or `identity`).
    Identity,
    /// Compressed messages use this encoding.
    Compressed(CompressionEncoding),
    /// An encoding this side cannot decode.
    Unsupported(String),
}

impl StreamEncoding {
    pub(crate) fn from_header(value: Option<&HeaderValue>) -> StreamEncoding {
        let Some(value) = value else {
            return StreamEncoding::Identity;
        };
        let name = value.as_bytes().trim_ascii();
        if name.eq_ignore_ascii_case(b"identity") {
            return StreamEncoding::Identity;
        }
        match CompressionEncoding::from_name(name) {
            Some(encoding) => StreamEncoding::Compressed(encoding),
            None => StreamEncoding::Unsupported(String::from_utf8_lossy(name).into_owned()),
        }
    }

    pub(crate) fn encoding(&self) -> Option<CompressionEncoding> {
        match self {
            StreamEncoding::Compressed(e) => Some(*e),
            _ => None,
        }
    }
}

/// A set of encodings, as a peer's `grpc-accept-encoding` lists them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct EncodingSet(u8);

impl EncodingSet {
    pub(crate) fn from_header(value: Option<&HeaderValue>) -> EncodingSet {
        let mut set = EncodingSet(0);
        if let Some(value) = value {
            for name in value.as_bytes().split(|&b| b == b',') {
                if let Some(e) = CompressionEncoding::from_name(name) {
                    set.0 |= e.bit();
                }
            }
        }
        set
    }

    pub(crate) fn contains(self, encoding: CompressionEncoding) -> bool {
        self.0 & encoding.bit() != 0
    }
}

/// The `grpc-accept-encoding` value this side sends: every encoding it can decode.
pub(crate) fn accept_encoding() -> HeaderValue {
    const ACCEPT: &str = match (cfg!(feature = "gzip"), cfg!(feature = "zstd")) {
        (true, true) => "identity,gzip,deflate,zstd",
        (true, false) => "identity,gzip,deflate",
        (false, true) => "identity,zstd",
        (false, false) => "identity",
    };
    HeaderValue::from_static(ACCEPT)
}

/// The supported encodings as a sentence, for error messages.
pub(crate) fn supported_list() -> String {
    let mut names = vec!["identity"];
    names.extend(CompressionEncoding::ALL.iter().map(|e| e.name()));
    names.join(", ")
}

/// Why a message could not be decompressed.
#[derive(Debug)]
pub(crate) enum DecompressError {
    /// The decompressed message is larger than the receiver accepts.
    TooLarge { limit: usize },
    /// The bytes are not valid for the encoding.
    Corrupt(std::io::Error),
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecompressError::TooLarge { limit } => write!(
                f,
                "decompressed message is larger than the limit of {limit} bytes"
            ),
            DecompressError::Corrupt(e) => write!(f, "failed to decompress message: {e}"),
        }
    }
}

/// Compresses `src` onto the end of `dst`.
pub(crate) fn compress(
    encoding: CompressionEncoding,
    src: &[u8],
    dst: &mut BytesMut,
) -> std::io::Result<()> {
    let writer = dst.writer();
    match encoding {
        #[cfg(feature = "gzip")]
        CompressionEncoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(writer, flate2::Compression::fast());
            encoder.write_all(src)?;
            encoder.finish()?;
        }
        #[cfg(feature = "gzip")]
        CompressionEncoding::Deflate => {
            let mut encoder = flate2::write::ZlibEncoder::new(writer, flate2::Compression::fast());
            encoder.write_all(src)?;
            encoder.finish()?;
        }
        #[cfg(feature = "zstd")]
        CompressionEncoding::Zstd => {
            let mut encoder = zstd::stream::write::Encoder::new(writer, 1)?;
            encoder.write_all(src)?;
            encoder.finish()?;
        }
    }
    Ok(())
}

/// A writer that refuses to grow past a limit, so a small compressed message cannot expand
/// into an unbounded allocation (a "zip bomb").
struct Bounded<'a> {
    dst: &'a mut BytesMut,
    limit: usize,
    exceeded: bool,
}

impl std::io::Write for Bounded<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.dst.len() + buf.len() > self.limit {
            self.exceeded = true;
            return Err(std::io::Error::other("message over the limit"));
        }
        self.dst.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Decompresses `src` into `dst`, failing once the output passes `limit` bytes.
pub(crate) fn decompress(
    encoding: CompressionEncoding,
    src: &[u8],
    dst: &mut BytesMut,
    limit: usize,
) -> Result<(), DecompressError> {
    let mut out = Bounded {
        dst,
        limit,
        exceeded: false,
    };
    let result = match encoding {
        #[cfg(feature = "gzip")]
        CompressionEncoding::Gzip => {
            let mut decoder = flate2::write::GzDecoder::new(&mut out);
            decoder
                .write_all(src)
                .and_then(|()| decoder.finish().map(drop))
        }
        #[cfg(feature = "gzip")]
        CompressionEncoding::Deflate => {
            let mut decoder = flate2::write::ZlibDecoder::new(&mut out);
            decoder
                .write_all(src)
                .and_then(|()| decoder.finish().map(drop))
        }
        #[cfg(feature = "zstd")]
        CompressionEncoding::Zstd => {
            zstd::stream::write::Decoder::new(&mut out).and_then(|mut d| {
                d.write_all(src)?;
                d.flush()
            })
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(_) if out.exceeded => Err(DecompressError::TooLarge { limit }),
        Err(e) => Err(DecompressError::Corrupt(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoding_round_trips() {
        let message = b"a message that repeats, a message that repeats, a message".repeat(20);
        for &encoding in CompressionEncoding::ALL {
            let mut compressed = BytesMut::new();
            compress(encoding, &message, &mut compressed).unwrap();
            assert!(compressed.len() < message.len(), "{encoding}");
            let mut out = BytesMut::new();
            decompress(encoding, &compressed, &mut out, 1 << 20).unwrap();
            assert_eq!(&out[..], &message[..], "{encoding}");
        }
    }

    #[test]
    fn decompression_stops_at_the_limit() {
        let zeros = vec![0u8; 1 << 20];
        for &encoding in CompressionEncoding::ALL {
            let mut compressed = BytesMut::new();
            compress(encoding, &zeros, &mut compressed).unwrap();
            let mut out = BytesMut::new();
            let err = decompress(encoding, &compressed, &mut out, 1000).unwrap_err();
            assert!(
                matches!(err, DecompressError::TooLarge { limit: 1000 }),
                "{encoding}: {err}"
            );
        }
    }

    #[test]
    fn corrupt_input_is_an_error() {
        for &encoding in CompressionEncoding::ALL {
            let mut out = BytesMut::new();
            let err = decompress(encoding, b"not compressed at all", &mut out, 1000).unwrap_err();
            assert!(matches!(err, DecompressError::Corrupt(_)), "{encoding}");
        }
    }

    #[test]
    fn headers_are_parsed_leniently() {
        let value = HeaderValue::from_static("identity, GZIP ,zstd,br");
        let set = EncodingSet::from_header(Some(&value));
        assert!(set.contains(CompressionEncoding::Gzip));
        assert!(set.contains(CompressionEncoding::Zstd));
        assert!(!set.contains(CompressionEncoding::Deflate));
        assert_eq!(StreamEncoding::from_header(None), StreamEncoding::Identity);
        let identity = HeaderValue::from_static("identity");
        assert_eq!(
            StreamEncoding::from_header(Some(&identity)),
            StreamEncoding::Identity
        );
        let br = HeaderValue::from_static("br");
        assert_eq!(
            StreamEncoding::from_header(Some(&br)),
            StreamEncoding::Unsupported("br".into())
        );
        assert_eq!(accept_encoding(), "identity,gzip,deflate,zstd");
    }
}
