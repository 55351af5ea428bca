//! The observer: every [`EVERY`], probe each cluster node (its database's
//! own view, and its agent's status endpoint) and read the store, and
//! publish one [`View`] of the whole cluster, in the shape every world
//! shares, with the bootstraps the agents reported.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_core::view::{NodeState, NodeView, View, Window};
use futures_util::future::join_all;
use serde_json::Value;
use tokio::sync::watch;

use super::addrs::Addrs;
use super::kind::{Kind, STATUS_PORT};
use super::recorder::Recorder;
use super::store::Store;

/// How often the cluster is sampled.
pub const EVERY: Duration = Duration::from_millis(250);

/// What the fault ledger says of each node, as the driver last set it.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Up, paused or down.
    pub states: BTreeMap<String, NodeState>,
    /// Nodes with an unbroken path to a working store.
    pub reaches_store: BTreeSet<String>,
    /// When a fault last touched the store's keys or leases.
    pub tampered: Option<Duration>,
    /// Since when no fault has been in effect.
    pub quiet_since: Option<Duration>,
    /// When a store node was last killed or restarted.
    pub store_changed: Option<Duration>,
}

/// The ledger, written by the driver, read by the observer and the writer.
pub type Shared = Arc<Mutex<Ledger>>;

/// One sample.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The cluster.
    pub view: View,
    /// Nodes whose agent says it bootstrapped the cluster.
    pub bootstrapped: BTreeSet<String>,
}

/// What an agent's status endpoint says.
struct Agent {
    window: Option<Window>,
    bootstrapped: bool,
    peers: Option<BTreeSet<String>>,
}

async fn agent(http: &reqwest::Client, ip: Ipv4Addr, taken: Duration) -> Option<Agent> {
    let v: Value = http
        .get(format!("http://{ip}:{STATUS_PORT}/status"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let window = v["leader"].as_object().and_then(|l| {
        Some(Window {
            until: taken + Duration::from_millis(l.get("valid_for_ms")?.as_u64()?),
            token: l.get("token")?.as_u64()?,
        })
    });
    let peers = v["peers"].as_array().map(|p| {
        p.iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    });
    Some(Agent {
        window,
        bootstrapped: v["role"].as_str() == Some("bootstrap"),
        peers,
    })
}

/// Runs until the returned receivers are gone or the task is aborted.
pub fn spawn(
    kind: Kind,
    nodes: Vec<String>,
    shared: Shared,
    addrs: Addrs,
    store: Arc<Store>,
    rec: Recorder,
) -> (watch::Receiver<Observed>, tokio::task::JoinHandle<()>) {
    let (tx, rx) = watch::channel(Observed::default());
    let task = tokio::spawn(async move {
        let http = disco::backend::http::builder()
            .timeout(Duration::from_millis(800))
            .build()
            .expect("plain http client");
        loop {
            let taken = rec.elapsed();
            let ledger = shared.lock().expect("ledger lock").clone();
            let probes = nodes.iter().map(|n| {
                let (http, addrs, kind) = (&http, &addrs, &kind);
                let state = ledger.states.get(n).copied().unwrap_or(NodeState::Up);
                async move {
                    match (state, addrs.ip(n)) {
                        (NodeState::Up, Some(ip)) => {
                            tokio::join!(kind.probe(http, ip, n), agent(http, ip, taken))
                        }
                        _ => (None, None),
                    }
                }
            });
            let (answers, store_view) = tokio::join!(join_all(probes), store.view());
            // A fault that began while this sample was taken may explain
            // what it saw: the sample is not quiet then.
            let quiet_since = {
                let now = shared.lock().expect("ledger lock").quiet_since;
                if now == ledger.quiet_since {
                    now
                } else {
                    None
                }
            };
            let mut view = View {
                at: taken,
                nodes: BTreeMap::new(),
                store: store_view,
                reaches_store: ledger.reaches_store.clone(),
                tampered: ledger.tampered,
                quiet_since,
                store_changed: ledger.store_changed,
            };
            let mut bootstrapped = BTreeSet::new();
            for (n, (db, agent)) in nodes.iter().zip(answers) {
                let state = ledger.states.get(n).copied().unwrap_or(NodeState::Up);
                if agent.as_ref().is_some_and(|a| a.bootstrapped) {
                    bootstrapped.insert(n.clone());
                }
                view.nodes.insert(
                    n.clone(),
                    NodeView {
                        state,
                        leads: db.as_ref().is_some_and(|d| d.leads),
                        members: db.map(|d| d.members.iter().map(|m| addrs.node_name(m)).collect()),
                        window: agent.as_ref().and_then(|a| a.window),
                        peers: agent.and_then(|a| a.peers),
                    },
                );
            }
            if tx.send(Observed { view, bootstrapped }).is_err() {
                return;
            }
            tokio::time::sleep(EVERY).await;
        }
    });
    (rx, task)
}
