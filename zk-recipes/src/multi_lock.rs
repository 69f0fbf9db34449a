//! All-or-nothing acquisition of several mutexes (Curator `InterProcessMultiLock`).

use std::time::Duration;

use crate::contend::Wait;
use crate::error::Result;
use crate::mutex::Mutex;
use crate::ownership::{LossReason, OwnershipGuard};

/// Several mutexes taken together: all of them or none.
///
/// The locks are taken in path order (so two multi-locks over overlapping sets cannot
/// deadlock each other), under one deadline; if one fails, the ones already taken are
/// released before the error is returned.
///
/// ```no_run
/// use std::time::Duration;
/// use zk_recipes::{MultiLock, Mutex, MutexOptions};
/// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
/// let a = Mutex::new(client.clone(), "/app/locks/a", MutexOptions::default())?;
/// let b = Mutex::new(client.clone(), "/app/locks/b", MutexOptions::default())?;
/// let both = MultiLock::new(vec![a, b]);
/// let guard = both.acquire_timeout(Duration::from_secs(5)).await?;
/// assert!(guard.is_held());
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MultiLock {
    locks: Vec<Mutex>,
}

/// The guard of a [`MultiLock`]: held while every part is held.
///
/// ```no_run
/// # async fn demo(guard: zk_recipes::MultiGuard) -> zk_recipes::Result<()> {
/// println!("tokens {:?}", guard.tokens());
/// let reason = guard.lost().await;
/// eprintln!("one part lost: {reason}");
/// guard.release().await?;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the guard releases every lock"]
pub struct MultiGuard {
    guards: Vec<OwnershipGuard>,
}

impl MultiLock {
    /// Combines `locks` (duplicates by path are taken once).
    ///
    /// ```no_run
    /// use zk_recipes::{MultiLock, Mutex};
    /// # fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let both = MultiLock::new(vec![
    ///     Mutex::new(client.clone(), "/app/locks/a", Default::default())?,
    ///     Mutex::new(client, "/app/locks/b", Default::default())?,
    /// ]);
    /// # drop(both); Ok(()) }
    /// ```
    pub fn new(mut locks: Vec<Mutex>) -> Self {
        locks.sort_by(|a, b| a.path().cmp(b.path()));
        locks.dedup_by(|a, b| a.path() == b.path());
        Self { locks }
    }

    /// Waits for all of them.
    ///
    /// # Errors
    /// The first failure (after releasing what was taken).
    ///
    /// ```no_run
    /// # async fn demo(locks: zk_recipes::MultiLock) -> zk_recipes::Result<()> {
    /// let guard = locks.acquire().await?; // all parts, or none on error
    /// assert!(guard.is_held());
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn acquire(&self) -> Result<MultiGuard> {
        self.acquire_with(Wait::default()).await
    }

    /// Waits for all of them, at most `timeout` in total.
    ///
    /// # Errors
    /// As [`acquire`](Self::acquire), plus [`RecipeError::Deadline`](crate::RecipeError::Deadline).
    ///
    /// ```no_run
    /// # async fn demo(locks: zk_recipes::MultiLock) -> zk_recipes::Result<()> {
    /// let guard = locks.acquire_timeout(std::time::Duration::from_secs(5)).await?;
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn acquire_timeout(&self, timeout: Duration) -> Result<MultiGuard> {
        self.acquire_with(Wait::within(timeout)).await
    }

    async fn acquire_with(&self, wait: Wait) -> Result<MultiGuard> {
        let mut guards = Vec::with_capacity(self.locks.len());
        for lock in &self.locks {
            match lock.acquire_with(wait.clone()).await {
                Ok(g) => guards.push(g),
                Err(e) => {
                    for g in guards {
                        let _ = g.release().await;
                    }
                    return Err(e);
                }
            }
        }
        Ok(MultiGuard { guards })
    }
}

impl MultiGuard {
    /// Whether every lock is held right now.
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::MultiGuard) {
    /// while guard.is_held() {
    ///     // work protected by every part
    /// #   break;
    /// }
    /// # }
    /// ```
    pub fn is_held(&self) -> bool {
        self.guards.iter().all(OwnershipGuard::is_held)
    }

    /// The parts' fencing tokens, in path order.
    ///
    /// ```no_run
    /// # fn demo(guard: &zk_recipes::MultiGuard) {
    /// let tokens = guard.tokens(); // one per part, in path order
    /// assert_eq!(tokens.len(), guard.guards().len());
    /// # }
    /// ```
    pub fn tokens(&self) -> Vec<i64> {
        self.guards.iter().map(OwnershipGuard::token).collect()
    }

    /// The parts, in path order.
    ///
    /// ```no_run
    /// # fn demo(guard: &zk_recipes::MultiGuard) {
    /// for part in guard.guards() {
    ///     println!("{} token {}", part.node(), part.token());
    /// }
    /// # }
    /// ```
    pub fn guards(&self) -> &[OwnershipGuard] {
        &self.guards
    }

    /// Resolves when the first part is lost.
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::MultiGuard) -> zk_recipes::Result<()> {
    /// tokio::select! {
    ///     reason = guard.lost() => eprintln!("lost a part: {reason}"),
    ///     _ = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
    /// }
    /// guard.release().await?;
    /// # Ok(()) }
    /// ```
    pub async fn lost(&self) -> LossReason {
        let all = self.guards.iter().map(|g| Box::pin(g.lost()));
        if self.guards.is_empty() {
            std::future::pending().await
        } else {
            futures::future::select_all(all).await.0
        }
    }

    /// Releases every part (all are attempted); the first error is returned.
    ///
    /// # Errors
    /// As [`OwnershipGuard::release`].
    ///
    /// ```no_run
    /// # async fn demo(guard: zk_recipes::MultiGuard) -> zk_recipes::Result<()> {
    /// guard.release().await?; // every part is attempted
    /// # Ok(()) }
    /// ```
    pub async fn release(self) -> Result<()> {
        let mut first = Ok(());
        for g in self.guards {
            if let Err(e) = g.release().await
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }
}
