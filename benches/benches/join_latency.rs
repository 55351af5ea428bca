//! Join latency: a node's start to every peer's view holding it, for 3, 5
//! and 7 nodes on real etcd and Consul over loopback; disco beside the
//! store's own floor (grant, put on the lease, bare watches seeing it) and
//! the naive glue (intervals / `naive::SCALE`), same servers, same run.
// criterion_group! generates an undocumented `benches` fn.
#![allow(missing_docs)]

use std::time::Duration;

use clusterlab_benches::join::{DiscoCluster, NaiveCluster, RawCluster};
use clusterlab_benches::naive::{self, SCALE};
use clusterlab_benches::{server, Backend};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use disco::Registry;

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
        g.bench_with_input(BenchmarkId::new("raw", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += raw.join_once().await;
                    }
                    total
                })
            })
        });
        rt.block_on(async move { drop(raw) });
        let mut disco = rt.block_on(DiscoCluster::start(
            registry.clone(),
            &format!("join-disco-{n}"),
            n,
            backend.min_ttl(),
        ));
        g.bench_with_input(BenchmarkId::new("disco", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += disco.join_once().await;
                    }
                    total
                })
            })
        });
        drop(disco);
        let mut naive = rt.block_on(async {
            NaiveCluster::start(
                registry.clone(),
                &format!("join-naive-{n}"),
                n,
                backend.min_ttl(),
            )
        });
        g.bench_with_input(BenchmarkId::new("naive", n), &n, |b, _| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += naive.join_once().await;
                    }
                    total
                })
            })
        });
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
