//! The partitioner a service runs: registers the member, runs the assigner while it leads, and
//! drives the member's [`MemberCore`] against ZooKeeper, in one task.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::{Notify, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info, info_span, warn};
use zk_client::{
    AddWatchMode, Client, CreateOptions, Error, EventType, MultiResult, OneshotWatch,
    PersistentEvent, PersistentWatch, SessionEvent, SessionState, SessionUpdate,
};

use super::assign::BalanceOptions;
use super::assigner::{self, AssignerConfig, Units};
use super::core::{Action, ClaimObservation, MemberCore};
use super::event::{RevokeReason, Token};
use super::event_queue::{EventQueue, PartitionEvents};
use super::layout::{AssignmentRecord, Layout, MemberRecord, parse, to_json};
use super::stats::PartitionStats;
use crate::error::{RecipeError, Result};
use crate::{CloseMode, LeaderLatch, LeaderLatchOptions, paths};

/// How a [`Partitioner`] is set up.
///
/// ```
/// use std::time::Duration;
/// use zk_recipes::partition::{PartitionerOptions, Units};
///
/// let options = PartitionerOptions::new("worker-1", Units::fixed(["a", "b", "c"]))
///     .weight(2)
///     .revoke_deadline(Duration::from_secs(5));
/// assert_eq!(options.member_id, "worker-1");
/// ```
#[derive(Debug, Clone)]
pub struct PartitionerOptions {
    /// This member's id: unique among the live members of the group.
    pub member_id: String,
    /// The units of work.
    pub units: Units,
    /// Relative weight (default 1).
    pub weight: u32,
    /// The most units this member takes.
    pub capacity: Option<usize>,
    /// Balance tolerance.
    pub balance: BalanceOptions,
    /// How long the application is expected to take to stop a moving unit (reported in
    /// `Revoking`; the unit stays ours until the acknowledgement even past it).
    pub revoke_deadline: Duration,
    /// How long a departed member's units wait before they move (0: at once), to ride out a
    /// quick restart. They are unowned meanwhile.
    pub grace: Duration,
    /// How often the leader re-balances by reported load, and members publish their loads.
    pub rebalance_interval: Duration,
}

impl PartitionerOptions {
    /// Options for member `member_id` over `units`, with weight 1, no capacity limit, exact
    /// balance, a 10 s revoke deadline, no grace and a 30 s rebalance interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_recipes::partition::{PartitionerOptions, Units};
    /// let opts = PartitionerOptions::new("worker-1", Units::fixed(["a", "b"]));
    /// assert_eq!((opts.weight, opts.capacity), (1, None));
    /// assert_eq!(opts.revoke_deadline, Duration::from_secs(10));
    /// assert_eq!(opts.grace, Duration::ZERO);
    /// assert_eq!(opts.rebalance_interval, Duration::from_secs(30));
    /// ```
    pub fn new(member_id: impl Into<String>, units: Units) -> Self {
        Self {
            member_id: member_id.into(),
            units,
            weight: 1,
            capacity: None,
            balance: BalanceOptions::default(),
            revoke_deadline: Duration::from_secs(10),
            grace: Duration::ZERO,
            rebalance_interval: Duration::from_secs(30),
        }
    }

