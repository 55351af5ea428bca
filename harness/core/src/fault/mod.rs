//! The fault engine both worlds share: the schedule, the seeded picker,
//! role and group resolution, and the ledger of what is in effect. A world
//! supplies only the mechanism, through [`Nemesis`]: apply one effect,
//! undo it, restart a node, and say who leads. So the same scenario and
//! seed give the same faults, in the same order, at the same times, hitting
//! the same nodes wherever the choice does not depend on live state.
//!
//! As Jepsen's nemesis and etcd's robustness failpoints do, the schedule
//! (when, what, whom) is kept apart from the mechanism (iptables in a
//! container's namespace, a turmoil partition).

pub mod atom;
mod effects;
mod fire;
mod nemesis;
pub mod pick;
pub mod resolve;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clusterlab_scenario::{Action, Direction, Fault, Peer, Scenario, StoreKey, Target};

use crate::trace::EventKind;
use crate::tracker::Past;
use crate::view::{NodeState, Taken};
pub use atom::{Atom, Ledger, Shaping};
pub use effects::depends_on_leader;
pub use nemesis::{DbOp, Nemesis, StoreOp};
use pick::Picker;
use resolve::Live;
use schedule::Step;

/// How long a fault whose target is a role waits for the role to be known
/// (a leader to exist) before it fires anyway, hitting nobody.
pub const ROLE_WAIT: Duration = Duration::from_secs(20);

/// What a fault does when it fires.
struct Resolved {
    hit: Vec<String>,
    atoms: Vec<Atom>,
    forever: Vec<Atom>,
    bounce: Vec<String>,
    ops: Vec<StoreOp>,
    db: Vec<DbOp>,
}

/// A fault in effect.
#[derive(Debug, Clone)]
struct Active {
    fault: usize,
    atoms: Vec<Atom>,
}

/// The engine of one run.
#[derive(Debug, Clone)]
pub struct Engine {
    faults: Vec<Fault>,
    nodes: Vec<String>,
    stores: Vec<String>,
    seed: u64,
    steps: Vec<Step>,
    next: usize,
    waiting: Vec<Step>,
    active: Vec<Active>,
    ledger: Ledger,
    strict: bool,
    /// Derived from the ledger whenever it changes: each node's state, and
    /// the nodes that reach the store (read every tick by the simulator).
    states: BTreeMap<String, NodeState>,
    reaches: BTreeSet<String>,
    severed: BTreeSet<String>,
    left_cut: BTreeMap<String, Duration>,
    store_up: bool,
    version: u64,
    /// Every time a fault took the leader key from outside.
    taken: Vec<Taken>,
    /// When a fault last started or ended.
    changed: Duration,
    /// When the store's leader last changed: its leader was killed, or
    /// the store came back from losing its quorum (either way a new leader
    /// renews every lease for a full TTL).
    store_changed: Option<Duration>,
}

impl Engine {
    /// The engine for `scenario`'s faults with `seed`; `stores` names the
    /// world's discovery store nodes.
    pub fn new(scenario: &Scenario, seed: u64, stores: Vec<String>) -> Engine {
        Engine {
            steps: schedule::expand(&scenario.faults),
            faults: scenario.faults.clone(),
            nodes: scenario.cluster.nodes.clone(),
            stores,
            seed,
            next: 0,
            waiting: Vec::new(),
            active: Vec::new(),
            ledger: Ledger::default(),
            strict: true,
            states: BTreeMap::new(),
            reaches: BTreeSet::new(),
            severed: BTreeSet::new(),
            left_cut: BTreeMap::new(),
            store_up: true,
            version: 0,
            taken: Vec::new(),
            changed: Duration::ZERO,
            store_changed: None,
        }
        .derived()
    }

    /// Recomputes what is derived from the ledger.
    fn derived(mut self) -> Engine {
        self.derive();
        self
    }

