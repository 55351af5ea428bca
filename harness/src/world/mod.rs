//! The container world: one scenario run against real containers.
//!
//! The order is always the same: build the images, reap dead runs and make
//! this run's network, start the discovery store and wait for its leader,
//! then start every cluster node at once (each a `disco-agent` that
//! announces itself, resolves its peers and execs the database), start the
//! observer and the writer, fire the faults on schedule, heal, wait for the
//! `[expect]` checks to hold, read every acknowledged write back, and tear
//! everything down. Every wait is a condition with a deadline.

pub mod addrs;
pub mod checks;
pub mod faults;
pub mod kind;
pub mod observe;
pub mod recorder;
pub mod store;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bollard::Docker;
use clusterlab_scenario::trace::{EventKind, Trace};
use clusterlab_scenario::{Action, Scenario};
use indicatif::ProgressBar;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::image::{self, ImageError};
use crate::nemesis::NemesisError;
use crate::run::{Run, RunError};
use addrs::Addrs;
use faults::{Nemesis, Undo};
use kind::Kind;
use observe::{Sample, Status};
use recorder::Recorder;
use store::Store;

/// Why a run could not be carried out (as opposed to a check failing).
#[derive(Debug, thiserror::Error)]
pub enum WorldError {
    /// A Docker call failed.
    #[error(transparent)]
    Docker(#[from] RunError),
    /// An image could not be built.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A network fault could not be applied or undone.
    #[error(transparent)]
    Nemesis(#[from] NemesisError),
    /// The discovery store could not be used.
    #[error("discovery store: {0}")]
    Store(String),
    /// Something did not happen in time.
    #[error("{0}")]
    Timeout(String),
    /// The scenario needs something this world does not have.
    #[error("{0}")]
    Unsupported(String),
}

/// How to run.
#[derive(Debug, Clone)]
pub struct Options {
    /// The run id (network and label value).
    pub run_id: String,
    /// Seed for `random` targets.
    pub seed: u64,
    /// Leave the containers running afterwards.
    pub keep: bool,
    /// Progress display, if any.
    pub progress: Option<ProgressBar>,
}

/// A finished run.
#[derive(Debug)]
pub struct Finished {
    /// Everything that happened.
    pub trace: Trace,
    /// Each container's output, by name.
    pub logs: BTreeMap<String, String>,
}

/// How long the store may take to elect a leader.
const STORE_DEADLINE: Duration = Duration::from_secs(60);

/// Runs `scenario` in containers. Resources are removed at the end (unless
/// `keep`), and by the [`Run`]'s drop if this future panics or is dropped.
pub async fn run(
    docker: &Docker,
    scenario: &Scenario,
    opts: &Options,
) -> Result<Finished, WorldError> {
    let kind = Kind::of(scenario).map_err(WorldError::Unsupported)?;
    let say = |msg: &str| {
        if let Some(p) = &opts.progress {
            p.set_message(format!("{}: {msg}", scenario.name));
        }
        tracing::info!(scenario = %scenario.name, "{msg}");
    };
    say("building images");
    let node_image = image::ensure(docker, &kind.recipe(scenario)?).await?.tag;
    let store_image = match scenario.discovery.kind {
        clusterlab_scenario::StoreKind::Etcd => {
            image::ensure(docker, &image::stock::etcd()?).await?.tag
        }
        clusterlab_scenario::StoreKind::Consul => {
            image::ensure(docker, &image::stock::consul()?).await?.tag
        }
    };
    let run = Run::start(docker.clone(), &opts.run_id).await?;
    let result = drive(&run, kind, scenario, opts, &node_image, &store_image, &say).await;
    let mut logs = BTreeMap::new();
    let names: Vec<String> = (1..=scenario.discovery.nodes)
        .map(|i| format!("s{i}"))
        .chain(scenario.cluster.nodes.iter().cloned())
        .collect();
    for n in names {
        if let Ok(text) = run.logs(&n).await {
            logs.insert(n, text);
        }
    }
    if opts.keep {
        std::mem::forget(run);
    } else {
        run.teardown().await?;
    }
    // A failure once containers exist is a failed run with logs, not a
    // missing one.
    let rec = match result {
        Ok(rec) => rec,
        Err((rec, e)) => {
            rec.push(EventKind::Check {
                name: "run".into(),
                passed: false,
                detail: e.to_string(),
            });
            rec
        }
    };
    // Bootstraps, from the agents' own words.
    for (n, text) in &logs {
        if text.contains("won the bootstrap key") {
            rec.insert(Duration::ZERO, EventKind::Bootstrap { node: n.clone() });
        }
    }
    let mut trace = rec.trace();
    if scenario.expect.single_bootstrap {
        let boots: Vec<String> = trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Bootstrap { node } => Some(node.clone()),
                _ => None,
            })
            .collect();
        trace.push(
            rec.elapsed(),
            EventKind::Check {
                name: "single-bootstrap".into(),
                passed: boots.len() == 1,
                detail: format!("bootstrapped: {boots:?}"),
            },
        );
    }
    if let Some(bound) = scenario.expect.failover_within {
        let worst = crate::report::outcome::failover(&trace);
        trace.push(
            rec.elapsed(),
            EventKind::Check {
                name: "failover".into(),
                passed: worst.is_some_and(|w| w <= bound.as_millis() as u64),
                detail: match worst {
                    Some(w) => format!("worst failover {w} ms, bound {} ms", bound.as_millis()),
                    None => "no failover was observed".into(),
                },
            },
        );
    }
    Ok(Finished { trace, logs })
}

