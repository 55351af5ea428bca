//! `clean-stop`: a node stopped cleanly (in any phase, start-up included)
//! leaves no key behind: its member key and the leader key it may have
//! held are gone within [`contract::CLEAN_STOP`] of the stop, long before
//! their lease would have expired them. A stop that leaves them to the
//! lease is a crash to its peers, who then wait a TTL for nothing. Not
//! judged when the node could not reach a working store to deregister: at
//! its stop, or at any time within the bound after it (a cut that lands
//! while it resigns leaves its keys to their lease).

use clusterlab_scenario::checks::Found;

use super::super::{contract, Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "clean-stop";

/// Fails when a key still names a node that stopped cleanly longer ago
/// than the bound.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    let store = view.store.as_ref()?;
    let bound = contract::CLEAN_STOP + ctx.slack;
    past.left_since.iter().find_map(|(n, since)| {
        let cut_while_stopping = view.left_cut.get(n).is_some_and(|at| *at <= *since + bound);
        if view.at.saturating_sub(*since) <= bound || past.unclean.contains(n) || cut_while_stopping {
            return None;
        }
        let what: Vec<&str> = [
            store.announced.contains(n).then_some("its member key"),
            (store.leader_key.as_ref() == Some(n)).then_some("the leader key"),
        ]
        .into_iter()
        .flatten()
        .collect();
        (!what.is_empty()).then(|| Violation {
            check: NAME,
            at: view.at,
            nodes: vec![n.clone()],
            detail: format!(
                "at {} ms {} still names {n}, which stopped cleanly at {} ms (bound {} ms + {} ms slack)",
                view.at.as_millis(),
                what.join(" and "),
                since.as_millis(),
                contract::CLEAN_STOP.as_millis(),
                ctx.slack.as_millis()
            ),
            found: Found::kind("key-left"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use crate::view::StoreView;
    use std::time::Duration;

    #[test]
    fn a_stopped_node_must_be_gone_from_the_store() {
        let mut h = Past::default();
        h.left_since.insert("n2".into(), Duration::from_secs(10));
        let mut v = view(12_501);
        v.store = Some(StoreView {
            announced: ["n1", "n2"].iter().map(|s| s.to_string()).collect(),
            ..StoreView::default()
        });
        let bad = check(&v, &h, &ctx()).expect("n2's member key stayed");
        assert!(bad.detail.contains("its member key"), "{}", bad.detail);
        v.at = Duration::from_millis(12_500);
        assert!(check(&v, &h, &ctx()).is_none(), "within the bound");
        v.at = Duration::from_millis(20_000);
        v.store.as_mut().unwrap().announced.remove("n2");
        assert!(check(&v, &h, &ctx()).is_none());
        v.store.as_mut().unwrap().leader_key = Some("n2".into());
        assert!(check(&v, &h, &ctx()).is_some(), "the leader key stayed");
        let mut cut = v.clone();
        cut.left_cut
            .insert("n2".into(), Duration::from_millis(10_050));
        assert!(
            check(&cut, &h, &ctx()).is_none(),
            "cut from the store while it stopped"
        );
        cut.left_cut
            .insert("n2".into(), Duration::from_millis(13_000));
        assert!(
            check(&cut, &h, &ctx()).is_some(),
            "cut off only after the bound: it had time to deregister"
        );
        h.unclean.insert("n2".into());
        assert!(
            check(&v, &h, &ctx()).is_none(),
            "it could not reach the store"
        );
    }
}
