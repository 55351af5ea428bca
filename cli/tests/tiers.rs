//! The CI tiers (`ci/tiers.txt`) place every container test once: each
//! shipped container scenario and each test of `tests/scenarios.rs` is in
//! the smoke set or in exactly one shard, so the everyday tier plus the
//! rotation run all of them; and the smoke set has at least one scenario
//! of every cluster kind, of every store, and a secured one. Adding a
//! scenario without placing it fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use clusterlab::World;
use clusterlab_scenario::{ClusterKind, StoreKind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every kind, checked to be every kind by the match below.
const KINDS: [ClusterKind; 6] = [
    ClusterKind::Etcd,
    ClusterKind::Consul,
    ClusterKind::Patroni,
    ClusterKind::Rabbitmq,
    ClusterKind::Galera,
    ClusterKind::Generic,
];

#[allow(dead_code)]
fn every_kind_is_listed(k: ClusterKind) {
    // A new kind fails to compile here until it joins KINDS above.
    match k {
        ClusterKind::Etcd
        | ClusterKind::Consul
        | ClusterKind::Patroni
        | ClusterKind::Rabbitmq
        | ClusterKind::Galera
        | ClusterKind::Generic => {}
    }
}

/// `(test, tier)` per line of ci/tiers.txt.
fn tiers() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(root().join("ci/tiers.txt")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert!(
                f.len() == 2 || f.len() == 3,
                "ci/tiers.txt: `<test> <tier> [scenario,...]`, not {l:?}"
            );
            for s in f
                .get(2)
                .map_or("", |s| s)
                .split(',')
                .filter(|s| !s.is_empty())
            {
                assert!(
                    root().join(format!("scenarios/{s}.toml")).is_file(),
                    "ci/tiers.txt: {s} in {l:?} is no shipped scenario"
                );
            }
            (f[0].to_string(), f[1].to_string())
        })
        .collect()
}

/// The test functions of tests/scenarios.rs.
fn container_tests() -> BTreeSet<String> {
    let src = std::fs::read_to_string(root().join("cli/tests/scenarios.rs")).unwrap();
    let mut out = BTreeSet::new();
    let mut lines = src.lines();
    while let Some(l) = lines.next() {
        if l.trim_start().starts_with("#[tokio::test") || l.trim_start() == "#[test]" {
            let f = lines.next().unwrap();
            let name = f
                .trim_start()
                .trim_start_matches("async ")
                .strip_prefix("fn ")
                .and_then(|r| r.split('(').next())
                .unwrap_or_else(|| panic!("a test attribute before {f:?}"));
            out.insert(name.to_string());
        }
    }
    out
}

/// The shipped scenarios that run in containers, by name.
fn container_scenarios() -> BTreeMap<String, clusterlab::Scenario> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(root().join("scenarios")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let s = clusterlab::load(&p).unwrap();
            if s.supports(World::Containers).is_ok() {
                out.insert(s.name.clone(), s);
            }
        }
    }
    out
}

fn test_name(entry: &str) -> String {
    entry.replace('-', "_")
}

#[test]
fn every_container_test_is_placed_exactly_once() {
    let tiers = tiers();
    let tests = container_tests();
    let mut seen = BTreeMap::new();
    for (test, tier) in &tiers {
        assert!(
            tier == "smoke" || tier.parse::<u32>().is_ok_and(|k| k >= 1),
            "ci/tiers.txt: {test}'s tier is `smoke` or a shard number from 1, not {tier:?}"
        );
        if let Some(other) = seen.insert(test_name(test), tier.clone()) {
            panic!("ci/tiers.txt places {test} twice (in {other} and {tier})");
        }
        assert!(
            tests.contains(&test_name(test)),
            "ci/tiers.txt names {test}, but tests/scenarios.rs has no test `{}`",
            test_name(test)
        );
    }
    for t in &tests {
        assert!(
            seen.contains_key(t),
            "tests/scenarios.rs's `{t}` is in no tier: add it to ci/tiers.txt"
        );
    }
    for name in container_scenarios().keys() {
        assert!(
            seen.contains_key(&test_name(name)),
            "scenarios/{name}.toml runs in containers but no tier runs it: add a test to \
             tests/scenarios.rs and a line `{name} <tier>` to ci/tiers.txt"
        );
    }
    // Shards are numbered 1..=n with none empty.
    let shards: BTreeSet<u32> = tiers.iter().filter_map(|(_, t)| t.parse().ok()).collect();
    let n = shards.iter().max().copied().unwrap_or(0);
    assert_eq!(
        shards,
        (1..=n).collect(),
        "shards are numbered 1 to {n} without a gap"
    );
}

#[test]
fn the_smoke_set_covers_every_kind_every_store_and_a_secured_store() {
    let all = container_scenarios();
    let smoke: Vec<&clusterlab::Scenario> = tiers()
        .iter()
        .filter(|(_, tier)| tier == "smoke")
        .filter_map(|(t, _)| all.get(t))
        .collect();
    for k in KINDS {
        assert!(
            smoke.iter().any(|s| s.cluster.kind == k),
            "the smoke set has no {k:?} cluster"
        );
    }
    for store in [StoreKind::Etcd, StoreKind::Consul] {
        assert!(
            smoke.iter().any(|s| s.discovery.kind == store),
            "the smoke set has no scenario on {store:?}"
        );
    }
    assert!(
        smoke.iter().any(|s| s.discovery.tls && s.discovery.auth),
        "the smoke set has no secured store"
    );
}

/// ci/tiers.sh reads the same file: the smoke set, each shard and the
/// bases they need, as ci/test.sh asks for them.
#[test]
fn tiers_sh_reads_the_file_as_this_test_does() {
    let sh = |args: &[&str]| {
        let out = std::process::Command::new("bash")
            .arg(root().join("ci/tiers.sh"))
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "tiers.sh {args:?}: {out:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    let tiers = tiers();
    let n: u32 = sh(&["count"]).trim().parse().unwrap();
    let mut listed: Vec<String> = sh(&["smoke"]).lines().map(String::from).collect();
    for k in 1..=n {
        let shard: Vec<String> = sh(&["shard", &k.to_string()])
            .lines()
            .map(String::from)
            .collect();
        assert!(!shard.is_empty(), "shard {k} is empty");
        listed.extend(shard);
    }
    let mut want: Vec<String> = tiers.into_iter().map(|(t, _)| t).collect();
    listed.sort();
    want.sort();
    assert_eq!(listed, want);
    let pick: u32 = sh(&["pick"]).trim().parse().unwrap();
    assert!((1..=n).contains(&pick), "picked shard {pick} of {n}");
    assert_eq!(
        sh(&[
            "bases",
            "patroni-set-failover",
            "rabbitmq4-etcd-formation",
            "quick"
        ])
        .trim(),
        "patroni rabbitmq4"
    );
    assert_eq!(
        sh(&["bases", "generic-consul", "galera-etcd-formation"]).trim(),
        "example galera"
    );
}
