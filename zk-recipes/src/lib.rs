//! Coordination recipes built on the public API of `zk-client`.

pub mod partition;
