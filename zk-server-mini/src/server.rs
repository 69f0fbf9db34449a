//! The tasks of a running server: the accept loop (with `maxClientCnxns`) and the single
//! state-machine task that owns the tree, sessions and watches and runs the write pipeline:
//! prep → log (group commit, one fsync per batch) → commit → apply → notify → reply.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinSet;

use crate::budget::{ByteBudget, ConnBudget};
use crate::connection::{self, Admin, ConnSettings, CoreMsg, Outbound};
use crate::dir_lock::DirLock;
use crate::four_letter::ServerFacts;
use crate::state::{Action, Input, StateMachine};
use crate::storage::Storage;
use crate::watches::ConnId;

/// Most inputs taken into one batch.
const MAX_BATCH: usize = 4096;

/// Proposals waiting for the log write in progress above which no new input is taken.
const MAX_NEXT_BATCH: usize = 4096;

/// Deferred inputs above which no new input is taken.
const MAX_BACKLOG: usize = 1 << 20;

/// A connection as the core task sees it: its outbound queue, its byte budget, and the cost
/// of each of its requests not yet done, oldest first (they are done in arrival order).
#[derive(Debug)]
pub(crate) struct Out {
    pub(crate) tx: mpsc::UnboundedSender<Outbound>,
    pub(crate) budget: Arc<ConnBudget>,
    pub(crate) costs: VecDeque<usize>,
}

impl Out {
    /// `n` more requests are done: their bytes go back.
    pub(crate) fn done(&mut self, n: u32) {
        let mut total = 0usize;
        for _ in 0..n {
            total += self.costs.pop_front().unwrap_or(0);
        }
        self.budget.release(total);
    }
}

pub(crate) type Outs = HashMap<ConnId, Out>;

pub(crate) fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) struct CoreTask {
    pub(crate) sm: StateMachine,
    pub(crate) storage: Option<Storage>,
    pub(crate) rx: mpsc::Receiver<CoreMsg>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) facts: ServerFacts,
    pub(crate) snap_count: u64,
    pub(crate) snapshot_write_delay: Duration,
    /// The data directories' locks, released when this task ends (after its last write).
    pub(crate) _locks: Vec<DirLock>,
    pub(crate) reap_every: Duration,
    /// Woken when a connection's replies were written (requests may be waiting for that).
    pub(crate) core_wake: Arc<Notify>,
    /// Reply bytes queued for one connection past which it is cut off: only notifications,
    /// which are not held back, can get there.
    pub(crate) max_queued_bytes: usize,
    /// What all connections hold together.
    pub(crate) global_budget: Arc<ByteBudget>,
}

/// What a finished log write hands back: the storage, the outcome, the last zxid of the
/// batch and how many transactions it held.
type LogWrite = (Storage, std::io::Result<()>, i64, usize);

/// A snapshot being written on a blocking thread.
type SnapshotWrite = tokio::task::JoinHandle<std::io::Result<()>>;

/// Waits for a background task, or forever when there is none.
async fn finish<T>(
    task: &mut Option<tokio::task::JoinHandle<T>>,
) -> Result<T, tokio::task::JoinError> {
    match task.as_mut() {
        Some(t) => t.await,
        None => std::future::pending().await,
    }
}

