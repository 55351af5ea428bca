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

/// The gaps, in ms, between a leader's loss and a node leading again
/// (another, or the same one back): the closed ones, and the one still
/// open when the trace ends, if any (its start). A gap starts when the
/// leader stops leading, or earlier, when a fault that hit it started, if
/// it stopped while that fault was in effect.
fn gaps(trace: &Trace) -> (Vec<u64>, Option<u64>) {
    let mut leader: Option<String> = None;
    let mut lost_at: Option<u64> = None;
    let mut hits: BTreeMap<usize, u64> = BTreeMap::new();
    let mut closed = Vec::new();
    for e in &trace.events {
        match &e.kind {
            EventKind::Role {
                node,
                role: NodeRole::Leader,
            } => {
                if let Some(t0) = lost_at.take() {
                    closed.push(e.at_ms - t0);
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
    (closed, lost_at)
}

/// The longest closed gap, in ms, between a leader's loss and a node
/// leading again; `None` if no leader was lost and regained.
pub fn worst(trace: &Trace) -> Option<u64> {
    gaps(trace).0.into_iter().max()
}

/// Fails when the longest gap exceeds `bound`, when a gap is still open at
/// `end` (no leader came back: counted up to the end, it fails if it
/// already exceeds the bound, or the run ended inside it), or when no
/// leader was ever lost.
pub fn check(trace: &Trace, end: Duration, bound: Duration) -> Verdict {
    let (closed, open) = gaps(trace);
    let bound_ms = u64::try_from(bound.as_millis()).unwrap_or(u64::MAX);
    let end_ms = u64::try_from(end.as_millis()).unwrap_or(u64::MAX);
    let worst = closed.iter().copied().max();
    if let Some(from) = open {
        let gap = end_ms.saturating_sub(from);
        return Verdict::failed(
            NAME,
            "still-open",
            format!(
                "no leader from {from} ms to the end at {end_ms} ms ({gap} ms, bound {bound_ms} ms){}",
                worst.map_or(String::new(), |w| format!("; worst closed gap {w} ms"))
            ),
            Vec::new(),
        );
    }
    match worst {
        Some(w) if w <= bound_ms => {
            Verdict::held(NAME, format!("worst failover {w} ms, bound {bound_ms} ms"))
        }
        Some(w) => Verdict::failed(
            NAME,
            "slow",
            format!("worst failover {w} ms, bound {bound_ms} ms"),
            Vec::new(),
        ),
        None => Verdict::failed(
            NAME,
            "none-observed",
            "no failover was observed".into(),
            Vec::new(),
        ),
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
        let end = ms(20_000);
        assert!(check(&t, end, Duration::from_secs(5)).passed);
        assert!(!check(&t, end, Duration::from_secs(3)).passed);
        assert!(!check(&Trace::default(), end, Duration::from_secs(3)).passed);
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

    /// Before the change a gap still open at the end of the run was
    /// dropped: a run whose last leader never came back passed on its
    /// earlier, shorter failovers.
    #[test]
    fn a_gap_still_open_at_the_end_fails() {
        let mut t = Trace::default();
        let ms = Duration::from_millis;
        t.push(ms(500), role("n1", NodeRole::Leader));
        t.push(ms(1_000), role("n1", NodeRole::Down));
        t.push(ms(2_000), role("n2", NodeRole::Leader));
        t.push(ms(5_000), role("n2", NodeRole::Down));
        assert_eq!(worst(&t), Some(1_000));
        let v = check(&t, ms(9_000), Duration::from_secs(3));
        assert!(!v.passed, "{}", v.detail);
        assert_eq!(v.found[0].kind, "still-open");
        assert!(
            v.detail.contains("from 5000 ms to the end at 9000 ms"),
            "{}",
            v.detail
        );
    }
}
