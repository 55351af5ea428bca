//! Liveness checks: each must hold, on one view taken after the last heal,
//! within the scenario's `converge_within`. The run has converged at the
//! first such view where all of them hold.

pub mod announced_live;
pub mod bootstrapped;
pub mod leader_key;
pub mod membership;
pub mod one_leader;
pub mod peers;

use clusterlab_scenario::Expect;

use super::Verdict;
use crate::tracker::History;
use crate::view::View;

/// Every liveness check `expect` asks for, on `view` and what the run has
/// seen.
pub fn evaluate(view: &View, history: &History, expect: &Expect) -> Vec<Verdict> {
    let mut out = vec![membership::check(view), peers::check(view)];
    if expect.single_bootstrap {
        out.push(bootstrapped::check(history));
    }
    if expect.single_leader {
        out.push(one_leader::check(view));
    }
    if expect.leader_key_matches {
        out.push(leader_key::check(view));
    }
    if expect.announced_equals_live {
        out.push(announced_live::check(view));
    }
    out
}
