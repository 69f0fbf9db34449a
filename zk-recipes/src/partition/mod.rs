//! Partitioning: divide a set of work units among a changing group of processes, each unit owned
//! by at most one process at a time.
//!
//! - [`assign`]: the assignment function (sticky bounded-load weighted rendezvous hashing), pure.
//! - [`MemberCore`]: one member's ownership protocol as a deterministic state machine (sans-IO),
//!   with the safety argument in its docs.
//! - [`PartitionEvent`]: what the application is told.

mod assign;
mod assigner;
mod core;
mod event;
mod event_queue;
mod layout;
mod partitioner;
#[cfg(test)]
mod sim;

pub use self::assign::{Assignment, BalanceOptions, MemberSpec, UnitSpec, assign, moved};
pub use self::assigner::Units;
pub use self::core::{Action, ClaimObservation, MemberCore};
pub use self::event::{PartitionEvent, RevokeReason, Token};
pub use self::event_queue::PartitionEvents;
pub use self::partitioner::{AssignmentSnapshot, Partitioner, PartitionerOptions};
