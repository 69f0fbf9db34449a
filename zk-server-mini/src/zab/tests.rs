//! Packet-by-packet tests of one member against a scripted leader (in the spirit of
//! ZooKeeper's `Zab1_0Test`); whole ensembles are tested by the simulation in
//! `tests/zab_sim.rs` and `tests/zab_bugs.rs`.

use bytes::Bytes;

use super::*;
use crate::zxid::make;

fn entry(z: i64) -> Entry {
    Entry {
        zxid: z,
        payload: Bytes::from(format!("e{z:x}")),
    }
}

fn from_leader(p: &mut Peer, message: Message) -> Vec<Output> {
    p.step(Input::Message { from: 3, message });
    p.take_outputs()
}

/// Reports every persist request in `outs` as durable; returns what followed.
fn persist_all(p: &mut Peer, outs: &[Output]) -> Vec<Output> {
    let last = outs
        .iter()
        .filter_map(|o| match o {
            Output::Persist { id, .. } => Some(*id),
            _ => None,
        })
        .max();
    match last {
        Some(id) => {
            p.step(Input::Persisted { id });
            p.take_outputs()
        }
        None => Vec::new(),
    }
}

fn sent(outs: &[Output]) -> Vec<&Message> {
    outs.iter()
        .filter_map(|o| match o {
            Output::Send { message, .. } => Some(message),
            _ => None,
        })
        .collect()
}

/// Member 2 of {1, 2, 3}, elected 3 and synced (DIFF) into epoch 1 with `log`.
fn serving_follower(log: Vec<Entry>) -> Peer {
    let recovered = Recovered {
        log,
        ..Recovered::default()
    };
    let mut p =
        Peer::new(Config::new(2, vec![1, 2, 3]), recovered).unwrap_or_else(|e| panic!("{e}"));
    p.take_outputs();
    let vote = Vote {
        current_epoch: 0,
        last_zxid: p.last_logged() + 1,
        id: 3,
    };
    for from in [3, 1] {
        p.step(Input::Message {
            from,
            message: Message::Vote {
                round: 1,
                vote,
                settled: None,
                applied_change: 0,
            },
        });
    }
    assert_eq!(p.role(), Role::Following { leader: 3 });
    p.take_outputs();
    let outs = from_leader(&mut p, Message::LeaderInfo { epoch: 1 });
    assert!(
        sent(&outs).is_empty(),
        "acked the epoch before it was durable"
    );
    let outs = persist_all(&mut p, &outs);
    assert!(matches!(
        sent(&outs)[..],
        [Message::AckEpoch {
            epoch: 1,
            fresh: true,
            ..
        }]
    ));
    let last = p.last_logged();
    let outs = from_leader(
        &mut p,
        Message::Sync {
            epoch: 1,
            follower_last: last,
            mode: SyncMode::Diff,
            entries: vec![],
            committed: last,
        },
    );
    assert!(
        sent(&outs).is_empty(),
        "acked NEWLEADER before it was durable"
    );
    let outs = persist_all(&mut p, &outs);
    assert!(matches!(
        sent(&outs)[..],
        [Message::AckNewLeader { epoch: 1, .. }]
    ));
    let outs = from_leader(
        &mut p,
        Message::UpToDate {
            epoch: 1,
            committed: last,
        },
    );
    assert!(outs.contains(&Output::Serving(true)));
    p
}

#[test]
fn proposals_are_acked_after_persistence_in_order_and_gaps_are_refused() {
    let mut p = serving_follower(vec![]);
    let outs = from_leader(
        &mut p,
        Message::Proposal {
            epoch: 1,
            entry: entry(make(1, 1)),
        },
    );
    assert!(
        sent(&outs).is_empty(),
        "acked before the append was durable"
    );
    let outs = persist_all(&mut p, &outs);
    assert_eq!(
        sent(&outs),
        vec![&Message::Ack {
            epoch: 1,
            zxid: make(1, 1)
        }]
    );
    // A duplicate changes nothing.
    let outs = from_leader(
        &mut p,
        Message::Proposal {
            epoch: 1,
            entry: entry(make(1, 1)),
        },
    );
    assert!(outs.is_empty(), "{outs:?}");
    // A hole: refused, nothing logged, the follower starts over with its leader.
    let outs = from_leader(
        &mut p,
        Message::Proposal {
            epoch: 1,
            entry: entry(make(1, 3)),
        },
    );
    assert_eq!(p.last_logged(), make(1, 1));
    assert!(!outs.iter().any(|o| matches!(o, Output::Persist { .. })));
    assert!(
        sent(&outs)
            .iter()
            .any(|m| matches!(m, Message::FollowerInfo { .. }))
    );
    assert!(!p.is_serving());
}

