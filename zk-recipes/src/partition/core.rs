//! One member's ownership protocol as a deterministic state machine (sans-IO): it takes the
//! current assignment, the results of its claim operations, the application's acknowledgements
//! and the session's health, and returns the ZooKeeper operations to perform and the events to
//! hand to the application. The tokio driver and the deterministic simulation both run it.
//!
//! The safety argument, which the simulation checks over many seeded schedules:
//! - A member works on a unit only while it holds the unit's claim node, an ephemeral znode
//!   `owners/<unit>` whose creation is exclusive; the claim's `czxid` is the grant's token.
//! - A claim is released only after the application acknowledged the revoke, or by the server
//!   when the session expires.
//! - A member stops working ("self-fences") as soon as its session cannot be proven alive:
//!   on Suspended, Expired, or when its lease deadline passes. The lease deadline (send time of
//!   the last answered request + session timeout) comes no later than the server-side expiry,
//!   so the member has stopped before the server deletes its claim and anyone else can take it.
//! - After self-fencing, a unit is granted again only through a new claim node (delete and
//!   create in one transaction), so every grant has a higher token than the one before.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use super::event::{PartitionEvent, RevokeReason, Token};

/// What the driver must do for the member.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
/// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
/// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
/// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
/// let mut core = MemberCore::new("m1", Duration::from_secs(10));
/// // the driver loop: carry out each action, report its outcome back
/// core.on_assignment(1, to("m1"));
/// while let Some(action) = core.poll_action() {
///     match action {
///         Action::Create { unit } => core.on_claimed(&unit, 7), // the create succeeded: czxid 7
///         Action::Emit(event) => println!("to the application: {event:?}"),
///         other => println!("{other:?}"),
///     }
/// }
/// assert_eq!(core.working().collect::<Vec<_>>(), [("u", 7)]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Create the claim node of `unit` (ephemeral, data = member id). Report the outcome with
    /// [`MemberCore::on_claimed`] or [`MemberCore::on_claim_taken`].
    Create {
        /// The unit.
        unit: String,
    },
    /// Replace this session's existing claim node of `unit` (token `old`) by a new one in one
    /// transaction (delete + create), for a new token. Report like [`Action::Create`].
    Recreate {
        /// The unit.
        unit: String,
        /// The token of the claim node to delete.
        old: Token,
    },
    /// Delete this session's claim node of `unit` (token `token`); report with
    /// [`MemberCore::on_released`].
    Delete {
        /// The unit.
        unit: String,
        /// The claim's token.
        token: Token,
    },
    /// The outcome of an earlier create, recreate or delete of `unit`'s claim is unknown (the
    /// connection was lost with it in flight): read the claim node and report what is there with
    /// [`MemberCore::on_claim_observed`].
    Resolve {
        /// The unit.
        unit: String,
    },
    /// Another member holds `unit`'s claim: call [`MemberCore::on_claim_gone`] once the claim
    /// node no longer exists.
    WatchClaim {
        /// The unit.
        unit: String,
    },
    /// Hand `event` to the application.
    Emit(PartitionEvent),
}

/// What the driver found at a claim node (for [`Action::Resolve`]).
///
/// ```
/// use zk_recipes::partition::ClaimObservation;
///
/// let seen = ClaimObservation::Ours(42);
/// assert_ne!(seen, ClaimObservation::Absent);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimObservation {
    /// The claim node exists and its `ephemeralOwner` is our session; its `czxid`.
    Ours(Token),
    /// The claim node exists and belongs to another session.
    Theirs,
    /// There is no claim node.
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A create (or, with `stale`, a recreate replacing that fenced claim) is in flight.
    Claiming { stale: Option<Token> },
    /// Someone else holds the claim; waiting for it to go.
    Waiting,
    /// Ours; the application works on it.
    Owned(Token),
    /// Ours; the application was asked to stop.
    Revoking(Token),
    /// The delete is in flight; when it completes, `Revoked` is emitted with the reason, if any
    /// (none when the application was already told).
    Releasing(Token, Option<RevokeReason>),
    /// The outcome of a create or recreate is unknown; a [`Action::Resolve`] is or will be in
    /// flight.
    Resolving { stale: Option<Token> },
    /// The application was told to stop because the session could not be proven alive; the
    /// claim node may still exist under our session.
    Fenced(Token),
}

/// Where the whole member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Health {
    /// Connected, within the lease.
    Healthy,
    /// Not provably alive (suspended, or past the lease deadline): work is fenced.
    Unproven,
    /// Draining for shutdown.
    Draining,
}

