//! The per-run reports from a known trace: figures derived right, files
//! complete, the timeline showing faults, roles and leader changes.

use std::time::Duration;

use clusterlab_core::report;
use clusterlab_core::trace::{EventKind, NodeRole, Trace};
use clusterlab_core::Outcome;
use clusterlab_scenario::World;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// n1 leads, is killed at 10 s, n2 leads from 13.2 s, n1 is back at 15 s.
fn leader_kill_trace(lost: bool) -> Trace {
    let mut t = Trace::default();
    let role = |n: &str, r| EventKind::Role {
        node: n.into(),
        role: r,
    };
    for n in ["n1", "n2", "n3"] {
        t.push(ms(0), role(n, NodeRole::Starting));
    }
    t.push(ms(120), EventKind::Bootstrap { node: "n1".into() });
    t.push(ms(500), role("n1", NodeRole::Leader));
    t.push(
        ms(510),
        EventKind::LeaderKey {
            node: Some("n1".into()),
        },
    );
    for n in ["n2", "n3"] {
        t.push(ms(900), role(n, NodeRole::Follower));
    }
    for n in ["n1", "n2", "n3"] {
        t.push(
            ms(1000),
            EventKind::Members {
                node: n.into(),
                members: vec!["n1".into(), "n2".into(), "n3".into()],
            },
        );
    }
    for i in 0..200u64 {
        let acked = !(100..132).contains(&i);
        t.push(
            ms(i * 100),
            EventKind::Write {
                key: format!("k{i}"),
                latency_us: 800 + i * 10,
                acked,
            },
        );
    }
    t.push(
        ms(10_000),
        EventKind::FaultStart {
            fault: 0,
            action: "kill-leader".into(),
            nodes: vec!["n1".into()],
            due_ms: 10_000,
        },
    );
    t.push(ms(10_000), role("n1", NodeRole::Down));
    t.push(ms(13_000), EventKind::LeaderKey { node: None });
    t.push(ms(13_200), role("n2", NodeRole::Leader));
    t.push(
        ms(13_210),
        EventKind::LeaderKey {
            node: Some("n2".into()),
        },
    );
    t.push(
        ms(15_000),
        EventKind::FaultEnd {
            fault: 0,
            action: "kill-leader".into(),
        },
    );
    t.push(
        ms(11_000),
        EventKind::Members {
            node: "n2".into(),
            members: vec!["n2".into(), "n3".into()],
        },
    );
    t.push(ms(15_000), role("n1", NodeRole::Starting));
    t.push(ms(16_000), role("n1", NodeRole::Follower));
    t.push(
        ms(17_500),
        EventKind::Check {
            name: "converged".into(),
            passed: true,
            detail: "3 nodes agree on n1,n2,n3".into(),
            nodes: Vec::new(),
            found: Vec::new(),
        },
    );
    t.push(
        ms(17_500),
        EventKind::Check {
            name: "single-leader".into(),
            passed: true,
            detail: "n2".into(),
            nodes: Vec::new(),
            found: Vec::new(),
        },
    );
    if lost {
        t.push(
            ms(19_000),
            EventKind::Check {
                name: "no-lost-writes".into(),
                passed: false,
                detail: "k42 acknowledged, not read back".into(),
                nodes: vec!["n2".into()],
                found: vec![clusterlab_core::check::Found::on("lost", "k42")],
            },
        );
    }
    t.push(
        ms(20_000),
        EventKind::Check {
            name: "leader-key-matches".into(),
            passed: true,
            detail: "n2".into(),
            nodes: Vec::new(),
            found: Vec::new(),
        },
    );
    t
}

fn scenario() -> clusterlab_scenario::Scenario {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/quick.toml");
    clusterlab_scenario::load(std::path::Path::new(p)).unwrap()
}

