//! [`TestCluster`]'s faults on demand: kill, restart, pause, partition, heal, a slow disk,
//! dropped client connections, expired sessions; the same on in-process members and on
//! child processes (through their fault-control file, [`crate::fault_control`]).

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{Running, TestCluster, signal};
use crate::ServerError;
use crate::fault_control::{Control, answer, write_atomically};

/// How long a child-process member has to answer a fault-control request (it polls every
/// 20 ms; generous for a loaded machine).
const CONTROL_ANSWER: Duration = Duration::from_secs(20);

impl TestCluster {
    /// Kills member `id`: SIGKILL for a child process; for an in-process member its tasks
    /// are aborted (nothing more is written or sent; what is on disk stays).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let mut cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// cluster.kill(leader).await;
    /// assert_eq!(cluster.mode(leader).await, None);
    /// let next = cluster.leader(Duration::from_secs(20)).await.expect("a new leader");
    /// assert_ne!(next, leader);
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn kill(&mut self, id: u64) {
        match self.members.remove(&id) {
            Some(Running::Process(mut c)) => {
                let _ = c.kill();
                let _ = c.wait();
            }
            Some(Running::InProcess(s)) => s.abort().await,
            None => {}
        }
    }

    /// Restarts member `id` on its data directory (killing it first if it runs).
    ///
    /// # Errors
    /// As [`crate::Builder::start`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let mut cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// cluster.kill(leader).await;
    /// cluster.restart(leader).await?; // on the same data directory and ports
    /// assert!(cluster.leader(Duration::from_secs(20)).await.is_some());
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn restart(&mut self, id: u64) -> Result<(), ServerError> {
        self.kill(id).await;
        self.launch(id).await
    }

    /// Freezes member `id` (SIGSTOP for a child process).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// cluster.pause(leader);
    /// // while it is frozen (SIGSTOP for a child process), the others may elect a new leader
    /// cluster.resume(leader);
    /// assert!(cluster.leader(Duration::from_secs(20)).await.is_some());
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn pause(&self, id: u64) {
        match self.members.get(&id) {
            Some(Running::Process(c)) => signal(c.id(), "-STOP"),
            Some(Running::InProcess(s)) => {
                if let Some(f) = s.member_faults() {
                    f.paused.store(true, Ordering::SeqCst);
                }
            }
            None => {}
        }
    }

    /// Lets a paused member go on (SIGCONT).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// cluster.pause(leader);
    /// cluster.resume(leader); // goes on where it stopped
    /// assert!(cluster.leader(Duration::from_secs(20)).await.is_some());
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn resume(&self, id: u64) {
        match self.members.get(&id) {
            Some(Running::Process(c)) => signal(c.id(), "-CONT"),
            Some(Running::InProcess(s)) => {
                if let Some(f) = s.member_faults() {
                    f.paused.store(false, Ordering::SeqCst);
                    f.resume.notify_one();
                }
            }
            None => {}
        }
    }

    /// What member `id`'s fault-control file asks for now.
    pub(super) fn control_of(&self, id: u64) -> Control {
        let control = self.control.lock().unwrap_or_else(|e| e.into_inner());
        control.get(&id).cloned().unwrap_or_default()
    }

    /// Changes member `id`'s fault-control state and, for a child process, rewrites its file
    /// (it polls it every 20 ms); returns the new state.
    fn update_control(&self, id: u64, change: impl FnOnce(&mut Control)) -> Control {
        let now = {
            let mut control = self.control.lock().unwrap_or_else(|e| e.into_inner());
            let entry = control.entry(id).or_default();
            change(entry);
            entry.clone()
        };
        if matches!(self.members.get(&id), Some(Running::Process(_))) {
            let _ = write_atomically(&self.control_path(id), &now.render());
        }
        now
    }

    fn control_path(&self, id: u64) -> PathBuf {
        self.data_dir(id).join("faults")
    }

