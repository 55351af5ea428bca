//! The referee: what every world does with what it observes. Each view
//! goes through the [`Tracker`] (events, history) and the safety checks;
//! once the schedule is healed, each view is judged by the liveness checks
//! until all hold (converged) or the deadline passes; at the end the
//! verdicts are written down. A world only observes and calls in.

use std::collections::BTreeMap;
use std::time::Duration;

use clusterlab_scenario::{Expect, Scenario};

use crate::check::safety::{self, Safety};
use crate::check::{failover, liveness, Context, Found, Verdict, Violation};
use crate::trace::{EventKind, Trace};
use crate::tracker::{Past, Tracker};
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
    /// Since when every liveness check has held, view after view.
    holding_since: Option<Duration>,
    /// Each node's last published window, to record only changes.
    windows: BTreeMap<String, Option<crate::view::Window>>,
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
            holding_since: None,
            windows: BTreeMap::new(),
            converged_at: None,
            all_down_at: None,
            verdicts: Vec::new(),
        }
    }

    /// The deadlines the world gives its agents (`bounded-waits` holds
    /// them to these).
    pub fn waits(mut self, waits: crate::check::Waits) -> Referee {
        self.ctx.waits = waits;
        self
    }

    /// What the checks know of the past.
    pub fn past(&self) -> &Past {
        self.tracker.past()
    }

    /// A node bootstrapped at `at`.
    pub fn bootstrap(&mut self, at: Duration, node: &str) -> Timed {
        (at, self.tracker.bootstrap(at, node))
    }

    /// A node's agent reported a fact at `at` (its phase, a bootstrap claim,
    /// a claim that lapsed, its database starting or exiting): the checks
    /// of the agent's own promises read it. Returns the event to record.
    pub fn agent(&mut self, at: Duration, e: EventKind) -> Timed {
        self.tracker.agent(at, &e);
        (at, e)
    }

    /// `node` published at `at` its leadership window (`None`: it does not
    /// lead); the next view's safety checks judge the term it changed. A
    /// publication that changes the node's window is an event of the
    /// trace.
    pub fn published(
        &mut self,
        at: Duration,
        node: &str,
        window: Option<crate::view::Window>,
    ) -> Option<Timed> {
        self.tracker.published(at, node, window);
        if self.windows.get(node) == Some(&window) {
            return None;
        }
        self.windows.insert(node.to_string(), window);
        let e = EventKind::Window {
            node: node.to_string(),
            token: window.map(|w| w.token),
            until_ms: window.map(|w| u64::try_from(w.until.as_millis()).unwrap_or(u64::MAX)),
        };
        Some((at, e))
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
            if let Some(v) = (s.check)(view, self.tracker.past(), &self.ctx) {
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

    /// When the run may stop waiting for convergence: liveness must first
    /// hold within `converge_within` of the heal, then go on holding for
    /// `stable_for`.
    pub fn deadline(&self) -> Option<Duration> {
        self.healed_at
            .map(|h| h + self.expect.converge_within + self.expect.stable_for)
    }

    /// Judges a view taken after the heal; true once every liveness check
    /// has held on every view for `stable_for` (the run has converged, at
    /// the first of those views). A view on which one fails starts the
    /// count again.
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
        let verdicts = liveness::evaluate(view, self.tracker.past(), &self.expect);
        if verdicts.iter().all(|v| v.passed) {
            let since = *self.holding_since.get_or_insert(view.at);
            self.verdicts = verdicts;
            if view.at.saturating_sub(since) >= self.expect.stable_for
                && since <= healed + self.expect.converge_within
            {
                self.converged_at = Some(since);
            }
        } else {
            self.holding_since = None;
            self.verdicts = verdicts;
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
                let terms = self.tracker.past().terms.all();
                let detail = if s.judges_terms {
                    let nodes: std::collections::BTreeSet<&str> =
                        terms.iter().map(|t| t.node.as_str()).collect();
                    format!(
                        "held over {} leadership terms of {} nodes, as they published them ({} observed instants)",
                        terms.len(),
                        nodes.len(),
                        self.views
                    )
                } else {
                    format!("held at every one of {} observed instants", self.views)
                };
                out.push((end, Verdict::held(s.name, detail).event()));
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
                (None, Some(h)) => match (self.all_down_at, self.holding_since) {
                    (Some(down), _) => format!(
                        "every node was down for good {} ms after the last heal (of {:?} allowed)",
                        down.saturating_sub(h).as_millis(),
                        self.expect.converge_within
                    ),
                    (None, Some(since)) => format!(
                        "held from {} ms after the last heal, but not for {:?} by the end at {} ms",
                        since.saturating_sub(h).as_millis(),
                        self.expect.stable_for,
                        end.as_millis()
                    ),
                    (None, None) => format!(
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
            found: match (self.converged_at, self.healed_at, self.all_down_at) {
                (Some(_), _, _) => Vec::new(),
                (None, None, _) => vec![Found::kind("not-healed")],
                (None, Some(_), Some(_)) => vec![Found::kind("all-down")],
                (None, Some(_), None) => vec![Found::kind("timeout")],
            },
        };
        out.push((self.converged_at.unwrap_or(end), converged.event()));
        if let Some(bound) = self.expect.failover_within {
            out.push((end, failover::check(trace, end, bound).event()));
        }
        out.push((
            end,
            EventKind::End {
                why: match (self.converged_at, self.all_down_at, self.healed_at) {
                    (Some(_), _, _) => "converged".into(),
                    (None, Some(_), _) => "every node down for good".into(),
                    (None, None, Some(h)) if end >= self.deadline().unwrap_or(h) => {
                        "the convergence deadline passed".into()
                    }
                    (None, None, Some(_)) => "stopped before the convergence deadline".into(),
                    (None, None, None) => "stopped before the faults were healed".into(),
                },
            },
        ));
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

    /// Before the change the first view on which every liveness check held
    /// ended the run: a regression a moment later (an old primary that
    /// answers once, then reclaims) was never seen. Now liveness must hold
    /// for `stable_for` (1 s by default) from a view on.
    #[test]
    fn liveness_must_hold_for_stable_for() {
        use crate::view::{NodeState, NodeView};
        let mut r = referee();
        r.bootstrap(Duration::from_secs(1), "n1");
        r.healed(Duration::from_secs(10));
        let view = |s: u64, ms: u64, agree: bool| {
            let mut v = View {
                at: Duration::from_secs(s) + Duration::from_millis(ms),
                ..View::default()
            };
            for n in ["n1", "n2"] {
                let members = if agree || n == "n1" {
                    vec!["n1", "n2"]
                } else {
                    vec!["n2"]
                };
                v.nodes.insert(
                    n.into(),
                    NodeView {
                        state: NodeState::Up,
                        members: Some(members.iter().map(|m| m.to_string()).collect()),
                        leads: n == "n1",
                        window: None,
                        peers: Some(["n1", "n2"].iter().map(|m| m.to_string()).collect()),
                    },
                );
            }
            v.store = Some(crate::view::StoreView {
                announced: ["n1", "n2"].iter().map(|m| m.to_string()).collect(),
                leader_key: Some("n1".into()),
                ..Default::default()
            });
            v
        };
        assert!(!r.converged(&view(11, 0, true)), "held once");
        assert!(!r.converged(&view(11, 500, false)), "then did not");
        assert!(!r.converged(&view(12, 0, true)));
        assert!(!r.converged(&view(12, 900, true)));
        assert!(r.converged(&view(13, 0, true)), "a second on");
        assert_eq!(r.converged_at(), Some(Duration::from_secs(12)));
        let (passed, detail) = converged(&r, Duration::from_secs(13));
        assert!(passed, "{detail}");
        assert_eq!(
            detail,
            "every liveness check held 2000 ms after the last heal"
        );
    }
}
