//! One message on the wire, in both directions: encoded by the codec into a frame (compressed
//! when the call says so), and taken back out of frames (decompressed, within the size limit).
//! The server and the client share this, so every path applies the same limits and checks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

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

/// How many bytes of messages a stream gathers into one send when its next messages are ready at
/// once: h2 writes every DATA frame it did not copy (any over 256 bytes) with a socket write of
/// its own, so a stream of 1 KiB messages sent one by one cost a `writev` each. 64 KiB is four
/// full-size frames, which the transport's write buffer (`transport::coalesce`) sends in one
/// write; against 32 KiB it took server streaming from 15k to 19k calls/s (100 x 1 KiB each).
/// Only messages already there are gathered, so it adds no waiting.
pub(crate) const BATCH_BYTES: usize = 64 * 1024;

impl SendMessages {
    /// Encodes one message into its own frame.
    pub(crate) fn encode<C: Codec>(&self, codec: &C, message: &C::Encode) -> Result<Bytes, Status> {
        let mut buf = BytesMut::new();
        self.encode_into(codec, message, &mut buf)?;
        Ok(buf.freeze())
    }

    /// Appends one message's frame to `buf`; on failure `buf` is left as it was.
    pub(crate) fn encode_into<C: Codec>(
        &self,
        codec: &C,
        message: &C::Encode,
        buf: &mut BytesMut,
    ) -> Result<(), Status> {
        let before = buf.len();
        let result = self.append_frame(codec, message, buf);
        if result.is_err() {
            buf.truncate(before);
        }
        result
    }

    /// [`encode_into`](Self::encode_into), then tells `observe` of the message and its size on
    /// the wire (without the message prefix).
    pub(crate) fn encode_into_observed<C: Codec>(
        &self,
        codec: &C,
        message: &C::Encode,
        buf: &mut BytesMut,
        observe: impl FnOnce(&C::Encode, usize),
    ) -> Result<(), Status> {
        let before = buf.len();
        self.encode_into(codec, message, buf)?;
        observe(message, buf.len() - before - HEADER_LEN);
        Ok(())
    }

    fn append_frame<C: Codec>(
        &self,
        codec: &C,
        message: &C::Encode,
        buf: &mut BytesMut,
    ) -> Result<(), Status> {
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
        let start;
        match compression {
            None => {
                buf.reserve(HEADER_LEN + len);
                start = frame::begin(buf);
                codec.encode(message, buf)?;
                let len = buf.len() - start - HEADER_LEN;
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
                buf.reserve(HEADER_LEN + plain.len() / 2 + 64);
                start = frame::begin(buf);
                compression::compress(encoding, &plain, buf).map_err(|e| {
                    Status::internal(format!("failed to compress message with {encoding}: {e}"))
                })?;
            }
        }
        frame::finish(buf, start, compression.is_some())
            .map_err(|e| Status::internal(e.to_string()))
    }

    /// Appends to `buf` the messages `poll_next` has ready now, until `buf` holds
    /// [`BATCH_BYTES`]. Returns how the stream ended if it did (`Err` when it failed or a message
    /// could not be encoded), `None` when more may come.
    pub(crate) fn encode_ready<C: Codec>(
        &self,
        codec: &C,
        buf: &mut BytesMut,
        cx: &mut Context<'_>,
        mut observe: impl FnMut(&C::Encode, usize),
        mut poll_next: impl FnMut(&mut Context<'_>) -> Poll<Option<Result<C::Encode, Status>>>,
    ) -> Option<Result<(), Status>> {
        while buf.len() < BATCH_BYTES {
            match poll_next(cx) {
                Poll::Pending => return None,
                Poll::Ready(None) => return Some(Ok(())),
                Poll::Ready(Some(Err(status))) => return Some(Err(status)),
                Poll::Ready(Some(Ok(message))) => {
                    if let Err(status) =
                        self.encode_into_observed(codec, &message, buf, &mut observe)
                    {
                        return Some(Err(status));
                    }
                }
            }
        }
        None
    }
}

/// How one side receives a call's messages.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReceiveMessages {
    pub(crate) limit: usize,
    /// The peer's `grpc-encoding`, for messages whose compressed flag is set.
    pub(crate) encoding: Option<CompressionEncoding>,
}