    fn derive(&mut self) {
        let holds = |a: Atom| self.ledger.holds(&a);
        self.states = self
            .nodes
            .iter()
            .map(|n| {
                let st = if holds(Atom::Down(n.clone())) || holds(Atom::Left(n.clone())) {
                    NodeState::Down
                } else if holds(Atom::Pause(n.clone())) {
                    NodeState::Paused
                } else {
                    NodeState::Up
                };
                (n.clone(), st)
            })
            .collect();
        let down = self
            .stores
            .iter()
            .filter(|s| holds(Atom::StoreDown((*s).clone())))
            .count();
        self.store_up = (self.stores.len() - down) * 2 > self.stores.len();
        let is_store = |n: &str| self.stores.iter().any(|s| s == n);
        let blocked: BTreeSet<&str> = self
            .ledger
            .active()
            .filter_map(|a| match a {
                Atom::Isolate(n)
                | Atom::CutStore(n)
                | Atom::Loss(n, _)
                | Atom::ReplyLoss(n, _)
                | Atom::ReplyDelay(n, _) => Some(n.as_str()),
                // A slowed link to the store: its renewals may come too
                // late, which the store's contract does not excuse (copies
                // alone change nothing above TCP).
                Atom::Shape(from, to, s) if s.delays() && !is_store(from) => {
                    to.as_deref().is_none_or(is_store).then_some(from.as_str())
                }
                Atom::Shape(from, Some(to), s) if s.delays() && is_store(from) => Some(to.as_str()),
                _ => None,
            })
            .collect();
        // Nodes with no path to the store at all: their leases run out.
        self.severed = self
            .states
            .iter()
            .filter(|(n, st)| {
                **st == NodeState::Paused
                    || holds(Atom::Isolate((*n).clone()))
                    || holds(Atom::CutStore((*n).clone()))
            })
            .map(|(n, _)| n.clone())
            .collect();
        let refuses = holds(Atom::NodeGone);
        // A node stopping deregisters through the store: from its leave on,
        // note when it first had no working path there.
        for n in &self.nodes {
            if holds(Atom::Left(n.clone()))
                && (!self.store_up || refuses || blocked.contains(n.as_str()))
            {
                self.left_cut.entry(n.clone()).or_insert(self.changed);
            }
        }
        self.reaches = if self.store_up && !refuses {
            self.states
                .iter()
                .filter(|(n, st)| **st == NodeState::Up && !blocked.contains(n.as_str()))
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            BTreeSet::new()
        };
        self.version += 1;
    }

    /// Every time a fault took the leader key from outside: deleted it,
    /// revoked a node's lease (whose key it may have been), or ended every
    /// session of the agents' Consul node.
    pub fn taken(&self) -> &[Taken] {
        &self.taken
    }

    /// When the store's leader last changed by a fault: its leader was
    /// killed, or the store came back from losing its quorum. A store
    /// follower's restart changes no lease.
    pub fn store_changed(&self) -> Option<Duration> {
        self.store_changed
    }

    /// Running nodes with no path to the store at all (paused, isolated,
    /// or cut from it): their leases run out.
    pub fn severed(&self) -> &BTreeSet<String> {
        &self.severed
    }

    /// Nodes that stopped cleanly for good (a `leave`) and, since, lost
    /// their path to a working store (cut off, or the store down), each
    /// with when it first did: such a node may not have deregistered.
    pub fn left_cut(&self) -> &BTreeMap<String, Duration> {
        &self.left_cut
    }

    /// Nodes stopped cleanly for good (a `leave`).
    pub fn left(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter(|n| self.ledger.holds(&Atom::Left((*n).clone())))
            .cloned()
            .collect()
    }

    /// Whether `a` and `b` reach each other: no cut, one-way cut or
    /// isolation between them is in force.
    pub fn reach(&self, a: &str, b: &str) -> bool {
        let holds = |x: Atom| self.ledger.holds(&x);
        !(holds(Atom::Isolate(a.to_string()))
            || holds(Atom::Isolate(b.to_string()))
            || holds(Atom::cut(a, b))
            || holds(Atom::OneWay(a.to_string(), b.to_string()))
            || holds(Atom::OneWay(b.to_string(), a.to_string())))
    }

    /// Since when no fault has been in effect (`None` while one is; for
    /// good, a crash or a leave is in effect only at its instant).
    pub fn quiet_since(&self) -> Option<Duration> {
        self.active.is_empty().then_some(self.changed)
    }

    /// A number that changes whenever the ledger does.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// For generated schedules: a fault that hits nobody, or fires before
    /// the cluster formed, is not a failure of the run (the generator does
    /// not know the cluster's state).
    pub fn lenient(mut self) -> Engine {
        self.strict = false;
        self
    }

    /// When the next step is due; `None` when the schedule is done (a
    /// waiting start is due now).
    pub fn next_due(&self) -> Option<Duration> {
        let waiting = self.waiting.iter().map(|s| s.at).min();
        let next = self.steps.get(self.next).map(|s| s.at);
        waiting.into_iter().chain(next).min()
    }

    /// Whether every step has fired.
    pub fn done(&self) -> bool {
        self.next >= self.steps.len() && self.waiting.is_empty()
    }

    /// A node's state as the ledger has it.
    pub fn state(&self, node: &str) -> NodeState {
        self.states.get(node).copied().unwrap_or(NodeState::Up)
    }

    /// Whether the store is up: a majority of its nodes not killed.
    pub fn store_up(&self) -> bool {
        self.store_up
    }

    /// Nodes that run, are not paused, and have an unbroken, lossless path
    /// to a working store.
    pub fn reaches_store(&self) -> &BTreeSet<String> {
        &self.reaches
    }

    /// Every atom in effect.
    pub fn in_effect(&self) -> impl Iterator<Item = &Atom> {
        self.ledger.active()
    }

    fn up(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| self.state(n) != NodeState::Down)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests;
