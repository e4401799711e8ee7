//! Flow control (RFC 9113 §5.2 and §6.9): the send and receive windows of one connection and
//! of each of its streams, and when to send WINDOW_UPDATE.
//!
//! [`Flow`] is the connection's part and [`StreamFlow`] each stream's; the connection task owns
//! both (a `StreamFlow` lives in the stream's entry in the stream store), so nothing is locked.
//!
//! Each stream's windows are kept relative to the current SETTINGS_INITIAL_WINDOW_SIZE of their
//! direction: a stream's send window is `peer_initial + send_offset`. A new stream starts at
//! offset 0, WINDOW_UPDATE raises its offset and sending lowers it, and a change of the initial
//! window size moves every stream's window by the same amount at once, as §6.9.2 says it must,
//! by changing one number: no stream is visited, so a flood of SETTINGS costs O(1) per frame
//! however many streams are open. Windows may go negative after a decrease (§6.9.2).
//!
//! The one thing a change must still check is that no stream's window passes 2^31-1. For that
//! [`Flow`] keeps a max-heap of the streams whose send offset WINDOW_UPDATE made positive (the
//! only ones a larger initial window could push over). Its entries may be stale (the stream sent
//! data or closed since); stale tops are dropped or re-noted when a change asks for the maximum,
//! so each entry is handled once, and [`Flow::tidy`] keeps the heap within twice the number of
//! raised streams.
//!
//! Receiving (design note §1 and §8.4, after grpc-go): the connection window is topped up once a
//! quarter of it has been consumed, as soon as the bytes arrive and whatever the application
//! does with them, so one slow reader cannot stall the other streams; a stream's window is
//! topped up once the application has released a quarter of the stream's initial window.

use std::collections::BinaryHeap;

use super::frame::{ErrorCode, H2Error, StreamId, MAX_WINDOW_SIZE};

/// The initial window of every connection and stream until SETTINGS say otherwise (§6.9.2).
pub(crate) const DEFAULT_WINDOW: u32 = 65_535;

const MAX: i64 = MAX_WINDOW_SIZE as i64;

/// How many raised-stream entries the heap may hold beyond twice its size after the last tidy.
const RAISED_SLACK: usize = 64;

/// One stream's flow-control state, relative to the connection's initial window sizes; only
/// meaningful together with the [`Flow`] of its connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct StreamFlow {
    /// Our send window on the stream minus the peer's SETTINGS_INITIAL_WINDOW_SIZE.
    send_offset: i64,
    /// The receive window the peer sees (what it may still send) minus our initial window.
    recv_offset: i64,
    /// Bytes received that the application has not released yet.
    unreleased: u64,
    /// Bytes released that no WINDOW_UPDATE has announced yet.
    pending: i64,
}

impl StreamFlow {
    pub(crate) fn new() -> StreamFlow {
        StreamFlow::default()
    }

    /// What the stream's send window is above (or below) the peer's initial window: the value
    /// [`Flow::set_peer_initial_window`] and [`Flow::tidy`] look streams up by.
    pub(crate) fn send_offset(&self) -> i64 {
        self.send_offset
    }

    /// Bytes received on the stream and not yet released by the application.
    pub(crate) fn unreleased(&self) -> u64 {
        self.unreleased
    }
}

/// The streams whose send offset WINDOW_UPDATE raised above 0, as `(offset, id)` noted at the
/// time: for each such stream, some entry is at least its current offset.
#[derive(Debug, Default)]
struct Raised {
    heap: BinaryHeap<(i64, StreamId)>,
    /// The heap's length after the last tidy.
    tidied_len: usize,
}

impl Raised {
    fn note(&mut self, id: StreamId, offset: i64) {
        if offset > 0 {
            self.heap.push((offset, id));
        }
    }

    /// The largest send offset of any open stream, or 0 if none is above its initial window.
    /// Each stale entry met is dropped, or put back with the stream's current offset.
    fn max(&mut self, offset_of: impl Fn(StreamId) -> Option<i64>) -> i64 {
        while let Some(&(noted, id)) = self.heap.peek() {
            match offset_of(id) {
                Some(now) if now == noted => return noted,
                Some(now) => {
                    self.heap.pop();
                    self.note(id, now);
                }
                None => {
                    self.heap.pop();
                }
            }
        }
        0
    }

    fn tidy(&mut self, offset_of: impl Fn(StreamId) -> Option<i64>) {
        if self.heap.len() <= 2 * self.tidied_len + RAISED_SLACK {
            return;
        }
        let mut entries: Vec<(i64, StreamId)> = std::mem::take(&mut self.heap)
            .into_iter()
            .filter_map(|(_, id)| offset_of(id).filter(|&now| now > 0).map(|now| (now, id)))
            .collect();
        entries.sort_unstable_by_key(|&(_, id)| id);
        entries.dedup_by_key(|&mut (_, id)| id);
        self.heap = BinaryHeap::from(entries);
        self.tidied_len = self.heap.len();
    }
}

