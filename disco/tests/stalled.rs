//! A connection that goes silent for good (segments lost, a middlebox that
//! forgot the flow) must cost one deadline, not a lease: the etcd backend
//! gives a renewal at most a third of its lease's TTL, and a call that gets
//! no answer replaces the connection, once however many calls were waiting
//! on it. Real etcd behind `clusterlab_servers::stall`, which stalls the
//! open connections and lets new ones through.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clusterlab_servers::stall::StallProxy;
use clusterlab_servers::Server;
use disco::backend::EtcdRegistry;
use disco::{Registry, RegistryError};
use tokio::time::Instant;

/// With the default 5 s request deadline, longer than the lease itself, a
/// renewal on a stalled connection still gives up within a third of the
/// TTL, and the next one (on a fresh connection) keeps the lease.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewal_on_a_stalled_connection_gives_up_within_a_third_of_the_ttl() {
    let etcd = Server::etcd().await;
    let proxy = StallProxy::start(etcd.port).await;
    let r = EtcdRegistry::connect(std::slice::from_ref(&proxy.url))
        .await
        .expect("etcd client");
    let ttl = Duration::from_secs(3);
    let lease = r.grant(ttl).await.expect("grant");
    r.put("stalled/n1", "n1:7000", Some(&lease.id))
        .await
        .expect("put");

    proxy.stall();
    let start = Instant::now();
    let err = r
        .keep_alive(&lease.id)
        .await
        .expect_err("a stalled connection cannot renew");
    let took = start.elapsed();
    assert!(
        matches!(err, RegistryError::Unavailable { .. }),
        "a stall is unavailability, not a lost lease: {err}"
    );
    assert!(
        took < ttl / 3 + Duration::from_millis(300),
        "the renewal waited {took:?}; at most a third of the {ttl:?} TTL leaves time to retry"
    );

    r.keep_alive(&lease.id)
        .await
        .expect("the next renewal runs on a fresh connection, before the lease expires");
    let kept = r.get("stalled/n1").await.expect("get");
    assert_eq!(
        kept.map(|e| e.value).as_deref(),
        Some("n1:7000"),
        "the member key outlived the stall"
    );
}

/// Two calls waiting on one stalled connection time out at different
/// moments: the first replaces the connection, the second finds it already
/// replaced and leaves the fresh one alone (replacing it again would cut
/// every call and watch just moved onto it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_stalled_on_one_connection_replace_it_once() {
    let etcd = Server::etcd().await;
    let proxy = StallProxy::start(etcd.port).await;
    let connects = Arc::new(AtomicUsize::new(0));
    let (url, counter) = (proxy.url.clone(), connects.clone());
    let r = EtcdRegistry::from_channels("etcd behind the stall proxy", move || {
        counter.fetch_add(1, Ordering::SeqCst);
        let endpoint = tonic::transport::Endpoint::from_shared(url.clone()).expect("proxy url");
        etcd_client::Channel::Tonic(endpoint.connect_lazy())
    })
    .await
    .expect("etcd client");
    r.put("stalled/k", "v", None).await.expect("put");
    assert_eq!(
        connects.load(Ordering::SeqCst),
        1,
        "one connection to start"
    );

    proxy.stall();
    let early = r.clone().with_timeout(Duration::from_millis(500));
    let late = r.clone().with_timeout(Duration::from_millis(1500));
    let (a, b) = tokio::join!(early.get("stalled/k"), late.get("stalled/k"));
    assert!(
        a.is_err() && b.is_err(),
        "both calls sat on the stalled connection: {a:?} {b:?}"
    );
    assert_eq!(
        connects.load(Ordering::SeqCst),
        2,
        "the stalled connection is replaced once, by the first call to give up"
    );
    let after = r
        .get("stalled/k")
        .await
        .expect("get on the fresh connection");
    assert_eq!(after.map(|e| e.value).as_deref(), Some("v"));
}
