//! Starting an ensemble member: recovery from the Zab store, the peer transport, the driver.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use super::driver::{Driver, MemberFaults, MemberStatus};
use super::identity::{Binder, EnsembleIdentity, session_secret};
use super::transport::{self, Net};
use crate::connection::ConnSettings;
use crate::four_letter::ServerFacts;
use crate::running::Member;
use crate::server::accept_loop;
use crate::state::StateMachine;
use crate::zab::store::ZabStore;
use crate::zab::{Config, Peer, Role};
use crate::{Builder, RunningServer, ServerError, budget, dir_lock};

fn ensemble_error(why: impl Into<String>) -> ServerError {
    ServerError::Ensemble { why: why.into() }
}

impl Builder {
    /// Starts this member of the ensemble in `config.servers`.
    pub(crate) async fn start_member(self) -> Result<RunningServer, ServerError> {
        let config = self.config;
        let me = super::my_id(&config).map_err(ensemble_error)?;
        let snap_dir = config.data_dir.clone();
        let log_dir = config.log_dir();
        let locks = dir_lock::lock_data_dirs(&snap_dir, &log_dir).map_err(|e| match e {
            dir_lock::LockError::InUse { dir } => ServerError::DataDirInUse { dir },
            dir_lock::LockError::Io { dir, source } => ServerError::Recovery { dir, source },
        })?;
        let zab_dir = log_dir.join("zab");
        let identity = super::identity::load(&zab_dir, &config.servers).map_err(ensemble_error)?;
        let (store, recovered) = {
            let dir = zab_dir.clone();
            tokio::task::spawn_blocking(move || {
                ZabStore::open(Arc::new(crate::disk::RealDisk), &dir)
            })
            .await
            .map_err(|e| ServerError::Recovery {
                dir: zab_dir.clone(),
                source: std::io::Error::other(e),
            })?
            .map_err(|source| ServerError::Recovery {
                dir: zab_dir.clone(),
                source,
            })?
        };
        let mut tree = match &recovered.snapshot {
            Some(s) => crate::snapshot::deserialize_shared(s.data.clone()).map_err(|e| {
                ServerError::Recovery {
                    dir: zab_dir.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
                }
            })?,
            None => crate::tree::DataTree::new(),
        };
        crate::reconfig::install_initial(
            &mut tree,
            &config.servers,
            config.reconfig_enabled,
            crate::server::wall_ms(),
        );
        let tick_ms = crate::tick_ms(&config);
        // The member's own server.N line decides whether it votes (ZooKeeper's rule; a
        // disagreeing peerType is logged by is_observer).
        let _ = config.is_observer(me);
        // The membership the state holds: the static list at first start, the newest a
        // committed `reconfig` wrote after (changes logged since are found in the log).
        let state_membership = tree
            .get(crate::reconfig::CONFIG_PATH)
            .and_then(|n| n.data.as_slice())
            .and_then(|d| std::str::from_utf8(d).ok())
            .and_then(crate::reconfig::Membership::parse);
        let version = state_membership.as_ref().map_or(0, |m| m.version);
        let state_servers = state_membership.map_or_else(|| config.servers.clone(), |m| m.servers);
        let members = super::driver::members_of(&state_servers);
        let mut zc = Config::new(me, members.voters.into_iter().collect())
            .with_observers(members.observers.into_iter().collect());
        zc.membership = Some(super::driver::DECODER);
        zc.membership_version = version;
        zc.init_limit = config.init_limit.max(1);
        zc.sync_limit = config.sync_limit.max(1);
        zc.tick_ms = tick_ms;
        zc.max_uncommitted = 200_000;
        let peer = Peer::new(zc, recovered).map_err(|e| ensemble_error(e.to_string()))?;
        // Peers: the static list and the members the state holds.
        let mut known = state_servers;
        known.extend(config.servers.clone());
        let addrs = super::resolve(&known).await.map_err(ensemble_error)?;
        let Some(&quorum_addr) = addrs.get(&me) else {
            return Err(ensemble_error(format!("myid {me} has no address")));
        };
        let quorum_listener =
            TcpListener::bind(quorum_addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: quorum_addr,
                    source,
                })?;
        let (listener, addr) = crate::bind_clients(&config).await?;
        // A provisional member learns its secret when it binds (it serves no one before).
        let secret = match identity {
            EnsembleIdentity::Bound(id) => session_secret(id),
            EnsembleIdentity::Provisional(_) => [0; 16],
        };
        let core_config =
            crate::core_config(&config, u8::try_from(me).unwrap_or(u8::MAX), secret, true);
        let sm = StateMachine::new(tree, core_config.clone(), 0, crate::server::wall_ms());
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (core_tx, core_rx) = mpsc::channel(8192);
        let (inbox_tx, inbox_rx) = mpsc::channel(8192);
        let (lost_tx, lost_rx) = mpsc::channel(64);
        let faults = Arc::new(MemberFaults::default());
        faults.disk_delay_ms.store(
            self.log_sync_delay.as_millis() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
        let (identity_tx, identity_rx) = watch::channel(identity);
        let peers = addrs
            .iter()
            .filter(|(id, _)| **id != me)
            .map(|(i, a)| (*i, *a))
            .collect();
        let (outboxes, transport_tasks) = transport::start(
            Net {
                me,
                identity: identity_rx,
                peers,
                client_port: addr.port(),
                quorum_port: quorum_addr.port(),
                lost: lost_tx,
            },
            quorum_listener,
            inbox_tx,
            faults.peers.clone(),
            shutdown_rx.clone(),
        );
        let facts = ServerFacts {
            client_port: addr.port(),
            client_address: addr.ip().to_string(),
            data_dir: snap_dir.display().to_string(),
            data_log_dir: log_dir.display().to_string(),
            max_client_cnxns: config.max_client_cnxns,
            mode: "looking".into(),
            quorum_conf: format!(
                "serverId={me}\ninitLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\n\
                 quorumPort={}\npeerType={}\n",
                config.init_limit,
                config.sync_limit,
                config.servers[&me].election_port,
                config.servers[&me].quorum_port,
                u8::from(config.is_observer(me)),
            ),
            ..ServerFacts::default()
        };
        let (status_tx, status_rx) = watch::channel(MemberStatus {
            role: Role::Looking,
            serving: false,
            applied: 0,
            takes_clients: false,
            read_only: false,
        });
        let core_wake = Arc::new(tokio::sync::Notify::new());
        let global_budget = budget::ByteBudget::new(config.max_server_bytes.max(1));
        let binder = Binder::new(zab_dir, identity_tx, outboxes.greetings());
        let driver = Driver {
            peer,
            identity: binder,
            store: Some(store),
            sm,
            core_config,
            rx: core_rx,
            inbox: inbox_rx,
            lost: lost_rx,
            out: outboxes,
            shutdown: shutdown_rx.clone(),
            facts,
            snap_count: config.snap_count.max(1),
            tick: Duration::from_millis(tick_ms),
            // The lease may not outlast either limit a follower leaves its leader after.
            sync_limit: config.sync_limit.min(config.init_limit),
            _locks: locks,
            core_wake: core_wake.clone(),
            global_budget: global_budget.clone(),
            max_queued_bytes: config
                .max_connection_bytes
                .saturating_mul(4)
                .saturating_add(config.max_frame_len.saturating_mul(2)),
            reap_every: Duration::from_millis(config.container_check_interval_ms.max(1)),
            status: status_tx,
            faults: faults.clone(),
            read_only_mode: config.read_only_mode,
            reconfig_enabled: config.reconfig_enabled,
            config_file: config.config_file.clone(),
        };
        let transport: transport::SharedTransport =
            Arc::new(std::sync::Mutex::new(Some(transport_tasks)));
        let on_exit = transport.clone();
        let core_handle = tokio::spawn(async move {
            driver.run().await;
            // A core that stopped (as asked, or on a storage failure) takes its peer
            // connections down with it.
            transport::shut_down(&on_exit).await;
        });
        let settings = ConnSettings::from_config(&config, global_budget, core_wake);
        let admin = core_tx.clone();
        let accept_handle = tokio::spawn(accept_loop(
            listener,
            core_tx,
            settings,
            config.max_client_cnxns,
            shutdown_rx,
        ));
        tracing::info!(%addr, me, quorum = %quorum_addr, ensemble = ?identity, data_dir = %snap_dir.display(), "zk-server-mini ensemble member started");
        Ok(RunningServer {
            addr,
            config,
            admin,
            data_dir: snap_dir,
            shutdown: shutdown_tx,
            core: Some(core_handle),
            accept: Some(accept_handle),
            transport: Some(transport),
            member: Some(Member {
                status: status_rx,
                faults,
            }),
        })
    }
}
