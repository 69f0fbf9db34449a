//! A small ZooKeeper-compatible server.
//!
//! The server is being built (see the project's issue tracker); this crate has no public API yet.
