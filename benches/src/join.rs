//! Join latency: from a node's start to the moment every peer's view holds
//! it, for disco (push: watches), the naive glue (pull: polling), and the
//! store's own floor (a lease, a key on it, bare watches seeing it).

use std::collections::BTreeSet;
use std::time::Duration;

use disco::keys::Keys;
use disco::node::{Node, NodeConfig};
use disco::peers::Membership;
use disco::Registry;
use tokio::sync::watch;
// tokio's clock: real time here, simulated time in the simulator
// (`sim_join`), which runs the same clusters.
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::naive::{self, Poller};
use crate::PREFIX;

/// How long any one join may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(60);

/// Waits until `pred` holds for every view.
async fn until_all<T>(views: &mut [watch::Receiver<T>], what: &str, pred: impl Fn(&T) -> bool) {
    let give_up = Instant::now() + DEADLINE;
    for v in views.iter_mut() {
        let waited = tokio::time::timeout_at(give_up, v.wait_for(|x| pred(x))).await;
        assert!(
            matches!(waited, Ok(Ok(_))),
            "gave up after {DEADLINE:?} waiting for {what}"
        );
    }
}

fn config(cluster: &str, node: &str, ttl: Duration) -> NodeConfig {
    NodeConfig {
        prefix: PREFIX.to_string(),
        cluster: cluster.to_string(),
        node: node.to_string(),
        address: format!("{node}:7000"),
        ttl,
        campaign: false,
    }
}

fn has(m: &Option<Membership>, node: &str) -> bool {
    m.as_ref().is_some_and(|m| m.contains(node))
}

/// A cluster that one more node joins, over and over: each join's time.
pub trait Joins {
    /// One join: the time until every running peer's view holds the
    /// joiner; the joiner is gone from every view again before it returns.
    fn join_once(&mut self) -> impl std::future::Future<Output = Duration>;
}

/// `size - 1` running disco nodes that one more node joins, over and over.
pub struct DiscoCluster<R: Registry> {
    registry: R,
    cluster: String,
    ttl: Duration,
    _nodes: Vec<Node>,
    views: Vec<watch::Receiver<Option<Membership>>>,
    next: usize,
}

impl<R: Registry> DiscoCluster<R> {
    /// Starts `size - 1` nodes and waits until they see each other.
    pub async fn start(registry: R, cluster: &str, size: usize, ttl: Duration) -> Self {
        let mut nodes = Vec::new();
        for i in 1..size {
            let cfg = config(cluster, &format!("n{i}"), ttl);
            nodes.push(
                Node::start(registry.clone(), cfg, DEADLINE)
                    .await
                    .expect("node starts"),
            );
        }
        let mut views: Vec<_> = nodes.iter().map(|n| n.peers().subscribe()).collect();
        let all: Vec<String> = (1..size).map(|i| format!("n{i}")).collect();
        until_all(&mut views, "the running nodes to see each other", |m| {
            all.iter().all(|n| has(m, n))
        })
        .await;
        DiscoCluster {
            registry,
            cluster: cluster.to_string(),
            ttl,
            _nodes: nodes,
            views,
            next: 0,
        }
    }

    /// One join: the time until every running node's view holds the new
    /// node. The node then leaves (deregisters) and is gone from every view
    /// before this returns.
    pub async fn join_once(&mut self) -> Duration {
        self.next += 1;
        let name = format!("j{}", self.next);
        let cfg = config(&self.cluster, &name, self.ttl);
        let t0 = Instant::now();
        let starting = tokio::spawn(Node::start(self.registry.clone(), cfg, DEADLINE));
        until_all(&mut self.views, "every peer to see the joiner", |m| {
            has(m, &name)
        })
        .await;
        let took = t0.elapsed();
        let node = starting.await.expect("join task").expect("node starts");
        node.shutdown().await;
        until_all(&mut self.views, "the joiner to leave", |m| !has(m, &name)).await;
        took
    }
}

/// `size - 1` naive pollers, spread evenly over the period, that one more
/// naive node joins.
pub struct NaiveCluster<R: Registry> {
    registry: R,
    keys: Keys,
    min_ttl: Duration,
    _pollers: Vec<Poller>,
    views: Vec<watch::Receiver<BTreeSet<String>>>,
    next: usize,
}

