//! Turns a world's successive [`View`]s into trace events (role, member
//! view and leader-key changes) and into the little history the checks
//! need (since when a node is down or unannounced, who has ever served,
//! who bootstrapped). Both worlds feed it, so an event means the same in
//! both and is emitted by one piece of code.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::terms::{Term, Terms};
use crate::trace::{EventKind, NodeRole};
use crate::view::Window;
use crate::view::{NodeState, NodeView, View};

/// What the checks may know of the past.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Past {
    /// Since when each down node has been down.
    pub down_since: BTreeMap<String, Duration>,
    /// Since when each running node has had no path to the store at all.
    pub severed_since: BTreeMap<String, Duration>,
    /// Since when each node that must be announced (it runs and reaches the
    /// store) has been missing from the store.
    pub unannounced_since: BTreeMap<String, Duration>,
    /// Nodes ever seen serving (leader or follower).
    pub served: BTreeSet<String>,
    /// Every bootstrap, in order.
    pub bootstraps: Vec<(Duration, String)>,
    /// Every leadership term the nodes published.
    pub terms: Terms,
    /// The terms begun or changed since the last view.
    pub changed_terms: Vec<Term>,
    /// When a live node's member key last disappeared from the store, and
    /// whose.
    pub last_unannounced: Option<(Duration, String)>,
    /// Each node's agent's phase, and since when (where the world reports
    /// agents' phases).
    pub phases: BTreeMap<String, (String, Duration)>,
    /// Nodes whose bootstrap claim lapsed and who have not claimed again
    /// since, with when it lapsed.
    pub lapsed: BTreeMap<String, Duration>,
    /// Commits of a claim that had lapsed: when, whose.
    pub lapsed_commits: Vec<(Duration, String)>,
    /// Nodes whose database runs (where the world reports it).
    pub databases: BTreeSet<String>,
    /// Since when each node has left the cluster for good (stopped cleanly).
    pub left_since: BTreeMap<String, Duration>,
    /// Nodes that left while they could not reach a working store: their
    /// keys go with their lease, not with their stop.
    pub unclean: BTreeSet<String>,
    /// The node whose database leads, reaching the store, while the leader
    /// key names another (or nobody), and since when.
    pub key_behind: Option<(String, Duration)>,
}

/// The tracker of one run.
#[derive(Debug, Clone, Default)]
pub struct Tracker {
    past: Past,
    roles: BTreeMap<String, NodeRole>,
    members: BTreeMap<String, BTreeSet<String>>,
    leader_key: Option<Option<String>>,
    /// Who reached the store in the last view.
    reached: BTreeSet<String>,
    announced: BTreeSet<String>,
    created: BTreeMap<String, u64>,
}

/// The role a node shows in a view.
pub fn role_of(v: &NodeView) -> NodeRole {
    match v.state {
        NodeState::Down => NodeRole::Down,
        NodeState::Paused => NodeRole::Paused,
        NodeState::Up if v.leads => NodeRole::Leader,
        NodeState::Up if v.members.is_some() => NodeRole::Follower,
        NodeState::Up => NodeRole::Starting,
    }
}

impl Tracker {
    /// A tracker for a run that has seen nothing yet.
    pub fn new() -> Tracker {
        Tracker::default()
    }

    /// What the checks may know of the past.
    pub fn past(&self) -> &Past {
        &self.past
    }

    /// A node bootstrapped a new cluster at `at`.
    pub fn bootstrap(&mut self, at: Duration, node: &str) -> EventKind {
        self.past.bootstraps.push((at, node.to_string()));
        if self.past.lapsed.contains_key(node) {
            self.past.lapsed_commits.push((at, node.to_string()));
        }
        EventKind::Bootstrap { node: node.into() }
    }

    /// Takes in what a node's agent reported at `at` ([`EventKind::Phase`],
    /// [`EventKind::Claimed`], [`EventKind::ClaimLapsed`],
    /// [`EventKind::Database`]); other events are left alone.
    pub fn agent(&mut self, at: Duration, e: &EventKind) {
        let h = &mut self.past;
        match e {
            EventKind::Phase { node, phase } => {
                h.phases.insert(node.clone(), (phase.clone(), at));
            }
            EventKind::Claimed { node } => {
                h.lapsed.remove(node);
            }
            // Only a database still running under a lapsed claim is
            // judged: one that stopped before has done what it must.
            EventKind::ClaimLapsed { node } if h.databases.contains(node) => {
                h.lapsed.insert(node.clone(), at);
            }
            EventKind::Database { node, running } => {
                if *running {
                    h.databases.insert(node.clone());
                } else {
                    h.databases.remove(node);
                    h.lapsed.remove(node);
                }
            }
            _ => {}
        }
    }

    /// `node` published at `at` its leadership window (`None`: it does
    /// not lead); the next view's checks judge the terms it changed.
    pub fn published(&mut self, at: Duration, node: &str, window: Option<Window>) {
        self.past.terms.publish(at, node, window);
    }

