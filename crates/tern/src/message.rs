//! One message on the wire, in both directions: encoded by the codec into a frame (compressed
//! when the call says so), and taken back out of frames (decompressed, within the size limit).
//! The server and the client share this, so every path applies the same limits and checks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};

use crate::codec::Codec;
use crate::protocol::compression::{self, CompressionEncoding, DecompressError};
use crate::protocol::frame::{self, Frame, FrameDecoder, FrameError, HEADER_LEN};
use crate::status::Status;
use crate::transport::RecvBody;

/// Turns compression of outgoing messages on and off between messages of a call that has a
/// send compression set: shared with the runtime, which reads it as it encodes each message.
///
/// ```
/// let switch = tern::CompressionSwitch::new(true);
/// let handle = switch.clone();
/// handle.set(false); // messages encoded from now on go uncompressed
/// assert!(!switch.is_enabled());
/// ```
#[derive(Clone, Debug)]
pub struct CompressionSwitch(Arc<AtomicBool>);

impl CompressionSwitch {
    /// A switch, on or off.
    pub fn new(enabled: bool) -> CompressionSwitch {
        CompressionSwitch(Arc::new(AtomicBool::new(enabled)))
    }

    /// Turns compression on or off for the messages encoded after this.
    pub fn set(&self, enabled: bool) {
        self.0.store(enabled, Ordering::Relaxed);
    }

    /// Whether the next message will be compressed.
    pub fn is_enabled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// How one side sends a call's messages.
#[derive(Clone, Debug, Default)]
pub(crate) struct SendMessages {
    pub(crate) limit: usize,
    pub(crate) compression: Option<CompressionEncoding>,
    pub(crate) switch: Option<CompressionSwitch>,
}

impl SendMessages {
    /// Encodes one message into its own frame.
    pub(crate) fn encode<C: Codec>(&self, codec: &C, message: &C::Encode) -> Result<Bytes, Status> {
        let compression = self.compression.filter(|_| {
            self.switch
                .as_ref()
                .is_none_or(CompressionSwitch::is_enabled)
        });
        let len = codec.encoded_len(message);
        let too_large = |len: usize| {
            Status::resource_exhausted(format!(
                "message of {len} bytes is larger than the send limit of {} bytes",
                self.limit
            ))
        };
        let mut buf;
        let start;
        match compression {
            None => {
                buf = BytesMut::with_capacity(HEADER_LEN + len);
                start = frame::begin(&mut buf);
                codec.encode(message, &mut buf)?;
                let len = buf.len() - HEADER_LEN;
                if len > self.limit {
                    return Err(too_large(len));
                }
            }
            Some(encoding) => {
                let mut plain = BytesMut::with_capacity(len);
                codec.encode(message, &mut plain)?;
                if plain.len() > self.limit {
                    return Err(too_large(plain.len()));
                }
                buf = BytesMut::with_capacity(HEADER_LEN + plain.len() / 2 + 64);
                start = frame::begin(&mut buf);
                compression::compress(encoding, &plain, &mut buf).map_err(|e| {
                    Status::internal(format!("failed to compress message with {encoding}: {e}"))
                })?;
            }
        }
        frame::finish(&mut buf, start, compression.is_some())
            .map_err(|e| Status::internal(e.to_string()))?;
        Ok(buf.freeze())
    }
}

/// How one side receives a call's messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReceiveMessages {
    pub(crate) limit: usize,
    /// The peer's `grpc-encoding`, for messages whose compressed flag is set.
    pub(crate) encoding: Option<CompressionEncoding>,
}

/// A received message's bytes, and whether they came compressed.
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) payload: Bytes,
    pub(crate) compressed: bool,
}

/// The status for a framing violation on the receiving side.
pub(crate) fn frame_error_status(err: FrameError) -> Status {
    match err {
        FrameError::TooLarge { .. } => Status::resource_exhausted(err.to_string()),
        _ => Status::internal(err.to_string()),
    }
}

impl ReceiveMessages {
    pub(crate) fn decoder(&self) -> FrameDecoder {
        FrameDecoder::new(self.limit)
    }

    /// A frame's message bytes, decompressed if its flag says so.
    pub(crate) fn open(&self, frame: Frame) -> Result<Received, Status> {
        if !frame.compressed {
            return Ok(Received {
                payload: frame.payload,
                compressed: false,
            });
        }
        let Some(encoding) = self.encoding else {
            return Err(Status::internal(
                "received a compressed message but the stream has no grpc-encoding",
            ));
        };
        let mut out = BytesMut::new();
        compression::decompress(encoding, &frame.payload, &mut out, self.limit).map_err(
            |e| match e {
                DecompressError::TooLarge { .. } => Status::resource_exhausted(e.to_string()),
                DecompressError::Corrupt(_) => Status::internal(e.to_string()),
            },
        )?;
        Ok(Received {
            payload: out.freeze(),
            compressed: true,
        })
    }

    /// Reads a body that must hold at most one message (a unary request or response); `None`
    /// when it held none. `what` names the message in errors.
    pub(crate) async fn read_one(
        &self,
        body: &mut RecvBody,
        what: &str,
    ) -> Result<Option<Received>, Status> {
        let mut decoder = self.decoder();
        let mut message: Option<Frame> = None;
        loop {
            while let Some(frame) = decoder.decode().map_err(frame_error_status)? {
                if message.is_some() {
                    return Err(Status::internal(format!("received more than one {what}")));
                }
                message = Some(frame);
            }
            match body.chunk().await {
                Some(chunk) => decoder.push(chunk?),
                None => break,
            }
        }
        decoder
            .finish()
            .map_err(|e| Status::internal(e.to_string()))?;
        message.map(|frame| self.open(frame)).transpose()
    }
}

/// A boxed decoder for a `Streaming`, made once per stream.
pub(crate) fn stream_decoder<C: Codec>(
    codec: &C,
) -> Box<dyn Fn(Bytes) -> Result<C::Decode, Status> + Send + Sync> {
    let codec = codec.clone();
    Box::new(move |payload| codec.decode(payload))
}
