//! A run's Docker resources: one user-defined network and the containers on
//! it, all labelled with the run id, removed at teardown, on drop (pass,
//! failure, panic) and, through the CLI's handler, on Ctrl-C. Resources of
//! runs whose process died are reaped by the next run ([`reap`]).
//!
//! Every call is plain bollard: the lab creates, starts, kills and removes
//! containers itself (a container framework added a build-protocol stack
//! to the compile and ports published on the host that nothing used).
//! Each container is reached on the network by its run-unique name
//! ([`Run::container`]): a short name would collide between concurrent
//! runs.

mod control;
pub mod exits;
mod files;
pub mod reap;
pub mod remove;
mod start;
pub mod swarm;

pub use exits::Exits;
use remove::gone;
pub use remove::{labelled, remove_run};

use std::collections::{BTreeMap, HashMap};

use bollard::models::NetworkCreateRequest;
use bollard::Docker;

/// The label every resource of a run carries; its value is the run id.
pub const RUN_LABEL: &str = "clusterlab.run";
/// The pid of the process that owns the run.
pub const PID_LABEL: &str = "clusterlab.pid";
/// The host that process runs on (a pid means nothing elsewhere).
pub const HOST_LABEL: &str = "clusterlab.host";

/// A Docker call that failed, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("docker: {action}: {source}")]
pub struct RunError {
    /// What we were doing.
    pub action: String,
    /// The daemon's error.
    #[source]
    pub source: Box<dyn std::error::Error + Send + Sync>,
}

fn ctx<E: std::error::Error + Send + Sync + 'static>(
    action: impl Into<String>,
) -> impl FnOnce(E) -> RunError {
    let action = action.into();
    move |source| RunError {
        action,
        source: Box::new(source),
    }
}

/// This machine's name, for [`HOST_LABEL`].
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// What runs the nodes: one Docker daemon, or a Docker Swarm.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ContainerEngine {
    /// Containers on one daemon's bridge network.
    #[default]
    Docker,
    /// One-task services on an overlay network ([`swarm`]).
    Swarm,
}

impl ContainerEngine {
    /// Its name on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ContainerEngine::Docker => "docker",
            ContainerEngine::Swarm => "swarm",
        }
    }
}

/// A file put into a container: its absolute path inside, its contents.
pub type File = (String, Vec<u8>);

/// A live run. Call [`Run::teardown`]; dropping it tears down too.
pub struct Run {
    docker: Docker,
    id: String,
    network: String,
    engine: ContainerEngine,
    /// The swarm's nodes, tasks placed round robin over them.
    swarm_nodes: Vec<swarm::SwarmNode>,
    /// Where each node's service is placed, by container (service) name.
    placed: std::sync::Mutex<BTreeMap<String, swarm::SwarmNode>>,
    /// Folders each node keeps across restarts, by short name (Swarm
    /// only: a plain container keeps its whole file system).
    data: std::sync::Mutex<BTreeMap<String, Vec<String>>>,
    /// Whether the engine starts a cluster node again when it ends.
    restart_nodes: bool,
    /// Files written into each running node ([`Run::put_file`]), by short
    /// name: a Swarm restart is a new container, which gets them again.
    written: std::sync::Mutex<BTreeMap<String, Vec<File>>>,
    /// How each container was started, by short name: a reschedule
    /// starts it anew.
    specs: std::sync::Mutex<BTreeMap<String, start::Spec>>,
    /// Earlier containers of each node replaced by a reschedule (one
    /// daemon only), oldest first: kept for their logs.
    retired: std::sync::Mutex<BTreeMap<String, Vec<String>>>,
    torn_down: bool,
    exits: Exits,
    /// Host folders bind-mounted into the nodes (their agents' journals),
    /// removed with the run.
    shared: tempfile::TempDir,
}

