//! Event stepping beside tick stepping, on this one thread: seeds per
//! minute, verdicts, late messages, and the simulated join latency.
//!   cargo run --release -p clusterlab-sim --example stepping -- SCENARIO.toml SEEDS
//! (`STEPPING=events` or `ticks` runs only one.)
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::time::Instant;

use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_sim::baseline::Strategy;
use clusterlab_sim::world::stepping::Stepping;
use clusterlab_sim::world::{simulate_stepping, Schedule};

/// For each node, when every other node's view first held it (ms).
fn joins(trace: &Trace) -> Vec<u64> {
    let mut views: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    for e in &trace.events {
        if let EventKind::Members { node, members } = &e.kind {
            views.insert(node.clone(), members.clone());
            for n in members {
                let everyone = views.len() > 1
                    && views
                        .iter()
                        .filter(|(v, _)| *v != n)
                        .all(|(_, m)| m.contains(n));
                if everyone {
                    seen.entry(n.clone()).or_insert(e.at_ms);
                }
            }
        }
    }
    seen.into_values().collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let s = clusterlab_scenario::load(std::path::Path::new(&args[1])).expect("scenario");
    let seeds: u64 = args.get(2).map_or(100, |n| n.parse().expect("seeds"));
    let only = std::env::var("STEPPING").ok();
    for stepping in [Stepping::Ticks, Stepping::Events] {
        if only
            .as_deref()
            .is_some_and(|o| !format!("{stepping:?}").eq_ignore_ascii_case(o))
        {
            continue;
        }
        let t = Instant::now();
        let (mut failed, mut late, mut worst) = (0, 0, std::time::Duration::ZERO);
        let mut j = Vec::new();
        for seed in 0..seeds {
            let out = simulate_stepping(&s, seed, Strategy::Disco, Schedule::Scenario, stepping)
                .expect("simulates");
            if !out.outcome.passed {
                failed += 1;
                if failed <= 3 {
                    let bad: Vec<_> = out.outcome.checks.iter().filter(|c| !c.passed).collect();
                    eprintln!("{stepping:?} seed {seed} failed: {bad:?}");
                }
            }
            late += out.late.count;
            worst = worst.max(out.late.worst);
            j.extend(joins(&out.trace));
        }
        let secs = t.elapsed().as_secs_f64();
        j.sort_unstable();
        let q = |p: f64| {
            j.get(((j.len() as f64 - 1.0) * p) as usize)
                .copied()
                .unwrap_or(0)
        };
        println!(
            "{stepping:?}: {seeds} seeds in {secs:.2} s = {:.0} seeds/min; failed {failed}; late messages {late} (worst {worst:?}); joins p50 {} ms p99 {} ms",
            seeds as f64 * 60.0 / secs,
            q(0.5),
            q(0.99)
        );
    }
}
