//! Observers in election, packet by packet: an observer never elects anyone (itself
//! included), joins only a leader a quorum of voters reports, and its votes never count.

use super::*;

fn observer_config(id: PeerId) -> Config {
    Config::new(id, vec![1, 2, 3]).with_observers(vec![4, 5])
}

fn settled_vote(p: &mut Peer, from: PeerId, leader: PeerId) {
    let vote = Vote {
        current_epoch: 0,
        last_zxid: 0,
        id: leader,
    };
    p.step(Input::Message {
        from,
        message: Message::Vote {
            round: 1,
            vote,
            settled: Some(leader),
            applied_change: 0,
        },
    });
}

#[test]
fn an_observer_alone_with_one_voter_never_leads_and_only_asks_voters() {
    let config = Config::new(2, vec![1]).with_observers(vec![2]);
    let mut p = Peer::new(config, Recovered::default()).unwrap_or_else(|e| panic!("{e}"));
    for _ in 0..50 {
        p.step(Input::Tick);
        for out in p.take_outputs() {
            match out {
                Output::Send { to, message } => {
                    assert_eq!(to, 1);
                    assert!(
                        matches!(message, Message::Vote { settled: None, .. }),
                        "{message:?}"
                    );
                }
                Output::Persist { .. } => {
                    panic!("an observer that decides nothing persists nothing")
                }
                _ => {}
            }
        }
    }
    assert_eq!(p.role(), Role::Looking);
    assert!(p.is_observer());
}

#[test]
fn an_observer_joins_the_leader_a_quorum_of_voters_reports() {
    let mut p =
        Peer::new(observer_config(4), Recovered::default()).unwrap_or_else(|e| panic!("{e}"));
    p.take_outputs();
    // The leader alone says it leads: one voter is no quorum of three.
    settled_vote(&mut p, 3, 3);
    assert_eq!(p.role(), Role::Looking);
    // Another observer's word counts for nothing.
    settled_vote(&mut p, 5, 3);
    assert_eq!(p.role(), Role::Looking);
    // A second voter follows it: two of three.
    settled_vote(&mut p, 1, 3);
    assert_eq!(p.role(), Role::Observing { leader: 3 });
    let outs = p.take_outputs();
    assert!(outs.iter().any(|o| matches!(
        o,
        Output::Send {
            to: 3,
            message: Message::FollowerInfo { .. }
        }
    )));
}

#[test]
fn an_observers_vote_never_counts_and_a_settled_voter_tells_it_the_leader() {
    let mut p =
        Peer::new(observer_config(1), Recovered::default()).unwrap_or_else(|e| panic!("{e}"));
    p.take_outputs();
    // Member 1's own vote echoed by the observer would make two of three.
    let own = p.own_vote();
    p.step(Input::Message {
        from: 4,
        message: Message::Vote {
            round: 1,
            vote: own,
            settled: None,
            applied_change: 0,
        },
    });
    assert_eq!(p.role(), Role::Looking);
    assert!(
        p.take_outputs().is_empty(),
        "a looking voter does not answer an observer"
    );
    // A voter's vote does make it: member 1 leads, and tells the observer so.
    p.step(Input::Message {
        from: 2,
        message: Message::Vote {
            round: 1,
            vote: own,
            settled: None,
            applied_change: 0,
        },
    });
    assert_eq!(p.role(), Role::Leading);
    p.take_outputs();
    p.step(Input::Message {
        from: 4,
        message: Message::Vote {
            round: 1,
            vote: own,
            settled: None,
            applied_change: 0,
        },
    });
    let outs = p.take_outputs();
    assert!(
        outs.iter().any(|o| matches!(
            o,
            Output::Send {
                to: 4,
                message: Message::Vote {
                    settled: Some(1),
                    ..
                }
            }
        )),
        "{outs:?}"
    );
}

#[test]
fn an_observer_leaves_a_leader_whose_connection_closed() {
    let mut p =
        Peer::new(observer_config(4), Recovered::default()).unwrap_or_else(|e| panic!("{e}"));
    settled_vote(&mut p, 3, 3);
    settled_vote(&mut p, 1, 3);
    assert_eq!(p.role(), Role::Observing { leader: 3 });
    p.step(Input::PeerLost { peer: 1 });
    assert_eq!(p.role(), Role::Observing { leader: 3 }, "not its leader");
    p.step(Input::PeerLost { peer: 3 });
    assert_eq!(p.role(), Role::Looking);
}