/// Where a node's shared folder is mounted inside it.
pub const SHARED_DIR: &str = "/clusterlab-shared";

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Run")
            .field("id", &self.id)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl Run {
    /// Reaps what dead runs left, then creates this run's network, on one
    /// Docker daemon.
    pub async fn start(docker: Docker, id: &str) -> Result<Run, RunError> {
        Self::start_on(docker, id, ContainerEngine::Docker).await
    }

    /// As [`Run::start`], on `engine`: for Swarm the daemon must be a
    /// swarm manager, and the network is an attachable overlay.
    pub async fn start_on(
        docker: Docker,
        id: &str,
        engine: ContainerEngine,
    ) -> Result<Run, RunError> {
        let swarm_nodes = match engine {
            ContainerEngine::Docker => Vec::new(),
            ContainerEngine::Swarm => swarm::nodes(&docker).await?,
        };
        reap::reap(&docker).await?;
        let network = network_name(id);
        let (driver, attachable) = match engine {
            ContainerEngine::Docker => ("bridge", None),
            ContainerEngine::Swarm => ("overlay", Some(true)),
        };
        docker
            .create_network(NetworkCreateRequest {
                name: network.clone(),
                driver: Some(driver.into()),
                attachable,
                labels: Some(Self::labels_for(id)),
                ..Default::default()
            })
            .await
            .map_err(ctx(format!("create network {network}")))?;
        Ok(Run {
            docker,
            id: id.to_string(),
            network,
            engine,
            swarm_nodes,
            placed: Default::default(),
            data: Default::default(),
            restart_nodes: false,
            written: Default::default(),
            specs: Default::default(),
            retired: Default::default(),
            torn_down: false,
            exits: Exits::default(),
            shared: tempfile::Builder::new()
                .prefix(&format!("clusterlab-{id}-"))
                .tempdir()
                .map_err(ctx("make the run's shared folder"))?,
        })
    }

    /// The labels of every resource of run `id` owned by this process.
    pub fn labels_for(id: &str) -> HashMap<String, String> {
        HashMap::from([
            (RUN_LABEL.to_string(), id.to_string()),
            (PID_LABEL.to_string(), std::process::id().to_string()),
            (HOST_LABEL.to_string(), hostname()),
        ])
    }

    /// The exits this run causes (kills and stops), by container name.
    pub fn exits(&self) -> Exits {
        self.exits.clone()
    }

    /// The run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The run's network name.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The Docker name of this run's container `name` (on Swarm, its
    /// service's): the name its peers reach it by.
    pub fn container(&self, name: &str) -> String {
        container_name(&self.id, name)
    }

    /// The network the host reaches the nodes on, when it is not the
    /// run's: on Swarm, the bridge Docker links each node's tasks to the
    /// host by (so a multi-node swarm's tasks on other nodes are out of
    /// the host's reach: see the README's Swarm section).
    pub fn host_side(&self) -> Option<&str> {
        match self.engine {
            ContainerEngine::Docker => None,
            ContainerEngine::Swarm => Some("docker_gwbridge"),
        }
    }

    /// Has the engine start every cluster node ([`Run::start_node`]) again
    /// when its process ends: Docker's `always` (kills and stops asked for
    /// here stay), Swarm's `any` (every end, as in production).
    pub fn restarting_nodes(mut self, always: bool) -> Run {
        self.restart_nodes = always;
        self
    }

    /// Whether cluster nodes are started again by the engine.
    pub fn restarts_nodes(&self) -> bool {
        self.restart_nodes
    }

    /// The engine the run's nodes run on.
    pub fn engine(&self) -> ContainerEngine {
        self.engine
    }

    /// The container node `name` runs in now: on Swarm, its service's
    /// newest task's (a new one after each restart).
    pub async fn target(&self, name: &str) -> String {
        let full = self.container(name);
        if self.engine == ContainerEngine::Docker {
            return full;
        }
        match swarm::current(&self.docker, &full).await {
            Ok(Some(id)) => id,
            _ => full,
        }
    }

    /// The swarm node that runs node `name`'s tasks (Swarm only).
    pub fn placement(&self, name: &str) -> Option<String> {
        self.placed
            .lock()
            .expect("placement lock")
            .get(&self.container(name))
            .map(|n| n.hostname.clone())
    }

    /// Keeps folders `dirs` of node `name` across its restarts (on Swarm,
    /// as volumes; a plain container keeps everything): call before
    /// starting it.
    pub fn keep_across_restarts(&self, name: &str, dirs: &[&str]) {
        self.data.lock().expect("data lock").insert(
            name.to_string(),
            dirs.iter().map(|d| d.to_string()).collect(),
        );
    }

    /// The Docker client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Removes every container and network labelled with this run's id,
    /// whether or not this handle created it.
    pub async fn teardown(mut self) -> Result<(), RunError> {
        self.torn_down = true;
        remove_run(&self.docker, &self.id).await
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.torn_down {
            return;
        }
        // Drop cannot await: tear down on a thread with its own runtime, and
        // wait for it, so that a panicking test still leaves nothing behind.
        let (docker, id) = (self.docker.clone(), self.id.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(remove_run(&docker, &id));
            }
        })
        .join();
    }
}

/// The longest DNS label: container names are the nodes' host names
/// (Erlang node names, Galera and Consul addresses resolve them).
const DNS_LABEL_MAX: usize = 63;

/// `clusterlab-<run id>-<node>`, or, when that is no DNS label (a long run
/// id: RabbitMQ then fails to boot with `nxdomain`), the run id replaced by
/// a hash of it.
fn container_name(run: &str, node: &str) -> String {
    label(run, &format!("-{node}"))
}

/// `clusterlab-<run id>`, a DNS label as [`container_name`] is: Docker's
/// DNS names a container's address `<container>.<network>`, and with a
/// network name of 64 characters every reverse lookup of a node's address
/// failed after 10 s (each connection to an rsync daemon, which looks its
/// client up, so a Galera state transfer took a minute; the CI failures
/// of galera-etcd-store-cut-during-formation, whose run id is 53
/// characters with a 5-digit pid).
fn network_name(run: &str) -> String {
    label(run, "")
}

/// `clusterlab-<run><tail>`, or with the run id hashed when that is longer
/// than a DNS label.
fn label(run: &str, tail: &str) -> String {
    let full = format!("clusterlab-{run}{tail}");
    if full.len() <= DNS_LABEL_MAX {
        return full;
    }
    let hash = run.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    format!("clusterlab-{:012x}{tail}", hash >> 16)
}

#[cfg(test)]
mod name_tests {
    use super::*;

    #[test]
    fn container_names_are_dns_labels_and_distinct() {
        assert_eq!(container_name("1795-42", "n1"), "clusterlab-1795-42-n1");
        let long = "t-rabbitmq-consul-store-cut-during-formation-13206";
        let a = container_name(long, "n1");
        assert!(a.len() <= DNS_LABEL_MAX, "{a}");
        assert_ne!(a, container_name(long, "n2"));
        assert_ne!(a, container_name(&format!("{long}7"), "n1"));
    }

    #[test]
    fn network_names_are_dns_labels_and_distinct() {
        assert_eq!(network_name("1795-42"), "clusterlab-1795-42");
        let long = "t-galera-etcd-store-cut-during-formation-docker-16304";
        let n = network_name(long);
        assert!(n.len() <= DNS_LABEL_MAX, "{n}");
        assert_ne!(n, network_name(&format!("{long}7")));
    }
}
