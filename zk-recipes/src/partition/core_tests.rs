//! Unit tests of the member state machine, one rule each. The seeded simulation of many members
//! against a simulated ZooKeeper is in `sim.rs`.

use super::*;

fn assignment(pairs: &[(&str, Option<&str>)]) -> BTreeMap<String, Option<String>> {
    pairs
        .iter()
        .map(|(u, o)| ((*u).to_owned(), o.map(str::to_owned)))
        .collect()
}

fn drain(core: &mut MemberCore) -> Vec<Action> {
    std::iter::from_fn(|| core.poll_action()).collect()
}

fn create(unit: &str) -> Action {
    Action::Create { unit: unit.into() }
}

fn assigned(unit: &str, token: Token) -> Action {
    Action::Emit(PartitionEvent::Assigned {
        unit: unit.into(),
        token,
    })
}

fn revoked(unit: &str, token: Token, reason: RevokeReason) -> Action {
    Action::Emit(PartitionEvent::Revoked {
        unit: unit.into(),
        token,
        reason,
    })
}

const DEADLINE: Duration = Duration::from_secs(5);

#[test]
fn claims_what_is_assigned_and_reports_the_token() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a")), ("u2", Some("b"))]));
    assert_eq!(drain(&mut core), vec![create("u1")]);
    core.on_claimed("u1", 100);
    assert_eq!(drain(&mut core), vec![assigned("u1", 100)]);
    assert_eq!(core.working().collect::<Vec<_>>(), vec![("u1", 100)]);
    // An older generation is ignored.
    core.on_assignment(0, assignment(&[("u1", Some("b"))]));
    assert!(drain(&mut core).is_empty());
}

#[test]
fn a_taken_claim_is_watched_and_retried_when_gone() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a"))]));
    drain(&mut core);
    core.on_claim_taken("u1");
    assert_eq!(
        drain(&mut core),
        vec![Action::WatchClaim { unit: "u1".into() }]
    );
    assert_eq!(core.working().count(), 0);
    core.on_claim_gone("u1");
    assert_eq!(drain(&mut core), vec![create("u1")]);
}

#[test]
fn a_moving_unit_is_released_only_after_the_ack() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a"))]));
    drain(&mut core);
    core.on_claimed("u1", 7);
    drain(&mut core);
    core.on_assignment(2, assignment(&[("u1", Some("b"))]));
    assert_eq!(
        drain(&mut core),
        vec![Action::Emit(PartitionEvent::Revoking {
            unit: "u1".into(),
            token: 7,
            deadline: DEADLINE
        })]
    );
    // Still working until the application says it stopped.
    assert_eq!(core.working().count(), 1);
    core.ack_revoked("u1");
    assert_eq!(
        drain(&mut core),
        vec![Action::Delete {
            unit: "u1".into(),
            token: 7
        }]
    );
    assert_eq!(core.working().count(), 0);
    core.on_released("u1");
    assert_eq!(
        drain(&mut core),
        vec![revoked("u1", 7, RevokeReason::Moved)]
    );
    assert!(core.is_idle());
}

#[test]
fn a_removed_unit_stops_at_once() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a"))]));
    drain(&mut core);
    core.on_claimed("u1", 7);
    drain(&mut core);
    core.on_assignment(2, assignment(&[]));
    assert_eq!(
        drain(&mut core),
        vec![
            revoked("u1", 7, RevokeReason::Removed),
            Action::Delete {
                unit: "u1".into(),
                token: 7
            }
        ]
    );
}

#[test]
fn suspension_fences_everything_and_recovery_regrants_with_a_new_claim() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a")), ("u2", Some("a"))]));
    drain(&mut core);
    core.on_claimed("u1", 7);
    drain(&mut core);
    // u2's create is still in flight when the connection drops.
    core.on_unproven(RevokeReason::Suspended);
    assert_eq!(
        drain(&mut core),
        vec![revoked("u1", 7, RevokeReason::Suspended)]
    );
    assert_eq!(core.working().count(), 0);
    // The in-flight create lands: kept fenced, not handed out.
    core.on_claimed("u2", 8);
    assert!(drain(&mut core).is_empty());
    assert_eq!(core.working().count(), 0);
    // Nothing is granted while unproven, even on a new assignment.
    core.on_assignment(2, assignment(&[("u1", Some("a")), ("u2", Some("a"))]));
    assert!(drain(&mut core).is_empty());
    core.on_proven();
    assert_eq!(
        drain(&mut core),
        vec![
            Action::Recreate {
                unit: "u1".into(),
                old: 7
            },
            Action::Recreate {
                unit: "u2".into(),
                old: 8
            }
        ]
    );
    core.on_claimed("u1", 20);
    assert_eq!(drain(&mut core), vec![assigned("u1", 20)]);
}

#[test]
fn a_fenced_unit_that_moved_meanwhile_is_released_without_a_second_event() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a"))]));
    drain(&mut core);
    core.on_claimed("u1", 7);
    drain(&mut core);
    core.on_unproven(RevokeReason::LeaseExpired);
    drain(&mut core);
    core.on_assignment(2, assignment(&[("u1", Some("b"))]));
    core.on_proven();
    assert_eq!(
        drain(&mut core),
        vec![Action::Delete {
            unit: "u1".into(),
            token: 7
        }]
    );
    core.on_released("u1");
    assert!(drain(&mut core).is_empty());
}

#[test]
fn expiry_revokes_everything_and_forgets_the_claims() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a"))]));
    drain(&mut core);
    core.on_claimed("u1", 7);
    drain(&mut core);
    core.on_session_expired();
    assert_eq!(
        drain(&mut core),
        vec![revoked("u1", 7, RevokeReason::SessionExpired)]
    );
    core.on_proven();
    assert_eq!(drain(&mut core), vec![create("u1")]);
}

#[test]
fn drain_revokes_cooperatively_and_claims_nothing_new() {
    let mut core = MemberCore::new("a", DEADLINE);
    core.on_assignment(1, assignment(&[("u1", Some("a"))]));
    drain(&mut core);
    core.on_claimed("u1", 7);
    drain(&mut core);
    core.drain();
    assert!(matches!(
        drain(&mut core).as_slice(),
        [Action::Emit(PartitionEvent::Revoking { .. })]
    ));
    core.on_assignment(2, assignment(&[("u1", Some("a")), ("u2", Some("a"))]));
    assert!(drain(&mut core).is_empty());
    core.ack_revoked("u1");
    drain(&mut core);
    core.on_released("u1");
    assert_eq!(
        drain(&mut core),
        vec![revoked("u1", 7, RevokeReason::Shutdown)]
    );
    assert!(core.is_idle());
}
