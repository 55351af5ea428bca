//! The convergence checks of `[expect]`, evaluated on one [`Sample`]: the
//! run is converged at the first sample after the last heal where all of
//! them hold.

use std::collections::BTreeSet;

use clusterlab_scenario::Expect;

use super::observe::Sample;

/// One check's verdict on one sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// `membership`, `single-leader`, `leader-key` or `announced-live`.
    pub name: &'static str,
    /// Whether it holds.
    pub passed: bool,
    /// What was seen.
    pub detail: String,
}

fn names(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(",")
}

/// Every enabled check on `sample`.
pub fn evaluate(sample: &Sample, expect: &Expect) -> Vec<Verdict> {
    let mut out = Vec::new();
    let live = &sample.live;
    // Every live node answers, all see the same members, and those
    // include every live node.
    let mut views = live
        .iter()
        .map(|n| (n, sample.views.get(n).cloned().flatten()));
    let silent: Vec<&String> = live
        .iter()
        .filter(|n| sample.views.get(*n).cloned().flatten().is_none())
        .collect();
    let first = views.next().and_then(|(_, v)| v).map(|v| v.members);
    let agree = views.all(|(_, v)| v.map(|v| v.members) == first);
    let members = first.unwrap_or_default();
    let (passed, detail) = if !silent.is_empty() {
        (false, format!("no answer from {silent:?}"))
    } else if !agree {
        let all: Vec<String> = live
            .iter()
            .map(|n| {
                let m = sample.views.get(n).cloned().flatten().map(|v| v.members);
                format!("{n}:[{}]", m.map(|m| names(&m)).unwrap_or_default())
            })
            .collect();
        (false, format!("views differ: {}", all.join(" ")))
    } else if !live.is_subset(&members) {
        (
            false,
            format!(
                "members [{}] miss live [{}]",
                names(&members),
                names(&live.difference(&members).cloned().collect())
            ),
        )
    } else {
        (
            true,
            format!("all {} live nodes see [{}]", live.len(), names(&members)),
        )
    };
    out.push(Verdict {
        name: "membership",
        passed,
        detail,
    });
    let leaders = sample.leaders();
    if expect.single_leader {
        out.push(Verdict {
            name: "single-leader",
            passed: leaders.len() == 1,
            detail: format!("leaders: {leaders:?}"),
        });
    }
    if expect.leader_key_matches {
        let key = sample.store.as_ref().map(|s| s.leader.clone());
        let passed = leaders.len() == 1 && key == Some(Some(leaders[0].clone()));
        out.push(Verdict {
            name: "leader-key",
            passed,
            detail: match key {
                None => "store did not answer".to_string(),
                Some(k) => format!("leader key names {k:?}, leaders {leaders:?}"),
            },
        });
    }
    if expect.announced_equals_live {
        let announced = sample.store.as_ref().map(|s| s.announced.clone());
        out.push(Verdict {
            name: "announced-live",
            passed: announced.as_ref() == Some(live),
            detail: match announced {
                None => "store did not answer".to_string(),
                Some(a) => format!("announced [{}], live [{}]", names(&a), names(live)),
            },
        });
    }
    out
}
