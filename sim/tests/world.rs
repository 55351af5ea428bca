//! The simulated world on the shipped scenarios: invariants hold for
//! disco, and the same seed gives the same trace, byte for byte.

use std::path::Path;
use std::time::Instant;

use clusterlab_core::trace::{EventKind, NodeRole};
use clusterlab_scenario::Scenario;
use clusterlab_sim::world;

fn scenario(name: &str) -> Scenario {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../scenarios/{name}.toml"));
    clusterlab_scenario::load(&p).unwrap()
}

#[test]
fn quick_holds_its_invariants_and_replays_byte_for_byte() {
    let s = scenario("quick");
    let t0 = Instant::now();
    let a = world::run(&s, 7).unwrap();
    let took = t0.elapsed();
    let b = world::run(&s, 7).unwrap();
    println!("{}", a.trace.to_jsonl());
    println!("one run of {:?} simulated took {took:?}", s.duration);
    assert!(a.outcome.passed, "{:#?}", a.outcome.checks);
    assert_eq!(
        a.trace.to_jsonl(),
        b.trace.to_jsonl(),
        "same seed, same trace"
    );
    let kinds = a.trace.to_jsonl();
    assert!(kinds.contains("\"fault-start\""), "the fault fired");
    assert!(kinds.contains("\"bootstrap\""), "a node bootstrapped");
    // The leader key's lane: it named a node, then (the leader killed)
    // another one.
    let named: Vec<&Option<String>> = a
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::LeaderKey { node } => Some(node),
            _ => None,
        })
        .collect();
    let distinct: std::collections::BTreeSet<&String> =
        named.iter().filter_map(|n| n.as_ref()).collect();
    assert!(
        distinct.len() >= 2,
        "the key moved to another node: {named:?}"
    );
}

#[test]
fn different_seeds_replay_exactly_too() {
    let s = scenario("cold-start-5");
    for seed in [1, 2, 3] {
        let (a, b) = (world::run(&s, seed).unwrap(), world::run(&s, seed).unwrap());
        assert!(a.outcome.passed, "seed {seed}: {:#?}", a.outcome.checks);
        assert_eq!(a.trace.to_jsonl(), b.trace.to_jsonl(), "seed {seed}");
    }
}

#[test]
fn consul_discovery_holds_and_replays_byte_for_byte() {
    let s = scenario("consul-leader-kill");
    let (a, b) = (world::run(&s, 3).unwrap(), world::run(&s, 3).unwrap());
    assert!(a.outcome.passed, "{:#?}", a.outcome.checks);
    assert_eq!(a.trace.to_jsonl(), b.trace.to_jsonl());
    let t = a.trace.to_jsonl();
    assert!(
        t.contains("\"bootstrap\""),
        "a node bootstrapped over Consul"
    );
    assert!(t.contains("\"fault-start\""), "the leader was killed");
}

fn inline(name: &str, faults: &str) -> Scenario {
    let text = format!(
        r#"
description = "{name}"
worlds = ["sim"]
[excluded]
containers = "test only"
[discovery]
kind = "etcd"
ttl = "3s"
[cluster]
kind = "etcd"
nodes = 3
{faults}
[expect]
converge_within = "30s"
"#
    );
    clusterlab_scenario::parse(&format!("{name}.toml"), name, &text).unwrap()
}

