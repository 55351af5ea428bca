//! The simulated databases the agents supervise: a model of any clustered
//! database, as an agent sees one. A node's database starts with the
//! agent's join plan: a bootstrapper's starts a new cluster, a joiner's
//! joins the cluster of a peer whose database runs (and keeps trying while
//! none does). Each cluster elects a leader among its running, ready
//! members that are up and reach a majority of them; a leader that loses
//! any of that is replaced after [`ELECTION`]. A database is ready
//! [`READY_AFTER`] after it starts, unless a fault holds it unready.
//!
//! The nemesis moves this state (a leadership that moves on its own, a
//! database that never becomes ready, one that crashes), so that the
//! agent's gate, its commit on ready, and its start-up and stop run under
//! every fault and seed. Times are simulated time; all state is behind one
//! lock, read and moved by the driver between steps.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use disco::agent::{Database, DatabaseError, Probe};
use disco::bootstrap::Role;
use disco::node::JoinPlan;
use tokio::sync::watch;

use super::board::now;

/// How long a database takes to be ready after it starts.
pub const READY_AFTER: Duration = Duration::from_millis(500);

/// How long a cluster is without a leader before it elects one.
pub const ELECTION: Duration = Duration::from_millis(1000);

#[derive(Debug)]
struct Db {
    /// The cluster it belongs to, once it found one.
    cluster: Option<u64>,
    /// Whom it tries to join while it has no cluster.
    peers: Vec<String>,
    started: Duration,
    running: bool,
    exit: watch::Sender<Option<i32>>,
}

#[derive(Debug, Default)]
struct Cluster {
    leader: Option<String>,
    leaderless_since: Option<Duration>,
}

#[derive(Debug, Default)]
struct Inner {
    dbs: BTreeMap<String, Db>,
    /// The last cluster each node's database belonged to (its data).
    remembered: BTreeMap<String, u64>,
    clusters: BTreeMap<u64, Cluster>,
    next: u64,
    unready: BTreeSet<String>,
    version: u64,
}

impl Inner {
    fn ready(&self, node: &str, at: Duration) -> bool {
        self.dbs
            .get(node)
            .is_some_and(|d| d.running && d.cluster.is_some() && at >= d.started + READY_AFTER)
            && !self.unready.contains(node)
    }

    fn members(&self, cluster: u64) -> Vec<&str> {
        self.dbs
            .iter()
            .filter(|(_, d)| d.running && d.cluster == Some(cluster))
            .map(|(n, _)| n.as_str())
            .collect()
    }
}

/// Every node's database in one run, shared by the agents and the driver.
#[derive(Debug, Clone, Default)]
pub struct Databases {
    inner: Arc<Mutex<Inner>>,
}

