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
use crate::tracker::Past;
use crate::view::View;

/// Every liveness check `expect` asks for, on `view` and what the run has
/// seen.
pub fn evaluate(view: &View, past: &Past, expect: &Expect) -> Vec<Verdict> {
    let on = |name| super::gate::on(name, expect);
    let mut out = vec![membership::check(view)];
    if on(peers::NAME) {
        out.push(peers::check(view));
    }
    if on(bootstrapped::NAME) {
        out.push(bootstrapped::check(past));
    }
    if on(one_leader::NAME) {
        out.push(one_leader::check(view));
    }
    if on(leader_key::NAME) {
        out.push(leader_key::check(view));
    }
    if on(announced_live::NAME) {
        out.push(announced_live::check(view));
    }
    out
}
