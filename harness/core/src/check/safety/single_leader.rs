//! `single-leader`: never two nodes inside a disco leadership window at the
//! same instant. A holder's window ends before the store can hand the key
//! to anyone else, so this holds even while a leader is partitioned or
//! frozen (the lease-holder-paused case Jepsen found in etcd locks).
//!
//! Except for a key taken from outside (an operator deleting it, revoking
//! its lease): the store then hands it on at once, and the holder learns
//! of it only from its watch or its next renewal; for one TTL after such a
//! fault an overlap is the fault's, not disco's (`fencing` still holds).

use super::super::{Context, Violation};
use crate::tracker::History;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "single-leader";

/// Fails when two nodes act as leader at `view.at`.
pub fn check(view: &View, _: &History, ctx: &Context) -> Option<Violation> {
    if view.tampered.is_some_and(|t| view.at <= t + ctx.ttl) {
        return None;
    }
    let acting = view.acting();
    (acting.len() > 1).then(|| Violation {
        check: NAME,
        at: view.at,
        nodes: acting.iter().map(|(n, _)| n.clone()).collect(),
        detail: format!(
            "at {} ms {} act as leader at once",
            view.at.as_millis(),
            acting
                .iter()
                .map(|(n, w)| format!("{n} (token {}, until {} ms)", w.token, w.until.as_millis()))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, node, view};
    use crate::view::{NodeState, Window};
    use std::time::Duration;

    fn window(until: u64, token: u64) -> Option<Window> {
        Some(Window {
            until: Duration::from_millis(until),
            token,
        })
    }

    #[test]
    fn one_window_passes_two_fail_and_an_expired_one_does_not_count() {
        let mut v = view(1000);
        v.nodes
            .insert("n1".into(), node(NodeState::Up, true, window(2000, 5)));
        v.nodes
            .insert("n2".into(), node(NodeState::Up, false, window(900, 3)));
        assert!(check(&v, &History::default(), &ctx()).is_none());
        v.nodes
            .insert("n2".into(), node(NodeState::Paused, false, window(1500, 7)));
        let bad = check(&v, &History::default(), &ctx()).expect("two windows");
        assert_eq!(bad.nodes, ["n1", "n2"]);
        assert!(bad.detail.contains("token 7"), "{}", bad.detail);
        v.nodes
            .insert("n2".into(), node(NodeState::Down, false, window(1500, 7)));
        assert!(
            check(&v, &History::default(), &ctx()).is_none(),
            "the dead do not act"
        );
    }
}
