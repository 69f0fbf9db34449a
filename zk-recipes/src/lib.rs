//! Coordination recipes built on the public API of `zk-client`.
//!
//! No recipes are implemented yet; this crate has no public API.

pub mod cache;
pub mod counter;
mod ensure;