/// A received message's bytes, whether they came compressed, and how many bytes it took on the
/// wire (compressed, without the message prefix).
#[derive(Debug)]
pub(crate) struct Received {
    pub(crate) payload: Bytes,
    pub(crate) compressed: bool,
    pub(crate) wire_size: usize,
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
        let wire_size = frame.payload.len();
        if !frame.compressed {
            return Ok(Received {
                payload: frame.payload,
                compressed: false,
                wire_size,
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
            wire_size,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::ProstCodec;
    use crate::status::Code;

    type BytesCodec = ProstCodec<Vec<u8>, Vec<u8>>;

    fn sender(limit: usize) -> SendMessages {
        SendMessages {
            limit,
            compression: None,
            switch: None,
        }
    }

    /// The payload lengths of the frames in `buf`, which must hold whole frames only.
    fn frame_lengths(mut buf: &[u8]) -> Vec<usize> {
        let mut lengths = Vec::new();
        while !buf.is_empty() {
            let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
            lengths.push(len);
            buf = &buf[HEADER_LEN + len..];
        }
        lengths
    }

    type Next = Poll<Option<Result<Vec<u8>, Status>>>;

    /// A message stream scripted poll by poll.
    fn script(mut polls: Vec<Next>) -> impl FnMut(&mut Context<'_>) -> Next {
        polls.reverse();
        move |_| polls.pop().expect("polled after the script ended")
    }

    #[test]
    fn ready_messages_are_gathered_up_to_the_batch_size() {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let sender = sender(usize::MAX);
        let mut left = 100;
        let mut buf = BytesMut::new();
        let end = sender.encode_ready(
            &BytesCodec::new(),
            &mut buf,
            &mut cx,
            |_, _| {},
            |_| {
                left -= 1;
                Poll::Ready(Some(Ok(vec![7; 1000])))
            },
        );
        assert!(end.is_none(), "the stream has more to give");
        // Each frame: 5 bytes of prefix, then field tag, 2-byte length and 1000 bytes.
        let frame = HEADER_LEN + 1003;
        let lengths = frame_lengths(&buf);
        assert_eq!(lengths.len(), BATCH_BYTES.div_ceil(frame));
        assert!(lengths.iter().all(|&len| len == 1003));
        assert_eq!(left, 100 - lengths.len());
    }

    #[test]
    fn gathering_stops_at_pending_and_reports_how_the_stream_ended() {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let codec = BytesCodec::new();
        let sender = sender(100);

        let mut buf = BytesMut::new();
        let polls = vec![
            Poll::Ready(Some(Ok(vec![1; 3]))),
            Poll::Ready(Some(Ok(vec![2; 4]))),
            Poll::Pending,
        ];
        assert!(sender
            .encode_ready(&codec, &mut buf, &mut cx, |_, _| {}, script(polls))
            .is_none());
        assert_eq!(frame_lengths(&buf), [5, 6]);

        let mut buf = BytesMut::new();
        let polls = vec![Poll::Ready(Some(Ok(vec![1; 3]))), Poll::Ready(None)];
        let end = sender.encode_ready(&codec, &mut buf, &mut cx, |_, _| {}, script(polls));
        assert!(matches!(end, Some(Ok(()))));
        assert_eq!(frame_lengths(&buf), [5]);

        let mut buf = BytesMut::new();
        let polls = vec![
            Poll::Ready(Some(Ok(vec![1; 3]))),
            Poll::Ready(Some(Err(Status::aborted("gave up")))),
        ];
        let end = sender.encode_ready(&codec, &mut buf, &mut cx, |_, _| {}, script(polls));
        assert!(matches!(end, Some(Err(s)) if s.code() == Code::Aborted));
        assert_eq!(
            frame_lengths(&buf),
            [5],
            "the messages before the error stay"
        );
    }

    #[test]
    fn a_message_over_the_limit_ends_the_batch_and_leaves_the_earlier_frames_whole() {
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let sender = sender(100);
        let mut buf = BytesMut::new();
        let polls = vec![
            Poll::Ready(Some(Ok(vec![1; 10]))),
            Poll::Ready(Some(Ok(vec![2; 500]))),
        ];
        let end = sender.encode_ready(
            &BytesCodec::new(),
            &mut buf,
            &mut cx,
            |_, _| {},
            script(polls),
        );
        assert!(matches!(end, Some(Err(s)) if s.code() == Code::ResourceExhausted));
        assert_eq!(frame_lengths(&buf), [12]);
    }
}