/// One connection's flow-control state: its own two windows and the initial window sizes the
/// streams' windows are relative to.
#[derive(Debug)]
pub(crate) struct Flow {
    /// The peer's SETTINGS_INITIAL_WINDOW_SIZE: the base of every stream's send window.
    peer_initial: i64,
    /// What we may still send on the connection.
    send: i64,
    raised: Raised,
    /// Our SETTINGS_INITIAL_WINDOW_SIZE, as the peer has acknowledged it.
    local_initial: i64,
    /// What the peer may still send on the connection.
    recv: i64,
    /// The connection receive window we keep open.
    recv_target: i64,
}

impl Default for Flow {
    fn default() -> Flow {
        Flow::new()
    }
}

fn flow_error(id: StreamId, reason: &'static str) -> H2Error {
    if id.is_connection() {
        H2Error::connection(ErrorCode::FlowControlError, reason)
    } else {
        H2Error::stream(id, ErrorCode::FlowControlError, reason)
    }
}

/// A quarter of a window, and at least one byte, so that a window of 0 still updates.
fn quarter(window: i64) -> i64 {
    (window / 4).max(1)
}

impl Flow {
    /// A connection's state before any SETTINGS: every window 65,535.
    pub(crate) fn new() -> Flow {
        let default = i64::from(DEFAULT_WINDOW);
        Flow {
            peer_initial: default,
            send: default,
            raised: Raised::default(),
            local_initial: default,
            recv: default,
            recv_target: default,
        }
    }

    // ---- Sending ----

    /// What the connection window still allows us to send; negative is impossible here but
    /// not for streams.
    pub(crate) fn send_window(&self) -> i64 {
        self.send
    }

    /// The stream's send window; negative after the peer lowered its initial window size.
    pub(crate) fn stream_send_window(&self, stream: &StreamFlow) -> i64 {
        self.peer_initial + stream.send_offset
    }

    /// How many DATA bytes the stream may send now: the smaller of its window and the
    /// connection's, never negative. The caller also caps a frame at the peer's
    /// SETTINGS_MAX_FRAME_SIZE and its own slice size.
    pub(crate) fn sendable(&self, stream: &StreamFlow) -> u32 {
        let window = self.send.min(self.stream_send_window(stream)).clamp(0, MAX);
        window as u32
    }

    /// Records that a DATA frame of `len` flow-controlled bytes (padding included) went out on
    /// the stream. `len` must be within [`Flow::sendable`].
    pub(crate) fn consume_send(&mut self, stream: &mut StreamFlow, len: u32) {
        debug_assert!(len <= self.sendable(stream), "sent past the window");
        self.send -= i64::from(len);
        stream.send_offset -= i64::from(len);
    }

    /// A WINDOW_UPDATE on stream 0: the connection send window grows, and past 2^31-1 is a
    /// connection error of type FLOW_CONTROL_ERROR (§6.9.1).
    pub(crate) fn recv_connection_window_update(&mut self, increment: u32) -> Result<(), H2Error> {
        let window = self.send + i64::from(increment);
        if window > MAX {
            return Err(flow_error(
                StreamId::CONNECTION,
                "connection window above 2^31-1",
            ));
        }
        self.send = window;
        Ok(())
    }

    /// A WINDOW_UPDATE on stream `id`: its send window grows, and past 2^31-1 is a stream
    /// error of type FLOW_CONTROL_ERROR (§6.9.1). Call [`Flow::tidy`] afterwards (once per
    /// batch of frames is enough).
    pub(crate) fn recv_stream_window_update(
        &mut self,
        stream: &mut StreamFlow,
        id: StreamId,
        increment: u32,
    ) -> Result<(), H2Error> {
        let offset = stream.send_offset + i64::from(increment);
        if self.peer_initial + offset > MAX {
            return Err(flow_error(id, "stream window above 2^31-1"));
        }
        stream.send_offset = offset;
        self.raised.note(id, offset);
        Ok(())
    }

    /// The peer's SETTINGS_INITIAL_WINDOW_SIZE changed: every stream's send window moves by
    /// the difference (§6.9.2), in O(1). If that would take any stream's window past 2^31-1,
    /// it is a connection error of type FLOW_CONTROL_ERROR and nothing changes.
    ///
    /// `offset_of` gives an open stream's [`StreamFlow::send_offset`], or `None` for a closed
    /// one; it is asked only about streams that WINDOW_UPDATE raised, each entry once.
    pub(crate) fn set_peer_initial_window(
        &mut self,
        size: u32,
        offset_of: impl Fn(StreamId) -> Option<i64>,
    ) -> Result<(), H2Error> {
        let size = i64::from(size.min(MAX_WINDOW_SIZE));
        if size > self.peer_initial && size + self.raised.max(offset_of) > MAX {
            return Err(flow_error(
                StreamId::CONNECTION,
                "SETTINGS_INITIAL_WINDOW_SIZE takes a stream window above 2^31-1",
            ));
        }
        self.peer_initial = size;
        Ok(())
    }

