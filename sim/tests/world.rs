//! The simulated world on the shipped scenarios: invariants hold for
//! disco, and the same seed gives the same trace, byte for byte.

use std::path::Path;
use std::time::Instant;

use clusterlab_scenario::Scenario;
use clusterlab_sim::world;

fn scenario(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    clusterlab_scenario::load(&p).unwrap()
}

#[test]
fn quick_holds_its_invariants_and_replays_byte_for_byte() {
    let s = scenario("quick");
    let t0 = Instant::now();
    let a = world::run(&s, 7).unwrap();
    let took = t0.elapsed();
    let b = world::run(&s, 7).unwrap();
    println!("{}", a.trace.to_jsonl());
    println!("one run of {:?} simulated took {took:?}", s.duration);
    assert!(a.violations.is_empty(), "{:#?}", a.violations);
    assert_eq!(
        a.trace.to_jsonl(),
        b.trace.to_jsonl(),
        "same seed, same trace"
    );
    let kinds = a.trace.to_jsonl();
    assert!(kinds.contains("\"fault-start\""), "the fault fired");
    assert!(kinds.contains("\"bootstrap\""), "a node bootstrapped");
}

#[test]
fn different_seeds_replay_exactly_too() {
    let s = scenario("cold-start-5");
    for seed in [1, 2, 3] {
        let (a, b) = (world::run(&s, seed).unwrap(), world::run(&s, seed).unwrap());
        assert!(a.violations.is_empty(), "seed {seed}: {:#?}", a.violations);
        assert_eq!(a.trace.to_jsonl(), b.trace.to_jsonl(), "seed {seed}");
    }
}
