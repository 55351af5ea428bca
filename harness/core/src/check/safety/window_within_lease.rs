//! `window-within-lease`: a leader's window closes no later than the store
//! may end the lease (Consul: session) its leader key lives on: the store's
//! documented shortest life ([`contract::shortest_life`]) after the store
//! last granted or renewed it. This is disco's promise in `leader.rs` (a
//! holder stops acting at `valid_until`, strictly before the store may
//! expire its lease); `single-leader` sees it broken only when another node
//! happens to take the key inside the overshoot, this sees every window
//! that outlives its lease. Judged where a world sees the store's own
//! renewals (the simulator's models), on the holder the key names.

use clusterlab_scenario::checks::Found;

use super::super::{contract, Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "window-within-lease";

/// Fails when the key holder's window under the key's token closes after
/// the store may end the lease the key lives on.
pub fn check(view: &View, _: &Past, ctx: &Context) -> Option<Violation> {
    let store = view.store.as_ref()?;
    let (holder, token) = (store.leader_key.as_ref()?, store.leader_token?);
    let renewed = view.leader_lease_renewed?;
    let window = view.nodes.get(holder)?.window?;
    let ends = renewed + contract::shortest_life(ctx.store, ctx.ttl);
    (window.token == token && window.until > ends).then(|| Violation {
        check: NAME,
        at: view.at,
        nodes: vec![holder.clone()],
        detail: format!(
            "{holder}'s window under token {token} closes at {} ms; the store renewed the lease under the key at {} ms and may end it {} ms after that, at {} ms: {} ms past it",
            window.until.as_millis(),
            renewed.as_millis(),
            contract::shortest_life(ctx.store, ctx.ttl).as_millis(),
            ends.as_millis(),
            (window.until - ends).as_millis()
        ),
        found: Found::kind("past-lease"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, node, view};
    use crate::view::{NodeState, StoreView, Window};
    use std::time::Duration;

    fn at(until_ms: u64, token: u64, renewed_ms: Option<u64>) -> View {
        let mut v = view(10_000);
        v.store = Some(StoreView {
            leader_key: Some("n1".into()),
            leader_token: Some(7),
            ..StoreView::default()
        });
        v.leader_lease_renewed = renewed_ms.map(Duration::from_millis);
        let w = Window {
            until: Duration::from_millis(until_ms),
            token,
        };
        v.nodes
            .insert("n1".into(), node(NodeState::Up, true, Some(w)));
        v
    }

    #[test]
    fn a_window_past_the_lease_fails_by_a_millisecond_and_no_sooner() {
        // ctx(): etcd, TTL 3 s: the lease lives 3 s after its renewal.
        assert!(check(&at(12_000, 7, Some(9_000)), &Past::default(), &ctx()).is_none());
        let bad = check(&at(12_001, 7, Some(9_000)), &Past::default(), &ctx())
            .expect("1 ms past the lease");
        assert_eq!(bad.nodes, ["n1"]);
        assert!(bad.detail.contains("1 ms past it"), "{}", bad.detail);
    }

    #[test]
    fn other_terms_and_unseen_renewals_are_not_judged() {
        assert!(check(&at(20_000, 6, Some(9_000)), &Past::default(), &ctx()).is_none());
        assert!(check(&at(20_000, 7, None), &Past::default(), &ctx()).is_none());
    }
}
