//! Measured phases: many requests in flight on one session, or one at a time.

use std::time::{Duration, Instant};

use futures::StreamExt;

use crate::cpu::process_cpu_time;
use crate::ops::ZkOps;
use crate::stats::percentile;

/// One of the benchmarked operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `create` (persistent, open ACL).
    Create,
    /// `getData`.
    Get,
    /// `setData`, any version.
    Set,
    /// `delete`, any version.
    Delete,
}

impl Op {
    /// The four, in the order a round runs them (create first, delete last).
    pub const ALL: [Op; 4] = [Op::Create, Op::Get, Op::Set, Op::Delete];

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
        }
    }
}

/// What one phase measured.
#[derive(Debug, Clone)]
pub struct Phase {
    /// Requests that succeeded.
    pub ok: usize,
    /// Requests that failed.
    pub errors: usize,
    /// The first failure, for the log.
    pub first_error: Option<String>,
    /// Wall time of the whole phase.
    pub wall: Duration,
    /// CPU time of this process (all threads) during the phase.
    pub cpu: Duration,
    /// Per-request latency, from the call to its answer, in completion order.
    pub latencies: Vec<Duration>,
    /// Data bytes returned by successful gets (a check that reads really read).
    pub bytes_read: usize,
}

impl Phase {
    /// Successful requests per second of wall time.
    pub fn ops_per_sec(&self) -> f64 {
        self.ok as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    /// Microseconds of this process's CPU time per successful request.
    pub fn cpu_us_per_op(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.ok.max(1) as f64
    }

    /// The `p`-th latency percentile.
    pub fn latency(&mut self, p: f64) -> Duration {
        percentile(&mut self.latencies, p)
    }

    /// [`check`](Self::check), and for a phase of `op` == [`Op::Get`], that every get read
    /// `data_len` bytes.
    ///
    /// # Errors
    /// A message saying what went wrong.
    pub fn verify(&self, op: Op, data_len: usize, what: &str) -> Result<(), String> {
        self.check(what)?;
        let expected_len = if op == Op::Get { data_len } else { 0 };
        if self.bytes_read != self.ok * expected_len {
            return Err(format!(
                "{what}: read {} bytes in {} gets, expected {expected_len} each",
                self.bytes_read, self.ok
            ));
        }
        Ok(())
    }

    /// Fails when any request failed: a benchmark of failing requests measures nothing.
    ///
    /// # Errors
    /// A message with the count and the first error.
    pub fn check(&self, what: &str) -> Result<(), String> {
        match &self.first_error {
            None => Ok(()),
            Some(e) => Err(format!(
                "{what}: {} of {} requests failed, first: {e}",
                self.errors,
                self.errors + self.ok
            )),
        }
    }
}

/// Counts the answers of one phase while it runs; [`finish`](Self::finish) makes the [`Phase`].
struct Tally {
    latencies: Vec<Duration>,
    ok: usize,
    errors: usize,
    first_error: Option<String>,
    bytes_read: usize,
    cpu0: Duration,
    t0: Instant,
}

impl Tally {
    /// Starts the clocks (process CPU time, then wall time).
    fn start(capacity: usize) -> Self {
        let latencies = Vec::with_capacity(capacity);
        let cpu0 = process_cpu_time();
        let t0 = Instant::now();
        Tally {
            latencies,
            ok: 0,
            errors: 0,
            first_error: None,
            bytes_read: 0,
            cpu0,
            t0,
        }
    }

    /// Records one answer and how long it took.
    fn record(&mut self, latency: Duration, result: Result<usize, String>) {
        self.latencies.push(latency);
        match result {
            Ok(n) => {
                self.ok += 1;
                self.bytes_read += n;
            }
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }

    /// Stops the clocks (wall time, then process CPU time).
    fn finish(self) -> Phase {
        let wall = self.t0.elapsed();
        let cpu = process_cpu_time().saturating_sub(self.cpu0);
        Phase {
            ok: self.ok,
            errors: self.errors,
            first_error: self.first_error,
            wall,
            cpu,
            latencies: self.latencies,
            bytes_read: self.bytes_read,
        }
    }
}

/// One request; the number of data bytes it read.
async fn one<C: ZkOps>(client: &C, op: Op, path: &str, data: &[u8]) -> Result<usize, String> {
    match op {
        Op::Create => client.create(path, data).await.map(|()| 0),
        Op::Get => client.get(path).await,
        Op::Set => client.set(path, data).await.map(|()| 0),
        Op::Delete => client.delete(path).await.map(|()| 0),
    }
}

/// Runs `op` once on every path with up to `in_flight` requests outstanding on the one session
/// of `client` (the next request is sent as soon as any answer arrives).
pub async fn pipelined<C: ZkOps>(
    client: &C,
    op: Op,
    paths: &[String],
    data: &[u8],
    in_flight: usize,
) -> Phase {
    let mut tally = Tally::start(paths.len());
    let mut answers = futures::stream::iter(paths)
        .map(|path| async move {
            let start = Instant::now();
            let result = one(client, op, path, data).await;
            (start.elapsed(), result)
        })
        .buffer_unordered(in_flight.max(1));
    while let Some((latency, result)) = answers.next().await {
        tally.record(latency, result);
    }
    tally.finish()
}

/// Runs `op` once on every path, one request at a time (closed loop: send, wait, repeat).
pub async fn closed_loop<C: ZkOps>(client: &C, op: Op, paths: &[String], data: &[u8]) -> Phase {
    let mut tally = Tally::start(paths.len());
    for path in paths {
        let start = Instant::now();
        let result = one(client, op, path, data).await;
        tally.record(start.elapsed(), result);
    }
    tally.finish()
}

/// Closed-loop gets on `reader` (a second session) for as long as `writer` runs a pipelined
/// [`Op::Set`] of every path in `paths` with `in_flight` outstanding: read latency under write
/// load. Returns the writer's phase and the reader's (which cycles through `read_paths`).
pub async fn reads_during_writes<C: ZkOps>(
    writer: &C,
    reader: &C,
    paths: &[String],
    read_paths: &[String],
    data: &[u8],
    in_flight: usize,
) -> (Phase, Phase) {
    let done = std::cell::Cell::new(false);
    let write = async {
        let phase = pipelined(writer, Op::Set, paths, data, in_flight).await;
        done.set(true);
        phase
    };
    let read = async {
        let mut tally = Tally::start(0);
        for path in read_paths.iter().cycle() {
            if done.get() || read_paths.is_empty() {
                break;
            }
            let start = Instant::now();
            let result = reader.get(path).await;
            tally.record(start.elapsed(), result);
        }
        tally.finish()
    };
    futures::join!(write, read)
}

/// `count` child paths of `parent`: `<parent>/n0000000`, `<parent>/n0000001`, ...
pub fn child_paths(parent: &str, count: usize) -> Vec<String> {
    (0..count).map(|i| format!("{parent}/n{i:07}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_valid_and_distinct() {
        let p = child_paths("/b", 3);
        assert_eq!(p, ["/b/n0000000", "/b/n0000001", "/b/n0000002"]);
    }
}