#[test]
fn only_committed_entries_are_applied_and_a_commit_beyond_the_log_resyncs() {
    let mut p = serving_follower(vec![]);
    for c in 1..=2 {
        let outs = from_leader(
            &mut p,
            Message::Proposal {
                epoch: 1,
                entry: entry(make(1, c)),
            },
        );
        persist_all(&mut p, &outs);
    }
    assert_eq!(p.applied(), 0);
    let outs = from_leader(
        &mut p,
        Message::Commit {
            epoch: 1,
            zxid: make(1, 1),
        },
    );
    assert_eq!(outs, vec![Output::Apply(entry(make(1, 1)))]);
    // A commit of something never received: proposals were lost.
    let outs = from_leader(
        &mut p,
        Message::Commit {
            epoch: 1,
            zxid: make(1, 5),
        },
    );
    assert_eq!(p.applied(), make(1, 1));
    assert!(!outs.iter().any(|o| matches!(o, Output::Apply(_))));
    assert!(!p.is_serving());
}

#[test]
fn messages_of_another_epoch_are_ignored() {
    let mut p = serving_follower(vec![]);
    let outs = from_leader(
        &mut p,
        Message::Proposal {
            epoch: 7,
            entry: entry(make(7, 1)),
        },
    );
    assert!(outs.is_empty());
    assert_eq!(p.last_logged(), 0);
}

