//! The mutex, checked from outside: `lock` example processes (and Curator / kazoo peers on the
//! same path) print what they did; the checker verifies that no two holders' claims overlap in
//! time and that fencing tokens strictly increase. On the real ZooKeeper 3.8.0 and on
//! zk-server-mini.

mod recipes_common;

use std::time::Duration;

use recipes_common::*;
use zk_integration_tests::backend::Backend;

const CLAIMS: &[&str] = &["ACQUIRED", "WORK"];

fn rust_lock(backend: &Backend, path: &str, id: &str, flavor: &str, rounds: u32) -> Worker {
    let mut c = example("lock");
    c.args([
        "--server",
        &backend.connect_string(),
        "--path",
        path,
        "--id",
        id,
    ])
    .args([
        "--flavor",
        flavor,
        "--hold-ms",
        "150",
        "--rounds",
        &rounds.to_string(),
    ])
    .args(["--session-timeout-ms", "2000"]);
    Worker::spawn(id, c)
}

async fn finish_all(workers: &mut [Worker]) {
    for w in workers.iter_mut() {
        w.finish(Duration::from_secs(60)).await;
    }
}

/// Three Rust processes, three rounds each, Curator flavour.
async fn rust_processes_exclude_each_other(backend: &Backend) {
    let mut workers: Vec<Worker> = (0..3)
        .map(|i| {
            rust_lock(
                backend,
                "/recipes/lock/rust",
                &format!("rust{i}"),
                "curator",
                3,
            )
        })
        .collect();
    finish_all(&mut workers).await;
    let refs: Vec<&Worker> = workers.iter().collect();
    let tenures = check_exclusive(&all_events(&refs), CLAIMS);
    assert_eq!(
        tenures.len(),
        9,
        "every round of every process held the lock once"
    );
    for w in &workers {
        assert!(
            w.events().iter().any(|l| l.kind == "DONE"),
            "{} finished",
            w.name
        );
    }
}

/// Two Rust processes (Curator flavour) and two Curator `InterProcessMutex` processes.
async fn rust_and_curator_exclude_each_other(backend: &Backend) {
    use zk_integration_tests::java::{JavaProgram, curator_classpath};
    if let Err(e) = curator_classpath() {
        assert!(
            !zk_integration_tests::skip::skips_are_failures(),
            "Curator is required: {e}"
        );
        eprintln!("SKIP: Curator not available: {e}");
        return;
    }
    let program = JavaProgram::compile_curator(&["RecipeLockWorker.java"]).expect("javac");
    let path = "/recipes/lock/curator";
    let mut workers = Vec::new();
    for i in 0..2 {
        let id = format!("curator{i}");
        let mut c = program.command("RecipeLockWorker");
        c.args([&backend.connect_string(), path, &id, "150", "2"]);
        workers.push(Worker::spawn(&id, c));
    }
    for w in &workers {
        w.wait_for(Duration::from_secs(30), |l| l.kind == "READY")
            .await;
    }
    for i in 0..2 {
        workers.push(rust_lock(backend, path, &format!("rust{i}"), "curator", 2));
    }
    finish_all(&mut workers).await;
    let refs: Vec<&Worker> = workers.iter().collect();
    let tenures = check_exclusive(&all_events(&refs), CLAIMS);
    assert_eq!(tenures.len(), 8);
    assert!(tenures.iter().any(|t| t.id.starts_with("curator")));
    assert!(tenures.iter().any(|t| t.id.starts_with("rust")));
}

/// Two Rust processes (kazoo flavour) and two kazoo `Lock` processes.
async fn rust_and_kazoo_exclude_each_other(backend: &Backend) {
    let python = match zk_integration_tests::clients::kazoo() {
        Ok(p) => p,
        Err(e) => {
            assert!(
                !zk_integration_tests::skip::skips_are_failures(),
                "kazoo is required: {e}"
            );
            eprintln!("SKIP: kazoo not available: {e}");
            return;
        }
    };
    let path = "/recipes/lock/kazoo";
    let mut workers = Vec::new();
    for i in 0..2 {
        let id = format!("kazoo{i}");
        let mut c = python_worker(&python, "recipe_lock_worker.py");
        c.args([&backend.connect_string(), path, &id, "150", "2"]);
        workers.push(Worker::spawn(&id, c));
    }
    for w in &workers {
        w.wait_for(Duration::from_secs(30), |l| l.kind == "READY")
            .await;
    }
    for i in 0..2 {
        workers.push(rust_lock(backend, path, &format!("rust{i}"), "kazoo", 2));
    }
    finish_all(&mut workers).await;
    let refs: Vec<&Worker> = workers.iter().collect();
    let tenures = check_exclusive(&all_events(&refs), CLAIMS);
    assert_eq!(tenures.len(), 8);
    assert!(tenures.iter().any(|t| t.id.starts_with("kazoo")));
    assert!(tenures.iter().any(|t| t.id.starts_with("rust")));
}

zk_integration_tests::on_each_backend! {
    within: Duration::from_secs(120);
    rust_processes_exclude_each_other(zk_options()),
    rust_and_curator_exclude_each_other(zk_options()),
    rust_and_kazoo_exclude_each_other(zk_options()),
}
