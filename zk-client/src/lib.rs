//! Async Apache ZooKeeper client for tokio.
//!
//! The client is being built (see the project's issue tracker); this crate has no public API yet.