/// The member's state machine: the safety argument is in the [`partition`](crate::partition) module docs.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::time::Duration;
/// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
/// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
/// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
/// let mut core = MemberCore::new("m1", Duration::from_secs(10));
/// core.on_assignment(1, to("m1"));
/// assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
/// core.on_claimed("u", 7);
/// assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
///
/// ```
#[derive(Debug)]
pub struct MemberCore {
    me: String,
    revoke_deadline: Duration,
    health: Health,
    generation: i64,
    /// Every unit of the current assignment, with its desired owner.
    desired: BTreeMap<String, Option<String>>,
    units: BTreeMap<String, Phase>,
    actions: VecDeque<Action>,
}

impl MemberCore {
    /// A member `me` that gives its application `revoke_deadline` to stop a moving unit. It
    /// starts healthy with no assignment.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// assert_eq!(core.id(), "m1");
    /// assert_eq!(core.generation(), -1); // no assignment yet
    /// assert!(core.is_idle());
    /// ```
    pub fn new(me: impl Into<String>, revoke_deadline: Duration) -> Self {
        Self {
            me: me.into(),
            revoke_deadline,
            health: Health::Healthy,
            generation: -1,
            desired: BTreeMap::new(),
            units: BTreeMap::new(),
            actions: VecDeque::new(),
        }
    }

    /// The member id.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// assert_eq!(core.id(), "m1");
    /// ```
    pub fn id(&self) -> &str {
        &self.me
    }

    /// The generation of the last assignment applied.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// core.on_assignment(4, to("m1"));
    /// assert_eq!(core.generation(), 4);
    /// core.on_assignment(3, to("m2")); // older: ignored
    /// assert_eq!(core.generation(), 4);
    /// ```
    pub fn generation(&self) -> i64 {
        self.generation
    }

    /// The next thing to do, if any.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// assert_eq!(core.poll_action(), None);
    /// core.on_assignment(1, to("m1"));
    /// assert_eq!(core.poll_action(), Some(Action::Create { unit: "u".into() }));
    /// assert_eq!(core.poll_action(), None);
    /// ```
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Units the application may work on now (granted, not yet revoked), with their tokens.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// assert_eq!(core.working().collect::<Vec<_>>(), [("u", 7)]);
    /// ```
    pub fn working(&self) -> impl Iterator<Item = (&str, Token)> {
        self.units.iter().filter_map(|(u, p)| match p {
            Phase::Owned(t) | Phase::Revoking(t) => Some((u.as_str(), *t)),
            _ => None,
        })
    }

    /// Whether the member holds no claims and has nothing in flight (drained).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// assert!(!core.is_idle()); // holds a claim
    /// core.drain();
    /// actions(&mut core);
    /// core.ack_revoked("u");
    /// assert_eq!(actions(&mut core), [Action::Delete { unit: "u".into(), token: 7 }]);
    /// core.on_released("u");
    /// assert!(core.is_idle());
    /// ```
    pub fn is_idle(&self) -> bool {
        self.units.values().all(|p| matches!(p, Phase::Waiting))
    }

    /// A new assignment: every unit with its desired owner (`None`: nobody). Older or equal
    /// generations are ignored.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// core.on_assignment(2, to("m2")); // the unit moves
    /// let revoking = actions(&mut core);
    /// assert!(matches!(&revoking[..], [Action::Emit(PartitionEvent::Revoking { unit, token: 7, .. })] if unit == "u"));
    /// ```
    pub fn on_assignment(&mut self, generation: i64, units: BTreeMap<String, Option<String>>) {
        if generation <= self.generation {
            return;
        }
        self.generation = generation;
        self.desired = units;
        self.reconcile();
    }

    /// The claim of `unit` was created (or recreated) with token `token`.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// core.on_assignment(1, to("m1"));
    /// actions(&mut core); // Create { unit: "u" }
    /// core.on_claimed("u", 7); // the create returned czxid 7
    /// assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// ```
    pub fn on_claimed(&mut self, unit: &str, token: Token) {
        match self.units.get(unit) {
            Some(Phase::Claiming { .. } | Phase::Resolving { .. }) => {}
            // A duplicate report of a claim we already track.
            Some(
                Phase::Owned(t) | Phase::Revoking(t) | Phase::Fenced(t) | Phase::Releasing(t, _),
            ) if *t == token => return,
            _ => {
                // Not expecting it (cannot happen with a well-behaved driver): give it back.
                self.actions.push_back(Action::Delete {
                    unit: unit.to_owned(),
                    token,
                });
                return;
            }
        }
        if self.health == Health::Healthy && self.wants(unit) {
            self.units.insert(unit.to_owned(), Phase::Owned(token));
            self.emit(PartitionEvent::Assigned {
                unit: unit.to_owned(),
                token,
            });
        } else if self.health == Health::Unproven {
            self.units.insert(unit.to_owned(), Phase::Fenced(token));
        } else {
            self.release(unit, token, None);
        }
    }

