//! What the simulated nodes publish and the driver reads each tick: each
//! node's leadership window and member view, and every bootstrap; plus the
//! run's trace and the switches that freeze a node. All times are
//! simulated time since the start, so a trace is the same for the same
//! seed, byte for byte.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_core::terms::Publication;
use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_core::view::Window;
use tokio::sync::watch;

/// One node as last published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Published {
    /// It may act as leader until this instant, with this fencing token.
    pub leader: Option<(Duration, u64)>,
    /// Its view of the members, sorted; `None` before its first view.
    pub members: Option<Vec<String>>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Moves whenever a node publishes, so that readers can skip a copy.
    version: u64,
    trace: Trace,
    nodes: BTreeMap<String, Published>,
    bootstraps: Vec<(Duration, String)>,
    /// Every leadership publication not yet taken, with its instant.
    published: Vec<Publication>,
    /// What the agents reported (phases, claims), not yet taken.
    facts: Vec<(Duration, EventKind)>,
    frozen: BTreeMap<String, watch::Sender<bool>>,
    leaving: BTreeMap<String, watch::Sender<bool>>,
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

    /// A node committed its bootstrap (now).
    pub fn bootstrap(&self, node: &str) {
        self.with(|i| i.bootstraps.push((now(), node.to_string())));
    }

    /// A node's agent entered `phase` (now).
    pub fn phase(&self, node: &str, phase: disco::agent::Phase) {
        let e = EventKind::Phase {
            node: node.to_string(),
            phase: phase.name().to_string(),
        };
        self.with(|i| i.facts.push((now(), e)));
    }

    /// A node won the bootstrap claim (now).
    pub fn claimed(&self, node: &str) {
        let e = EventKind::Claimed {
            node: node.to_string(),
        };
        self.with(|i| i.facts.push((now(), e)));
    }

    /// A node's database started or exited (now).
    pub fn database(&self, node: &str, running: bool) {
        let e = EventKind::Database {
            node: node.to_string(),
            running,
        };
        self.with(|i| i.facts.push((now(), e)));
    }

    /// What the agents reported since the last call, in order.
    pub fn take_facts(&self) -> Vec<(Duration, EventKind)> {
        self.with(|i| std::mem::take(&mut i.facts))
    }

    /// The bootstraps published since the last call.
    pub fn take_bootstraps(&self) -> Vec<(Duration, String)> {
        self.with(|i| std::mem::take(&mut i.bootstraps))
    }

    /// A node's leadership changed (or was renewed): `Some((until,
    /// token))` while it may act. Each call is kept, with its instant, for
    /// the referee's terms ([`Board::take_published`]).
    pub fn leadership(&self, node: &str, leader: Option<(Duration, u64)>) {
        self.with(|i| {
            i.version += 1;
            let window = leader.map(|(until, token)| Window { until, token });
            i.published.push((now(), node.to_string(), window));
            i.nodes.entry(node.to_string()).or_default().leader = leader;
        });
    }

    /// The leadership publications since the last call, in order.
    pub fn take_published(&self) -> Vec<Publication> {
        self.with(|i| std::mem::take(&mut i.published))
    }

    /// A node's member view changed.
    pub fn members(&self, node: &str, members: Vec<String>) {
        self.with(|i| {
            i.version += 1;
            i.nodes.entry(node.to_string()).or_default().members = Some(members);
        });
    }

    /// Forgets what a node published: it was killed or restarted, and a
    /// new incarnation starts from nothing.
    pub fn reset(&self, node: &str) {
        self.with(|i| {
            i.version += 1;
            i.nodes.remove(node);
        });
    }

    /// Freezes (`true`) or thaws a node's host.
    pub fn freeze(&self, node: &str, frozen: bool) {
        self.with(|i| {
            i.frozen
                .entry(node.to_string())
                .or_insert_with(|| watch::channel(false).0)
                .send_replace(frozen);
        });
    }

    /// Asks `node` to leave the cluster for good (a clean stop).
    pub fn leave(&self, node: &str) {
        self.with(|i| {
            i.leaving
                .entry(node.to_string())
                .or_insert_with(|| watch::channel(false).0)
                .send_replace(true);
        });
    }

    /// Whether `node` is asked to leave, as a watch its host follows.
    pub fn leaving(&self, node: &str) -> watch::Receiver<bool> {
        self.with(|i| {
            i.leaving
                .entry(node.to_string())
                .or_insert_with(|| watch::channel(false).0)
                .subscribe()
        })
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

    /// What `node` last published.
    pub fn published(&self, node: &str) -> Published {
        self.with(|i| i.nodes.get(node).cloned().unwrap_or_default())
    }

    /// A number that moves whenever a node publishes or is reset.
    pub fn version(&self) -> u64 {
        self.with(|i| i.version)
    }

    /// What every node last published.
    pub fn all(&self) -> BTreeMap<String, Published> {
        self.with(|i| i.nodes.clone())
    }

    /// The trace so far.
    pub fn trace(&self) -> Trace {
        self.with(|i| i.trace.clone())
    }
}
