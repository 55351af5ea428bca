//! `leader-key-expiry`: the leader key never names a node that has been
//! down longer than the store lets a lease outlive its holder
//! ([`contract::longest_life`](crate::check::contract::longest_life)),
//! plus the world's observation slack; counted from the holder's death, or
//! from the store's last leader change if that came later (a new leader
//! refreshes every lease). A key written without a lease (the rqlite-style
//! glue) breaks it when its writer dies.

use super::super::{contract, Context, Violation};
use crate::tracker::History;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "leader-key-expiry";

/// Fails when the key names a node down for longer than the bound.
pub fn check(view: &View, history: &History, ctx: &Context) -> Option<Violation> {
    let node = view.store.as_ref()?.leader_key.as_ref()?;
    let died = *history.down_since.get(node)?;
    let promoted = view.store_changed.map(|t| t + contract::LEADER_ELECTION);
    let since = promoted.map_or(died, |p| p.max(died));
    let stale = view.at.saturating_sub(since);
    let bound = contract::longest_life(ctx.store, ctx.ttl) + ctx.slack;
    (stale > bound).then(|| Violation {
        check: NAME,
        at: view.at,
        nodes: vec![node.clone()],
        detail: format!(
            "at {} ms the leader key still names {node}, down since {} ms, {} ms ago counting from the store's last leader change (the store lets a lease outlive its holder by {} ms, +{} ms observation slack)",
            view.at.as_millis(),
            died.as_millis(),
            stale.as_millis(),
            contract::longest_life(ctx.store, ctx.ttl).as_millis(),
            ctx.slack.as_millis()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use crate::view::StoreView;
    use std::time::Duration;

    #[test]
    fn a_dead_holder_may_keep_the_key_for_its_lease_then_not() {
        // etcd, TTL 3 s, slack 500 ms: the bound is 3.5 + 0.5 = 4 s.
        let mut h = History::default();
        h.down_since.insert("n1".into(), Duration::from_secs(10));
        let mut v = view(14_000);
        v.store = Some(StoreView {
            leader_key: Some("n1".into()),
            ..StoreView::default()
        });
        assert!(check(&v, &h, &ctx()).is_none());
        v.at = Duration::from_millis(14_001);
        let bad = check(&v, &h, &ctx()).expect("past the lease");
        assert_eq!(bad.nodes, ["n1"]);
        v.store.as_mut().unwrap().leader_key = Some("n2".into());
        assert!(check(&v, &h, &ctx()).is_none(), "a live holder is fine");
        // The store lost its leader at 12 s: the new one, elected within
        // 3 s, refreshed the lease.
        v.store.as_mut().unwrap().leader_key = Some("n1".into());
        v.store_changed = Some(Duration::from_secs(12));
        v.at = Duration::from_millis(18_900);
        assert!(check(&v, &h, &ctx()).is_none());
        v.at = Duration::from_millis(19_001);
        assert!(check(&v, &h, &ctx()).is_some());
    }
}
