//! `peers`: disco's own member view on every live node is exactly the live
//! nodes: a node that left or died for good drops out of everyone's view
//! (its database may keep it listed; disco's view must not).

use clusterlab_scenario::checks::NOTHING_TO_JUDGE;

use super::super::{names, Verdict};
use crate::view::View;

/// The check's name.
pub const NAME: &str = "peers";

/// The verdict on `view`; nodes whose disco view the world cannot see are
/// not judged.
pub fn check(view: &View) -> Verdict {
    let live = view.live();
    let silent: Vec<String> = live
        .iter()
        .filter(|n| view.nodes[*n].peers.is_none())
        .cloned()
        .collect();
    if !live.is_empty() && silent.len() == live.len() {
        return Verdict::failed(
            NAME,
            NOTHING_TO_JUDGE,
            "no live node reports disco's member view: nothing to judge".into(),
            Vec::new(),
        );
    }
    if !silent.is_empty() {
        return Verdict::failed(
            NAME,
            "silent",
            format!("no member view from {}", names(&silent)),
            silent,
        );
    }
    let wrong: Vec<String> = live
        .iter()
        .filter(|n| view.nodes[*n].peers.as_ref() != Some(&live))
        .cloned()
        .collect();
    if wrong.is_empty() {
        return Verdict::held(
            NAME,
            format!("disco sees [{}] on every live node", names(&live)),
        );
    }
    let detail = wrong
        .iter()
        .map(|n| {
            let p = view.nodes[n].peers.clone().unwrap_or_default();
            format!("{n} sees [{}]", names(&p))
        })
        .collect::<Vec<_>>()
        .join("; ")
        + &format!(", live [{}]", names(&live));
    Verdict::failed(NAME, "differs", detail, wrong)
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
        // A live node that does not say is not passed over.
        v.nodes.get_mut("n2").unwrap().peers = None;
        let silent = check(&v);
        assert_eq!(
            (silent.passed, silent.nodes.clone()),
            (false, vec!["n2".to_string()])
        );
        assert_eq!(silent.found[0].kind, "silent");
    }

    /// Before the fix, a cluster where no node reported disco's view
    /// passed "nothing to judge"; now it fails, unless the scenario says
    /// why (`[expect.unjudged]`).
    #[test]
    fn nothing_to_judge_fails() {
        let mut v = view(0);
        v.nodes.insert("n1".into(), node(NodeState::Up, true, None));
        let r = check(&v);
        assert!(!r.passed, "{}", r.detail);
        assert_eq!(r.found[0].kind, NOTHING_TO_JUDGE);
    }
}
