//! The leader key names a live node, except for at most TTL + 1 s after
//! that node died (the time its lease may take to run out).

use std::collections::BTreeMap;
use std::time::Duration;

use super::Violation;

/// `named`: the node the key names, if any; `died`: when each dead node died.
pub fn check(
    now: Duration,
    named: Option<&str>,
    died: &BTreeMap<String, Duration>,
    ttl: Duration,
) -> Option<Violation> {
    let node = named?;
    let since = died.get(node)?;
    let stale = now.saturating_sub(*since);
    (stale > ttl + Duration::from_secs(1)).then(|| Violation {
        invariant: "leader-key",
        detail: format!(
            "at {} ms the leader key still names {node}, dead for {} ms (TTL {} ms)",
            now.as_millis(),
            stale.as_millis(),
            ttl.as_millis()
        ),
    })
}
