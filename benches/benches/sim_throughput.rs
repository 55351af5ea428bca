//! Simulator throughput: one seed of the 5-node, 60-simulated-second
//! leader-loss scenario per iteration, on this one thread (so the figure is
//! per core); and the simulated join latency of the join bench's own disco
//! cluster (a node's start to every peer's view holding it), 3, 5 and 7
//! nodes, on the etcd and Consul models, to set beside the real figures.
// criterion_group! generates an undocumented `benches` fn.
#![allow(missing_docs)]

use std::path::Path;
use std::time::Duration;

use clusterlab_benches::{gate, sim_join};
use clusterlab_scenario::StoreKind;
use clusterlab_sim::world;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hdrhistogram::Histogram;

fn scenario(name: &str) -> clusterlab_scenario::Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    clusterlab_scenario::load(&p).expect("shipped scenario")
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

    // The join bench's own disco cluster (join::DiscoCluster) inside the
    // simulator: the figure to set beside join.<store>.<n>.disco_ms.
    let mut figures = gate::Figures::new();
    for (kind, store) in [(StoreKind::Etcd, "etcd"), (StoreKind::Consul, "consul")] {
        for n in [3usize, 5, 7] {
            let mut h = Histogram::<u64>::new(3).expect("histogram");
            for seed in 0..10 {
                for t in sim_join::disco_joins(kind, n, 10, seed) {
                    h.record(t.as_micros() as u64).expect("in range");
                }
            }
            let p50 = h.value_at_quantile(0.5) as f64 / 1000.0;
            println!(
                "simulated join, {store} {n} nodes, {} joins: p50 {p50} ms, max {} ms",
                h.len(),
                h.max() as f64 / 1000.0
            );
            figures.insert(
                format!("sim.join.{store}.{n}_ms"),
                gate::lower(p50, "ms", gate::ABSOLUTE_MARGIN),
            );
        }
    }
    gate::record(figures).expect("write figures");
}

criterion_group!(benches, sim_throughput);
criterion_main!(benches);
