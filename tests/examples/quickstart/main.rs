//! The whole mission in one run: an embedded zk-server-mini ensemble, worker tasks that elect a
//! leader and share 24 units of work with the partitioning recipe, and faults injected while it
//! narrates — the leader worker killed, the ensemble's leading member killed, a worker partitioned
//! away, a worker added. It ends by checking, from what the workers recorded, that no unit ever
//! had two owners and that no acknowledged write was lost.
//!
//! ```sh
//! cargo run --release -p zk-integration-tests --example quickstart
//! ```
//!
//! On a terminal it shows a live view; piped, it prints timestamped lines (`NO_LIVE_VIEW=1`
//! forces those). Exit status 0 means every check passed.

mod ensemble;
mod record;
mod view;
mod worker;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use tokio::time::Instant;
use zk_client::{Client, CreateOptions};

use ensemble::Ensemble;
use record::Record;
use view::View;
use worker::{LEDGER, Worker};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const UNITS: usize = 24;
const SESSION: Duration = Duration::from_secs(2);

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    match tokio::time::timeout(Duration::from_secs(120), run()).await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("FAILED: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("FAILED: the demo did not finish within 120 s");
            ExitCode::FAILURE
        }
    }
}

struct Demo {
    ensemble: Ensemble,
    record: Record,
    view: View,
    workers: Vec<Worker>,
    next_id: usize,
}

impl Demo {
    async fn refresh(&mut self) {
        let roles = self.ensemble.roles().await;
        let units: Vec<(String, Vec<String>)> = self
            .workers
            .iter()
            .map(|w| (w.id.clone(), w.units().into_keys().collect()))
            .collect();
        self.view.refresh(&self.record, &roles, &units);
    }

