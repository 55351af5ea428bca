//! The Registry contract and the disco logic against real etcd and Consul.
//! Every test runs once per backend, each on its own server.

use clusterlab_servers as support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use disco::announce::{AnnounceConfig, Announcement};
use disco::backend::http::{HttpClient, HttpRequest, HttpResponse, Reqwest};
use disco::backend::ConsulRegistry;
use disco::bootstrap::{self, BootstrapRecord, Decision, Role};
use disco::leader::{fence_holds, Leadership};
use disco::node::{Node, NodeConfig};
use disco::peers::Peers;
use disco::{Cas, Keys, Registry, RegistryError, Snapshot, Watch};
use tokio::time::Instant;

/// Runs `$body` (an async fn taking a registry and a TTL) against both stores.
macro_rules! both {
    ($name:ident) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn etcd() {
                let s = support::Server::etcd().await;
                super::$name(s.etcd_registry().await, Duration::from_secs(2)).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn consul() {
                let s = support::Server::consul().await;
                super::$name(s.consul_registry(), Duration::from_secs(10)).await;
            }
        }
    };
}

fn announce<R: Registry>(r: &R, keys: &Keys, node: &str, ttl: Duration) -> Announcement {
    Announcement::start(
        r.clone(),
        keys.clone(),
        AnnounceConfig {
            node: node.into(),
            address: format!("{node}:7000"),
            ttl,
        },
    )
}

both!(ttl_expiry_removes_a_silent_member);
async fn ttl_expiry_removes_a_silent_member<R: Registry>(r: R, ttl: Duration) {
    let keys = Keys::new("t", "ttl");
    let peers = Peers::start(r.clone(), keys.clone());
    let a = announce(&r, &keys, "n1", ttl);
    let b = announce(&r, &keys, "n2", ttl);
    peers
        .wait_for("both members", Duration::from_secs(10), |m| {
            m.nodes() == ["n1", "n2"]
        })
        .await
        .unwrap();
    let bounds = r.expiry_bounds(ttl);
    let stopped = Instant::now();
    a.abandon(); // stops renewing, as a crash would
    peers
        .wait_for("n1 to expire", bounds.max + Duration::from_secs(2), |m| {
            !m.contains("n1")
        })
        .await
        .unwrap();
    let gone = stopped.elapsed();
    // The last renewal was at most ttl/3 before the crash, so the key must
    // have outlived the crash by at least min - ttl/3.
    assert!(
        gone + ttl / 3 + Duration::from_millis(100) >= bounds.min,
        "n1 vanished after {gone:?}, before its lease could expire (min {:?})",
        bounds.min
    );
    assert!(
        peers.current().unwrap().contains("n2"),
        "the renewing member stays"
    );
    b.stop().await;
    peers
        .wait_for("n2 to deregister", Duration::from_secs(5), |m| {
            m.members.is_empty()
        })
        .await
        .unwrap();
}

both!(twenty_contenders_one_winner);
async fn twenty_contenders_one_winner<R: Registry>(r: R, ttl: Duration) {
    let mut tasks = Vec::new();
    for i in 0..20 {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            let lease = r.grant(ttl).await.unwrap();
            let out = r
                .create("t/race/key", &format!("c{i}"), Some(&lease.id))
                .await
                .unwrap();
            (format!("c{i}"), out)
        }));
    }
    let mut winners = Vec::new();
    let mut seen = Vec::new();
    for t in tasks {
        match t.await.unwrap() {
            (me, Cas::Written(_)) => winners.push(me),
            (_, Cas::Conflict(cur)) => seen.push(cur.expect("a conflict reports the holder").value),
        }
    }
    assert_eq!(
        winners.len(),
        1,
        "exactly one create-if-absent wins: {winners:?}"
    );
    let stored = r.get("t/race/key").await.unwrap().unwrap().value;
    assert_eq!(stored, winners[0]);
    assert!(
        seen.iter().all(|v| *v == winners[0]),
        "losers see the winner: {seen:?}"
    );
}