#[test]
fn outcome_figures_come_from_the_trace() {
    let s = scenario();
    let o = Outcome::from_trace(&s, World::Sim, "r1", 7, &leader_kill_trace(false));
    assert!(o.passed, "{o:?}");
    assert_eq!(
        o.failover_ms,
        Some(3_200),
        "kill at 10.0 s, n2 leads at 13.2 s"
    );
    assert_eq!(
        o.convergence_ms,
        Some(2_500),
        "healed at 15.0 s, converged at 17.5 s"
    );
    assert_eq!(
        (o.writes_acked, o.writes_failed, o.writes_lost),
        (168, 32, 0)
    );
    assert_eq!(o.elapsed_ms, 20_000);
    assert!(o.summary().starts_with("PASS  quick [sim] 20.0s  converge 2.5s  failover 3.2s  writes 168 acked / 32 failed / 0 lost"), "{}", o.summary());

    let bad = Outcome::from_trace(&s, World::Sim, "r2", 7, &leader_kill_trace(true));
    assert!(!bad.passed);
    assert_eq!(bad.writes_lost, 1);
    assert!(bad.summary().starts_with("FAIL"));
}

#[test]
fn a_run_folder_holds_every_report() {
    let s = scenario();
    let out = tempfile::tempdir().unwrap();
    let trace = leader_kill_trace(true);
    let o = Outcome::from_trace(&s, World::Containers, "20261121-0001", 1, &trace);
    let dir = report::write_run(out.path(), &s, &o, &trace).unwrap();
    assert_eq!(dir, out.path().join("quick/20261121-0001"));
    assert_eq!(
        std::fs::read_link(out.path().join("quick/latest")).unwrap(),
        Path::new("20261121-0001")
    );

    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    assert_eq!(results["passed"], false);
    assert_eq!(results["failover_ms"], 3200);
    assert_eq!(results["writes_lost"], 1);

    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"<testcase name="converged""#), "{junit}");
    assert!(
        junit.contains(r#"failures="1""#) && junit.contains("k42 acknowledged, not read back"),
        "{junit}"
    );

    let events = std::fs::read_to_string(dir.join("events.jsonl")).unwrap();
    assert_eq!(Trace::from_jsonl(&events).unwrap(), trace);

    let svg = std::fs::read_to_string(dir.join("timeline.svg")).unwrap();
    std::fs::write(
        std::env::temp_dir().join("clusterlab-report-test.svg"),
        &svg,
    )
    .unwrap();
    let texts: Vec<&str> = svg
        .split("</text>")
        .filter_map(|chunk| chunk.rsplit_once('>').map(|(_, t)| t.trim()))
        .collect();
    for want in [
        "fault: kill-leader n1",
        "[n1,n2,n3]",
        "-n1",
        "failed no-lost-writes: n2",
        "n1",
        "n2",
        "n3",
        "leader key",
        "(none)",
        "write latency (ms); failed writes in red",
    ] {
        assert!(
            texts.contains(&want),
            "timeline lacks the text {want:?}: {texts:?}"
        );
    }
    // Role colours: the leader's blue appears for n1's and n2's terms.
    assert!(
        svg.matches("#1F77B4").count() >= 2,
        "leader stretches are drawn"
    );
    assert!(
        svg.contains("#D62728"),
        "the fault band and failed writes are red"
    );
}

#[test]
fn a_skipped_run_says_why_in_every_report() {
    let s = scenario();
    let out = tempfile::tempdir().unwrap();
    let o = Outcome::skipped(
        &s,
        World::Containers,
        "r9",
        "image rqlite/rqlite:8 is not available locally and cannot be pulled".into(),
    );
    assert!(o
        .summary()
        .starts_with("SKIP  quick [containers]: image rqlite/rqlite:8"));
    let dir = report::write_run(out.path(), &s, &o, &Trace::default()).unwrap();
    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(
        junit.contains("<skipped") && junit.contains("cannot be pulled"),
        "{junit}"
    );
    assert!(!dir.join("timeline.svg").exists());
}

use std::path::Path;
