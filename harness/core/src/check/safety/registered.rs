//! `registered`: a node that runs, is not paused and reaches the store is
//! never missing from the announced members for longer than one lease TTL
//! (plus the world's observation slack): the store takes a TTL to notice a
//! dead node, and a live one must be back at least as fast, whatever ended
//! its registration (an expired lease, a stalled connection, a key deleted
//! from outside).

use clusterlab_scenario::checks::Found;

use super::super::{Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "registered";

/// Fails when an eligible node has been unannounced past the bound.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    let bound = ctx.ttl + ctx.slack;
    let (node, since) = past
        .unannounced_since
        .iter()
        .find(|(_, since)| view.at.saturating_sub(**since) > bound)?;
    Some(Violation {
        check: NAME,
        at: view.at,
        nodes: vec![node.clone()],
        detail: format!(
            "at {} ms {node} has run and reached the store for {} ms without its member key (bound: TTL + slack = {} ms)",
            view.at.as_millis(),
            view.at.saturating_sub(*since).as_millis(),
            bound.as_millis()
        ),
        found: Found::kind("missing"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use std::time::Duration;

    #[test]
    fn missing_past_the_bound_fails() {
        // TTL 3 s + 0.5 s slack = 3.5 s.
        let mut h = Past::default();
        h.unannounced_since.insert("n2".into(), Duration::ZERO);
        assert!(check(&view(3_500), &h, &ctx()).is_none());
        let bad = check(&view(3_501), &h, &ctx()).expect("missing too long");
        assert_eq!(bad.nodes, ["n2"]);
        assert!(check(&view(3_501), &Past::default(), &ctx()).is_none());
    }
}
