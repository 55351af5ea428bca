//! What a run leaves for people and other tools, through the command:
//! `report` indexes a results folder, `export --jepsen` writes EDN that
//! `check` reads back with the same verdict, and bad folders exit 2.

use std::path::Path;
use std::process::Command;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_clusterlab");

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    common::output(
        Command::new(BIN)
            .args(args)
            .current_dir(dir)
            .env("CLUSTERLAB_OFFLINE", "1"),
    )
}

#[test]
fn a_simulated_run_is_indexed_exported_as_edn_and_checked_again() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    for seed in ["1", "2"] {
        let (code, out, err) = run(dir, &["sim", "quick", "--seed", seed, "--out", "runs"]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(
            out.contains("report: runs/quick/seed-"),
            "the console names report.html: {out}"
        );
    }
    let (code, out, err) = run(dir, &["report", "runs"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("2 runs: runs/index.html"), "{out}");
    let index = std::fs::read_to_string(dir.join("runs/index.html")).unwrap();
    assert!(
        index.contains("href=\"quick/seed-2/report.html\""),
        "{index}"
    );

    let (code, out, err) = run(
        dir,
        &["export", "--jepsen", "runs/quick/seed-1", "--out", "edn"],
    );
    assert_eq!(code, Some(0), "{out}{err}");
    let files: Vec<_> = std::fs::read_dir(dir.join("edn"))
        .unwrap()
        .flatten()
        .collect();
    assert!(!files.is_empty(), "one EDN file per register key");
    let mut ops = 0;
    for f in files {
        let text = std::fs::read_to_string(f.path()).unwrap();
        assert!(
            text.contains(":type :invoke") && text.contains(":time "),
            "{text}"
        );
        let (code, out, err) = run(dir, &["check", &f.path().display().to_string()]);
        assert_eq!(code, Some(0), "{out}{err}");
        assert!(out.starts_with("LINEARIZABLE"), "{out}");
        ops += out
            .split(": ")
            .nth(1)
            .and_then(|s| s.split(' ').next())
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap();
    }
    let (_, whole, _) = run(dir, &["check", "runs/quick/seed-1"]);
    assert!(
        whole.contains(&format!(": {ops} operations")),
        "the EDN files hold every operation of the run's history ({ops}): {whole}"
    );
}

#[test]
fn a_folder_without_runs_or_history_exits_2_with_the_fix() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run(tmp.path(), &["report", "."]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("no run under .") && err.contains("--out folder"),
        "{err}"
    );
    let (code, _, err) = run(tmp.path(), &["export", "--jepsen", "."]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("history.jsonl"), "{err}");
    std::fs::write(tmp.path().join("bad.edn"), "{:type :invoke, :f :write\n").unwrap();
    let (code, _, err) = run(tmp.path(), &["check", "bad.edn"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("bad.edn:1"), "{err}");
}
