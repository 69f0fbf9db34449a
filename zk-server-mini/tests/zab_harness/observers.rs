//! Observers in the simulation: what an observer may send (anything that would decide is a
//! violation).

use zk_server_mini::zab::{Message, PeerId};

use super::{Sim, Violation};

impl Sim {
    /// An observer may introduce itself, take an epoch, acknowledge its sync, answer pings
    /// and forward client requests; anything that would decide (a vote that settles, an
    /// acknowledged proposal, leading) is a violation.
    pub(super) fn check_observer_message(&mut self, from: PeerId, message: &Message) {
        let what = match message {
            Message::Vote {
                settled: Some(_), ..
            } => "told a voter whom it follows",
            Message::LeaderInfo { .. } => "offered an epoch",
            Message::Sync { .. } | Message::UpToDate { .. } => "synced a member",
            Message::Proposal { .. } | Message::Inform { .. } | Message::Commit { .. } => {
                "proposed or committed"
            }
            Message::Ack { .. } => "acknowledged a proposal",
            Message::Ping { .. } | Message::ReadIndexReply { .. } => "acted as a leader",
            _ => return,
        };
        self.checker.fail(Violation::ObserverDecided {
            member: from,
            what: what.into(),
        });
    }
}
