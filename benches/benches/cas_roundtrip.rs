//! Conditional-write round trips per backend: create-if-absent of a fresh
//! key, and compare-and-swap on one key at its current revision.
// criterion_group! generates an undocumented `benches` fn.
#![allow(missing_docs)]

use std::time::Duration;

use clusterlab_benches::{server, Backend};
use criterion::{criterion_group, criterion_main, Criterion};
use disco::registry::Cas;
use disco::Registry;

fn group<R: Registry>(c: &mut Criterion, rt: &tokio::runtime::Runtime, backend: Backend, r: R) {
    let mut g = c.benchmark_group(format!("cas_{}", backend.name()));
    g.sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    let mut n = 0u64;
    g.bench_function("create", |b| {
        b.to_async(rt).iter(|| {
            n += 1;
            let (r, key) = (r.clone(), format!("bench/cas/create/{n}"));
            async move {
                let done = r.create(&key, "v", None).await.expect("create");
                assert!(matches!(done, Cas::Written(_)), "a fresh key is created");
            }
        })
    });
    let key = "bench/cas/swap";
    let mut rev = rt.block_on(r.put(key, "0", None)).expect("put");
    g.bench_function("cas", |b| {
        b.iter(|| {
            rt.block_on(async {
                match r.compare_and_swap(key, rev, "v", None).await.expect("cas") {
                    Cas::Written(next) => rev = next,
                    Cas::Conflict(e) => panic!("nobody else writes {key}: {e:?}"),
                }
            })
        })
    });
    g.finish();
}

fn cas_roundtrip(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    for backend in Backend::ALL {
        let srv = rt.block_on(server(backend));
        match backend {
            Backend::Etcd => {
                let r = rt.block_on(srv.etcd_registry());
                group(c, &rt, backend, r);
            }
            Backend::Consul => group(c, &rt, backend, srv.consul_registry()),
        }
    }
}

criterion_group!(benches, cas_roundtrip);
criterion_main!(benches);
