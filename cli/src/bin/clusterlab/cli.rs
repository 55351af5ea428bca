//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Run database clusters that form through etcd or Consul, inject faults,
/// and check convergence and data safety: in containers or in a
/// deterministic simulator, from one scenario file.
#[derive(Debug, Parser)]
#[command(version)]
pub struct Cli {
    /// Folder of scenarios named by name (default: $CLUSTERLAB_SCENARIOS, else
    /// ./scenarios, else the ones shipped in the binary).
    #[arg(long, global = true, value_name = "DIR")]
    pub scenario_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run scenarios against real containers (default: the quick scenario).
    Run(RunArgs),
    /// Run one scenario under the deterministic simulator, over many seeds.
    Sim(SimArgs),
    /// List the shipped scenarios with their worlds and length.
    List,
    /// Check a recorded operation history for linearizability (per key):
    /// exit 0 valid, 1 anomaly, 2 bad input, 3 undecided (search budget).
    Check {
        /// A `history.jsonl`, a run folder holding one, or a Jepsen
        /// `.edn` register history (its key: the file's name).
        history: PathBuf,
    },
    /// Write a run's register history in another checker's format: one
    /// Jepsen EDN file per key (`--jepsen`), for Knossos or elle-cli.
    Export {
        /// A `history.jsonl`, or a run folder holding one.
        history: PathBuf,
        /// Jepsen's EDN (the only format so far).
        #[arg(long, required = true)]
        jepsen: bool,
        /// Where the files go (default: `jepsen/` beside the history).
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// Write DIR/index.html: every run under DIR newest first (scenario,
    /// world, seed, verdict, failover, convergence, writes lost, date)
    /// with links, and each scenario's failover and convergence by run.
    Report {
        /// A results folder (`--out` of run and sim).
        #[arg(default_value = "target/clusterlab")]
        dir: PathBuf,
    },
    /// Combine the verdict files of a sweep's shards (`sim --shard K/M`):
    /// the combined verdict and every failing seed with its replay; exit 0
    /// pass, 1 a seed failed, 2 a shard missing or a file unreadable.
    Merge {
        /// Verdict files, or folders searched for them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Fetch the servers and build the Debian bases of KINDS now (default:
    /// every kind), as a run would on first use; into the user cache
    /// ($CLUSTERLAB_CACHE, else $XDG_CACHE_HOME/clusterlab).
    Setup {
        /// etcd, consul, generic, patroni, rabbitmq, rabbitmq4, galera.
        kinds: Vec<String>,
    },
    /// Check what the container world needs on this machine (Docker, root,
    /// iptables, nsenter, kernel features, the cache), with the fix for
    /// each missing piece; exit 1 if one is missing.
    Doctor,
    /// Check scenario files (default: every shipped one); exit 2 on any error.
    Validate {
        /// Files to check.
        files: Vec<PathBuf>,
    },
}

/// `clusterlab run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario names (in the scenarios folder) or paths; none runs `quick`.
    pub scenarios: Vec<String>,
    /// Where results go: <OUT>/<scenario>/<run-id>/ with a `latest` link.
    #[arg(long, value_name = "DIR", default_value = "target/clusterlab")]
    pub out: PathBuf,
    /// Seed for `random` targets and jitter (default: from the run id).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Keep containers and networks after the run, for inspection.
    #[arg(long)]
    pub keep: bool,
    /// What runs the nodes: `docker` (one daemon) or `swarm` (one service
    /// per node on the swarm whose manager DOCKER_HOST names; the images
    /// must be on every swarm node).
    #[arg(long, value_enum, default_value = "docker")]
    pub engine: EngineArg,
}

/// `--engine`.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum EngineArg {
    /// Containers on one Docker daemon.
    Docker,
    /// One-task services on a Docker Swarm.
    Swarm,
}

/// `clusterlab sim`.
#[derive(Debug, Args)]
pub struct SimArgs {
    /// Scenario name (in the scenarios folder) or path.
    pub scenario: String,
    /// How many seeds to run, from 0 (in parallel across cores).
    #[arg(long, default_value_t = 100, conflicts_with = "seed")]
    pub seeds: u64,
    /// Replay exactly this seed, writing its full trace.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Node logic to simulate: disco, or a baseline the simulator must
    /// catch (naive: the seeds' shell glue; rqlite-style: a leader key
    /// with no TTL, overwritten unconditionally; late-window: a bug planted
    /// 4 ms wide, which only event stepping sees).
    #[arg(long, default_value = "disco", value_parser = ["disco", "naive", "rqlite-style", "late-window"])]
    pub strategy: String,
    /// Fault schedules: the scenario's own, or generated and shrunk on failure.
    #[arg(long, value_enum, default_value = "scenario")]
    pub schedule: Schedule,
    /// Where results go: <OUT>/<scenario>/<run-id>/, and a sweep's
    /// verdict file <OUT>/<scenario>/sweep/.
    #[arg(long, value_name = "DIR", default_value = "target/clusterlab")]
    pub out: PathBuf,
    /// Run only shard K of M of the seeds (seeds K-1, K-1+M, ...), on one
    /// machine of a CI matrix, and write its verdict file for
    /// `clusterlab merge`.
    #[arg(long, value_name = "K/M", value_parser = parse_shard, conflicts_with = "seed")]
    pub shard: Option<(u64, u64)>,
}

/// `K/M` with 1 <= K <= M.
fn parse_shard(s: &str) -> Result<(u64, u64), String> {
    let bad = || format!("{s:?} is not a shard: write K/M with 1 <= K <= M, e.g. 2/4");
    let (k, m) = s.split_once('/').ok_or_else(bad)?;
    let (k, m): (u64, u64) = (
        k.trim().parse().map_err(|_| bad())?,
        m.trim().parse().map_err(|_| bad())?,
    );
    if k == 0 || m == 0 || k > m {
        return Err(bad());
    }
    Ok((k, m))
}

/// Where a simulated run's faults come from.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Schedule {
    /// The scenario file's [[faults]].
    Scenario,
    /// Generated per seed by proptest; failures are shrunk.
    Generated,
}