    /// The claim of `unit` is held by another member (or the create failed in a way that left
    /// no claim of ours).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// core.on_assignment(1, to("m1"));
    /// actions(&mut core); // Create { unit: "u" }
    /// core.on_claim_taken("u"); // NodeExists: the previous owner has not let go yet
    /// assert_eq!(actions(&mut core), [Action::WatchClaim { unit: "u".into() }]);
    /// ```
    pub fn on_claim_taken(&mut self, unit: &str) {
        if !matches!(
            self.units.get(unit),
            Some(Phase::Claiming { .. } | Phase::Resolving { .. })
        ) {
            return;
        }
        if self.health == Health::Healthy && self.wants(unit) {
            self.units.insert(unit.to_owned(), Phase::Waiting);
            self.actions.push_back(Action::WatchClaim {
                unit: unit.to_owned(),
            });
        } else {
            self.units.remove(unit);
        }
    }

    /// The outcome of the create, recreate or delete in flight for `unit` is unknown (the
    /// request was written, then the connection was lost or the request timed out). The core
    /// asks for an [`Action::Resolve`] (a delete is simply sent again) as soon as the session is
    /// proven alive.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// core.on_assignment(1, to("m1"));
    /// actions(&mut core); // Create { unit: "u" }
    /// core.on_outcome_unknown("u"); // ConnectionLoss with the create in flight
    /// assert_eq!(actions(&mut core), [Action::Resolve { unit: "u".into() }]);
    /// ```
    pub fn on_outcome_unknown(&mut self, unit: &str) {
        match self.units.get(unit).copied() {
            Some(Phase::Claiming { stale }) => {
                self.units
                    .insert(unit.to_owned(), Phase::Resolving { stale });
                if self.health != Health::Unproven {
                    self.resolve(unit);
                }
            }
            Some(Phase::Releasing(token, _)) if self.health != Health::Unproven => {
                self.actions.push_back(Action::Delete {
                    unit: unit.to_owned(),
                    token,
                });
            }
            _ => {}
        }
    }

    /// What a [`Action::Resolve`] found at `unit`'s claim node.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// core.on_assignment(1, to("m1"));
    /// actions(&mut core);
    /// core.on_outcome_unknown("u");
    /// actions(&mut core); // Resolve { unit: "u" }: the driver reads owners/u
    /// core.on_claim_observed("u", ClaimObservation::Ours(7)); // the create did happen
    /// assert_eq!(core.working().collect::<Vec<_>>(), [("u", 7)]);
    /// ```
    pub fn on_claim_observed(&mut self, unit: &str, seen: ClaimObservation) {
        let Some(Phase::Resolving { stale }) = self.units.get(unit).copied() else {
            return;
        };
        match seen {
            // The recreate did not happen: the fenced claim is still there. Its token was
            // already handed out once, so it must be replaced, never granted again.
            ClaimObservation::Ours(token) if Some(token) == stale => {
                self.units.insert(unit.to_owned(), Phase::Fenced(token));
                self.reconcile();
            }
            ClaimObservation::Ours(token) => {
                self.units
                    .insert(unit.to_owned(), Phase::Claiming { stale: None });
                self.on_claimed(unit, token);
            }
            ClaimObservation::Theirs => {
                self.units
                    .insert(unit.to_owned(), Phase::Claiming { stale: None });
                self.on_claim_taken(unit);
            }
            ClaimObservation::Absent => {
                self.units.remove(unit);
                self.reconcile();
            }
        }
    }

    /// The claim node of `unit` that another member held is gone.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// core.on_assignment(1, to("m1"));
    /// actions(&mut core);
    /// core.on_claim_taken("u");
    /// actions(&mut core); // WatchClaim { unit: "u" }
    /// core.on_claim_gone("u"); // the other member released it
    /// assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// ```
    pub fn on_claim_gone(&mut self, unit: &str) {
        if self.units.get(unit) == Some(&Phase::Waiting) {
            self.units.remove(unit);
            self.reconcile();
        }
    }

