//! A run's verdict and figures, derived from its trace so that every world
//! reports the same way.

use std::time::Duration;

use clusterlab_scenario::{Scenario, World};
use serde::{Deserialize, Serialize};

use crate::check::{failover, Found};
use crate::trace::{EventKind, Trace};
use clusterlab_scenario::checks::NOTHING_TO_JUDGE;

/// One check's verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check.
    pub name: String,
    /// Passed or not.
    pub passed: bool,
    /// What was seen.
    pub detail: String,
    /// When it was recorded (a failed safety check: the instant it broke).
    pub at_ms: u64,
    /// The nodes involved.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nodes: Vec<String>,
    /// What a failure consisted of, as findings name it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub found: Vec<Found>,
}

/// Everything `results.json` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// Scenario name.
    pub scenario: String,
    /// Which world ran it.
    pub world: World,
    /// The run's id.
    pub run_id: String,
    /// Seed used for `random` targets and jitter.
    pub seed: u64,
    /// Why the run did not happen, if it did not.
    pub skipped: Option<String>,
    /// All checks passed (false when skipped).
    pub passed: bool,
    /// Wall (or simulated) length of the run.
    pub elapsed_ms: u64,
    /// From the last heal to the `converged` check passing.
    pub convergence_ms: Option<u64>,
    /// Longest time from a leader's loss to another node leading.
    pub failover_ms: Option<u64>,
    /// Writes acknowledged.
    pub writes_acked: u64,
    /// Writes that failed (not acknowledged: allowed).
    pub writes_failed: u64,
    /// Acknowledged writes not read back (must be 0).
    pub writes_lost: u64,
    /// Every check, in order.
    pub checks: Vec<CheckResult>,
    /// Nodes whose process exited with no fault causing it (containers
    /// only): the first thing to read when a node never served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub crashed: Vec<Crash>,
}

