//! `single-leader`: no two nodes' leadership terms share an instant. Terms
//! are judged as the nodes published them (from a term's first window to
//! its end), not from samples: two windows that overlap by less than the
//! sampling interval are caught, and a leader that is cut off or frozen
//! keeps the window it last published. A holder's window ends before the
//! store can hand the key to anyone else, so this holds even while a
//! leader is partitioned or frozen (the lease-holder-paused case Jepsen
//! found in etcd locks).
//!
//! Except for a key taken from outside (an operator deleting it, or ending
//! the lease or session under it): the store then hands it on at once, and
//! the holder learns of it only from its watch or its next renewal. Only
//! the term that held the key when it was taken is excused, only against a
//! term begun after, and only if it ended within a TTL (plus the world's
//! slack) of the theft.

use clusterlab_scenario::checks::Found;

use super::super::{Context, Violation};
use crate::terms::Term;
use crate::tracker::Past;
use crate::view::{Taken, View};

/// The check's name.
pub const NAME: &str = "single-leader";

/// Fails when a term begun or changed since the last view overlaps
/// another node's term.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    let all = past.terms.all();
    past.changed_terms.iter().find_map(|a| {
        let b = all
            .iter()
            .find(|b| b.node != a.node && a.overlaps(b) && !excused(&view.taken, a, b, ctx))?;
        let (first, second) = if a.start <= b.start { (a, b) } else { (b, a) };
        Some(Violation {
            check: NAME,
            at: second.start,
            nodes: vec![first.node.clone(), second.node.clone()],
            detail: format!(
                "{} led under token {} from {} ms until {} ms, and {} under token {} from {} ms: both at once for {} ms",
                first.node,
                first.token,
                first.start.as_millis(),
                first.end.as_millis(),
                second.node,
                second.token,
                second.start.as_millis(),
                first.end.min(second.end).saturating_sub(second.start).as_millis()
            ),
            found: Found::kind("overlap"),
        })
    })
}

/// Whether the overlap of `a` and `b` is a theft's: the earlier term held
/// the key when it was taken, the later began after, and the earlier
/// ended within a TTL (+ slack) of the theft.
fn excused(taken: &[Taken], a: &Term, b: &Term, ctx: &Context) -> bool {
    let (old, new) = if a.start <= b.start { (a, b) } else { (b, a) };
    taken.iter().any(|t| {
        old.start <= t.at
            && new.start >= t.at
            && t.holder.as_ref().is_none_or(|h| *h == old.node)
            && old.end <= t.at + ctx.ttl + ctx.slack
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use crate::view::Window;
    use std::time::Duration;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn publish(h: &mut Past, at: u64, node: &str, until: u64, token: u64) {
        h.terms.publish(
            ms(at),
            node,
            Some(Window {
                until: ms(until),
                token,
            }),
        );
        h.changed_terms = h.terms.take_changed().into_iter().cloned().collect();
    }

    #[test]
    fn terms_in_turn_pass_and_overlapping_ones_fail() {
        let mut h = Past::default();
        publish(&mut h, 0, "n1", 2000, 5);
        assert!(check(&view(0), &h, &ctx()).is_none());
        publish(&mut h, 2000, "n2", 4000, 7);
        assert!(check(&view(2000), &h, &ctx()).is_none(), "back to back");
        publish(&mut h, 3500, "n3", 6000, 9);
        let bad = check(&view(3600), &h, &ctx()).expect("n2 and n3 at once");
        assert_eq!(bad.nodes, ["n2", "n3"]);
        assert_eq!(bad.at, ms(3500));
        assert!(bad.detail.contains("for 500 ms"), "{}", bad.detail);
    }

    /// Before terms, the check compared windows within one sample: an
    /// overlap shorter than the sampling interval, between two samples,
    /// passed. Now the published windows are compared.
    #[test]
    fn an_overlap_between_two_samples_is_caught() {
        let mut h = Past::default();
        publish(&mut h, 0, "n1", 1010, 5);
        publish(&mut h, 1000, "n2", 3000, 6);
        // The next sample is at 1100 ms, when n1's window has closed.
        let bad = check(&view(1100), &h, &ctx()).expect("a 10 ms overlap");
        assert!(bad.detail.contains("for 10 ms"), "{}", bad.detail);
    }

    /// Only the holder whose key was taken is excused, only against a
    /// later term, and only for a TTL (+ slack) after the theft.
    #[test]
    fn a_taken_key_excuses_only_its_holder_for_a_ttl() {
        let mut h = Past::default();
        publish(&mut h, 0, "n1", 2700, 5);
        publish(&mut h, 1000, "n2", 4000, 7);
        let mut v = view(1000);
        assert!(check(&v, &h, &ctx()).is_some(), "nothing taken");
        v.taken = vec![Taken {
            at: ms(900),
            holder: None,
        }];
        assert!(check(&v, &h, &ctx()).is_none(), "the key was deleted");
        v.taken[0].holder = Some("n3".into());
        assert!(check(&v, &h, &ctx()).is_some(), "another node's lease");
        v.taken[0].holder = Some("n1".into());
        assert!(check(&v, &h, &ctx()).is_none(), "n1's lease was revoked");
        // n1 acts on past TTL + slack (3 s + 0.5 s) after the theft.
        publish(&mut h, 1100, "n1", 4500, 5);
        assert!(check(&v, &h, &ctx()).is_some(), "too long after");
    }
}
