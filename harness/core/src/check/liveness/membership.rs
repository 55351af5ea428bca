//! `membership`: every live node answers, all see the same members, and
//! those include every live node. A member that is down may still be
//! listed (a database keeps a dead member until it is removed).

use super::super::{names, Verdict};
use crate::view::View;

/// The check's name.
pub const NAME: &str = "membership";

/// The verdict on `view`.
pub fn check(view: &View) -> Verdict {
    let live = view.live();
    let verdict = |kind: Option<&str>, detail, nodes| match kind {
        None => Verdict::held(NAME, detail),
        Some(kind) => Verdict::failed(NAME, kind, detail, nodes),
    };
    let silent: Vec<String> = live
        .iter()
        .filter(|n| view.nodes[*n].members.is_none())
        .cloned()
        .collect();
    if !silent.is_empty() {
        return verdict(
            Some("silent"),
            format!("no view from {}", names(&silent)),
            silent,
        );
    }
    let mut views = live
        .iter()
        .map(|n| (n, view.nodes[n].members.clone().unwrap_or_default()));
    let Some((_, first)) = views.next() else {
        return verdict(Some("no-live-node"), "no live node".into(), Vec::new());
    };
    if views.any(|(_, m)| m != first) {
        let all = live
            .iter()
            .map(|n| {
                let m = view.nodes[n].members.clone().unwrap_or_default();
                format!("{n}:[{}]", names(&m))
            })
            .collect::<Vec<_>>()
            .join(" ");
        return verdict(
            Some("split"),
            format!("views differ: {all}"),
            live.into_iter().collect(),
        );
    }
    let missing: Vec<String> = live.difference(&first).cloned().collect();
    if !missing.is_empty() {
        return verdict(
            Some("missing"),
            format!(
                "members [{}] miss live [{}]",
                names(&first),
                names(&missing)
            ),
            missing,
        );
    }
    verdict(
        None,
        format!("all {} live nodes see [{}]", live.len(), names(&first)),
        Vec::new(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{node, view};
    use crate::view::NodeState;

    fn with(members: &[(&str, NodeState, Option<&[&str]>)]) -> View {
        let mut v = view(0);
        for (n, st, m) in members {
            let mut nv = node(*st, false, None);
            nv.members = m.map(|m| m.iter().map(|s| s.to_string()).collect());
            v.nodes.insert(n.to_string(), nv);
        }
        v
    }

    #[test]
    fn agreement_including_every_live_node_passes() {
        let all: &[&str] = &["n1", "n2", "n3"];
        let v = with(&[
            ("n1", NodeState::Up, Some(all)),
            ("n2", NodeState::Up, Some(all)),
            ("n3", NodeState::Down, None),
        ]);
        assert!(check(&v).passed, "{}", check(&v).detail);
        let v = with(&[
            ("n1", NodeState::Up, Some(all)),
            ("n2", NodeState::Up, Some(&["n2"])),
        ]);
        let bad = check(&v);
        assert!(
            !bad.passed && bad.detail.contains("views differ"),
            "{}",
            bad.detail
        );
        let v = with(&[
            ("n1", NodeState::Up, Some(&["n1"])),
            ("n2", NodeState::Up, Some(&["n1"])),
        ]);
        assert_eq!(check(&v).nodes, ["n2"]);
        let v = with(&[("n1", NodeState::Up, None)]);
        assert!(check(&v).detail.contains("no view from n1"));
    }
}