    /// The application stopped working on `unit` after a `Revoking` event.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// core.on_assignment(2, to("m2"));
    /// actions(&mut core); // Emit(Revoking { .. })
    /// core.ack_revoked("u"); // the application stopped
    /// assert_eq!(actions(&mut core), [Action::Delete { unit: "u".into(), token: 7 }]);
    /// ```
    pub fn ack_revoked(&mut self, unit: &str) {
        if let Some(Phase::Revoking(token)) = self.units.get(unit).copied() {
            let reason = if self.health == Health::Draining {
                RevokeReason::Shutdown
            } else if self.desired.contains_key(unit) {
                RevokeReason::Moved
            } else {
                RevokeReason::Removed
            };
            self.release(unit, token, Some(reason));
        }
    }

    /// The claim of `unit` was deleted (or was found already gone).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// core.on_assignment(2, to("m2"));
    /// actions(&mut core);
    /// core.ack_revoked("u");
    /// actions(&mut core); // Delete { unit: "u", token: 7 }
    /// core.on_released("u");
    /// let events = actions(&mut core);
    /// assert!(events.contains(&Action::Emit(PartitionEvent::Revoked {
    ///     unit: "u".into(), token: 7, reason: RevokeReason::Moved,
    /// })));
    /// ```
    pub fn on_released(&mut self, unit: &str) {
        if let Some(Phase::Releasing(token, reason)) = self.units.get(unit).copied() {
            self.units.remove(unit);
            if let Some(reason) = reason {
                self.emit(PartitionEvent::Revoked {
                    unit: unit.to_owned(),
                    token,
                    reason,
                });
            }
            self.reconcile();
        }
    }

    /// The session can no longer be proven alive (`reason` is [`RevokeReason::Suspended`] or
    /// [`RevokeReason::LeaseExpired`]): every unit is revoked at once.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// core.on_unproven(RevokeReason::Suspended); // disconnected: stop at once
    /// assert_eq!(core.working().count(), 0);
    /// let events = actions(&mut core);
    /// assert!(events.iter().any(|a| matches!(a, Action::Emit(PartitionEvent::Revoked { reason: RevokeReason::Suspended, .. }))));
    /// ```
    pub fn on_unproven(&mut self, reason: RevokeReason) {
        if self.health == Health::Draining {
            return self.fence_all(reason);
        }
        self.health = Health::Unproven;
        self.fence_all(reason);
    }

    /// The session is proven alive again (reconnected in time, and the lease renewed): fenced
    /// units still assigned here are granted again with new tokens.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// core.on_unproven(RevokeReason::Suspended);
    /// actions(&mut core);
    /// core.on_proven(); // reconnected within the lease
    /// let next = actions(&mut core);
    /// assert!(next.contains(&Action::Recreate { unit: "u".into(), old: 7 })); // a new claim, a new token
    /// ```
    pub fn on_proven(&mut self) {
        if self.health == Health::Unproven {
            self.health = Health::Healthy;
        }
        // Whatever was in flight when the connection went may or may not have happened.
        let in_flight: Vec<(String, Phase)> = self
            .units
            .iter()
            .filter(|(_, p)| {
                matches!(
                    p,
                    Phase::Claiming { .. } | Phase::Resolving { .. } | Phase::Releasing(..)
                )
            })
            .map(|(u, p)| (u.clone(), *p))
            .collect();
        for (unit, phase) in in_flight {
            match phase {
                Phase::Claiming { stale } | Phase::Resolving { stale } => {
                    self.units.insert(unit.clone(), Phase::Resolving { stale });
                    self.resolve(&unit);
                }
                Phase::Releasing(token, _) => {
                    self.actions.push_back(Action::Delete { unit, token })
                }
                _ => {}
            }
        }
        self.reconcile();
    }

    fn resolve(&mut self, unit: &str) {
        self.actions.push_back(Action::Resolve {
            unit: unit.to_owned(),
        });
    }

    /// The session expired: the server deleted every claim. Every unit is revoked; the member
    /// starts over (the driver re-joins with a new session and calls [`on_proven`](Self::on_proven)).
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// core.on_session_expired(); // the server deleted every claim
    /// assert_eq!(core.working().count(), 0);
    /// assert!(actions(&mut core).contains(&Action::Emit(PartitionEvent::Revoked {
    ///     unit: "u".into(), token: 7, reason: RevokeReason::SessionExpired,
    /// })));
    /// ```
    pub fn on_session_expired(&mut self) {
        let units: Vec<(String, Phase)> = std::mem::take(&mut self.units).into_iter().collect();
        for (unit, phase) in units {
            if let Phase::Owned(token) | Phase::Revoking(token) = phase {
                self.emit(PartitionEvent::Revoked {
                    unit,
                    token,
                    reason: RevokeReason::SessionExpired,
                });
            }
        }
        if self.health != Health::Draining {
            self.health = Health::Unproven;
        }
    }

