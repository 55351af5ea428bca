//! The shipped scenarios, run against real containers exactly as
//! `clusterlab run` runs them, plus the proofs that a run can fail and that
//! an interrupted run leaves nothing behind.
//!
//! Reports of every run land in `target/tmp/clusterlab/<scenario>/latest/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use clusterlab_harness::report::{self, Outcome};
use clusterlab_harness::run::{self, PID_LABEL};
use clusterlab_harness::world::{self, kind::Kind};
use clusterlab_scenario::{Scenario, World};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("clusterlab")
}

/// Container scenarios take turns: two at once would halve each one's CPU
/// and blur its figures.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn run_scenario(s: &Scenario) -> Outcome {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_harness::docker::connect().await.unwrap();
    let run_id = format!("t-{}-{}", s.name, std::process::id());
    let opts = world::Options {
        run_id: run_id.clone(),
        seed: 7,
        keep: false,
        progress: None,
    };
    let done = world::run(&docker, s, &opts).await.unwrap();
    let outcome = Outcome::from_trace(s, World::Containers, &run_id, 7, &done.trace);
    let dir = report::write_run(&out_dir(), s, &outcome, &done.trace).unwrap();
    if !outcome.passed {
        report::write_logs(&dir, &done.logs).unwrap();
    }
    println!("{}  ({})", outcome.summary(), dir.display());
    let (c, n) = run::labelled(&docker, &format!("{}={run_id}", run::RUN_LABEL))
        .await
        .unwrap();
    assert_eq!((c.len(), n.len()), (0, 0), "run {run_id} left resources");
    outcome
}

async fn shipped(name: &str) {
    let s = clusterlab_scenario::load(&root().join(format!("scenarios/{name}.toml"))).unwrap();
    assert!(s.supports(World::Containers).is_ok());
    Kind::of(&s).unwrap();
    let o = run_scenario(&s).await;
    let failed: Vec<_> = o.checks.iter().filter(|c| !c.passed).collect();
    assert!(o.passed, "{}: failed checks {failed:#?}", o.summary());
    assert_eq!(o.writes_lost, 0);
    if s.workload.is_some() {
        assert!(o.writes_acked > 0, "the writer got no write acknowledged");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick() {
    shipped("quick").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_5() {
    shipped("cold-start-5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_discovery_bootstrap() {
    shipped("etcd-discovery-bootstrap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_leader_kill() {
    shipped("etcd-leader-kill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_minority_partition() {
    shipped("etcd-minority-partition").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_leader_kill() {
    shipped("consul-leader-kill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patroni_etcd_failover() {
    shipped("patroni-etcd-failover").await;
}

/// Also the proof that disco-agent reaps orphans as PID 1: without it the
/// old primary's postmaster stays a zombie and Patroni never rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patroni_consul_ttl_expiry() {
    shipped("patroni-consul-ttl-expiry").await;
}

/// The checks are not rubber stamps: a failover bound no cluster can meet
/// fails the run, and only that check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_failover_bound_fails_the_run() {
    let text = r#"
description = "kill the leader with a 1 ms failover bound"
worlds = ["containers"]
[excluded]
sim = "a test of the container world's checks"
[discovery]
kind = "etcd"
ttl = "2s"
[cluster]
kind = "etcd"
nodes = 3
[[faults]]
at = "12s"
action = "kill-leader"
for = "3s"
[expect]
converge_within = "30s"
failover_within = "1ms"
"#;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("impossible-failover.toml");
    std::fs::write(&path, text).unwrap();
    let s = clusterlab_scenario::load(&path).unwrap();
    let o = run_scenario(&s).await;
    assert!(!o.passed, "{}", o.summary());
    let failed: Vec<&str> = o
        .checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(failed, ["failover"], "{:#?}", o.checks);
    assert!(o.failover_ms.is_some_and(|f| f > 1));
}

/// Ctrl-C in the middle of `clusterlab run` removes the run's containers
/// and network before the command exits with 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_clusterlab_run_leaves_nothing() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_harness::docker::connect().await.unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clusterlab"))
        .args(["run", "quick", "--out", out.path().to_str().unwrap()])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_label = format!("{PID_LABEL}={}", child.id());
    // Wait until the store and all three nodes exist.
    let start = Instant::now();
    let run_id = loop {
        let (c, _) = run::labelled(&docker, &pid_label).await.unwrap();
        if c.len() >= 4 {
            break c[0].labels.as_ref().unwrap()[run::RUN_LABEL].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run never started its containers"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "clusterlab exited early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit after Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(130));
    let (c, n) = run::labelled(&docker, &format!("{}={run_id}", run::RUN_LABEL))
        .await
        .unwrap();
    assert_eq!((c.len(), n.len()), (0, 0), "run {run_id} left resources");
}
