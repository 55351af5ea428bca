//! `clusterlab setup [KINDS]`: fetches and builds ahead of time what a run
//! would on first use (the servers, and the Debian bases of the kinds
//! named), so that a CI job can cache it or a laptop go offline.

use std::process::ExitCode;

use clusterlab_containers::image::setup;

use crate::BAD_INPUT;

/// The kinds a user names, and the bases each needs.
const KINDS: [(&str, &[&str]); 7] = [
    ("etcd", &[]),
    ("consul", &[]),
    ("generic", &[]),
    ("patroni", &["patroni-base"]),
    ("rabbitmq", &["rabbitmq-base"]),
    ("rabbitmq4", &["rabbitmq4-base"]),
    ("galera", &["galera-base"]),
];

/// Runs `clusterlab setup`.
pub fn setup(kinds: &[String]) -> ExitCode {
    let names: Vec<&str> = KINDS.iter().map(|(k, _)| *k).collect();
    let wanted: Vec<&str> = if kinds.is_empty() {
        names.clone()
    } else {
        kinds.iter().map(String::as_str).collect()
    };
    if let Some(bad) = wanted.iter().find(|k| !names.contains(k)) {
        eprintln!(
            "clusterlab setup: unknown kind {bad:?}; the kinds are {}",
            names.join(", ")
        );
        return ExitCode::from(BAD_INPUT);
    }
    let started = std::time::Instant::now();
    let mut steps: Vec<Result<String, String>> = vec![setup::servers()
        .map(|b| format!("servers in {}", b.display()))
        .map_err(|e| e.to_string())];
    for (kind, bases) in KINDS {
        if !wanted.contains(&kind) {
            continue;
        }
        for base in bases {
            steps.push(
                setup::base(base)
                    .map(|tag| format!("{kind}: {tag}"))
                    .map_err(|e| e.to_string()),
            );
        }
    }
    let mut failed = false;
    for s in &steps {
        match s {
            Ok(what) => println!("ok    {what}"),
            Err(e) => {
                failed = true;
                println!("FAIL  {e}");
            }
        }
    }
    println!(
        "setup {} in {:.1} s",
        if failed { "failed" } else { "done" },
        started.elapsed().as_secs_f64()
    );
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
