//! The client's budget of bytes of requests queued and not yet written.
//!
//! A request takes its size out of the budget before it is queued and gives it back when the
//! core writes it (or drops it). When the budget is spent, callers wait: memory held by queued
//! requests is bounded whatever the callers do, and a stalled connection slows them down
//! (backpressure). Two atomic operations per request in the common case; waiters are woken
//! only when there are any.

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// A byte budget shared by the handles of one client and its core.
#[derive(Debug)]
pub(crate) struct QueueBudget {
    used: AtomicUsize,
    limit: usize,
    waiting: AtomicUsize,
    notify: Notify,
}

impl QueueBudget {
    /// A budget of `limit` bytes.
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit: limit.max(1),
            waiting: AtomicUsize::new(0),
            notify: Notify::new(),
        })
    }

    /// Waits until `cost` bytes (at most the whole budget) are free, and takes them.
    pub(crate) async fn acquire(self: &Arc<Self>, cost: usize) -> BudgetPermit {
        let cost = cost.min(self.limit);
        loop {
            if self.try_take(cost) {
                return self.permit(cost);
            }
            let mut notified = pin!(self.notify.notified());
            notified.as_mut().enable();
            // Announce the waiter, then check again: a release either sees the waiter (and
            // wakes it) or happened before the check (which then succeeds).
            self.waiting.fetch_add(1, Ordering::SeqCst);
            if self.try_take(cost) {
                self.waiting.fetch_sub(1, Ordering::SeqCst);
                return self.permit(cost);
            }
            notified.await;
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
    }

    fn permit(self: &Arc<Self>, cost: usize) -> BudgetPermit {
        BudgetPermit {
            budget: Arc::clone(self),
            cost,
        }
    }

    fn try_take(&self, cost: usize) -> bool {
        let mut used = self.used.load(Ordering::SeqCst);
        loop {
            if used + cost > self.limit {
                return false;
            }
            match self.used.compare_exchange_weak(
                used,
                used + cost,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => return true,
                Err(now) => used = now,
            }
        }
    }

    fn release(&self, cost: usize) {
        self.used.fetch_sub(cost, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify.notify_waiters();
        }
    }

    /// Bytes taken now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst)
    }
}

/// Bytes taken out of a [`QueueBudget`]; given back on drop.
#[derive(Debug)]
pub(crate) struct BudgetPermit {
    budget: Arc<QueueBudget>,
    cost: usize,
}

impl Drop for BudgetPermit {
    fn drop(&mut self) {
        self.budget.release(self.cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn callers_wait_when_the_budget_is_spent_and_resume_when_it_is_given_back() {
        let budget = QueueBudget::new(100);
        let a = budget.acquire(60).await;
        let b = budget.acquire(40).await;
        assert_eq!(budget.used(), 100);
        let waiting = tokio::spawn({
            let budget = Arc::clone(&budget);
            async move { budget.acquire(50).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        drop(a);
        let c = waiting.await.unwrap();
        assert_eq!(budget.used(), 90);
        drop((b, c));
        assert_eq!(budget.used(), 0);
        // Larger than the whole budget: takes all of it.
        let all = budget.acquire(1_000).await;
        assert_eq!(budget.used(), 100);
        drop(all);
    }
}