#[test]
fn a_trunc_below_what_was_applied_is_refused() {
    let log = vec![entry(make(1, 1)), entry(make(1, 2))];
    let mut p = Peer::new(
        Config::new(2, vec![1, 2, 3]),
        Recovered {
            accepted_epoch: 1,
            current_epoch: 1,
            snapshot: Some(Snapshot {
                zxid: make(1, 1),
                data: Bytes::new(),
            }),
            log,
        },
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((p.applied(), p.last_logged()), (make(1, 1), make(1, 2)));
    p.take_outputs();
    let vote = Vote {
        current_epoch: 1,
        last_zxid: make(1, 2),
        id: 3,
    };
    for from in [3, 1] {
        p.step(Input::Message {
            from,
            message: Message::Vote {
                round: 1,
                vote,
                settled: None,
                applied_change: 0,
            },
        });
    }
    let outs = from_leader(&mut p, Message::LeaderInfo { epoch: 2 });
    persist_all(&mut p, &outs);
    let outs = from_leader(
        &mut p,
        Message::Sync {
            epoch: 2,
            follower_last: make(1, 2),
            mode: SyncMode::Trunc(0),
            entries: vec![],
            committed: 0,
        },
    );
    assert!(!outs.iter().any(|o| matches!(o, Output::Persist { .. })));
    assert_eq!(p.last_logged(), make(1, 2));
    assert_eq!(p.role(), Role::Looking);
    assert_eq!(p.current_epoch(), 1);
}

#[test]
fn recovery_refuses_a_log_with_a_hole() {
    let log = vec![entry(make(1, 1)), entry(make(1, 3))];
    let err = Peer::new(
        Config::new(1, vec![1]),
        Recovered {
            log,
            ..Recovered::default()
        },
    )
    .err();
    assert_eq!(
        err,
        Some(StartError::Discontinuous {
            previous: make(1, 1),
            zxid: make(1, 3)
        })
    );
}

#[test]
fn a_non_member_cannot_talk_to_the_core() {
    let mut p = serving_follower(vec![]);
    p.step(Input::Message {
        from: 9,
        message: Message::Commit {
            epoch: 1,
            zxid: make(1, 1),
        },
    });
    assert!(p.take_outputs().is_empty());
}

/// Found by the simulation (seed 102521 of 5 members, before the fix): a duplicated sync
/// from earlier in the same epoch reached a follower that was waiting for a new one, and
/// its SNAP took the follower back below entries it had acknowledged.
#[test]
fn a_stale_sync_of_the_same_epoch_is_ignored() {
    let mut p = serving_follower(vec![]);
    for c in 1..=3 {
        let outs = from_leader(
            &mut p,
            Message::Proposal {
                epoch: 1,
                entry: entry(make(1, c)),
            },
        );
        persist_all(&mut p, &outs);
    }
    // A gap makes it start over with the same leader.
    from_leader(
        &mut p,
        Message::Proposal {
            epoch: 1,
            entry: entry(make(1, 9)),
        },
    );
    let outs = from_leader(&mut p, Message::LeaderInfo { epoch: 1 });
    assert!(sent(&outs).iter().any(|m| matches!(
        m,
        Message::AckEpoch { last_zxid, .. } if *last_zxid == make(1, 3)
    )));
    // The old sync (planned from zxid 0) arrives again: ignored.
    let outs = from_leader(
        &mut p,
        Message::Sync {
            epoch: 1,
            follower_last: 0,
            mode: SyncMode::Snap(Snapshot {
                zxid: 0,
                data: Bytes::new(),
            }),
            entries: vec![entry(make(1, 1))],
            committed: 0,
        },
    );
    assert!(outs.is_empty(), "{outs:?}");
    assert_eq!(p.last_logged(), make(1, 3));
    // The answer to the current ACKEPOCH is taken.
    let outs = from_leader(
        &mut p,
        Message::Sync {
            epoch: 1,
            follower_last: make(1, 3),
            mode: SyncMode::Diff,
            entries: vec![entry(make(1, 4))],
            committed: make(1, 4),
        },
    );
    assert!(outs.iter().any(|o| matches!(o, Output::Persist { .. })));
    assert_eq!(p.last_logged(), make(1, 4));
    assert_eq!(p.applied(), make(1, 4));
}

/// Found by the simulation (seed 453, sessions workload): the leader's last proposal was
/// lost on the way to every follower, and nothing revealed the gap, so it never committed.
/// The ping names the leader's last proposal; a follower that has less starts over. And a
/// follower resends its latest ack in every ping answer, in case the ACK itself was lost.
#[test]
fn a_lost_last_proposal_and_a_lost_ack_are_recovered_through_pings() {
    let mut p = serving_follower(vec![]);
    let outs = from_leader(
        &mut p,
        Message::Proposal {
            epoch: 1,
            entry: entry(make(1, 1)),
        },
    );
    persist_all(&mut p, &outs); // its ACK is "lost": the test drops it
    let outs = from_leader(
        &mut p,
        Message::Ping {
            epoch: 1,
            committed: 0,
            last: make(1, 1),
            round: 0,
        },
    );
    assert!(
        sent(&outs)
            .iter()
            .any(|m| matches!(m, Message::PingAck { acked, .. } if *acked == make(1, 1))),
        "{outs:?}"
    );
    // The leader proposed (1,2), which never arrived.
    let outs = from_leader(
        &mut p,
        Message::Ping {
            epoch: 1,
            committed: 0,
            last: make(1, 2),
            round: 0,
        },
    );
    assert!(
        sent(&outs)
            .iter()
            .any(|m| matches!(m, Message::FollowerInfo { .. })),
        "{outs:?}"
    );
    assert!(!p.is_serving());
}

/// Member 3 of {1, 2, 3}, elected by 1 and 2.
fn elected_leader() -> Peer {
    let mut p = Peer::new(Config::new(3, vec![1, 2, 3]), Recovered::default())
        .unwrap_or_else(|e| panic!("{e}"));
    let vote = p.own_vote();
    for from in [1, 2] {
        p.step(Input::Message {
            from,
            message: Message::Vote {
                round: 1,
                vote,
                settled: None,
                applied_change: 0,
            },
        });
    }
    assert_eq!(p.role(), Role::Leading);
    p.take_outputs();
    p
}

fn from(p: &mut Peer, from: PeerId, message: Message) -> Vec<Output> {
    p.step(Input::Message { from, message });
    p.take_outputs()
}

fn ack_epoch(fresh: bool) -> Message {
    Message::AckEpoch {
        epoch: 1,
        fresh,
        current_epoch: 0,
        last_zxid: 0,
    }
}

/// Two would-be leaders can never both collect a quorum for one epoch: only an ACKEPOCH
/// whose sender persisted the epoch just now counts.
#[test]
fn only_fresh_epoch_acks_count_towards_the_quorum() {
    let mut p = elected_leader();
    let outs = from(&mut p, 1, Message::FollowerInfo { accepted_epoch: 0 });
    assert_eq!(
        outs.iter().find_map(|o| match o {
            Output::Persist { op, .. } => Some(op.clone()),
            _ => None,
        }),
        Some(PersistOp::AcceptedEpoch(1))
    );
    persist_all(&mut p, &outs);
    let outs = from(&mut p, 1, ack_epoch(false));
    assert!(
        !outs.iter().any(|o| matches!(o, Output::Persist { .. })),
        "a repeated ack counted: {outs:?}"
    );
    from(&mut p, 2, Message::FollowerInfo { accepted_epoch: 0 });
    let outs = from(&mut p, 2, ack_epoch(true));
    assert!(outs.contains(&Output::Persist {
        id: 2,
        op: PersistOp::CurrentEpoch(1)
    }));
}

/// The leader serves only once a quorum acknowledged NEWLEADER, and only an ack of the
/// sync it sent last counts.
#[test]
fn the_leader_serves_after_a_quorum_of_newleader_acks() {
    let mut p = elected_leader();
    let outs = from(&mut p, 1, Message::FollowerInfo { accepted_epoch: 0 });
    persist_all(&mut p, &outs);
    let outs = from(&mut p, 1, ack_epoch(true));
    let outs = persist_all(&mut p, &outs);
    assert!(
        sent(&outs)
            .iter()
            .any(|m| matches!(m, Message::Sync { .. })),
        "{outs:?}"
    );
    assert!(!p.is_serving());
    // An ack naming another sync position: ignored.
    let outs = from(
        &mut p,
        1,
        Message::AckNewLeader {
            epoch: 1,
            zxid: make(0, 5),
        },
    );
    assert!(!outs.contains(&Output::Serving(true)));
    let outs = from(&mut p, 1, Message::AckNewLeader { epoch: 1, zxid: 0 });
    assert!(outs.contains(&Output::Serving(true)), "{outs:?}");
    assert_eq!(p.leading_epoch(), Some(1));
    assert!(p.propose(Bytes::from_static(b"x")).is_ok());
}

/// A member that promised a later epoch can never join this one: the leader steps down so
/// that the next election picks an epoch it can accept.
#[test]
fn a_leader_steps_down_when_a_member_accepted_a_later_epoch() {
    let mut p = elected_leader();
    let outs = from(&mut p, 1, Message::FollowerInfo { accepted_epoch: 0 });
    persist_all(&mut p, &outs);
    from(
        &mut p,
        1,
        Message::RejectEpoch {
            epoch: 1,
            accepted_epoch: 4,
        },
    );
    assert_eq!(p.role(), Role::Looking);
}

/// Member 1 of {1, 2, 3} settled on 2 with 2's early vote, but 2 went on to follow 3: 1
/// sends 2 its FOLLOWERINFO, 2 answers whom it follows, and 1 looks again at once (and,
/// hearing the leader's own claim, joins it) instead of waiting `init_limit` ticks for a
/// sync from a member that does not lead.
#[test]
fn a_member_that_follows_a_non_leader_learns_it_from_its_followerinfo() {
    let own = |id| Vote {
        current_epoch: 0,
        last_zxid: 0,
        id,
    };
    let vote = |vote, settled| Message::Vote {
        round: 1,
        vote,
        settled,
        applied_change: 0,
    };
    // Member 2, following 3: a FOLLOWERINFO from 1 is answered with whom 2 follows.
    let mut two = Peer::new(Config::new(2, vec![1, 2, 3]), Recovered::default())
        .unwrap_or_else(|e| panic!("{e}"));
    two.take_outputs();
    from(&mut two, 3, vote(own(3), None));
    from(&mut two, 1, vote(own(3), None));
    assert_eq!(two.role(), Role::Following { leader: 3 });
    let outs = from(&mut two, 1, Message::FollowerInfo { accepted_epoch: 0 });
    let told = vote(own(2), Some(3));
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Send { to: 1, message } if *message == told)),
        "{outs:?}"
    );
    // Member 1, following 2 in discovery: the answer sends it looking, and the leader's
    // claim then makes it join 3.
    let mut one = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())
        .unwrap_or_else(|e| panic!("{e}"));
    one.take_outputs();
    from(&mut one, 2, vote(own(2), None));
    assert_eq!(one.role(), Role::Following { leader: 2 });
    from(&mut one, 2, told);
    assert_eq!(one.role(), Role::Looking);
    from(&mut one, 3, vote(own(3), Some(3)));
    assert_eq!(one.role(), Role::Following { leader: 3 });
}