    /// Bounds the memory of raised streams: rebuilds it from the streams still open (through
    /// `offset_of`, as for [`Flow::set_peer_initial_window`]) once it has doubled, so the cost
    /// is amortized over the WINDOW_UPDATEs that grew it. Cheap when there is nothing to do.
    pub(crate) fn tidy(&mut self, offset_of: impl Fn(StreamId) -> Option<i64>) {
        self.raised.tidy(offset_of);
    }

    // ---- Receiving ----

    /// A DATA frame of `len` flow-controlled bytes (its whole payload, padding included)
    /// arrived: counted against the connection window whatever its stream (§6.9), and more
    /// than the window allows is a connection error of type FLOW_CONTROL_ERROR. Call this for
    /// every DATA frame, even one on a closed or reset stream, before the stream's check.
    pub(crate) fn recv_connection_data(&mut self, len: u32) -> Result<(), H2Error> {
        let len = i64::from(len);
        if len > self.recv {
            return Err(flow_error(
                StreamId::CONNECTION,
                "DATA past the connection window",
            ));
        }
        self.recv -= len;
        Ok(())
    }

    /// The same DATA frame, counted against its stream's window: more than the window allows
    /// is a stream error of type FLOW_CONTROL_ERROR. The bytes count as unreleased until the
    /// application hands them back with [`Flow::release`] (padding can be released at once).
    pub(crate) fn recv_stream_data(
        &self,
        stream: &mut StreamFlow,
        id: StreamId,
        len: u32,
    ) -> Result<(), H2Error> {
        let len = i64::from(len);
        if len > self.local_initial + stream.recv_offset {
            return Err(flow_error(id, "DATA past the stream window"));
        }
        stream.recv_offset -= len;
        stream.unreleased += len as u64;
        Ok(())
    }

    /// The application is done with `len` received bytes of the stream (it has taken the
    /// message they carried, or they were padding).
    pub(crate) fn release(&self, stream: &mut StreamFlow, len: u32) {
        let len = u64::from(len).min(stream.unreleased);
        stream.unreleased -= len;
        stream.pending += len as i64;
    }

    /// The connection WINDOW_UPDATE increment to send now, if a quarter of the connection
    /// receive window has been consumed; the window counts as topped up from here on.
    pub(crate) fn connection_window_update(&mut self) -> Option<u32> {
        let consumed = self.recv_target - self.recv;
        if consumed < quarter(self.recv_target) {
            return None;
        }
        self.recv = self.recv_target;
        Some(consumed as u32)
    }

    /// The stream WINDOW_UPDATE increment to send now, if the application has released a
    /// quarter of the stream's initial window since the last one.
    pub(crate) fn stream_window_update(&self, stream: &mut StreamFlow) -> Option<u32> {
        if stream.pending < quarter(self.local_initial) {
            return None;
        }
        let increment = stream.pending;
        stream.recv_offset += increment;
        stream.pending = 0;
        Some(increment as u32)
    }

    /// What the peer may still send on the stream, as it sees it; negative after a decrease.
    pub(crate) fn stream_recv_window(&self, stream: &StreamFlow) -> i64 {
        self.local_initial + stream.recv_offset
    }

    /// What the peer may still send on the connection.
    pub(crate) fn recv_window(&self) -> i64 {
        self.recv
    }

    /// Sets the connection receive window we keep open (2^31-1 at most) and returns the
    /// WINDOW_UPDATE increment that opens it now, if it grew. A smaller target takes effect as
    /// the peer consumes the window: top-ups stop until it is below the new target.
    pub(crate) fn set_connection_recv_window(&mut self, target: u32) -> Option<u32> {
        let target = i64::from(target.min(MAX_WINDOW_SIZE));
        let grow = target - self.recv_target;
        self.recv_target = target;
        if grow <= 0 {
            return None;
        }
        self.recv += grow;
        Some(grow as u32)
    }

    /// Our SETTINGS_INITIAL_WINDOW_SIZE, once the peer has acknowledged it: every stream's
    /// receive window moves by the difference, in O(1). A decrease can leave windows negative,
    /// and DATA the peer sent before it saw the change may then fail the stream's check; this
    /// is the risk §6.9.2 describes, which is why Tern lowers it rarely.
    pub(crate) fn set_local_initial_window(&mut self, size: u32) {
        self.local_initial = i64::from(size.min(MAX_WINDOW_SIZE));
    }

    pub(crate) fn local_initial_window(&self) -> u32 {
        self.local_initial as u32
    }

    pub(crate) fn peer_initial_window(&self) -> u32 {
        self.peer_initial as u32
    }
}

#[cfg(test)]
mod tests;
