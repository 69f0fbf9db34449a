//! The task behind each guard: turns session events, the deletion of our node and the lease
//! deadline into the guard's loss, and extends the lease with periodic probes of our node.

use std::sync::Arc;

use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use zk_client::{EventType, SessionEvent, SessionState, SessionUpdate};

use crate::flavor::ErrorPolicy;
use crate::ownership::{HoldShared, LossReason, lease_len};

/// Runs until the hold is lost or `stop` fires.
pub(crate) async fn run(
    hold: Arc<HoldShared>,
    mut events: BoxStream<'static, SessionUpdate>,
    own_watch: Option<zk_client::OneshotWatch>,
    stop: CancellationToken,
) {
    let timeout = hold.client.session_timeout();
    let lease = lease_len(timeout);
    let period = (timeout / 3).max(std::time::Duration::from_millis(50));
    let mut probe = tokio::time::interval_at(Instant::now() + period, period);
    probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut node_watch = match own_watch {
        Some(w) => Some(w),
        None => arm(&hold).await,
    };
    loop {
        if hold.check().is_some() {
            return;
        }
        let until = hold.valid_until_now(hold.tx.borrow().valid_until);
        let watching_own = node_watch.as_ref().is_some_and(|w| w.path() == hold.node);
        tokio::select! {
            () = stop.cancelled() => return,
            event = events.next() => match event {
                None => { hold.mark_lost(LossReason::Closed); return; }
                Some(update) => {
                    let event = update.event();
                    if let Some(reason) = loss_of(&hold, event) {
                        hold.mark_lost(reason);
                        return;
                    }
                    if event.state.is_connected() && node_watch.is_none() {
                        node_watch = arm(&hold).await;
                    }
                    if event.state.is_connected() && hold.policy == ErrorPolicy::Session && !probe_node(&hold, lease).await {
                        return;
                    }
                }
            },
            event = wait_watch(&mut node_watch) => match event {
                // A data watch on our node (the child watch on the recipe path, set while
                // acquiring, reports a change among the children: prove our node again).
                EventType::NodeDeleted if watching_own => { hold.mark_lost(LossReason::NodeDeleted); return; }
                EventType::None => node_watch = None,
                _ => {
                    if !watching_own && !probe_node(&hold, lease).await {
                        return;
                    }
                    node_watch = arm(&hold).await;
                }
            },
            _ = probe.tick() => if !probe_node(&hold, lease).await { return },
            () = tokio::time::sleep_until(until) => { hold.mark_lost(LossReason::LeaseExpired); return; }
        }
    }
}

/// Proves our node again (exists, our session): extends the lease and records the disconnect
/// count it was proven at. `false` when the hold is lost.
async fn probe_node(hold: &HoldShared, lease: std::time::Duration) -> bool {
    let disconnects = hold.client.state_watcher().borrow().disconnects;
    let sent = Instant::now();
    match hold.client.exists(&hold.node).await {
        Ok(Some(stat)) if stat.ephemeral_owner == hold.session_id => {
            hold.extend(sent + lease);
            hold.verified_disconnects
                .store(disconnects, std::sync::atomic::Ordering::SeqCst);
            true
        }
        Ok(Some(_)) => {
            hold.mark_lost(LossReason::OwnerChanged);
            false
        }
        Ok(None) => {
            hold.mark_lost(LossReason::NodeDeleted);
            false
        }
        Err(_) => true,
    }
}

/// What a session event means for the hold.
fn loss_of(hold: &HoldShared, event: SessionEvent) -> Option<LossReason> {
    match event.state {
        SessionState::Expired => Some(LossReason::Expired),
        SessionState::Closed | SessionState::AuthFailed => Some(LossReason::Closed),
        // A read-only server is cut off from the quorum: its answers prove nothing about the
        // session (the quorum may have expired it), so it is a loss under every policy.
        SessionState::ConnectedReadOnly => Some(LossReason::Suspended),
        _ if event.session_id != hold.session_id && event.session_id != 0 => {
            Some(LossReason::Expired)
        }
        _ if hold.policy == ErrorPolicy::Standard && event.disconnects != hold.disconnects => {
            Some(LossReason::Suspended)
        }
        SessionState::Suspended | SessionState::Connecting => {
            (hold.policy == ErrorPolicy::Standard).then_some(LossReason::Suspended)
        }
        SessionState::Connected => None,
    }
}

/// A data watch on our node (`None` if it could not be set right now).
async fn arm(hold: &HoldShared) -> Option<zk_client::OneshotWatch> {
    match hold.client.get_data_watch(&hold.node).await {
        Ok((_, stat, watch)) => {
            if stat.ephemeral_owner != hold.session_id {
                hold.mark_lost(LossReason::OwnerChanged);
            }
            Some(watch)
        }
        Err(zk_client::Error::NoNode) => {
            hold.mark_lost(LossReason::NodeDeleted);
            None
        }
        Err(_) => None,
    }
}

async fn wait_watch(watch: &mut Option<zk_client::OneshotWatch>) -> EventType {
    match watch {
        Some(w) => w.await.event_type,
        None => std::future::pending().await,
    }
}
