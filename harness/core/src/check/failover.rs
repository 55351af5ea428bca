//! `failover`: the longest the cluster went without a leader, from losing
//! one (it went down, froze, or stepped back; or, earlier, a fault hit it
//! that it then lost leadership under) to a node leading again, within the
//! scenario's `failover_within`.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Verdict;
use crate::trace::{EventKind, NodeRole, Trace};

/// The check's name.
pub const NAME: &str = "failover";

/// The longest gap, in ms, between a leader's loss and a node leading
/// again (another, or the same one back); `None` if no leader was lost.
/// The gap starts when the leader stops leading, or earlier, when a fault
/// that hit it started, if it stopped while that fault was in effect.
pub fn worst(trace: &Trace) -> Option<u64> {
    let mut leader: Option<String> = None;
    let mut lost_at: Option<u64> = None;
    // Faults in effect that hit the current leader, with their start.
    let mut hits: BTreeMap<usize, u64> = BTreeMap::new();
    let mut worst: Option<u64> = None;
    for e in &trace.events {
        match &e.kind {
            EventKind::Role {
                node,
                role: NodeRole::Leader,
            } => {
                if let Some(t0) = lost_at.take() {
                    let gap = e.at_ms - t0;
                    worst = Some(worst.map_or(gap, |w| w.max(gap)));
                }
                leader = Some(node.clone());
                hits.clear();
            }
            EventKind::Role { node, .. } if leader.as_ref() == Some(node) => {
                lost_at = Some(hits.values().copied().min().unwrap_or(e.at_ms));
                leader = None;
                hits.clear();
            }
            EventKind::FaultStart { fault, nodes, .. }
                if leader.as_ref().is_some_and(|l| nodes.contains(l)) =>
            {
                hits.insert(*fault, e.at_ms);
            }
            EventKind::FaultEnd { fault, .. } => {
                hits.remove(fault);
            }
            _ => {}
        }
    }
    worst
}

/// The verdict on a whole run's trace against `bound`.
pub fn check(trace: &Trace, bound: Duration) -> Verdict {
    let worst = worst(trace);
    let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    Verdict {
        name: NAME,
        passed: worst.is_some_and(|w| w <= bound_ms),
        detail: match worst {
            Some(w) => format!("worst failover {w} ms, bound {bound_ms} ms"),
            None => "no failover was observed".into(),
        },
        nodes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(node: &str, role: NodeRole) -> EventKind {
        EventKind::Role {
            node: node.into(),
            role,
        }
    }

    #[test]
    fn the_gap_from_loss_to_a_new_leader() {
        let mut t = Trace::default();
        let ms = Duration::from_millis;
        t.push(ms(500), role("n1", NodeRole::Leader));
        t.push(
            ms(10_000),
            EventKind::FaultStart {
                fault: 0,
                action: "kill-leader".into(),
                nodes: vec!["n1".into()],
                due_ms: 10_000,
            },
        );
        t.push(ms(10_100), role("n1", NodeRole::Down));
        t.push(ms(13_200), role("n2", NodeRole::Leader));
        assert_eq!(worst(&t), Some(3_200), "from the fault that hit it");
        assert!(check(&t, Duration::from_secs(5)).passed);
        assert!(!check(&t, Duration::from_secs(3)).passed);
        assert!(!check(&Trace::default(), Duration::from_secs(3)).passed);
        // A fault that hits the leader without costing it leadership does
        // not start a later gap; the same node leading again ends one.
        let mut t = Trace::default();
        t.push(ms(500), role("n1", NodeRole::Leader));
        t.push(
            ms(1_000),
            EventKind::FaultStart {
                fault: 0,
                action: "cut-discovery".into(),
                nodes: vec!["n1".into()],
                due_ms: 1_000,
            },
        );
        t.push(
            ms(2_000),
            EventKind::FaultEnd {
                fault: 0,
                action: "cut-discovery".into(),
            },
        );
        t.push(ms(9_000), role("n1", NodeRole::Down));
        t.push(ms(9_700), role("n1", NodeRole::Leader));
        assert_eq!(worst(&t), Some(700));
    }
}
