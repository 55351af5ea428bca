//! `leader-key`: the discovery leader key names the one live leader.

use super::super::Verdict;
use crate::view::View;

/// The check's name.
pub const NAME: &str = "leader-key";

/// The verdict on `view`.
pub fn check(view: &View) -> Verdict {
    let leader = view.leader();
    match &view.store {
        None => Verdict::failed(
            NAME,
            "no-store",
            "the store did not answer".into(),
            Vec::new(),
        ),
        Some(s) => {
            let detail = format!(
                "leader key names {}, leaders [{}]",
                s.leader_key.as_deref().unwrap_or("nobody"),
                view.leaders().join(",")
            );
            if leader.is_some() && s.leader_key == leader {
                Verdict::held(NAME, detail)
            } else {
                Verdict::failed(NAME, "wrong", detail, Vec::new())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{node, view};
    use crate::view::{NodeState, StoreView};

    #[test]
    fn the_key_must_name_the_leader() {
        let mut v = view(0);
        v.nodes.insert("n1".into(), node(NodeState::Up, true, None));
        assert!(!check(&v).passed, "no store answer");
        v.store = Some(StoreView {
            leader_key: Some("n1".into()),
            ..StoreView::default()
        });
        assert!(check(&v).passed);
        v.store.as_mut().unwrap().leader_key = Some("n2".into());
        assert!(!check(&v).passed);
    }
}
