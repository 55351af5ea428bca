//! `registered`: a node that runs, is not paused and reaches the store is
//! never missing from the announced members for longer than its lease TTL
//! plus the time its transport may take to notice a dead connection
//! ([`KEEPALIVE`]) and announce again.

use std::time::Duration;

use super::super::{Context, Violation};
use crate::tracker::History;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "registered";

/// How long a client may sit on a dead connection before it notices: an
/// HTTP/2 keepalive ping every 10 s with 5 s to answer.
pub const KEEPALIVE: Duration = Duration::from_secs(15);

/// Fails when an eligible node has been unannounced past the bound.
pub fn check(view: &View, history: &History, ctx: &Context) -> Option<Violation> {
    let bound = ctx.ttl + KEEPALIVE + ctx.slack;
    let (node, since) = history
        .unannounced_since
        .iter()
        .find(|(_, since)| view.at.saturating_sub(**since) > bound)?;
    Some(Violation {
        check: NAME,
        at: view.at,
        nodes: vec![node.clone()],
        detail: format!(
            "at {} ms {node} has run and reached the store for {} ms without its member key (bound: TTL + keepalive + slack = {} ms)",
            view.at.as_millis(),
            view.at.saturating_sub(*since).as_millis(),
            bound.as_millis()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};

    #[test]
    fn missing_past_the_bound_fails() {
        // TTL 3 s + 15 s + 0.5 s slack = 18.5 s.
        let mut h = History::default();
        h.unannounced_since.insert("n2".into(), Duration::ZERO);
        assert!(check(&view(18_500), &h, &ctx()).is_none());
        let bad = check(&view(18_501), &h, &ctx()).expect("missing too long");
        assert_eq!(bad.nodes, ["n2"]);
        assert!(check(&view(18_501), &History::default(), &ctx()).is_none());
    }
}
