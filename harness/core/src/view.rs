//! One look at the whole cluster, the same shape in every world: what each
//! node says of itself, what the discovery store holds, and what the fault
//! schedule has done. The container world fills it from probes every
//! 250 ms, the simulator from its nodes and its store model every tick;
//! the checks read nothing else.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// What the fault schedule has done to a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeState {
    /// Running.
    Up,
    /// Frozen.
    Paused,
    /// Killed, not restarted yet.
    Down,
}

/// A disco leadership window: the node may act as leader until `until`
/// (on the run's clock), under fencing token `token`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// When the window closes unless the lease is renewed.
    pub until: Duration,
    /// The term's fencing token.
    pub token: u64,
}

/// One node at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeView {
    /// Up, paused or down, as the fault schedule left it.
    pub state: NodeState,
    /// The node's own view of the members (its database's, or disco's
    /// where disco is the database); `None` if it did not answer.
    pub members: Option<BTreeSet<String>>,
    /// Whether it says it leads (its database's claim, or disco's).
    pub leads: bool,
    /// disco's leadership window on this node, where the world can see it.
    pub window: Option<Window>,
    /// disco's own view of the members on this node (where the world can
    /// see it; in the simulator, where disco is the database, the same as
    /// `members`).
    pub peers: Option<BTreeSet<String>>,
}

impl NodeView {
    /// A node that has not answered yet.
    pub fn silent(state: NodeState) -> NodeView {
        NodeView {
            state,
            members: None,
            leads: false,
            window: None,
            peers: None,
        }
    }
}

/// What the discovery store holds for the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreView {
    /// Nodes with a live member key.
    pub announced: BTreeSet<String>,
    /// Each announced node's member key's creation (etcd's create
    /// revision, Consul's CreateIndex), where the world reads it: a key
    /// lost and written again between two samples shows a new one.
    pub created: BTreeMap<String, u64>,
    /// The node the leader key names, if any.
    pub leader_key: Option<String>,
    /// The leader key's create revision: the fencing token of its term.
    pub leader_token: Option<u64>,
}

/// The leader key taken from outside: the store hands it on at once,
/// while its holder learns of it only from its watch or its next renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Taken {
    /// When.
    pub at: Duration,
    /// The node whose lease or session was ended (only its term is
    /// cut short); `None` when the key itself was deleted or every session
    /// ended (whoever held it).
    pub holder: Option<String>,
}

/// The whole cluster at one instant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct View {
    /// When, since the start of the run.
    pub at: Duration,
    /// Every cluster node, by name.
    pub nodes: BTreeMap<String, NodeView>,
    /// The store, `None` if it did not answer.
    pub store: Option<StoreView>,
    /// Nodes that run, are not paused, and have an unbroken path to a
    /// working store (from the fault ledger): these must stay announced.
    pub reaches_store: BTreeSet<String>,
    /// Running nodes with no path to the store at all (paused, isolated,
    /// cut from it), from the fault ledger: their leases run out as a
    /// dead node's do.
    pub severed: BTreeSet<String>,
    /// Nodes stopped cleanly for good (a `leave`), from the fault ledger.
    pub left: BTreeSet<String>,
    /// Of those, the ones that lost their path to a working store after
    /// their leave, each with when it first did (from the fault ledger):
    /// a node cut off while stopping cannot deregister.
    pub left_cut: BTreeMap<String, Duration>,
    /// Every time a fault took the leader key from outside (deleted it,
    /// or ended the lease or session under it), in order.
    pub taken: Vec<Taken>,
    /// Since when no fault has been in effect (`None` while one is).
    pub quiet_since: Option<Duration>,
    /// When a store node was last killed or restarted.
    pub store_changed: Option<Duration>,
    /// When the store last granted or renewed the lease (etcd) or session
    /// (Consul) the leader key lives on, where a world sees the store's own
    /// bookkeeping (the simulator's models; a real store does not say).
    pub leader_lease_renewed: Option<Duration>,
}

impl View {
    /// Nodes that are up (not down, not paused).
    pub fn live(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter(|(_, v)| v.state == NodeState::Up)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// Live nodes that say they lead.
    pub fn leaders(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|(_, v)| v.state == NodeState::Up && v.leads)
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// The leader, if exactly one live node says it leads.
    pub fn leader(&self) -> Option<String> {
        let mut l = self.leaders();
        (l.len() == 1).then(|| l.remove(0))
    }
}
