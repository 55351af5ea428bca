//! Generated fault schedules: each seed draws one schedule of faults with
//! proptest, the simulator runs it (with the same seed), and a failing one
//! is shrunk to the smallest schedule that still fails. Same seed, same
//! schedule, same run: a failure replays alone.

use std::time::Duration;

use clusterlab_scenario::{
    Action, Direction, Fault, Groups, Peer, Role, Scenario, Shape, StoreKey, StoreKind, Target,
};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngSeed, TestRunner};

use crate::baseline::Strategy as Logic;
use crate::world::{self, Schedule, Simulated};

fn leader() -> Vec<Target> {
    vec![Target::Role(Role::Leader)]
}

fn one(role: Role) -> Vec<Target> {
    vec![Target::Role(role)]
}

/// Faults that end: network cuts, pauses, kills with a restart, the store's
/// replies lost or late, its leader killed, a drifting clock.
fn lasting(kind: StoreKind) -> BoxedStrategy<Action> {
    let common = prop_oneof![
        Just(Action::KillLeader),
        Just(Action::Kill {
            target: one(Role::Random)
        }),
        Just(Action::Isolate { target: leader() }),
        Just(Action::CutDiscovery { target: leader() }),
        Just(Action::Pause { target: leader() }),
        Just(Action::Partition {
            groups: Groups::MajorityMinority
        }),
        (1u32..=10).prop_map(|r| Action::PacketLoss {
            target: leader(),
            rate: f64::from(r) / 10.0,
        }),
        (5u32..=10).prop_map(|r| Action::DropReplies {
            target: one(Role::Random),
            rate: f64::from(r) / 10.0,
        }),
        (1u64..=30).prop_map(|d| Action::DelayReplies {
            target: one(Role::Random),
            delay: Duration::from_millis(d * 100),
        }),
        Just(Action::KillStoreLeader),
        // A slow store link: up to 2 s each way, past a 3 s TTL's third.
        (1u64..=20).prop_map(|d| Action::Shape {
            shape: Shape::Latency {
                delay: Duration::from_millis(d * 100),
            },
            target: leader(),
            peer: Peer::Store,
            direction: Direction::Both,
        }),
        (1u64..=10).prop_map(|d| Action::Shape {
            shape: Shape::Jitter {
                delay: Duration::from_millis(d * 100),
                jitter: Duration::from_millis(d * 50),
            },
            target: one(Role::Random),
            peer: Peer::All,
            direction: Direction::Both,
        }),
        (1u32..=5).prop_map(|r| Action::Shape {
            shape: Shape::Reorder {
                rate: f64::from(r) / 10.0,
                delay: Duration::from_millis(500),
            },
            target: one(Role::Minority),
            peer: Peer::All,
            direction: Direction::Out,
        }),
        // Within the drift disco's 10% margin allows (see disco::announce).
        (950u32..=1050).prop_map(|r| Action::ClockDrift {
            rate: f64::from(r) / 1000.0,
        }),
        // A database that does not pass its ready probe for a while (a
        // bootstrapper's, or a restarted joiner's).
        Just(Action::DbNotReady {
            target: one(Role::Random)
        }),
    ];
    match kind {
        StoreKind::Etcd => common.boxed(),
        StoreKind::Consul => prop_oneof![
            common,
            Just(Action::ResetIndex),
            Just(Action::DeregisterNode)
        ]
        .boxed(),
    }
}

/// Faults of one instant: keys and leases taken from outside, watches
/// cancelled, the store's clock nudged, a database's leadership moving on
/// its own, a database crashing.
fn instant(kind: StoreKind) -> BoxedStrategy<Action> {
    let common = prop_oneof![
        Just(Action::DeleteKey {
            key: StoreKey::Leader,
            target: Vec::new()
        }),
        Just(Action::DeleteKey {
            key: StoreKey::Member,
            target: one(Role::Random)
        }),
        Just(Action::RevokeLease {
            target: one(Role::Random)
        }),
        // At most 5% of a 3 s TTL: within disco's margin.
        (1u64..=150).prop_map(|ms| Action::ClockJump {
            by: Duration::from_millis(ms)
        }),
        Just(Action::DbLeaderMove {
            target: one(Role::Follower)
        }),
        Just(Action::DbCrash {
            target: one(Role::Random)
        }),
    ];
    match kind {
        StoreKind::Etcd => prop_oneof![common, Just(Action::CancelWatches)].boxed(),
        StoreKind::Consul => common.boxed(),
    }
}

