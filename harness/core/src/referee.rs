//! The referee: what every world does with what it observes. Each view
//! goes through the [`Tracker`] (events, history) and the safety checks;
//! once the schedule is healed, each view is judged by the liveness checks
//! until all hold (converged) or the deadline passes; at the end the
//! verdicts are written down. A world only observes and calls in.

use std::collections::BTreeMap;
use std::time::Duration;

use clusterlab_scenario::{Expect, Scenario};

use crate::check::safety::{self, Safety};
use crate::check::{failover, liveness, Context, Verdict, Violation};
use crate::trace::{EventKind, Trace};
use crate::tracker::{History, Tracker};
use crate::view::View;

/// The name of the check that says whether every liveness check held in
/// time.
pub const CONVERGED: &str = "converged";

/// The referee of one run.
#[derive(Debug, Clone)]
pub struct Referee {
    expect: Expect,
    ctx: Context,
    safety: Vec<Safety>,
    tracker: Tracker,
    views: u64,
    broken: BTreeMap<&'static str, Violation>,
    healed_at: Option<Duration>,
    converged_at: Option<Duration>,
    all_down_at: Option<Duration>,
    verdicts: Vec<Verdict>,
}

/// An event and the instant it belongs to.
pub type Timed = (Duration, EventKind);

impl Referee {
    /// The referee of `scenario` in a world that observes with `slack`
    /// (how late it may see a change).
    pub fn new(scenario: &Scenario, slack: Duration) -> Referee {
        Referee {
            expect: scenario.expect.clone(),
            ctx: Context::of(scenario, slack),
            safety: safety::enabled(&scenario.expect),
            tracker: Tracker::new(),
            views: 0,
            broken: BTreeMap::new(),
            healed_at: None,
            converged_at: None,
            all_down_at: None,
            verdicts: Vec::new(),
        }
    }

    /// What the checks know of the past.
    pub fn history(&self) -> &History {
        self.tracker.history()
    }

    /// A node bootstrapped at `at`.
    pub fn bootstrap(&mut self, at: Duration, node: &str) -> Timed {
        (at, self.tracker.bootstrap(at, node))
    }

    /// Takes one view: its changes, and the first breach of each safety
    /// check, as events.
    pub fn observe(&mut self, view: &View) -> Vec<Timed> {
        self.views += 1;
        let mut out: Vec<Timed> = self
            .tracker
            .observe(view)
            .into_iter()
            .map(|e| (view.at, e))
            .collect();
        for s in &self.safety {
            if self.broken.contains_key(s.name) {
                continue;
            }
            if let Some(v) = (s.check)(view, self.tracker.history(), &self.ctx) {
                out.push((v.at, v.event()));
                self.broken.insert(s.name, v);
            }
        }
        out
    }

    /// Whether a safety check has failed.
    pub fn broken(&self) -> bool {
        !self.broken.is_empty()
    }

    /// The first safety breach, if any.
    pub fn first_breach(&self) -> Option<&Violation> {
        self.broken.values().min_by_key(|v| v.at)
    }

    /// Every fault is undone as of `at`: from now on views are judged.
    pub fn healed(&mut self, at: Duration) {
        self.healed_at.get_or_insert(at);
    }

    /// When the run may stop waiting for convergence.
    pub fn deadline(&self) -> Option<Duration> {
        self.healed_at.map(|h| h + self.expect.converge_within)
    }

    /// Judges a view taken after the heal; true once every liveness check
    /// holds on it (the run has converged).
    pub fn converged(&mut self, view: &View) -> bool {
        let Some(healed) = self.healed_at else {
            return false;
        };
        if view.at < healed {
            return false;
        }
        if self.converged_at.is_some() {
            return true;
        }
        self.verdicts = liveness::evaluate(view, self.tracker.history(), &self.expect);
        if self.verdicts.iter().all(|v| v.passed) {
            self.converged_at = Some(view.at);
        }
        self.converged_at.is_some()
    }

