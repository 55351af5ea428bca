//! Failover: the leader's death (its runtime dropped: no revoke) to the
//! leader key naming a new live node, three campaigning disco nodes on real
//! etcd (TTL 2 s and 10 s) and Consul (TTL 10 s; Consul refuses sessions
//! under 10 s, so it has no 2 s case). Target: at most TTL + 1 s on etcd;
//! Consul may keep a session up to 2 x TTL.
// criterion_group! generates an undocumented `benches` fn.
#![allow(missing_docs)]

use std::time::Duration;

use clusterlab_benches::failover::Cluster;
use clusterlab_benches::{server, Backend};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use disco::Registry;

fn measure<R: Registry>(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    backend: Backend,
    url: &str,
    observer: R,
) {
    let mut g = c.benchmark_group(format!("failover_{}", backend.name()));
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    for ttl in [2u64, 10] {
        let ttl = Duration::from_secs(ttl);
        if ttl < backend.min_ttl() {
            println!(
                "failover_{}/{}s: skipped, below the store's minimum TTL {:?}",
                backend.name(),
                ttl.as_secs(),
                backend.min_ttl()
            );
            continue;
        }
        let _guard = rt.enter();
        let mut cluster = Cluster::start(
            backend,
            url,
            &format!("failover-{}", ttl.as_secs()),
            ttl,
            observer.clone(),
        );
        g.bench_with_input(
            BenchmarkId::new("ttl", format!("{}s", ttl.as_secs())),
            &ttl,
            |b, _| {
                b.iter_custom(|iters| {
                    rt.block_on(async {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            total += cluster.fail_over_once().await;
                        }
                        total
                    })
                })
            },
        );
    }
    g.finish();
}

fn failover(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for backend in Backend::ALL {
        let srv = rt.block_on(server(backend));
        let url = srv.url.clone();
        match backend {
            Backend::Etcd => {
                let r = rt.block_on(srv.etcd_registry());
                measure(c, &rt, backend, &url, r);
            }
            Backend::Consul => measure(c, &rt, backend, &url, srv.consul_registry()),
        }
    }
}

criterion_group!(benches, failover);
criterion_main!(benches);
