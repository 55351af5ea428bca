//! Never two live nodes that may act as leader at the same instant: each
//! leader's window ends before the store could hand the key to another,
//! so this holds even while a leader is partitioned or its messages are
//! held (the lease-holder-paused case Jepsen found in etcd locks).

use std::collections::BTreeMap;
use std::time::Duration;

use super::Violation;
use crate::world::board::NodeState;

/// Checks the windows published at simulated time `now`.
pub fn check(now: Duration, nodes: &BTreeMap<String, NodeState>) -> Option<Violation> {
    let acting: Vec<String> = nodes
        .iter()
        .filter(|(_, s)| s.alive && s.leader.is_some_and(|(until, _)| until > now))
        .map(|(n, s)| format!("{n} (token {})", s.leader.map_or(0, |l| l.1)))
        .collect();
    (acting.len() > 1).then(|| Violation {
        invariant: "single-leader",
        detail: format!("at {} ms: {}", now.as_millis(), acting.join(" and ")),
    })
}
