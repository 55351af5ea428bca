//! `leader-key-follows`: the leader key names the node whose database
//! leads, within a bound. When a database's leadership moves (a failover,
//! a switchover, an election the agents did not cause), the old holder's
//! key must go (resigned at once, or at worst expired: the store lets a
//! lease outlive its holder [`contract::longest_life`]) and the new
//! leader's agent must take it ([`contract::NOTICE`] to see its database
//! lead). Judged only while the leader reaches a working store; a store
//! whose leader changed renews every lease, so the count restarts then.

use clusterlab_scenario::checks::Found;

use super::super::{contract, Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "leader-key-follows";

/// Fails when the database's leader has not held the key for longer than
/// the bound.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    let (leader, since) = past.key_behind.as_ref()?;
    let promoted = view.store_changed.map(|t| t + contract::LEADER_ELECTION);
    let from = promoted.map_or(*since, |p| p.max(*since));
    let bound = contract::longest_life(ctx.store, ctx.ttl) + contract::NOTICE + ctx.slack;
    let behind = view.at.saturating_sub(from);
    (behind > bound).then(|| Violation {
        check: NAME,
        at: view.at,
        nodes: vec![leader.clone()],
        detail: format!(
            "at {} ms {leader}'s database has led since {} ms but the leader key names {} ({} ms; bound: the store's longest lease life {} ms + {} ms to notice + {} ms slack)",
            view.at.as_millis(),
            since.as_millis(),
            view.store
                .as_ref()
                .and_then(|s| s.leader_key.clone())
                .unwrap_or_else(|| "nobody".into()),
            behind.as_millis(),
            contract::longest_life(ctx.store, ctx.ttl).as_millis(),
            contract::NOTICE.as_millis(),
            ctx.slack.as_millis()
        ),
        found: Found::kind("behind"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use std::time::Duration;

    #[test]
    fn a_key_behind_the_database_fails_past_the_bound() {
        let h = Past {
            key_behind: Some(("n2".into(), Duration::from_secs(10))),
            ..Past::default()
        };
        // etcd, TTL 3 s: 3.5 s + 1 s + 0.5 s.
        assert!(check(&view(15_000), &h, &ctx()).is_none());
        let bad = check(&view(15_001), &h, &ctx()).expect("past the bound");
        assert_eq!(bad.nodes, ["n2"]);
        assert!(check(&view(15_001), &Past::default(), &ctx()).is_none());
    }
}