impl CoreTask {
    /// The state-machine loop. The log stage is pipelined: while one batch is being written
    /// and fsynced on a blocking thread, the loop keeps taking inputs, answering reads of
    /// connections with nothing in flight, and preparing the next batch (against the pending
    /// changes of the one in flight). Batches are written strictly one after another and
    /// committed in zxid order; a connection's reads wait behind its own unapplied writes.
    pub(crate) async fn run(mut self) {
        let start = Instant::now();
        let now_ms = move || start.elapsed().as_millis() as u64;
        let mut outs: Outs = HashMap::new();
        let tick = Duration::from_millis(self.sm.config.tick_ms.max(1));
        let mut next_tick = tokio::time::Instant::now() + tick;
        let mut last_reap = Instant::now();
        let mut dropped: Vec<ConnId> = Vec::new();
        let mut writing: Option<tokio::task::JoinHandle<LogWrite>> = None;
        let mut snap_retry_at: Option<Instant> = None;
        // A snapshot is written while the loop goes on; at most one at a time.
        let mut snapshotting: Option<SnapshotWrite> = None;
        loop {
            let mut inputs: Vec<Input> = std::mem::take(&mut dropped)
                .into_iter()
                .map(|conn| Input::Closed { conn })
                .collect();
            let mut finished: Option<LogWrite> = None;
            // While a batch is being written the next one forms; past this size no more
            // input is taken (TCP pushes back on the clients) until the write is done.
            // Deferred reads wait for a commit, which is followed by a step in the same pass,
            // so an idle pass can always wait here.
            let log_full = writing.is_some() && self.sm.proposals().len() >= MAX_NEXT_BATCH;
            let congested = self.sm.is_congested() || self.global_budget.is_full();
            if inputs.is_empty() && !self.sm.backlog_ready() {
                tokio::select! {
                    _ = self.shutdown.changed() => break,
                    _ = self.core_wake.notified(), if congested => {}
                    m = self.rx.recv(), if !log_full => match m {
                        Some(m) => self.take(m, &mut inputs, &mut outs),
                        None => break,
                    },
                    _ = tokio::time::sleep_until(next_tick) => {}
                    done = finish(&mut snapshotting) => {
                        snapshotting = None;
                        snapshot_done(done, &mut snap_retry_at);
                    }
                    done = finish(&mut writing) => {
                        writing = None;
                        match done {
                            Ok(d) => finished = Some(d),
                            Err(e) => {
                                tracing::error!("the log writer failed ({e}); stopping the server");
                                break;
                            }
                        }
                    }
                }
            }
            if snapshotting.as_ref().is_some_and(|s| s.is_finished())
                && let Some(s) = snapshotting.take()
            {
                snapshot_done(s.await, &mut snap_retry_at);
            }
            if writing.as_ref().is_some_and(|w| w.is_finished())
                && let Some(w) = writing.take()
            {
                match w.await {
                    Ok(d) => finished = Some(d),
                    Err(e) => {
                        tracing::error!("the log writer failed ({e}); stopping the server");
                        break;
                    }
                }
            }
            if let Some((mut storage, result, last, count)) = finished {
                if let Err(e) = result {
                    self.storage = Some(storage);
                    tracing::error!("cannot write the transaction log ({e}); stopping the server");
                    break;
                }
                // Standalone: the quorum is this server, so logged is committed. An ensemble
                // commits here on a quorum of acknowledgements instead.
                storage.commit_through(last);
                self.storage = Some(storage);
                self.facts.log_syncs += 1;
                self.facts.logged_txns += count as u64;
                let actions = self.sm.commit_through(last);
                deliver(actions, &mut outs, &mut dropped, self.max_queued_bytes);
                // Here, between two log writes, the tree holds exactly what is logged: the one
                // point where a snapshot and a new log file agree on their zxid boundary.
                let since = self.storage.as_ref().map_or(0, Storage::since_snapshot);
                let due = since >= self.snap_count || snap_retry_at.is_some();
                let may_retry = snap_retry_at.is_none_or(|at| Instant::now() >= at);
                if due && may_retry && snapshotting.is_none() && self.sm.last_zxid() == last {
                    snap_retry_at = None;
                    snapshotting = self.start_snapshot();
                }
            }
            // Checked on every pass, so a busy server still expires sessions on time; but not
            // while input is paused behind a slow log write, when the pings that would renew
            // sessions are not being read.
            let ticked = !log_full && tokio::time::Instant::now() >= next_tick;
            if ticked {
                next_tick = tokio::time::Instant::now() + tick;
            }
            if *self.shutdown.borrow() {
                break;
            }
            // Per-connection credits bound the backlog; this is a last line of defence.
            while !log_full && inputs.len() < MAX_BATCH && self.sm.backlog_len() < MAX_BACKLOG {
                match self.rx.try_recv() {
                    Ok(m) => self.take(m, &mut inputs, &mut outs),
                    Err(_) => break,
                }
            }
            let actions = self.sm.step(inputs, now_ms(), wall_ms());
            deliver(actions, &mut outs, &mut dropped, self.max_queued_bytes);
            for (conn, n) in self.sm.take_released() {
                if let Some(out) = outs.get_mut(&conn) {
                    out.done(n);
                }
            }
            if self.global_budget.is_full() {
                shed_largest(&mut outs, &mut dropped);
            }
            // Requests held back behind unwritten replies: tell the state machine what the
            // writers have written since (the next pass then serves them).
            if self.sm.is_congested() {
                for (conn, out) in &outs {
                    let written = out.budget.take_written();
                    if written > 0 {
                        self.sm.sent(*conn, written);
                    }
                }
            }
            if ticked {
                let reap = last_reap.elapsed() >= self.reap_every;
                if reap {
                    last_reap = Instant::now();
                }
                self.sm.tick(now_ms(), wall_ms(), reap);
            }
            if writing.is_none() && !self.sm.proposals().is_empty() {
                match self.start_write() {
                    Ok(w) => writing = Some(w),
                    Err(e) => {
                        tracing::error!(
                            "cannot write the transaction log ({e}); stopping the server"
                        );
                        break;
                    }
                }
            }
        }
        // A batch still being written is never acknowledged; let the write finish so the
        // file is left whole for the next start.
        if let Some(w) = writing.take() {
            let _ = w.await;
        }
        // Likewise the snapshot: the directory stays locked until nothing writes to it.
        if let Some(s) = snapshotting.take() {
            snapshot_done(s.await, &mut snap_retry_at);
        }
        tracing::info!("state machine stopped");
    }

