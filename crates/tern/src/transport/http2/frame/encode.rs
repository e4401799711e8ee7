//! Writing frames into a caller's buffer.
//!
//! [`data_header`] writes only the 9 bytes in front of a DATA payload, so the payload can stay
//! in its own `Bytes` and go out in the same vectored write as the headers buffer; the other
//! functions write whole frames, whose payloads are small. Callers keep to the peer's
//! SETTINGS_MAX_FRAME_SIZE (the header block encoder splits by it itself); nothing here checks
//! stream states or windows.

use bytes::{BufMut, BytesMut};

use super::{
    flags, kind, ErrorCode, FrameHeader, Settings, StreamId, DEFAULT_MAX_FRAME_SIZE, HEADER_LEN,
    MAX_MAX_FRAME_SIZE,
};

/// Writes a frame header.
pub(crate) fn frame_header(dst: &mut BytesMut, head: FrameHeader) {
    dst.put_slice(&head.to_bytes());
}

/// Writes the header of a DATA frame whose `len`-byte payload the caller sends after it.
pub(crate) fn data_header(dst: &mut BytesMut, stream_id: StreamId, len: usize, end_stream: bool) {
    debug_assert!(!stream_id.is_connection());
    let flags = if end_stream { flags::END_STREAM } else { 0 };
    frame_header(
        dst,
        FrameHeader::new(kind::DATA, flags, stream_id, frame_len(len)),
    );
}

/// Writes a whole DATA frame, copying `payload`: for small payloads, where a copy costs less
/// than another slice in the vectored write.
pub(crate) fn data(dst: &mut BytesMut, stream_id: StreamId, payload: &[u8], end_stream: bool) {
    dst.reserve(HEADER_LEN + payload.len());
    data_header(dst, stream_id, payload.len(), end_stream);
    dst.put_slice(payload);
}

/// Writes a header block as one HEADERS frame and as many CONTINUATION frames as
/// `max_frame_size` (the peer's setting) requires. An empty block is one empty HEADERS frame.
pub(crate) fn headers(
    dst: &mut BytesMut,
    stream_id: StreamId,
    block: &[u8],
    end_stream: bool,
    max_frame_size: u32,
) {
    debug_assert!(!stream_id.is_connection());
    let max = max_frame_size.clamp(DEFAULT_MAX_FRAME_SIZE, MAX_MAX_FRAME_SIZE) as usize;
    let frames = block.len().div_ceil(max).max(1);
    dst.reserve(block.len() + frames * HEADER_LEN);
    let mut chunks = block.chunks(max).peekable();
    let mut kind = kind::HEADERS;
    let mut flags = if end_stream { flags::END_STREAM } else { 0 };
    loop {
        let chunk = chunks.next().unwrap_or_default();
        let last = chunks.peek().is_none();
        if last {
            flags |= flags::END_HEADERS;
        }
        frame_header(
            dst,
            FrameHeader::new(kind, flags, stream_id, frame_len(chunk.len())),
        );
        dst.put_slice(chunk);
        if last {
            return;
        }
        kind = kind::CONTINUATION;
        flags = 0;
    }
}

/// Writes a SETTINGS frame with the parameters `settings` holds.
pub(crate) fn settings(dst: &mut BytesMut, settings: &Settings) {
    let len = settings.params().count() * 6;
    dst.reserve(HEADER_LEN + len);
    let head = FrameHeader::new(kind::SETTINGS, 0, StreamId::CONNECTION, frame_len(len));
    frame_header(dst, head);
    for (id, value) in settings.params() {
        dst.put_u16(id);
        dst.put_u32(value);
    }
}

pub(crate) fn settings_ack(dst: &mut BytesMut) {
    let head = FrameHeader::new(kind::SETTINGS, flags::ACK, StreamId::CONNECTION, 0);
    frame_header(dst, head);
}

pub(crate) fn ping(dst: &mut BytesMut, payload: [u8; 8], ack: bool) {
    let flags = if ack { flags::ACK } else { 0 };
    frame_header(
        dst,
        FrameHeader::new(kind::PING, flags, StreamId::CONNECTION, 8),
    );
    dst.put_slice(&payload);
}

/// Writes a GOAWAY frame. `debug` is cut to what fits the smallest frame size any peer
/// accepts, so the frame is always valid.
pub(crate) fn goaway(dst: &mut BytesMut, last_stream_id: StreamId, code: ErrorCode, debug: &[u8]) {
    let debug = &debug[..debug.len().min(DEFAULT_MAX_FRAME_SIZE as usize - 8)];
    let len = 8 + debug.len();
    dst.reserve(HEADER_LEN + len);
    let head = FrameHeader::new(kind::GOAWAY, 0, StreamId::CONNECTION, frame_len(len));
    frame_header(dst, head);
    dst.put_u32(last_stream_id.get());
    dst.put_u32(code.to_u32());
    dst.put_slice(debug);
}

pub(crate) fn rst_stream(dst: &mut BytesMut, stream_id: StreamId, code: ErrorCode) {
    debug_assert!(!stream_id.is_connection());
    frame_header(dst, FrameHeader::new(kind::RST_STREAM, 0, stream_id, 4));
    dst.put_u32(code.to_u32());
}

/// Writes a WINDOW_UPDATE; stream 0 is the connection window. `increment` must be in
/// 1..=2^31-1 (§6.9).
pub(crate) fn window_update(dst: &mut BytesMut, stream_id: StreamId, increment: u32) {
    debug_assert!((1..=super::MAX_WINDOW_SIZE).contains(&increment));
    frame_header(dst, FrameHeader::new(kind::WINDOW_UPDATE, 0, stream_id, 4));
    dst.put_u32(increment & super::MAX_WINDOW_SIZE);
}

/// A payload length as the header's 24-bit field; callers keep within the frame size limit.
fn frame_len(len: usize) -> u32 {
    debug_assert!(
        len <= MAX_MAX_FRAME_SIZE as usize,
        "frame payload over 2^24-1"
    );
    len.min(MAX_MAX_FRAME_SIZE as usize) as u32
}
