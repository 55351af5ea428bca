//! `bounded-waits`: every wait of an agent ends by its deadline. An agent
//! that registers, waits for a pending bootstrap or for someone to join,
//! or waits for its new database to be ready, gives up by the deadline
//! it was configured with (`--startup-timeout`, `--join-timeout`,
//! `--ready-timeout`, in [`super::super::Waits`]) and says so; it never
//! hangs silently in a phase. Judged where the agents report their phases,
//! on running nodes (a frozen agent cannot give up until it thaws).

use clusterlab_scenario::checks::Found;

use super::super::{Context, Violation};
use crate::tracker::Past;
use crate::view::{NodeState, View};

/// The check's name.
pub const NAME: &str = "bounded-waits";

/// Fails when a running node has been in a waiting phase longer than its
/// deadline, plus the world's slack.
pub fn check(view: &View, past: &Past, ctx: &Context) -> Option<Violation> {
    past.phases.iter().find_map(|(n, (phase, since))| {
        let deadline = match phase.as_str() {
            "registering" => ctx.waits.startup,
            "deciding" | "joining" => ctx.waits.join,
            "waiting-ready" => ctx.waits.ready,
            _ => return None,
        };
        let up = view.nodes.get(n).is_some_and(|v| v.state == NodeState::Up);
        let waited = view.at.saturating_sub(*since);
        (up && waited > deadline + ctx.slack).then(|| Violation {
            check: NAME,
            at: view.at,
            nodes: vec![n.clone()],
            detail: format!(
                "at {} ms {n} has been {phase} for {} ms, past its deadline of {} ms (+{} ms slack)",
                view.at.as_millis(),
                waited.as_millis(),
                deadline.as_millis(),
                ctx.slack.as_millis()
            ),
            found: Found::kind("overdue"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::testing::{ctx, node, view};
    use std::time::Duration;

    #[test]
    fn a_wait_past_its_deadline_fails_on_a_running_node() {
        let mut h = Past::default();
        h.phases.insert(
            "n1".into(),
            ("waiting-ready".into(), Duration::from_secs(1)),
        );
        let c = ctx();
        let mut v = view(0);
        v.nodes
            .insert("n1".into(), node(NodeState::Up, false, None));
        v.at = Duration::from_secs(1) + c.waits.ready + c.slack;
        assert!(check(&v, &h, &c).is_none());
        v.at += Duration::from_millis(1);
        assert_eq!(check(&v, &h, &c).expect("overdue").found.kind, "overdue");
        v.nodes
            .insert("n1".into(), node(NodeState::Paused, false, None));
        assert!(check(&v, &h, &c).is_none(), "frozen");
        h.phases
            .insert("n1".into(), ("running".into(), Duration::ZERO));
        assert!(check(&v, &h, &c).is_none());
    }
}