/// A node's process that exited on its own.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crash {
    /// The node.
    pub node: String,
    /// Its exit code.
    pub code: i64,
    /// When it exited.
    pub at_ms: u64,
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Outcome {
    /// A run that did not happen, with the reason.
    pub fn skipped(scenario: &Scenario, world: World, run_id: &str, reason: String) -> Outcome {
        Outcome {
            scenario: scenario.name.clone(),
            world,
            run_id: run_id.to_string(),
            seed: 0,
            skipped: Some(reason),
            passed: false,
            elapsed_ms: 0,
            convergence_ms: None,
            failover_ms: None,
            writes_acked: 0,
            writes_failed: 0,
            writes_lost: 0,
            checks: Vec::new(),
            crashed: Vec::new(),
        }
    }

    /// Derives the verdict and figures from a finished run's trace.
    /// `writes_lost` counts the keys the `no-lost-writes` check found lost.
    pub fn from_trace(
        scenario: &Scenario,
        world: World,
        run_id: &str,
        seed: u64,
        trace: &Trace,
    ) -> Outcome {
        let mut checks = Vec::new();
        let (mut acked, mut failed, mut lost) = (0, 0, 0);
        let mut last_heal = 0u64;
        let mut converged_at = None;
        let mut crashed = Vec::new();
        for e in &trace.events {
            match &e.kind {
                EventKind::Exited {
                    node,
                    code,
                    by_fault: false,
                } => crashed.push(Crash {
                    node: node.clone(),
                    code: *code,
                    at_ms: e.at_ms,
                }),
                EventKind::Write { acked: true, .. } => acked += 1,
                EventKind::Write { acked: false, .. } => failed += 1,
                // A fault for good (crash, leave, delete-key) has no end:
                // its start is its last change to the world.
                EventKind::FaultEnd { .. } | EventKind::FaultStart { .. } => {
                    last_heal = last_heal.max(e.at_ms)
                }
                EventKind::Check {
                    name,
                    passed,
                    detail,
                    nodes,
                    found,
                } => {
                    if name == "no-lost-writes" {
                        lost += found.iter().filter(|f| f.kind == "lost").count() as u64;
                    }
                    if name == "converged" && *passed {
                        converged_at = Some(e.at_ms);
                    }
                    checks.push(CheckResult {
                        name: name.clone(),
                        passed: *passed,
                        detail: detail.clone(),
                        at_ms: e.at_ms,
                        nodes: nodes.clone(),
                        found: found.clone(),
                    });
                }
                _ => {}
            }
        }
        expected_findings(scenario, &mut checks, ms(trace.end()));
        Outcome {
            scenario: scenario.name.clone(),
            world,
            run_id: run_id.to_string(),
            seed,
            skipped: None,
            passed: !checks.is_empty() && checks.iter().all(|c| c.passed),
            elapsed_ms: ms(trace.end()),
            convergence_ms: converged_at.map(|t| t.saturating_sub(last_heal)),
            failover_ms: failover::worst(trace),
            writes_acked: acked,
            writes_failed: failed,
            writes_lost: lost,
            checks,
            crashed,
        }
    }

    /// One line for the terminal.
    pub fn summary(&self) -> String {
        if let Some(reason) = &self.skipped {
            return format!(
                "SKIP  {} [{}]: {reason}",
                self.scenario,
                self.world.as_str()
            );
        }
        let secs =
            |v: Option<u64>| v.map_or("-".to_string(), |m| format!("{:.1}s", m as f64 / 1000.0));
        let crashed: String = self
            .crashed
            .iter()
            .map(|c| {
                format!(
                    "  {} exited on its own (code {}) at {:.1}s",
                    c.node,
                    c.code,
                    c.at_ms as f64 / 1000.0
                )
            })
            .collect();
        format!(
            "{}  {} [{}] {:.1}s  converge {}  failover {}  writes {} acked / {} failed / {} lost{crashed}",
            if self.passed { "PASS" } else { "FAIL" },
            self.scenario,
            self.world.as_str(),
            self.elapsed_ms as f64 / 1000.0,
            secs(self.convergence_ms),
            secs(self.failover_ms),
            self.writes_acked,
            self.writes_failed,
            self.writes_lost,
        )
    }

    /// The failed checks, in order.
    pub fn failures(&self) -> impl Iterator<Item = &CheckResult> {
        self.checks.iter().filter(|c| !c.passed)
    }

    /// Panics with the failed checks unless the run passed: for a user's
    /// own `cargo test`.
    #[track_caller]
    pub fn assert_passed(&self) {
        if self.passed {
            return;
        }
        let failed: Vec<String> = self
            .failures()
            .map(|c| format!("  {} at {} ms: {}", c.name, c.at_ms, c.detail))
            .collect();
        panic!("{}\n{}", self.summary(), failed.join("\n"));
    }
}

