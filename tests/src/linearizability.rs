//! A linearizability checker for ZooKeeper registers (ZAB.md §4.4): a znode's data and
//! version, changed by `setData` (unconditional, or conditional on the version: a
//! compare-and-set) and observed by `getData`. Each key is checked on its own (a history is
//! linearizable when each object's is). The search is Wing & Gong's with Lowe's memoisation:
//! depth-first over which pending operation takes effect next, skipping states already seen.
//!
//! An operation whose outcome is unknown (connection loss, timeout) may have taken effect at
//! any point after it was invoked, or never.
//!
//! ```
//! use zk_integration_tests::linearizability::{Op, Outcome, Record, check};
//!
//! // Two writes and a read that saw the first after the second had completed: not linearizable.
//! let h = vec![
//!     Record { op: Op::Write(1), invoked: 0, returned: Some(1), outcome: Outcome::Version(1) },
//!     Record { op: Op::Write(2), invoked: 2, returned: Some(3), outcome: Outcome::Version(2) },
//!     Record { op: Op::Read, invoked: 4, returned: Some(5), outcome: Outcome::Value(1, 1) },
//! ];
//! assert!(check(&h, (0, 0)).is_err());
//! ```

use std::collections::HashSet;

/// What a client asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `getData`.
    Read,
    /// `setData(value, -1)`.
    Write(u64),
    /// `setData(value, version)`.
    Cas {
        /// The new value.
        value: u64,
        /// The version it must find.
        expected: i32,
    },
}

/// What the client was told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A read's value and version.
    Value(u64, i32),
    /// A write's new version.
    Version(i32),
    /// A compare-and-set refused (BadVersion).
    BadVersion,
    /// No answer (connection loss, timeout): it may or may not have happened.
    Unknown,
}

/// One operation of the history; times are any monotonic clock (for example nanoseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// The operation.
    pub op: Op,
    /// When it was sent.
    pub invoked: u64,
    /// When its answer arrived (`None` for [`Outcome::Unknown`]).
    pub returned: Option<u64>,
    /// The answer.
    pub outcome: Outcome,
}

type State = (u64, i32);

/// Applies `r` to `state`: the next state if the record's outcome is possible there.
fn step(state: State, r: &Record) -> Option<State> {
    let (value, version) = state;
    match (r.op, r.outcome) {
        (Op::Read, Outcome::Value(v, ver)) => (v == value && ver == version).then_some(state),
        (Op::Read, Outcome::Unknown) => Some(state),
        (Op::Write(v), Outcome::Version(ver)) => (ver == version + 1).then_some((v, ver)),
        (Op::Write(v), Outcome::Unknown) => Some((v, version + 1)),
        (Op::Cas { value: v, expected }, Outcome::Version(ver)) => {
            (expected == version && ver == version + 1).then_some((v, ver))
        }
        (Op::Cas { expected, .. }, Outcome::BadVersion) => (expected != version).then_some(state),
        (Op::Cas { value: v, expected }, Outcome::Unknown) => {
            // Refused or applied: either way consistent; applied only if the version matches.
            Some(if expected == version {
                (v, version + 1)
            } else {
                state
            })
        }
        _ => None,
    }
}

/// Checks one key's history from `initial` (data value, version).
///
/// # Errors
/// A description of the history when no linearization exists (or the search gave up after
/// a million states, which is reported as an error too rather than as a pass).
pub fn check(history: &[Record], initial: State) -> Result<(), String> {
    if history.len() > 128 {
        return Err(format!("{} operations: split the history", history.len()));
    }
    let all_done: u128 = history
        .iter()
        .enumerate()
        .filter(|(_, r)| r.returned.is_some())
        .fold(0, |m, (i, _)| m | (1u128 << i));
    let mut seen: HashSet<(u128, State)> = HashSet::new();
    let mut stack = vec![(0u128, initial)];
    while let Some((done, state)) = stack.pop() {
        if done & all_done == all_done {
            return Ok(());
        }
        if !seen.insert((done, state)) {
            continue;
        }
        if seen.len() > 1_000_000 {
            return Err("search gave up after 1e6 states".into());
        }
        // An operation may take effect next only if it was invoked before every pending
        // completed operation returned.
        let horizon = history
            .iter()
            .enumerate()
            .filter(|(i, r)| done & (1 << i) == 0 && r.returned.is_some())
            .filter_map(|(_, r)| r.returned)
            .min()
            .unwrap_or(u64::MAX);
        for (i, r) in history.iter().enumerate() {
            if done & (1 << i) != 0 || r.invoked > horizon {
                continue;
            }
            if let Some(next) = step(state, r) {
                stack.push((done | (1 << i), next));
            }
        }
    }
    Err(format!(
        "no linearization of {} operations: {history:?}",
        history.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(op: Op, invoked: u64, returned: u64, outcome: Outcome) -> Record {
        Record {
            op,
            invoked,
            returned: Some(returned),
            outcome,
        }
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        let h = vec![
            rec(Op::Write(1), 0, 10, Outcome::Version(2)),
            rec(Op::Write(2), 1, 9, Outcome::Version(1)),
            rec(Op::Read, 11, 12, Outcome::Value(1, 2)),
        ];
        assert_eq!(check(&h, (0, 0)), Ok(()));
    }

    #[test]
    fn a_lost_acknowledged_write_is_caught() {
        let h = vec![
            rec(Op::Write(1), 0, 1, Outcome::Version(1)),
            rec(Op::Read, 2, 3, Outcome::Value(0, 0)),
        ];
        assert!(check(&h, (0, 0)).is_err());
    }

    #[test]
    fn two_successful_cas_on_one_version_are_caught() {
        let cas = |v| Op::Cas {
            value: v,
            expected: 0,
        };
        let h = vec![
            rec(cas(1), 0, 5, Outcome::Version(1)),
            rec(cas(2), 0, 5, Outcome::Version(1)),
        ];
        assert!(check(&h, (0, 0)).is_err());
    }

    #[test]
    fn an_unknown_outcome_may_or_may_not_have_happened() {
        let unknown = Record {
            op: Op::Write(7),
            invoked: 0,
            returned: None,
            outcome: Outcome::Unknown,
        };
        let saw = |v, ver| vec![unknown, rec(Op::Read, 5, 6, Outcome::Value(v, ver))];
        assert_eq!(check(&saw(7, 1), (0, 0)), Ok(()));
        assert_eq!(check(&saw(0, 0), (0, 0)), Ok(()));
        assert!(check(&saw(8, 1), (0, 0)).is_err());
    }
}