    /// As of `at`, every node has exited and nothing will start one again
    /// (every fault is over, and the world restarts no node on its own): no
    /// later view can converge, so the run need not wait out its deadline.
    /// True if taken: only for an instant at or after the heal, whose view
    /// the liveness checks have judged; the convergence verdict says so.
    pub fn all_down(&mut self, at: Duration) -> bool {
        let taken = self.healed_at.is_some_and(|h| at >= h) && self.converged_at.is_none();
        if taken {
            self.all_down_at.get_or_insert(at);
        }
        taken
    }

    /// When the run converged, if it did.
    pub fn converged_at(&self) -> Option<Duration> {
        self.converged_at
    }

    /// The closing verdicts at `end`: each safety check that held, the
    /// liveness checks as last judged, whether the run converged, and the
    /// failover bound (read from `trace`).
    pub fn finish(&self, trace: &Trace, end: Duration) -> Vec<Timed> {
        let mut out = Vec::new();
        for s in &self.safety {
            if !self.broken.contains_key(s.name) {
                let held = Verdict {
                    name: s.name,
                    passed: true,
                    detail: format!("held at every one of {} observed instants", self.views),
                    nodes: Vec::new(),
                };
                out.push((end, held.event()));
            }
        }
        for v in &self.verdicts {
            out.push((self.converged_at.unwrap_or(end), v.event()));
        }
        let converged = Verdict {
            name: CONVERGED,
            passed: self.converged_at.is_some(),
            detail: match (self.converged_at, self.healed_at) {
                (Some(at), Some(h)) => format!(
                    "every liveness check held {} ms after the last heal",
                    at.saturating_sub(h).as_millis()
                ),
                (None, Some(h)) => match self.all_down_at {
                    Some(down) => format!(
                        "every node was down for good {} ms after the last heal (of {:?} allowed)",
                        down.saturating_sub(h).as_millis(),
                        self.expect.converge_within
                    ),
                    None => format!(
                        "not within {:?} of the last heal",
                        self.expect.converge_within
                    ),
                },
                (_, None) => "the run ended before its faults were healed".into(),
            },
            nodes: self
                .verdicts
                .iter()
                .filter(|v| !v.passed)
                .flat_map(|v| v.nodes.clone())
                .collect(),
        };
        out.push((self.converged_at.unwrap_or(end), converged.event()));
        if let Some(bound) = self.expect.failover_within {
            out.push((end, failover::check(trace, bound).event()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn referee() -> Referee {
        let text = "description = \"t\"\nworlds = [\"sim\"]\n[excluded]\ncontainers = \"t\"\n\
                    [discovery]\nkind = \"etcd\"\n[cluster]\nkind = \"etcd\"\nnodes = 3\n\
                    [expect]\nconverge_within = \"60s\"\n";
        Referee::new(
            &clusterlab_scenario::parse("t.toml", "t", text).unwrap(),
            Duration::from_secs(1),
        )
    }

    fn converged(r: &Referee, end: Duration) -> (bool, String) {
        r.finish(&Trace::default(), end)
            .into_iter()
            .find_map(|(_, e)| match e {
                EventKind::Check {
                    name,
                    passed,
                    detail,
                    ..
                } if name == CONVERGED => Some((passed, detail)),
                _ => None,
            })
            .expect("a convergence verdict")
    }

    /// A run that stops early because every node is down still fails
    /// convergence, and says why it stopped before its deadline.
    #[test]
    fn every_node_down_fails_convergence_and_says_so() {
        let mut r = referee();
        r.healed(Duration::from_secs(10));
        assert!(r.all_down(Duration::from_secs(13)));
        let (passed, detail) = converged(&r, Duration::from_secs(13));
        assert!(!passed);
        assert!(
            detail.contains("down for good 3000 ms after the last heal"),
            "{detail}"
        );
    }

    /// Before the heal a killed node may still be restarted: nothing to
    /// conclude from every node being down.
    #[test]
    fn every_node_down_before_the_heal_says_nothing() {
        let mut r = referee();
        assert!(!r.all_down(Duration::from_secs(5)));
        r.healed(Duration::from_secs(10));
        // A view sampled before the heal, seen after it.
        assert!(!r.all_down(Duration::from_secs(9)));
        let (passed, detail) = converged(&r, Duration::from_secs(70));
        assert!(!passed);
        assert_eq!(detail, "not within 60s of the last heal");
    }
}