async fn wait_for(
    rx: &mut watch::Receiver<Sample>,
    until: Instant,
    ok: impl Fn(&Sample) -> bool,
) -> Option<Sample> {
    loop {
        {
            let s = rx.borrow_and_update();
            if ok(&s) {
                return Some(s.clone());
            }
        }
        if tokio::time::timeout_at(until, rx.changed()).await.is_err() {
            return None;
        }
    }
}

async fn drive(
    run: &Run,
    kind: Kind,
    scenario: &Scenario,
    opts: &Options,
    node_image: &str,
    store_image: &str,
    say: &dyn Fn(&str),
) -> Result<Recorder, (Recorder, WorldError)> {
    let rec = Recorder::start();
    let r = rec.clone();
    drive_inner(run, kind, scenario, opts, node_image, store_image, say, r)
        .await
        .map_err(|e| (rec, e))
}

#[allow(clippy::too_many_arguments)]
async fn drive_inner(
    run: &Run,
    kind: Kind,
    scenario: &Scenario,
    opts: &Options,
    node_image: &str,
    store_image: &str,
    say: &dyn Fn(&str),
    rec: Recorder,
) -> Result<Recorder, WorldError> {
    let addrs = Addrs::default();
    say("starting the discovery store");
    let store = Arc::new(
        Store::start(
            run,
            &addrs,
            &scenario.discovery,
            store_image,
            STORE_DEADLINE,
        )
        .await?,
    );
    let nodes = scenario.cluster.nodes.clone();
    let statuses = Arc::new(Mutex::new(
        nodes
            .iter()
            .map(|n| (n.clone(), Status::Up))
            .collect::<BTreeMap<_, _>>(),
    ));
    say("starting the cluster");
    rec.restart();
    let url = store.url();
    for n in &nodes {
        let argv = kind.command(scenario, n, &run.container(n), &url);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run.start_container(n, node_image, &argv).await?;
    }
    for n in &nodes {
        addrs.refresh(run, n).await?;
    }
    let (mut rx, observer) = observe::spawn(
        kind,
        nodes.clone(),
        statuses.clone(),
        addrs.clone(),
        store.clone(),
        rec.clone(),
    );
    let _abort = AbortOnDrop(observer);
    let writer = scenario.workload.clone().map(|w| {
        writer::Writer::spawn(
            kind,
            w,
            nodes.clone(),
            statuses.clone(),
            addrs.clone(),
            rec.clone(),
            rx.clone(),
        )
    });
    let mut nemesis = Nemesis {
        run,
        addrs: &addrs,
        statuses: statuses.clone(),
        store: &store,
        nodes: &nodes,
        seed: opts.seed,
    };
    // The schedule: each fault's start, and its end if it has a duration.
    let mut steps: Vec<(Duration, usize, bool)> = Vec::new();
    for (i, f) in scenario.faults.iter().enumerate() {
        steps.push((f.at, i, true));
        if let Some(d) = f.duration {
            steps.push((f.at + d, i, false));
        }
    }
    steps.sort_by_key(|(at, i, start)| (*at, !*start, *i));
    let mut active: Vec<(usize, Undo)> = Vec::new();
    for (at, i, start) in steps {
        let fault = &scenario.faults[i];
        say(&format!(
            "waiting for {} at {}s",
            fault.action.name(),
            at.as_secs()
        ));
        tick_until(rec.instant(at), opts.progress.as_ref(), &rec).await;
        if !start {
            if let Some(pos) = active.iter().position(|(j, _)| *j == i) {
                let (_, undo) = active.remove(pos);
                nemesis.undo(undo).await?;
                rec.push(EventKind::FaultEnd {
                    fault: i,
                    action: fault.action.name().into(),
                });
            }
            continue;
        }
        if fault.action == Action::Heal {
            for (j, undo) in active.drain(..) {
                nemesis.undo(undo).await?;
                rec.push(EventKind::FaultEnd {
                    fault: j,
                    action: scenario.faults[j].action.name().into(),
                });
            }
            rec.push(EventKind::FaultStart {
                fault: i,
                action: "heal".into(),
                nodes: Vec::new(),
            });
            rec.push(EventKind::FaultEnd {
                fault: i,
                action: "heal".into(),
            });
            continue;
        }
        // Role targets need a leader to be known: wait a little for one.
        let now = rec.elapsed();
        let sample = wait_for(&mut rx, Instant::now() + Duration::from_secs(20), |s| {
            s.taken >= now && s.leaders().len() == 1
        })
        .await
        .unwrap_or_else(|| rx.borrow().clone());
        // A fault that fires before every node has joined tests something
        // other than what the scenario says (a 5-node etcd cluster takes
        // about 20 s to form, one learner at a time): say so.
        let never_up: Vec<&String> = sample
            .live
            .iter()
            .filter(|n| !rec.has_answered(n))
            .collect();
        if !never_up.is_empty() {
            rec.fail(
                "formed-before-fault",
                format!(
                    "fault {i} ({}) fired at {} ms while {never_up:?} had not joined yet; move it later",
                    fault.action.name(),
                    rec.elapsed().as_millis()
                ),
            );
        }
        let (hit, undo) = nemesis.apply(&fault.action, &sample).await?;
        if hit.is_empty() {
            // A fault that hit nobody tested nothing: say so.
            rec.fail(
                "fault-target",
                format!(
                    "fault {i} ({}) resolved to no node (leaders seen: {:?})",
                    fault.action.name(),
                    sample.leaders()
                ),
            );
        }
        rec.push(EventKind::FaultStart {
            fault: i,
            action: fault.action.name().into(),
            nodes: hit,
        });
        active.push((i, undo));
    }
    // Anything still active ends here: the checks are about a healed cluster.
    for (j, undo) in active.drain(..) {
        nemesis.undo(undo).await?;
        rec.push(EventKind::FaultEnd {
            fault: j,
            action: scenario.faults[j].action.name().into(),
        });
    }
    say("waiting for convergence");
    let healed = rec.elapsed();
    let deadline = Instant::now() + scenario.expect.converge_within;
    let expect = scenario.expect.clone();
    // Only samples taken after the heal count.
    let converged = wait_for(&mut rx, deadline, |s| {
        s.taken >= healed && checks::evaluate(s, &expect).iter().all(|v| v.passed)
    })
    .await;
    let last = converged.clone().unwrap_or_else(|| rx.borrow().clone());
    for v in checks::evaluate(&last, &expect) {
        rec.push(EventKind::Check {
            name: v.name.into(),
            passed: v.passed,
            detail: v.detail,
        });
    }
    rec.push(EventKind::Check {
        name: "converged".into(),
        passed: converged.is_some(),
        detail: match &converged {
            Some(_) => format!(
                "all checks held {} ms after the last heal",
                (rec.elapsed() - healed).as_millis()
            ),
            None => format!(
                "not within {:?} of the last heal",
                scenario.expect.converge_within
            ),
        },
    });
    if let Some(w) = writer {
        say("reading acknowledged writes back");
        let ledger = w.stop().await;
        // The leader first: it has every committed write.
        let leaders = last.leaders();
        let mut order: Vec<&String> = last.live.iter().collect();
        order.sort_by_key(|n| !leaders.contains(n));
        let ips: Vec<_> = order.iter().filter_map(|n| addrs.ip(n)).collect();
        writer::verify(kind, &ledger, &ips, Duration::from_secs(30), &rec).await;
    }
    Ok(rec)
}

/// Sleeps until `until`, moving the progress bar along.
async fn tick_until(until: Instant, bar: Option<&ProgressBar>, rec: &Recorder) {
    while Instant::now() < until {
        if let Some(b) = bar {
            b.set_position(rec.elapsed().as_secs());
        }
        tokio::time::sleep_until(until.min(Instant::now() + Duration::from_millis(500))).await;
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
