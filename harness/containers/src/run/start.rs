//! Starting a run's containers: a plain container on the run's bridge, or
//! on Swarm a one-task service placed round robin over the swarm's nodes.

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::CreateContainerOptionsBuilder;

use super::{ctx, swarm, ContainerEngine, File, Run, RunError, SHARED_DIR};

/// What to start: one node or helper of the run.
struct Start<'a> {
    /// Its short name (its host name; the run id prefixes its container's).
    name: &'a str,
    /// A local image (never pulled).
    image: &'a str,
    cmd: &'a [&'a str],
    /// Copied in before it starts (the run's certificates).
    files: &'a [File],
    /// The host folder mounted at [`SHARED_DIR`], for cluster nodes.
    shared: Option<std::path::PathBuf>,
    /// Whether the engine starts it again when it ends.
    always: bool,
}

/// A [`Start`] kept, to start the same node anew.
#[derive(Debug, Clone)]
pub(super) struct Spec {
    image: String,
    cmd: Vec<String>,
    files: Vec<File>,
    shared: Option<std::path::PathBuf>,
    always: bool,
}

impl Run {
    /// Starts container `name` (prefixed with the run id) from the local
    /// `image` running `cmd` on the run's network, with `name` as its
    /// hostname. Returns its id.
    pub async fn start_container(
        &self,
        name: &str,
        image: &str,
        cmd: &[&str],
    ) -> Result<String, RunError> {
        self.start_container_with(name, image, cmd, &[]).await
    }

    /// Starts a container as [`Self::start_container`] does, with `files`
    /// (path inside, contents) copied in before it starts: the run's
    /// certificates, which never touch the host's disk.
    pub async fn start_container_with(
        &self,
        name: &str,
        image: &str,
        cmd: &[&str],
        files: &[File],
    ) -> Result<String, RunError> {
        self.start_one(Start {
            name,
            image,
            cmd,
            files,
            shared: None,
            always: false,
        })
        .await
    }

    /// Starts a cluster node as [`Self::start_container_with`] does, with
    /// its own host folder ([`Run::shared_dir`]) mounted at
    /// [`SHARED_DIR`]: what its agent writes there (its journal) can be
    /// read from the host whatever the node's network or state.
    pub async fn start_node(
        &self,
        name: &str,
        image: &str,
        cmd: &[&str],
        files: &[File],
    ) -> Result<String, RunError> {
        let dir = self
            .shared_dir(name)
            .map_err(ctx(format!("make {name}'s shared folder")))?;
        self.start_one(Start {
            name,
            image,
            cmd,
            files,
            shared: Some(dir),
            always: self.restart_nodes,
        })
        .await
    }

    async fn start_one(&self, s: Start<'_>) -> Result<String, RunError> {
        self.specs.lock().expect("specs lock").insert(
            s.name.to_string(),
            Spec {
                image: s.image.to_string(),
                cmd: s.cmd.iter().map(|c| c.to_string()).collect(),
                files: s.files.to_vec(),
                shared: s.shared.clone(),
                always: s.always,
            },
        );
        match self.engine {
            ContainerEngine::Docker => self.start_container_on_bridge(s).await,
            ContainerEngine::Swarm => self.start_service(s).await,
        }
    }

    /// Replaces node `name`'s container by a new one from the same image,
    /// command and files, with none of its data: what a move to another
    /// host leaves (the caller has stopped it; its shared folder stays, it
    /// is the lab's). On Swarm, a new task on the next swarm node, with
    /// new volumes.
    pub async fn reschedule(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        if self.engine == ContainerEngine::Swarm {
            let on = self.next_placement(&full)?;
            self.exits
                .start(&full, swarm::reschedule(&self.docker, &full, &on))
                .await?;
            self.placed
                .lock()
                .expect("placement lock")
                .insert(full.clone(), on.clone());
            tracing::info!(node = name, swarm_node = %on.hostname, "task rescheduled");
            return Ok(());
        }
        let spec = self.specs.lock().expect("specs lock").get(name).cloned();
        let spec = spec.ok_or_else(|| RunError {
            action: format!("reschedule {full}"),
            source: "it was never started".into(),
        })?;
        // The old container is kept under another name until teardown (it
        // is labelled with the run), so that its logs stay readable. Its
        // address was freed when it stopped, and Docker hands the new one
        // that address again; a task on another host gets another one, as
        // on Swarm.
        let old = {
            let mut retired = self.retired.lock().expect("retired lock");
            let lives = retired.entry(name.to_string()).or_default();
            let old = format!("{full}.{}", lives.len() + 1);
            lives.push(old.clone());
            old
        };
        let opts = bollard::query_parameters::RenameContainerOptionsBuilder::new()
            .name(&old)
            .build();
        self.docker
            .rename_container(&full, opts)
            .await
            .map_err(ctx(format!("rename container {full} to {old}")))?;
        let cmd: Vec<&str> = spec.cmd.iter().map(String::as_str).collect();
        // What was written into it while it ran (a hold file its agent
        // waits for) is there again before it starts, as on Swarm.
        let files = [spec.files, self.written_into(name)].concat();
        self.start_container_on_bridge(Start {
            name,
            image: &spec.image,
            cmd: &cmd,
            files: &files,
            shared: spec.shared.clone(),
            always: spec.always,
        })
        .await
        .map(drop)
    }

