//! What flows between [`Client`](crate::Client) handles, the driver task and the [`Core`](super::Core).

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::sync::oneshot;
use zk_proto::{OpCode, Response, WatcherType};

use crate::budget::BudgetPermit;
use crate::error::Result;
use crate::ticket::Ticket;
use crate::watch::WatchRegistration;

/// The answer to a request: the decoded body, or the error the server or the connection gave.
pub(crate) type ReplyTx = oneshot::Sender<Result<Reply>>;

/// A successful answer: the decoded body and the zxid of its reply header (for a write, the
/// zxid of its transaction).
#[derive(Debug)]
pub(crate) struct Reply {
    pub response: Response,
    pub zxid: i64,
}

/// What a reply does to the core's own state, besides answering its caller.
#[derive(Debug, Default)]
pub(crate) enum Effect {
    /// Nothing.
    #[default]
    None,
    /// A user's removeWatches: on success, drop the local watchers too.
    RemoveWatches {
        path: String,
        watcher_type: WatcherType,
    },
    /// A user's checkWatches: a `Data`/`Children` check on a path whose one-shot watches are
    /// served locally succeeds when there is such a local watch (see `Registry::covered`).
    CheckWatches {
        path: String,
        watcher_type: WatcherType,
    },
    /// A user's removeWatches of one-shot watches served locally, sent to the server as a
    /// checkWatches (a removal would break the persistent registration that serves them) and
    /// answered from the local registry when its reply arrives, in FIFO order.
    RemoveLocalWatches {
        path: String,
        watcher_type: WatcherType,
    },
    /// A request that relies on the server's recursive registration on the path (see
    /// `Registry::server_recursive`): an addWatch(persistent) sent as addWatch(recursive), or a
    /// one-shot watch kept local because that registration serves it. When its reply comes, the
    /// registration is still there (a removal waits for requests in flight on the path), even if
    /// every local watcher that had it went meanwhile: the path is marked again.
    KeepsServerRecursive { path: String },
    /// Internal: a SetWatches/SetWatches2 batch.
    SetWatches,
    /// Internal: removeWatches for a dropped watch (errors ignored).
    DropWatch,
    /// closeSession: the connection ends with the reply.
    Close,
}

/// An encoded request on its way to the core.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub op: OpCode,
    /// A whole frame with a zero xid at bytes 4..8 (the core writes the real one).
    pub frame: BytesMut,
    pub reply: Option<ReplyTx>,
    pub watch: Option<WatchRegistration>,
    pub effect: Effect,
    /// Withdrawn by a caller that gave up: then never written.
    pub ticket: Arc<Ticket>,
    /// This request's share of the client's budget of queued bytes; given back when the
    /// request is written (or dropped).
    #[allow(dead_code, reason = "held for its Drop, which gives the bytes back")]
    pub permit: Option<BudgetPermit>,
}

/// What a [`Client`](crate::Client) or a watch handle asks of the core.
#[derive(Debug)]
pub(crate) enum Command {
    /// Send a request.
    Request(Outgoing),
    /// A watch handle was dropped.
    RemoveWatch { id: u64, path: String },
    /// Authenticate now and after every reconnect.
    Auth {
        scheme: String,
        auth: Bytes,
        reply: oneshot::Sender<Result<()>>,
    },
    /// Close the session.
    Close { done: Option<oneshot::Sender<()>> },
}

/// How the session ended.
#[derive(Debug)]
pub(crate) enum Terminal {
    Closed(Option<oneshot::Sender<()>>),
    Expired,
    AuthFailed,
}
