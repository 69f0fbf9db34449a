//! The queue between the partitioner's task and the application: bounded by the number of units,
//! whatever the application's pace.
//!
//! When the application has not yet taken an `Assigned` for a grant and that grant ends, the
//! application never started it, so the pair (with any `Revoking` between) is dropped rather than
//! queued: per unit at most one pending grant's events are ever held.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use futures::Stream;

use super::event::PartitionEvent;

#[derive(Debug, Default)]
struct Inner {
    queue: VecDeque<PartitionEvent>,
    closed: bool,
    waker: Option<Waker>,
}

/// The sending side, held by the partitioner's task.
#[derive(Debug, Clone, Default)]
pub(crate) struct EventQueue {
    inner: Arc<Mutex<Inner>>,
}

impl EventQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues `event`, cancelling a grant the application has not seen yet.
    pub(crate) fn push(&self, event: PartitionEvent) {
        let mut inner = self.lock();
        if let PartitionEvent::Revoked { unit, token, .. } = &event {
            let unseen = inner.queue.iter().position(|e| {
                matches!(e, PartitionEvent::Assigned { unit: u, token: t } if u == unit && t == token)
            });
            if let Some(index) = unseen {
                inner.queue.remove(index);
                inner.queue.retain(|e| {
                    !matches!(e, PartitionEvent::Revoking { unit: u, token: t, .. } if u == unit && t == token)
                });
                return;
            }
        }
        inner.queue.push_back(event);
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }

    /// Ends the stream once the queue is empty.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        if let Some(waker) = inner.waker.take() {
            waker.wake();
        }
    }

    /// How many events wait.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }
}

/// The application's side: a `Stream` of [`PartitionEvent`]s.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_recipes::partition::{PartitionEvent, PartitionEvents};
/// # async fn demo(p: zk_recipes::partition::Partitioner) {
/// let mut events: PartitionEvents = p.events(); // only the first call gets the events
/// while let Some(event) = events.next().await {
///     match event {
///         PartitionEvent::Assigned { unit, token } => println!("start {unit} ({token})"),
///         PartitionEvent::Revoking { unit, .. } => p.ack_revoked(&unit), // after stopping it
///         PartitionEvent::Revoked { unit, reason, .. } => println!("stopped {unit}: {reason}"),
///     }
/// }
/// // the stream ends when the partitioner's task ends (shutdown, or a `failure`)
/// # }
/// ```
#[derive(Debug)]
pub struct PartitionEvents {
    queue: EventQueue,
}

impl PartitionEvents {
    pub(crate) fn new(queue: EventQueue) -> Self {
        Self { queue }
    }
}

impl Stream for PartitionEvents {
    type Item = PartitionEvent;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut inner = self.queue.lock();
        if let Some(event) = inner.queue.pop_front() {
            return Poll::Ready(Some(event));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        inner.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use futures::StreamExt;

    use super::*;
    use crate::partition::RevokeReason;

    fn assigned(token: i64) -> PartitionEvent {
        PartitionEvent::Assigned {
            unit: "u".into(),
            token,
        }
    }

    fn revoked(token: i64) -> PartitionEvent {
        PartitionEvent::Revoked {
            unit: "u".into(),
            token,
            reason: RevokeReason::Suspended,
        }
    }

    #[tokio::test]
    async fn an_unseen_grant_and_its_end_cancel_out() {
        let queue = EventQueue::default();
        let mut events = PartitionEvents::new(queue.clone());
        // A flapping unit the application never looks at stays at zero queued events.
        for token in 0..1000 {
            queue.push(assigned(token));
            queue.push(revoked(token));
        }
        assert_eq!(queue.len(), 0);
        queue.push(assigned(5000));
        assert_eq!(events.next().await, Some(assigned(5000)));
        // Seen grants keep their end.
        queue.push(revoked(5000));
        queue.close();
        assert_eq!(events.next().await, Some(revoked(5000)));
        assert_eq!(events.next().await, None);
    }
}
