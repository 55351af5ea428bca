//! The `clusterlab` command's contract for bad input and help.

use std::path::Path;
use std::process::Command;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_clusterlab");

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn run(args: &[&str]) -> (Option<i32>, String, String) {
    common::output(Command::new(BIN).args(args).current_dir(root()))
}

#[test]
fn validate_accepts_every_shipped_scenario() {
    let (code, out, err) = run(&["validate"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains(" 0 invalid"), "{out}");
    assert!(out.contains("ok    scenarios/quick.toml"), "{out}");
}

#[test]
fn each_broken_fixture_exits_2_naming_file_line_and_column() {
    let dir = root().join("scenarios/schema/tests/fixtures/broken");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let at = text.lines().find_map(|l| l.strip_prefix("# at: ")).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("# expect: "))
            .unwrap();
        let (code, _, err) = run(&["validate", path.to_str().unwrap()]);
        assert!(err.contains(expect), "{}: {err}", path.display());
        assert_eq!(code, Some(2), "{}: {err}", path.display());
        assert!(
            err.contains(&format!("{}:{at}", path.display())),
            "{}: {err}",
            path.display()
        );
        assert!(
            err.contains("help:"),
            "{} gives a hint: {err}",
            path.display()
        );
        n += 1;
    }
    assert!(n >= 9);
}

#[test]
fn run_and_sim_refuse_a_broken_scenario_with_exit_2() {
    let f = "scenarios/schema/tests/fixtures/broken/unknown-action.toml";
    for args in [&["run", f][..], &["sim", f, "--seeds", "3"][..]] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("unknown action \"kill-leder\""),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = run(&["run", "no-such-scenario"]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("no-such-scenario.toml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn help_explains_every_option() {
    let (_, run_help, _) = run(&["run", "--help"]);
    let (_, top, _) = run(&["--help"]);
    for cmd in ["run", "sim", "list", "validate", "--scenario-dir"] {
        assert!(top.contains(cmd), "--help lacks {cmd}:\n{top}");
    }
    for opt in ["--out", "--seed", "--keep", "[SCENARIOS]"] {
        assert!(
            run_help.contains(opt),
            "run --help lacks {opt}:\n{run_help}"
        );
    }
    let (_, sim_help, _) = run(&["sim", "--help"]);
    for opt in [
        "--seeds",
        "--seed",
        "--schedule",
        "--strategy",
        "--out",
        "<SCENARIO>",
    ] {
        assert!(
            sim_help.contains(opt),
            "sim --help lacks {opt}:\n{sim_help}"
        );
    }
}

#[test]
fn list_shows_every_scenario_with_its_worlds() {
    let (code, out, err) = run(&["list"]);
    assert_eq!(code, Some(0), "{err}");
    for name in [
        "quick",
        "cold-start-5",
        "patroni-etcd-failover",
        "rethinkdb",
        "cratedb",
        "rqlite",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(name)),
            "list lacks {name}:\n{out}"
        );
    }
    assert!(out.contains("containers,sim"));
}

#[test]
fn seed_systems_without_their_image_are_skipped_with_the_reason() {
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, err) = run(&["run", "rqlite", "--out", out.path().to_str().unwrap()]);
    // Skipped is neither a pass nor a failure.
    assert_eq!(code, Some(0), "{stdout}{err}");
    assert!(
        stdout.contains("SKIP  rqlite [containers]: image rqlite/rqlite:8 is not present locally"),
        "{stdout}{err}"
    );
    assert!(
        !stdout.contains("PASS"),
        "a skipped scenario never passes: {stdout}"
    );
    let junit = std::fs::read_to_string(out.path().join("rqlite/latest/junit.xml")).unwrap();
    assert!(junit.contains("<skipped"), "{junit}");
}