impl<R: Registry> NaiveCluster<R> {
    /// Starts the pollers.
    pub fn start(registry: R, cluster: &str, size: usize, min_ttl: Duration) -> Self {
        let keys = Keys::new(PREFIX, cluster);
        let peers = size.saturating_sub(1).max(1);
        let pollers: Vec<Poller> = (0..peers)
            .map(|i| {
                let phase = naive::period() * i as u32 / peers as u32;
                Poller::start(registry.clone(), keys.clone(), phase)
            })
            .collect();
        let views = pollers.iter().map(Poller::view).collect();
        NaiveCluster {
            registry,
            keys,
            min_ttl,
            _pollers: pollers,
            views,
            next: 0,
        }
    }

    /// One join, as [`DiscoCluster::join_once`].
    pub async fn join_once(&mut self) -> Duration {
        self.next += 1;
        let name = format!("j{}", self.next);
        // Independent shell loops are at no particular phase of each other:
        // start each join at a different point of the pollers' period (a
        // fixed sequence, so runs compare), or every join would wait exactly
        // one full period behind the previous join's removal.
        let phase = naive::period() * ((self.next * 7) % 10) as u32 / 10;
        tokio::time::sleep(phase).await;
        let t0 = Instant::now();
        naive::announce(&self.registry, &self.keys, &name, self.min_ttl)
            .await
            .expect("naive announce");
        until_all(&mut self.views, "every poller to see the joiner", |v| {
            v.contains(&name)
        })
        .await;
        let took = t0.elapsed();
        self.registry
            .delete(&self.keys.member(&name))
            .await
            .expect("delete");
        until_all(&mut self.views, "the joiner to leave", |v| {
            !v.contains(&name)
        })
        .await;
        took
    }
}

/// `size - 1` bare watches of the members' prefix that one more key joins:
/// the store's own floor for a join (grant a lease, put a key on it, every
/// watch sees it), through the same client as disco's backends and with
/// none of disco's logic (no registration checks, no bootstrap decision,
/// no member view).
pub struct RawCluster<R: Registry> {
    registry: R,
    keys: Keys,
    ttl: Duration,
    watchers: Vec<JoinHandle<()>>,
    views: Vec<watch::Receiver<BTreeSet<String>>>,
    next: usize,
}

impl<R: Registry> RawCluster<R> {
    /// Starts the watches and waits until each has its first snapshot.
    pub async fn start(registry: R, cluster: &str, size: usize, ttl: Duration) -> Self {
        let keys = Keys::new(PREFIX, cluster);
        let (mut watchers, mut views) = (Vec::new(), Vec::new());
        for _ in 1..size {
            let mut w = registry.watch(&keys.members()).await.expect("watch");
            let (tx, rx) = watch::channel(BTreeSet::new());
            watchers.push(tokio::spawn(async move {
                while let Some(snap) = w.next().await {
                    if let Ok(s) = snap {
                        tx.send_replace(s.entries.into_iter().map(|e| e.key).collect());
                    }
                }
            }));
            views.push(rx);
        }
        RawCluster {
            registry,
            keys,
            ttl,
            watchers,
            views,
            next: 0,
        }
    }

    /// One join, as [`DiscoCluster::join_once`]: the time from the grant
    /// to every watch holding the key; the lease is then revoked and the
    /// key gone from every watch before this returns.
    pub async fn join_once(&mut self) -> Duration {
        self.next += 1;
        let key = self.keys.member(&format!("j{}", self.next));
        let t0 = Instant::now();
        let lease = self.registry.grant(self.ttl).await.expect("grant");
        self.registry
            .put(&key, "j:7000", Some(&lease.id))
            .await
            .expect("put");
        until_all(&mut self.views, "every watch to see the key", |v| {
            v.contains(&key)
        })
        .await;
        let took = t0.elapsed();
        self.registry.revoke(&lease.id).await.expect("revoke");
        until_all(&mut self.views, "the key to go", |v| !v.contains(&key)).await;
        took
    }
}

impl<R: Registry> Drop for RawCluster<R> {
    fn drop(&mut self) {
        for w in &self.watchers {
            w.abort();
        }
    }
}

impl<R: Registry> Joins for DiscoCluster<R> {
    async fn join_once(&mut self) -> Duration {
        DiscoCluster::join_once(self).await
    }
}

impl<R: Registry> Joins for NaiveCluster<R> {
    async fn join_once(&mut self) -> Duration {
        NaiveCluster::join_once(self).await
    }
}

impl<R: Registry> Joins for RawCluster<R> {
    async fn join_once(&mut self) -> Duration {
        RawCluster::join_once(self).await
    }
}