    /// Cuts `side` off from the other members (peer traffic both ways), and, with
    /// `from_clients`, drops the client connections of the in-process members in `side`
    /// (clients reconnect to whichever member serves). Child processes take it through
    /// their fault-control file within a few tens of milliseconds.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let mut cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// cluster.partition(&[leader], true).await; // a minority of one
    /// // the old leader steps down once it misses its followers; the majority elects another
    /// let deadline = std::time::Instant::now() + Duration::from_secs(20);
    /// let next = loop {
    ///     match cluster.leader(Duration::from_secs(1)).await {
    ///         Some(id) if id != leader => break id,
    ///         _ => assert!(std::time::Instant::now() < deadline, "no new leader"),
    ///     }
    ///     tokio::time::sleep(Duration::from_millis(50)).await;
    /// };
    /// assert_ne!(next, leader);
    /// cluster.heal();
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn partition(&mut self, side: &[u64], from_clients: bool) {
        let all: Vec<u64> = self.servers.keys().copied().collect();
        for id in &all {
            let inside = side.contains(id);
            let cut: Vec<u64> = all
                .iter()
                .copied()
                .filter(|other| side.contains(other) != inside)
                .collect();
            let drop_clients = inside && from_clients;
            self.update_control(*id, |c| {
                c.blocked = cut.clone();
                if drop_clients {
                    c.drop_seq += 1;
                }
            });
            let Some(Running::InProcess(s)) = self.members.get(id) else {
                continue;
            };
            let Some(f) = s.member_faults() else { continue };
            *f.peers.blocked.lock().unwrap_or_else(|e| e.into_inner()) = cut.into_iter().collect();
            if inside && from_clients {
                s.drop_connections(None).await;
            }
        }
    }

    /// Ends every partition.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let mut cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// cluster.partition(&[leader], false).await;
    /// cluster.heal(); // every member talks to every other again
    /// assert!(cluster.leader(Duration::from_secs(20)).await.is_some());
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn heal(&mut self) {
        let all: Vec<u64> = self.servers.keys().copied().collect();
        for id in all {
            self.update_control(id, |c| c.blocked.clear());
            if let Some(Running::InProcess(s)) = self.members.get(&id)
                && let Some(f) = s.member_faults()
            {
                f.peers
                    .blocked
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clear();
            }
        }
    }

    /// Makes every durable write of member `id` take `delay` longer.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let mut cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// cluster.slow_disk(leader, Duration::from_millis(20)); // every commit now waits on it
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub fn slow_disk(&mut self, id: u64, delay: Duration) {
        self.update_control(id, |c| c.disk_delay_ms = delay.as_millis() as u64);
        if let Some(Running::InProcess(s)) = self.members.get(&id)
            && let Some(f) = s.member_faults()
        {
            f.disk_delay_ms
                .store(delay.as_millis() as u64, Ordering::Relaxed);
        }
    }

    /// Closes the client connections of member `id` (sessions live on; clients reconnect).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// let mut client = zk_server_mini::testing::RawClient::connect(cluster.client_addr(leader), 10_000).await?;
    /// assert_eq!(cluster.drop_connections(leader).await, 1);
    /// assert!(client.closed_within(Duration::from_secs(5)).await); // the session lives on
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn drop_connections(&self, id: u64) -> usize {
        match self.members.get(&id) {
            Some(Running::InProcess(s)) => s.drop_connections(None).await,
            Some(Running::Process(_)) => {
                let asked = self.update_control(id, |c| c.drop_seq += 1);
                answer(
                    &self.control_path(id),
                    "drop",
                    asked.drop_seq,
                    CONTROL_ANSWER,
                )
                .await
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
            }
            None => 0,
        }
    }

    /// Expires `session` at the serving leader, as a timeout would; whether it was live
    /// there. In-process members are asked directly, child processes through their
    /// fault-control file (every member is asked; only the serving leader expires).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use zk_server_mini::cluster::TestCluster;
    /// let cluster = TestCluster::builder(3).start().await?;
    /// let leader = cluster.leader(Duration::from_secs(20)).await.expect("a leader");
    /// let client = zk_server_mini::testing::RawClient::connect(cluster.client_addr(leader), 10_000).await?;
    /// assert!(cluster.expire_session(client.session.session_id).await);
    /// assert!(!cluster.expire_session(client.session.session_id).await); // already gone
    /// cluster.stop().await;
    /// # Ok(()) }
    /// ```
    pub async fn expire_session(&self, session: i64) -> bool {
        let mut asked = Vec::new();
        for (id, m) in &self.members {
            match m {
                Running::InProcess(s) => {
                    if s.member_status().is_some_and(|st| st.serving) {
                        return s.expire_session(session).await;
                    }
                }
                Running::Process(_) => {
                    let seq = self.update_control(*id, |c| {
                        let next = c.expire.map_or(1, |(seq, _)| seq + 1);
                        c.expire = Some((next, session));
                    });
                    if let Some((seq, _)) = seq.expire {
                        asked.push((*id, seq));
                    }
                }
            }
        }
        let mut expired = false;
        for (id, seq) in asked {
            let said = answer(&self.control_path(id), "expire", seq, CONTROL_ANSWER).await;
            expired |= said.as_deref() == Some("true");
        }
        expired
    }
}
