//! One worker: its own session (through its own loopback proxy, so that the demo can cut it off),
//! a leader latch, and a partitioner over the shared units. While it owns a unit it writes to the
//! unit's ledger, and records every write the server acknowledged.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use tokio::task::JoinHandle;
use zk_client::{Client, CreateOptions, ExpiryPolicy};
use zk_integration_tests::TcpProxy;
use zk_recipes::partition::{PartitionEvent, Partitioner, PartitionerOptions, Units};
use zk_recipes::{LeaderLatch, LeaderLatchOptions, LeadershipEvent};

use crate::record::{Fact, Record};

pub const GROUP: &str = "/demo/workers";
pub const LEADER: &str = "/demo/leader";
pub const LEDGER: &str = "/demo/ledger";

pub struct Worker {
    pub id: String,
    /// One loopback proxy per server, so that the demo can cut this worker off.
    proxies: Vec<TcpProxy>,
    pub partitioner: Partitioner,
    pub latch: LeaderLatch,
    client: Client,
    owned: Arc<Mutex<BTreeMap<String, i64>>>,
    tasks: Vec<JoinHandle<()>>,
    record: Record,
}

impl Worker {
    pub async fn start(
        id: &str,
        servers: &[std::net::SocketAddr],
        units: usize,
        session: Duration,
        record: &Record,
    ) -> Result<Worker, Box<dyn std::error::Error + Send + Sync>> {
        let mut proxies = Vec::with_capacity(servers.len());
        for server in servers {
            proxies.push(TcpProxy::start(*server).await?);
        }
        let hosts: Vec<String> = proxies.iter().map(TcpProxy::connect_string).collect();
        let client = Client::builder(&hosts.join(","))
            .session_timeout(session)
            .expiry_policy(ExpiryPolicy::NewSession)
            .connect()
            .await?;
        let latch =
            LeaderLatch::start(client.clone(), LEADER, LeaderLatchOptions::default().id(id))?;
        let shards = Units::fixed((0..units).map(|i| format!("unit-{i:02}")));
        let partitioner =
            Partitioner::start(client.clone(), GROUP, PartitionerOptions::new(id, shards)).await?;
        let owned: Arc<Mutex<BTreeMap<String, i64>>> = Arc::default();
        let mut worker = Worker {
            id: id.to_owned(),
            proxies,
            partitioner,
            latch,
            client,
            owned,
            tasks: Vec::new(),
            record: record.clone(),
        };
        worker.spawn_tasks();
        Ok(worker)
    }

    fn spawn_tasks(&mut self) {
        // Units: start on Assigned; stop, then acknowledge, on Revoking; stop on Revoked.
        let mut events = self.partitioner.events();
        let (p, owned, record, id) = (
            self.partitioner.clone(),
            self.owned.clone(),
            self.record.clone(),
            self.id.clone(),
        );
        self.tasks.push(tokio::spawn(async move {
            while let Some(event) = events.next().await {
                match event {
                    PartitionEvent::Assigned { unit, token } => {
                        record.add(
                            &id,
                            Fact::Own {
                                unit: unit.clone(),
                                token,
                            },
                        );
                        lock(&owned).insert(unit, token);
                    }
                    PartitionEvent::Revoking { unit, .. } => {
                        lock(&owned).remove(&unit);
                        record.add(
                            &id,
                            Fact::Disown {
                                unit: unit.clone(),
                                reason: "moved".into(),
                            },
                        );
                        p.ack_revoked(&unit);
                    }
                    PartitionEvent::Revoked { unit, reason, .. } => {
                        if lock(&owned).remove(&unit).is_some() {
                            record.add(
                                &id,
                                Fact::Disown {
                                    unit,
                                    reason: reason.to_string(),
                                },
                            );
                        }
                    }
                }
            }
        }));
        // Leadership.
        let mut leadership = self.latch.events();
        let (record, id) = (self.record.clone(), self.id.clone());
        self.tasks.push(tokio::spawn(async move {
            while let Some(event) = leadership.next().await {
                match event {
                    LeadershipEvent::Gained { token } => record.add(&id, Fact::Lead { token }),
                    LeadershipEvent::Lost { .. } => record.add(&id, Fact::Unlead),
                }
            }
        }));
        // Work: a ledger entry per owned unit every 200 ms, only while ownership is proven.
        let (p, owned, record, id, client) = (
            self.partitioner.clone(),
            self.owned.clone(),
            self.record.clone(),
            self.id.clone(),
            self.client.clone(),
        );
        self.tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let units: Vec<(String, i64)> =
                    lock(&owned).iter().map(|(u, t)| (u.clone(), *t)).collect();
                for (unit, token) in units {
                    if p.owned_token(&unit) != Some(token) {
                        continue;
                    }
                    let path = format!("{LEDGER}/{unit}-");
                    let data = format!("{id} {token}");
                    if let Ok((path, _)) = client
                        .create(
                            &path,
                            data.as_bytes(),
                            &CreateOptions::persistent_sequential(),
                        )
                        .await
                    {
                        record.add(&id, Fact::Acked { path });
                    }
                }
            }
        }));
    }

    /// The units this worker works on now.
    pub fn units(&self) -> BTreeMap<String, i64> {
        lock(&self.owned).clone()
    }

    /// Kills the worker as a crash would: its tasks stop at once (the record says it stopped
    /// working) and its connection is cut for good, so its session expires on the server.
    pub async fn kill(mut self) {
        for task in self.tasks.drain(..) {
            task.abort();
        }
        for unit in std::mem::take(&mut *lock(&self.owned)).into_keys() {
            self.record.add(
                &self.id,
                Fact::Disown {
                    unit,
                    reason: "killed".into(),
                },
            );
        }
        if self.latch.has_leadership() {
            self.record.add(&self.id, Fact::Unlead);
        }
        for proxy in &self.proxies {
            proxy.block_new();
            proxy.drop_connections().await;
        }
        // Leaking the handles would keep the session's tasks alive; dropping them is a crash.
        drop(self.partitioner);
        drop(self.latch);
        drop(self.client);
    }

    /// Cuts the worker off the network (both directions go silent) until [`heal`](Self::heal).
    pub async fn partition(&self) {
        for proxy in &self.proxies {
            proxy.pause().await;
        }
    }

    /// Ends a [`partition`](Self::partition).
    pub fn heal(&self) {
        for proxy in &self.proxies {
            proxy.resume();
        }
    }

    /// Stops gracefully.
    pub async fn stop(mut self) {
        let _ = self.partitioner.shutdown(Duration::from_secs(5)).await;
        for task in self.tasks.drain(..) {
            task.abort();
        }
        self.client.close().await;
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