    /// Seals the proposals into a batch and starts writing it on a blocking thread.
    fn start_write(&mut self) -> std::io::Result<tokio::task::JoinHandle<LogWrite>> {
        let Some(mut storage) = self.storage.take() else {
            return Err(std::io::Error::other("storage unavailable"));
        };
        let batch = self.sm.seal_batch();
        let count = batch.len();
        let last = batch.last().map_or(0, |p| p.header.zxid);
        let bytes = match Storage::encode(batch) {
            Ok(b) => b,
            Err(e) => {
                self.storage = Some(storage);
                return Err(e);
            }
        };
        Ok(tokio::task::spawn_blocking(move || {
            let r = storage.append(&bytes, count, last);
            (storage, r, last, count)
        }))
    }

    fn take(&mut self, m: CoreMsg, inputs: &mut Vec<Input>, outs: &mut Outs) {
        match m {
            CoreMsg::Register { conn, tx, budget } => {
                outs.insert(
                    conn,
                    Out {
                        tx,
                        budget,
                        costs: VecDeque::new(),
                    },
                );
            }
            CoreMsg::Input(i) => {
                if let Input::Closed { conn } = i
                    && let Some(out) = outs.remove(&conn)
                {
                    out.budget.close();
                }
                inputs.push(i);
            }
            CoreMsg::Request { input, cost } => {
                if let Some(out) = outs.get_mut(&input.conn()) {
                    out.costs.push_back(cost);
                }
                inputs.push(input);
            }
            CoreMsg::FourLetter { word, reply } => {
                let _ = reply.send(self.sm.four_letter(word, &self.facts));
            }
            CoreMsg::Admin(Admin::ExpireSession { session, reply }) => {
                let _ = reply.send(self.sm.expire_session(session, wall_ms()));
            }
            CoreMsg::Admin(Admin::Sessions { reply }) => {
                let _ = reply.send(self.sm.session_ids());
            }
            CoreMsg::Admin(Admin::DropConnections { session, reply }) => {
                let _ = reply.send(self.sm.drop_connections(session));
            }
            CoreMsg::Admin(Admin::LastZxid { reply }) => {
                let _ = reply.send(self.sm.last_zxid());
            }
        }
    }

    /// Starts writing a snapshot of the applied tree on a blocking thread. Call only between
    /// log writes (storage in hand) with every logged transaction applied. The one cost paid
    /// on this task is [`crate::tree::DataTree::copy_for_snapshot`]: one `Arc` clone per shard
    /// of the node map (copy on write), no node, path or data copied. It used to be a deep
    /// clone of the tree (53-155 ms for 100k nodes in a release build, during which no session
    /// was answered, doubling the tree's memory meanwhile). Serializing, writing and syncing
    /// happen off this task.
    fn start_snapshot(&mut self) -> Option<SnapshotWrite> {
        let storage = self.storage.as_mut()?;
        let zxid = self.sm.last_zxid();
        let copied = Instant::now();
        let copy = self.sm.tree().copy_for_snapshot();
        tracing::debug!(
            zxid = format!("0x{zxid:x}"),
            nodes = copy.node_count(),
            micros = copied.elapsed().as_micros() as u64,
            "tree copied for a snapshot"
        );
        let job = match storage.begin_snapshot(zxid, self.snapshot_write_delay) {
            Ok(job) => job,
            Err(e) => {
                tracing::error!("{e}");
                return None;
            }
        };
        Some(tokio::task::spawn_blocking(move || job.write_copy(&copy)))
    }
}