both!(compare_and_swap_follows_the_revision);
async fn compare_and_swap_follows_the_revision<R: Registry>(r: R, _ttl: Duration) {
    let k = "t/cas/k";
    let Cas::Written(r1) = r.create(k, "a", None).await.unwrap() else {
        panic!("first create must win")
    };
    assert!(
        matches!(r.create(k, "b", None).await.unwrap(), Cas::Conflict(Some(e)) if e.value == "a")
    );
    let Cas::Written(r2) = r.compare_and_swap(k, r1, "b", None).await.unwrap() else {
        panic!("CAS at the current revision must win")
    };
    assert!(r2 > r1, "revisions grow: {r1} -> {r2}");
    match r.compare_and_swap(k, r1, "c", None).await.unwrap() {
        Cas::Conflict(Some(e)) => assert_eq!((e.value.as_str(), e.revision), ("b", r2)),
        other => panic!("stale CAS must fail with the current entry, got {other:?}"),
    }
    assert!(
        !r.compare_and_delete(k, r1).await.unwrap(),
        "stale delete fails"
    );
    assert!(
        r.compare_and_delete(k, r2).await.unwrap(),
        "current delete wins"
    );
    assert_eq!(r.get(k).await.unwrap(), None);
    assert!(matches!(
        r.compare_and_swap(k, r2, "d", None).await.unwrap(),
        Cas::Conflict(None)
    ));
}

both!(a_deleted_key_is_gone);
/// A delete removes the key whatever its revision (a node deregistering
/// when its lease could not be revoked), and deleting a key that is not
/// there is no error (a second deregistration).
async fn a_deleted_key_is_gone<R: Registry>(r: R, _ttl: Duration) {
    let keys = Keys::new("t", "deleted");
    let (n1, n2) = (keys.member("n1"), keys.member("n2"));
    r.put(&n1, "n1:7000", None).await.unwrap();
    r.put(&n2, "n2:7000", None).await.unwrap();
    r.delete(&n1).await.unwrap();
    assert_eq!(r.get(&n1).await.unwrap(), None);
    let left = keys_of(&r.list(&keys.members()).await.unwrap());
    assert_eq!(left, [n2], "only the deleted key went");
    r.delete(&n1).await.unwrap();
}

both!(a_watch_sees_a_new_member_without_polling);
async fn a_watch_sees_a_new_member_without_polling<R: Registry>(r: R, ttl: Duration) {
    let keys = Keys::new("t", "watch");
    let peers = Peers::start(r.clone(), keys.clone());
    peers
        .wait_for("first view", Duration::from_secs(5), |_| true)
        .await
        .unwrap();
    let mut lat = Vec::new();
    let lease = r.grant(ttl).await.unwrap();
    for i in 0..15 {
        let node = format!("n{i:02}");
        let t0 = Instant::now();
        r.put(&keys.member(&node), "x:1", Some(&lease.id))
            .await
            .unwrap();
        peers
            .wait_for("the new member", Duration::from_secs(5), |m| {
                m.contains(&node)
            })
            .await
            .unwrap();
        lat.push(t0.elapsed());
    }
    lat.sort();
    let median = lat[lat.len() / 2];
    eprintln!(
        "{}: put -> peer view median {median:?}, max {:?}",
        r.kind(),
        lat[lat.len() - 1]
    );
    // The view has no timer at all; anything polled would show its period.
    assert!(
        median < Duration::from_millis(250),
        "median {median:?} looks polled"
    );
}

both!(a_watch_speaks_only_of_changes);
/// A watch starts from what it listed and sends a snapshot when something
/// changed: the write just before it is in its first snapshot and is not
/// sent again (a replay would come within milliseconds of the watch
/// starting; a second is the window), and the next snapshot is the next
/// write's.
async fn a_watch_speaks_only_of_changes<R: Registry>(r: R, _ttl: Duration) {
    let keys = Keys::new("t", "changes");
    let (n1, n2) = (keys.member("n1"), keys.member("n2"));
    r.put(&n1, "n1:7000", None).await.unwrap();
    let mut w = r.watch(&keys.members()).await.unwrap();
    assert_eq!(
        keys_of(&snapshot(&mut w).await),
        std::slice::from_ref(&n1),
        "the first snapshot is what was there"
    );
    let unasked = tokio::time::timeout(Duration::from_secs(1), w.next()).await;
    assert!(
        unasked.is_err(),
        "nothing was written, yet the watch sent {unasked:?}"
    );
    r.put(&n2, "n2:7000", None).await.unwrap();
    assert_eq!(
        keys_of(&snapshot(&mut w).await),
        [n1, n2],
        "the next snapshot is the next write's"
    );
}