    /// Sets the weight.
    ///
    /// ```
    /// use zk_recipes::partition::{PartitionerOptions, Units};
    /// let opts = PartitionerOptions::new("big-box", Units::fixed(["a"])).weight(4);
    /// assert_eq!(opts.weight, 4);
    /// ```
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }

    /// Sets the capacity.
    ///
    /// ```
    /// use zk_recipes::partition::{PartitionerOptions, Units};
    /// let opts = PartitionerOptions::new("w", Units::fixed(["a"])).capacity(8);
    /// assert_eq!(opts.capacity, Some(8));
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = Some(capacity);
        self
    }

    /// Sets the balance options.
    ///
    /// ```
    /// use zk_recipes::partition::{BalanceOptions, PartitionerOptions, Units};
    /// let opts = PartitionerOptions::new("w", Units::fixed(["a"]))
    ///     .balance(BalanceOptions::default().tolerance(0.2));
    /// assert_eq!(opts.balance.tolerance, 0.2);
    /// ```
    pub fn balance(mut self, balance: BalanceOptions) -> Self {
        self.balance = balance;
        self
    }

    /// Sets the revoke deadline.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_recipes::partition::{PartitionerOptions, Units};
    /// let opts = PartitionerOptions::new("w", Units::fixed(["a"])).revoke_deadline(Duration::from_secs(30));
    /// assert_eq!(opts.revoke_deadline, Duration::from_secs(30));
    /// ```
    pub fn revoke_deadline(mut self, deadline: Duration) -> Self {
        self.revoke_deadline = deadline;
        self
    }

    /// Sets the grace period before a departed member's units move.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_recipes::partition::{PartitionerOptions, Units};
    /// // ride out a restart of up to 20 s before moving a departed member's units
    /// let opts = PartitionerOptions::new("w", Units::fixed(["a"])).grace(Duration::from_secs(20));
    /// assert_eq!(opts.grace, Duration::from_secs(20));
    /// ```
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }

    /// Sets the rebalance interval.
    ///
    /// ```
    /// use std::time::Duration;
    /// use zk_recipes::partition::{PartitionerOptions, Units};
    /// let opts = PartitionerOptions::new("w", Units::fixed(["a"])).rebalance_interval(Duration::from_millis(1));
    /// assert_eq!(opts.rebalance_interval, Duration::from_millis(100)); // the minimum
    /// ```
    pub fn rebalance_interval(mut self, interval: Duration) -> Self {
        self.rebalance_interval = interval.max(Duration::from_millis(100));
        self
    }
}

/// The whole assignment as this member last read it.
///
/// ```
/// # fn demo(p: &zk_recipes::partition::Partitioner) {
/// let snapshot = p.assignment();
/// for (unit, owner) in &snapshot.units {
///     println!("{unit} -> {}", owner.as_deref().unwrap_or("nobody"));
/// }
/// # }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssignmentSnapshot {
    /// The assignment's generation (increases with every change the leader writes).
    pub generation: u64,
    /// Every unit with the member it is assigned to (assigned, not necessarily owned yet).
    pub units: BTreeMap<String, Option<String>>,
}

