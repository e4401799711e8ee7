//! A stream of the items of a `Vec`, for the tests' streaming requests and responses.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Yields the items in order, then ends.
#[derive(Debug)]
pub struct Iter<T>(VecDeque<T>);

impl<T> Iter<T> {
    /// The stream of `items`.
    pub fn new(items: impl IntoIterator<Item = T>) -> Iter<T> {
        Iter(items.into_iter().collect())
    }
}

impl<T: Unpin> futures_core::Stream for Iter<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Option<T>> {
        Poll::Ready(self.0.pop_front())
    }
}
