//! What the simulated nodes publish and the invariants read: each node's
//! leadership window and member view, every bootstrap, and the trace. All
//! times are simulated time since the start, so the trace is the same for
//! the same seed, byte for byte.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_scenario::trace::{EventKind, NodeRole, Trace};
use tokio::sync::watch;

/// One node as last published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeState {
    /// Running (not crashed).
    pub alive: bool,
    /// Frozen by a pause fault.
    pub paused: bool,
    /// It may act as leader until this instant, with this fencing token.
    pub leader: Option<(Duration, u64)>,
    /// Its view of the members, sorted.
    pub members: Vec<String>,
}

#[derive(Debug, Default)]
struct Inner {
    trace: Trace,
    nodes: BTreeMap<String, NodeState>,
    bootstraps: Vec<String>,
    roles: BTreeMap<String, NodeRole>,
    died: BTreeMap<String, Duration>,
    frozen: BTreeMap<String, watch::Sender<bool>>,
}

/// Shared by the node hosts and the driver.
#[derive(Debug, Clone, Default)]
pub struct Board {
    inner: Arc<Mutex<Inner>>,
}

/// Simulated time since the start (zero outside a simulation).
pub fn now() -> Duration {
    turmoil::sim_elapsed().unwrap_or_default()
}

impl Board {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().expect("board lock"))
    }

    /// Records an event at simulated time `at`.
    pub fn event(&self, at: Duration, kind: EventKind) {
        self.with(|i| i.trace.push(at, kind));
    }

    /// A node won the bootstrap key.
    pub fn bootstrap(&self, node: &str) {
        self.with(|i| i.bootstraps.push(node.to_string()));
        self.event(now(), EventKind::Bootstrap { node: node.into() });
    }

    fn role(&self, at: Duration, node: &str, role: NodeRole) {
        let changed = self.with(|i| i.roles.insert(node.to_string(), role) != Some(role));
        if changed {
            self.event(
                at,
                EventKind::Role {
                    node: node.into(),
                    role,
                },
            );
        }
    }

    /// A node's leadership changed: `Some((until, token))` while it may act.
    pub fn leadership(&self, node: &str, leader: Option<(Duration, u64)>) {
        self.with(|i| i.nodes.entry(node.to_string()).or_default().leader = leader);
        let role = if leader.is_some() {
            NodeRole::Leader
        } else {
            NodeRole::Follower
        };
        self.role(now(), node, role);
    }

    /// A node's member view changed.
    pub fn members(&self, node: &str, members: Vec<String>) {
        let changed = self.with(|i| {
            let st = i.nodes.entry(node.to_string()).or_default();
            let changed = st.members != members;
            st.members = members.clone();
            changed
        });
        if changed {
            self.event(
                now(),
                EventKind::Members {
                    node: node.into(),
                    members,
                },
            );
        }
    }

    /// The driver started, crashed or restarted a node.
    pub fn alive(&self, at: Duration, node: &str, alive: bool) {
        self.with(|i| {
            let st = i.nodes.entry(node.to_string()).or_default();
            st.alive = alive;
            if alive {
                i.died.remove(node);
            } else {
                st.leader = None;
                st.members.clear();
                i.died.insert(node.to_string(), at);
            }
        });
        self.role(
            at,
            node,
            if alive {
                NodeRole::Starting
            } else {
                NodeRole::Down
            },
        );
    }

    /// The driver froze (`true`) or thawed a node.
    pub fn pause(&self, at: Duration, node: &str, paused: bool) {
        self.with(|i| {
            i.nodes.entry(node.to_string()).or_default().paused = paused;
            i.frozen
                .entry(node.to_string())
                .or_insert_with(|| watch::channel(false).0)
                .send_replace(paused);
        });
        let role = if paused {
            NodeRole::Paused
        } else {
            NodeRole::Starting
        };
        self.role(at, node, role);
    }

    /// Whether `node` is frozen, as a watch its host gates its work on.
    pub fn frozen(&self, node: &str) -> watch::Receiver<bool> {
        self.with(|i| {
            i.frozen
                .entry(node.to_string())
                .or_insert_with(|| watch::channel(false).0)
                .subscribe()
        })
    }

    /// Every node's state.
    pub fn nodes(&self) -> BTreeMap<String, NodeState> {
        self.with(|i| i.nodes.clone())
    }

    /// When each dead node died.
    pub fn died(&self) -> BTreeMap<String, Duration> {
        self.with(|i| i.died.clone())
    }

    /// Every bootstrap, in order.
    pub fn bootstraps(&self) -> Vec<String> {
        self.with(|i| i.bootstraps.clone())
    }

    /// The trace so far.
    pub fn trace(&self) -> Trace {
        self.with(|i| i.trace.clone())
    }
}
