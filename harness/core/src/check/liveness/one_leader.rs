//! `one-leader`: exactly one live node says it leads.

use super::super::{names, Verdict};
use crate::view::View;

/// The check's name.
pub const NAME: &str = "one-leader";

/// The verdict on `view`.
pub fn check(view: &View) -> Verdict {
    let leaders = view.leaders();
    let detail = format!("leaders: [{}]", names(&leaders));
    match leaders.len() {
        1 => Verdict::held(NAME, detail),
        0 => Verdict::failed(NAME, "none", detail, Vec::new()),
        _ => Verdict::failed(NAME, "several", detail, leaders),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{node, view};
    use crate::view::NodeState;

    #[test]
    fn exactly_one_live_leader() {
        let mut v = view(0);
        v.nodes.insert("n1".into(), node(NodeState::Up, true, None));
        v.nodes
            .insert("n2".into(), node(NodeState::Paused, true, None));
        assert!(check(&v).passed, "a paused node's claim does not count");
        v.nodes.insert("n2".into(), node(NodeState::Up, true, None));
        assert!(!check(&v).passed);
        v.nodes.clear();
        assert!(!check(&v).passed);
    }
}
