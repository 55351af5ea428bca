//! `clusterlab merge`: the verdict files a sharded sweep wrote (one per
//! machine of a CI matrix, `clusterlab sim X --seeds N --shard K/M`),
//! combined into the one verdict a single run would have given, with every
//! failing seed and the command that replays it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde::{Deserialize, Serialize};

use crate::BAD_INPUT;

/// One shard's verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    /// Always [`Verdict::FORMAT`].
    pub format: String,
    /// The scenario as the user typed it (a name or a path).
    pub scenario: String,
    /// The scenario's name.
    pub name: String,
    /// The node logic.
    pub strategy: String,
    /// Whether the schedules were generated.
    pub generated: bool,
    /// The whole sweep's seeds (`--seeds`).
    pub seeds: u64,
    /// This shard: K of M.
    pub shard: (u64, u64),
    /// How many seeds this shard ran.
    pub ran: u64,
    /// How long it took.
    pub elapsed_ms: u64,
    /// Its failing seeds.
    pub failures: Vec<Failure>,
}

/// A failing seed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// Its failed checks, by name.
    pub checks: String,
    /// The command that replays it alone.
    pub replay: String,
}

impl Verdict {
    /// The format marker of a verdict file.
    pub const FORMAT: &str = "clusterlab-sweep/1";

    /// Writes it under `out`; returns where.
    pub fn write(&self, out: &Path) -> std::io::Result<PathBuf> {
        let path = crate::sim::verdict_path(out, self);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text = serde_json::to_string_pretty(self).expect("a verdict serializes");
        std::fs::write(&path, text + "\n")?;
        Ok(path)
    }
}

/// Every `*.json` under `p` (or `p` itself).
fn files(p: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if p.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(p)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for e in entries {
            files(&e, out)?;
        }
    } else if p.extension().is_some_and(|x| x == "json") {
        out.push(p.to_path_buf());
    } else if !p.exists() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            format!("{} does not exist", p.display()),
        ));
    }
    Ok(())
}

/// Runs `clusterlab merge`.
pub fn merge(paths: &[PathBuf]) -> ExitCode {
    let mut found = Vec::new();
    for p in paths {
        if let Err(e) = files(p, &mut found) {
            eprintln!("clusterlab merge: {e}; give verdict files or the folders that hold them");
            return ExitCode::from(BAD_INPUT);
        }
    }
    // Sweeps by (scenario, strategy, schedule, seeds, M).
    type Sweep = (String, String, bool, u64, u64);
    let mut sweeps: BTreeMap<Sweep, BTreeMap<u64, Verdict>> = BTreeMap::new();
    for f in &found {
        let text = match std::fs::read_to_string(f) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("clusterlab merge: cannot read {}: {e}", f.display());
                return ExitCode::from(BAD_INPUT);
            }
        };
        let Ok(v) = serde_json::from_str::<Verdict>(&text) else {
            // Other JSON (a run's results.json): not a verdict.
            continue;
        };
        if v.format != Verdict::FORMAT {
            continue;
        }
        let key = (
            v.scenario.clone(),
            v.strategy.clone(),
            v.generated,
            v.seeds,
            v.shard.1,
        );
        let k = v.shard.0;
        if let Some(old) = sweeps.entry(key).or_default().insert(k, v) {
            eprintln!(
                "clusterlab merge: shard {k}/{} of {} is given twice; give each shard once",
                old.shard.1, old.scenario
            );
            return ExitCode::from(BAD_INPUT);
        }
    }
    if sweeps.is_empty() {
        eprintln!(
            "clusterlab merge: no verdict file among {} files; `clusterlab sim X --seeds N --shard K/M` writes them under <out>/<scenario>/sweep/",
            found.len()
        );
        return ExitCode::from(BAD_INPUT);
    }
    let mut failed = false;
    for ((scenario, strategy, generated, seeds, m), shards) in &sweeps {
        let missing: Vec<u64> = (1..=*m).filter(|k| !shards.contains_key(k)).collect();
        if !missing.is_empty() {
            eprintln!(
                "clusterlab merge: {scenario}: shards {missing:?} of {m} are missing; the sweep is not whole"
            );
            return ExitCode::from(BAD_INPUT);
        }
        let ran: u64 = shards.values().map(|v| v.ran).sum();
        let mut fails: Vec<&Failure> = shards.values().flat_map(|v| &v.failures).collect();
        fails.sort_by_key(|f| f.seed);
        let name = &shards.values().next().expect("some shard").name;
        for f in &fails {
            println!(
                "FAIL  {name} seed {}: {}\n      replay: {}",
                f.seed, f.checks, f.replay
            );
        }
        println!(
            "{}  {name} [sim{}, {strategy}] {ran} of {seeds} seeds in {m} shards, {} failed",
            if fails.is_empty() { "PASS" } else { "FAIL" },
            if *generated {
                ", generated schedules"
            } else {
                ""
            },
            fails.len()
        );
        failed |= !fails.is_empty() || ran != *seeds;
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