impl Databases {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("databases lock"))
    }

    /// A number that moves whenever any database's state does.
    pub fn version(&self) -> u64 {
        self.with(|i| i.version)
    }

    /// Whether `node`'s agent ever started a database (a baseline's node
    /// never does).
    pub fn known(&self, node: &str) -> bool {
        self.with(|i| i.dbs.contains_key(node))
    }

    /// Whether `node` runs a database (it has an agent that started one).
    pub fn runs(&self, node: &str) -> bool {
        self.with(|i| i.dbs.get(node).is_some_and(|d| d.running))
    }

    /// Whether `node`'s database leads its cluster now.
    pub fn leads(&self, node: &str) -> bool {
        self.with(|i| {
            let c = i
                .dbs
                .get(node)
                .filter(|d| d.running)
                .and_then(|d| d.cluster);
            c.and_then(|c| i.clusters.get(&c))
                .is_some_and(|c| c.leader.as_deref() == Some(node))
        })
    }

    /// The members `node`'s database sees: its cluster's running members;
    /// `None` if it runs none or belongs to none yet.
    pub fn members(&self, node: &str) -> Option<Vec<String>> {
        self.with(|i| {
            let c = i.dbs.get(node).filter(|d| d.running)?.cluster?;
            Some(i.members(c).into_iter().map(str::to_string).collect())
        })
    }

    /// Holds `node`'s database unready (`true`) or lets it be ready.
    pub fn set_unready(&self, node: &str, unready: bool) {
        self.with(|i| {
            i.version += 1;
            if unready {
                i.unready.insert(node.to_string());
            } else {
                i.unready.remove(node);
            }
        });
    }

    /// `node`'s database takes its cluster's leadership at `at`, if it
    /// could lead (running, ready).
    pub fn move_leader(&self, node: &str, at: Duration) {
        self.with(|i| {
            if !i.ready(node, at) {
                return;
            }
            let Some(c) = i.dbs.get(node).and_then(|d| d.cluster) else {
                return;
            };
            let cluster = i.clusters.entry(c).or_default();
            cluster.leader = Some(node.to_string());
            cluster.leaderless_since = None;
            i.version += 1;
        });
    }

    /// `node`'s database crashes: it exits with code 1.
    pub fn crash(&self, node: &str) {
        self.with(|i| {
            if let Some(d) = i.dbs.get_mut(node).filter(|d| d.running) {
                d.running = false;
                d.exit.send_replace(Some(1));
                i.version += 1;
            }
        });
    }

    /// Forgets `node`'s running database: its host was killed with it.
    pub fn killed(&self, node: &str) {
        self.with(|i| {
            if let Some(d) = i.dbs.get_mut(node) {
                d.running = false;
                i.version += 1;
            }
        });
    }

    /// Moves leadership as the databases would at `at`: joiners without a
    /// cluster join a running peer's; a leader that cannot lead any more
    /// (down, paused, unready, cut off from a majority of its cluster) is
    /// dropped, and a cluster without one for [`ELECTION`] elects the
    /// first member that can. `up` says whether a node runs unfrozen,
    /// `reach` whether two nodes reach each other.
    pub fn elect(
        &self,
        at: Duration,
        up: impl Fn(&str) -> bool,
        reach: impl Fn(&str, &str) -> bool,
    ) {
        self.with(|i| {
            let mut moved = false;
            // Joiners still looking for a cluster.
            let homeless: Vec<(String, Vec<String>)> = i
                .dbs
                .iter()
                .filter(|(_, d)| d.running && d.cluster.is_none())
                .map(|(n, d)| (n.clone(), d.peers.clone()))
                .collect();
            for (n, peers) in homeless {
                let found = peers.iter().find_map(|p| {
                    i.dbs
                        .get(p)
                        .filter(|d| d.running && reach(&n, p))
                        .and_then(|d| d.cluster)
                });
                if let Some(c) = found {
                    i.dbs.get_mut(&n).expect("listed").cluster = Some(c);
                    i.remembered.insert(n, c);
                    moved = true;
                }
            }
            let ids: Vec<u64> = i.clusters.keys().copied().collect();
            for c in ids {
                let members: Vec<String> = i.members(c).into_iter().map(str::to_string).collect();
                let can_lead = |i: &Inner, n: &str| {
                    up(n)
                        && i.ready(n, at)
                        && members.iter().filter(|m| *m == n || reach(n, m)).count() * 2
                            > members.len()
                };
                let leader = i.clusters[&c].leader.clone();
                if let Some(l) = leader {
                    if !can_lead(i, &l) {
                        let cl = i.clusters.get_mut(&c).expect("listed");
                        cl.leader = None;
                        cl.leaderless_since = Some(at);
                        moved = true;
                    }
                    continue;
                }
                let since = *i
                    .clusters
                    .get_mut(&c)
                    .expect("listed")
                    .leaderless_since
                    .get_or_insert(at);
                if at < since + ELECTION {
                    continue;
                }
                if let Some(m) = members.iter().find(|m| can_lead(i, m)) {
                    let cl = i.clusters.get_mut(&c).expect("listed");
                    cl.leader = Some(m.clone());
                    cl.leaderless_since = None;
                    moved = true;
                }
            }
            if moved {
                i.version += 1;
            }
        });
    }

    /// The database of `node`, for its agent.
    pub fn of(&self, node: &str) -> SimDb {
        SimDb {
            node: node.to_string(),
            dbs: self.clone(),
            exit: None,
        }
    }
}

/// One node's simulated database, as its agent sees it.
#[derive(Debug)]
pub struct SimDb {
    node: String,
    dbs: Databases,
    exit: Option<watch::Receiver<Option<i32>>>,
}

impl Database for SimDb {
    type Probe = SimProbe;

    fn probe(&self) -> SimProbe {
        SimProbe {
            node: self.node.clone(),
            dbs: self.dbs.clone(),
        }
    }

    async fn start(&mut self, plan: &JoinPlan) -> Result<(), DatabaseError> {
        let (tx, rx) = watch::channel(None);
        self.exit = Some(rx);
        let at = now();
        self.dbs.with(|i| {
            let cluster = match plan.role {
                Role::Bootstrap => {
                    i.next += 1;
                    let c = i.next;
                    i.clusters.insert(c, Cluster::default());
                    Some(c)
                }
                // Its data says which cluster it belongs to.
                Role::Rejoin => i.remembered.get(&plan.me.node).copied(),
                Role::Join { .. } => None,
            };
            // A joiner finds its cluster through its peers, the one it
            // joins through first.
            let mut peers: Vec<String> = plan.leader.iter().map(|m| m.node.clone()).collect();
            peers.extend(plan.peers.iter().map(|m| m.node.clone()));
            if let Some(c) = cluster {
                i.remembered.insert(plan.me.node.clone(), c);
            }
            i.dbs.insert(
                self.node.clone(),
                Db {
                    cluster,
                    peers,
                    started: at,
                    running: true,
                    exit: tx,
                },
            );
            i.version += 1;
        });
        Ok(())
    }

    fn stop(&mut self) {
        self.dbs.with(|i| {
            if let Some(d) = i.dbs.get_mut(&self.node).filter(|d| d.running) {
                d.running = false;
                d.exit.send_replace(Some(0));
                i.version += 1;
            }
        });
    }

    async fn exited(&mut self) -> i32 {
        let Some(rx) = self.exit.as_mut() else {
            return std::future::pending().await;
        };
        let code = match rx.wait_for(Option::is_some).await {
            Ok(code) => *code,
            Err(_) => None,
        };
        match code {
            Some(c) => c,
            None => std::future::pending().await,
        }
    }
}

/// Asks a node's simulated database.
#[derive(Debug, Clone)]
pub struct SimProbe {
    node: String,
    dbs: Databases,
}

impl Probe for SimProbe {
    async fn leads(&self) -> bool {
        self.dbs.leads(&self.node)
    }

    async fn ready(&self) -> bool {
        let at = now();
        self.dbs.with(|i| i.ready(&self.node, at))
    }
}