    /// The swarm node after the one container `full` is placed on.
    fn next_placement(&self, full: &str) -> Result<swarm::SwarmNode, RunError> {
        let placed = self.placed.lock().expect("placement lock");
        let now = placed.get(full).map(|n| n.id.clone());
        let i = self
            .swarm_nodes
            .iter()
            .position(|n| Some(&n.id) == now.as_ref())
            .map_or(0, |i| i + 1);
        let on = self
            .swarm_nodes
            .get(i % self.swarm_nodes.len().max(1))
            .cloned()
            .ok_or_else(|| RunError {
                action: format!("reschedule service {full}"),
                source: "the swarm has no ready, active node".into(),
            })?;
        Ok(on)
    }

    async fn start_container_on_bridge(&self, s: Start<'_>) -> Result<String, RunError> {
        let full = self.container(s.name);
        let mounts = s.shared.map(|dir| {
            vec![Mount {
                target: Some(SHARED_DIR.to_string()),
                source: Some(dir.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                ..Default::default()
            }]
        });
        let body = ContainerCreateBody {
            image: Some(s.image.to_string()),
            cmd: Some(s.cmd.iter().map(|c| c.to_string()).collect()),
            hostname: Some(s.name.to_string()),
            labels: Some(Self::labels_for(&self.id)),
            host_config: Some(HostConfig {
                network_mode: Some(self.network.clone()),
                mounts,
                restart_policy: s.always.then(|| RestartPolicy {
                    name: Some(RestartPolicyNameEnum::ALWAYS),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let opts = CreateContainerOptionsBuilder::new().name(&full).build();
        // Never pulled: a missing image is the daemon's 404, named here.
        let id = self
            .docker
            .create_container(Some(opts), body)
            .await
            .map_err(ctx(format!("create container {full} from {}", s.image)))?
            .id;
        if !s.files.is_empty() {
            self.upload(&full, s.files).await?;
        }
        self.exits
            .start(&full, self.docker.start_container(&full, None))
            .await
            .map_err(ctx(format!("start container {full} from {}", s.image)))?;
        Ok(id)
    }

    /// Starts node `s.name` as a one-task service, placed round robin.
    async fn start_service(&self, s: Start<'_>) -> Result<String, RunError> {
        let full = self.container(s.name);
        let on = {
            let mut placed = self.placed.lock().expect("placement lock");
            let on = self
                .swarm_nodes
                .get(placed.len() % self.swarm_nodes.len().max(1))
                .cloned()
                .ok_or_else(|| RunError {
                    action: format!("place service {full}"),
                    source: "the swarm has no ready, active node".into(),
                })?;
            placed.insert(full.clone(), on.clone());
            on
        };
        let data = self
            .data
            .lock()
            .expect("data lock")
            .get(s.name)
            .cloned()
            .unwrap_or_default();
        // By id: Swarm's agent tries to pull an image named by a tag
        // before each task, and an id is never pulled (and survives `docker
        // save | docker load` onto other nodes).
        let image = s.image;
        let image_id = crate::docker::image_id(&self.docker, image)
            .await
            .map_err(|e| RunError {
                action: format!("inspect image {image}"),
                source: Box::new(e),
            })?
            .ok_or_else(|| RunError {
                action: format!("start service {full}"),
                source: format!("image {image} is not on this daemon (nothing is pulled)").into(),
            })?;
        let service = swarm::Service {
            name: &full,
            hostname: s.name,
            image: &image_id,
            cmd: s.cmd,
            files: s.files,
            shared: s.shared,
            data: &data,
            network: &self.network,
            on: &on,
            always: s.always,
            labels: Self::labels_for(&self.id),
        };
        let id = self
            .exits
            .start(&full, swarm::start(&self.docker, &service))
            .await?;
        tracing::info!(node = s.name, swarm_node = %on.hostname, "task running");
        Ok(id)
    }
}
