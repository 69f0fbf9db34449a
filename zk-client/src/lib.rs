//! An asynchronous Apache ZooKeeper client for tokio that keeps its session and its watches
//! across reconnects.
//!
//! - [`Client`]: a cheap, cloneable handle. One background task owns the socket, pipelines
//!   requests (many per `write`), matches replies to requests in FIFO order, pings, and reconnects
//!   (shuffled hosts, exponential backoff with jitter, last seen zxid, auth re-sent, every watch
//!   re-registered with SetWatches2).
//! - Every operation of ZooKeeper 3.8: [`Client::create`] in every [`CreateMode`],
//!   [`Client::get_data`], [`Client::set_data`], [`Client::transaction`] (multi),
//!   [`Client::multi_read`], [`Client::add_watch`], [`Client::who_am_i`], ...
//! - Watches: one-shot watches are futures ([`OneshotWatch`]); persistent watches are streams
//!   ([`PersistentWatch`]) that announce every reconnect. See *Ordering* below for what is
//!   guaranteed between events and replies.
//! - Session states as a stream ([`Client::session_events`]): `Connecting`, `Connected`,
//!   `ConnectedReadOnly`, `Suspended`, `Expired`, `AuthFailed`, `Closed`.
//! - One [`Error`] enum with ZooKeeper's codes as variants.
//!
//! ```no_run
//! use zk_client::{Client, CreateOptions, Error};
//!
//! # async fn demo() -> zk_client::Result<()> {
//! let client = Client::connect("127.0.0.1:2181").await?;
//! match client.create("/app", b"", &CreateOptions::persistent()).await {
//!     Ok(_) | Err(Error::NodeExists) => {}
//!     Err(e) => return Err(e),
//! }
//! let (_, stat, watch) = client.get_data_watch("/app").await?;
//! client.set_data("/app", b"hello", Some(stat.version)).await?;
//! let event = watch.await;
//! assert_eq!(event.event_type, zk_proto::EventType::NodeDataChanged);
//! # Ok(()) }
//! ```
//!
//! # Behaviour worth knowing
//!
//! - **Ordering.** Requests go on the wire in call order and are answered in that order. Events
//!   and replies travel on separate channels, so what is guaranteed is this: when the future of
//!   a request completes, every watch event the server sent before that reply has already been
//!   handed to its watcher. A [`OneshotWatch`] for it resolves on its next poll, and a
//!   [`PersistentWatch`] yields it (or the [`PersistentEvent::Overflow`] that replaced it) without
//!   waiting. So a task that awaits a reply and then polls its watch sees the event first. Nothing
//!   orders the wake-ups of *two different* tasks, one awaiting the reply and one the watch: the
//!   scheduler may run either first. Session transitions are published the same way: when a
//!   request fails with [`Error::ConnectionLoss`] or [`Error::SessionExpired`],
//!   [`Client::state`] already returns `Suspended` or `Expired`, and [`Client::session_events`]
//!   already holds the transition. The [`Lease`] is updated before the reply that moves it
//!   completes.
//! - **No silent retries, no late surprises.** A request written to the connection whose
//!   answer never comes fails with [`Error::ConnectionLoss`] (the connection dropped) or
//!   [`Error::OutcomeUnknown`] (its request timeout passed, or the client was closed): it may or
//!   may not have been applied ([`Error::is_outcome_unknown`]). Requests made while
//!   disconnected wait for the reconnect; a caller that gives up before its request was written
//!   (request timeout: [`Error::Timeout`]; or by dropping the future) withdraws it, and it is
//!   never sent later.
//! - **The lease.** [`Client::lease`] gives the session id, the negotiated timeout, the last
//!   zxid and the send time of the latest answered request; [`Lease::expires_no_earlier_than`]
//!   is a lower bound on the server-side expiry, for locks that must survive process pauses.
//! - **Bounded memory.** Requests waiting to be written (while disconnected, or while the
//!   connection cannot keep up) share a budget of 8 MiB: past it, callers wait (backpressure,
//!   bounded by their request timeout). The connection takes no more requests while 1 MiB waits
//!   to be sent or 16384 replies are outstanding. A [`PersistentWatch`] whose consumer stops
//!   reading keeps at most [`ClientBuilder::persistent_watch_buffer`] events, then reports
//!   [`PersistentEvent::Overflow`].
//! - **Lossless session events.** [`Client::session_events`] yields every transition in order,
//!   or an explicit [`SessionUpdate::Missed`] marker to a subscriber that fell behind;
//!   [`SessionEvent::disconnects`] counts disconnections for readers of the latest state only.
//! - **Expiry.** The server decides; in addition, when no server could be reached for a whole
//!   session timeout the client reports [`SessionState::Expired`] itself (the server will have
//!   expired the session by then). With [`ExpiryPolicy::NewSession`] it then opens a new session
//!   and re-creates its persistent watches.
//! - **Watch modes on ZooKeeper 3.8.** The 3.8 server keeps a single watch mode per path and
//!   connection (the last registration wins), so a one-shot registration on a path with a
//!   persistent watch would downgrade the persistent watch, and an `addWatch` would replace a
//!   pending one-shot watch. The client therefore keeps one registration per path on the server
//!   (recursive, else persistent, else the one-shot ones) and serves the other watches on that
//!   path from its events; `NodeChildrenChanged`, which a recursive registration never sends, is
//!   derived from the `NodeCreated`/`NodeDeleted` of a direct child. Every watch gets its own
//!   events whatever the order they were added in. Changes made while disconnected to a node
//!   watched that way are announced by [`PersistentEvent::Reconnected`] rather than replayed.
//! - **Read-only servers** only accept sessions opened on them (they need
//!   `localSessionsEnabled=true` to open any); a session opened on a read-write server waits for
//!   a read-write server.
//! - **TLS**: the `tls` cargo feature adds [`ClientBuilder::tls`](ClientBuilder#method.tls) (rustls).

mod budget;
mod builder;
mod client;
mod config;
mod core;
mod driver;
mod error;
mod event_queue;
mod lease;
mod options;
mod registry;
mod session;
mod session_api;
mod ticket;
#[cfg(feature = "tls")]
mod tls;
mod transaction;
mod watch;

#[cfg(test)]
mod tests;

pub use builder::ClientBuilder;
pub use bytes::Bytes;
pub use client::{CONFIG_NODE, Client};
pub use config::{ConnectString, ExpiryPolicy};
pub use error::{Error, Result};
pub use lease::Lease;
pub use options::CreateOptions;
/// The TLS library used by the `tls` feature (for building a `ClientConfig`).
#[cfg(feature = "tls")]
pub use rustls;
pub use session::{SessionEvent, SessionState, SessionUpdate};
pub use transaction::{MultiResult, ReadOp, ReadResult, Transaction};
pub use watch::{OneshotWatch, PersistentEvent, PersistentWatch, WatchedEvent};
pub use zk_proto;
pub use zk_proto::acl::{Acl, Id, Perms};
pub use zk_proto::{
    AddWatchMode, ClientInfo, CreateMode, EventType, KeeperState, Stat, WatcherType,
};
