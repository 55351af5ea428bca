//! `claim-lapse`: a bootstrap claim that lapsed (its lease ended in the
//! store before the claimant committed it) is never committed, and the
//! claimant's database, which started a new cluster under it, no longer
//! runs when the store lets the claim go: another node may be claiming
//! and bootstrapping a second cluster. The claimant's own clock ends its
//! lease no later than the store does (its renewals, its margin), so it
//! must have stopped by the lapse, give or take the world's slack.

use clusterlab_scenario::checks::Found;

use super::super::{Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "claim-lapse";

/// Fails on a commit of a lapsed claim, or a lapsed claimant's database
/// still running past the slack.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    if let Some((at, n)) = past.lapsed_commits.first() {
        return Some(Violation {
            check: NAME,
            at: *at,
            nodes: vec![n.clone()],
            detail: format!(
                "at {} ms {n} committed a bootstrap claim that had lapsed at {} ms",
                at.as_millis(),
                past.lapsed.get(n).map_or(0, |t| t.as_millis())
            ),
            found: Found::kind("committed"),
        });
    }
    past.lapsed.iter().find_map(|(n, since)| {
        (past.databases.contains(n) && view.at > *since + ctx.slack).then(|| Violation {
            check: NAME,
            at: view.at,
            nodes: vec![n.clone()],
            detail: format!(
                "at {} ms {n}'s database, which started a new cluster, still runs; its claim lapsed at {} ms",
                view.at.as_millis(),
                since.as_millis()
            ),
            found: Found::kind("still-running"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use std::time::Duration;

    #[test]
    fn a_lapsed_claim_must_stop_and_never_commit() {
        let mut h = Past::default();
        h.lapsed.insert("n1".into(), Duration::from_secs(10));
        h.databases.insert("n1".into());
        assert!(check(&view(10_500), &h, &ctx()).is_none());
        let bad = check(&view(10_501), &h, &ctx()).expect("still running");
        assert_eq!(bad.found.kind, "still-running");
        h.databases.clear();
        assert!(check(&view(20_000), &h, &ctx()).is_none());
        h.lapsed_commits
            .push((Duration::from_secs(12), "n1".into()));
        assert_eq!(
            check(&view(20_000), &h, &ctx()).unwrap().found.kind,
            "committed"
        );
    }
}
