//! zk-server-mini orders a session's requests per session, not per connection, as ZooKeeper
//! does: after a reconnect, a read on the new connection cannot overtake the session's write
//! still being logged from the old one.

use std::time::Duration;

use bytes::Bytes;
use zk_integration_tests::mini::{bounded, start_mini};
use zk_integration_tests::real_zk::four_letter_word;
use zk_proto::acl::Acl;
use zk_proto::*;
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_a_reconnect_sees_the_write_sent_before_it() {
    bounded(a_read_after_a_reconnect_sees_the_write_sent_before_it_body()).await;
}

async fn a_read_after_a_reconnect_sees_the_write_sent_before_it_body() {
    // Every log write takes at least 400 ms: the write is still in flight when the read
    // arrives on the new connection (on a machine so slow that it is not, the race is simply
    // not exercised; the test cannot pass wrongly either way).
    let (_dir, server) = start_mini(
        MiniServer::builder()
            .log_sync_delay(Duration::from_millis(400))
            .four_letter_words(&["cons"]),
    )
    .await;
    let addr = server.addr();
    for round in 0..3 {
        let mut old = RawClient::connect(addr, 10_000).await.expect("connect");
        let path = format!("/race{round}");
        let create = Request::Create(CreateRequest {
            path: path.clone(),
            data: Some(Bytes::from_static(b"written")),
            acl: Acl::open_unsafe(),
            flags: 0,
        });
        old.send(7, &create).await.expect("send the write");
        // Wait until the server has taken the write in (`cons` shows it as the connection's
        // last request): a write that arrives after the reconnect is dropped with the old
        // connection, in ZooKeeper too, and would make the race vacuous.
        let sid = format!("sid=0x{:x},", old.session.session_id);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let cons = four_letter_word(addr, "cons").await.expect("cons");
            if cons
                .lines()
                .any(|l| l.contains(&sid) && l.contains("lcxid=0x7,"))
            {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the write never arrived: {cons}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        // The client loses its connection and comes back on a new one, same session.
        let mut again = ConnectRequest::new_session(10_000);
        again.session_id = old.session.session_id;
        again.passwd = old.session.passwd.clone();
        let (mut new, resp) = RawClient::connect_with(addr, again)
            .await
            .expect("reconnect");
        assert_eq!(resp.session_id, old.session.session_id, "session kept");
        let get = Request::GetData(GetDataRequest {
            path: path.clone(),
            watch: false,
        });
        let (header, body) = new.call(&get).await.expect("read");
        assert_eq!(
            header.err,
            ErrorCode::Ok,
            "round {round}: the read on the new connection overtook the session's write"
        );
        assert!(
            matches!(body, Some(Response::GetData(r)) if r.data.as_deref() == Some(&b"written"[..])),
            "round {round}"
        );
        drop(old);
    }
    server.stop().await;
}
