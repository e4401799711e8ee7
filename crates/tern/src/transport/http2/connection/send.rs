//! The send path: one transmit batch. Control frames and header blocks are already in wire
//! order in the connection's frame buffer; DATA is scheduled here, round-robin across the
//! ready streams in slices of at most min(peer SETTINGS_MAX_FRAME_SIZE, 16 KiB) and within both
//! windows, and a stream's trailers are encoded right after its last DATA (so header blocks
//! are encoded in the order they go out, as HPACK needs). The batch is a list of `Bytes` for
//! one vectored write: frame headers and small frames share one buffer (split into chunks),
//! and each large DATA payload is its own `Bytes`, never copied.

use bytes::Bytes;

use super::super::frame::{encode, StreamId};
use super::{encode_block, fields_of, Connection, Sched};

/// DATA slices are at most this large, whatever the peer allows, so streams interleave.
const MAX_SLICE: usize = 16 * 1024;

/// Payloads up to this size are copied next to their frame header rather than handed out
/// as their own `Bytes`: an iovec costs more than the copy.
const COPY_MAX: usize = 256;

impl Connection {
    /// Appends the bytes to write to `dst` and returns how many there are. Call it whenever
    /// [`Connection::wants_transmit`] is true and the socket can take more; a batch stops
    /// after about `max_batch_bytes` of DATA. Handing the answers out lets reading resume.
    pub(crate) fn poll_transmit(&mut self, dst: &mut Vec<Bytes>) -> usize {
        let mut total = 0;
        if !self.closed {
            total += self.schedule_data(dst);
        }
        if !self.out.is_empty() {
            total += self.out.len();
            dst.push(self.out.split().freeze());
        }
        self.peer_triggered = 0;
        total
    }

    /// Writes DATA (and trailers) from the ready streams until they are done, blocked, or the
    /// batch is full; returns the bytes handed to `dst` (the frame buffer's are counted by the
    /// caller).
    fn schedule_data(&mut self, dst: &mut Vec<Bytes>) -> usize {
        let slice = MAX_SLICE.min(self.peer_max_frame_size as usize);
        let mut handed = 0;
        let mut batch = 0;
        while batch < self.config.max_batch_bytes {
            let Some(id) = self.ready.pop_front() else {
                break;
            };
            let Some(s) = self.streams.get_mut(id) else {
                continue;
            };
            if s.user.sched != Sched::Ready {
                continue;
            }
            if let Some(front) = s.user.queue.front_mut() {
                let window = self.flow.sendable(&s.flow) as usize;
                let n = front.len().min(window).min(slice);
                if n == 0 {
                    s.user.sched = Sched::Blocked;
                    if !s.user.in_blocked {
                        s.user.in_blocked = true;
                        self.blocked.push(id);
                    }
                    continue;
                }
                let chunk = if n == front.len() {
                    s.user.queue.pop_front().unwrap_or_default()
                } else {
                    front.split_to(n)
                };
                s.user.queued -= n;
                let drained = s.user.queue.is_empty();
                let end = drained && s.user.end_queued && s.user.trailers.is_none();
                self.flow.consume_send(&mut s.flow, n as u32);
                handed += write_data(&mut self.out, dst, id, chunk, end);
                batch += n + 9;
                self.pings.on_headers_or_data_sent();
                if !drained {
                    self.ready.push_back(id);
                    continue;
                }
                s.user.sched = Sched::Idle;
                if end {
                    self.sent_end_stream(id);
                    continue;
                }
                // Trailers follow their last DATA at once, in the same batch.
                if let Some(trailers) = s.user.trailers.take() {
                    batch += self.write_trailers(id, &trailers);
                }
                continue;
            }
            // The queue is empty: trailers, or a bare END_STREAM, may remain.
            s.user.sched = Sched::Idle;
            if let Some(trailers) = s.user.trailers.take() {
                batch += self.write_trailers(id, &trailers);
            } else if s.user.end_queued {
                encode::data_header(&mut self.out, id, 0, true);
                batch += 9;
                self.sent_end_stream(id);
            }
        }
        // Entries of streams that closed while blocked go at the next unblocking; if none
        // comes, they are dropped here once they outnumber the live streams.
        if self.blocked.len() > 2 * self.streams.len() + 64 {
            let streams = &self.streams;
            self.blocked.retain(|id| streams.get(*id).is_some());
        }
        handed
    }
}

impl Connection {
    /// Encodes and frames a stream's trailers (END_STREAM); returns their length.
    fn write_trailers(&mut self, id: StreamId, trailers: &http::HeaderMap) -> usize {
        let before = self.out.len();
        encode_block(
            &mut self.hpack_enc,
            &mut self.scratch,
            &mut self.out,
            id,
            fields_of(trailers),
            true,
            self.peer_max_frame_size,
        );
        self.pings.on_headers_or_data_sent();
        self.sent_end_stream(id);
        self.out.len() - before
    }
}

/// One DATA frame: a small payload is copied after its header; a large one is handed out as
/// its own `Bytes`, after the frame buffer up to and including its header. Returns the bytes
/// handed to `dst`.
fn write_data(
    out: &mut bytes::BytesMut,
    dst: &mut Vec<Bytes>,
    id: StreamId,
    payload: Bytes,
    end_stream: bool,
) -> usize {
    if payload.len() <= COPY_MAX {
        encode::data(out, id, &payload, end_stream);
        return 0;
    }
    encode::data_header(out, id, payload.len(), end_stream);
    let head = out.split().freeze();
    let handed = head.len() + payload.len();
    dst.push(head);
    dst.push(payload);
    handed
}
