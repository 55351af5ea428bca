//! `report.html` from a known failing run (a stale read, a lost write, a
//! node's log), read as text and in a real browser: what a person looks
//! for is there (the failed checks by name and instant, the anomaly's
//! operations with their times, the replay command, the logs), nothing is
//! fetched, and the page loads without a console error.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use clusterlab_core::history::{Event as Op, Func, Type};
use clusterlab_core::report;
use clusterlab_core::trace::{EventKind, NodeRole, Trace};
use clusterlab_core::Outcome;
use clusterlab_scenario::World;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

fn op(kind: Type, client: u64, f: Func, value: Option<serde_json::Value>, us: u64) -> EventKind {
    EventKind::Op(Op {
        kind,
        client,
        f,
        key: "k7".into(),
        value,
        from: None,
        to: None,
        time_us: us,
        node: Some(format!("n{}", client + 1)),
    })
}

/// n1 leads; a write of 1 to k7 is acknowledged at 2.01 s, then n2 reads
/// k7 as absent (stale) at 3 s; a lost write; the checks fail at 4 s.
fn failing_trace() -> Trace {
    let mut t = Trace::default();
    for n in ["n1", "n2", "n3"] {
        t.push(
            ms(0),
            EventKind::Role {
                node: n.into(),
                role: NodeRole::Starting,
            },
        );
    }
    t.push(
        ms(500),
        EventKind::Role {
            node: "n1".into(),
            role: NodeRole::Leader,
        },
    );
    t.push(
        ms(1000),
        EventKind::FaultStart {
            fault: 0,
            action: "isolate".into(),
            nodes: vec!["n2".into()],
            due_ms: 1000,
        },
    );
    t.push(
        ms(2000),
        op(Type::Invoke, 0, Func::Write, Some(1.into()), 2_000_000),
    );
    t.push(
        ms(2010),
        op(Type::Ok, 0, Func::Write, Some(1.into()), 2_010_000),
    );
    t.push(ms(3000), op(Type::Invoke, 1, Func::Read, None, 3_000_000));
    t.push(
        ms(3004),
        op(
            Type::Ok,
            1,
            Func::Read,
            Some(serde_json::Value::Null),
            3_004_000,
        ),
    );
    t.push(
        ms(3500),
        EventKind::Write {
            key: "w1".into(),
            latency_us: 1_500,
            acked: true,
        },
    );
    t.push(
        ms(3600),
        EventKind::FaultEnd {
            fault: 0,
            action: "isolate".into(),
        },
    );
    t.push(
        ms(4000),
        EventKind::Check {
            name: "linearizable".into(),
            passed: false,
            detail: "k7 is not linearizable: read absent after write 1 acknowledged".into(),
            nodes: vec!["n2".into()],
            found: Vec::new(),
        },
    );
    t
}

fn scenario() -> clusterlab_scenario::Scenario {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scenarios/quick.toml");
    clusterlab_scenario::load(Path::new(p)).unwrap()
}

/// Writes the failing run's reports (with a node's log) and returns the
/// page's path and text.
fn failing_page(out: &Path) -> (PathBuf, String) {
    let s = scenario();
    let trace = failing_trace();
    let o = Outcome::from_trace(&s, World::Containers, "r-fail", 11, &trace);
    assert!(!o.passed);
    let dir = report::write_run(out, &s, &o, &trace).unwrap();
    let logs = [("n2".to_string(), "n2 was cut off\n".to_string())].into();
    report::write_logs(&dir, &logs).unwrap();
    let page = report::write_page(&dir, &s, &o, &trace, "clusterlab run quick --seed 11").unwrap();
    assert_eq!(page, dir.join("report.html"));
    let text = std::fs::read_to_string(&page).unwrap();
    (page, text)
}

#[test]
fn the_page_shows_why_a_run_failed() {
    let out = tempfile::tempdir().unwrap();
    let (_, html) = failing_page(out.path());
    for want in [
        "<span class=\"verdict fail\">FAIL</span>",
        "<code id=\"replay\">clusterlab run quick --seed 11</code>",
        // The failed check, its instant and node, before the passed ones.
        "<tr class=\"failed\"><td>linearizable</td><td>FAILED</td><td>4.000 s</td><td>n2</td>",
        // The anomaly: both operations with their call and return times.
        "<table id=\"anomaly\">",
        "<td>2.000000 s</td><td>2.010000 s</td>",
        "<td>3.000000 s</td><td>3.004000 s</td>",
        // The workloads, with the fault window shaded.
        "read: latency (1 operations, 1 ok)",
        "writes: latency (1 operations, 1 ok)",
        "<title>fault: isolate n2</title>",
        "<a href=\"logs/n2.log\">n2</a>",
        // The scenario as written.
        "# The default of `clusterlab run`",
    ] {
        assert!(html.contains(want), "report.html lacks {want:?}");
    }
    let first_failed = html.find("class=\"failed\"").unwrap();
    let first_passed = html.find("class=\"passed\"").unwrap_or(usize::MAX);
    assert!(first_failed < first_passed, "failed checks come first");
    // Self-contained: no script, nothing fetched.
    assert!(
        !html.contains("<script") && !html.contains(" src="),
        "nothing is loaded"
    );
    let fetched = html
        .match_indices("http")
        .map(|(i, _)| &html[i..(i + 40).min(html.len())])
        .filter(|s| !s.starts_with("http://www.w3.org/"))
        .collect::<Vec<_>>();
    assert!(fetched.is_empty(), "links out: {fetched:?}");
}

/// Headless Chromium (Debian's package; `ci/setup.sh` installs it) loads the
/// page: its visible text holds the failed check's name and instant and the
/// anomaly table, the console has no error, and a screenshot is kept in
/// `target/report-screenshots/` for a person to look at.
#[test]
fn a_browser_shows_the_failing_run() {
    let chromium = ["chromium", "chromium-browser"]
        .into_iter()
        .find(|c| {
            Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| {
            panic!("chromium is missing: apt-get install chromium (bash ci/setup.sh installs it)")
        });
    let out = tempfile::tempdir().unwrap();
    let (page, _) = failing_page(out.path());
    let url = format!("file://{}", page.display());
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        Command::new(chromium)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--enable-logging=stderr", "--v=0"])
            .args(extra)
            .arg(&url)
            .output()
            .unwrap()
    };
    let dom = run(&["--dump-dom"]);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    assert!(dom_text.contains("<td>linearizable</td><td>FAILED</td><td>4.000 s</td>"));
    assert!(dom_text.contains("id=\"anomaly\""));
    let console = String::from_utf8_lossy(&dom.stderr);
    assert!(
        !console
            .lines()
            .any(|l| l.contains("CONSOLE") && l.contains("Uncaught")),
        "script errors: {console}"
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../report-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let shot = shots.join("failing-run.png");
    let _ = std::fs::remove_file(&shot);
    let taken = run(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1250,2200",
    ]);
    assert!(
        taken.status.success(),
        "{}",
        String::from_utf8_lossy(&taken.stderr)
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a screenshot of the page"
    );
}
