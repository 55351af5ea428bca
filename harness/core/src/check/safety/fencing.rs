//! `fencing`: every new term's fencing token is greater than every token
//! before it, and the leader key never names a term older than one that
//! has already acted, so that `fence_holds` (the key's create revision is
//! the caller's token) rejects every earlier token.

use super::super::{Context, Violation};
use crate::tracker::History;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "fencing";

/// Fails on a new token that does not exceed the newest before it, or a
/// leader key older than the newest token already seen.
pub fn check(view: &View, history: &History, _: &Context) -> Option<Violation> {
    let newest = history.newest_token?;
    if let Some((node, token)) = history.new_tokens.iter().find(|(_, t)| *t <= newest) {
        return Some(Violation {
            check: NAME,
            at: view.at,
            nodes: vec![node.clone()],
            detail: format!(
                "at {} ms {node} acts under token {token}, not above the newest earlier token {newest}",
                view.at.as_millis()
            ),
        });
    }
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, view};
    use crate::view::StoreView;

    #[test]
    fn tokens_only_grow() {
        let mut h = History {
            newest_token: Some(7),
            ..History::default()
        };
        h.new_tokens.push(("n2".into(), 9));
        assert!(check(&view(0), &h, &ctx()).is_none());
        h.new_tokens.push(("n3".into(), 6));
        let bad = check(&view(0), &h, &ctx()).expect("an older new token");
        assert_eq!(bad.nodes, ["n3"]);
        h.new_tokens.clear();
        let mut v = view(0);
        v.store = Some(StoreView {
            leader_key: Some("n1".into()),
            leader_token: Some(5),
            ..StoreView::default()
        });
        assert!(check(&v, &h, &ctx()).is_some(), "a key older than token 7");
        v.store.as_mut().unwrap().leader_token = Some(7);
        assert!(check(&v, &h, &ctx()).is_none());
    }
}
