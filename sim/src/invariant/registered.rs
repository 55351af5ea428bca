//! No live node is missing from the registry for longer than TTL +
//! keep-alive: a node that runs, is not paused and reaches the registry
//! must have its member key back within its lease TTL plus the time its
//! transport takes to notice a dead connection (HTTP/2 keepalive: a ping
//! every 10 s, 5 s to answer) and re-announce.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::Violation;

/// How long a client may sit on a dead connection before it notices: disco's
/// HTTP/2 keepalive interval plus its timeout.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Remembers since when each eligible node has been missing.
#[derive(Debug, Clone)]
pub struct Registered {
    bound: Duration,
    missing: BTreeMap<String, Duration>,
}

impl Registered {
    /// A checker for leases of `ttl`.
    pub fn new(ttl: Duration) -> Registered {
        Registered {
            bound: ttl + KEEPALIVE,
            missing: BTreeMap::new(),
        }
    }

    /// `eligible`: nodes that must be announced now; `announced`: whether a
    /// node's key is in the registry. The clock of a node starts when it is
    /// both eligible and absent.
    pub fn check(
        &mut self,
        now: Duration,
        eligible: &BTreeSet<String>,
        announced: impl Fn(&str) -> bool,
    ) -> Option<Violation> {
        self.missing
            .retain(|n, _| eligible.contains(n) && !announced(n));
        for n in eligible {
            if !announced(n) {
                self.missing.entry(n.clone()).or_insert(now);
            }
        }
        let (node, since) = self
            .missing
            .iter()
            .find(|(_, since)| now.saturating_sub(**since) > self.bound)?;
        Some(Violation {
            invariant: "registered",
            detail: format!(
                "at {} ms {node} has been running and reaching the registry for {} ms without its member key (bound: TTL + keepalive = {} ms)",
                now.as_millis(),
                now.saturating_sub(*since).as_millis(),
                self.bound.as_millis()
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_absent_past_the_bound_fails_and_one_that_returns_passes() {
        let ttl = Duration::from_secs(3);
        let mut r = Registered::new(ttl);
        let eligible: BTreeSet<String> = ["n1".to_string()].into();
        assert!(r.check(Duration::ZERO, &eligible, |_| false).is_none());
        assert!(r
            .check(Duration::from_secs(17), &eligible, |_| true)
            .is_none());
        assert!(r
            .check(Duration::from_secs(18), &eligible, |_| false)
            .is_none());
        assert!(r
            .check(Duration::from_secs(36), &eligible, |_| false)
            .is_none());
        let v = r
            .check(Duration::from_secs(37), &eligible, |_| false)
            .expect("missing 19 s, over the 18 s bound");
        assert!(v.detail.contains("n1"), "{}", v.detail);
    }

    #[test]
    fn an_unreachable_node_is_not_held_to_it() {
        let mut r = Registered::new(Duration::from_secs(3));
        let none = BTreeSet::new();
        assert!(r.check(Duration::ZERO, &none, |_| false).is_none());
        assert!(r.check(Duration::from_secs(60), &none, |_| false).is_none());
    }
}