#[derive(Debug)]
struct Shared {
    client: Client,
    layout: Layout,
    member_id: String,
    /// Units the application may work on, with their tokens, as the task last published.
    owned: Mutex<BTreeMap<String, Token>>,
    /// The session the claims belong to.
    claims_session: Mutex<i64>,
    snapshot: Mutex<AssignmentSnapshot>,
    acks: Mutex<BTreeSet<String>>,
    loads: Mutex<Option<BTreeMap<String, f64>>>,
    wake: Notify,
    drain: CancellationToken,
    stop: CancellationToken,
    failure: Mutex<Option<RecipeError>>,
    stats: Mutex<PartitionStats>,
    done: watch::Sender<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A member of a partitioned group: it is handed units to work on, each owned by at most one
/// member at a time, with a fencing token per grant.
///
/// Guarantees (see the [`partition`](crate::partition) module docs and [`MemberCore`](super::MemberCore) for the argument):
/// - at most one member works on a unit at any instant: a unit is granted only through an
///   exclusive claim node, and a member stops (`Revoked`) as soon as its session cannot be proven
///   alive, before the server can hand the claim to anyone else;
/// - every grant of a unit has a higher token than the grants before it;
/// - a unit moves only after its owner's application acknowledged the revoke
///   ([`ack_revoked`](Self::ack_revoked)), or with the owner's session;
/// - minimal movement (sticky bounded-load rendezvous hashing), O(1) watches per member.
///
/// ```no_run
/// use futures::StreamExt;
/// use zk_recipes::partition::{PartitionEvent, Partitioner, PartitionerOptions, Units};
///
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// let client = zk_client::Client::connect("127.0.0.1:2181").await?;
/// let units = Units::fixed((0..24).map(|i| format!("shard-{i}")));
/// let partitioner =
///     Partitioner::start(client, "/app/shards", PartitionerOptions::new("worker-1", units)).await?;
/// let mut events = partitioner.events();
/// while let Some(event) = events.next().await {
///     match event {
///         PartitionEvent::Assigned { unit, token } => println!("start {unit} (token {token})"),
///         PartitionEvent::Revoking { unit, .. } => {
///             println!("stop {unit}");
///             partitioner.ack_revoked(&unit);
///         }
///         PartitionEvent::Revoked { unit, reason, .. } => println!("{unit} gone: {reason}"),
///     }
/// }
/// # Ok(()) }
/// ```
///
/// Handles are cheap clones; the partitioner stops (without draining) when the last one is
/// dropped.
#[derive(Debug, Clone)]
pub struct Partitioner {
    shared: Arc<Shared>,
    events: Arc<Mutex<Option<PartitionEvents>>>,
    latch: LeaderLatch,
    _stopper: Arc<StopOnDrop>,
}

/// Stops the partitioner's tasks when the last handle goes.
#[derive(Debug)]
struct StopOnDrop(CancellationToken);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

impl Partitioner {
    /// Joins the group at `path` (created as CONTAINER nodes when missing) and starts the
    /// partitioner's task.
    ///
    /// # Errors
    /// [`RecipeError::InvalidPath`], [`RecipeError::DuplicateMember`] if a live session already
    /// uses this member id, and client errors.
    ///
    /// ```no_run
    /// use zk_recipes::partition::{Partitioner, PartitionerOptions, Units};
    /// # async fn demo(client: zk_client::Client) -> zk_recipes::Result<()> {
    /// let options = PartitionerOptions::new("worker-1", Units::children_of("/app/tenants"));
    /// let partitioner = Partitioner::start(client, "/app/sharding", options).await?;
    /// assert_eq!(partitioner.member_id(), "worker-1");
    /// # Ok(()) }
    /// ```
    pub async fn start(client: Client, path: &str, options: PartitionerOptions) -> Result<Self> {
        paths::validate(path)?;
        let layout = Layout::new(path);
        let member_path = layout.member(&options.member_id);
        paths::validate(&member_path)?;
        paths::ensure_containers(&client, &layout.members).await?;
        paths::ensure_containers(&client, &layout.owners).await?;
        let record = MemberRecord {
            weight: options.weight,
            capacity: options.capacity,
            loads: BTreeMap::new(),
        };
        register(&client, &member_path, &options.member_id, &record).await?;
        let latch = LeaderLatch::start(
            client.clone(),
            &layout.leader,
            LeaderLatchOptions::default().id(options.member_id.clone()),
        )?;
        let owners_watch = client
            .add_watch(&layout.owners, AddWatchMode::PersistentRecursive)
            .await?;
        let queue = EventQueue::default();
        let (done, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            client: client.clone(),
            layout: layout.clone(),
            member_id: options.member_id.clone(),
            owned: Mutex::new(BTreeMap::new()),
            claims_session: Mutex::new(client.session_id()),
            snapshot: Mutex::new(AssignmentSnapshot::default()),
            acks: Mutex::new(BTreeSet::new()),
            loads: Mutex::new(None),
            wake: Notify::new(),
            drain: CancellationToken::new(),
            stop: CancellationToken::new(),
            failure: Mutex::new(None),
            stats: Mutex::new(PartitionStats::default()),
            done,
        });
        tokio::spawn(assigner::run(
            AssignerConfig {
                client: client.clone(),
                layout: layout.clone(),
                units: options.units.clone(),
                balance: options.balance,
                grace: options.grace,
                rebalance_interval: options.rebalance_interval,
            },
            latch.clone(),
            shared.stop.clone(),
        ));
        let driver = Driver {
            core: MemberCore::new(options.member_id.clone(), options.revoke_deadline),
            shared: shared.clone(),
            queue: queue.clone(),
            record,
            ops: FuturesUnordered::new(),
            waiting: BTreeSet::new(),
            proven: true,
            disconnects: client.state_watcher().borrow().disconnects,
            rebalance_interval: options.rebalance_interval,
        };
        let span = info_span!("partition_member", member = %options.member_id, path);
        tokio::spawn(driver.run(owners_watch).instrument(span));
        Ok(Self {
            _stopper: Arc::new(StopOnDrop(shared.stop.clone())),
            shared,
            events: Arc::new(Mutex::new(Some(PartitionEvents::new(queue)))),
            latch,
        })
    }

