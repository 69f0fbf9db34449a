//! A member that serves no clients, the same scenario on a real 3-member Apache ZooKeeper
//! 3.8.0 ensemble and on a 3-member ensemble of the `zk-server-mini` binary (child
//! processes): two members are killed, and the third, looking for a leader it cannot elect,
//! answers the four-letter words that need a running server (`srvr stat cons mntr wchs wchc
//! wchp dump conf dirs crst srst`) with exactly "This ZooKeeper instance is not currently
//! serving requests", `isro` with `null`, `ruok` with `imok` and `envi` with its environment.
//! When the two members come back, the third serves again. The observations of both runs
//! must be equal.

use std::net::SocketAddr;
use std::time::Duration;

use zk_integration_tests::mini::mini_binary;
use zk_integration_tests::{
    RealZkEnsemble, ServerMode, ZkOptions, bounded, four_letter_word, require_real_zk,
};
use zk_server_mini::cluster::TestCluster;

const WAIT: Duration = Duration::from_secs(60);
/// The member kept running; the others are killed.
const KEPT: u64 = 3;
/// The words a member without a running server answers with "not currently serving".
const NEEDS_A_SERVER: [&str; 12] = [
    "srvr", "stat", "cons", "mntr", "wchs", "wchc", "wchp", "dump", "conf", "dirs", "crst", "srst",
];

/// One of the two ensembles under test; members are named by server id (1..=3).
enum Ensemble {
    Real(RealZkEnsemble),
    Mini(TestCluster),
}

impl Ensemble {
    async fn start(real: bool) -> Self {
        if real {
            let zk = RealZkEnsemble::start(3, ZkOptions::default().tick_time(500))
                .await
                .expect("start a real 3-member ensemble");
            Ensemble::Real(zk)
        } else {
            let cluster = TestCluster::builder(3)
                .tick_ms(100)
                .processes(mini_binary())
                .start()
                .await
                .expect("start a 3-member mini ensemble");
            Ensemble::Mini(cluster)
        }
    }

    fn addr(&self, id: u64) -> SocketAddr {
        match self {
            Ensemble::Real(zk) => zk.node(id as usize - 1).addr(),
            Ensemble::Mini(c) => c.client_addr(id),
        }
    }

    async fn four_letter(&self, id: u64, word: &str) -> String {
        four_letter_word(self.addr(id), word)
            .await
            .unwrap_or_else(|e| format!("no answer: {e}"))
    }

    async fn mode(&self, id: u64) -> ServerMode {
        match four_letter_word(self.addr(id), "srvr").await {
            Ok(reply) if !reply.is_empty() => ServerMode::from_srvr(&reply),
            _ => ServerMode::Unreachable,
        }
    }

    async fn kill(&mut self, id: u64) {
        match self {
            Ensemble::Real(zk) => zk.kill(id as usize - 1),
            Ensemble::Mini(c) => c.kill(id).await,
        }
    }

    /// Starts member `id` again without waiting for it to serve.
    async fn restart(&mut self, id: u64) {
        match self {
            Ensemble::Real(zk) => zk
                .node_mut(id as usize - 1)
                .respawn()
                .expect("respawn a real member"),
            Ensemble::Mini(c) => c.restart(id).await.expect("restart a mini member"),
        }
    }

    /// Waits until members 1..=3 all serve, one of them as leader.
    async fn settled(&self) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let mut modes = Vec::new();
            for id in 1..=3 {
                modes.push(self.mode(id).await);
            }
            let leaders = modes.iter().filter(|m| **m == ServerMode::Leader).count();
            if leaders == 1 && modes.iter().all(|m| m.is_serving()) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the ensemble did not settle: {modes:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn stop(self) {
        match self {
            Ensemble::Real(zk) => drop(zk),
            Ensemble::Mini(c) => c.stop().await,
        }
    }
}

/// The scenario; returns what it observed.
async fn run(real: bool) -> Vec<String> {
    let mut ensemble = Ensemble::start(real).await;
    ensemble.settled().await;
    let mut seen = Vec::new();
    for id in (1..=3).filter(|id| *id != KEPT) {
        ensemble.kill(id).await;
    }
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let mode = ensemble.mode(KEPT).await;
        if mode == ServerMode::NotServing {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "member {KEPT} still {mode:?} without its quorum"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for word in NEEDS_A_SERVER.iter().chain(&["ruok", "isro"]) {
        let reply = ensemble.four_letter(KEPT, word).await;
        seen.push(format!("{word} {reply:?}"));
    }
    let envi = ensemble.four_letter(KEPT, "envi").await;
    seen.push(format!(
        "envi starts with Environment: {}",
        envi.starts_with("Environment:")
    ));
    for id in (1..=3).filter(|id| *id != KEPT) {
        ensemble.restart(id).await;
    }
    ensemble.settled().await;
    let mode = ensemble.mode(KEPT).await;
    let serving = matches!(mode, ServerMode::Leader | ServerMode::Follower);
    seen.push(format!(
        "member {KEPT} after the others are back: {}",
        if serving { "serving" } else { "not serving" }
    ));
    ensemble.stop().await;
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_without_quorum_answers_four_letter_words_as_zookeeper_does() {
    require_real_zk!();
    let real = bounded(Duration::from_secs(300), run(true)).await;
    let mini = bounded(Duration::from_secs(300), run(false)).await;
    eprintln!("real: {real:#?}\nmini: {mini:#?}");
    assert!(
        real.contains(
            &"srvr \"This ZooKeeper instance is not currently serving requests\\n\"".to_owned()
        ),
        "{real:?}"
    );
    assert_eq!(mini, real, "the mini ensemble differs from ZooKeeper 3.8.0");
}
