//! `disco-agent`: announce a node, resolve its peers, then run and supervise
//! the database with a command line rendered from them. The logic is
//! [`disco::agent`]'s; this binary holds the flags, the real child process
//! and its HTTP probes ([`process`]), the status endpoint, the journal and
//! the peers file.

mod config;
mod etcd_join;
mod process;
mod status;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;
use disco::agent::{self, AgentConfig, Exit, LeaderMode, Phase, Report};
use disco::backend::{ConsulRegistry, Credentials, EtcdRegistry};
use disco::journal::Journal;
use disco::leader::Leadership;
use disco::node::{JoinPlan, NodeConfig};
use disco::peers::Membership;
use disco::{Registry, RegistryError};
use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::{error, info};

use config::{Args, Backend};

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let backend = match args.validate() {
        Ok(b) => b,
        Err(e) => {
            eprintln!("disco-agent: error: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("disco-agent: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let code = rt.block_on(async move {
        // From the first instant: a stop in any phase, start-up included,
        // resigns and deregisters (as PID 1 an unhandled SIGTERM is
        // ignored until Docker's SIGKILL).
        let signals = match Signals::install() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("disco-agent: error: cannot handle signals: {e}");
                return 1;
            }
        };
        match start(args, backend, &signals).await {
            Ok(code) => code,
            Err(e) => {
                error!("{e:#}");
                eprintln!("disco-agent: error: {e:#}");
                // Credentials the store refuses, a bad setting: the user's
                // to fix, as a bad flag is; no retry will help.
                if refused(&e) {
                    2
                } else {
                    1
                }
            }
        }
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// SIGTERM and SIGINT: the first asks the agent to stop, and each is
/// passed on to the database.
struct Signals {
    stopped: watch::Receiver<bool>,
    received: process::Received,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let (tx, stopped) = watch::channel(false);
        let received: process::Received = Arc::new(Mutex::new(process::Signals {
            last: Signal::SIGTERM,
            count: 0,
            child: None,
        }));
        let shared = received.clone();
        tokio::spawn(async move {
            loop {
                let sig = tokio::select! {
                    _ = term.recv() => Signal::SIGTERM,
                    _ = int.recv() => Signal::SIGINT,
                };
                info!(signal = %sig, "received");
                let mut s = shared.lock().expect("signal lock");
                s.last = sig;
                s.count += 1;
                // The first stops the agent, which stops the database
                // with it; a later one goes straight to the database.
                if s.count > 1 {
                    if let Some(pid) = s.child {
                        let _ = nix::sys::signal::kill(pid, sig);
                    }
                }
                drop(s);
                tx.send_replace(true);
            }
        });
        Ok(Signals { stopped, received })
    }

    /// Resolves once a stop signal has arrived.
    fn stop(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.stopped.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    }
}

async fn start(args: Args, backend: Backend, signals: &Signals) -> anyhow::Result<i32> {
    let mut args = args;
    if let Some(path) = args.wait_for_file.clone() {
        let began = std::time::Instant::now();
        tokio::select! {
            r = wait_for(&path, args.startup_timeout) => r.map_err(anyhow::Error::msg)?,
            _ = signals.stop() => return Ok(0),
        }
        // The wait counts in --startup-timeout.
        args.startup_timeout = args.startup_timeout.saturating_sub(began.elapsed());
    }
    let creds = Credentials::from_files(
        args.ca.as_deref(),
        args.cert.as_deref(),
        args.key.as_deref(),
        token(&args)?,
    )?;
    match backend {
        Backend::Etcd(endpoints) => {
            let r = tokio::select! {
                r = EtcdRegistry::connect_with(&endpoints, &creds) => r?,
                _ = signals.stop() => return Ok(0),
            };
            let r = r.with_jitter(&args.node_id);
            run(r, args, signals).await
        }
        Backend::Consul(address) => {
            let r = ConsulRegistry::connect_with(&address, &creds)?.with_jitter(&args.node_id);
            let r = match &args.consul_session_node {
                Some(n) => r.with_session_node(n),
                None => r,
            };
            run(r, args, signals).await
        }
    }
}

/// Waits until `path` exists, up to `deadline`.
async fn wait_for(path: &Path, deadline: std::time::Duration) -> Result<(), String> {
    let give_up = tokio::time::Instant::now() + deadline;
    info!(file = %path.display(), "waiting for the file before starting");
    while !path.exists() {
        if tokio::time::Instant::now() >= give_up {
            return Err(format!(
                "{} did not appear within --startup-timeout {deadline:?}",
                path.display()
            ));
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    Ok(())
}

/// The token from --token, or the first line of --token-file.
fn token(args: &Args) -> Result<Option<String>, RegistryError> {
    match &args.token_file {
        None => Ok(args.token.clone()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| RegistryError::Config {
                what: "token",
                reason: format!("cannot read {}: {e}", path.display()),
            })?;
            match text.lines().next().map(str::trim).filter(|t| !t.is_empty()) {
                Some(t) => Ok(Some(t.to_string())),
                None => Err(RegistryError::Config {
                    what: "token",
                    reason: format!("{} is empty", path.display()),
                }),
            }
        }
    }
}

/// Whether the store refused this agent's credentials, or a setting is
/// bad (an unreadable token file, say).
fn refused(e: &anyhow::Error) -> bool {
    let ours = |r: &RegistryError| {
        matches!(
            r,
            RegistryError::Refused { .. } | RegistryError::Config { .. }
        )
    };
    e.chain().any(|c| {
        c.downcast_ref::<RegistryError>().is_some_and(ours)
            || matches!(
                c.downcast_ref::<disco::DiscoError>(),
                Some(disco::DiscoError::Registry(r)) if ours(r)
            )
            || matches!(
                c.downcast_ref::<agent::AgentError>(),
                Some(agent::AgentError::Disco(disco::DiscoError::Registry(r))) if ours(r)
            )
    })
}

async fn run<R: Registry>(registry: R, args: Args, signals: &Signals) -> anyhow::Result<i32> {
    let cfg = AgentConfig {
        node: NodeConfig {
            prefix: args.prefix.clone(),
            cluster: args.cluster.clone(),
            node: args.node_id.clone(),
            address: args.advertise.clone(),
            ttl: args.ttl,
            campaign: false,
        },
        leader: match (args.no_leader, &args.leader_probe) {
            (true, _) => LeaderMode::None,
            (false, Some(_)) => LeaderMode::Gate,
            (false, None) => LeaderMode::Campaign,
        },
        startup_timeout: args.startup_timeout,
        join_timeout: args.join_timeout,
        ready_timeout: args.ready_timeout,
    };
    let journal =
        match &args.journal {
            Some(path) => Some(Journal::open(path).map_err(|e| {
                anyhow::anyhow!("--journal {}: cannot open it: {e}", path.display())
            })?),
            None => None,
        };
    let status: status::Shared = Arc::new(Mutex::new(status::Status {
        node: args.node_id.clone(),
        phase: Phase::Registering,
        role: None,
        committed: false,
        peers: None,
        leadership: Leadership::Unknown,
    }));
    let status_task = args
        .status_port
        .map(|port| tokio::spawn(status::serve(port, status.clone())));
    let report = Arc::new(Reports {
        status,
        journal,
        peers_file: args.peers_file.clone(),
    });
    let probe = process::HttpProbe::new(
        args.leader_probe
            .clone()
            .map(|u| (u, args.leader_match.clone())),
        args.ready_probe.clone(),
    );
    let db = process::Process::new(
        args.command.clone(),
        probe,
        args.etcd_member_add.map(|p| (p, args.join_timeout)),
        signals.received.clone(),
    );
    let result = agent::run(registry, db, cfg, report, signals.stop()).await;
    if let Some(t) = status_task {
        t.abort();
    }
    match result? {
        Exit::Database(code) => Ok(code),
        Exit::Stopped => Ok(0),
    }
}

/// The binary's report: the status endpoint's state, the journal, the
/// peers file.
struct Reports {
    status: status::Shared,
    journal: Option<Journal>,
    peers_file: Option<PathBuf>,
}

impl Report for Reports {
    fn phase(&self, phase: Phase) {
        self.status.lock().expect("status lock").phase = phase;
        if let Some(j) = &self.journal {
            j.phase(phase.name());
        }
    }

    fn claimed(&self) {
        if let Some(j) = &self.journal {
            j.claimed();
        }
    }

    fn database(&self, running: bool) {
        if let Some(j) = &self.journal {
            j.database(running);
        }
    }

    fn leadership(&self, l: &Leadership) {
        self.status.lock().expect("status lock").leadership = l.clone();
        if let Some(j) = &self.journal {
            j.leadership(l);
        }
    }

    fn members(&self, m: &Membership) {
        self.status.lock().expect("status lock").peers =
            Some(m.members.iter().map(|x| x.node.clone()).collect());
        if let Some(path) = &self.peers_file {
            write_peers_file(path, m);
        }
    }

    fn plan(&self, plan: &JoinPlan) {
        self.status.lock().expect("status lock").role = Some(plan.role.clone());
    }

    fn bootstrapped(&self) {
        self.status.lock().expect("status lock").committed = true;
        if let Some(j) = &self.journal {
            j.bootstrap();
        }
    }
}

/// Keeps `path` holding one peer address per line, rewritten atomically
/// on every membership change, for databases that re-read a hosts file.
fn write_peers_file(path: &Path, m: &Membership) {
    let text: String = m
        .members
        .iter()
        .map(|x| format!("{}\n", x.address))
        .collect();
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, text).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}