both!(a_dropped_view_stops_following);
/// Dropping the view ends its watch: a receiver kept past the drop is told
/// the view is gone, instead of following the store for ever on a task
/// nobody owns.
async fn a_dropped_view_stops_following<R: Registry>(r: R, ttl: Duration) {
    let keys = Keys::new("t", "dropped");
    let peers = Peers::start(r.clone(), keys.clone());
    peers
        .wait_for("first view", Duration::from_secs(5), |_| true)
        .await
        .unwrap();
    let mut rx = peers.subscribe();
    rx.borrow_and_update();
    drop(peers);
    let lease = r.grant(ttl).await.unwrap();
    r.put(&keys.member("n1"), "x:1", Some(&lease.id))
        .await
        .unwrap();
    let after = tokio::time::timeout(Duration::from_secs(5), rx.changed()).await;
    assert!(
        matches!(after, Ok(Err(_))),
        "after the drop the view still followed the store: {:?}",
        *rx.borrow()
    );
}

both!(five_nodes_at_once_bootstrap_exactly_once);
async fn five_nodes_at_once_bootstrap_exactly_once<R: Registry>(r: R, ttl: Duration) {
    let keys = Keys::new("t", "cold");
    let tasks: Vec<_> = (0..5)
        .map(|i| {
            let (r, keys) = (r.clone(), keys.clone());
            tokio::spawn(async move {
                let lease = r.grant(ttl).await.unwrap().id;
                let decision =
                    bootstrap::decide(&r, &keys, &format!("n{i}"), || Some(lease.clone()))
                        .await
                        .unwrap();
                // The winner's database is up at once: it commits, and the
                // others, waiting on its claim, then join.
                if let Decision::Bootstrap(claim) = &decision {
                    bootstrap::commit(&r, &keys, claim).await.unwrap();
                }
                decision.role()
            })
        })
        .collect();
    let mut roles = Vec::new();
    for t in tasks {
        roles.push(t.await.unwrap());
    }
    let boots = roles.iter().filter(|r| **r == Role::Bootstrap).count();
    assert_eq!(boots, 1, "exactly one bootstrap: {roles:?}");
    let value = r.get(&keys.bootstrap()).await.unwrap().unwrap();
    let record = BootstrapRecord::parse(&value.value);
    assert!(
        record.committed && value.lease.is_none(),
        "committed for good: {value:?}"
    );
    let winner = record.node;
    for (i, role) in roles.iter().enumerate() {
        let me = format!("n{i}");
        if me != winner {
            assert_eq!(
                *role,
                Role::Join {
                    bootstrapper: winner.clone()
                }
            );
        }
    }
    // A restart of the winner (a new lease) never bootstraps again.
    let lease = r.grant(ttl).await.unwrap().id;
    assert_eq!(
        bootstrap::decide(&r, &keys, &winner, || Some(lease.clone()))
            .await
            .unwrap()
            .role(),
        Role::Rejoin
    );
}

