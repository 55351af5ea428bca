//! The observer: every [`EVERY`], probe each cluster node and read the
//! store, publish the sample, and record each change of a node's role, of
//! its membership view and of the leader key. The timeline and the
//! failover figure are drawn from these events.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_scenario::trace::{EventKind, NodeRole};
use futures_util::future::join_all;
use tokio::sync::watch;

use super::addrs::Addrs;
use super::kind::{Kind, View};
use super::recorder::Recorder;
use super::store::{Store, StoreView};

/// How often the cluster is sampled.
pub const EVERY: Duration = Duration::from_millis(250);

/// What the fault schedule has done to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Running.
    Up,
    /// Killed, not restarted yet.
    Down,
    /// Frozen.
    Paused,
}

/// Node statuses, written by the fault schedule, read by the observer.
pub type Statuses = Arc<Mutex<BTreeMap<String, Status>>>;

/// One look at the whole cluster.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// When it was taken (before any probe was sent), since the start.
    pub taken: Duration,
    /// Each node's own view (`None`: did not answer or is not running).
    pub views: BTreeMap<String, Option<View>>,
    /// The store's view (`None`: it did not answer).
    pub store: Option<StoreView>,
    /// Nodes the schedule has not killed or paused.
    pub live: BTreeSet<String>,
}

impl Sample {
    /// The live nodes that say they lead.
    pub fn leaders(&self) -> Vec<String> {
        self.views
            .iter()
            .filter(|(n, v)| self.live.contains(*n) && v.as_ref().is_some_and(|v| v.leads))
            .map(|(n, _)| n.clone())
            .collect()
    }
}

/// Runs until the returned sender's receivers are gone or the task is
/// aborted.
pub fn spawn(
    kind: Kind,
    nodes: Vec<String>,
    statuses: Statuses,
    addrs: Addrs,
    store: Arc<Store>,
    rec: Recorder,
) -> (watch::Receiver<Sample>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Sample::default());
    let task = tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(800))
            .build()
            .expect("plain http client");
        let mut roles: BTreeMap<String, NodeRole> = BTreeMap::new();
        let mut members: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut leader_key: Option<Option<String>> = None;
        loop {
            let taken = rec.elapsed();
            let status = statuses.lock().expect("statuses lock").clone();
            let probes = nodes.iter().map(|n| {
                let (http, addrs) = (&http, &addrs);
                let up = status.get(n) == Some(&Status::Up);
                async move {
                    match (up, addrs.ip(n)) {
                        (true, Some(ip)) => kind.probe(http, ip).await,
                        _ => None,
                    }
                }
            });
            let (views, store_view) = tokio::join!(join_all(probes), store.view());
            let mut sample = Sample {
                taken,
                views: BTreeMap::new(),
                store: store_view,
                live: BTreeSet::new(),
            };
            for (n, view) in nodes.iter().zip(views) {
                let st = status.get(n).copied().unwrap_or(Status::Up);
                if st == Status::Up {
                    sample.live.insert(n.clone());
                }
                let role = match (st, &view) {
                    (Status::Down, _) => NodeRole::Down,
                    (Status::Paused, _) => NodeRole::Paused,
                    (Status::Up, Some(v)) if v.leads => NodeRole::Leader,
                    (Status::Up, Some(_)) => NodeRole::Follower,
                    (Status::Up, None) => NodeRole::Starting,
                };
                if roles.insert(n.clone(), role) != Some(role) {
                    rec.push(EventKind::Role {
                        node: n.clone(),
                        role,
                    });
                }
                if let Some(v) = &view {
                    if members.get(n) != Some(&v.members) {
                        members.insert(n.clone(), v.members.clone());
                        rec.push(EventKind::Members {
                            node: n.clone(),
                            members: v.members.iter().cloned().collect(),
                        });
                    }
                }
                sample.views.insert(n.clone(), view);
            }
            if let Some(s) = &sample.store {
                if leader_key.as_ref() != Some(&s.leader) {
                    leader_key = Some(s.leader.clone());
                    rec.push(EventKind::LeaderKey {
                        node: s.leader.clone(),
                    });
                }
            }
            if tx.send(sample).is_err() {
                return;
            }
            tokio::time::sleep(EVERY).await;
        }
    });
    (rx, task)
}
