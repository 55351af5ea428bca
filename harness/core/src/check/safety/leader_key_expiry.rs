//! `leader-key-expiry`: the leader key never names a node that can no
//! longer renew its lease (killed, paused, isolated, or cut from the
//! store) longer than the store lets a lease outlive its last renewal
//! ([`contract::longest_life`]), plus the world's observation slack. A
//! store whose leader changed (its leader killed, or its quorum regained)
//! renews every lease for a full TTL, so the count starts again then, a
//! leader election later; a store follower's restart changes nothing.

use clusterlab_scenario::checks::Found;

use super::super::{contract, Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "leader-key-expiry";

/// Fails when the leader key outlives its holder's last chance to renew.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    let node = view.store.as_ref()?.leader_key.as_ref()?;
    let (gone, how) = match (past.down_since.get(node), past.severed_since.get(node)) {
        (Some(d), _) => (*d, "down"),
        (None, Some(s)) => (*s, "cut from the store"),
        (None, None) => return None,
    };
    let promoted = view.store_changed.map(|t| t + contract::LEADER_ELECTION);
    let since = promoted.map_or(gone, |p| p.max(gone));
    let stale = view.at.saturating_sub(since);
    let bound = contract::longest_life(ctx.store, ctx.ttl) + ctx.slack;
    (stale > bound).then(|| Violation {
        check: NAME,
        at: view.at,
        nodes: vec![node.clone()],
        detail: format!(
            "at {} ms the leader key still names {node}, {how} since {} ms, {} ms ago counting from the store's last leader change (the store lets a lease outlive its holder by {} ms, +{} ms observation slack)",
            view.at.as_millis(),
            gone.as_millis(),
            stale.as_millis(),
            contract::longest_life(ctx.store, ctx.ttl).as_millis(),
            ctx.slack.as_millis()
        ),
        found: Found::kind("outlived"),
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
        let mut h = Past::default();
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
        v.store.as_mut().unwrap().leader_key = Some("n1".into());
        v.store_changed = Some(Duration::from_secs(12));
        v.at = Duration::from_millis(18_900);
        assert!(check(&v, &h, &ctx()).is_none());
        v.at = Duration::from_millis(19_001);
        assert!(check(&v, &h, &ctx()).is_some());
    }

    /// Before the change only killed holders were judged: a holder paused
    /// or isolated past its lease, its key still in the store, passed.
    #[test]
    fn a_holder_cut_off_is_judged_like_a_dead_one() {
        let mut h = Past::default();
        h.severed_since.insert("n1".into(), Duration::from_secs(10));
        let mut v = view(14_001);
        v.store = Some(StoreView {
            leader_key: Some("n1".into()),
            ..StoreView::default()
        });
        let bad = check(&v, &h, &ctx()).expect("a paused holder's key past its lease");
        assert!(
            bad.detail.contains("cut from the store since 10000 ms"),
            "{}",
            bad.detail
        );
        v.at = Duration::from_millis(14_000);
        assert!(check(&v, &h, &ctx()).is_none(), "within the lease");
    }
}