    /// Takes in `view`; returns what changed since the last one, as events
    /// at `view.at`.
    pub fn observe(&mut self, view: &View) -> Vec<EventKind> {
        let mut out = Vec::new();
        let h = &mut self.past;
        h.changed_terms = h.terms.take_changed().into_iter().cloned().collect();
        for (n, v) in &view.nodes {
            let role = role_of(v);
            if self.roles.get(n) != Some(&role) {
                self.roles.insert(n.clone(), role);
                out.push(EventKind::Role {
                    node: n.clone(),
                    role,
                });
            }
            if matches!(role, NodeRole::Leader | NodeRole::Follower) {
                h.served.insert(n.clone());
            }
            if v.state == NodeState::Down {
                h.down_since.entry(n.clone()).or_insert(view.at);
            } else {
                h.down_since.remove(n);
            }
            if view.left.contains(n) && !h.left_since.contains_key(n) {
                h.left_since.insert(n.clone(), view.at);
                // It could deregister only if it reached a working store
                // (unhindered) when it stopped.
                if !self.reached.contains(n) || view.store.is_none() {
                    h.unclean.insert(n.clone());
                }
            }
            if v.state != NodeState::Down && view.severed.contains(n) {
                h.severed_since.entry(n.clone()).or_insert(view.at);
            } else {
                h.severed_since.remove(n);
            }
            if let Some(m) = &v.members {
                if self.members.get(n) != Some(m) {
                    self.members.insert(n.clone(), m.clone());
                    out.push(EventKind::Members {
                        node: n.clone(),
                        members: m.iter().cloned().collect(),
                    });
                }
            }
        }
        // A node that cannot reach a working store (or is not running) is
        // not held to being announced: its clock starts afresh when it can.
        let must: BTreeSet<&String> = view
            .reaches_store
            .iter()
            .filter(|n| view.nodes.get(*n).is_some_and(|v| v.state == NodeState::Up))
            .collect();
        h.unannounced_since.retain(|n, _| must.contains(n));
        self.reached.clone_from(&view.reaches_store);
        // The database's leader, reaching the store, and a key that names
        // someone else: since when (a new leader starts the count again).
        let behind = view.leader().filter(|l| {
            view.reaches_store.contains(l)
                && view
                    .store
                    .as_ref()
                    .is_some_and(|s| s.leader_key.as_ref() != Some(l))
        });
        h.key_behind = match (behind, h.key_behind.take()) {
            (Some(l), Some((was, since))) if was == l => Some((l, since)),
            (Some(l), _) => Some((l, view.at)),
            (None, _) => None,
        };
        if let Some(store) = &view.store {
            if self.leader_key.as_ref() != Some(&store.leader_key) {
                self.leader_key = Some(store.leader_key.clone());
                out.push(EventKind::LeaderKey {
                    node: store.leader_key.clone(),
                });
            }
            // Most views repeat the last one: copy the set only on a change.
            if self.announced != store.announced {
                for gone in self.announced.difference(&store.announced) {
                    if view
                        .nodes
                        .get(gone)
                        .is_some_and(|v| v.state == NodeState::Up)
                    {
                        h.last_unannounced = Some((view.at, gone.clone()));
                    }
                }
                self.announced.clone_from(&store.announced);
            }
            // A key lost and written again between two views: the same
            // node, a new creation.
            if self.created != store.created {
                for (n, c) in &store.created {
                    let recreated = self.created.get(n).is_some_and(|old| old != c);
                    if recreated && view.nodes.get(n).is_some_and(|v| v.state == NodeState::Up) {
                        h.last_unannounced = Some((view.at, n.clone()));
                    }
                }
                self.created.clone_from(&store.created);
            }
            h.unannounced_since
                .retain(|n, _| must.contains(&n) && !store.announced.contains(n));
            for n in &must {
                if !store.announced.contains(*n) {
                    h.unannounced_since.entry((*n).clone()).or_insert(view.at);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::StoreView;

    fn view(at: u64, n1: NodeState, leads: bool, announced: &[&str]) -> View {
        let mut v = View {
            at: Duration::from_secs(at),
            ..View::default()
        };
        v.nodes.insert(
            "n1".into(),
            NodeView {
                state: n1,
                members: Some(["n1".to_string()].into()),
                leads,
                window: None,
                peers: None,
            },
        );
        if n1 == NodeState::Up {
            v.reaches_store.insert("n1".into());
        }
        v.store = Some(StoreView {
            announced: announced.iter().map(|s| s.to_string()).collect(),
            created: announced.iter().map(|s| (s.to_string(), 1)).collect(),
            leader_key: None,
            leader_token: None,
        });
        v
    }

    #[test]
    fn changes_become_events_once_and_history_follows() {
        let mut t = Tracker::new();
        let first = t.observe(&view(0, NodeState::Up, true, &["n1"]));
        assert_eq!(first.len(), 3, "role, members, leader key: {first:?}");
        assert!(t.observe(&view(1, NodeState::Up, true, &["n1"])).is_empty());
        assert!(t.past().served.contains("n1"));
        let down = t.observe(&view(2, NodeState::Down, false, &["n1"]));
        assert_eq!(
            down,
            vec![EventKind::Role {
                node: "n1".into(),
                role: NodeRole::Down
            }]
        );
        assert_eq!(t.past().down_since["n1"], Duration::from_secs(2));
        t.observe(&view(3, NodeState::Up, false, &[]));
        assert!(t.past().down_since.is_empty());
        assert_eq!(t.past().unannounced_since["n1"], Duration::from_secs(3));
        t.observe(&view(4, NodeState::Up, false, &["n1"]));
        assert!(t.past().unannounced_since.is_empty());
    }

    /// Before the change the tracker compared member names only: a key
    /// lost and written again between two views went unseen by `stable`.
    #[test]
    fn a_key_written_again_between_two_views_is_a_loss() {
        let mut t = Tracker::new();
        let v = view(0, NodeState::Up, false, &["n1"]);
        t.observe(&v);
        let mut again = view(1, NodeState::Up, false, &["n1"]);
        again.store.as_mut().unwrap().created.insert("n1".into(), 2);
        t.observe(&again);
        assert_eq!(
            t.past().last_unannounced,
            Some((Duration::from_secs(1), "n1".into()))
        );
    }
}