/// A finding the scenario expects excuses a failure of its check only if
/// everything that failure found is expected (its kinds, on the keys the
/// findings name); any other failure of the same check still fails the
/// run. A finding that did not happen fails the run, so CI turns red when
/// a known anomaly disappears or changes. A check with nothing to judge
/// passes only where `[expect.unjudged]` says why, and such a check that
/// did judge something fails too.
fn expected_findings(scenario: &Scenario, checks: &mut Vec<CheckResult>, end_ms: u64) {
    let findings = &scenario.expect.findings;
    let unjudged = &scenario.expect.unjudged;
    let mut seen = vec![false; findings.len()];
    let mut idle = std::collections::BTreeSet::new();
    for c in checks.iter_mut().filter(|c| !c.passed) {
        if c.found.iter().any(|f| f.kind == NOTHING_TO_JUDGE) {
            if let Some(why) = unjudged.get(&c.name) {
                c.passed = c.found.len() == 1;
                c.detail = format!("nothing to judge, as expected ({why}): {}", c.detail);
                idle.insert(c.name.clone());
                continue;
            }
        }
        let mut all = !c.found.is_empty();
        let mut refs = Vec::new();
        for f in &c.found {
            match findings.iter().position(|x| x.matches(&c.name, f)) {
                Some(i) => {
                    seen[i] = true;
                    if !refs.contains(&findings[i].reference) {
                        refs.push(findings[i].reference.clone());
                    }
                }
                None => all = false,
            }
        }
        if all {
            c.passed = true;
            c.detail = format!("expected finding ({}): {}", refs.join("; "), c.detail);
        } else if !refs.is_empty() {
            let other: Vec<String> = c
                .found
                .iter()
                .filter(|f| !findings.iter().any(|x| x.matches(&c.name, f)))
                .map(Found::to_string)
                .collect();
            c.detail = format!(
                "beyond the expected finding, also found {}: {}",
                other.join(", "),
                c.detail
            );
        }
    }
    for (f, seen) in findings.iter().zip(seen) {
        if !seen {
            checks.push(CheckResult {
                name: format!("finding:{}", f.check),
                passed: false,
                detail: format!(
                    "the expected finding ({}) did not happen: `{}` never found {}",
                    f.reference,
                    f.check,
                    Found {
                        kind: f.kind.clone(),
                        key: f.key.clone()
                    }
                ),
                at_ms: end_ms,
                nodes: Vec::new(),
                found: Vec::new(),
            });
        }
    }
    for (check, why) in unjudged {
        if !idle.contains(check) {
            checks.push(CheckResult {
                name: format!("unjudged:{check}"),
                passed: false,
                detail: format!(
                    "`{check}` was expected to have nothing to judge ({why}), but {}",
                    match checks.iter().find(|c| c.name == *check) {
                        Some(c) => format!("it judged: {}", c.detail),
                        None => "it did not run".to_string(),
                    }
                ),
                at_ms: end_ms,
                nodes: Vec::new(),
                found: Vec::new(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::EventKind;
    use std::time::Duration;

    fn scenario() -> Scenario {
        let text = "description = \"t\"\nworlds = [\"sim\"]\n[excluded]\ncontainers = \"t\"\n\
                    [discovery]\nkind = \"etcd\"\n[cluster]\nkind = \"etcd\"\nnodes = 3\n";
        clusterlab_scenario::parse("t.toml", "t", text).unwrap()
    }

    fn converged() -> EventKind {
        EventKind::Check {
            name: "converged".into(),
            passed: true,
            detail: String::new(),
            nodes: Vec::new(),
            found: Vec::new(),
        }
    }

    fn failed(name: &str, detail: &str, found: Vec<Found>) -> EventKind {
        EventKind::Check {
            name: name.into(),
            passed: false,
            detail: detail.into(),
            nodes: Vec::new(),
            found,
        }
    }

    fn finding(check: &str, kind: &str, key: Option<&str>) -> clusterlab_scenario::Finding {
        clusterlab_scenario::Finding {
            check: check.into(),
            kind: kind.into(),
            key: key.map(str::to_string),
            reference: "docs/src/findings.md".into(),
        }
    }

    /// A fault for good has no end event: convergence counts from its start,
    /// not from the start of the run.
    #[test]
    fn convergence_counts_from_the_last_change_to_the_world() {
        let mut t = Trace::default();
        let start = |fault: usize| EventKind::FaultStart {
            fault,
            action: "crash".into(),
            nodes: vec!["n3".into()],
            due_ms: 30_000,
        };
        t.push(Duration::from_millis(10_000), start(0));
        t.push(
            Duration::from_millis(12_000),
            EventKind::FaultEnd {
                fault: 0,
                action: "crash".into(),
            },
        );
        t.push(Duration::from_millis(30_000), start(1));
        t.push(Duration::from_millis(30_400), converged());
        let o = Outcome::from_trace(&scenario(), World::Sim, "r", 1, &t);
        assert_eq!(o.convergence_ms, Some(400));
    }

    #[test]
    fn an_expected_finding_passes_only_while_it_happens() {
        let mut s = scenario();
        s.expect.findings.push(finding("set", "lost", None));
        let mut t = Trace::default();
        t.push(Duration::from_millis(1), converged());
        let o = Outcome::from_trace(&s, World::Sim, "r", 1, &t);
        assert!(!o.passed);
        assert_eq!(o.failures().next().unwrap().name, "finding:set");
        t.push(
            Duration::from_millis(2),
            failed("set", "1 lost", vec![Found::on("lost", "s")]),
        );
        let o = Outcome::from_trace(&s, World::Sim, "r", 1, &t);
        assert!(o.passed);
        assert!(o.checks[1]
            .detail
            .starts_with("expected finding (docs/src/findings.md): 1 lost"));
    }

    /// Before the change a finding matched its check's name only: any
    /// failure of that check passed (duplicated rows where lost ones were
    /// expected, a run that ended before its heal where a split was). Now
    /// a failure passes only if everything it found is expected.
    #[test]
    fn a_finding_excuses_only_what_it_names() {
        let mut s = scenario();
        s.expect.findings.push(finding("set", "lost", Some("s")));
        let run = |found: Vec<Found>| {
            let mut t = Trace::default();
            t.push(Duration::from_millis(1), converged());
            t.push(Duration::from_millis(2), failed("set", "anomalies", found));
            Outcome::from_trace(&s, World::Sim, "r", 1, &t)
        };
        assert!(run(vec![Found::on("lost", "s")]).passed);
        for other in [
            vec![Found::on("duplicated", "s")],
            vec![Found::on("lost", "s"), Found::on("duplicated", "s")],
            vec![Found::on("lost", "t")],
            vec![Found::kind("no-final-read")],
            Vec::new(),
        ] {
            let o = run(other.clone());
            assert!(!o.passed, "{other:?} passed as the expected lost rows");
        }
        let o = run(vec![Found::on("lost", "s"), Found::on("duplicated", "s")]);
        let set = o.checks.iter().find(|c| c.name == "set").unwrap();
        assert!(
            set.detail.contains("also found duplicated on \"s\""),
            "{}",
            set.detail
        );
    }

    /// A check with nothing to judge fails unless the scenario says why;
    /// and a check declared unjudged that judged something fails too.
    #[test]
    fn nothing_to_judge_passes_only_where_the_scenario_says_why() {
        let nothing = || failed("peers", "no view", vec![Found::kind(NOTHING_TO_JUDGE)]);
        let mut t = Trace::default();
        t.push(Duration::from_millis(1), nothing());
        let mut s = scenario();
        assert!(!Outcome::from_trace(&s, World::Sim, "r", 1, &t).passed);
        s.expect
            .unjudged
            .insert("peers".into(), "RabbitMQ runs no agent".into());
        let o = Outcome::from_trace(&s, World::Sim, "r", 1, &t);
        assert!(o.passed, "{:?}", o.checks);
        assert!(o.checks[0]
            .detail
            .contains("as expected (RabbitMQ runs no agent)"));
        let mut t = Trace::default();
        t.push(Duration::from_millis(1), converged());
        let o = Outcome::from_trace(&s, World::Sim, "r", 1, &t);
        assert_eq!(o.failures().next().unwrap().name, "unjudged:peers");
    }

    /// A crash is reported; an exit a fault caused is not.
    #[test]
    fn only_exits_no_fault_caused_are_crashes() {
        let mut t = Trace::default();
        let exit = |node: &str, code, by_fault| EventKind::Exited {
            node: node.into(),
            code,
            by_fault,
        };
        t.push(Duration::from_millis(1000), exit("n1", 137, true));
        t.push(Duration::from_millis(2500), exit("n2", 1, false));
        t.push(Duration::from_millis(3000), converged());
        let o = Outcome::from_trace(&scenario(), World::Containers, "r", 1, &t);
        assert_eq!(
            o.crashed,
            [Crash {
                node: "n2".into(),
                code: 1,
                at_ms: 2500
            }]
        );
        assert!(o
            .summary()
            .ends_with("n2 exited on its own (code 1) at 2.5s"));
    }

    /// Every check a world records can be named as a finding, and every
    /// kind a check below reports is one the schema lists for it.
    #[test]
    fn every_check_can_be_expected() {
        use crate::check::{failover, liveness, safety};
        for name in [
            safety::single_leader::NAME,
            safety::single_bootstrap::NAME,
            safety::leader_key_expiry::NAME,
            safety::registered::NAME,
            safety::fencing::NAME,
            safety::window_within_lease::NAME,
            safety::stable::NAME,
            liveness::membership::NAME,
            liveness::one_leader::NAME,
            liveness::leader_key::NAME,
            liveness::announced_live::NAME,
            liveness::peers::NAME,
            liveness::bootstrapped::NAME,
            failover::NAME,
            crate::history::judge::NAME,
            crate::history::judge::SET,
        ] {
            assert!(
                clusterlab_scenario::checks::kinds_of(name).is_some(),
                "{name}"
            );
        }
    }
}
