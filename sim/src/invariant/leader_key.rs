//! The leader key names a live node, except for at most `grace` after that
//! node died: the longest its lease may take to run out (etcd: TTL + 0.5 s;
//! Consul: 2 x TTL + 0.5 s), plus half a second of checking slack.

use std::collections::BTreeMap;
use std::time::Duration;

use super::Violation;

/// `named`: the node the key names, if any; `died`: when each dead node
/// died; `grace`: how long a dead leader's lease may outlive it.
pub fn check(
    now: Duration,
    named: Option<&str>,
    died: &BTreeMap<String, Duration>,
    grace: Duration,
) -> Option<Violation> {
    let node = named?;
    let since = died.get(node)?;
    let stale = now.saturating_sub(*since);
    (stale > grace).then(|| Violation {
        invariant: "leader-key",
        detail: format!(
            "at {} ms the leader key still names {node}, dead for {} ms (its lease must be gone within {} ms)",
            now.as_millis(),
            stale.as_millis(),
            grace.as_millis()
        ),
    })
}
