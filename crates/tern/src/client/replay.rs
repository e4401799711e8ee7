//! The request buffer that lets a client-streaming call be retried (gRFC A6): the request
//! stream is encoded once, by one task, into batches kept here; each attempt has a task that
//! sends them, from the first, as they come. The buffer is kept only while a retry is still
//! possible — until the call commits (response headers) or the buffer passes its limit — and
//! after that each batch is let go once it is sent, so a long stream costs no more memory than
//! without retries.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::Poll;

use bytes::{Bytes, BytesMut};
use futures_core::Stream;
use tokio::sync::{oneshot, Notify};

use crate::codec::Codec;
use crate::interceptor::chain::Observers;
use crate::message::SendMessages;
use crate::transport::SendBody;

/// How many bytes of a call's requests are kept for retries (grpc-java's per-RPC limit); past
/// it the call commits to the attempt under way.
pub(crate) const PER_CALL_LIMIT: usize = 1024 * 1024;

/// Batches an uncommitted call keeps in flight beyond the one being sent, once they need not
/// be kept: the encoder waits rather than read the user's stream ahead without bound.
const AHEAD: usize = 4;

/// The encoded requests of one call.
#[derive(Debug)]
pub(crate) struct Replay {
    state: Mutex<State>,
    changed: Notify,
    limit: usize,
}

#[derive(Debug, Default)]
struct State {
    /// The index of `batches[0]` in the whole stream.
    base: usize,
    batches: VecDeque<Bytes>,
    /// Bytes of requests so far.
    bytes: usize,
    /// The request stream ended (`Some(true)`) or could not be encoded (`Some(false)`).
    ended: Option<bool>,
    /// Whether another attempt may still need every batch from the first.
    keep: bool,
    /// The attempt under way; only it lets batches go (an attempt given up may still be
    /// finishing a send).
    attempt: u64,
}

/// What an attempt sends next.
enum Next {
    Batch { bytes: Bytes, last: bool },
    End,
    Failed,
}

impl Replay {
    pub(crate) fn new(limit: usize) -> Arc<Replay> {
        Arc::new(Replay {
            state: Mutex::new(State {
                keep: true,
                ..State::default()
            }),
            changed: Notify::new(),
            limit,
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new attempt begins (from the first batch): its number.
    pub(crate) fn begin_attempt(&self) -> u64 {
        let mut state = self.state();
        state.attempt += 1;
        state.attempt
    }

    /// Whether the call may still be sent again from the start.
    pub(crate) fn can_retry(&self) -> bool {
        self.state().keep
    }

    /// The call is committed to its current attempt: nothing need be kept for another.
    pub(crate) fn commit(&self) {
        self.state().keep = false;
        self.changed.notify_waiters();
    }

    async fn wait_for(&self, mut ready: impl FnMut(&mut State) -> bool) {
        loop {
            let notified = self.changed.notified();
            let mut notified = pin!(notified);
            notified.as_mut().enable();
            if ready(&mut self.state()) {
                return;
            }
            notified.await;
        }
    }

    async fn push(&self, batch: Bytes) {
        // Once nothing is kept for retries, stay only a little ahead of the sender.
        self.wait_for(|s| s.keep || s.batches.len() < AHEAD).await;
        let mut state = self.state();
        state.bytes += batch.len();
        if state.bytes > self.limit {
            state.keep = false;
        }
        state.batches.push_back(batch);
        drop(state);
        self.changed.notify_waiters();
    }

    fn end(&self, ok: bool) {
        self.state().ended = Some(ok);
        self.changed.notify_waiters();
    }

    async fn next(&self, cursor: usize) -> Next {
        let mut next = None;
        self.wait_for(|s| {
            if let Some(bytes) = cursor.checked_sub(s.base).and_then(|i| s.batches.get(i)) {
                let last = s.ended == Some(true) && cursor + 1 == s.base + s.batches.len();
                next = Some(Next::Batch {
                    bytes: bytes.clone(),
                    last,
                });
                return true;
            }
            match s.ended {
                Some(true) if cursor >= s.base + s.batches.len() => next = Some(Next::End),
                Some(false) => next = Some(Next::Failed),
                _ => {}
            }
            next.is_some()
        })
        .await;
        next.unwrap_or(Next::Failed)
    }

    /// Batch `cursor` went out on `attempt`; if nothing is kept and that attempt is the one under
    /// way, it (and any before it) can go.
    fn sent(&self, attempt: u64, cursor: usize) {
        let mut state = self.state();
        if !state.keep && state.attempt == attempt {
            while state.base <= cursor && state.batches.pop_front().is_some() {
                state.base += 1;
            }
        }
        drop(state);
        self.changed.notify_waiters();
    }
}

/// Encodes the request stream into `replay`, on a task of its own, until the stream ends or
/// the returned guard is dropped (the call is over).
pub(crate) fn spawn_encoder<C, S>(
    replay: Arc<Replay>,
    messages: S,
    codec: C,
    sender: SendMessages,
    observers: Option<Arc<Observers>>,
) -> oneshot::Sender<()>
where
    C: Codec,
    S: Stream<Item = C::Encode> + Send + 'static,
{
    let (guard, mut abandoned) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut messages = pin!(messages);
        let mut batch = BytesMut::new();
        let observe = |message: &C::Encode, wire_size: usize| {
            if let Some(observers) = &observers {
                observers.request(message, wire_size);
            }
        };
        loop {
            let next = tokio::select! {
                next = poll_fn(|cx| messages.as_mut().poll_next(cx)) => next,
                _ = &mut abandoned => return,
            };
            let Some(message) = next else { break };
            let mut ended = sender
                .encode_into_observed(&codec, &message, &mut batch, observe)
                .err()
                .map(Err);
            if ended.is_none() {
                ended = poll_fn(|cx| {
                    Poll::Ready(sender.encode_ready(&codec, &mut batch, cx, observe, |cx| {
                        messages.as_mut().poll_next(cx).map(|next| next.map(Ok))
                    }))
                })
                .await;
            }
            if let Some(Err(status)) = &ended {
                tracing::debug!(%status, "request message not sent; cancelling the call");
                return replay.end(false);
            }
            tokio::select! {
                () = replay.push(batch.split().freeze()) => {}
                _ = &mut abandoned => return,
            }
            if ended.is_some() {
                break;
            }
        }
        replay.end(true);
    });
    guard
}

/// Sends `replay`'s batches on one attempt's stream, from the first, until the request stream
/// ends or the returned guard is dropped (the attempt is given up: its stream is reset).
pub(crate) fn spawn_attempt(
    mut send: SendBody,
    replay: Arc<Replay>,
    attempt: u64,
) -> oneshot::Sender<()> {
    let (guard, mut abandoned) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut cursor = 0;
        loop {
            let next = tokio::select! {
                next = replay.next(cursor) => next,
                _ = &mut abandoned => return send.cancel(),
            };
            let (bytes, last) = match next {
                Next::Batch { bytes, last } => (bytes, last),
                Next::End => {
                    let _ = send.send_now(Bytes::new(), true);
                    return;
                }
                Next::Failed => return send.cancel(),
            };
            let ready = tokio::select! {
                ready = send.ready(bytes.len()) => ready,
                _ = &mut abandoned => return send.cancel(),
            };
            if ready.and_then(|()| send.send_now(bytes, last)).is_err() || last {
                // When not last, the stream is gone; the response side reports why.
                return;
            }
            replay.sent(attempt, cursor);
            cursor += 1;
        }
    });
    guard
}
