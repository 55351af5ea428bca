//! The linearizability checker's cost: generated histories of 10k to 1M
//! operations over 10 to 1,000 keys from 5 to 20 clients (5% of writes
//! with unknown outcomes), each size checked in a process of its own so
//! that its peak RSS is its own. Goal: 1M operations over 1,000 keys in
//! under 10 s on one core, peak RSS under 1 GiB (`taskset -c 0`).
//!
//!     cargo bench -p clusterlab-core --bench linearizability

use std::process::Command;
use std::time::Instant;

use clusterlab_core::history::generate::{self, Shape};
use clusterlab_core::history::linearizable::{check, Budget, Verdict};

const CHILD: &str = "CLUSTERLAB_BENCH_LIN";

const SIZES: [(usize, usize, usize); 5] = [
    (10_000, 10, 5),
    (10_000, 100, 20),
    (100_000, 10, 20),
    (100_000, 100, 5),
    (1_000_000, 1_000, 20),
];

fn child(spec: &str) {
    let n: Vec<usize> = spec.split(',').map(|s| s.parse().expect("size")).collect();
    let ops = generate::linearizable(Shape {
        ops: n[0],
        keys: n[1],
        clients: n[2],
        unknown_permille: 50,
        seed: 1,
    });
    let started = Instant::now();
    let verdicts = check(&ops, Budget::default());
    let took = started.elapsed();
    assert!(verdicts.iter().all(|(_, v)| *v == Verdict::Linearizable));
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .map(|v| v.trim().to_string())
        .unwrap_or_default();
    println!(
        "linearizability: {:>7} ops, {:>3} keys, {:>2} clients: checked in {:>8.1?} ({:.0} ops/s), peak RSS {hwm}",
        n[0],
        n[1],
        n[2],
        took,
        n[0] as f64 / took.as_secs_f64()
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD) {
        child(&spec);
        return;
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filter.is_empty()
        && !filter
            .iter()
            .any(|f| "linearizability".contains(f.as_str()))
    {
        return;
    }
    for (ops, keys, clients) in SIZES {
        let status = Command::new(std::env::current_exe().expect("own path"))
            .env(CHILD, format!("{ops},{keys},{clients}"))
            .status()
            .expect("re-run self");
        assert!(status.success(), "the check of {ops} operations failed");
    }
}
