//! Zab: the replication protocol of a ZooKeeper ensemble, as a deterministic core.
//!
//! [`Peer`] is one member's consensus state machine (election, discovery, synchronisation,
//! broadcast; see ZAB.md in the repository's shared docs for the protocol and the checklist it
//! follows). It does no I/O: the driver feeds it [`Input`]s and carries out its [`Output`]s
//! — send these messages, persist this (then report [`Input::Persisted`]), apply this
//! committed entry. [`store::ZabStore`] is a durable store for the persist requests on any
//! [`crate::disk::Disk`]. The simulation in `tests/zab_sim.rs` drives whole ensembles through
//! seeded faults with it.
//!
//! Module map: [`types`] (inputs, outputs, configuration), [`message`] (the peer protocol),
//! [`history`] (the in-memory log, continuity checks), `election`, `leader`, `follower`,
//! `peer` (dispatch, persistence bookkeeping, apply), [`sessions`] (leader-side expiry),
//! [`store`] (durable epochs, log and snapshot).

mod election;
mod follower;
pub mod history;
mod leader;
pub mod message;
mod peer;
pub mod sessions;
pub mod store;
pub mod types;

#[cfg(test)]
mod tests;

pub use follower::SyncRefused;
pub use message::{Message, SyncMode, Vote};
pub use peer::Peer;
pub use types::{
    Config, Entry, Input, Output, PeerId, PersistId, PersistOp, ProposeError, Recovered, Role,
    Snapshot, StartError,
};
