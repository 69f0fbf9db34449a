//! What the workers did, recorded from outside the recipes (every grant and its end, every
//! leadership, every acknowledged write), and the checks run on it at the end.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

/// One recorded fact.
#[derive(Debug, Clone)]
pub enum Fact {
    /// The worker started working on a unit.
    Own { unit: String, token: i64 },
    /// The worker stopped working on a unit.
    Disown { unit: String, reason: String },
    /// The worker became leader.
    Lead { token: i64 },
    /// The worker stopped leading.
    Unlead,
    /// A write the server acknowledged (a sequential ledger node).
    Acked { path: String },
}

/// The shared record of every worker.
#[derive(Debug, Clone, Default)]
pub struct Record {
    facts: Arc<Mutex<Vec<(Instant, String, Fact)>>>,
}

impl Record {
    pub fn add(&self, worker: &str, fact: Fact) {
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((Instant::now(), worker.to_owned(), fact));
    }

    pub fn facts(&self) -> Vec<(Instant, String, Fact)> {
        self.facts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// unit → (worker, token) of the current owners.
    pub fn owners(&self) -> BTreeMap<String, Vec<(String, i64)>> {
        let mut owners: BTreeMap<String, Vec<(String, i64)>> = BTreeMap::new();
        for (_, worker, fact) in self.facts() {
            match fact {
                Fact::Own { unit, token } => owners.entry(unit).or_default().push((worker, token)),
                Fact::Disown { unit, .. } => {
                    if let Some(list) = owners.get_mut(&unit) {
                        list.retain(|(w, _)| *w != worker);
                    }
                }
                _ => {}
            }
        }
        owners.retain(|_, list| !list.is_empty());
        owners
    }

    /// The current leader and its token.
    pub fn leader(&self) -> Option<(String, i64)> {
        let mut leader = None;
        for (_, worker, fact) in self.facts() {
            match fact {
                Fact::Lead { token } => leader = Some((worker, token)),
                Fact::Unlead if leader.as_ref().is_some_and(|(w, _)| *w == worker) => {
                    leader = None;
                }
                _ => {}
            }
        }
        leader
    }

    /// Every acknowledged write.
    pub fn acked(&self) -> BTreeSet<String> {
        self.facts()
            .into_iter()
            .filter_map(|(_, _, f)| match f {
                Fact::Acked { path } => Some(path),
                _ => None,
            })
            .collect()
    }

    /// When `worker` last stopped working on `unit` before `at`, and when anyone else next
    /// started on it after that (for "it stopped before anyone else started").
    pub fn handover(&self, worker: &str, unit: &str, after: Instant) -> Option<(Instant, Instant)> {
        let facts = self.facts();
        let stopped = facts.iter().find_map(|(t, w, f)| match f {
            Fact::Disown { unit: u, .. } if w == worker && u == unit && *t >= after => Some(*t),
            _ => None,
        })?;
        let started = facts.iter().find_map(|(t, w, f)| match f {
            Fact::Own { unit: u, .. } if w != worker && u == unit && *t >= after => Some(*t),
            _ => None,
        })?;
        Some((stopped, started))
    }

    /// Checks that no unit was ever worked on by two workers at once and that every new grant
    /// of a unit had a higher token; returns the number of grants, or what went wrong.
    pub fn check_exclusive(&self) -> Result<usize, String> {
        let mut working: BTreeMap<String, (String, i64)> = BTreeMap::new();
        let mut last_token: BTreeMap<String, i64> = BTreeMap::new();
        let mut grants = 0;
        for (_, worker, fact) in self.facts() {
            match fact {
                Fact::Own { unit, token } => {
                    if let Some((other, _)) = working.get(&unit) {
                        return Err(format!(
                            "{unit} granted to {worker} while {other} worked on it"
                        ));
                    }
                    if last_token.get(&unit).is_some_and(|t| *t >= token) {
                        return Err(format!("{unit}: token {token} after {}", last_token[&unit]));
                    }
                    last_token.insert(unit.clone(), token);
                    working.insert(unit, (worker, token));
                    grants += 1;
                }
                Fact::Disown { unit, .. }
                    if working.get(&unit).is_some_and(|(w, _)| *w == worker) =>
                {
                    working.remove(&unit);
                }
                _ => {}
            }
        }
        Ok(grants)
    }
}
