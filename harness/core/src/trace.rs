//! The events a run records, whichever world ran it: the vocabulary shared
//! by the container world, the simulator, the checks and the reports.
//!
//! A trace is written as JSON lines (`events.jsonl`), one event per line, so
//! that a simulated run's trace can be compared byte for byte.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a node is doing, as a probe or the simulator saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NodeRole {
    /// Started, not yet part of the cluster.
    Starting,
    /// Serving as a follower/replica.
    Follower,
    /// Serving as the leader/primary.
    Leader,
    /// Frozen (paused).
    Paused,
    /// Not running.
    Down,
}

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// A fault fired; `nodes` are its resolved targets, sorted.
    FaultStart {
        /// Index in the scenario's fault list.
        fault: usize,
        /// Its action word.
        action: String,
        /// The nodes it hit.
        nodes: Vec<String>,
        /// When the schedule said it was due (it fires at the first
        /// observation at or after that, later if its role was unknown).
        due_ms: u64,
    },
    /// A fault was undone.
    FaultEnd {
        /// Index in the scenario's fault list.
        fault: usize,
        /// Its action word.
        action: String,
    },
    /// A node's role changed.
    Role {
        /// The node.
        node: String,
        /// Its new role.
        role: NodeRole,
    },
    /// A node's view of the membership changed.
    Members {
        /// Whose view.
        node: String,
        /// The members it sees, sorted.
        members: Vec<String>,
    },
    /// The discovery leader key changed (`None`: absent).
    LeaderKey {
        /// The node it names.
        node: Option<String>,
    },
    /// A node bootstrapped a new cluster.
    Bootstrap {
        /// The node.
        node: String,
    },
    /// A node's agent entered a phase (`registering`, `deciding`,
    /// `joining`, `waiting-ready`, `running`, `stopping`, `stopped`).
    Phase {
        /// The node.
        node: String,
        /// The phase.
        phase: String,
    },
    /// A node won the bootstrap claim: its database starts a new cluster,
    /// to be committed once ready.
    Claimed {
        /// The node.
        node: String,
    },
    /// A node's bootstrap claim lapsed in the store before it was
    /// committed (its lease ended).
    ClaimLapsed {
        /// The claimant.
        node: String,
    },
    /// A node's database started or exited.
    Database {
        /// The node.
        node: String,
        /// Whether it runs from now on.
        running: bool,
    },
    /// A write finished.
    Write {
        /// The key.
        key: String,
        /// Time to acknowledgement or failure, in microseconds.
        latency_us: u64,
        /// Whether it was acknowledged.
        acked: bool,
    },
    /// A workload operation's invocation or completion (the lines of
    /// `history.jsonl`, kept out of `events.jsonl`).
    Op(crate::history::Event),
    /// A node's process (its container) exited. `by_fault`: a fault
    /// killed or stopped it; otherwise it died on its own, which a report
    /// must say: a crashed database is otherwise only a silent node.
    Exited {
        /// The node (a cluster node or a store node).
        node: String,
        /// Its exit code.
        code: i64,
        /// Whether a fault caused the exit.
        by_fault: bool,
    },
    /// A node's process was started again by the container engine on its
    /// own (the scenario's `restart = "always"`), not by a fault's undo.
    Restarted {
        /// The node.
        node: String,
    },
    /// A node's task was placed on a swarm node (Swarm runs only), at its
    /// start: its restarts are new tasks on the same node; a `reschedule`
    /// moves it to the next one, which its log's first line names.
    Placed {
        /// The node.
        node: String,
        /// The swarm node's host name.
        host: String,
    },
    /// A node published its leadership window: it may act as leader until
    /// `until_ms` under `token`, or (both absent) it does not lead.
    Window {
        /// The node.
        node: String,
        /// The term's fencing token.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<u64>,
        /// Until when, in ms since the start of the run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        until_ms: Option<u64>,
    },
    /// The run ended, and why (converged, every node down for good, the
    /// convergence deadline passed, or stopped earlier).
    End {
        /// Why it ended then.
        why: String,
    },
    /// A check was evaluated; a failed one is recorded at the instant it
    /// failed.
    Check {
        /// The check's name.
        name: String,
        /// Its verdict.
        passed: bool,
        /// What was seen.
        detail: String,
        /// The nodes involved.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        nodes: Vec<String>,
        /// What a failure consists of (its kinds, and keys where the
        /// check judges keys), as `[[expect.findings]]` names them.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        found: Vec<crate::check::Found>,
    },
}

/// An event at a time since the run started.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Milliseconds since the start of the run.
    pub at_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// A run's events, in time order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// The events.
    pub events: Vec<Event>,
}

impl Trace {
    /// Records `kind` at `at`.
    pub fn push(&mut self, at: Duration, kind: EventKind) {
        let at_ms = u64::try_from(at.as_millis()).unwrap_or(u64::MAX);
        self.events.push(Event { at_ms, kind });
    }

    /// The trace as JSON lines.
    pub fn to_jsonl(&self) -> String {
        self.events
            .iter()
            .filter(|e| !matches!(e.kind, EventKind::Op(_)))
            .map(|e| serde_json::to_string(e).expect("plain data") + "\n")
            .collect()
    }

    /// The workload's operation events, in time order: `history.jsonl`.
    pub fn history(&self) -> Vec<crate::history::Event> {
        let mut ops: Vec<crate::history::Event> = self
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Op(op) => Some(op.clone()),
                _ => None,
            })
            .collect();
        // Stable: an invocation recorded before its completion at the same
        // microsecond stays before it.
        ops.sort_by_key(|o| o.time_us);
        ops
    }

    /// Parses JSON lines (`events.jsonl`: operations are not in it).
    pub fn from_jsonl(text: &str) -> Result<Trace, serde_json::Error> {
        let events = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()?;
        Ok(Trace { events })
    }

    /// The end of the trace.
    pub fn end(&self) -> Duration {
        Duration::from_millis(self.events.iter().map(|e| e.at_ms).max().unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_round_trip() {
        let mut t = Trace::default();
        t.push(
            Duration::from_millis(5),
            EventKind::Bootstrap { node: "n1".into() },
        );
        t.push(
            Duration::from_secs(1),
            EventKind::Role {
                node: "n1".into(),
                role: NodeRole::Leader,
            },
        );
        let text = t.to_jsonl();
        assert_eq!(text.lines().count(), 2);
        assert!(
            text.starts_with(r#"{"at_ms":5,"event":"bootstrap","node":"n1"}"#),
            "{text}"
        );
        assert_eq!(Trace::from_jsonl(&text).unwrap(), t);
        assert_eq!(t.end(), Duration::from_secs(1));
    }
}
