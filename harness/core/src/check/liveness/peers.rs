//! `peers`: disco's own member view on every live node is exactly the live
//! nodes: a node that left or died for good drops out of everyone's view
//! (its database may keep it listed; disco's view must not).

use super::super::{names, Verdict};
use crate::view::View;

/// The check's name.
pub const NAME: &str = "peers";

/// The verdict on `view`; nodes whose disco view the world cannot see are
/// not judged.
pub fn check(view: &View) -> Verdict {
    let live = view.live();
    let wrong: Vec<String> = live
        .iter()
        .filter(|n| view.nodes[*n].peers.as_ref().is_some_and(|p| *p != live))
        .cloned()
        .collect();
    Verdict {
        name: NAME,
        passed: wrong.is_empty(),
        detail: if !live.is_empty() && live.iter().all(|n| view.nodes[n].peers.is_none()) {
            "no live node runs disco-agent: nothing to judge".into()
        } else if wrong.is_empty() {
            format!("disco sees [{}] on every live node", names(&live))
        } else {
            wrong
                .iter()
                .map(|n| {
                    let p = view.nodes[n].peers.clone().unwrap_or_default();
                    format!("{n} sees [{}]", names(&p))
                })
                .collect::<Vec<_>>()
                .join("; ")
                + &format!(", live [{}]", names(&live))
        },
        nodes: wrong,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{node, view};
    use crate::view::NodeState;

    #[test]
    fn a_dead_node_must_leave_every_view() {
        let mut v = view(0);
        let all = |m: &[&str]| Some(m.iter().map(|s| s.to_string()).collect());
        let mut n1 = node(NodeState::Up, true, None);
        n1.peers = all(&["n1", "n2", "n3"]);
        v.nodes.insert("n1".into(), n1);
        let mut n2 = node(NodeState::Up, false, None);
        n2.peers = all(&["n1", "n2"]);
        v.nodes.insert("n2".into(), n2);
        v.nodes
            .insert("n3".into(), node(NodeState::Down, false, None));
        let bad = check(&v);
        assert!(!bad.passed);
        assert_eq!(bad.nodes, ["n1"]);
        v.nodes.get_mut("n1").unwrap().peers = all(&["n1", "n2"]);
        assert!(check(&v).passed);
    }
}
