//! The agent: what `disco-agent` does around a database, as a library, so
//! that the simulator runs the very logic users deploy. It announces the
//! node, decides bootstrap or join, waits for someone to join, starts the
//! database, commits a bootstrap once the database is ready, holds the
//! leader key (its own election, or gated on the database's leadership),
//! and on a stop or the database's exit resigns and deregisters.
//!
//! Generic over [`Registry`] and [`Database`], on tokio's clock only. Every
//! wait has a deadline and ends with an error that names it; a stop (the
//! future the caller gives: SIGTERM, a simulated leave) ends any phase,
//! start-up included, with the same cleanup.

pub mod commit;
pub mod database;
pub mod gate;
pub mod report;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tracing::{error, info};

pub use database::{Database, DatabaseError, Probe};
pub use report::{Nobody, Phase, Report};

use crate::bootstrap::Role;
use crate::error::DiscoError;
use crate::leader::{LeaderRecord, Leadership};
use crate::node::{Node, NodeConfig, Starting};
use crate::registry::Registry;
use gate::Gate;

/// How long the cleanup of a stop may take (resign, delete, revoke): well
/// under Docker's 10 s grace before SIGKILL. A store that does not answer
/// by then keeps the keys until their lease expires.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Who holds the leader key for this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaderMode {
    /// disco's own election: the node campaigns whenever the key is free.
    Campaign,
    /// The key follows the database: campaign only while it leads.
    Gate,
    /// Never campaign (a multi-primary database).
    None,
}

/// An agent's settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// The node: keys, id, address, TTL (its `campaign` is set from
    /// `leader`).
    pub node: NodeConfig,
    /// Who holds the leader key.
    pub leader: LeaderMode,
    /// How long registration may take (the store is retried meanwhile).
    pub startup_timeout: Duration,
    /// How long a joiner waits for a pending bootstrap, for someone to
    /// join, and for its database's preparation.
    pub join_timeout: Duration,
    /// How long a bootstrapper waits for its new database to be ready
    /// before it gives its claim up.
    pub ready_timeout: Duration,
}

/// Why an agent ended other than by its database's exit.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The discovery logic failed (a deadline, a refusal).
    #[error(transparent)]
    Disco(#[from] DiscoError),
    /// The database could not be prepared or started.
    #[error("the database: {0}")]
    Database(#[from] DatabaseError),
    /// The bootstrap claim may have lapsed before it was committed.
    #[error("{node}'s bootstrap claim lapsed before it was committed; its new cluster was stopped (another node may bootstrap)")]
    ClaimLapsed {
        /// The node.
        node: String,
    },
    /// The new database did not become ready in time.
    #[error("the new database was not ready within {after:?} (the ready probe, --ready-timeout); its claim was given up and the database stopped")]
    NotReady {
        /// The deadline.
        after: Duration,
    },
}

/// How an agent ended well.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// The database exited with this code.
    Database(i32),
    /// Asked to stop before the database started.
    Stopped,
}

