//! The assigner: while this member leads the group's latch, it reads the members and the units,
//! computes the next assignment with [`assign`](super::assign) and writes it with a version
//! check. Only the assignment comes from here; ownership itself is decided by the claims, so a
//! stale or duplicate assigner can cost movement but never safety.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};
use zk_client::{Client, CreateOptions, Error, OneshotWatch};

use super::assign::{Assignment, BalanceOptions, MemberSpec, UnitSpec, assign};
use super::layout::{AssignmentRecord, Layout, MemberRecord, UnitRecord, parse, to_json};
use crate::{LeaderLatch, paths};

/// Where the units come from.
///
/// ```
/// use zk_recipes::partition::{UnitSpec, Units};
///
/// let fixed = Units::fixed((0..24).map(|i| format!("shard-{i}")));
/// let dynamic = Units::children_of("/app/shards/units");
/// let weighted = Units::Static(vec![UnitSpec::new("big").load(4.0), UnitSpec::new("small")]);
/// # let _ = (fixed, dynamic, weighted);
/// ```
#[derive(Debug, Clone)]
pub enum Units {
    /// A fixed list.
    Static(Vec<UnitSpec>),
    /// The children of a znode, added and removed at runtime; each child's data may be JSON
    /// `{"pegged_to": "<member>", "load": 2.5}` (both optional).
    Children(String),
}

impl Units {
    /// A fixed list of unit names of load 1.
    ///
    /// ```
    /// use zk_recipes::partition::Units;
    /// let Units::Static(units) = Units::fixed(["a", "b"]) else { unreachable!() };
    /// assert_eq!(units.len(), 2);
    /// assert_eq!(units[0].load, 1.0);
    /// ```
    pub fn fixed<S: Into<String>>(names: impl IntoIterator<Item = S>) -> Self {
        Self::Static(names.into_iter().map(UnitSpec::new).collect())
    }

    /// The children of `path`.
    ///
    /// ```
    /// use zk_recipes::partition::Units;
    /// // one unit per child of /app/tenants, added and removed at runtime
    /// assert!(matches!(Units::children_of("/app/tenants"), Units::Children(p) if p == "/app/tenants"));
    /// ```
    pub fn children_of(path: impl Into<String>) -> Self {
        Self::Children(path.into())
    }
}

/// What the assigner needs.
pub(crate) struct AssignerConfig {
    pub(crate) client: Client,
    pub(crate) layout: Layout,
    pub(crate) units: Units,
    pub(crate) balance: BalanceOptions,
    pub(crate) grace: Duration,
    pub(crate) rebalance_interval: Duration,
}

/// Runs until `stop`; computes assignments whenever `latch` gives this member leadership.
pub(crate) async fn run(config: AssignerConfig, latch: LeaderLatch, stop: CancellationToken) {
    let mut departed: BTreeMap<String, (Instant, MemberSpec)> = BTreeMap::new();
    let mut known: BTreeMap<String, MemberSpec> = BTreeMap::new();
    loop {
        let leadership = tokio::select! {
            () = stop.cancelled() => return,
            held = latch.await_leadership(None) => match held {
                Ok(w) => w,
                Err(_) => {
                    // Closed latch or client: nothing more to assign.
                    if tokio::time::timeout(Duration::from_millis(200), stop.cancelled()).await.is_ok() {
                        return;
                    }
                    continue;
                }
            },
        };
        debug!(token = leadership.token(), "partition assigner leading");
        while leadership.is_held() {
            let round = one_round(&config, &mut known, &mut departed).await;
            let next_grace = departed.values().map(|(at, _)| *at + config.grace).min();
            let (members_watch, units_watch) = match round {
                Ok(watches) => watches,
                Err(e) => {
                    warn!(error = %e, "partition assigner round failed");
                    (None, None)
                }
            };
            let retry = Instant::now()
                + if members_watch.is_none() {
                    Duration::from_millis(200)
                } else {
                    config.rebalance_interval
                };
            let wake = next_grace.map_or(retry, |g| g.min(retry));
            tokio::select! {
                () = stop.cancelled() => return,
                _ = leadership.lost() => {}
                _ = wait(members_watch) => {}
                _ = wait(units_watch) => {}
                () = tokio::time::sleep_until(wake) => {}
            }
        }
    }
}

async fn wait(watch: Option<OneshotWatch>) {
    match watch {
        Some(w) => {
            w.await;
        }
        None => std::future::pending().await,
    }
}

