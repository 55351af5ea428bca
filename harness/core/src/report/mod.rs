//! Per-run reports, the same for every world: in
//! `<out>/<scenario>/<run-id>/` (and a `latest` link beside it) the files
//! `results.json`, `junit.xml`, `events.jsonl` and `timeline.svg` (and
//! `history.jsonl` when a workload recorded operations); for a failed run,
//! each container's output in `logs/`; and `report.html`, the page that
//! shows all of it ([`html`]). Over many runs, `index.html` ([`index`]).

pub mod html;
pub mod index;
pub mod junit;
pub mod plot;
pub mod timeline;

use std::path::{Path, PathBuf};

use clusterlab_scenario::Scenario;

use crate::outcome::Outcome;
use crate::trace::Trace;

/// Writes every report of one run and points `latest` at it; returns the
/// run's folder.
pub fn write_run(
    out: &Path,
    scenario: &Scenario,
    outcome: &Outcome,
    trace: &Trace,
) -> std::io::Result<PathBuf> {
    let parent = out.join(&scenario.name);
    let dir = parent.join(&outcome.run_id);
    std::fs::create_dir_all(&dir)?;
    let json = serde_json::to_string_pretty(outcome).map_err(std::io::Error::other)?;
    std::fs::write(dir.join("results.json"), json + "\n")?;
    std::fs::write(dir.join("junit.xml"), junit::render(outcome))?;
    std::fs::write(dir.join("events.jsonl"), trace.to_jsonl())?;
    let history = trace.history();
    if !history.is_empty() {
        let lines: String = history
            .iter()
            .map(|e| serde_json::to_string(e).expect("plain data") + "\n")
            .collect();
        std::fs::write(dir.join("history.jsonl"), lines)?;
    }
    if outcome.skipped.is_none() {
        let title = format!(
            "{} [{}] {}",
            scenario.name,
            outcome.world.as_str(),
            outcome.run_id
        );
        timeline::render(
            &dir.join("timeline.svg"),
            &title,
            &scenario.cluster.nodes,
            trace,
        )
        .map_err(std::io::Error::other)?;
    }
    let latest = parent.join("latest");
    let _ = std::fs::remove_file(&latest);
    std::os::unix::fs::symlink(&outcome.run_id, &latest)?;
    Ok(dir)
}

/// Writes each container's output to `<dir>/logs/<name>.log`.
pub fn write_logs(
    dir: &Path,
    logs: &std::collections::BTreeMap<String, String>,
) -> std::io::Result<()> {
    let logs_dir = dir.join("logs");
    std::fs::create_dir_all(&logs_dir)?;
    for (name, text) in logs {
        std::fs::write(logs_dir.join(format!("{name}.log")), text)?;
    }
    Ok(())
}

/// Writes `<dir>/report.html` (after the other reports and the logs, which
/// it shows and links); returns its path.
pub fn write_page(
    dir: &Path,
    scenario: &Scenario,
    outcome: &Outcome,
    trace: &Trace,
    replay: &str,
) -> std::io::Result<PathBuf> {
    let mut logs: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".log"))
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    let page = html::Page {
        scenario,
        outcome,
        trace,
        timeline: std::fs::read_to_string(dir.join("timeline.svg")).ok(),
        logs,
        replay: replay.to_string(),
        files: [
            "results.json",
            "junit.xml",
            "events.jsonl",
            "history.jsonl",
            "timeline.svg",
        ]
        .into_iter()
        .filter(|f| dir.join(f).is_file())
        .collect(),
    };
    let path = dir.join("report.html");
    std::fs::write(&path, html::render(&page))?;
    Ok(path)
}
