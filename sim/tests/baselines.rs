//! The simulator finds the bugs the seeds' glue is known for, and disco
//! does not have them: both directions, on the same scenarios and seeds.

use std::path::Path;

use clusterlab_scenario::Scenario;
use clusterlab_sim::baseline::Strategy;
use clusterlab_sim::world;

fn scenario(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    clusterlab_scenario::load(&p).unwrap()
}

/// The first seed below 1,000 that breaks `invariant`, if any.
fn first_failure(s: &Scenario, strategy: Strategy, invariant: &str) -> Option<(u64, String)> {
    (0..1000).find_map(|seed| {
        let out = world::run_with(s, seed, strategy).unwrap();
        let found = out
            .outcome
            .failures()
            .find(|c| c.name == invariant)
            .map(|c| (seed, c.detail.clone()));
        found
    })
}

#[test]
fn naive_glue_double_bootstraps_and_disco_does_not() {
    let s = scenario("cold-start-5");
    let (seed, detail) =
        first_failure(&s, Strategy::Naive, "single-bootstrap").expect("found within 1,000 seeds");
    println!("naive: seed {seed}: {detail}");
    let disco = world::run(&s, seed).unwrap();
    assert!(
        disco.outcome.passed,
        "disco on seed {seed}: {:#?}",
        disco.outcome.checks
    );
}

#[test]
fn rqlite_style_leaves_a_stale_leader_key_and_disco_does_not() {
    let s = scenario("quick");
    let (seed, detail) = first_failure(&s, Strategy::RqliteStyle, "leader-key-expiry")
        .expect("found within 1,000 seeds");
    println!("rqlite-style: seed {seed}: {detail}");
    let disco = world::run(&s, seed).unwrap();
    assert!(
        disco.outcome.passed,
        "disco on seed {seed}: {:#?}",
        disco.outcome.checks
    );
}

/// A bounded number of seeds here; `clusterlab sim <scenario> --seeds
/// 10000` runs the big counts.
#[test]
fn disco_holds_on_every_shipped_sim_scenario() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
    let mut ran = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let s = clusterlab_scenario::load(&path).unwrap();
        if s.supports(clusterlab_scenario::World::Sim).is_err() {
            continue;
        }
        for seed in 0..8 {
            let out = world::run(&s, seed).unwrap();
            assert!(
                out.outcome.passed,
                "{} seed {seed}: {:#?}",
                s.name, out.outcome.checks
            );
        }
        ran += 1;
    }
    assert!(ran >= 6, "only {ran} scenarios simulated");
}

/// Generated schedules: the search shrinks rqlite-style's failure to a
/// single leader loss, and disco holds on the same search.
#[test]
fn generated_schedules_shrink_to_the_smallest_failure() {
    use clusterlab_scenario::Action;
    use clusterlab_sim::schedule;
    let s = scenario("quick");
    let found = (0..64)
        .find_map(|seed| {
            schedule::check(&s, Strategy::RqliteStyle, seed)
                .unwrap()
                .err()
        })
        .expect("a failing schedule within 64 seeds");
    println!(
        "rqlite-style, shrunk:\n{}",
        schedule::to_toml(&found.faults)
    );
    let failed: Vec<&str> = found
        .run
        .outcome
        .failures()
        .map(|c| c.name.as_str())
        .collect();
    assert!(failed.contains(&"leader-key-expiry"), "{failed:?}");
    assert_eq!(found.faults.len(), 1, "{:?}", found.faults);
    assert!(
        matches!(
            found.faults[0].action,
            Action::KillLeader | Action::Kill { .. } | Action::Crash { .. }
        ),
        "a node's death: {:?}",
        found.faults
    );
    for seed in 0..16 {
        if let Err(f) = schedule::check(&s, Strategy::Disco, seed).unwrap() {
            panic!(
                "disco, generated seed {seed}:\n{}{:#?}",
                schedule::to_toml(&f.faults),
                f.run.outcome.failures().collect::<Vec<_>>()
            );
        }
    }
}

/// The registration invariant, both ways: the naive glue renews every 45 s,
/// so after a discovery cut longer than its 60 s lease it stays missing from
/// the registry well past TTL + keepalive; disco re-announces at once.
#[test]
fn naive_glue_stays_unregistered_after_a_long_cut_and_disco_does_not() {
    let s = clusterlab_scenario::parse(
        "long-cut.toml",
        "long-cut",
        r#"
description = "n1 loses the registry for 65 s"
worlds = ["sim"]
[excluded]
containers = "test only"
[discovery]
kind = "etcd"
ttl = "3s"
[cluster]
kind = "etcd"
nodes = 1
[[faults]]
at = "50s"
action = "cut-discovery"
target = "n1"
for = "65s"
[[faults]]
at = "150s"
action = "heal"
[expect]
converge_within = "60s"
"#,
    )
    .unwrap();
    // One node, so that naive's double bootstrap cannot end the run first.
    let naive = world::run_with(&s, 0, Strategy::Naive).unwrap();
    let v = naive
        .outcome
        .failures()
        .find(|c| c.name == "registered")
        .unwrap_or_else(|| {
            panic!(
                "naive should stay unregistered: {:#?}",
                naive.outcome.checks
            )
        });
    println!("naive: {}", v.detail);
    assert!(v.detail.contains("n1"), "{}", v.detail);
    assert_eq!(v.nodes, ["n1"]);
    // The failure is drawn at its instant, on n1's row, by name.
    let out = tempfile::tempdir().unwrap();
    let dir =
        clusterlab_core::report::write_run(out.path(), &s, &naive.outcome, &naive.trace).unwrap();
    let svg = std::fs::read_to_string(dir.join("timeline.svg")).unwrap();
    assert!(
        svg.contains("failed registered: n1"),
        "the timeline names it"
    );
    let disco = world::run(&s, 0).unwrap();
    assert!(disco.outcome.passed, "{:#?}", disco.outcome.checks);
}
