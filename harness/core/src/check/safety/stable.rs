//! `stable`: no lease is lost without a fault to explain it. Once no fault
//! has been in effect for longer than the store lets a lease outlive its
//! holder (plus the observation slack), no live node's member key may
//! disappear: disco renews every lease well within its TTL.

use clusterlab_scenario::checks::Found;

use super::super::{contract, Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "stable";

/// Fails when a live node lost its member key in a quiet stretch.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    let quiet = view.quiet_since?;
    let settled = quiet + contract::longest_life(ctx.store, ctx.ttl) + ctx.slack;
    let (at, node) = past.last_unannounced.as_ref()?;
    (*at > settled).then(|| Violation {
        check: NAME,
        at: *at,
        nodes: vec![node.clone()],
        detail: format!(
            "at {} ms {node}'s member key disappeared while it ran, with no fault in effect since {} ms",
            at.as_millis(),
            quiet.as_millis()
        ),
        found: Found::kind("lost-key"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use std::time::Duration;

    #[test]
    fn a_lease_lost_in_a_quiet_stretch_fails() {
        // Quiet since 10 s; etcd TTL 3 s: settled at 10 + 3.5 + 0.5 = 14 s.
        let mut v = view(20_000);
        v.quiet_since = Some(Duration::from_secs(10));
        let mut h = Past {
            last_unannounced: Some((Duration::from_secs(12), "n2".into())),
            ..Past::default()
        };
        assert!(check(&v, &h, &ctx()).is_none(), "the fault's aftermath");
        h.last_unannounced = Some((Duration::from_secs(15), "n2".into()));
        assert_eq!(check(&v, &h, &ctx()).expect("unexplained").nodes, ["n2"]);
        v.quiet_since = None;
        assert!(check(&v, &h, &ctx()).is_none(), "a fault is in effect");
    }
}
