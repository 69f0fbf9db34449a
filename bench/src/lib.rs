//! Load generator for the workspace: the measurement plumbing shared by the two benchmarks in
//! `benches/` (see `bench/README.md`).
//!
//! - [`ops`]: [`ZkOps`](ops::ZkOps), the four operations a benchmark drives, implemented for
//!   [`zk_client::Client`] here and for the baseline client in the benchmark that uses it.
//! - [`workload`]: pipelined phases (N requests in flight on one session) and closed-loop
//!   latency, each measured for wall time, latency and process CPU time.
//! - [`cpu`]: this process's CPU time (`getrusage(RUSAGE_SELF)`, every thread counted).
//! - [`stats`]: percentiles and medians.
//! - [`mini`]: the `zk-server-mini` release binary as a child process, stopped by pid.
//! - [`proc_status`]: resident memory of another process from `/proc/<pid>/status`.
//! - [`args`]: the few `--key value` flags the benchmarks take, and their shared `main`.

pub mod args;
pub mod cpu;
pub mod mini;
pub mod ops;
pub mod proc_status;
pub mod stats;
pub mod workload;