    /// Refreshes the view until `done` holds; fails after `limit`.
    async fn wait(
        &mut self,
        what: &str,
        limit: Duration,
        done: impl Fn(&Demo) -> bool,
    ) -> Result<Duration, AnyError> {
        let start = Instant::now();
        loop {
            self.refresh().await;
            if done(self) {
                return Ok(start.elapsed());
            }
            if start.elapsed() > limit {
                return Err(format!("{what}: not within {limit:?}").into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn add_worker(&mut self) -> Result<String, AnyError> {
        self.next_id += 1;
        let id = format!("worker-{}", self.next_id);
        let servers = self.ensemble.servers();
        let worker = Worker::start(&id, &servers, UNITS, SESSION, &self.record).await?;
        self.workers.push(worker);
        Ok(id)
    }

    /// Every unit owned by exactly one of the live workers.
    fn all_owned(&self) -> bool {
        let live: BTreeSet<&str> = self.workers.iter().map(|w| w.id.as_str()).collect();
        let owners = self.record.owners();
        owners.len() == UNITS
            && owners
                .values()
                .all(|o| o.len() == 1 && live.contains(o[0].0.as_str()))
    }
}

async fn run() -> Result<(), AnyError> {
    let mut view = View::new();
    view.step("starting a 3-node zk-server-mini ensemble");
    let ensemble = Ensemble::start().await?;
    let admin_hosts: Vec<String> = ensemble.servers().iter().map(ToString::to_string).collect();
    let admin = Client::connect(&admin_hosts.join(",")).await?;
    for path in ["/demo", LEDGER] {
        match admin.create(path, b"", &CreateOptions::persistent()).await {
            Ok(_) | Err(zk_client::Error::NodeExists) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let mut demo = Demo {
        ensemble,
        record: Record::default(),
        view,
        workers: Vec::new(),
        next_id: 0,
    };

    // 1. Four workers elect a leader and share the units.
    demo.view
        .step("4 workers join: they elect a leader and share 24 units");
    let joined = Instant::now();
    for _ in 0..4 {
        demo.add_worker().await?;
    }
    demo.wait("leader and units", Duration::from_secs(20), |d| {
        d.record.leader().is_some() && d.all_owned()
    })
    .await?;
    demo.view.note(&format!(
        "every unit owned and a leader elected {:.1?} after the first worker started",
        joined.elapsed()
    ));

    // 2. Kill the leader worker: another takes over with a higher token.
    let (old_leader, old_token) = demo.record.leader().ok_or("no leader")?;
    demo.view.step(&format!("kill the leader, {old_leader}"));
    let index = demo
        .workers
        .iter()
        .position(|w| w.id == old_leader)
        .ok_or("leader gone")?;
    demo.workers.remove(index).kill().await;
    let took = demo
        .wait("a new leader", Duration::from_secs(20), |d| {
            d.record
                .leader()
                .is_some_and(|(w, t)| w != old_leader && t > old_token)
                && d.all_owned()
        })
        .await?;
    let (new_leader, new_token) = demo.record.leader().ok_or("no leader")?;
    demo.view.note(&format!(
        "{new_leader} leads with token {new_token:#x} > {old_token:#x}; its units moved on, after {took:.1?}"
    ));

    // 3. Kill the ensemble's leading member: clients fail over, writes go on.
    demo.view
        .step("kill the ZooKeeper member that leads the ensemble");
    match demo.ensemble.kill_leader().await {
        Some(killed) => {
            let acked = demo.record.acked().len();
            let took = demo
                .wait("writes after the failover", Duration::from_secs(30), |d| {
                    d.all_owned() && d.record.acked().len() > acked + UNITS
                })
                .await?;
            demo.view.note(&format!(
                "{killed} killed; workers failed over and kept writing after {took:.1?}"
            ));
        }
        None => demo
            .view
            .note("(a single server: no ensemble member to fail over)"),
    }

    // 4. Partition a worker away: it stops its units before anyone else starts them.
    let victim = demo.workers.last().ok_or("no workers")?.id.clone();
    let its_units: Vec<String> = demo
        .workers
        .last()
        .map(|w| w.units().into_keys().collect())
        .unwrap_or_default();
    demo.view
        .step(&format!("partition {victim} away from ZooKeeper"));
    let cut_at = Instant::now();
    demo.workers.last().ok_or("no workers")?.partition().await;
    let others_have_them = |d: &Demo| {
        let owners = d.record.owners();
        its_units.iter().all(|u| {
            owners
                .get(u)
                .is_some_and(|o| o.len() == 1 && o[0].0 != victim)
        })
    };
    let took = demo
        .wait(
            "units taken over",
            Duration::from_secs(30),
            others_have_them,
        )
        .await?;
    for unit in &its_units {
        let (stopped, started) = demo
            .record
            .handover(&victim, unit, cut_at)
            .ok_or_else(|| format!("{unit}: no handover recorded"))?;
        if stopped >= started {
            return Err(format!("{unit}: {victim} stopped after another worker started").into());
        }
    }
    demo.view.note(&format!(
        "{victim} stopped its {} units first; others took them after {took:.1?}",
        its_units.len()
    ));
    demo.workers.last().ok_or("no workers")?.heal();
    demo.view.note(&format!(
        "{victim} reconnects with a new session and rejoins"
    ));
    demo.wait("rejoin", Duration::from_secs(30), |d| {
        d.all_owned() && d.workers.iter().all(|w| !w.units().is_empty())
    })
    .await?;

    // 5. Add a worker: only as many units move as needed.
    let before: Vec<(String, usize)> = demo
        .workers
        .iter()
        .map(|w| (w.id.clone(), w.units().len()))
        .collect();
    let added = demo.add_worker().await?;
    demo.view.step(&format!("{added} joins"));
    let n = demo.workers.len();
    let took = demo
        .wait("rebalance", Duration::from_secs(20), |d| {
            d.all_owned() && d.workers.iter().all(|w| w.units().len() >= UNITS / n)
        })
        .await?;
    let moved = demo.workers.last().map(|w| w.units().len()).unwrap_or(0);
    demo.view.note(&format!(
        "{moved} units moved to {added} (the fair share is {}) after {took:.1?}; before: {before:?}",
        UNITS / n
    ));

    // 6. The checks, from the record.
    demo.view.step("checking the record");
    demo.refresh().await;
    demo.view.finish();
    let grants = demo.record.check_exclusive()?;
    let acked = demo.record.acked();
    let mut on_server: BTreeSet<String> = BTreeSet::new();
    for child in admin.get_children(LEDGER).await? {
        on_server.insert(format!("{LEDGER}/{child}"));
    }
    let lost: Vec<&String> = acked.difference(&on_server).collect();
    if !lost.is_empty() {
        return Err(format!(
            "{} acknowledged writes lost: {:?}",
            lost.len(),
            &lost[..lost.len().min(5)]
        )
        .into());
    }
    println!(
        "ok: no unit ever had two owners ({grants} grants, tokens increasing); \
         all {} acknowledged writes are on the server; {:.1?} in all",
        acked.len(),
        demo.view.elapsed()
    );
    for worker in demo.workers.drain(..) {
        worker.stop().await;
    }
    admin.close().await;
    demo.ensemble.stop().await;
    Ok(())
}
