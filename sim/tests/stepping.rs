//! Event stepping (`world::stepping`): the shipped scenarios hold their
//! invariants under it, a seed replays byte for byte, no message is
//! delivered after its due time, a join is seen at millisecond resolution
//! rather than a tick's, and a bug a few milliseconds wide that tick
//! stepping passes is caught.

use std::path::Path;
use std::time::Duration;

use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_scenario::Scenario;
use clusterlab_sim::baseline::Strategy;
use clusterlab_sim::world::database::READY_AFTER;
use clusterlab_sim::world::stepping::Stepping;
use clusterlab_sim::world::{simulate_stepping, Schedule, Simulated};

fn scenario(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    clusterlab_scenario::load(&p).unwrap()
}

fn run(s: &Scenario, seed: u64, stepping: Stepping) -> Simulated {
    simulate_stepping(s, seed, Strategy::Disco, Schedule::Scenario, stepping).unwrap()
}

#[test]
fn shipped_scenarios_pass_replay_and_deliver_nothing_late_under_event_stepping() {
    for name in ["quick", "sim-leader-loss-60s", "sim-consul-store-faults"] {
        let s = scenario(name);
        for seed in 0..3 {
            let a = run(&s, seed, Stepping::Events);
            assert!(
                a.outcome.passed,
                "{name} seed {seed}: {:#?}",
                a.outcome.checks
            );
            assert_eq!(a.late.count, 0, "{name} seed {seed}: late {:?}", a.late);
            if seed == 0 {
                let b = run(&s, seed, Stepping::Events);
                assert_eq!(
                    a.trace.to_jsonl(),
                    b.trace.to_jsonl(),
                    "{name}: same seed, same trace"
                );
            }
        }
    }
}

/// When every node's view first held every node (ms).
fn all_joined(trace: &Trace, nodes: usize) -> Option<u64> {
    let mut views = std::collections::BTreeMap::new();
    trace.events.iter().find_map(|e| match &e.kind {
        EventKind::Members { node, members } => {
            views.insert(node.clone(), members.len());
            (views.len() == nodes && views.values().all(|&n| n == nodes)).then_some(e.at_ms)
        }
        _ => None,
    })
}

#[test]
fn a_cold_start_is_seen_joined_within_milliseconds_of_the_databases_being_ready() {
    // The nodes announce once their databases are ready (READY_AFTER after
    // they start); a handful of store round trips later every view holds
    // every node. At 1 ms resolution and LAN latency that is a few
    // milliseconds; a 50 ms tick with up to 100 ms per message cannot.
    let s = scenario("cold-start-5");
    let ready = READY_AFTER.as_millis() as u64;
    for seed in 0..5 {
        let events = all_joined(&run(&s, seed, Stepping::Events).trace, 5).expect("joined");
        let ticks = all_joined(&run(&s, seed, Stepping::Ticks).trace, 5).expect("joined");
        let bound = ready + Duration::from_millis(50).as_millis() as u64;
        assert!(
            events < bound,
            "seed {seed}: joined at {events} ms under event stepping (bound {bound} ms)"
        );
        assert!(
            ticks >= bound,
            "seed {seed}: tick stepping saw the join at {ticks} ms, finer than its tick"
        );
    }
}

#[test]
fn a_scenario_sets_its_own_latency() {
    // cold-start-5 with 25 ms one way: the few round trips of a join take
    // at least four messages' worth longer than at the default 1-2 ms.
    let base = scenario("cold-start-5");
    let slow_text = format!("{}\n[sim]\nlatency = \"25ms\"\n", base.source);
    let slow = clusterlab_scenario::parse("slow.toml", "slow", &slow_text).unwrap();
    assert_eq!(
        slow.sim_latency,
        Some((Duration::from_millis(25), Duration::from_millis(25)))
    );
    let fast = all_joined(&run(&base, 3, Stepping::Events).trace, 5).expect("joined");
    let out = run(&slow, 3, Stepping::Events);
    assert!(out.outcome.passed, "{:#?}", out.outcome.checks);
    let late = all_joined(&out.trace, 5).expect("joined");
    assert!(
        late >= fast + 4 * 24,
        "joined at {late} ms at 25 ms a message, {fast} ms at 1-2 ms"
    );
}

#[test]
fn a_window_a_few_milliseconds_past_its_lease_passes_tick_stepping_and_fails_event_stepping() {
    // The planted adapter (baseline::late_window) lets every window run
    // 4 ms past the renewal's send plus the TTL; the store counts the TTL
    // from the renewal's arrival. Under tick stepping a message takes at
    // least a 50 ms tick, so no window outlives its lease; under event
    // stepping a renewal arrives in 1-3 ms, and every leader's does.
    let s = scenario("sim-leader-loss-60s");
    for seed in 0..5 {
        let late = |stepping| {
            simulate_stepping(&s, seed, Strategy::LateWindow, Schedule::Scenario, stepping)
                .unwrap()
                .outcome
        };
        let coarse = late(Stepping::Ticks);
        assert!(
            coarse.passed,
            "seed {seed} under ticks: {:#?}",
            coarse.checks
        );
        let fine = late(Stepping::Events);
        // The simulator stops at a safety breach, so the liveness checks
        // that wanted the rest of the run fail with it.
        let breach = fine.failures().find(|c| c.name == "window-within-lease");
        let breach =
            breach.unwrap_or_else(|| panic!("seed {seed} under events: {:#?}", fine.checks));
        println!("seed {seed}: {}", breach.detail);
        let disco = run(&s, seed, Stepping::Events);
        assert!(
            disco.outcome.passed,
            "disco, seed {seed}: {:#?}",
            disco.outcome.checks
        );
    }
}
