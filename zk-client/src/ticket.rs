//! The hand-over of one request between its caller and the connection task.
//!
//! A caller that gives up (timeout, or its future dropped) withdraws the ticket; the task claims
//! it right before writing the request. Exactly one of the two wins, atomically, so a request
//! is either never written (the caller was told [`Error::Timeout`](crate::Error::Timeout)), or
//! the caller learns that it was written ([`Error::OutcomeUnknown`](crate::Error::OutcomeUnknown)).

use std::sync::atomic::{AtomicU8, Ordering};

const QUEUED: u8 = 0;
const WRITTEN: u8 = 1;
const WITHDRAWN: u8 = 2;

/// The fate of one request: queued, written, or withdrawn by its caller.
#[derive(Debug, Default)]
pub(crate) struct Ticket(AtomicU8);

impl Ticket {
    /// The task is about to write the request: true if it may (the caller still waits).
    pub(crate) fn claim_for_write(&self) -> bool {
        self.0
            .compare_exchange(QUEUED, WRITTEN, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// The caller gives up: true if the request was not written and now never will be.
    pub(crate) fn withdraw(&self) -> bool {
        match self
            .0
            .compare_exchange(QUEUED, WITHDRAWN, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => true,
            Err(current) => current == WITHDRAWN,
        }
    }

    /// Whether the caller withdrew the request.
    pub(crate) fn is_withdrawn(&self) -> bool {
        self.0.load(Ordering::Acquire) == WITHDRAWN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_side_wins() {
        let t = Ticket::default();
        assert!(t.withdraw());
        assert!(!t.claim_for_write());
        assert!(t.is_withdrawn());
        let t = Ticket::default();
        assert!(t.claim_for_write());
        assert!(!t.withdraw());
        assert!(!t.is_withdrawn());
    }

    #[test]
    fn racing_threads_agree() {
        for _ in 0..200 {
            let t = std::sync::Arc::new(Ticket::default());
            let t2 = std::sync::Arc::clone(&t);
            let writer = std::thread::spawn(move || t2.claim_for_write());
            let withdrawn = t.withdraw();
            let written = writer.join().unwrap_or(false);
            assert_ne!(withdrawn, written);
        }
    }
}