    /// The event stream (only the first call gets it; later calls get an empty stream).
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use zk_recipes::partition::PartitionEvent;
    /// # async fn demo(p: zk_recipes::partition::Partitioner) {
    /// let mut events = p.events();
    /// while let Some(event) = events.next().await {
    ///     if let PartitionEvent::Assigned { unit, token } = event {
    ///         println!("start {unit} with token {token}");
    ///     }
    /// }
    /// # }
    /// ```
    pub fn events(&self) -> PartitionEvents {
        lock(&self.events)
            .take()
            .unwrap_or_else(|| PartitionEvents::new(closed_queue()))
    }

    /// The application stopped working on `unit` after a `Revoking` event.
    ///
    /// ```no_run
    /// use futures::StreamExt;
    /// use zk_recipes::partition::PartitionEvent;
    /// # async fn demo(p: zk_recipes::partition::Partitioner) {
    /// let mut events = p.events();
    /// while let Some(event) = events.next().await {
    ///     if let PartitionEvent::Revoking { unit, .. } = event {
    ///         // stop working on `unit` first, then:
    ///         p.ack_revoked(&unit); // the unit is released and moves on
    ///     }
    /// }
    /// # }
    /// ```
    pub fn ack_revoked(&self, unit: &str) {
        lock(&self.shared.acks).insert(unit.to_owned());
        self.shared.wake.notify_one();
    }

    /// Reports the measured load of units this member owns; the leader balances by it at the
    /// next rebalance interval.
    ///
    /// ```no_run
    /// use std::collections::BTreeMap;
    /// # fn demo(p: &zk_recipes::partition::Partitioner) {
    /// let loads: BTreeMap<String, f64> = p.owned().keys().map(|unit| (unit.clone(), 2.0)).collect();
    /// p.report_loads(loads); // balanced by at the next rebalance interval
    /// # }
    /// ```
    pub fn report_loads(&self, loads: BTreeMap<String, f64>) {
        *lock(&self.shared.loads) = Some(loads);
        self.shared.wake.notify_one();
    }

    /// The token of `unit` if this member may work on it *right now*: granted, not revoked, the
    /// session connected and within its lease. Call it before each piece of work: a process that
    /// was paused past its session timeout gets `None` on resume, before its task has run.
    ///
    /// ```no_run
    /// # fn demo(p: &zk_recipes::partition::Partitioner) {
    /// match p.owned_token("shard-3") {
    ///     Some(token) => println!("write with fencing token {token}"),
    ///     None => println!("not ours (any more): skip"),
    /// }
    /// # }
    /// ```
    pub fn owned_token(&self, unit: &str) -> Option<Token> {
        let token = *lock(&self.shared.owned).get(unit)?;
        session_proven(&self.shared.client, *lock(&self.shared.claims_session)).then_some(token)
    }

    /// The units this member may work on right now, with their tokens.
    ///
    /// ```no_run
    /// # fn demo(p: &zk_recipes::partition::Partitioner) {
    /// for (unit, token) in p.owned() {
    ///     println!("{unit}: {token}");
    /// }
    /// # }
    /// ```
    pub fn owned(&self) -> BTreeMap<String, Token> {
        if session_proven(&self.shared.client, *lock(&self.shared.claims_session)) {
            lock(&self.shared.owned).clone()
        } else {
            BTreeMap::new()
        }
    }

    /// The assignment as last read.
    ///
    /// ```no_run
    /// # fn demo(p: &zk_recipes::partition::Partitioner) {
    /// let snapshot = p.assignment();
    /// let mine = snapshot.units.values().filter(|o| o.as_deref() == Some(p.member_id())).count();
    /// println!("generation {}: {mine} units assigned to us", snapshot.generation);
    /// # }
    /// ```
    pub fn assignment(&self) -> AssignmentSnapshot {
        lock(&self.shared.snapshot).clone()
    }

    /// What this member has done since it started.
    ///
    /// ```no_run
    /// # fn demo(p: &zk_recipes::partition::Partitioner) {
    /// let s = p.stats();
    /// println!("grants {} handed over {} self-fenced {}", s.grants, s.handed_over, s.self_fenced);
    /// # }
    /// ```
    pub fn stats(&self) -> PartitionStats {
        *lock(&self.shared.stats)
    }