/// Handles a finished snapshot write: a failure is retried later (the log keeps every
/// transaction meanwhile, so nothing is lost, only recovery gets slower).
fn snapshot_done(
    done: Result<std::io::Result<()>, tokio::task::JoinError>,
    retry_at: &mut Option<Instant>,
) {
    let err = match done {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e.to_string(),
        Err(e) => e.to_string(),
    };
    tracing::error!("cannot write a snapshot ({err}); will retry in 10 s");
    *retry_at = Some(Instant::now() + Duration::from_secs(10));
}

pub(crate) fn deliver(
    actions: Vec<Action>,
    outs: &mut Outs,
    dropped: &mut Vec<ConnId>,
    max_queued: usize,
) {
    for action in actions {
        match action {
            Action::Send(conn, bytes) => {
                let Some(out) = outs.get(&conn) else {
                    continue;
                };
                out.budget
                    .charge(bytes.len() + crate::state::FRAME_OVERHEAD);
                let over = out.budget.used() > max_queued;
                if over || out.tx.send(Outbound::Frame(bytes)).is_err() {
                    // A client that does not read its notifications is cut off rather than
                    // buffered without bound (its requests are already held back).
                    tracing::warn!(conn, "client is not reading its replies; closing it");
                    if let Some(out) = outs.remove(&conn) {
                        out.budget.close();
                    }
                    dropped.push(conn);
                }
            }
            Action::Close(conn) => {
                if let Some(out) = outs.remove(&conn) {
                    let _ = out.tx.send(Outbound::Close);
                }
            }
        }
    }
}

/// The server's byte budget is used up: every socket has stopped being read. Connections
/// that do not read their replies could keep it that way for good, so the one holding the
/// most is cut off (its client reconnects; its session lives on).
pub(crate) fn shed_largest(outs: &mut Outs, dropped: &mut Vec<ConnId>) {
    let largest = outs
        .iter()
        .map(|(conn, out)| (out.budget.used(), *conn))
        .max();
    if let Some((used, conn)) = largest
        && used > 0
        && let Some(out) = outs.remove(&conn)
    {
        tracing::warn!(
            conn,
            used,
            "the server's memory budget is used up; closing the connection holding the most"
        );
        out.budget.close();
        let _ = out.tx.send(Outbound::Close);
        dropped.push(conn);
    }
}

/// Counts connections per client address for `maxClientCnxns`.
#[derive(Debug, Default, Clone)]
pub(crate) struct ConnCounter(Arc<Mutex<HashMap<IpAddr, usize>>>);

pub(crate) struct ConnGuard {
    counter: ConnCounter,
    ip: IpAddr,
}

impl ConnCounter {
    fn try_acquire(&self, ip: IpAddr, max: usize) -> Option<ConnGuard> {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = map.entry(ip).or_insert(0);
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(ConnGuard {
            counter: self.clone(),
            ip,
        })
    }
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut map = self.counter.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
    }
}

pub(crate) async fn accept_loop(
    listener: TcpListener,
    core: mpsc::Sender<CoreMsg>,
    settings: ConnSettings,
    max_client_cnxns: usize,
    mut shutdown: watch::Receiver<bool>,
) {
    let counter = ConnCounter::default();
    let mut tasks = JoinSet::new();
    let mut next_conn: ConnId = 1;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            a = listener.accept() => a,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(guard) = counter.try_acquire(addr.ip(), max_client_cnxns) else {
            tracing::warn!(%addr, max_client_cnxns, "too many connections from this address; refused");
            drop(stream);
            continue;
        };
        let conn = next_conn;
        next_conn += 1;
        let core = core.clone();
        let settings = settings.clone();
        tasks.spawn(async move {
            let _guard = guard;
            connection::run(stream, addr, conn, core, settings).await
        });
    }
    tasks.shutdown().await;
}
