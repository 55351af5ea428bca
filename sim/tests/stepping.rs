//! Event stepping (`world::stepping`): the shipped scenarios hold their
//! invariants under it, a seed replays byte for byte, a message is
//! delivered late only through a timer not announced and by at most two
//! sweeps (and counted), a join is seen at millisecond resolution
//! rather than a tick's, and a bug a few milliseconds wide that tick
//! stepping passes is caught.

use std::path::Path;
use std::time::Duration;

use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_scenario::Scenario;
use clusterlab_sim::baseline::Strategy;
use clusterlab_sim::world::database::READY_AFTER;
use clusterlab_sim::world::stepping::{Stepping, MAX_LAG};
use clusterlab_sim::world::{simulate_stepping, Schedule, Simulated};

fn scenario(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    clusterlab_scenario::load(&p).unwrap()
}

fn run(s: &Scenario, seed: u64, stepping: Stepping) -> Simulated {
    simulate_stepping(s, seed, Strategy::Disco, Schedule::Scenario, stepping).unwrap()
}

#[test]
fn shipped_scenarios_pass_replay_and_deliver_late_only_within_two_sweeps_under_event_stepping() {
    for name in ["quick", "sim-leader-loss-60s", "sim-consul-store-faults"] {
        let s = scenario(name);
        for seed in 0..3 {
            let a = run(&s, seed, Stepping::Events);
            assert!(
                a.outcome.passed,
                "{name} seed {seed}: {:#?}",
                a.outcome.checks
            );
            // Only timers not announced (HTTP/2 keepalive inside tonic)
            // make late messages, no later than two sweeps.
            assert!(
                a.late.worst <= 2 * MAX_LAG,
                "{name} seed {seed}: late {:?}",
                a.late
            );
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
    // from the renewal's arrival. Under tick stepping a message reaches the
    // store at the next tick, up to 50 ms after its send, so a window
    // outlives its lease only for a renewal sent in a tick's last 4 ms:
    // none in these 60 s (the phase moves 17 ms a renewal, 1.67 s apart,
    // from a tick-aligned grant, and reaches the last 4 ms at about 68 s).
    // Under event stepping a renewal arrives in 1-2 ms: the first fails.
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
        assert!(breach.detail.contains("ms past it"), "{}", breach.detail);
        let disco = run(&s, seed, Stepping::Events);
        assert!(
            disco.outcome.passed,
            "disco, seed {seed}: {:#?}",
            disco.outcome.checks
        );
    }
}

#[test]
fn a_message_a_timer_not_announced_makes_late_is_counted() {
    // The sender's only timer is tokio's own, not disco::timer's, so the
    // simulator does not know it: the host runs only at a sweep, catches up
    // on its clock through the timer and sends in the past. Its message is
    // due before anyone could take it: counted, not lost and not hidden.
    use clusterlab_sim::world::stepping::Events;
    let mut builder = turmoil::Builder::new();
    builder
        .min_message_latency(Duration::from_millis(1))
        .max_message_latency(Duration::from_millis(1));
    let mut sim = builder.build();
    let mut events = Events::new(&mut sim);
    sim.host("server", || async {
        let s = turmoil::net::UdpSocket::bind(("0.0.0.0", 9)).await?;
        let mut buf = [0; 8];
        loop {
            s.recv_from(&mut buf).await?;
        }
    });
    sim.client("sender", async {
        let s = turmoil::net::UdpSocket::bind(("0.0.0.0", 9)).await?;
        tokio::time::sleep(Duration::from_millis(1234)).await;
        s.send_to(b"late", ("server", 9)).await?;
        Ok(())
    });
    let mut first = true;
    while !events.step(&mut sim, first, None).unwrap() {
        first = false;
    }
    let late = sim.late();
    assert_eq!(late.count, 1, "{late:?}");
    assert!(late.worst > Duration::from_millis(100), "{late:?}");
}
