//! `disco-agent`: announce a node, resolve its peers, then run and supervise
//! the database with a command line rendered from them.

mod config;
mod etcd_join;
mod leader_gate;
mod status;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use clap::Parser;
use disco::backend::{ConsulRegistry, Credentials, EtcdRegistry};
use disco::bootstrap::Role;
use disco::keys::Keys;
use disco::leader::{LeaderRecord, Leadership};
use disco::node::{Node, NodeConfig};
use disco::peers::Membership;
use disco::{render, supervise, Registry, RegistryError};
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
    let mut args = args;
    if let Some(path) = &args.wait_for_file {
        let began = std::time::Instant::now();
        if let Err(e) = rt.block_on(wait_for(path, args.startup_timeout)) {
            eprintln!("disco-agent: error: {e}");
            return ExitCode::from(1);
        }
        // The wait counts in --startup-timeout.
        args.startup_timeout = args.startup_timeout.saturating_sub(began.elapsed());
    }
    let creds = match token(&args).and_then(|token| {
        Credentials::from_files(
            args.ca.as_deref(),
            args.cert.as_deref(),
            args.key.as_deref(),
            token,
        )
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("disco-agent: error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = rt.block_on(async move {
        let result = match backend {
            Backend::Etcd(endpoints) => {
                match EtcdRegistry::connect_with(&endpoints, &creds).await {
                    Ok(r) => run(r, args).await,
                    Err(e) => Err(anyhow::Error::new(e)),
                }
            }
            Backend::Consul(address) => match ConsulRegistry::connect_with(&address, &creds) {
                Ok(r) => {
                    let r = match &args.consul_session_node {
                        Some(n) => r.with_session_node(n),
                        None => r,
                    };
                    run(r, args).await
                }
                Err(e) => Err(anyhow::Error::new(e)),
            },
        };
        result.unwrap_or_else(|e| {
            error!("{e:#}");
            eprintln!("disco-agent: error: {e:#}");
            // Credentials the store refuses are the user's to fix, as a bad
            // flag is: no retry will help.
            if refused(&e) {
                2
            } else {
                1
            }
        })
    });
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Waits until `path` exists, up to `deadline`.
async fn wait_for(path: &std::path::Path, deadline: std::time::Duration) -> Result<(), String> {
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

/// Whether the store refused this agent's credentials.
fn refused(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        matches!(
            c.downcast_ref::<RegistryError>(),
            Some(RegistryError::Refused { .. })
        ) || matches!(
            c.downcast_ref::<disco::DiscoError>(),
            Some(disco::DiscoError::Registry(RegistryError::Refused { .. }))
        )
    })
}

async fn run<R: Registry>(registry: R, args: Args) -> anyhow::Result<i32> {
    let cfg = NodeConfig {
        prefix: args.prefix.clone(),
        cluster: args.cluster.clone(),
        node: args.node_id.clone(),
        address: args.advertise.clone(),
        ttl: args.ttl,
        // With a leader probe, the gate below campaigns instead.
        campaign: !args.no_leader && args.leader_probe.is_none(),
    };
    info!(backend = registry.kind(), node = %cfg.node, cluster = %cfg.cluster, "starting");
    let node = Node::start_uncommitted(registry.clone(), cfg.clone(), args.startup_timeout).await?;
    // The leadership the status endpoint reports: the node's own election,
    // or the one the leader gate runs while the database leads.
    let (gated, leadership) = match node.election() {
        Some(e) => (None, e.subscribe()),
        None => {
            let (tx, rx) = tokio::sync::watch::channel(Leadership::Unknown);
            (Some(tx), rx)
        }
    };
    let journal = match &args.journal {
        Some(path) => Some(Arc::new(disco::journal::Journal::open(path).map_err(
            |e| anyhow::anyhow!("--journal {}: cannot open it: {e}", path.display()),
        )?)),
        None => None,
    };
    let journal_task = journal.clone().map(|j| {
        let mut rx = leadership.clone();
        tokio::spawn(async move {
            loop {
                j.leadership(&rx.borrow_and_update());
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
    });
    let committed = Arc::new(AtomicBool::new(false));
    let status_task = args.status_port.map(|port| {
        tokio::spawn(status::serve(
            port,
            status::Status {
                node: cfg.node.clone(),
                role: node.role().clone(),
                committed: committed.clone(),
                lease: node.announcement().subscribe(),
                peers: node.peers().subscribe(),
                leadership,
            },
        ))
    });
    let mut plan = node.join_plan(args.join_timeout).await?;
    let learner = match (args.etcd_member_add, plan.peers.is_empty()) {
        (Some(port), false) => etcd_join::member_add(&mut plan, port, args.join_timeout).await?,
        _ => None,
    };
    info!(role = ?plan.role, peers = ?plan.peers, leader = ?plan.leader, "resolved peers");
    let argv = render::render(&args.command, &plan);
    let peers_file = args.peers_file.clone().map(|path| {
        let rx = node.peers().subscribe();
        tokio::spawn(write_peers_file(path, rx))
    });
    let gate = match (&args.leader_probe, args.no_leader, gated) {
        (Some(url), false, Some(tx)) => Some(tokio::spawn(leader_gate::follow(
            registry.clone(),
            Keys::new(&cfg.prefix, &cfg.cluster),
            LeaderRecord {
                node: cfg.node.clone(),
                address: cfg.address.clone(),
            },
            node.announcement().subscribe(),
            leader_gate::Probe::new(url.clone(), args.leader_match.clone()),
            tx,
        ))),
        _ => None,
    };
    let promote = learner.map(|l| tokio::spawn(etcd_join::promote(l, args.join_timeout)));
    // A bootstrapper commits once its database is ready; if its claim lapsed
    // first, the cluster it started must not be used: stop the database.
    let lost = AtomicBool::new(false);
    let commit = async {
        if *node.role() != Role::Bootstrap {
            return std::future::pending().await;
        }
        if let Some(url) = &args.ready_probe {
            let probe = leader_gate::Probe::new(url.clone(), None);
            while !probe.leads().await {
                tokio::time::sleep(leader_gate::EVERY).await;
            }
        }
        match node.bootstrapped(&registry).await {
            Ok(()) => {
                committed.store(true, Ordering::Relaxed);
                if let Some(j) = &journal {
                    j.bootstrap();
                }
                std::future::pending().await
            }
            Err(e) => {
                error!("{e}");
                lost.store(true, Ordering::Relaxed);
            }
        }
    };
    let status = supervise::run(&argv, commit).await;
    for t in [peers_file, gate, promote, status_task, journal_task]
        .into_iter()
        .flatten()
    {
        t.abort();
    }
    node.shutdown().await;
    info!("deregistered");
    if lost.load(Ordering::Relaxed) {
        anyhow::bail!(
            "the bootstrap claim lapsed before the database was ready; its new cluster was stopped"
        );
    }
    Ok(supervise::exit_code(status?))
}

/// Keeps `path` holding one peer address per line, rewritten atomically on
/// every membership change, for databases that re-read a hosts file.
async fn write_peers_file(
    path: std::path::PathBuf,
    mut rx: tokio::sync::watch::Receiver<Option<Membership>>,
) {
    loop {
        let text = rx.borrow_and_update().as_ref().map(|m| {
            m.members
                .iter()
                .map(|x| format!("{}\n", x.address))
                .collect::<String>()
        });
        if let Some(text) = text {
            let tmp = path.with_extension("tmp");
            if tokio::fs::write(&tmp, text).await.is_ok() {
                let _ = tokio::fs::rename(&tmp, &path).await;
            }
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}
