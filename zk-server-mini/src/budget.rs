//! Memory accounting of the front end, in bytes: every request read from a socket and every
//! reply queued for one is charged to its connection's budget and to the server's. A
//! connection's socket is not read while either budget is used up (backpressure: TCP then
//! slows the client down), so what clients can make the server hold is bounded by bytes, not
//! by message counts.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

/// A byte budget shared by tasks: what is used, the limit, and a wake-up for waiters once
/// usage falls back under the limit.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
    drained: Notify,
}

impl ByteBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
            drained: Notify::new(),
        })
    }

    fn charge(&self, n: usize) {
        self.used.fetch_add(n, Ordering::AcqRel);
    }

    fn release(&self, n: usize) {
        let prev = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |u| {
                Some(u.saturating_sub(n))
            })
            .unwrap_or(0);
        if prev >= self.limit && prev.saturating_sub(n) < self.limit {
            self.drained.notify_waiters();
        }
    }

    /// Bytes in use.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    fn over(&self) -> bool {
        self.used() >= self.limit
    }

    /// Whether the budget is used up.
    pub(crate) fn is_full(&self) -> bool {
        self.over()
    }

    /// Waits until usage is under the limit.
    async fn wait_below(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release in between is not missed.
            notified.as_mut().enable();
            if !self.over() {
                return;
            }
            notified.await;
        }
    }
}

#[derive(Debug, Default)]
struct ConnUsage {
    used: usize,
    closed: bool,
}

/// One connection's budget, charged through to the server's. Once the connection is gone
/// ([`ConnBudget::close`]) whatever it still held is given back to the server and later
/// charges are ignored, so nothing leaks whichever task lets go last.
#[derive(Debug)]
pub(crate) struct ConnBudget {
    usage: Mutex<ConnUsage>,
    limit: usize,
    drained: Notify,
    /// Notified once by [`ConnBudget::close`]: the writer stops at once.
    kill: Notify,
    global: Arc<ByteBudget>,
    /// Reply bytes written to the socket since the core last asked.
    written: AtomicUsize,
    /// Wakes the core task when replies drain (it may be holding back this connection).
    core_wake: Arc<Notify>,
}

impl ConnBudget {
    pub(crate) fn new(limit: usize, global: Arc<ByteBudget>, core_wake: Arc<Notify>) -> Arc<Self> {
        Arc::new(Self {
            usage: Mutex::new(ConnUsage::default()),
            limit,
            drained: Notify::new(),
            kill: Notify::new(),
            global,
            written: AtomicUsize::new(0),
            core_wake,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ConnUsage> {
        self.usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Charges `n` bytes (a request read, a reply queued).
    pub(crate) fn charge(&self, n: usize) {
        let mut u = self.lock();
        if u.closed {
            return;
        }
        u.used += n;
        self.global.charge(n);
    }

    /// Gives `n` bytes back (a request done, a reply written).
    pub(crate) fn release(&self, n: usize) {
        let mut u = self.lock();
        let n = n.min(u.used);
        let was_over = u.used >= self.limit;
        u.used -= n;
        let now_over = u.used >= self.limit;
        drop(u);
        self.global.release(n);
        if was_over && !now_over {
            self.drained.notify_waiters();
        }
    }

    /// `frames` replies of `bytes` bytes in all reached the socket.
    pub(crate) fn written(&self, bytes: usize, frames: usize) {
        let n = bytes + frames * crate::state::FRAME_OVERHEAD;
        self.release(n);
        self.written.fetch_add(n, Ordering::AcqRel);
        self.core_wake.notify_one();
    }

    /// Reply bytes written since the last call.
    pub(crate) fn take_written(&self) -> usize {
        self.written.swap(0, Ordering::AcqRel)
    }

    /// Bytes this connection holds.
    pub(crate) fn used(&self) -> usize {
        self.lock().used
    }

    fn over(&self) -> bool {
        self.lock().used >= self.limit
    }

    /// Waits until both this connection and the server are under their limits.
    pub(crate) async fn wait_for_room(&self) {
        loop {
            let notified = self.drained.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.over() {
                break;
            }
            notified.await;
        }
        if self.global.over() {
            // The core task frees room (it cuts off the connection holding the most).
            self.core_wake.notify_one();
        }
        self.global.wait_below().await;
    }

    /// The connection is gone: what it held goes back to the server.
    pub(crate) fn close(&self) {
        let mut u = self.lock();
        u.closed = true;
        let n = std::mem::take(&mut u.used);
        drop(u);
        self.global.release(n);
        self.drained.notify_waiters();
        self.kill.notify_waiters();
    }

    /// Completes once [`ConnBudget::close`] was called: a connection cut off by the core task
    /// must stop holding its queued replies (its writer may be blocked on a client that does
    /// not read) as soon as its bytes are given back.
    pub(crate) async fn closed(&self) {
        loop {
            let notified = self.kill.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.lock().closed {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_waits_for_its_own_and_the_servers_room() {
        let global = ByteBudget::new(100);
        let wake = Arc::new(Notify::new());
        let a = ConnBudget::new(50, global.clone(), wake.clone());
        let b = ConnBudget::new(80, global.clone(), wake);
        a.charge(60);
        assert!(a.over());
        let waiter = {
            let a = a.clone();
            tokio::spawn(async move { a.wait_for_room().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        a.release(20);
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
        // The server's budget: b is under its own limit but the server is full.
        b.charge(70);
        assert_eq!(global.used(), 110);
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move { b.wait_for_room().await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        // Closing a gives back everything it held; later charges of a are ignored.
        a.close();
        a.charge(1_000);
        waiter.await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(global.used(), 70);
        b.charge(crate::state::FRAME_OVERHEAD);
        b.written(70, 1);
        let n = 70 + crate::state::FRAME_OVERHEAD;
        assert_eq!((b.used(), global.used(), b.take_written()), (0, 0, n));
    }
}
