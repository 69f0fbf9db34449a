//! Partitioning: divide a set of work units among a changing group of processes, each unit owned
//! by at most one process at a time.
//!
//! This module holds the assignment function ([`assign`]), the pure core of the recipe.

mod assign;

pub use assign::{Assignment, BalanceOptions, MemberSpec, UnitSpec, assign, moved};
