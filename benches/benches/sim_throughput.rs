//! Simulator throughput: one seed of the 5-node, 60-simulated-second
//! leader-loss scenario per iteration, on this one thread (so the figure is
//! per core); and the simulated join latency distribution over 200 seeds of
//! a 5-node cold start (first start to every peer's view holding a node).
// criterion_group! generates an undocumented `benches` fn.
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use clusterlab_benches::gate;
use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_sim::world;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;

fn scenario(name: &str) -> clusterlab_scenario::Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    clusterlab_scenario::load(&p).expect("shipped scenario")
}

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

fn sim_throughput(c: &mut Criterion) {
    let s = scenario("sim-leader-loss-60s");
    let mut g = c.benchmark_group("sim");
    g.sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(1));
    let mut seed = 0u64;
    g.bench_with_input(BenchmarkId::new("seed", &s.name), &s, |b, s| {
        b.iter(|| {
            seed += 1;
            let out = world::run(s, seed).expect("simulates");
            assert!(out.outcome.passed, "seed {seed}: {:?}", out.outcome.checks);
        })
    });
    g.finish();

    let cold = scenario("cold-start-5");
    let mut h = Histogram::<u64>::new(3).expect("histogram");
    for seed in 0..200 {
        for ms in joins(&world::run(&cold, seed).expect("simulates").trace) {
            h.record(ms).expect("in range");
        }
    }
    println!(
        "simulated join latency, cold-start-5 x 200 seeds ({} joins): p50 {} ms, p90 {} ms, p99 {} ms, max {} ms",
        h.len(),
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.9),
        h.value_at_quantile(0.99),
        h.max()
    );
    let mut figures = gate::Figures::new();
    for (q, name) in [(0.5, "p50"), (0.99, "p99")] {
        figures.insert(
            format!("sim.join_{name}_ms"),
            gate::lower(h.value_at_quantile(q) as f64, "ms", gate::ABSOLUTE_MARGIN),
        );
    }
    gate::record(figures).expect("write figures");
}

criterion_group!(benches, sim_throughput);
criterion_main!(benches);