fn fault(kind: StoreKind) -> impl Strategy<Value = Fault> {
    let lasting = (5u64..40, 1u64..15, lasting(kind)).prop_map(|(at, len, action)| Fault {
        at: Duration::from_secs(at),
        duration: Some(Duration::from_secs(len)),
        action,
        during_formation: false,
    });
    let instant = (5u64..40, instant(kind)).prop_map(|(at, action)| Fault {
        at: Duration::from_secs(at),
        duration: None,
        action,
        during_formation: false,
    });
    prop_oneof![3 => lasting, 1 => instant]
}

/// A node lost for good: crashed, or gone cleanly.
fn gone() -> impl Strategy<Value = Fault> {
    (
        5u64..40,
        prop_oneof![
            Just(Action::Crash {
                target: one(Role::Random)
            }),
            Just(Action::Leave {
                target: one(Role::Random)
            }),
        ],
    )
        .prop_map(|(at, action)| Fault {
            at: Duration::from_secs(at),
            duration: None,
            action,
            during_formation: false,
        })
}

/// Up to four faults for a store of `kind`, and at most one node lost for
/// good, in firing order.
pub fn schedule(kind: StoreKind) -> impl Strategy<Value = Vec<Fault>> {
    (
        proptest::collection::vec(fault(kind), 0..4),
        proptest::option::weighted(0.2, gone()),
    )
        .prop_map(|(mut v, gone)| {
            v.extend(gone);
            v.sort_by_key(|f| f.at);
            v
        })
}

/// `base` with `faults` instead of its own, lengthened to fit them. Its
/// failover bound is dropped: it was written for its own faults, and a
/// generated schedule may lose no leader at all.
pub fn with_faults(base: &Scenario, faults: Vec<Fault>) -> Scenario {
    let mut s = base.clone();
    // What a report shows as the scenario: the file, then what ran instead
    // of its faults.
    s.source = format!(
        "{}\n# The file's [[faults]] above did not run: this generated schedule did.\n{}",
        base.source.trim_end(),
        to_toml(&faults)
    );
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

fn tree(kind: StoreKind, seed: u64) -> impl ValueTree<Value = Vec<Fault>> {
    let mut runner = TestRunner::new(Config {
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        ..Config::default()
    });
    schedule(kind)
        .new_tree(&mut runner)
        .expect("schedules always generate")
}

/// The schedule generated for `seed` on a store of `kind`: each seed draws
/// its own, so one failing seed replays alone.
pub fn generated(kind: StoreKind, seed: u64) -> Vec<Fault> {
    tree(kind, seed).current()
}

/// What one generated schedule came to.
pub type Checked = Result<Simulated, Box<Found>>;

/// Runs the schedule generated for `seed` (the simulation seed too). A
/// failing one comes back shrunk, by proptest's value tree, to the
/// smallest schedule that still fails, with its run; a passing one with
/// its run. The simulator's own refusal (a scenario it cannot run, a seed
/// too long) is the outer error: no schedule of it can run.
pub fn check(base: &Scenario, logic: Logic, seed: u64) -> Result<Checked, world::SimError> {
    let run = |faults: Vec<Fault>| {
        world::simulate(&with_faults(base, faults), seed, logic, Schedule::Generated)
    };
    let fails =
        |r: &Result<Simulated, world::SimError>| !r.as_ref().is_ok_and(|r| r.outcome.passed);
    let mut tree = tree(base.discovery.kind, seed);
    let first = run(tree.current())?;
    if first.outcome.passed {
        return Ok(Ok(first));
    }
    let first = Ok(first);
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
    Ok(Err(Box::new(Found {
        faults,
        run: run.expect("best holds a run"),
    })))
}

/// A schedule as `[[faults]]` tables, for a report or a scenario file.
pub fn to_toml(faults: &[Fault]) -> String {
    clusterlab_scenario::write::faults_toml(faults)
}
