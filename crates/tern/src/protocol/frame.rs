//! gRPC message framing (the spec's Length-Prefixed-Message): a 1-byte compressed flag, a 4-byte
//! big-endian length, then the message. HTTP/2 DATA frames carry these with no alignment: one DATA
//! frame may hold part of a message or several messages, so the decoder accepts chunks of any size.

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Length of the prefix before each message.
pub const HEADER_LEN: usize = 5;

/// One message as it came off the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The compressed flag: the payload is compressed with the stream's `grpc-encoding`.
    pub compressed: bool,
    /// The message bytes.
    pub payload: Bytes,
}

/// A framing violation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// The length prefix announces a message larger than the receiver accepts.
    TooLarge {
        /// The announced length.
        len: usize,
        /// The receiver's limit.
        limit: usize,
    },
    /// The flag byte is neither 0 nor 1.
    InvalidFlag(u8),
    /// The stream ended inside a message.
    Truncated {
        /// Bytes the message needed, prefix included.
        expected: usize,
        /// Bytes that arrived.
        received: usize,
    },
    /// A message is too large for the 4-byte length prefix.
    Unencodable(usize),
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLarge { len, limit } => write!(
                f,
                "message of {len} bytes is larger than the limit of {limit} bytes"
            ),
            FrameError::InvalidFlag(flag) => write!(
                f,
                "invalid message frame: compressed flag is {flag}, expected 0 or 1"
            ),
            FrameError::Truncated { expected, received } => write!(
                f,
                "stream ended inside a message frame: {received} of {expected} bytes received"
            ),
            FrameError::Unencodable(len) => write!(
                f,
                "message of {len} bytes does not fit a gRPC frame (at most 4 GiB)"
            ),
        }
    }
}

impl std::error::Error for FrameError {}

/// Starts a frame at the end of `buf`: reserves the prefix and returns where the frame begins.
/// Write the message after it, then call [`finish`]: the message is encoded in place, never copied.
pub fn begin(buf: &mut BytesMut) -> usize {
    let start = buf.len();
    buf.put_bytes(0, HEADER_LEN);
    start
}

/// Completes the frame begun at `start`: patches in the flag and the length of what follows.
pub fn finish(buf: &mut BytesMut, start: usize, compressed: bool) -> Result<(), FrameError> {
    let len = buf.len() - start - HEADER_LEN;
    let len32 = u32::try_from(len).map_err(|_| FrameError::Unencodable(len))?;
    let header = &mut buf[start..start + HEADER_LEN];
    header[0] = u8::from(compressed);
    header[1..].copy_from_slice(&len32.to_be_bytes());
    Ok(())
}

/// Frames an already encoded message.
pub fn encode(payload: &[u8], compressed: bool, buf: &mut BytesMut) -> Result<(), FrameError> {
    buf.reserve(HEADER_LEN + payload.len());
    let start = begin(buf);
    buf.extend_from_slice(payload);
    finish(buf, start, compressed)
}

/// Splits a stream of byte chunks into messages.
///
/// A message that lies whole inside one chunk is handed out as a slice of that chunk, without a
/// copy; only messages that straddle chunks are gathered into a buffer.
#[derive(Debug)]
pub struct FrameDecoder {
    /// The unread part of the newest chunk while nothing is gathered.
    chunk: Bytes,
    /// Bytes gathered for a message that straddles chunks.
    gathered: BytesMut,
    limit: usize,
}

struct Header {
    compressed: bool,
    len: usize,
}

impl FrameDecoder {
    /// A decoder that rejects messages over `limit` bytes as soon as their prefix arrives.
    pub fn new(limit: usize) -> FrameDecoder {
        FrameDecoder {
            chunk: Bytes::new(),
            gathered: BytesMut::new(),
            limit,
        }
    }

    /// Adds the next chunk of the stream.
    pub fn push(&mut self, chunk: Bytes) {
        if chunk.is_empty() {
            return;
        }
        if self.gathered.is_empty() && self.chunk.is_empty() {
            self.chunk = chunk;
        } else {
            self.gather();
            self.gathered.extend_from_slice(&chunk);
        }
    }

