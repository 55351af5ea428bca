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
pub mod clock;
pub mod exits;
pub mod images;
pub mod kind;
pub mod nemesis;
pub mod observe;
pub mod rogue;
pub mod secrets;
pub mod store;
pub mod traffic;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use bollard::Docker;
use clusterlab_core::driver::{Driver, Seen};
use clusterlab_core::fault::Engine;
use clusterlab_core::referee::Referee;
use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_core::view::View;
use clusterlab_scenario::{Restart, Scenario};

use crate::image::ImageError;
use crate::netfault::NetfaultError;
use crate::run::{ContainerEngine, Run, RunError};
use addrs::Addrs;
use clock::Clock;
use kind::{Kind, StoreUrl};
use nemesis::Containers;
use observe::Shared;
use secrets::Secrets;
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
    Nemesis(#[from] NetfaultError),
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
#[derive(Clone)]
pub struct Options {
    /// The run id (network and label value).
    pub run_id: String,
    /// Seed for `random` targets.
    pub seed: u64,
    /// Leave the containers running afterwards.
    pub keep: bool,
    /// What runs the containers: one daemon or a swarm.
    pub engine: ContainerEngine,
    /// Told how far the run is and what it is doing, as it goes.
    pub progress: Option<OnProgress>,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("run_id", &self.run_id)
            .field("seed", &self.seed)
            .field("keep", &self.keep)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// What a run reports as it goes.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    /// Seconds since the cluster nodes were started.
    Elapsed(u64),
    /// What it is doing now.
    Doing(&'a str),
}

/// A progress callback.
pub type OnProgress = Arc<dyn Fn(Progress<'_>) + Send + Sync>;

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

/// How late the container world may see a change: a sample every 250 ms,
/// probes that may take up to 800 ms.
pub const SLACK: Duration = Duration::from_secs(1);

/// How long the observer may publish nothing before the run is abandoned.
const OBSERVER_SILENCE: Duration = Duration::from_secs(30);

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
            p(Progress::Doing(msg));
        }
        tracing::info!(scenario = %scenario.name, "{msg}");
    };
    say("building images");
    let images::Images {
        node: node_image,
        store: store_image,
    } = images::resolve(docker, scenario, &kind, &opts.run_id).await?;
    let run = Run::start_on(docker.clone(), &opts.run_id, opts.engine)
        .await?
        .restarting_nodes(scenario.cluster.restart == Restart::Always);
    let result = drive(&run, kind, scenario, opts, &node_image, &store_image, &say).await;
    let mut logs = BTreeMap::new();
    let names: Vec<String> = (1..=scenario.discovery.nodes)
        .map(|i| format!("s{i}"))
        .chain(scenario.cluster.nodes.iter().cloned())
        .collect();
    for n in names {
        if let Ok(text) = run.logs(&n).await {
            let text = match run.placement(&n) {
                Some(host) => format!("# {n}'s tasks ran on swarm node {host}\n{text}"),
                None => text,
            };
            logs.insert(n, text);
        }
    }
    if opts.keep {
        std::mem::forget(run);
    } else {
        run.teardown().await?;
    }
    // A failure once containers exist is a failed run with logs, not a
    // missing one: its closing verdicts are written from what it saw.
    let rec = match result {
        Ok(rec) => rec,
        Err((rec, e)) => {
            rec.push(EventKind::Check {
                name: "run".into(),
                passed: false,
                detail: e.to_string(),
                nodes: Vec::new(),
                found: Vec::new(),
            });
            close(&rec, &Referee::new(scenario, SLACK));
            rec
        }
    };
    Ok(Finished {
        trace: rec.trace(),
        logs,
    })
}