fn vote_msg(round: u64, id: PeerId, settled: Option<PeerId>) -> Message {
    Message::Vote {
        round,
        vote: Vote {
            current_epoch: 0,
            last_zxid: 0,
            id,
        },
        settled,
        applied_change: 0,
    }
}

/// A looking member answers a FOLLOWERINFO with its vote; a follower in discovery whose
/// would-be leader still looks, voting for another, looks again at once, in that same
/// round (a new round would restart everyone's votes), with the vote it heard counted.
#[test]
fn a_looking_member_answers_a_followerinfo_with_its_vote() {
    // Member 3, looking, voting for 2 (2's vote is better than its own).
    let mut three = Peer::new(Config::new(3, vec![1, 2, 3]), Recovered::default())
        .unwrap_or_else(|e| panic!("{e}"));
    three.take_outputs();
    let round = 1;
    let outs = from(&mut three, 1, Message::FollowerInfo { accepted_epoch: 0 });
    assert!(
        outs.iter().any(|o| matches!(o,
            Output::Send { to: 1, message: Message::Vote { settled: None, vote, .. } } if vote.id == 3)),
        "{outs:?}"
    );
    // Member 1 settled on 3 (with 2's vote), then hears 3 vote for 2 in that round.
    let mut one = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())
        .unwrap_or_else(|e| panic!("{e}"));
    one.take_outputs();
    from(&mut one, 2, vote_msg(round, 3, None));
    assert_eq!(one.role(), Role::Following { leader: 3 });
    let outs = from(&mut one, 3, vote_msg(round, 2, None));
    // It looked again in that round (its votes say round 1), and 3's vote for 2, better
    // than its own, counted at once: 1 and 3 make a quorum for 2.
    assert!(
        outs.iter().any(|o| matches!(
            o,
            Output::Send {
                message: Message::Vote {
                    round: 1,
                    settled: None,
                    ..
                },
                ..
            }
        )),
        "{outs:?}"
    );
    assert_eq!(one.role(), Role::Following { leader: 2 });
}

