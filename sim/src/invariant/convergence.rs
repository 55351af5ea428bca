//! After the last heal, within the scenario's bound: every live node sees
//! exactly the live nodes, and exactly one of them leads.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Violation;
use crate::world::board::NodeState;

/// Checks the state at simulated time `now` (the end of the run).
pub fn check(now: Duration, nodes: &BTreeMap<String, NodeState>) -> Vec<Violation> {
    let live: Vec<String> = nodes
        .iter()
        .filter(|(_, s)| s.alive)
        .map(|(n, _)| n.clone())
        .collect();
    let mut out = Vec::new();
    for (n, s) in nodes.iter().filter(|(_, s)| s.alive) {
        if s.members != live {
            out.push(Violation {
                invariant: "convergence",
                detail: format!(
                    "at {} ms {n} sees {:?}, live {live:?}",
                    now.as_millis(),
                    s.members
                ),
            });
        }
    }
    let leaders: Vec<&String> = nodes
        .iter()
        .filter(|(_, s)| s.alive && s.leader.is_some_and(|(until, _)| until > now))
        .map(|(n, _)| n)
        .collect();
    if leaders.len() != 1 {
        out.push(Violation {
            invariant: "convergence",
            detail: format!("at {} ms leaders {leaders:?}", now.as_millis()),
        });
    }
    out
}