both!(a_dead_leader_is_replaced_within_the_expiry_bound);
async fn a_dead_leader_is_replaced_within_the_expiry_bound<R: Registry>(r: R, ttl: Duration) {
    let keys = Keys::new("t", "lead");
    let mut nodes = Vec::new();
    for i in 0..3 {
        let cfg = NodeConfig {
            prefix: "t".into(),
            cluster: "lead".into(),
            node: format!("n{i}"),
            address: format!("n{i}:7000"),
            ttl,
            campaign: true,
        };
        nodes.push(
            Node::start(r.clone(), cfg, Duration::from_secs(10))
                .await
                .unwrap(),
        );
    }
    let leader_of = |nodes: &[Node]| {
        nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.election().unwrap().current().is_leader_now())
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let t0 = Instant::now();
    let mut leaders = leader_of(&nodes);
    while leaders.is_empty() && t0.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        leaders = leader_of(&nodes);
    }
    assert_eq!(leaders.len(), 1, "exactly one leader");
    let old = leaders[0];
    let Leadership::Leader {
        token: old_token, ..
    } = nodes[old].election().unwrap().current()
    else {
        unreachable!()
    };
    assert!(fence_holds(&r, &keys, old_token).await.unwrap());

    let killed = Instant::now();
    drop(nodes.remove(old)); // no resign, no deregister: a crash
    let bounds = r.expiry_bounds(ttl);
    let limit = bounds.max + ttl / 3;
    let mut new_leader = None;
    while killed.elapsed() < limit + Duration::from_secs(1) {
        let ls = leader_of(&nodes);
        assert!(ls.len() <= 1, "two leaders at once: {ls:?}");
        if let Some(&i) = ls.first() {
            new_leader = Some(i);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let took = killed.elapsed();
    let i = new_leader.unwrap_or_else(|| panic!("no new leader within {limit:?}"));
    assert!(took <= limit, "failover took {took:?}, bound {limit:?}");
    let Leadership::Leader { token, .. } = nodes[i].election().unwrap().current() else {
        unreachable!()
    };
    assert!(
        token > old_token,
        "fencing token grows: {old_token} -> {token}"
    );
    assert!(
        !fence_holds(&r, &keys, old_token).await.unwrap(),
        "the old term is fenced off"
    );
    eprintln!(
        "{}: failover after {took:?} (ttl {ttl:?}, bound {limit:?})",
        r.kind()
    );
    for n in nodes {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn an_unreachable_etcd_is_reported_clearly() {
    let port = support::free_port();
    let r = disco::backend::EtcdRegistry::connect(&[format!("http://127.0.0.1:{port}")])
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(2));
    let e = r.list("x/").await.unwrap_err();
    assert!(matches!(e, RegistryError::Unavailable { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")),
        "names the endpoint: {msg}"
    );
    // tonic keeps the cause in the status's source chain, not its message.
    assert!(msg.to_lowercase().contains("refused"), "says why: {msg}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn an_unreachable_consul_is_reported_clearly() {
    let port = support::free_port();
    let r = disco::backend::ConsulRegistry::new(&format!("http://127.0.0.1:{port}")).unwrap();
    let e = r.list("x/").await.unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, RegistryError::Unavailable { .. }), "{e:?}");
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")),
        "names the endpoint: {msg}"
    );
    assert!(msg.to_lowercase().contains("refused"), "says why: {msg}");
}

/// Counts the requests a Consul registry sends, and passes them on.
#[derive(Debug, Clone)]
struct Counting {
    inner: Reqwest,
    sent: Arc<AtomicUsize>,
}

impl HttpClient for Counting {
    async fn send(&self, req: HttpRequest) -> Result<HttpResponse, String> {
        self.sent.fetch_add(1, Ordering::SeqCst);
        self.inner.send(req).await
    }
}

/// The watch's next snapshot, within 5 s.
async fn snapshot(w: &mut Watch) -> Snapshot {
    tokio::time::timeout(Duration::from_secs(5), w.next())
        .await
        .expect("a snapshot within 5 s")
        .expect("the watch is open")
        .expect("a snapshot, not an error")
}

/// The keys a snapshot holds, in its order.
fn keys_of(s: &Snapshot) -> Vec<String> {
    s.entries.iter().map(|e| e.key.clone()).collect()
}

/// A Consul watch waits on the server: after a change it asks again from
/// the index it got and Consul holds that query until the next change or
/// the wait (30 s) runs out, so a quiet second costs at most the one query
/// already on its way, never a poll of the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_consul_watch_holds_one_query_open() {
    let s = support::Server::consul().await;
    let sent = Arc::new(AtomicUsize::new(0));
    let http = Counting {
        inner: Reqwest::new(Duration::from_secs(2)).unwrap(),
        sent: sent.clone(),
    };
    let r = ConsulRegistry::with_client(&s.url, http).unwrap();
    let keys = Keys::new("t", "quiet");
    let mut w = r.watch(&keys.members()).await.unwrap();
    snapshot(&mut w).await;
    // A change moves the index, and the watch asks again from the new one.
    s.consul_registry()
        .put(&keys.member("n1"), "n1:7000", None)
        .await
        .unwrap();
    assert_eq!(snapshot(&mut w).await.entries.len(), 1);
    let before = sent.load(Ordering::SeqCst);
    let quiet = tokio::time::timeout(Duration::from_secs(1), w.next()).await;
    assert!(
        quiet.is_err(),
        "nothing changed, yet the watch sent {quiet:?}"
    );
    let queries = sent.load(Ordering::SeqCst) - before;
    assert!(
        queries <= 1,
        "{queries} requests in a quiet second: the watch polls Consul"
    );
}

#[tokio::test]
async fn announce_retries_with_backoff_until_the_store_appears() {
    let port = support::free_port();
    let r = disco::backend::EtcdRegistry::connect(&[format!("http://127.0.0.1:{port}")])
        .await
        .unwrap()
        .with_timeout(Duration::from_secs(1));
    let keys = Keys::new("t", "late");
    let a = announce(&r, &keys, "n1", Duration::from_secs(2));
    assert!(
        a.registered(Duration::from_millis(500)).await.is_err(),
        "no store yet"
    );
    let _server = support::Server::etcd_on(port).await;
    a.registered(Duration::from_secs(15))
        .await
        .expect("registers once the store is up");
    assert!(r.get(&keys.member("n1")).await.unwrap().is_some());
}

both!(a_lost_lease_is_replaced_by_a_fresh_announcement);
async fn a_lost_lease_is_replaced_by_a_fresh_announcement<R: Registry>(r: R, ttl: Duration) {
    let keys = Keys::new("t", "relost");
    let peers = Peers::start(r.clone(), keys.clone());
    let a = announce(&r, &keys, "n1", ttl);
    let first = a.registered(Duration::from_secs(10)).await.unwrap();
    let mut rx = peers.subscribe();
    // The store loses the lease (as after a partition longer than the TTL).
    r.revoke(&first.lease.id).await.unwrap();
    let gone = tokio::time::timeout(
        Duration::from_secs(5),
        rx.wait_for(|m| m.as_ref().is_some_and(|m| !m.contains("n1"))),
    )
    .await
    .is_ok(); // drop the watch guard at once: holding it blocks the sender
    assert!(gone, "the revoked member key disappears");
    // Revoking a lease that is gone is no error (Registry::revoke).
    r.revoke(&first.lease.id).await.unwrap();
    let mut lease_rx = a.subscribe();
    // The guard goes at the end of the statement: held, it blocks the sender.
    let fresh = tokio::time::timeout(
        ttl + Duration::from_secs(5),
        lease_rx.wait_for(|l| l.as_ref().is_some_and(|l| l.lease.id != first.lease.id)),
    )
    .await
    .expect("a fresh lease is granted within one keep-alive interval")
    .expect("the announcement runs")
    .as_ref()
    .map(|l| l.lease.id.clone());
    peers
        .wait_for("n1 to be announced again", Duration::from_secs(5), |m| {
            m.contains("n1")
        })
        .await
        .unwrap();
    let e = r.get(&keys.member("n1")).await.unwrap().unwrap();
    // The store names the lease a key lives on (Consul: the session that
    // holds its lock), which takeovers and fencing rely on.
    assert_eq!(e.lease, fresh, "the key lives on the new lease");
}

both!(clusters_sharing_a_store_stay_apart);
async fn clusters_sharing_a_store_stay_apart<R: Registry>(r: R, ttl: Duration) {
    let (ka, kb) = (Keys::new("t", "a"), Keys::new("t", "b"));
    let lease = r.grant(ttl).await.unwrap().id;
    let current = || Some(lease.clone());
    assert_eq!(
        bootstrap::decide(&r, &ka, "n1", current)
            .await
            .unwrap()
            .role(),
        Role::Bootstrap
    );
    assert_eq!(
        bootstrap::decide(&r, &kb, "n1", current)
            .await
            .unwrap()
            .role(),
        Role::Bootstrap,
        "each cluster bootstraps once"
    );
    let pa = Peers::start(r.clone(), ka.clone());
    let pb = Peers::start(r.clone(), kb.clone());
    let _a = announce(&r, &ka, "n1", ttl);
    let _b = announce(&r, &kb, "n2", ttl);
    pa.wait_for("cluster a", Duration::from_secs(5), |m| m.nodes() == ["n1"])
        .await
        .unwrap();
    pb.wait_for("cluster b", Duration::from_secs(5), |m| m.nodes() == ["n2"])
        .await
        .unwrap();
}