/// One read-compute-write round; returns the watches to wait on.
async fn one_round(
    config: &AssignerConfig,
    known: &mut BTreeMap<String, MemberSpec>,
    departed: &mut BTreeMap<String, (Instant, MemberSpec)>,
) -> crate::Result<(Option<OneshotWatch>, Option<OneshotWatch>)> {
    let client = &config.client;
    let (names, _, members_watch) = client.get_children_watch(&config.layout.members).await?;
    let mut members = Vec::with_capacity(names.len());
    let mut loads: BTreeMap<String, f64> = BTreeMap::new();
    for name in &names {
        let path = config.layout.member(name);
        let record: MemberRecord = match client.get_data(&path).await {
            Ok((data, _)) => parse(&path, &data).unwrap_or_else(|e| {
                warn!(error = %e, "member record unreadable; using defaults");
                MemberRecord::default()
            }),
            Err(Error::NoNode) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut spec = MemberSpec::new(name.clone()).weight(record.weight);
        spec.capacity = record.capacity;
        loads.extend(record.loads);
        members.push(spec);
    }
    // Grace: a member that just left keeps its units (unowned, since its claims went with its
    // session) for a while, in case it comes back; then they move.
    let now = Instant::now();
    for (id, spec) in known.iter() {
        if !names.contains(id) {
            departed.entry(id.clone()).or_insert((now, spec.clone()));
        }
    }
    departed.retain(|id, (at, _)| !names.contains(id) && now < *at + config.grace);
    *known = members.iter().map(|m| (m.id.clone(), m.clone())).collect();
    let mut with_lingering = members.clone();
    with_lingering.extend(departed.values().map(|(_, spec)| spec.clone()));

    let (mut units, units_watch) = read_units(config).await?;
    for unit in &mut units {
        if let Some(load) = loads.get(&unit.name) {
            unit.load = *load;
        }
    }

    let (current, version) = read_assignment(config).await?;
    let current_map: Assignment = current
        .units
        .iter()
        .filter_map(|(u, o)| o.clone().map(|o| (u.clone(), o)))
        .collect();
    let next = assign(&with_lingering, &units, &current_map, &config.balance);
    let record = AssignmentRecord {
        generation: current.generation + 1,
        units: units
            .iter()
            .map(|u| (u.name.clone(), next.get(&u.name).cloned()))
            .collect(),
    };
    if record.units != current.units {
        let data = to_json(&record);
        match version {
            Some(v) => match client
                .set_data(&config.layout.assignment, &data, Some(v))
                .await
            {
                Ok(_) | Err(Error::BadVersion) => {}
                Err(e) => return Err(e.into()),
            },
            None => match client
                .create(
                    &config.layout.assignment,
                    &data,
                    &CreateOptions::persistent(),
                )
                .await
            {
                Ok(_) | Err(Error::NodeExists) => {}
                Err(e) => return Err(e.into()),
            },
        }
        debug!(
            generation = record.generation,
            "partition assignment written"
        );
    }
    Ok((Some(members_watch), units_watch))
}

async fn read_units(
    config: &AssignerConfig,
) -> crate::Result<(Vec<UnitSpec>, Option<OneshotWatch>)> {
    match &config.units {
        Units::Static(list) => Ok((list.clone(), None)),
        Units::Children(path) => {
            let (names, _, watch) = match config.client.get_children_watch(path).await {
                Ok(found) => found,
                Err(Error::NoNode) => {
                    paths::ensure_containers(&config.client, path).await?;
                    config.client.get_children_watch(path).await?
                }
                Err(e) => return Err(e.into()),
            };
            let mut units = Vec::with_capacity(names.len());
            for name in names {
                let node = paths::join(path, &name);
                let mut spec = UnitSpec::new(name);
                if let Ok((data, _)) = config.client.get_data(&node).await
                    && !data.is_empty()
                {
                    match parse::<UnitRecord>(&node, &data) {
                        Ok(record) => {
                            spec.pegged_to = record.pegged_to;
                            if let Some(load) = record.load {
                                spec.load = load;
                            }
                        }
                        Err(e) => warn!(error = %e, "unit data ignored"),
                    }
                }
                units.push(spec);
            }
            Ok((units, Some(watch)))
        }
    }
}

/// The current assignment and its version (`None` if it does not exist yet). An assignment node
/// that does not parse is replaced (its version is kept for the check), with a warning.
async fn read_assignment(
    config: &AssignerConfig,
) -> crate::Result<(AssignmentRecord, Option<i32>)> {
    match config.client.get_data(&config.layout.assignment).await {
        Ok((data, stat)) => match parse::<AssignmentRecord>(&config.layout.assignment, &data) {
            Ok(record) => Ok((record, Some(stat.version))),
            Err(e) => {
                warn!(error = %e, "assignment node unreadable; it will be overwritten");
                Ok((AssignmentRecord::default(), Some(stat.version)))
            }
        },
        Err(Error::NoNode) => Ok((AssignmentRecord::default(), None)),
        Err(e) => Err(e.into()),
    }
}
