//! The checks, one file each, one meaning each, the same in every world:
//! pure functions over a [`View`](crate::view::View) and what the
//! [`Past`](crate::tracker::Past) remembers.
//!
//! [`safety`] checks must hold at every instant a world observes; the first
//! breach is recorded at its instant with the nodes involved. [`liveness`]
//! checks must hold by a deadline after the last heal. [`failover`] bounds
//! how long the cluster went without a leader. Which checks run follows the
//! scenario's `[expect]`.

pub mod contract;
pub mod failover;
pub mod gate;
pub mod liveness;
pub mod safety;

use std::time::Duration;

pub use clusterlab_scenario::checks::Found;
use clusterlab_scenario::{Scenario, StoreKind};

use crate::trace::EventKind;

/// A safety check that failed: which, when, on which nodes, and what was
/// seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The check's name.
    pub check: &'static str,
    /// The instant it failed, since the start of the run.
    pub at: Duration,
    /// The nodes involved.
    pub nodes: Vec<String>,
    /// What was seen.
    pub detail: String,
    /// What kind of breach it is, as a finding names it.
    pub found: Found,
}

impl Violation {
    /// The violation as a failed-check event (record it at [`Violation::at`]).
    pub fn event(&self) -> EventKind {
        EventKind::Check {
            name: self.check.into(),
            passed: false,
            detail: self.detail.clone(),
            nodes: self.nodes.clone(),
            found: vec![self.found.clone()],
        }
    }
}

/// A check's verdict on a view (liveness) or on the whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The check's name.
    pub name: &'static str,
    /// Whether it holds.
    pub passed: bool,
    /// What was seen.
    pub detail: String,
    /// The nodes involved in a failure.
    pub nodes: Vec<String>,
    /// What a failure consists of, as findings name it (empty if it held).
    pub found: Vec<Found>,
}

impl Verdict {
    /// A check that held.
    pub fn held(name: &'static str, detail: String) -> Verdict {
        Verdict {
            name,
            passed: true,
            detail,
            nodes: Vec::new(),
            found: Vec::new(),
        }
    }

    /// A check that failed with one kind of finding.
    pub fn failed(name: &'static str, kind: &str, detail: String, nodes: Vec<String>) -> Verdict {
        Verdict {
            name,
            passed: false,
            detail,
            nodes,
            found: vec![Found::kind(kind)],
        }
    }

    /// The verdict as a check event.
    pub fn event(&self) -> EventKind {
        EventKind::Check {
            name: self.name.into(),
            passed: self.passed,
            detail: self.detail.clone(),
            nodes: self.nodes.clone(),
            found: self.found.clone(),
        }
    }
}

/// An agent's configured deadlines (`--startup-timeout`,
/// `--join-timeout`, `--ready-timeout`), which its waits must keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waits {
    /// Registration.
    pub startup: Duration,
    /// A pending bootstrap, someone to join, the database's preparation.
    pub join: Duration,
    /// A new database's readiness.
    pub ready: Duration,
}

impl Default for Waits {
    /// disco-agent's defaults.
    fn default() -> Waits {
        Waits {
            startup: Duration::from_secs(600),
            join: Duration::from_secs(120),
            ready: Duration::from_secs(300),
        }
    }
}

/// What the checks know of the run beyond the views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    /// The discovery store's kind (its expiry contract).
    pub store: StoreKind,
    /// The cluster's lease TTL.
    pub ttl: Duration,
    /// How late the world may see a change: its observation period plus
    /// the time a probe takes.
    pub slack: Duration,
    /// The deadlines the world gave its agents.
    pub waits: Waits,
}

impl Context {
    /// The context of `scenario` in a world that observes with `slack`.
    pub fn of(scenario: &Scenario, slack: Duration) -> Context {
        Context {
            store: scenario.discovery.kind,
            ttl: scenario.discovery.ttl,
            slack,
            waits: Waits::default(),
        }
    }
}

/// `a,b,c`.
pub(crate) fn names<'a>(it: impl IntoIterator<Item = &'a String>) -> String {
    it.into_iter().cloned().collect::<Vec<_>>().join(",")
}

#[cfg(test)]
pub(crate) mod testing {
    //! Small hand-made views for the checks' unit tests.

    use std::time::Duration;

    use clusterlab_scenario::StoreKind;

    use super::Context;
    use crate::view::{NodeState, NodeView, View, Window};

    /// etcd, TTL 3 s, 500 ms slack.
    pub fn ctx() -> Context {
        Context {
            store: StoreKind::Etcd,
            ttl: Duration::from_secs(3),
            slack: Duration::from_millis(500),
            waits: super::Waits {
                startup: Duration::from_secs(60),
                join: Duration::from_secs(20),
                ready: Duration::from_secs(10),
            },
        }
    }

    /// An empty view at `ms`.
    pub fn view(ms: u64) -> View {
        View {
            at: Duration::from_millis(ms),
            ..View::default()
        }
    }

    /// A node that sees nobody.
    pub fn node(state: NodeState, leads: bool, window: Option<Window>) -> NodeView {
        NodeView {
            state,
            members: None,
            leads,
            window,
            peers: None,
        }
    }
}
