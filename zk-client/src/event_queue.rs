//! The bounded queue between the core and one [`PersistentWatch`](crate::PersistentWatch).
//!
//! The core never waits for a watch's consumer (that would stall every other caller), so a
//! consumer that stops reading cannot be slowed down, only cut off: once `capacity` events wait
//! unread, further events are counted and dropped, and when the consumer has read what was
//! queued it gets one [`PersistentEvent::Overflow`] with the count, then events again. Memory
//! per watch is bounded by `capacity` events.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use crate::watch::PersistentEvent;

#[derive(Debug)]
struct State {
    queue: VecDeque<PersistentEvent>,
    capacity: usize,
    /// Events dropped since the consumer last caught up.
    dropped: u64,
    sender_gone: bool,
    receiver_gone: bool,
    waker: Option<Waker>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    // Plain data: a panic elsewhere leaves it consistent.
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A queue holding at most `capacity` events (at least 1).
pub(crate) fn event_queue(capacity: usize) -> (EventSender, EventReceiver) {
    let state = Arc::new(Mutex::new(State {
        queue: VecDeque::new(),
        capacity: capacity.max(1),
        dropped: 0,
        sender_gone: false,
        receiver_gone: false,
        waker: None,
    }));
    (
        EventSender {
            state: Arc::clone(&state),
        },
        EventReceiver { state },
    )
}

/// The core's end.
#[derive(Debug)]
pub(crate) struct EventSender {
    state: Arc<Mutex<State>>,
}

/// The consumer was dropped.
#[derive(Debug)]
pub(crate) struct Gone;

impl EventSender {
    /// Queues `event`, or counts it as dropped when the queue is full (or an overflow is still
    /// to be reported). Fails only when the consumer is gone.
    pub(crate) fn send(&self, event: PersistentEvent) -> Result<(), Gone> {
        let mut state = lock(&self.state);
        if state.receiver_gone {
            return Err(Gone);
        }
        if state.dropped > 0 || state.queue.len() >= state.capacity {
            state.dropped += 1;
        } else {
            state.queue.push_back(event);
        }
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        Ok(())
    }
}

impl Drop for EventSender {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.sender_gone = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }
}

/// The consumer's end.
pub(crate) struct EventReceiver {
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for EventReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = lock(&self.state);
        f.debug_struct("EventReceiver")
            .field("queued", &state.queue.len())
            .field("dropped", &state.dropped)
            .finish()
    }
}

impl EventReceiver {
    /// The next event; `None` once the sender is gone and everything was read.
    pub(crate) fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<PersistentEvent>> {
        let mut state = lock(&self.state);
        if let Some(event) = state.queue.pop_front() {
            return Poll::Ready(Some(event));
        }
        if state.dropped > 0 {
            let dropped = std::mem::take(&mut state.dropped);
            return Poll::Ready(Some(PersistentEvent::Overflow { dropped }));
        }
        if state.sender_gone {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// The next event if one is ready (tests).
    #[cfg(test)]
    pub(crate) fn try_recv(&mut self) -> Result<PersistentEvent, ()> {
        let waker = futures::task::noop_waker();
        match self.poll_recv(&mut Context::from_waker(&waker)) {
            Poll::Ready(Some(event)) => Ok(event),
            _ => Err(()),
        }
    }

    /// Async form of [`poll_recv`](Self::poll_recv).
    pub(crate) async fn recv(&mut self) -> Option<PersistentEvent> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }
}

impl Drop for EventReceiver {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.receiver_gone = true;
        state.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch::WatchedEvent;
    use zk_proto::EventType;

    fn node(i: usize) -> PersistentEvent {
        PersistentEvent::Node(WatchedEvent::node(
            EventType::NodeCreated,
            &format!("/n{i}"),
        ))
    }

    fn drain(rx: &mut EventReceiver) -> Vec<PersistentEvent> {
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        let mut out = Vec::new();
        while let Poll::Ready(Some(e)) = rx.poll_recv(&mut cx) {
            out.push(e);
        }
        out
    }

    #[test]
    fn a_stalled_consumer_gets_the_first_events_then_one_overflow_marker_then_events_again() {
        let (tx, mut rx) = event_queue(4);
        for i in 0..100 {
            tx.send(node(i)).unwrap();
        }
        let got = drain(&mut rx);
        assert_eq!(got.len(), 5);
        assert_eq!(got[..4], [node(0), node(1), node(2), node(3)]);
        assert_eq!(got[4], PersistentEvent::Overflow { dropped: 96 });
        tx.send(node(100)).unwrap();
        assert_eq!(drain(&mut rx), vec![node(100)]);
        drop(tx);
        let waker = futures::task::noop_waker();
        assert_eq!(
            rx.poll_recv(&mut Context::from_waker(&waker)),
            Poll::Ready(None)
        );
    }

    #[test]
    fn the_sender_learns_the_consumer_is_gone() {
        let (tx, rx) = event_queue(4);
        drop(rx);
        assert!(tx.send(node(0)).is_err());
    }
}
