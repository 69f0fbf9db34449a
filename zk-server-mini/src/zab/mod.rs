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
//! # Driving it
//!
//! One task per member owns the [`Peer`] and loops over its inputs, in any order it likes,
//! as long as each is fed whole:
//!
//! - **Start**: recover with [`store::ZabStore::open`] (or an equivalent store), restore the
//!   state machine from the recovered snapshot only — logged entries are *not* applied,
//!   they are not known to be committed — and call [`Peer::new`].
//! - **Clock**: feed [`Input::Tick`] every `tickTime`; all timeouts (election resend,
//!   `initLimit`, `syncLimit`, session expiry) count ticks.
//! - **Network**: feed every decoded peer message as [`Input::Message`]; send every
//!   [`Output::Send`] on the connection to that member, in order (Zab assumes FIFO links;
//!   the core survives loss, duplication and reordering but needs FIFO to make progress
//!   quickly). Drop frames that do not decode, and connections from ids not in the
//!   ensemble.
//! - **Disk**: carry out [`Output::Persist`] requests strictly in the order emitted, each
//!   durable (fsynced) before reporting [`Input::Persisted`] with its id; batching several
//!   into one fsync is fine (report the last id). The core sends no acknowledgement before
//!   the report, which is what makes acks mean "durable".
//! - **State machine**: apply [`Output::Apply`] entries in order (they are committed);
//!   [`Output::RestoreSnapshot`] replaces the state. Now and then snapshot the *applied*
//!   state, make it durable (the store then deletes the log segments it covers), and feed
//!   [`Input::SnapshotTaken`]. The core keeps only [`Config::log_window`] applied entries in
//!   memory; a follower behind them gets a SNAP whose data is empty
//!   ([`Snapshot::needs_data`]): fill it with the applied state, serialized as the message
//!   leaves (the outputs are carried out in order, so the state is at the SNAP's zxid).
//! - **Clients**: serve only while [`Peer::is_serving`]. A write at a follower goes through
//!   [`Input::Forward`]; at the leader it comes out as [`Output::Forwarded`], gets
//!   prepared (checked against the tree plus pending writes, turned into a transaction)
//!   and [`Peer::propose`]d; every member answers its own client when the entry is
//!   applied. Reads are local, behind the session's own pending writes; refuse a client
//!   whose last zxid is above [`Peer::applied`]. `sync()` is [`Input::ReadIndex`]: answer
//!   it on [`Output::ReadIndexReady`] (a quorum confirmed the leader after the request, and
//!   everything it had proposed is applied here).
//! - **Sessions**: report applied create/close-session transactions
//!   ([`Input::SessionOpened`], [`Input::SessionClosed`]) and client activity
//!   ([`Input::Touch`]); on [`Output::ExpireSession`] (leader only) propose the close-session
//!   transaction.
//! - **Roles**: [`Output::RoleChanged`] and [`Output::Serving`] are for the four-letter words
//!   and for dropping client connections when a member stops serving.
//!
//! Module map: [`types`] (inputs, outputs, configuration), [`message`] (the peer protocol),
//! [`history`] (the in-memory log, continuity checks), `election`, `leader`, `follower`,
//! `observer` (non-voting members), [`membership`] (membership changes), `peer` (dispatch, persistence bookkeeping, apply),
//! [`sessions`] (leader-side expiry),
//! [`store`] (durable epochs, log and snapshot).

mod election;
mod follower;
pub mod history;
mod leader;
pub mod membership;
pub mod message;
mod observer;
mod peer;
mod segments;
pub mod sessions;
pub mod store;
pub mod types;

#[cfg(test)]
mod observer_tests;
#[cfg(test)]
mod tests;

pub use follower::SyncRefused;
pub use membership::{Members, MembershipDecoder};
pub use message::{Message, SyncMode, Vote};
pub use peer::Peer;
pub use types::{
    Config, Entry, Input, Output, PeerId, PersistId, PersistOp, ProposeError, Recovered, Role,
    Snapshot, StartError,
};
