//! A follower's client connections: relayed byte for byte to the leader's client port, so
//! a client that reaches any serving member gets a session (as on a ZooKeeper ensemble,
//! where every member takes clients), while the leader alone runs the sessions, the writes
//! and the reads (reads are therefore never stale, and a session's reads always follow its
//! writes). Four-letter words are still answered by the member itself. When the member stops
//! following that leader, its relayed connections are cut and the clients reconnect.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use crate::connection::{self, ConnSettings, CoreMsg};
use crate::watches::ConnId;

/// Where this member's clients go: `None` serves them here (or refuses them while the member
/// is not serving), `Some(leader)` relays them.
pub(crate) type RelayTarget = watch::Receiver<Option<SocketAddr>>;

/// Serves one accepted connection: a four-letter word here, anything else relayed while
/// `target` names a leader.
pub(crate) async fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    conn: ConnId,
    core: mpsc::Sender<CoreMsg>,
    settings: ConnSettings,
    mut target: RelayTarget,
) {
    let Some(leader) = *target.borrow_and_update() else {
        connection::run(stream, addr, conn, core, settings).await;
        return;
    };
    let mut head = [0u8; 4];
    let peeked = tokio::time::timeout(settings.handshake_timeout, async {
        loop {
            match stream.peek(&mut head).await {
                Ok(n) if n >= 4 => return true,
                Ok(0) | Err(_) => return false,
                Ok(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        }
    })
    .await;
    if !matches!(peeked, Ok(true)) {
        return;
    }
    if zk_proto::codec::four_letter_word(head).is_some() {
        connection::run(stream, addr, conn, core, settings).await;
        return;
    }
    let Ok(Ok(mut upstream)) =
        tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(leader)).await
    else {
        tracing::debug!(%leader, "cannot reach the leader's client port; dropping the client");
        return;
    };
    let _ = upstream.set_nodelay(true);
    let _ = stream.set_nodelay(true);
    let mut stream = stream;
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut stream, &mut upstream) => {}
        _ = target.changed() => {
            tracing::debug!(%addr, "leader changed; cutting a relayed client");
        }
    }
}
