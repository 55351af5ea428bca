//! What a node tells its database to do (`Node::join_plan`), against a real
//! etcd: whom a joiner joins through, how long it waits for its
//! bootstrapper, and that it never starts alone. The plan is built above
//! the `Registry` from the peer view and the election, so one store is
//! enough; the stores' own views are tested in registry.rs. Found by
//! mutation testing (node.rs): no other test or simulated check read the
//! plan's peers or join target.

use std::time::Duration;

use clusterlab_servers::Server;
use disco::announce::{AnnounceConfig, Announcement};
use disco::bootstrap::Role;
use disco::leader::Leadership;
use disco::node::{JoinPlan, Node, NodeConfig};
use disco::peers::Member;
use disco::{Keys, Registry};
use tokio::time::Instant;

const TTL: Duration = Duration::from_secs(5);

fn config(node: &str, cluster: &str, campaign: bool) -> NodeConfig {
    NodeConfig {
        prefix: "disco".into(),
        cluster: cluster.into(),
        node: node.into(),
        address: format!("{node}:7000"),
        ttl: TTL,
        campaign,
    }
}

fn announce<R: Registry>(r: &R, cluster: &str, node: &str) -> Announcement {
    Announcement::start(
        r.clone(),
        Keys::new("disco", cluster),
        AnnounceConfig {
            node: node.into(),
            address: format!("{node}:7000"),
            ttl: TTL,
        },
    )
}

/// A committed bootstrap by `node`: a plain node id, what disco wrote
/// before claims existed, read as a committed record.
async fn bootstrapped_by<R: Registry>(r: &R, cluster: &str, node: &str) {
    r.put(&Keys::new("disco", cluster).bootstrap(), node, None)
        .await
        .unwrap();
}

fn nodes(ms: &[Member]) -> Vec<&str> {
    ms.iter().map(|m| m.node.as_str()).collect()
}

/// A joiner gives its bootstrapper's announcement two TTLs to show up
/// (its watch may lag the bootstrap key), and then joins through the
/// bootstrapper, not through whichever other joiner sorts first: a joiner
/// that joins only other joiners can make a second cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_waits_for_a_late_bootstrapper_and_joins_through_it() {
    let s = Server::etcd().await;
    let r = s.etcd_registry().await;
    bootstrapped_by(&r, "late", "n3").await;
    let _n1 = announce(&r, "late", "n1");
    let n2 = Node::start(
        r.clone(),
        config("n2", "late", false),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(
        *n2.role(),
        Role::Join {
            bootstrapper: "n3".into()
        }
    );
    let asked = Instant::now();
    let plan = tokio::spawn(async move { n2.join_plan(Duration::from_secs(30)).await });
    // The bootstrapper's announcement comes one TTL late: within the
    // joiner's grace, which must not have run out yet.
    tokio::time::sleep_until(asked + TTL).await;
    assert!(
        !plan.is_finished(),
        "the joiner stopped waiting for its bootstrapper within one TTL: {:?}",
        plan.await
    );
    let _n3 = announce(&r, "late", "n3");
    let plan: JoinPlan = tokio::time::timeout(Duration::from_secs(10), plan)
        .await
        .expect("a plan once the bootstrapper is announced")
        .unwrap()
        .unwrap();
    assert_eq!(nodes(&plan.peers), ["n1", "n3"], "{plan:?}");
    assert_eq!(plan.leader.as_ref().map(|m| m.node.as_str()), Some("n3"));
    assert_eq!(plan.me.node, "n2");
    assert_eq!(nodes(&plan.members()), ["n1", "n2", "n3"]);
}

/// A joiner whose bootstrapper never shows up, and that sees no other
/// member, has nobody to join: it fails at its deadline (one deadline,
/// the wait for the bootstrapper included) rather than start its database
/// alone (a second cluster). Once another member is announced, it joins
/// that one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_never_starts_alone() {
    let s = Server::etcd().await;
    let r = s.etcd_registry().await;
    bootstrapped_by(&r, "alone", "n1").await;
    let n2 = Node::start(
        r.clone(),
        config("n2", "alone", false),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let asked = Instant::now();
    let alone = n2.join_plan(Duration::from_secs(3)).await;
    assert!(
        alone.is_err(),
        "a joiner with nobody to join got a plan: {alone:?}"
    );
    // Not the deadline once for the bootstrapper and once more for anyone.
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "a 3 s deadline took {:?}",
        asked.elapsed()
    );
    let _n3 = announce(&r, "alone", "n3");
    let plan = n2.join_plan(Duration::from_secs(10)).await.unwrap();
    assert_eq!(nodes(&plan.peers), ["n3"], "{plan:?}");
    assert_eq!(plan.leader.as_ref().map(|m| m.node.as_str()), Some("n3"));
}

/// The disco leader, once known, is the join target, ahead of the
/// bootstrapper: the bootstrapper may have left the cluster since, the
/// leader is in it now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_joiner_joins_through_the_leader_before_the_bootstrapper() {
    let s = Server::etcd().await;
    let r = s.etcd_registry().await;
    bootstrapped_by(&r, "led", "n1").await;
    let _n1 = announce(&r, "led", "n1");
    let n3 = Node::start(
        r.clone(),
        config("n3", "led", true),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut lead = n3.election().unwrap().subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        lead.wait_for(|l| matches!(l, Leadership::Leader { .. })),
    )
    .await
    .expect("n3, the only campaigner, leads")
    .unwrap();
    let n2 = Node::start(
        r.clone(),
        config("n2", "led", true),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    let mut seen = n2.election().unwrap().subscribe();
    tokio::time::timeout(
        Duration::from_secs(10),
        seen.wait_for(|s| matches!(s, Leadership::Follower { leader: Some(l) } if l.node == "n3")),
    )
    .await
    .expect("n2 sees n3 lead")
    .unwrap();
    let plan = n2.join_plan(Duration::from_secs(10)).await.unwrap();
    assert_eq!(nodes(&plan.peers), ["n1", "n3"], "{plan:?}");
    assert_eq!(plan.leader.as_ref().map(|m| m.node.as_str()), Some("n3"));
}

/// A bootstrapper starts its new cluster alone whatever it sees announced:
/// others join it, never the other way round.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bootstrapper_joins_nobody() {
    let s = Server::etcd().await;
    let r = s.etcd_registry().await;
    let _n3 = announce(&r, "first", "n3");
    let n1 = Node::start(
        r.clone(),
        config("n1", "first", false),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(*n1.role(), Role::Bootstrap);
    n1.peers()
        .wait_for("n3 in the view", Duration::from_secs(10), |m| {
            m.members.iter().any(|x| x.node == "n3")
        })
        .await
        .unwrap();
    let plan = n1.join_plan(Duration::from_secs(10)).await.unwrap();
    assert!(plan.peers.is_empty() && plan.leader.is_none(), "{plan:?}");
    assert_eq!(nodes(&plan.members()), ["n1"]);
}