    /// Start draining: every owned unit is revoked cooperatively, nothing new is claimed.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use std::time::Duration;
    /// use zk_recipes::partition::{Action, ClaimObservation, MemberCore, PartitionEvent, RevokeReason};
    /// # fn actions(core: &mut MemberCore) -> Vec<Action> { std::iter::from_fn(|| core.poll_action()).collect() }
    /// let to = |owner: &str| BTreeMap::from([("u".to_string(), Some(owner.to_string()))]);
    /// let mut core = MemberCore::new("m1", Duration::from_secs(10));
    /// # core.on_assignment(1, to("m1"));
    /// # assert_eq!(actions(&mut core), [Action::Create { unit: "u".into() }]);
    /// # core.on_claimed("u", 7);
    /// # assert_eq!(actions(&mut core), [Action::Emit(PartitionEvent::Assigned { unit: "u".into(), token: 7 })]);
    /// core.drain(); // shutdown: every owned unit is revoked cooperatively
    /// assert!(matches!(&actions(&mut core)[..], [Action::Emit(PartitionEvent::Revoking { .. })]));
    /// ```
    pub fn drain(&mut self) {
        self.health = Health::Draining;
        self.reconcile();
    }

    /// The unit's phase and the member's health, for test failure messages.
    #[cfg(test)]
    pub(crate) fn describe(&self, unit: &str) -> String {
        format!(
            "{}: {:?}, health {:?}, generation {}",
            self.me,
            self.units.get(unit),
            self.health,
            self.generation
        )
    }

    fn wants(&self, unit: &str) -> bool {
        self.health == Health::Healthy
            && self.desired.get(unit).and_then(Option::as_deref) == Some(self.me.as_str())
    }

    fn emit(&mut self, event: PartitionEvent) {
        self.actions.push_back(Action::Emit(event));
    }

    fn release(&mut self, unit: &str, token: Token, reason: Option<RevokeReason>) {
        self.units
            .insert(unit.to_owned(), Phase::Releasing(token, reason));
        self.actions.push_back(Action::Delete {
            unit: unit.to_owned(),
            token,
        });
    }

    fn fence_all(&mut self, reason: RevokeReason) {
        let owned: Vec<(String, Token)> = self
            .units
            .iter()
            .filter_map(|(u, p)| match p {
                Phase::Owned(t) | Phase::Revoking(t) => Some((u.clone(), *t)),
                _ => None,
            })
            .collect();
        for (unit, token) in owned {
            self.units.insert(unit.clone(), Phase::Fenced(token));
            self.emit(PartitionEvent::Revoked {
                unit,
                token,
                reason,
            });
        }
        // Waiting needs no claim of ours; forget it and decide again when proven.
        self.units.retain(|_, p| *p != Phase::Waiting);
    }

    /// Brings the units in line with the assignment and the member's health.
    fn reconcile(&mut self) {
        let mut names: BTreeSet<String> = self.units.keys().cloned().collect();
        if self.health == Health::Healthy {
            names.extend(
                self.desired
                    .iter()
                    .filter(|(_, o)| o.as_deref() == Some(self.me.as_str()))
                    .map(|(u, _)| u.clone()),
            );
        }
        for unit in names {
            let wanted = self.wants(&unit);
            match self.units.get(&unit).copied() {
                None if wanted => {
                    self.units
                        .insert(unit.clone(), Phase::Claiming { stale: None });
                    self.actions.push_back(Action::Create { unit });
                }
                Some(Phase::Owned(token)) if !wanted => {
                    if self.health == Health::Draining || self.desired.contains_key(&unit) {
                        self.units.insert(unit.clone(), Phase::Revoking(token));
                        self.emit(PartitionEvent::Revoking {
                            unit,
                            token,
                            deadline: self.revoke_deadline,
                        });
                    } else {
                        // The unit was removed: nothing to hand over, stop now.
                        self.emit(PartitionEvent::Revoked {
                            unit: unit.clone(),
                            token,
                            reason: RevokeReason::Removed,
                        });
                        self.release(&unit, token, None);
                    }
                }
                Some(Phase::Fenced(old)) if wanted => {
                    self.units
                        .insert(unit.clone(), Phase::Claiming { stale: Some(old) });
                    self.actions.push_back(Action::Recreate { unit, old });
                }
                Some(Phase::Fenced(token)) if self.health != Health::Unproven => {
                    self.release(&unit, token, None);
                }
                Some(Phase::Waiting) if !wanted => {
                    self.units.remove(&unit);
                }
                _ => {}
            }
        }
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
