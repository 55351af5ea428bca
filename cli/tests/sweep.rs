//! A seed sweep split across machines (`sim --shard K/M`) and put back
//! together (`merge`) gives the verdict one machine would have given.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_clusterlab");

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The seeds a report names as failing (`FAIL  <name> seed <n>: ...`).
fn failing_seeds(stdout: &str) -> BTreeSet<u64> {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("FAIL  ")?.split(" seed ").nth(1))
        .filter_map(|rest| rest.split(':').next()?.parse().ok())
        .collect()
}

fn shard(out: &Path, strategy: &str, k: u64, m: u64, seeds: u64) -> (Option<i32>, String) {
    let (code, stdout, err) = run(&[
        "sim",
        "quick",
        "--strategy",
        strategy,
        "--seeds",
        &seeds.to_string(),
        "--shard",
        &format!("{k}/{m}"),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(stdout.contains("verdict: "), "shard {k}/{m}: {stdout}{err}");
    (code, stdout)
}

/// The naive baseline fails every seed of `quick`: three shards of seven
/// seeds name, between them, exactly the seeds a single sweep names, each
/// once, and the merged verdict fails with every replay command.
#[test]
fn shards_merge_into_the_single_machines_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let (code, whole, err) = run(&[
        "sim",
        "quick",
        "--strategy",
        "naive",
        "--seeds",
        "7",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, Some(1), "{whole}{err}");
    let expected = failing_seeds(&whole);
    assert!(
        !expected.is_empty(),
        "the naive baseline must fail: {whole}"
    );

    let mut seen = Vec::new();
    for k in 1..=3 {
        let (code, stdout) = shard(out, "naive", k, 3, 7);
        assert_eq!(code, Some(1), "{stdout}");
        seen.extend(failing_seeds(&stdout));
    }
    let unique: BTreeSet<u64> = seen.iter().copied().collect();
    assert_eq!(
        seen.len(),
        unique.len(),
        "a seed ran in two shards: {seen:?}"
    );
    assert_eq!(unique, expected);

    let (code, merged, err) = run(&["merge", out.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{merged}{err}");
    assert_eq!(failing_seeds(&merged), expected, "{merged}");
    assert!(
        merged.contains("7 of 7 seeds in 3 shards")
            && merged.contains("replay: clusterlab sim quick --strategy naive --seed "),
        "{merged}"
    );
}

/// A passing sweep merges to PASS; a missing shard, a shard given twice, or
/// a folder with no verdict is bad input (exit 2) naming what to fix.
#[test]
fn a_sweep_with_a_shard_missing_is_not_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path();
    let mut files = Vec::new();
    for k in 1..=2 {
        let (code, stdout) = shard(out, "disco", k, 2, 4);
        assert_eq!(code, Some(0), "{stdout}");
        files.push(stdout.split("verdict: ").nth(1).unwrap().trim().to_string());
    }
    let (code, merged, err) = run(&["merge", &files[0], &files[1]]);
    assert_eq!(code, Some(0), "{merged}{err}");
    assert!(merged.contains("PASS  quick") && merged.contains("4 of 4 seeds in 2 shards"));

    let (code, _, err) = run(&["merge", &files[0]]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("shards [2] of 2 are missing"), "{err}");

    let (code, _, err) = run(&["merge", &files[0], &files[0], &files[1]]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("given twice"), "{err}");

    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["merge", empty.path().to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no verdict file"), "{err}");

    let (code, _, err) = run(&["sim", "quick", "--seeds", "4", "--shard", "3/2"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("1 <= K <= M"), "{err}");
}

/// A generated schedule: the sweep names each failing seed with the
/// command that replays it alone, and that replay shrinks the schedule,
/// says so, and writes the shrunk run's reports under `generated-seed-N`.
#[test]
fn a_failing_generated_seed_replays_alone_with_its_shrunk_schedule() {
    let naive = ["sim", "cold-start-5", "--strategy", "naive", "--schedule"];
    let (code, stdout, err) = run(&[&naive[..], &["generated", "--seeds", "3"]].concat());
    assert_eq!(
        code,
        Some(1),
        "the naive glue fails cold-start-5: {stdout}{err}"
    );
    let replay = stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("replay: "))
        .unwrap_or_else(|| panic!("no replay command: {stdout}"));
    assert!(replay.contains("--schedule generated --seed "), "{replay}");
    let seed = replay.rsplit(' ').next().unwrap();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().to_str().unwrap();
    let (code, stdout, err) =
        run(&[&naive[..], &["generated", "--seed", seed, "--out", dir]].concat());
    assert_eq!(code, Some(1), "{stdout}{err}");
    assert!(
        stdout.contains(&format!(
            "seed {seed}: the generated schedule fails; shrunk to:"
        )),
        "{stdout}"
    );
    let run_dir = out
        .path()
        .join("cold-start-5")
        .join(format!("generated-seed-{seed}"));
    for report in ["results.json", "report.html"] {
        assert!(
            run_dir.join(report).is_file(),
            "{report} missing in {}: {stdout}",
            run_dir.display()
        );
    }
}
