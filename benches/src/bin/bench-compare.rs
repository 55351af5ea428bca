//! `bench-compare`: collects this run's figures, prints them beside the
//! baseline, writes them as JSON, and exits 1 on a regression (2 on bad
//! input). `--update` makes this run the new baseline.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clusterlab_benches::gate::{self, Figures};

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("bench-compare: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run() -> anyhow::Result<bool> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let baseline_path = root.join("benches/baseline.json");
    let out_dir = gate::out_dir();
    let target = out_dir.parent().expect("under target").to_path_buf();
    let current = gate::collect(&target.join("criterion"), &out_dir.join("figures.json"));
    anyhow::ensure!(
        !current.is_empty(),
        "no figures under {}: run the benches first (bash ci/bench-compare runs them)",
        target.join("criterion").display()
    );
    let out = out_dir.join("current.json");
    std::fs::create_dir_all(out.parent().expect("has a parent"))?;
    std::fs::write(&out, serde_json::to_string_pretty(&current)?)?;
    if std::env::args().any(|a| a == "--update") {
        std::fs::write(
            &baseline_path,
            serde_json::to_string_pretty(&current)? + "\n",
        )?;
        println!("baseline updated: {}", baseline_path.display());
        return Ok(true);
    }
    let text = std::fs::read_to_string(&baseline_path)
        .with_context(|| format!("reading {}", baseline_path.display()))?;
    let baseline: Figures = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a figures file; regenerate it with `bash ci/bench-compare --update`",
            baseline_path.display()
        )
    })?;
    println!(
        "{:<34} {:>12} {:>12} {:>12}",
        "figure", "baseline", "now", "limit"
    );
    let regressions = gate::compare(&baseline, &current);
    for (name, base) in &baseline {
        let now = current.get(name).map_or(f64::NAN, |f| f.value);
        let flag = if regressions.iter().any(|r| &r.name == name) {
            "  REGRESSED"
        } else {
            ""
        };
        let limit = match base.better {
            gate::Better::Higher => base.value * (1.0 - base.margin),
            gate::Better::Lower => base.value * (1.0 + base.margin),
        };
        println!(
            "{name:<34} {:>12.2} {:>12.2} {:>12.2} {}{flag}",
            base.value, now, limit, base.unit
        );
    }
    println!("figures written to {}", out.display());
    if regressions.is_empty() {
        println!(
            "bench-compare: no regression against {}",
            baseline_path.display()
        );
        Ok(true)
    } else {
        println!(
            "bench-compare: {} regression(s) beyond the noise margin",
            regressions.len()
        );
        Ok(false)
    }
}
