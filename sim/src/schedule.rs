//! Generated fault schedules: proptest draws schedules of faults, the
//! simulator runs each, and a failing one is shrunk to the smallest
//! schedule that still fails. The search is seeded, so it replays too.

use std::time::Duration;

use clusterlab_scenario::{Action, Fault, Groups, Role, Scenario, Target};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseError, TestError, TestRunner};

use crate::baseline::Strategy as Logic;
use crate::invariant::Violation;
use crate::world;

fn action() -> impl Strategy<Value = Action> {
    let leader = || vec![Target::Role(Role::Leader)];
    prop_oneof![
        Just(Action::KillLeader),
        Just(Action::Kill {
            target: vec![Target::Role(Role::Random)]
        }),
        Just(Action::Isolate { target: leader() }),
        Just(Action::CutDiscovery { target: leader() }),
        Just(Action::Pause { target: leader() }),
        Just(Action::Partition {
            groups: Groups::MajorityMinority
        }),
    ]
}

fn fault() -> impl Strategy<Value = Fault> {
    (5u64..40, 1u64..15, action()).prop_map(|(at, len, action)| Fault {
        at: Duration::from_secs(at),
        duration: Some(Duration::from_secs(len)),
        action,
    })
}

/// Up to four faults, in firing order.
pub fn schedule() -> impl Strategy<Value = Vec<Fault>> {
    proptest::collection::vec(fault(), 0..4).prop_map(|mut v| {
        v.sort_by_key(|f| f.at);
        v
    })
}

/// `base` with `faults` instead of its own, lengthened to fit them.
pub fn with_faults(base: &Scenario, faults: Vec<Fault>) -> Scenario {
    let mut s = base.clone();
    s.faults = faults;
    s.duration = s.last_heal() + s.expect.converge_within;
    s
}

/// A failing schedule, shrunk.
#[derive(Debug, Clone)]
pub struct Found {
    /// The smallest schedule that still fails.
    pub faults: Vec<Fault>,
    /// What it breaks.
    pub violation: Violation,
}

/// Runs `cases` generated schedules of `base` (simulation seed `seed`);
/// the first failure comes back shrunk.
pub fn search(base: &Scenario, logic: Logic, cases: u32, seed: u64) -> Option<Found> {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        rng_seed: RngSeed::Fixed(seed),
        max_shrink_iters: 256,
        ..Config::default()
    });
    let result = runner.run(&schedule(), |faults| {
        let s = with_faults(base, faults);
        let out =
            world::run_with(&s, seed, logic).map_err(|e| TestCaseError::fail(e.to_string()))?;
        match out.violations.first() {
            Some(v) => Err(TestCaseError::fail(format!(
                "{}\u{1f}{}",
                v.invariant, v.detail
            ))),
            None => Ok(()),
        }
    });
    match result {
        Err(TestError::Fail(reason, faults)) => {
            let text = reason.message().to_string();
            let (invariant, detail) = text.split_once('\u{1f}').unwrap_or(("sim", &text));
            let invariant = match invariant {
                "single-bootstrap" => "single-bootstrap",
                "single-leader" => "single-leader",
                "leader-key" => "leader-key",
                "convergence" => "convergence",
                _ => "sim",
            };
            Some(Found {
                faults,
                violation: Violation {
                    invariant,
                    detail: detail.to_string(),
                },
            })
        }
        _ => None,
    }
}

/// A schedule as `[[faults]]` lines, for a report or a scenario file.
pub fn to_toml(faults: &[Fault]) -> String {
    let word = |t: &Target| match t {
        Target::Node(n) => n.clone(),
        Target::Role(r) => Role::ALL
            .iter()
            .find(|(_, x)| x == r)
            .map_or("?", |(w, _)| w)
            .to_string(),
    };
    let mut out = String::new();
    for f in faults {
        out.push_str(&format!(
            "[[faults]]\nat = \"{}s\"\naction = \"{}\"\n",
            f.at.as_secs(),
            f.action.name()
        ));
        match &f.action {
            Action::Kill { target }
            | Action::Isolate { target }
            | Action::CutDiscovery { target }
            | Action::Pause { target } => {
                out.push_str(&format!(
                    "target = \"{}\"\n",
                    target.iter().map(word).collect::<Vec<_>>().join(",")
                ));
            }
            Action::Partition { .. } => out.push_str("groups = \"majority-minority\"\n"),
            _ => {}
        }
        if let Some(d) = f.duration {
            out.push_str(&format!("for = \"{}s\"\n", d.as_secs()));
        }
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("# (no faults: it fails on its own)\n");
    }
    out
}
