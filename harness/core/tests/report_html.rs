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
/// k7 at 3 s: as absent (stale) when `stale`, and the check fails at 4 s;
/// else as 1, and it passes.
fn trace(stale: bool) -> Trace {
    let mut t = Trace::default();
    // As on Swarm: n2's task ran on swarm node b.
    t.push(
        ms(0),
        EventKind::Placed {
            node: "n2".into(),
            host: "swarm-b".into(),
        },
    );
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
            Some(if stale {
                serde_json::Value::Null
            } else {
                1.into()
            }),
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
            passed: !stale,
            detail: if stale {
                "k7 is not linearizable: read absent after write 1 acknowledged".into()
            } else {
                "3 keys linearizable".into()
            },
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

/// Writes a run's reports (with a node's log) and returns the page's path
/// and text.
fn page(out: &Path, stale: bool) -> (PathBuf, String) {
    let s = scenario();
    let trace = trace(stale);
    let id = if stale { "r-fail" } else { "r-pass" };
    let o = Outcome::from_trace(&s, World::Containers, id, 11, &trace);
    assert_eq!(o.passed, !stale);
    let dir = report::write_run(out, &s, &o, &trace).unwrap();
    let logs = [("n2".to_string(), "n2 was cut off\n".to_string())].into();
    report::write_logs(&dir, &logs).unwrap();
    let page = report::write_page(&dir, &s, &o, &trace, "clusterlab run quick --seed 11").unwrap();
    assert_eq!(page, dir.join("report.html"));
    let text = std::fs::read_to_string(&page).unwrap();
    (page, text)
}

fn failing_page(out: &Path) -> (PathBuf, String) {
    page(out, true)
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
        "<a href=\"logs/n2.log\">n2</a> (swarm node swarm-b)",
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
/// Headless Chromium (Debian's package): the page's DOM after load, what
/// the console printed, and a screenshot.
struct Browser {
    bin: &'static str,
    profile: tempfile::TempDir,
}

impl Browser {
    fn new() -> Browser {
        let bin = ["chromium", "chromium-browser"]
            .into_iter()
            .find(|c| {
                Command::new(c)
                    .arg("--version")
                    .output()
                    .is_ok_and(|o| o.status.success())
            })
            .unwrap_or_else(|| {
                panic!(
                    "chromium is missing: apt-get install chromium (bash ci/setup.sh --test-tools installs it, as ci/test.sh does)"
                )
            });
        Browser {
            bin,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, page: &Path, extra: &[&str]) -> std::process::Output {
        let out = Command::new(self.bin)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .arg(format!("--user-data-dir={}", self.profile.path().display()))
            .args(["--enable-logging=stderr", "--v=0"])
            .args(extra)
            .arg(format!("file://{}", page.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The DOM after load; fails on a script error in the console.
    fn dom(&self, page: &Path) -> String {
        let out = self.run(page, &["--dump-dom"]);
        let console = String::from_utf8_lossy(&out.stderr);
        assert!(
            !console
                .lines()
                .any(|l| l.contains("CONSOLE") && (l.contains("Uncaught") || l.contains("Error"))),
            "script errors in {}: {console}",
            page.display()
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A screenshot under target/report-screenshots/, kept as an artifact.
    fn shoot(&self, page: &Path, name: &str, size: &str) {
        let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("../report-screenshots");
        std::fs::create_dir_all(&shots).unwrap();
        let shot = shots.join(name);
        let _ = std::fs::remove_file(&shot);
        self.run(
            page,
            &[
                &format!("--screenshot={}", shot.display()),
                &format!("--window-size={size}"),
            ],
        );
        let png = std::fs::read(&shot).unwrap();
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 10_000,
            "a screenshot of {}",
            page.display()
        );
    }
}

#[test]
fn a_browser_shows_a_failing_and_a_passing_run_and_their_index() {
    let browser = Browser::new();
    let out = tempfile::tempdir().unwrap();
    let (failing, _) = page(out.path(), true);
    let dom = browser.dom(&failing);
    assert!(dom.contains("<td>linearizable</td><td>FAILED</td><td>4.000 s</td>"));
    assert!(dom.contains("id=\"anomaly\""));
    browser.shoot(&failing, "failing-run.png", "1250,2200");

    let (passing, _) = page(out.path(), false);
    let dom = browser.dom(&passing);
    assert!(
        dom.contains("<span class=\"verdict pass\">PASS</span>"),
        "the verdict is shown"
    );
    assert!(
        dom.contains("<td>linearizable</td><td>passed</td>"),
        "the check is listed"
    );
    assert!(
        !dom.contains("id=\"anomaly\""),
        "no anomaly window in a passing run"
    );
    browser.shoot(&passing, "passing-run.png", "1250,1400");

    let (index, n) = report::index::write(out.path()).unwrap();
    assert_eq!(n, 2);
    let dom = browser.dom(&index);
    for link in ["quick/r-fail/report.html", "quick/r-pass/report.html"] {
        assert!(
            dom.contains(&format!("href=\"{link}\"")),
            "{link} in the index"
        );
    }
    browser.shoot(&index, "index.png", "1250,800");
}

#[test]
fn the_index_lists_runs_newest_first_with_their_figures_by_run() {
    let out = tempfile::tempdir().unwrap();
    let s = scenario();
    let base = std::time::UNIX_EPOCH + Duration::from_secs(1_796_565_045);
    for (i, (id, failover, stale)) in [
        ("r-a", 900, false),
        ("r-b", 1200, true),
        ("r-c", 700, false),
    ]
    .into_iter()
    .enumerate()
    {
        let t = trace(stale);
        let mut o = Outcome::from_trace(&s, World::Containers, id, i as u64, &t);
        o.failover_ms = Some(failover);
        let dir = report::write_run(out.path(), &s, &o, &t).unwrap();
        let results = std::fs::File::options()
            .write(true)
            .open(dir.join("results.json"))
            .unwrap();
        results
            .set_modified(base + Duration::from_secs(60 * i as u64))
            .unwrap();
    }
    // Not runs: another tool's folder, and a file that is not an outcome.
    std::fs::create_dir_all(out.path().join("other/x")).unwrap();
    std::fs::write(out.path().join("other/x/results.json"), "{}").unwrap();

    let (page, n) = report::index::write(out.path()).unwrap();
    assert_eq!(
        n, 3,
        "the three runs, not the latest link nor the other folder"
    );
    let html = std::fs::read_to_string(page).unwrap();
    let at = |s: &str| html.find(s).unwrap_or_else(|| panic!("{s} in the index"));
    assert!(
        at(">r-c<") < at(">r-b<") && at(">r-b<") < at(">r-a<"),
        "newest first"
    );
    assert!(
        html.contains("<td>2026-12-06 13:52:45</td>"),
        "the date in UTC"
    );
    assert!(
        html.contains("<td class=\"verdict\">FAIL</td><td>1200 ms</td>"),
        "r-b failed with its failover"
    );
    assert!(
        html.contains("quick [containers]: failover by run"),
        "the scenario's failover plot"
    );
    assert!(
        html.contains("run r-b (2026-12-06 13:51:45): 1200 ms"),
        "each run's dot says which run"
    );
}