#[test]
fn a_missing_docker_daemon_is_one_clear_line_and_exit_2() {
    let out = Command::new(BIN)
        .args(["run", "quick"])
        .current_dir(root())
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("cannot reach the Docker daemon (unix:///nonexistent/docker.sock)"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

/// `clusterlab check` on saved histories: 0 for a linearizable one, 1 with
/// the failing window for a stale read, 2 with file:line for a bad line.
#[test]
fn check_judges_a_saved_history() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, lines: &[&str]| {
        let p = dir.path().join(name);
        std::fs::write(&p, lines.join("\n") + "\n").unwrap();
        p.to_str().unwrap().to_string()
    };
    let w = r#"{"type":"invoke","client":1,"f":"write","key":"x","value":1,"time_us":0}"#;
    let w_ok = r#"{"type":"ok","client":1,"f":"write","key":"x","time_us":5}"#;
    let r = r#"{"type":"invoke","client":2,"f":"read","key":"x","time_us":6,"node":"n3"}"#;
    let fresh = r#"{"type":"ok","client":2,"f":"read","key":"x","value":1,"time_us":7}"#;
    let stale = r#"{"type":"ok","client":2,"f":"read","key":"x","value":null,"time_us":7}"#;

    let good = write("good.jsonl", &[w, w_ok, r, fresh]);
    let (code, out, err) = run(&["check", &good]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("LINEARIZABLE"), "{out}");

    let bad = write("stale.jsonl", &[w, w_ok, r, stale]);
    let (code, out, err) = run(&["check", &bad]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("NOT LINEARIZABLE"), "{out}");
    assert!(
        out.contains("read -> nil   <- no order reaches its completion"),
        "{out}"
    );
    assert!(out.contains("n3"), "{out}");

    // A set that lost an acknowledged element.
    let lost = write(
        "set.jsonl",
        &[
            r#"{"type":"invoke","client":1,"f":"add","key":"s","value":7,"time_us":0}"#,
            r#"{"type":"ok","client":1,"f":"add","key":"s","time_us":1}"#,
            r#"{"type":"invoke","client":2,"f":"read","key":"s","time_us":2}"#,
            r#"{"type":"ok","client":2,"f":"read","key":"s","value":[],"time_us":3}"#,
        ],
    );
    let (code, out, err) = run(&["check", &lost]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("1 lost: 7"), "{out}");
    assert!(out.contains("SET ANOMALY"), "{out}");

    let broken = write("broken.jsonl", &[w, "{\"type\":\"ok\"}"]);
    let (code, out, err) = run(&["check", &broken]);
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(err.contains("broken.jsonl:2: not a history event"), "{err}");
}

/// A new user's typo, `at = "99999999999h"`, is refused at its line by
/// every command that reads the file; a run that fits the schema's day but
/// not the simulator's cap is refused by `sim` at once, not run for ever.
#[test]
fn huge_times_are_refused_not_run_for_ever() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, at: &str| {
        let p = dir.path().join(name);
        let text = format!(
            "description = \"far out\"\nworlds = [\"sim\"]\n[excluded]\ncontainers = \"a test\"\n\
             [discovery]\nkind = \"etcd\"\n[cluster]\nkind = \"etcd\"\nnodes = 3\n\
             [[faults]]\nat = \"{at}\"\naction = \"isolate\"\ntarget = \"n1\"\nfor = \"5s\"\n"
        );
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_string()
    };
    let typo = write("typo.toml", "99999999999h");
    for args in [
        &["validate", &typo][..],
        &["sim", &typo, "--seeds", "1"][..],
        &["run", &typo][..],
    ] {
        let started = std::time::Instant::now();
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!("{typo}:11:6"))
                && err.contains("longer than the limit of 24h")
                && err.contains("at most \"24h\""),
            "{args:?}: {err}"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(30));
    }
    let long = write("long.toml", "20h");
    for args in [
        &["sim", &long, "--seeds", "1"][..],
        &["sim", &long, "--seed", "1"][..],
    ] {
        let (code, _, err) = run(args);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert!(
            err.contains("the simulator stops a seed at 7200s"),
            "{args:?}: {err}"
        );
    }
}

/// From a folder with no `scenarios/`, the shipped scenarios are the ones
/// compiled in: listed, simulated and validated by name.
#[test]
fn shipped_scenarios_work_from_any_folder() {
    let empty = tempfile::tempdir().unwrap();
    let run_in = |args: &[&str]| {
        let out = Command::new(BIN)
            .args(args)
            .current_dir(empty.path())
            .env_remove("CLUSTERLAB_SCENARIOS")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let shipped = std::fs::read_dir(root().join("scenarios"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "toml")
        })
        .count();
    let (code, out, err) = run_in(&["list"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(out.lines().count(), shipped, "{out}");
    let (code, out, err) = run_in(&["validate"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        out.contains(&format!("{shipped} valid, 0 invalid")),
        "{out}"
    );
    assert!(out.contains("ok    <shipped>/quick.toml"), "{out}");
    let (code, out, err) = run_in(&["sim", "quick", "--seeds", "2"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.starts_with("PASS  quick [sim] 2 seeds"), "{out}");
}

/// `doctor` names each missing piece with its fix and exits 1; `setup`
/// refuses an unknown kind; a run whose servers are not in the cache, with
/// fetching off, says which command fetches them (exit 2, nothing started).
#[test]
fn doctor_and_setup_name_what_is_missing() {
    let out = Command::new(BIN)
        .arg("doctor")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines().any(|l| l.starts_with("MISSING  docker")
            && l.contains("cannot reach the Docker daemon (unix:///nonexistent/docker.sock)")),
        "{text}"
    );
    assert!(text.contains("fix: start the daemon"), "{text}");

    let (code, _, err) = run(&["setup", "mongodb"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("unknown kind \"mongodb\"") && err.contains("etcd, consul"),
        "{err}"
    );

    let cache = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["run", "quick"])
        .current_dir(root())
        .env("CLUSTERLAB_CACHE", cache.path())
        .env("CLUSTERLAB_OFFLINE", "1")
        .env_remove("CLUSTERLAB_SERVERS_BIN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("etcd or consul is not in the cache and CLUSTERLAB_OFFLINE is set")
            && err.contains("run `clusterlab setup`"),
        "{err}"
    );
}