    fn gather(&mut self) {
        if !self.chunk.is_empty() {
            self.gathered.extend_from_slice(&self.chunk);
            self.chunk.clear();
        }
    }

    fn header(&self, bytes: &[u8]) -> Result<Option<Header>, FrameError> {
        if bytes.len() < HEADER_LEN {
            return Ok(None);
        }
        let compressed = match bytes[0] {
            0 => false,
            1 => true,
            flag => return Err(FrameError::InvalidFlag(flag)),
        };
        let len = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]) as usize;
        if len > self.limit {
            return Err(FrameError::TooLarge {
                len,
                limit: self.limit,
            });
        }
        Ok(Some(Header { compressed, len }))
    }

    /// The next whole message, if one has arrived.
    pub fn decode(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.gathered.is_empty() {
            match self.header(&self.chunk)? {
                Some(h) if self.chunk.len() >= HEADER_LEN + h.len => {
                    self.chunk.advance(HEADER_LEN);
                    let payload = self.chunk.split_to(h.len);
                    return Ok(Some(Frame {
                        compressed: h.compressed,
                        payload,
                    }));
                }
                Some(h) => {
                    self.gathered.reserve(HEADER_LEN + h.len);
                    self.gather();
                    return Ok(None);
                }
                None => {
                    self.gather();
                    return Ok(None);
                }
            }
        }
        match self.header(&self.gathered)? {
            Some(h) if self.gathered.len() >= HEADER_LEN + h.len => {
                self.gathered.advance(HEADER_LEN);
                let payload = self.gathered.split_to(h.len).freeze();
                Ok(Some(Frame {
                    compressed: h.compressed,
                    payload,
                }))
            }
            Some(h) => {
                self.gathered
                    .reserve(HEADER_LEN + h.len - self.gathered.len());
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Checks that the stream ended between messages.
    pub fn finish(&self) -> Result<(), FrameError> {
        let pending = if self.gathered.is_empty() {
            &self.chunk[..]
        } else {
            &self.gathered[..]
        };
        if pending.is_empty() {
            return Ok(());
        }
        let expected = match self.header(pending)? {
            Some(h) => HEADER_LEN + h.len,
            None => HEADER_LEN,
        };
        Err(FrameError::Truncated {
            expected,
            received: pending.len(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(messages: &[(&[u8], bool)]) -> Bytes {
        let mut buf = BytesMut::new();
        for (payload, compressed) in messages {
            encode(payload, *compressed, &mut buf).unwrap();
        }
        buf.freeze()
    }

    fn decode_all(decoder: &mut FrameDecoder) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(frame) = decoder.decode().unwrap() {
            out.push(frame);
        }
        out
    }

    #[test]
    fn encodes_prefix_in_place() {
        let mut buf = BytesMut::new();
        let start = begin(&mut buf);
        buf.extend_from_slice(b"hello");
        finish(&mut buf, start, false).unwrap();
        assert_eq!(&buf[..], b"\x00\x00\x00\x00\x05hello");
        encode(b"", true, &mut buf).unwrap();
        assert_eq!(&buf[10..], b"\x01\x00\x00\x00\x00");
    }

    #[test]
    fn whole_message_in_one_chunk_is_not_copied() {
        let wire = framed(&[(b"abc", false)]);
        let mut d = FrameDecoder::new(100);
        d.push(wire.clone());
        let frame = d.decode().unwrap().unwrap();
        assert_eq!(frame.payload, &b"abc"[..]);
        // The payload points into the chunk that was pushed.
        assert_eq!(frame.payload.as_ptr(), wire[HEADER_LEN..].as_ptr());
        assert_eq!(d.decode().unwrap(), None);
        d.finish().unwrap();
    }

    #[test]
    fn coalesced_messages_in_one_chunk() {
        let wire = framed(&[(b"one", false), (b"", false), (b"three", true)]);
        let mut d = FrameDecoder::new(100);
        d.push(wire);
        let frames = decode_all(&mut d);
        let payloads: Vec<_> = frames.iter().map(|f| &f.payload[..]).collect();
        assert_eq!(payloads, [&b"one"[..], b"", b"three"]);
        assert!(frames[2].compressed && !frames[0].compressed);
        d.finish().unwrap();
    }

    #[test]
    fn every_split_point_gives_the_same_messages() {
        let wire = framed(&[
            (b"first message", false),
            (b"x", true),
            (&[7u8; 300], false),
        ]);
        for step in 1..=wire.len() {
            let mut d = FrameDecoder::new(1000);
            let mut frames = Vec::new();
            for chunk in wire.chunks(step) {
                d.push(Bytes::copy_from_slice(chunk));
                frames.extend(decode_all(&mut d));
            }
            d.finish().unwrap();
            assert_eq!(frames.len(), 3, "step {step}");
            assert_eq!(frames[0].payload, &b"first message"[..]);
            assert_eq!(frames[1].payload, &b"x"[..]);
            assert!(frames[1].compressed);
            assert_eq!(frames[2].payload, &[7u8; 300][..]);
        }
    }

    #[test]
    fn oversized_message_is_rejected_from_its_prefix() {
        let mut d = FrameDecoder::new(4);
        d.push(Bytes::from_static(b"\x00\x00\x00\x00\x05"));
        assert_eq!(d.decode(), Err(FrameError::TooLarge { len: 5, limit: 4 }));
    }

    #[test]
    fn invalid_flag_is_rejected() {
        let mut d = FrameDecoder::new(100);
        d.push(Bytes::from_static(b"\x02\x00\x00\x00\x00"));
        assert_eq!(d.decode(), Err(FrameError::InvalidFlag(2)));
    }

    #[test]
    fn stream_ending_inside_a_message_is_truncated() {
        let mut d = FrameDecoder::new(100);
        d.push(Bytes::from_static(b"\x00\x00\x00\x00\x0aabc"));
        assert_eq!(d.decode(), Ok(None));
        assert_eq!(
            d.finish(),
            Err(FrameError::Truncated {
                expected: 15,
                received: 8
            })
        );
        let mut d = FrameDecoder::new(100);
        d.push(Bytes::from_static(b"\x00\x00"));
        assert_eq!(d.decode(), Ok(None));
        assert!(matches!(d.finish(), Err(FrameError::Truncated { .. })));
    }
}

/// Random inputs, generated deterministically: the decoder never panics, and whatever it
/// accepts re-encodes to the bytes it was given.
#[cfg(test)]
mod randomized {
    use super::*;

    /// xorshift64*: deterministic, so a failure reproduces from its seed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> usize {
            (self.next() % n) as usize
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..2_000 {
            let len = rng.below(64);
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.below(4) {
                    // Bias towards the two valid flags and small lengths.
                    0 => 0,
                    1 => 1,
                    _ => rng.next() as u8,
                })
                .collect();
            let mut decoder = FrameDecoder::new(rng.below(100));
            for chunk in bytes.chunks(1 + rng.below(8)) {
                decoder.push(Bytes::copy_from_slice(chunk));
                while let Ok(Some(_)) = decoder.decode() {}
            }
            let _ = decoder.finish();
        }
    }

    #[test]
    fn accepted_frames_re_encode_to_the_input() {
        let mut rng = Rng(42);
        for _ in 0..500 {
            let mut wire = BytesMut::new();
            let count = rng.below(6);
            for _ in 0..count {
                let payload: Vec<u8> = (0..rng.below(300)).map(|_| rng.next() as u8).collect();
                encode(&payload, rng.below(2) == 1, &mut wire).unwrap();
            }
            let wire = wire.freeze();
            let mut decoder = FrameDecoder::new(1000);
            let mut again = BytesMut::new();
            let mut rest = &wire[..];
            while !rest.is_empty() {
                let take = (1 + rng.below(40)).min(rest.len());
                decoder.push(Bytes::copy_from_slice(&rest[..take]));
                rest = &rest[take..];
                while let Some(frame) = decoder.decode().unwrap() {
                    encode(&frame.payload, frame.compressed, &mut again).unwrap();
                }
            }
            decoder.finish().unwrap();
            assert_eq!(again.freeze(), wire);
        }
    }
}
