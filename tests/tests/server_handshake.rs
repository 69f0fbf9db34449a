//! The handshake of zk-server-mini is bounded as a whole: a client that drips its
//! ConnectRequest one byte at a time, each byte well within the timeout, is still cut off when
//! the handshake's time runs out, and its connection slot (`maxClientCnxns`) is freed.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use zk_integration_tests::mini::{bounded, start_mini};
use zk_server_mini::MiniServer;
use zk_server_mini::testing::RawClient;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripped_connect_request_does_not_hold_a_slot() {
    bounded(a_dripped_connect_request_does_not_hold_a_slot_body()).await;
}

async fn a_dripped_connect_request_does_not_hold_a_slot_body() {
    let timeout = Duration::from_millis(800);
    let (_dir, server) = start_mini(
        MiniServer::builder()
            .max_client_cnxns(1)
            .handshake_timeout(timeout),
    )
    .await;
    let addr = server.addr();
    let mut slow = TcpStream::connect(addr).await.expect("connect");
    // A frame that announces 1000 bytes (a plausible ConnectRequest length), then one byte
    // every 100 ms: each read is far inside the timeout, and the frame never completes.
    slow.write_all(&1000u32.to_be_bytes()).await.expect("write");
    // The cap only ends the test when the server never cuts the connection (the bug); the
    // drip would go on forever otherwise.
    let cap = Instant::now() + Duration::from_secs(30);
    let mut dripped = 0usize;
    let cut = loop {
        if Instant::now() > cap {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        if slow.write_all(&[0u8]).await.is_err() {
            break true;
        }
        dripped += 1;
        // The server closes its end: a read sees end of stream (or a reset).
        let mut byte = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut byte)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(_)) => panic!("the server answered an incomplete ConnectRequest"),
            Err(_) => {}
        }
    };
    assert!(
        cut,
        "the server still held the dripping connection after {dripped} bytes over 30 s \
         (handshake timeout {timeout:?})"
    );
    // Its slot is free again: with maxClientCnxns = 1 a real client now gets in.
    let deadline = Instant::now() + Duration::from_secs(10);
    let client = loop {
        match RawClient::connect(addr, 10_000).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "the slot was never freed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    drop(client);
    server.stop().await;
}
