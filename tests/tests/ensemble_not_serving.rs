//! A member that serves no clients, the same scenario on a real 3-member Apache ZooKeeper
//! 3.8.0 ensemble and on a 3-member ensemble of the `zk-server-mini` binary (child
//! processes): two members are killed, and the third, looking for a leader it cannot elect,
//! answers the four-letter words that need a running server (`srvr stat cons mntr wchs wchc
//! wchp dump conf dirs crst srst`) with exactly "This ZooKeeper instance is not currently
//! serving requests", `isro` with `null`, `ruok` with `imok` and `envi` with its environment.
//! When the two members come back, the third serves again. The observations of both runs
//! must be equal.

use std::time::Duration;

use zk_integration_tests::ensemble::{Ensemble, EnsembleConfig, WAIT};
use zk_integration_tests::{ServerMode, ZkOptions, bounded, require_real_zk};

/// The member kept running; the others are killed.
const KEPT: u64 = 3;
/// The words a member without a running server answers with "not currently serving".
const NEEDS_A_SERVER: [&str; 12] = [
    "srvr", "stat", "cons", "mntr", "wchs", "wchc", "wchp", "dump", "conf", "dirs", "crst", "srst",
];

/// The scenario; returns what it observed.
async fn run(real: bool) -> Vec<String> {
    let config = EnsembleConfig::new(3).real_options(ZkOptions::default().tick_time(500));
    let mut ensemble = Ensemble::start(real, &config).await;
    ensemble.settle(&[1, 2, 3]).await;
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
        let reply = match ensemble.four_letter(KEPT, word).await {
            r if r.is_empty() => "no answer".to_owned(),
            r => r,
        };
        seen.push(format!("{word} {reply:?}"));
    }
    let envi = ensemble.four_letter(KEPT, "envi").await;
    seen.push(format!(
        "envi starts with Environment: {}",
        envi.starts_with("Environment:")
    ));
    for id in (1..=3).filter(|id| *id != KEPT) {
        ensemble.respawn(id).await;
    }
    ensemble.settle(&[1, 2, 3]).await;
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
