//! `announced-live`: the announced members are exactly the live nodes
//! (once leases of the dead have run out).

use super::super::{names, Verdict};
use crate::view::View;

/// The check's name.
pub const NAME: &str = "announced-live";

/// The verdict on `view`.
pub fn check(view: &View) -> Verdict {
    let live = view.live();
    match &view.store {
        None => Verdict::failed(
            NAME,
            "no-store",
            "the store did not answer".into(),
            Vec::new(),
        ),
        Some(s) => {
            let detail = format!(
                "announced [{}], live [{}]",
                names(&s.announced),
                names(&live)
            );
            if s.announced == live {
                Verdict::held(NAME, detail)
            } else {
                let nodes = s.announced.symmetric_difference(&live).cloned().collect();
                Verdict::failed(NAME, "differs", detail, nodes)
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
    fn announced_must_equal_live() {
        let mut v = view(0);
        v.nodes
            .insert("n1".into(), node(NodeState::Up, false, None));
        v.nodes
            .insert("n2".into(), node(NodeState::Down, false, None));
        v.store = Some(StoreView {
            announced: ["n1".to_string(), "n2".to_string()].into(),
            ..StoreView::default()
        });
        let bad = check(&v);
        assert!(!bad.passed);
        assert_eq!(bad.nodes, ["n2"]);
        v.store.as_mut().unwrap().announced.remove("n2");
        assert!(check(&v).passed);
    }
}