/// Runs the agent until its database exits or `stop` resolves; either way
/// it resigns and deregisters before it returns.
pub async fn run<R, D, Rp, S>(
    registry: R,
    mut db: D,
    mut cfg: AgentConfig,
    report: Arc<Rp>,
    stop: S,
) -> Result<Exit, AgentError>
where
    R: Registry,
    D: Database,
    Rp: Report,
    S: Future<Output = ()> + Send,
{
    tokio::pin!(stop);
    cfg.node.campaign = cfg.leader == LeaderMode::Campaign;
    info!(backend = registry.kind(), node = %cfg.node.node, cluster = %cfg.node.cluster, "starting");
    report.phase(Phase::Registering);
    let starting = Starting::begin(registry.clone(), cfg.node.clone());
    let decided = async {
        starting.registered(cfg.startup_timeout).await?;
        report.phase(Phase::Deciding);
        starting.decide(cfg.join_timeout).await
    };
    let decision = tokio::select! {
        d = decided => d,
        _ = &mut stop => {
            info!("stopped while starting: deregistering");
            finish(&report, None, None, Some(starting)).await;
            return Ok(Exit::Stopped);
        }
    };
    let decision = match decision {
        Ok(d) => d,
        Err(e) => {
            finish(&report, None, None, Some(starting)).await;
            return Err(e.into());
        }
    };
    let node = starting.into_node(decision);
    report.phase(Phase::Joining);
    if *node.role() == Role::Bootstrap {
        report.claimed();
    }
    // What the node believes of its leadership, wherever it comes from.
    let (view, leadership) = watch::channel(Leadership::Unknown);
    let mirror = node.election().map(|e| {
        let (mut from, to) = (e.subscribe(), view.clone());
        tokio::spawn(async move {
            loop {
                to.send_replace(from.borrow_and_update().clone());
                if from.changed().await.is_err() {
                    return;
                }
            }
        })
    });
    let watchers = spawn_watchers(&node, leadership, report.clone());
    let prepared = async {
        let mut plan = node.join_plan(cfg.join_timeout).await?;
        let prepare = crate::timer::timeout(cfg.join_timeout, db.prepare(&mut plan));
        match prepare.await {
            Ok(r) => r?,
            Err(_) => {
                return Err(AgentError::Disco(DiscoError::Timeout {
                    what: "the database's preparation to join".into(),
                    after: cfg.join_timeout,
                }))
            }
        }
        Ok::<_, AgentError>(plan)
    };
    let plan = tokio::select! {
        p = prepared => p,
        _ = &mut stop => {
            info!("stopped before the database started: resigning and deregistering");
            stop_tasks(mirror, watchers);
            finish::<R, Rp>(&report, None, Some(node), None).await;
            return Ok(Exit::Stopped);
        }
    };
    let plan = match plan {
        Ok(p) => p,
        Err(e) => {
            stop_tasks(mirror, watchers);
            finish::<R, Rp>(&report, None, Some(node), None).await;
            return Err(e);
        }
    };
    info!(role = ?plan.role, peers = ?plan.peers, leader = ?plan.leader, "resolved peers");
    report.plan(&plan);
    if let Err(e) = db.start(&plan).await {
        stop_tasks(mirror, watchers);
        finish::<R, Rp>(&report, None, Some(node), None).await;
        return Err(e.into());
    }
    report.database(true);
    let probe = db.probe();
    let gate = (cfg.leader == LeaderMode::Gate).then(|| {
        Gate::start(
            registry.clone(),
            node.keys().clone(),
            LeaderRecord {
                node: cfg.node.node.clone(),
                address: cfg.node.address.clone(),
            },
            node.announcement().subscribe(),
            probe.clone(),
            view.clone(),
        )
    });
    let bootstrapping = *node.role() == Role::Bootstrap;
    report.phase(if bootstrapping {
        Phase::WaitingReady
    } else {
        Phase::Running
    });
    let (mut committed, mut stopping) = (!bootstrapping, false);
    let mut failure = None;
    let code = {
        let commit = async {
            if !bootstrapping {
                return std::future::pending().await;
            }
            commit::when_ready(&registry, &node, &probe, cfg.ready_timeout).await
        };
        tokio::pin!(commit);
        loop {
            tokio::select! {
                code = db.exited() => break code,
                r = &mut commit, if !committed => {
                    committed = true;
                    match r {
                        Ok(()) => {
                            report.bootstrapped();
                            report.phase(Phase::Running);
                        }
                        Err(e) => {
                            // Its new cluster must not be used: stop it.
                            error!("{e}");
                            failure = Some(e);
                            if !stopping {
                                stopping = true;
                                report.phase(Phase::Stopping);
                                db.stop();
                            }
                        }
                    }
                }
                _ = &mut stop, if !stopping => {
                    info!("asked to stop: stopping the database");
                    stopping = true;
                    report.phase(Phase::Stopping);
                    db.stop();
                }
            }
        }
    };
    report.database(false);
    info!(code, "the database exited");
    stop_tasks(mirror, watchers);
    finish::<R, Rp>(&report, gate, Some(node), None).await;
    match failure {
        Some(e) => Err(e),
        None => Ok(Exit::Database(code)),
    }
}

/// Resigns (the gate's key, the node's election) and deregisters, whatever
/// the phase the agent reached. The node stops leading the moment it stops:
/// that is reported first (the watchers are stopped before).
async fn finish<R: Registry, Rp: Report>(
    report: &Arc<Rp>,
    gate: Option<Gate>,
    node: Option<Node>,
    starting: Option<Starting<R>>,
) {
    report.phase(Phase::Stopping);
    report.leadership(&Leadership::Follower { leader: None });
    let cleanup = async {
        if let Some(g) = gate {
            g.stop().await;
        }
        if let Some(n) = node {
            n.shutdown().await;
        }
        if let Some(s) = starting {
            s.abandon().await;
        }
    };
    match crate::timer::timeout(STOP_TIMEOUT, cleanup).await {
        Ok(()) => info!("deregistered"),
        Err(_) => tracing::warn!(
            "the store did not answer the deregistration within {STOP_TIMEOUT:?}: the keys go with the lease"
        ),
    }
    report.phase(Phase::Stopped);
}

fn stop_tasks(
    mirror: Option<tokio::task::JoinHandle<()>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
) {
    for t in mirror.into_iter().chain(watchers) {
        t.abort();
    }
}

/// Tasks that hand every change of the node's leadership and member view
/// to `report`.
fn spawn_watchers<Rp: Report>(
    node: &Node,
    mut leadership: watch::Receiver<Leadership>,
    report: Arc<Rp>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let mut peers = node.peers().subscribe();
    let r = report.clone();
    let lead = tokio::spawn(async move {
        loop {
            r.leadership(&leadership.borrow_and_update());
            if leadership.changed().await.is_err() {
                return;
            }
        }
    });
    let members = tokio::spawn(async move {
        loop {
            if let Some(m) = peers.borrow_and_update().as_ref() {
                report.members(m);
            }
            if peers.changed().await.is_err() {
                return;
            }
        }
    });
    vec![lead, members]
}
