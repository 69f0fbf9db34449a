//! Waiting in line: a watch on the contender before us (kept while it stays the one we wait
//! for), one on the contender before that one (so that we learn, without a herd, when we
//! become next in line), and one on our own node (its deletion is a loss).

use std::time::Duration;

use tokio::time::Instant;
use zk_client::{Client, Error, EventType, OneshotWatch, WatchedEvent};

use crate::error::{RecipeError, Result};
use crate::node::{self, OwnNode};

/// How a wait ended.
pub(crate) enum Waited {
    /// Something changed, or a read failed and the session is back: look again.
    LookAgain,
    /// Our own node is gone: create it again.
    OwnGone,
    /// The predecessor was deleted while our node stood, watched. The predecessor's watch
    /// was set by a request sent at this instant (the session was alive after it).
    PredecessorDeleted(Instant),
}

/// The watches of one contender's node while it waits.
#[derive(Default)]
pub(crate) struct Watches {
    /// Our own node's data watch.
    pub(crate) own: Option<OneshotWatch>,
    /// The predecessor's: its path, the watch, and when the request that set it was sent.
    pred: Option<(String, OneshotWatch, Instant)>,
}

/// Which watch fired first.
enum Fired {
    Own(WatchedEvent),
    Pred(WatchedEvent),
    Earlier,
}

impl Watches {
    /// Forgets every watch (our node is new, or gone).
    pub(crate) fn reset(&mut self) {
        *self = Self::default();
    }

    /// Watches `pred` (unless already watched), `earlier` if given, and our own node (unless
    /// already watched), in one round trip, and waits for the first of them to fire.
    pub(crate) async fn wait(
        &mut self,
        client: &Client,
        own: &OwnNode,
        pred: &str,
        earlier: Option<&str>,
        deadline: Option<Instant>,
    ) -> Result<Waited> {
        let sent = Instant::now();
        if self.pred.as_ref().is_some_and(|(p, _, _)| p != pred) {
            self.pred = None;
        }
        let (pred_set, own_set, earlier_set) = tokio::join!(
            optional(self.pred.is_none().then_some(pred), |p| client
                .get_data_watch(p)),
            optional(self.own.is_none().then_some(&own.path), |p| client
                .get_data_watch(p)),
            optional(earlier, |p| client.get_data_watch(p)),
        );
        match own_set {
            Some(Ok((_, stat, w))) if stat.ephemeral_owner == own.session_id => self.own = Some(w),
            Some(Ok(_) | Err(Error::NoNode)) => return Ok(Waited::OwnGone),
            Some(Err(e)) if node::is_retryable(&e) => {}
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        match pred_set {
            Some(Ok((_, _, w))) => self.pred = Some((pred.to_owned(), w, sent)),
            Some(Err(e)) => return settle(client, e, deadline).await,
            None => {}
        }
        let earlier_watch = match earlier_set {
            Some(Ok((_, _, w))) => Some(w),
            // Gone already: we may be next now.
            Some(Err(e)) => return settle(client, e, deadline).await,
            None => None,
        };
        let Some((pred_path, mut pred_watch, pred_sent)) = self.pred.take() else {
            return Ok(Waited::LookAgain);
        };
        let fired = {
            let own = async {
                match self.own.as_mut() {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            };
            let earlier = async {
                match earlier_watch {
                    Some(w) => w.await,
                    None => std::future::pending().await,
                }
            };
            // Biased, our own node first: events reach their watches in the server's order,
            // so had our node gone before the predecessor, its event is here already.
            let first = async {
                tokio::select! {
                    biased;
                    event = own => Fired::Own(event),
                    event = &mut pred_watch => Fired::Pred(event),
                    _ = earlier => Fired::Earlier,
                }
            };
            within(deadline, first).await?
        };
        match fired {
            Fired::Own(event) => {
                self.pred = Some((pred_path, pred_watch, pred_sent));
                Ok(self.own_fired(&event))
            }
            Fired::Earlier => {
                self.pred = Some((pred_path, pred_watch, pred_sent));
                Ok(Waited::LookAgain)
            }
            Fired::Pred(event)
                if event.event_type == EventType::NodeDeleted && self.own.is_some() =>
            {
                Ok(Waited::PredecessorDeleted(pred_sent))
            }
            Fired::Pred(_) => Ok(Waited::LookAgain),
        }
    }

    /// Waits for `watch` (on the children) or our own node's watch, whichever fires first.
    pub(crate) async fn wait_children(
        &mut self,
        watch: OneshotWatch,
        deadline: Option<Instant>,
    ) -> Result<Waited> {
        let fired = {
            let own = async {
                match self.own.as_mut() {
                    Some(w) => Some(w.await),
                    None => std::future::pending().await,
                }
            };
            let first = async {
                tokio::select! {
                    event = own => event,
                    _ = watch => None,
                }
            };
            within(deadline, first).await?
        };
        Ok(match fired {
            Some(event) => self.own_fired(&event),
            None => Waited::LookAgain,
        })
    }

    fn own_fired(&mut self, event: &WatchedEvent) -> Waited {
        self.own = None;
        if event.event_type == EventType::NodeDeleted {
            Waited::OwnGone
        } else {
            Waited::LookAgain
        }
    }
}

/// `request(arg)` if there is an `arg`.
async fn optional<A, T, F, Fut>(arg: Option<A>, request: F) -> Option<T>
where
    F: FnOnce(A) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    match arg {
        Some(arg) => Some(request(arg).await),
        None => None,
    }
}

/// A failed watch request: a node already gone means look again; a lost connection, look
/// again once connected; anything else is the caller's error.
async fn settle(client: &Client, e: Error, deadline: Option<Instant>) -> Result<Waited> {
    match e {
        Error::NoNode => Ok(Waited::LookAgain),
        e if node::is_retryable(&e) => {
            node::wait_connected(client, deadline).await?;
            Ok(Waited::LookAgain)
        }
        e => Err(e.into()),
    }
}

/// `fut`, or a deadline error once `deadline` passes.
async fn within<T>(
    deadline: Option<Instant>,
    fut: impl std::future::Future<Output = T>,
) -> Result<T> {
    match deadline {
        Some(d) => tokio::time::timeout_at(d, fut)
            .await
            .map_err(|_| RecipeError::Deadline(Duration::ZERO)),
        None => Ok(fut.await),
    }
}
