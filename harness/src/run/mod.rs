//! A run's Docker resources: one user-defined network and the containers on
//! it, all labelled with the run id, removed at teardown, on drop (pass,
//! failure, panic) and, through the CLI's handler, on Ctrl-C. Resources of
//! runs whose process died are reaped by the next run ([`reap`]).

pub mod reap;

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerSummary, EndpointSettings, HostConfig, Network,
    NetworkCreateRequest, NetworkingConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, KillContainerOptionsBuilder, ListContainersOptionsBuilder,
    ListNetworksOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

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
    pub source: bollard::errors::Error,
}

fn ctx(action: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> RunError {
    let action = action.into();
    move |source| RunError { action, source }
}

/// This machine's name, for [`HOST_LABEL`].
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A live run. Call [`Run::teardown`]; dropping it tears down too.
#[derive(Debug)]
pub struct Run {
    docker: Docker,
    id: String,
    network: String,
    torn_down: bool,
}

impl Run {
    /// Reaps what dead runs left, then creates this run's network.
    pub async fn start(docker: Docker, id: &str) -> Result<Run, RunError> {
        reap::reap(&docker).await?;
        let network = format!("clusterlab-{id}");
        docker
            .create_network(NetworkCreateRequest {
                name: network.clone(),
                driver: Some("bridge".into()),
                labels: Some(Self::labels_for(id)),
                ..Default::default()
            })
            .await
            .map_err(ctx(format!("create network {network}")))?;
        Ok(Run {
            docker,
            id: id.to_string(),
            network,
            torn_down: false,
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

    /// The run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The run's network name.
    pub fn network(&self) -> &str {
        &self.network
    }

    /// The Docker name of this run's container `name`.
    pub fn container(&self, name: &str) -> String {
        format!("{}-{name}", self.network)
    }

    /// Creates and starts container `name` (prefixed with the run id) from
    /// `image` running `cmd` on the run's network, with `name` as hostname
    /// and as its DNS name on the network.
    pub async fn start_container(
        &self,
        name: &str,
        image: &str,
        cmd: &[&str],
    ) -> Result<String, RunError> {
        let full = self.container(name);
        let body = ContainerCreateBody {
            image: Some(image.to_string()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            hostname: Some(name.to_string()),
            labels: Some(Self::labels_for(&self.id)),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                ..Default::default()
            }),
            networking_config: Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    self.network.clone(),
                    EndpointSettings {
                        aliases: Some(vec![name.to_string()]),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(&full).build();
        let created = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(ctx(format!("create container {full} from {image}")))?;
        self.docker
            .start_container(&created.id, None)
            .await
            .map_err(ctx(format!("start container {full}")))?;
        Ok(created.id)
    }

    /// Sends SIGKILL to container `name` (no clean shutdown).
    pub async fn kill(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        self.docker
            .kill_container(
                &full,
                Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()),
            )
            .await
            .map_err(ctx(format!("kill container {full}")))
    }

    /// Starts stopped container `name` again, with its data.
    pub async fn restart(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        self.docker
            .start_container(&full, None)
            .await
            .map_err(ctx(format!("start container {full}")))
    }

    /// Freezes container `name` (cgroup freezer).
    pub async fn pause(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        self.docker
            .pause_container(&full)
            .await
            .map_err(ctx(format!("pause container {full}")))
    }

    /// Thaws container `name`.
    pub async fn unpause(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        self.docker
            .unpause_container(&full)
            .await
            .map_err(ctx(format!("unpause container {full}")))
    }

    /// Container `name`'s stdout and stderr so far, over all its lives.
    pub async fn logs(&self, name: &str) -> Result<String, RunError> {
        let full = self.container(name);
        let opts = LogsOptionsBuilder::new()
            .stdout(true)
            .stderr(true)
            .timestamps(true)
            .build();
        let mut stream = self.docker.logs(&full, Some(opts));
        let mut text = String::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(ctx(format!("logs of container {full}")))?;
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        Ok(text)
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

/// Containers (in any state) and networks carrying `label`: a key alone
/// (`clusterlab.run`) or `key=value`.
pub async fn labelled(
    docker: &Docker,
    label: &str,
) -> Result<(Vec<ContainerSummary>, Vec<Network>), RunError> {
    let filter = HashMap::from([("label", vec![label.to_string()])]);
    let containers = docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .map_err(ctx(format!("list containers labelled {label}")))?;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .map_err(ctx(format!("list networks labelled {label}")))?;
    Ok((containers, networks))
}

/// Removes the containers (forcibly, with volumes) and networks of run `id`.
pub async fn remove_run(docker: &Docker, id: &str) -> Result<(), RunError> {
    let (containers, networks) = labelled(docker, &format!("{RUN_LABEL}={id}")).await?;
    for c in containers {
        if let Some(cid) = c.id {
            docker
                .remove_container(
                    &cid,
                    Some(
                        RemoveContainerOptionsBuilder::new()
                            .force(true)
                            .v(true)
                            .build(),
                    ),
                )
                .await
                .map_err(ctx(format!("remove container {cid}")))?;
        }
    }
    for n in networks {
        if let Some(nid) = n.id {
            docker
                .remove_network(&nid)
                .await
                .map_err(ctx(format!("remove network {nid}")))?;
        }
    }
    Ok(())
}