    /// This member's id.
    ///
    /// ```no_run
    /// # fn demo(p: &zk_recipes::partition::Partitioner) {
    /// println!("member {}", p.member_id());
    /// # }
    /// ```
    pub fn member_id(&self) -> &str {
        &self.shared.member_id
    }

    /// Why the partitioner stopped on its own, if it did (duplicate member id after a new
    /// session, closed client).
    ///
    /// ```no_run
    /// # fn demo(p: &zk_recipes::partition::Partitioner) {
    /// if let Some(e) = p.failure() {
    ///     eprintln!("partitioner stopped: {e}");
    /// }
    /// # }
    /// ```
    pub fn failure(&self) -> Option<RecipeError> {
        lock(&self.shared.failure).clone()
    }

    /// Leaves the group gracefully: every owned unit gets `Revoking`; once the application has
    /// acknowledged them all (or `deadline` passed), the claims and the member node are deleted
    /// and the task ends.
    ///
    /// # Errors
    /// [`RecipeError::Deadline`] if units were still unacknowledged at the deadline (their claims
    /// stay until the application acknowledges them or the session ends).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// # async fn demo(p: zk_recipes::partition::Partitioner) -> zk_recipes::Result<()> {
    /// // each owned unit gets `Revoking`: the event loop must ack them for this to finish
    /// p.shutdown(Duration::from_secs(30)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> Result<()> {
        self.shared.drain.cancel();
        self.shared.wake.notify_one();
        let mut done = self.shared.done.subscribe();
        let finished = tokio::time::timeout(deadline, done.wait_for(|d| *d))
            .await
            .is_ok();
        self.latch.close(CloseMode::Silent).await;
        self.shared.stop.cancel();
        if finished {
            Ok(())
        } else {
            Err(RecipeError::Deadline(deadline))
        }
    }
}

fn closed_queue() -> EventQueue {
    let queue = EventQueue::default();
    queue.close();
    queue
}

/// Whether `client`'s session `session` is connected and within its lease right now.
fn session_proven(client: &Client, session: i64) -> bool {
    let lease = client.lease();
    let state = client.state();
    state == SessionState::Connected
        && lease.session_id == session
        && lease
            .expires_no_earlier_than()
            .is_some_and(|until| Instant::now() + margin(lease.timeout) < until)
}

/// The part of the session timeout not trusted: clock-rate drift and timer lateness.
fn margin(timeout: Duration) -> Duration {
    (timeout / 10).max(Duration::from_millis(20))
}

