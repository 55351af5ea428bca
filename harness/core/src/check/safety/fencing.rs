//! `fencing`: tokens grow with the terms. Every term's fencing token is
//! above the token of every term that began before it, no token is used
//! by two nodes, and the leader key never names a term older than one that
//! has already acted, so that `fence_holds` (the key's create revision is
//! the caller's token) rejects every earlier token. Judged on the terms
//! the nodes published ([`crate::terms`]), in the order they began.

use clusterlab_scenario::checks::Found;

use super::super::{Context, Violation};
use crate::tracker::Past;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "fencing";

/// Fails on a term whose token another node used, or that is not above
/// the tokens of the terms begun before it, or on a leader key older than
/// the newest term.
pub fn check(view: &View, past: &Past, _: &Context) -> Option<Violation> {
    let all = past.terms.all();
    for a in &past.changed_terms {
        let violation = |b: &crate::terms::Term, kind: &str, what: String| Violation {
            check: NAME,
            at: a.start.max(b.start),
            nodes: vec![b.node.clone(), a.node.clone()],
            detail: format!(
                "{} led under token {} from {} ms; {} from {} ms under token {}: {what}",
                b.node,
                b.token,
                b.start.as_millis(),
                a.node,
                a.start.as_millis(),
                a.token
            ),
            found: Found::kind(kind),
        };
        if let Some(b) = all.iter().find(|b| b.token == a.token && b.node != a.node) {
            return Some(violation(b, "token-reused", "one token, two nodes".into()));
        }
        if let Some(b) = all.iter().find(|b| b.start < a.start && b.token > a.token) {
            return Some(violation(
                b,
                "token-older",
                "a later term under an older token".into(),
            ));
        }
    }
    // Only terms begun by the view's instant: a journal read after the
    // store may already hold the next term.
    let newest = past.terms.newest_token_by(view.at)?;
    let store = view.store.as_ref()?;
    let key = store.leader_token?;
    (key < newest).then(|| Violation {
        check: NAME,
        at: view.at,
        nodes: store.leader_key.iter().cloned().collect(),
        detail: format!(
            "at {} ms the leader key's token is {key}, older than token {newest} that already acted: fence_holds would take the older term",
            view.at.as_millis()
        ),
        found: Found::kind("key-older"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use crate::view::{StoreView, Window};
    use std::time::Duration;

    fn publish(h: &mut Past, at: u64, node: &str, token: u64) {
        h.terms.publish(
            Duration::from_millis(at),
            node,
            Some(Window {
                until: Duration::from_millis(at + 100),
                token,
            }),
        );
        h.changed_terms = h.terms.take_changed().into_iter().cloned().collect();
    }

    #[test]
    fn tokens_only_grow() {
        let mut h = Past::default();
        publish(&mut h, 0, "n1", 7);
        publish(&mut h, 200, "n2", 9);
        assert!(check(&view(200), &h, &ctx()).is_none());
        publish(&mut h, 400, "n3", 6);
        let bad = check(&view(400), &h, &ctx()).expect("an older new token");
        assert_eq!(bad.nodes, ["n1", "n3"]);
        assert_eq!(bad.found.kind, "token-older");
        let mut v = view(500);
        h.changed_terms.clear();
        v.store = Some(StoreView {
            leader_key: Some("n1".into()),
            leader_token: Some(5),
            ..StoreView::default()
        });
        assert_eq!(
            check(&v, &h, &ctx())
                .expect("a key older than token 9")
                .found
                .kind,
            "key-older"
        );
        v.store.as_mut().unwrap().leader_token = Some(9);
        assert!(check(&v, &h, &ctx()).is_none());
        // A store read before the next term began is not older than it.
        v.store.as_mut().unwrap().leader_token = Some(7);
        v.at = Duration::from_millis(150);
        assert!(check(&v, &h, &ctx()).is_none(), "token 9 began at 200 ms");
    }

    /// Before terms, tokens were keyed by value only: a second node acting
    /// under a token already seen passed, and two new tokens first seen in
    /// one sample were not ordered against each other.
    #[test]
    fn a_token_taken_twice_or_two_new_terms_out_of_order_fail() {
        let mut h = Past::default();
        publish(&mut h, 0, "n1", 7);
        publish(&mut h, 300, "n2", 7);
        let bad = check(&view(300), &h, &ctx()).expect("token 7 twice");
        assert_eq!(bad.found.kind, "token-reused");
        let mut h = Past::default();
        // Both begin between two samples, the later under the older token.
        h.terms.publish(
            Duration::from_millis(10),
            "n1",
            Some(Window {
                until: Duration::from_millis(20),
                token: 9,
            }),
        );
        h.terms.publish(
            Duration::from_millis(30),
            "n2",
            Some(Window {
                until: Duration::from_millis(40),
                token: 8,
            }),
        );
        h.changed_terms = h.terms.take_changed().into_iter().cloned().collect();
        let bad = check(&view(50), &h, &ctx()).expect("8 after 9");
        assert_eq!(bad.found.kind, "token-older");
    }
}
