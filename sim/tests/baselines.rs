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
        out.violations
            .iter()
            .find(|v| v.invariant == invariant)
            .map(|v| (seed, v.detail.clone()))
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
        disco.violations.is_empty(),
        "disco on seed {seed}: {:#?}",
        disco.violations
    );
}

#[test]
fn rqlite_style_leaves_a_stale_leader_key_and_disco_does_not() {
    let s = scenario("quick");
    let (seed, detail) =
        first_failure(&s, Strategy::RqliteStyle, "leader-key").expect("found within 1,000 seeds");
    println!("rqlite-style: seed {seed}: {detail}");
    let disco = world::run(&s, seed).unwrap();
    assert!(
        disco.violations.is_empty(),
        "disco on seed {seed}: {:#?}",
        disco.violations
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
        if s.supports(clusterlab_scenario::World::Sim).is_err()
            || s.discovery.kind != clusterlab_scenario::StoreKind::Etcd
        {
            continue;
        }
        for seed in 0..8 {
            let out = world::run(&s, seed).unwrap();
            assert!(
                out.violations.is_empty(),
                "{} seed {seed}: {:#?}",
                s.name,
                out.violations
            );
        }
        ran += 1;
    }
    assert!(ran >= 4, "only {ran} scenarios simulated");
}

/// Generated schedules: the search shrinks rqlite-style's failure to a
/// single leader loss, and disco holds on the same search.
#[test]
fn generated_schedules_shrink_to_the_smallest_failure() {
    use clusterlab_scenario::Action;
    use clusterlab_sim::schedule;
    let s = scenario("quick");
    let found = schedule::search(&s, Strategy::RqliteStyle, 64, 0).expect("a failing schedule");
    println!(
        "rqlite-style, shrunk:\n{}",
        schedule::to_toml(&found.faults)
    );
    assert_eq!(found.violation.invariant, "leader-key");
    assert_eq!(found.faults.len(), 1, "{:?}", found.faults);
    assert!(matches!(
        found.faults[0].action,
        Action::KillLeader | Action::Kill { .. }
    ));
    assert!(schedule::search(&s, Strategy::Disco, 16, 0).is_none());
}