/// The lease holder frozen past its TTL (Jepsen's paused etcd-lock holder):
/// another node takes the leader key while it is frozen, the two are never
/// leaders at the same instant, and it rejoins after the thaw.
#[test]
fn a_leader_frozen_past_its_ttl_is_replaced_and_never_overlaps() {
    let s = inline(
        "pause-leader",
        "[[faults]]\nat = \"10s\"\naction = \"pause\"\ntarget = \"leader\"\nfor = \"10s\"",
    );
    let mut replaced = 0;
    for seed in 0..4 {
        let out = world::run(&s, seed).unwrap();
        assert!(out.outcome.passed, "seed {seed}: {:#?}", out.outcome.checks);
        let events = &out.trace.events;
        let paused: Vec<String> = events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Role {
                    node,
                    role: NodeRole::Paused,
                } => Some(node.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(paused.len(), 1, "seed {seed}: one node frozen");
        let during = events.iter().any(|e| {
            (10_000..20_000).contains(&e.at_ms)
                && matches!(&e.kind, EventKind::Role { node, role: NodeRole::Leader } if *node != paused[0])
        });
        replaced += usize::from(during);
    }
    assert_eq!(
        replaced, 4,
        "another node led while the leader was frozen, every seed"
    );
}

/// Lossy links to the registry stall connections (turmoil's TCP does not
/// retransmit); disco redials and the cluster converges after the heal.
#[test]
fn packet_loss_to_the_registry_is_survived() {
    let s = inline(
        "lossy-leader",
        "[[faults]]\nat = \"8s\"\naction = \"packet-loss\"\ntarget = \"leader\"\nrate = 0.3\nfor = \"10s\"",
    );
    for seed in 0..4 {
        let out = world::run(&s, seed).unwrap();
        assert!(out.outcome.passed, "seed {seed}: {:#?}", out.outcome.checks);
        assert!(out.trace.to_jsonl().contains("\"packet-loss\""));
    }
}

/// The `linearizable` check of a simulated run, which must have passed.
fn linearizable_passed(name: &str, seed: u64, out: &world::Simulated) {
    let check = out
        .outcome
        .checks
        .iter()
        .find(|c| c.name == "linearizable")
        .unwrap_or_else(|| panic!("{name} seed {seed}: no linearizable check"));
    assert!(check.passed, "{name} seed {seed}: {}", check.detail);
}

/// The nodes' own registry calls form the run's history, and the store
/// models stay linearizable under the store faults: keys deleted, leases
/// revoked and watches cancelled from outside (the store's own writes
/// are in the history). Same seed, same history.
#[test]
fn the_nodes_calls_are_a_linearizable_history_under_store_faults() {
    for name in ["sim-etcd-store-faults", "sim-consul-store-faults"] {
        let s = scenario(name);
        for seed in [1, 2] {
            let a = world::run(&s, seed).unwrap();
            linearizable_passed(name, seed, &a);
            let history = a.trace.history();
            assert!(history.len() > 100, "{name}: {} events", history.len());
            assert!(
                history.iter().any(|e| e.node.as_deref() == Some("store")),
                "{name}: the store's own deletions are missing"
            );
            let b = world::run(&s, seed).unwrap();
            assert_eq!(history, b.trace.history(), "{name} seed {seed}");
        }
    }
}

/// Replies lost after the store applied the call: the calls are unknown,
/// and the revision of one that took effect is learnt from the read that
/// saw it, so the history stays linearizable.
#[test]
fn calls_whose_replies_were_lost_are_unknown_and_placed_by_their_readers() {
    let s = inline(
        "lossy-replies",
        "[[faults]]\nat = \"10s\"\naction = \"drop-replies\"\ntarget = [\"n1\", \"n2\", \"n3\"]\nrate = 0.5\nfor = \"10s\"\n\
         [[faults]]\nat = \"11s\"\naction = \"revoke-lease\"\ntarget = [\"n1\", \"n2\", \"n3\"]",
    );
    let mut placed = 0;
    // Readers are few (a node reads its own key once in three renewals,
    // and watches it otherwise): enough seeds that one sees a lost write.
    for seed in 1..=12 {
        let out = world::run(&s, seed).unwrap();
        assert!(out.outcome.passed, "seed {seed}: {:#?}", out.outcome.checks);
        linearizable_passed("lossy-replies", seed, &out);
        let history = out.trace.history();
        let unknown: Vec<u64> = history
            .iter()
            .filter(|e| e.kind == clusterlab_core::history::Type::Unknown)
            .map(|e| e.client)
            .collect();
        assert!(!unknown.is_empty(), "seed {seed}: no reply was lost");
        // An unknown write whose revision a reader taught us ends in
        // `@<revision>`; one nobody saw in `@?<key>`.
        placed += history
            .iter()
            .filter(|e| e.kind == clusterlab_core::history::Type::Invoke)
            .filter(|e| unknown.contains(&e.client))
            .filter_map(|e| e.value.as_ref().or(e.to.as_ref()))
            .filter(|v| v.as_str().is_some_and(|v| !v.contains("@?")))
            .count();
    }
    assert!(placed > 0, "no unknown write was ever seen by a reader");
}

/// The agent over the simulated database, under the database's own
/// faults (sim-database-faults): every invariant holds over seeds; the
/// leader key follows the leadership the database moved on its own; the
/// crashed database's agent was started again; the bootstrap waited for
/// readiness.
#[test]
fn the_agent_holds_under_its_databases_faults() {
    let s = scenario("sim-database-faults");
    for seed in 0..6 {
        let out = world::run(&s, seed).unwrap();
        assert!(
            out.outcome.passed,
            "seed {seed}: {:#?}",
            out.outcome.failures().collect::<Vec<_>>()
        );
        let events = &out.trace.events;
        let fired = |action: &str| {
            events.iter().find_map(|e| match &e.kind {
                EventKind::FaultStart {
                    action: a, nodes, ..
                } if a == action => Some((e.at_ms, nodes.clone())),
                _ => None,
            })
        };
        let (moved_at, moved_to) = fired("db-leader-move").expect("the move fired");
        let followed = events.iter().any(|e| {
            e.at_ms >= moved_at
                && e.at_ms < moved_at + 5_000
                && matches!(&e.kind, EventKind::LeaderKey { node: Some(n) } if *n == moved_to[0])
        });
        assert!(followed, "seed {seed}: the key followed to {moved_to:?}");
        let (crashed_at, crashed) = fired("db-crash").expect("the crash fired");
        let restarted = events.iter().any(|e| {
            e.at_ms > crashed_at
                && matches!(&e.kind, EventKind::Database { node, running: true } if *node == crashed[0])
        });
        assert!(restarted, "seed {seed}: {crashed:?}'s agent started again");
        let boot = events
            .iter()
            .find_map(|e| matches!(e.kind, EventKind::Bootstrap { .. }).then_some(e.at_ms));
        assert!(
            boot.is_some_and(|b| b >= 4_000),
            "seed {seed}: committed once ready, at {boot:?}"
        );
    }
}

/// A bootstrapper's database that stays unready past the agent's ready
/// timeout: the claim is given up and the database stopped by the
/// deadline (bounded-waits, claim-lapse), the cluster is bootstrapped
/// once, later, by a node whose database is ready.
#[test]
fn a_bootstrap_that_never_gets_ready_gives_way_by_its_deadline() {
    let s = inline(
        "never-ready",
        "[[faults]]\nat = \"0s\"\naction = \"db-not-ready\"\ntarget = [\"n1\", \"n2\", \"n3\"]\nfor = \"70s\"\nduring_formation = true",
    );
    for seed in 0..2 {
        let out = world::run(&s, seed).unwrap();
        assert!(
            out.outcome.passed,
            "seed {seed}: {:#?}",
            out.outcome.failures().collect::<Vec<_>>()
        );
        let gave_up = out.trace.events.iter().any(|e| {
            matches!(&e.kind, EventKind::Database { running: false, .. }) && e.at_ms < 70_000
        });
        assert!(
            gave_up,
            "seed {seed}: a claimant stopped its database by the deadline"
        );
        let boots: Vec<u64> = out
            .trace
            .events
            .iter()
            .filter_map(|e| matches!(e.kind, EventKind::Bootstrap { .. }).then_some(e.at_ms))
            .collect();
        assert!(
            boots.len() == 1 && boots[0] >= 70_000,
            "seed {seed}: one commit, once a database was ready: {boots:?}"
        );
    }
}