/// A looking member that votes for itself leads once a quorum says it follows it in this
/// round (its own vote never reached them all); what an earlier round settled on does not
/// count.
#[test]
fn a_member_that_a_quorum_follows_in_its_round_leads() {
    let mut one = Peer::new(Config::new(1, vec![1, 2, 3]), Recovered::default())
        .unwrap_or_else(|e| panic!("{e}"));
    one.take_outputs();
    let round = 1;
    // Followers of 1 from an earlier round: nothing.
    from(&mut one, 2, vote_msg(round - 1, 2, Some(1)));
    assert_eq!(one.role(), Role::Looking);
    from(&mut one, 2, vote_msg(round, 2, Some(1)));
    assert_eq!(one.role(), Role::Leading);
}

/// A member whose vote names an older membership is sent the newer one; a looking member
/// adopts a newer one (and looks again under it), never an older one.
#[test]
fn a_looking_member_adopts_a_newer_membership_it_is_told_of() {
    let dynamic = |id, members: Vec<PeerId>, version| {
        let mut c = Config::new(id, members);
        c.membership = Some(MembershipDecoder(|_| None));
        c.membership_version = version;
        c
    };
    // Member 4 knows the change at 0x1_0000_0009 (voters 1, 4, 6): a vote naming 0x5 gets
    // the membership back.
    let mut four = Peer::new(
        dynamic(4, vec![1, 4, 6], 0x1_0000_0009),
        Recovered::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    four.take_outputs();
    let stale = Message::Vote {
        round: 1,
        vote: Vote {
            current_epoch: 0,
            last_zxid: 0,
            id: 1,
        },
        settled: None,
        applied_change: 0x1_0000_0005,
    };
    let outs = from(&mut four, 1, stale);
    let told = Message::Membership {
        version: 0x1_0000_0009,
        members: Members::new([1, 4, 6], []),
    };
    assert!(
        outs.iter()
            .any(|o| matches!(o, Output::Send { to: 1, message } if *message == told)),
        "{outs:?}"
    );
    // Member 1, looking with the older view {1, 2, 3}, adopts it; an older one is ignored.
    let mut one = Peer::new(
        dynamic(1, vec![1, 2, 3], 0x1_0000_0005),
        Recovered::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    one.take_outputs();
    from(&mut one, 4, told);
    assert_eq!(one.config().members, vec![1, 4, 6]);
    assert_eq!(one.role(), Role::Looking);
    let older = Message::Membership {
        version: 0x1_0000_0007,
        members: Members::new([1, 2], []),
    };
    from(&mut one, 4, older);
    assert_eq!(one.config().members, vec![1, 4, 6]);
}
