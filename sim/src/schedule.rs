//! Generated fault schedules: each seed draws one schedule of faults with
//! proptest, the simulator runs it (with the same seed), and a failing one
//! is shrunk to the smallest schedule that still fails. Same seed, same
//! schedule, same run: a failure replays alone.

use std::time::Duration;

use clusterlab_scenario::{Action, Fault, Groups, Role, Scenario, Target};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use crate::baseline::Strategy as Logic;
use crate::world::{self, Schedule, Simulated};

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

/// `base` with `faults` instead of its own, lengthened to fit them. Its
/// failover bound is dropped: it was written for its own faults, and a
/// generated schedule may lose no leader at all.
pub fn with_faults(base: &Scenario, faults: Vec<Fault>) -> Scenario {
    let mut s = base.clone();
    s.faults = faults;
    s.expect.failover_within = None;
    s.duration = s.last_heal() + s.expect.converge_within;
    s
}

/// A failing schedule, shrunk.
#[derive(Debug, Clone)]
pub struct Found {
    /// The smallest schedule that still fails.
    pub faults: Vec<Fault>,
    /// Its run, replayed: the failed checks by their own names.
    pub run: Simulated,
}

/// How many shrink steps a failure may take.
const SHRINK_STEPS: u32 = 256;

fn tree(seed: u64) -> impl ValueTree<Value = Vec<Fault>> {
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    });
    schedule()
        .new_tree(&mut runner)
        .expect("schedules always generate")
}

/// The schedule generated for `seed`: each seed draws its own, so one
/// failing seed replays alone.
pub fn generated(seed: u64) -> Vec<Fault> {
    tree(seed).current()
}

/// Runs the schedule generated for `seed` (the simulation seed too). A
/// failing one comes back shrunk, by proptest's value tree, to the
/// smallest schedule that still fails, with its run; a passing one with
/// its run.
pub fn check(base: &Scenario, logic: Logic, seed: u64) -> Result<Simulated, Box<Found>> {
    let run = |faults: Vec<Fault>| {
        world::simulate(&with_faults(base, faults), seed, logic, Schedule::Generated)
    };
    let fails =
        |r: &Result<Simulated, world::SimError>| !r.as_ref().is_ok_and(|r| r.outcome.passed);
    let mut tree = tree(seed);
    let first = run(tree.current());
    if !fails(&first) {
        return Ok(first.expect("checked"));
    }
    let mut best = (tree.current(), first);
    let mut passed = false;
    for _ in 0..SHRINK_STEPS {
        let moved = if passed {
            tree.complicate()
        } else {
            tree.simplify()
        };
        if !moved {
            break;
        }
        let r = run(tree.current());
        passed = !fails(&r);
        if !passed && r.is_ok() {
            best = (tree.current(), r);
        }
    }
    let (faults, run) = best;
    Err(Box::new(Found {
        faults,
        run: run.unwrap_or_else(|e| panic!("seed {seed}: the simulator failed: {e}")),
    }))
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
