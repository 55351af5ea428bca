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
use clusterlab_servers::{eventually, Server};
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

/// A node cut off past its TTL is announced again within a TTL (plus a
/// second) of the store answering again, although the registration it sent
/// into the cut waits on a connection that never answers: its grant gets
/// half the TTL, not the client's 5 s. Found by the container check
/// `registered` (a 3 s TTL node back 4.6 s after a 10 s isolation healed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_past_its_ttl_is_back_within_a_ttl_of_the_store_answering() {
    use disco::announce::{AnnounceConfig, Announcement};
    use disco::Keys;

    let etcd = Server::etcd().await;
    let proxy = StallProxy::start(etcd.port).await;
    let r = EtcdRegistry::connect(std::slice::from_ref(&proxy.url))
        .await
        .expect("etcd client");
    let direct = EtcdRegistry::connect(&[format!("http://127.0.0.1:{}", etcd.port)])
        .await
        .expect("etcd client");
    let ttl = Duration::from_secs(3);
    let keys = Keys::new("disco", "cut");
    let key = keys.member("a");
    let a = Announcement::start(
        r,
        keys,
        AnnounceConfig {
            node: "a".into(),
            address: "a:1".into(),
            ttl,
        },
    );
    let first = a.registered(Duration::from_secs(5)).await.unwrap().lease.id;

    proxy.cut();
    eventually(
        "a's lease to lapse and its key to go, cut off",
        Duration::from_secs(15),
        || async { a.lease().is_none() && direct.get(&key).await.is_ok_and(|e| e.is_none()) },
    )
    .await;
    // Its next registration is on its way into the cut now; the store
    // answers again from here on.
    proxy.mend();
    let took = eventually(
        "a to announce itself again on a new lease",
        Duration::from_secs(15),
        || async {
            direct
                .get(&key)
                .await
                .is_ok_and(|e| e.is_some_and(|e| e.lease.is_some_and(|l| l != first)))
        },
    )
    .await;
    assert!(
        took <= ttl + Duration::from_secs(1),
        "a was back {took:?} after the store answered again; a TTL of {ttl:?} (+1 s) is the bound"
    );
}
