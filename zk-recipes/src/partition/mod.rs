//! Partitioning: divide a set of work units (shards, tenants, feeds) among a changing group of
//! processes, each unit owned by **at most one** process at a time, and by someone whenever
//! anyone is alive, with minimal movement when the group changes.
//!
//! ```no_run
//! use futures::StreamExt;
//! use zk_recipes::partition::{PartitionEvent, Partitioner, PartitionerOptions, Units};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let client = zk_client::Client::connect("127.0.0.1:2181").await?;
//! let shards = Units::fixed((0..24).map(|i| format!("shard-{i}")));
//! let options = PartitionerOptions::new("worker-1", shards);
//! let partitioner = Partitioner::start(client, "/app/sharding", options).await?;
//! let mut events = partitioner.events();
//! while let Some(event) = events.next().await {
//!     match event {
//!         PartitionEvent::Assigned { unit, token } => { /* start unit, fence with token */ }
//!         PartitionEvent::Revoking { unit, .. } => partitioner.ack_revoked(&unit), // after stopping
//!         PartitionEvent::Revoked { unit, .. } => { /* stop unit now */ }
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # What is guaranteed
//!
//! - **At most one owner, with a token.** A unit is granted only through its *claim*, an
//!   ephemeral znode whose creation is exclusive; the claim's czxid is the grant's fencing token,
//!   higher for every new grant of the unit. Before each piece of work, check
//!   [`Partitioner::owned_token`]: it is `None` as soon as ownership can no longer be proven.
//! - **Self-fencing first.** A member stops (`Revoked` with reason `suspended`, `lease_expired`
//!   or `session_expired`) as soon as its session cannot be proven alive: on disconnection, or
//!   when its lease runs out (send time of the last answered request + session timeout, minus a
//!   margin). That is before the server can expire the session and hand the claim to another
//!   member, even if the process was paused (SIGSTOP, a stalled VM). All deadlines use the
//!   monotonic clock, so a jump of the wall clock changes nothing.
//! - **Cooperative handoff.** A unit that moves is first `Revoking`; it stays with its owner until
//!   the application calls [`Partitioner::ack_revoked`]; only then is it released and granted to
//!   the next member. Units that do not move are not touched. [`Partitioner::shutdown`] drains.
//! - **Liveness.** After a crash, a member's units are granted again once its session expires
//!   (about one session timeout, plus the optional grace period); after a graceful leave, within a
//!   few round trips plus the application's stop time.
//! - **Minimal movement.** The leader-elected assigner uses sticky, bounded-load, weighted
//!   rendezvous hashing ([`assign`]): a join moves only what the newcomer should own (1/n for
//!   equal weights), a leave only the leaver's units. Weights, capacities, pegging and reported
//!   per-unit loads ([`Partitioner::report_loads`]) are respected.
//! - **O(1) watches per member**: the member list (leader only), the assignment node, and one
//!   persistent recursive watch on the claims.
//! - **Observable**: [`Partitioner::assignment`] (the whole assignment and its generation),
//!   [`Partitioner::stats`] (grants, handoffs, self-fencing), and `tracing` events in a
//!   `partition_member` span per member.
//!
//! What is not: the `Revoking` deadline is advisory (the unit waits for the acknowledgement, as
//! at-most-one comes first); units pegged to an absent member stay unowned; the assignment node
//! holds the whole assignment, so the number of units is bounded by the 1 MB znode limit
//! (tens of thousands of short names).
//!
//! # Layout
//!
//! See `layout.rs`: `PATH/members/<id>` (ephemeral), `PATH/leader` (a [`LeaderLatch`]),
//! `PATH/assignment` (JSON, written by the leader with a version check), `PATH/owners/<unit>`
//! (the claims). A second process with a live member's id is refused
//! ([`RecipeError::DuplicateMember`]); an assignment node that does not parse is ignored by
//! members and replaced by the leader ([`RecipeError::ForeignData`] in the logs).
//!
//! # How it is checked
//!
//! - [`MemberCore`], the member's protocol as a sans-IO state machine, runs in a seeded
//!   simulation of many members against a simulated ZooKeeper with crashes, partitions, pauses
//!   past the session timeout, joins, leaves and unit changes; after every event it checks at
//!   most one owner per unit and increasing tokens, and at the end that every unit is owned
//!   again. The long run: `ZK_PARTITION_SIM_SEEDS=100000 cargo test --release -p zk-recipes
//!   --lib partition::sim`; one seed: `ZK_PARTITION_SIM_SEED=N`.
//! - `tests/tests/recipes_partition.rs` runs member processes (the `partition` example) against
//!   the real ZooKeeper 3.8.0 (standalone and a 3-node ensemble) and zk-server-mini under kill -9,
//!   SIGSTOP, cut connections, drains and unit changes, and checks their output lines.
//! - `cargo bench -p zk-bench --bench partition_vs_setpartitioner` compares with kazoo.
//!
//! [`LeaderLatch`]: crate::LeaderLatch
//! [`RecipeError::DuplicateMember`]: crate::RecipeError::DuplicateMember
//! [`RecipeError::ForeignData`]: crate::RecipeError::ForeignData

mod assign;
mod assigner;
mod core;
mod event;
mod event_queue;
mod layout;
mod partitioner;
#[cfg(test)]
mod sim;
mod stats;

pub use self::assign::{Assignment, BalanceOptions, MemberSpec, UnitSpec, assign, moved};
pub use self::assigner::Units;
pub use self::core::{Action, ClaimObservation, MemberCore};
pub use self::event::{PartitionEvent, RevokeReason, Token};
pub use self::event_queue::PartitionEvents;
pub use self::partitioner::{AssignmentSnapshot, Partitioner, PartitionerOptions};
pub use self::stats::PartitionStats;