/// Writes the closing verdicts, as the run ends: in both worlds before the
/// workload's reads and their verdicts.
fn close(rec: &Clock, referee: &Referee) {
    let end = rec.elapsed();
    for (at, e) in referee.finish(&rec.trace(), end) {
        rec.insert(at, e);
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
) -> Result<Clock, (Clock, WorldError)> {
    let rec = Clock::start();
    let r = rec.clone();
    match drive_inner(run, kind, scenario, opts, node_image, store_image, say, r).await {
        Ok(()) => Ok(rec),
        Err(e) => Err((rec, e)),
    }
}

/// Writes the engine's view of every node into the shared ledger.
fn publish(ledger: &Shared, engine: &Engine, nodes: &[String]) {
    let mut l = ledger.lock().expect("ledger lock");
    l.states = nodes.iter().map(|n| (n.clone(), engine.state(n))).collect();
    l.reaches_store = engine.reaches_store().clone();
    l.severed = engine.severed().clone();
    l.left = engine.left();
    l.left_cut.clone_from(engine.left_cut());
    if l.taken.len() != engine.taken().len() {
        l.taken = engine.taken().to_vec();
    }
    l.quiet_since = engine.quiet_since();
    l.store_changed = engine.store_changed();
}

/// The file each agent of a run with faults due at 0 s waits for.
const HOLD_FILE: &str = "clusterlab-start";

#[allow(clippy::too_many_arguments)]
async fn drive_inner(
    run: &Run,
    kind: Kind,
    scenario: &Scenario,
    opts: &Options,
    node_image: &str,
    store_image: &str,
    say: &dyn Fn(&str),
    rec: Clock,
) -> Result<(), WorldError> {
    let addrs = Addrs::default();
    say("starting the discovery store");
    let d = &scenario.discovery;
    let secrets = d.tls.then(|| {
        let short: Vec<String> = (1..=d.nodes).map(|i| format!("s{i}")).collect();
        let hosts: Vec<String> = short.iter().map(|n| run.container(n)).collect();
        Secrets::new(d, &hosts, &short)
    });
    let store = Arc::new(
        Store::start(
            run,
            &addrs,
            &scenario.discovery,
            store_image,
            STORE_DEADLINE,
            secrets.as_ref(),
        )
        .await?,
    );
    let nodes = scenario.cluster.nodes.clone();
    let watched: Vec<String> = store.names.iter().chain(&nodes).cloned().collect();
    let (restarted_tx, mut restarted) = tokio::sync::mpsc::unbounded_channel();
    let _exits = AbortOnDrop(exits::watch(run, &watched, rec.clone(), restarted_tx));
    let mut driver = Driver::new(
        Engine::new(scenario, opts.seed, store.names.clone()),
        Referee::new(scenario, SLACK),
    );
    let ledger: Shared = Arc::default();
    publish(&ledger, driver.engine(), &nodes);
    say("starting the cluster");
    rec.restart();
    for s in &store.names {
        if let Some(host) = run.placement(s) {
            rec.push(EventKind::Placed {
                node: s.clone(),
                host,
            });
        }
    }
    // Faults due at 0 s are set before any node's process runs: each
    // agent waits for HOLD_FILE, which the harness copies in once they
    // are in force (a container's namespace exists only once it started).
    let hold = kind.runs_disco_agent() && driver.engine().next_due() == Some(Duration::ZERO);
    let mut url = store.url();
    if hold {
        url.creds
            .extend(["--wait-for-file".to_string(), format!("/{HOLD_FILE}")]);
    }
    if kind.has_agent() {
        url.creds.extend([
            "--journal".to_string(),
            format!("{}/{}", crate::run::SHARED_DIR, observe::JOURNAL),
        ]);
    }
    // The same files for every node: one bundle, one authority.
    let mut files = secrets
        .as_ref()
        .map(Secrets::node_files)
        .unwrap_or_default();
    files.extend(kind.files(scenario));
    for n in &nodes {
        let argv = kind.command(scenario, n, &|n| run.container(n), &url);
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        run.keep_across_restarts(n, kind.data_dirs());
        run.start_node(n, node_image, &argv, &files).await?;
        if let Some(host) = run.placement(n) {
            rec.push(EventKind::Placed {
                node: n.clone(),
                host,
            });
        }
    }
    for n in &nodes {
        addrs.refresh(run, n).await?;
    }
    let journals = observe::Journals::new(&nodes, |n| run.shared_dir(n).ok());
    let (samples, observer) = observe::spawn(
        kind.clone(),
        nodes.clone(),
        ledger.clone(),
        addrs.clone(),
        store.clone(),
        rec.clone(),
        journals,
    );
    let (mut all, rx) = (samples.all, samples.latest);
    let _abort = AbortOnDrop(observer);
    let traffic = scenario.workload.clone().map(|w| {
        let env = traffic::Env {
            kind: kind.clone(),
            nodes: nodes.clone(),
            ledger: ledger.clone(),
            addrs: addrs.clone(),
            rec: rec.clone(),
            observed: rx.clone(),
            seed: opts.seed,
        };
        traffic::start(w, &env)
    });
    let mut nemesis = Containers {
        run,
        addrs: &addrs,
        store: &store,
        observed: rx.clone(),
        ledger: ledger.clone(),
        installed: BTreeSet::new(),
        down: BTreeSet::new(),
        shaped: BTreeMap::new(),
        seed: opts.seed,
        clean: Default::default(),
        applied: BTreeMap::new(),
    };
    if hold {
        say("setting the faults due at 0 s before the nodes start");
        for e in driver.fire(rec.elapsed(), &mut nemesis).await? {
            rec.push(e);
        }
        publish(&ledger, driver.engine(), &nodes);
        for n in &nodes {
            run.put_file(n, HOLD_FILE, b"go\n").await?;
        }
    }
    // On a secured store a rogue node tries its luck as soon as the
    // cluster has a member, its agent racing the rest of the formation;
    // the observer goes on.
    let keys = disco::Keys::new(&scenario.discovery.prefix, &scenario.discovery.cluster);
    let rogue_argv: Vec<String> = {
        // The rogue's own credentials are added by rogue::attempt.
        let url = StoreUrl {
            creds: Vec::new(),
            ..store.url()
        };
        let mut argv = kind.agent_entry(scenario);
        argv.extend(kind::agent_flags(scenario, rogue::NODE, &url));
        argv.extend(["--advertise", "rogue:1"].map(str::to_string));
        argv
    };
    let rogue_fut = async {
        match (&secrets, kind.runs_disco_agent()) {
            (Some(sec), true) => {
                Some(rogue::attempt(run, node_image, sec, &keys, &store, rogue_argv.clone()).await)
            }
            _ => None,
        }
    };
    tokio::pin!(rogue_fut);
    let mut rogue: Option<Option<rogue::Attempts>> = None;
    let last = loop {
        // Every sample, in order: none is lost while a fault's Docker or
        // iptables calls run below.
        let next = tokio::time::timeout(OBSERVER_SILENCE, all.recv());
        let waited = if rogue.is_none() {
            tokio::select! {
                a = &mut rogue_fut => {
                    rogue = Some(a);
                    continue;
                }
                w = next => w,
            }
        } else {
            next.await
        };
        let Ok(Some(last)) = waited else {
            return Err(WorldError::Timeout(format!(
                "the observer published nothing for {OBSERVER_SILENCE:?}"
            )));
        };
        let seen = Seen {
            facts: last.facts.clone(),
            bootstraps: last.bootstraps.clone(),
            lapses: Vec::new(),
            published: last.published.clone(),
        };
        for (at, e) in driver.observe(seen, &last.view) {
            rec.insert(at, e);
        }
        if let Some(p) = &opts.progress {
            p(Progress::Elapsed(rec.elapsed().as_secs()));
        }
        while let Ok(n) = restarted.try_recv() {
            say(&format!(
                "{n} was started again by the engine: its faults are put back"
            ));
            nemesis.readopt(&n).await?;
        }
        if !driver.healed() {
            let now = rec.elapsed();
            if driver.due(now) {
                // The world is changing under the observer until the step
                // is published: no sample taken meanwhile is quiet.
                ledger.lock().expect("ledger lock").quiet_since = None;
            }
            driver
                .act(now, &|| rec.elapsed(), &mut nemesis, &mut |e| rec.push(e))
                .await?;
            if driver.healed() {
                say("waiting for convergence");
            } else if let Some(due) = driver.engine().next_due() {
                say(&format!("next fault step at {}s", due.as_secs()));
            }
            publish(&ledger, driver.engine(), &nodes);
        } else if driver.over(&last.view) {
            break last;
        } else if all_down(run, &nodes, &last.view).await && driver.all_down(last.view.at) {
            // A boot that kills every node (a finding, or a broken
            // image) would otherwise wait out the whole deadline.
            say("every node has exited and nothing will restart one: no convergence to wait for");
            break last;
        }
    };
    rec.push(leftovers_check(&nemesis.clean));
    close(&rec, driver.referee());
    let rogue = match rogue {
        Some(r) => r,
        None => rogue_fut.await,
    };
    if let Some(attempts) = rogue {
        attempts
            .judge_store(&store, &scenario.discovery.prefix, &rec)
            .await;
    }
    if let Some(t) = traffic {
        say(t.ending());
        t.finish(&last.view).await;
    }
    Ok(())
}

/// The `no-leftovers` verdict: what the undos left in the namespaces.
fn leftovers_check(clean: &nemesis::Cleanliness) -> EventKind {
    let detail = if clean.left.is_empty() {
        let unread = if clean.unread.is_empty() {
            String::new()
        } else {
            format!(
                "; {} could not be read (gone with their node): {}",
                clean.unread.len(),
                clean.unread.join("; ")
            )
        };
        format!(
            "{} namespaces looked into after an undo: no rule or queue of the lab left{unread}",
            clean.checked
        )
    } else {
        clean
            .left
            .iter()
            .map(|(node, atom, left)| format!("{node} after undoing {atom}: {}", left.join("; ")))
            .collect::<Vec<_>>()
            .join(" | ")
    };
    EventKind::Check {
        name: "no-leftovers".into(),
        passed: clean.left.is_empty(),
        detail,
        nodes: clean.left.iter().map(|(n, ..)| n.clone()).collect(),
        found: Vec::new(),
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether every cluster node's container has stopped and each of its
/// exits is in the trace (a crash reported by the exits watcher after the
/// run ended would be lost), asked of Docker only when no node answered in
/// `view` (a node that answers runs). Only meaningful once every fault is
/// healed: until then a killed node may be started again.
async fn all_down(run: &Run, nodes: &[String], view: &View) -> bool {
    if run.restarts_nodes() || view.nodes.values().any(|n| n.members.is_some()) {
        return false;
    }
    let exits = run.exits();
    for n in nodes {
        if !exits.all_deaths_recorded(&run.container(n)) || run.exit_code(n).await.is_none() {
            return false;
        }
    }
    true
}