/// Creates the member node, or finds it ours (after an outcome-unknown create).
async fn register(client: &Client, path: &str, id: &str, record: &MemberRecord) -> Result<()> {
    let data = to_json(record);
    loop {
        match client
            .create(path, &data, &CreateOptions::ephemeral())
            .await
        {
            Ok(_) => return Ok(()),
            Err(Error::NodeExists) => match client.exists(path).await? {
                Some(stat) if stat.ephemeral_owner == client.session_id() => return Ok(()),
                Some(_) => {
                    return Err(RecipeError::DuplicateMember {
                        path: path.to_owned(),
                        id: id.to_owned(),
                    });
                }
                None => continue,
            },
            Err(e) if e.is_outcome_unknown() => {
                client
                    .wait_for_state(|s| s.is_connected() || s.is_terminal())
                    .await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// The result of one ZooKeeper operation for the core.
enum Done {
    Claimed(String, Token),
    Taken(String),
    Unknown(String),
    Released(String),
    Observed(String, ClaimObservation),
    Gone(String),
    Assignment(
        Option<(u64, BTreeMap<String, Option<String>>)>,
        Option<OneshotWatch>,
    ),
    ReadAssignment,
    Nothing,
}

struct Driver {
    core: MemberCore,
    shared: Arc<Shared>,
    queue: EventQueue,
    record: MemberRecord,
    ops: FuturesUnordered<BoxFuture<'static, Done>>,
    /// Units whose claim another member holds; the owners watch tells when it goes.
    waiting: BTreeSet<String>,
    /// Whether the core was last told the session is proven.
    proven: bool,
    disconnects: u64,
    rebalance_interval: Duration,
}

impl Driver {
    async fn run(mut self, mut owners: PersistentWatch) {
        let mut session = self.shared.client.session_events();
        self.read_assignment();
        let mut assignment_watch: Option<OneshotWatch> = None;
        let mut publish_loads = tokio::time::interval(self.rebalance_interval);
        publish_loads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut recheck = tokio::time::interval(Duration::from_millis(100));
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut draining = false;
        loop {
            self.pump();
            if draining && self.core.is_idle() {
                let member = self.shared.layout.member(&self.shared.member_id);
                let _ = self.shared.client.delete(&member, None).await;
                break;
            }
            let lease_deadline = self.lease_deadline();
            tokio::select! {
                () = self.shared.stop.cancelled() => break,
                () = self.shared.drain.cancelled(), if !draining => {
                    draining = true;
                    self.core.drain();
                }
                () = self.shared.wake.notified() => self.take_acks(),
                update = session.next() => match update {
                    Some(update) => {
                        if !self.on_session(update).await {
                            break;
                        }
                    }
                    None => break,
                },
                event = owners.next_event() => match event {
                    Some(PersistentEvent::Node(e)) if e.event_type == EventType::NodeDeleted => {
                        let unit = paths::name_of(&e.path).to_owned();
                        if self.waiting.remove(&unit) {
                            self.core.on_claim_gone(&unit);
                        }
                    }
                    Some(PersistentEvent::Node(_)) => {}
                    Some(_) => self.recheck_waiting(),
                    None => break,
                },
                done = self.ops.next(), if !self.ops.is_empty() => {
                    if let Some(done) = done {
                        self.on_done(done, &mut assignment_watch);
                    }
                }
                _ = wait_oneshot(&mut assignment_watch) => self.read_assignment(),
                () = tokio::time::sleep_until(lease_deadline) => self.check_lease(),
                _ = recheck.tick() => self.check_lease(),
                _ = publish_loads.tick() => self.publish_loads(),
            }
        }
        self.queue.close();
        lock(&self.shared.owned).clear();
        self.shared.done.send_replace(true);
    }

    /// When the lease runs out if nothing newer is answered.
    fn lease_deadline(&self) -> Instant {
        let lease = self.shared.client.lease();
        match lease.expires_no_earlier_than() {
            Some(until) if self.proven => until.checked_sub(margin(lease.timeout)).unwrap_or(until),
            _ => Instant::now() + Duration::from_secs(3600),
        }
    }

    fn check_lease(&mut self) {
        let claims = *lock(&self.shared.claims_session);
        let proven = session_proven(&self.shared.client, claims);
        if self.proven && !proven {
            self.proven = false;
            let reason = if self.shared.client.state().is_connected() {
                RevokeReason::LeaseExpired
            } else {
                RevokeReason::Suspended
            };
            self.core.on_unproven(reason);
        } else if !self.proven && proven {
            self.proven = true;
            self.core.on_proven();
            self.read_assignment();
            self.recheck_waiting();
        }
    }

    /// Handles a session update; false when the partitioner must stop.
    async fn on_session(&mut self, update: SessionUpdate) -> bool {
        let event: SessionEvent = update.event();
        let claims = *lock(&self.shared.claims_session);
        let flapped = update.is_missed() || event.disconnects != self.disconnects;
        self.disconnects = event.disconnects;
        match event.state {
            SessionState::Closed | SessionState::AuthFailed => {
                self.core.on_session_expired();
                lock(&self.shared.failure).get_or_insert(RecipeError::Closed);
                return false;
            }
            SessionState::Expired => {
                self.proven = false;
                self.core.on_session_expired();
                return true;
            }
            _ => {}
        }
        if event.session_id != claims && event.session_id != 0 && event.state.is_connected() {
            // A new session (ExpiryPolicy::NewSession): the old one's claims are gone.
            self.core.on_session_expired();
            let member = self.shared.layout.member(&self.shared.member_id);
            if let Err(e) = register(
                &self.shared.client,
                &member,
                &self.shared.member_id,
                &self.record,
            )
            .await
            {
                warn!(error = %e, "partition member could not re-register");
                lock(&self.shared.failure).get_or_insert(e);
                return false;
            }
            *lock(&self.shared.claims_session) = event.session_id;
            self.proven = false;
            self.check_lease();
            return true;
        }
        if flapped && self.proven {
            // A disconnection happened, seen or not: fence, then prove again.
            self.proven = false;
            self.core.on_unproven(RevokeReason::Suspended);
        }
        self.check_lease();
        true
    }

    fn take_acks(&mut self) {
        let acks = std::mem::take(&mut *lock(&self.shared.acks));
        for unit in acks {
            self.core.ack_revoked(&unit);
        }
        if let Some(loads) = lock(&self.shared.loads).take() {
            self.record.loads = loads;
        }
    }

    fn publish_loads(&mut self) {
        if self.record.loads.is_empty() {
            return;
        }
        let client = self.shared.client.clone();
        let path = self.shared.layout.member(&self.shared.member_id);
        let data = to_json(&self.record);
        self.ops.push(Box::pin(async move {
            let _ = client.set_data(&path, &data, None).await;
            Done::Nothing
        }));
    }

    fn recheck_waiting(&mut self) {
        for unit in self.waiting.clone() {
            self.watch_claim(unit);
        }
    }

    fn read_assignment(&mut self) {
        let client = self.shared.client.clone();
        let path = self.shared.layout.assignment.clone();
        self.ops.push(Box::pin(async move {
            match client.get_data_watch(&path).await {
                Ok((data, _, watch)) => match parse::<AssignmentRecord>(&path, &data) {
                    Ok(record) => {
                        Done::Assignment(Some((record.generation, record.units)), Some(watch))
                    }
                    Err(e) => {
                        warn!(error = %e, "assignment ignored");
                        Done::Assignment(None, Some(watch))
                    }
                },
                Err(Error::NoNode) => match client.exists_watch(&path).await {
                    Ok((_, watch)) => Done::Assignment(None, Some(watch)),
                    Err(_) => Done::Assignment(None, None),
                },
                Err(_) => Done::Assignment(None, None),
            }
        }));
    }

    fn on_done(&mut self, done: Done, assignment_watch: &mut Option<OneshotWatch>) {
        match done {
            Done::Claimed(unit, token) => self.core.on_claimed(&unit, token),
            Done::Taken(unit) => self.core.on_claim_taken(&unit),
            Done::Unknown(unit) => self.core.on_outcome_unknown(&unit),
            Done::Released(unit) => self.core.on_released(&unit),
            Done::Observed(unit, seen) => self.core.on_claim_observed(&unit, seen),
            Done::Gone(unit) => {
                if self.waiting.remove(&unit) {
                    self.core.on_claim_gone(&unit);
                }
            }
            Done::Assignment(record, watch) => {
                if let Some((generation, units)) = record {
                    *lock(&self.shared.snapshot) = AssignmentSnapshot {
                        generation,
                        units: units.clone(),
                    };
                    self.core.on_assignment(generation as i64, units);
                }
                match watch {
                    Some(w) => *assignment_watch = Some(w),
                    None => {
                        // Could not read or watch: try again shortly.
                        *assignment_watch = None;
                        self.ops.push(Box::pin(async move {
                            tokio::time::sleep(Duration::from_millis(200)).await;
                            Done::ReadAssignment
                        }));
                    }
                }
            }
            Done::ReadAssignment => self.read_assignment(),
            Done::Nothing => {}
        }
    }

    /// Carries out the core's actions and publishes what the application may work on.
    fn pump(&mut self) {
        while let Some(action) = self.core.poll_action() {
            debug!(?action, member = %self.shared.member_id, "partition action");
            match action {
                Action::Create { unit } => self.create(unit),
                Action::Recreate { unit, old } => self.recreate(unit, old),
                Action::Delete { unit, token } => self.delete(unit, token),
                Action::Resolve { unit } => self.resolve(unit),
                Action::WatchClaim { unit } => {
                    self.waiting.insert(unit.clone());
                    self.watch_claim(unit);
                }
                Action::Emit(event) => {
                    lock(&self.shared.stats).record(&event);
                    info!(member = %self.shared.member_id, ?event, "partition event");
                    self.queue.push(event);
                }
            }
        }
        let owned: BTreeMap<String, Token> = self
            .core
            .working()
            .map(|(u, t)| (u.to_owned(), t))
            .collect();
        *lock(&self.shared.owned) = owned;
    }

    fn claim_path(&self, unit: &str) -> String {
        self.shared.layout.claim(unit)
    }

    fn create(&mut self, unit: String) {
        let client = self.shared.client.clone();
        let path = self.claim_path(&unit);
        let owners = self.shared.layout.owners.clone();
        let me = self.shared.member_id.clone();
        self.ops.push(Box::pin(async move {
            match client
                .create(&path, me.as_bytes(), &CreateOptions::ephemeral())
                .await
            {
                Ok((_, stat)) => Done::Claimed(unit, stat.czxid),
                Err(Error::NodeExists) => Done::Taken(unit),
                Err(Error::NoNode) => {
                    // The owners container went away (emptied and reaped): make it again.
                    let _ = paths::ensure_containers(&client, &owners).await;
                    Done::Unknown(unit)
                }
                Err(_) => unknown_later(unit).await,
            }
        }));
    }

    fn recreate(&mut self, unit: String, old: Token) {
        let client = self.shared.client.clone();
        let path = self.claim_path(&unit);
        let me = self.shared.member_id.clone();
        let claims = *lock(&self.shared.claims_session);
        self.ops.push(Box::pin(async move {
            // Only our own session's claim may be replaced; a changed session means it is gone.
            if client.session_id() != claims {
                return unknown_later(unit).await;
            }
            let _ = old;
            let result = client
                .transaction()
                .delete(&path, None)
                .create(&path, me.as_bytes(), &CreateOptions::ephemeral())
                .commit()
                .await;
            match result {
                Ok(results) => match results.get(1) {
                    Some(MultiResult::Created {
                        stat: Some(stat), ..
                    }) => Done::Claimed(unit, stat.czxid),
                    _ => Done::Unknown(unit),
                },
                Err(_) => unknown_later(unit).await,
            }
        }));
    }

    fn delete(&mut self, unit: String, _token: Token) {
        let client = self.shared.client.clone();
        let path = self.claim_path(&unit);
        let claims = *lock(&self.shared.claims_session);
        self.ops.push(Box::pin(async move {
            if client.session_id() != claims {
                // Our claims went with the old session.
                return Done::Released(unit);
            }
            match client.delete(&path, None).await {
                Ok(()) | Err(Error::NoNode) => Done::Released(unit),
                Err(_) => unknown_later(unit).await,
            }
        }));
    }

    fn resolve(&mut self, unit: String) {
        let client = self.shared.client.clone();
        let path = self.claim_path(&unit);
        let claims = *lock(&self.shared.claims_session);
        self.ops.push(Box::pin(async move {
            match client.exists(&path).await {
                Ok(Some(stat)) if stat.ephemeral_owner == claims => {
                    Done::Observed(unit, ClaimObservation::Ours(stat.czxid))
                }
                Ok(Some(_)) => Done::Observed(unit, ClaimObservation::Theirs),
                Ok(None) => Done::Observed(unit, ClaimObservation::Absent),
                Err(_) => unknown_later(unit).await,
            }
        }));
    }

    fn watch_claim(&mut self, unit: String) {
        let client = self.shared.client.clone();
        let path = self.claim_path(&unit);
        self.ops.push(Box::pin(async move {
            match client.exists(&path).await {
                Ok(None) => Done::Gone(unit),
                _ => Done::Nothing,
            }
        }));
    }
}

/// An operation whose outcome is unknown; reported after a short pause so that a connection
/// that is down does not turn retries into a busy loop.
async fn unknown_later(unit: String) -> Done {
    tokio::time::sleep(Duration::from_millis(100)).await;
    Done::Unknown(unit)
}

async fn wait_oneshot(watch: &mut Option<OneshotWatch>) {
    match watch {
        Some(w) => {
            w.await;
            *watch = None;
        }
        None => std::future::pending().await,
    }
}
