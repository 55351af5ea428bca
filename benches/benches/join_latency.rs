//! Join latency: a node's start to every peer's view holding it, for 3, 5
//! and 7 nodes on real etcd and Consul over loopback; disco beside the
//! store's own floor (grant, put on the lease, bare watches seeing it) and
//! the naive glue (intervals / `naive::SCALE`), same servers, same run.
// criterion_group! generates an undocumented `benches` fn.
#![allow(missing_docs)]

use std::time::Duration;

use clusterlab_benches::join::{DiscoCluster, Joins, NaiveCluster, RawCluster};
use clusterlab_benches::naive::{self, SCALE};
use clusterlab_benches::{server, Backend};
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use disco::Registry;

/// `name/n`: the time of each of `cluster`'s joins.
fn bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    name: &str,
    n: usize,
    cluster: &mut impl Joins,
) {
    g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += cluster.join_once().await;
                }
                total
            })
        })
    });
}

fn group<R: Registry>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    backend: Backend,
    registry: R,
) {
    let mut g = c.benchmark_group(format!("join_{}", backend.name()));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for n in [3usize, 5, 7] {
        let mut raw = rt.block_on(RawCluster::start(
            registry.clone(),
            &format!("join-raw-{n}"),
            n,
            backend.min_ttl(),
        ));
        bench(&mut g, rt, "raw", n, &mut raw);
        rt.block_on(async move { drop(raw) });
        let mut disco = rt.block_on(DiscoCluster::start(
            registry.clone(),
            &format!("join-disco-{n}"),
            n,
            backend.min_ttl(),
        ));
        bench(&mut g, rt, "disco", n, &mut disco);
        drop(disco);
        let mut naive = rt.block_on(async {
            NaiveCluster::start(
                registry.clone(),
                &format!("join-naive-{n}"),
                n,
                backend.min_ttl(),
            )
        });
        bench(&mut g, rt, "naive", n, &mut naive);
        rt.block_on(async move { drop(naive) });
    }
    g.finish();
}

fn join_latency(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    println!(
        "naive glue scaled by 1/{SCALE}: polls and renews every {:?} (the seeds' 45 s), TTL {:?} (60 s) or the store's minimum",
        naive::period(),
        Duration::from_secs(60) / SCALE
    );
    for backend in Backend::ALL {
        let srv = rt.block_on(server(backend));
        match backend {
            Backend::Etcd => {
                let r = rt.block_on(srv.etcd_registry());
                group(c, &rt, backend, r);
            }
            Backend::Consul => group(c, &rt, backend, srv.consul_registry()),
        }
        drop(srv);
    }
}

criterion_group!(benches, join_latency);
criterion_main!(benches);
