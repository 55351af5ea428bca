//! The Swarm engine: each node of a run is a one-task service on an
//! attachable overlay network, placed round robin over the swarm's nodes,
//! with DNS round robin endpoints (its name resolves to its task, as a
//! container name does on a bridge network) and restart policy `none`, so
//! that a kill stays a kill until the nemesis starts the node again.
//!
//! Swarm cannot restart a task's container (its network attachment dies
//! with the task), so a restart is a forced update: a new task, a new
//! container, on the node it was placed on. What the node wrote survives
//! in named volumes at its kind's data folders, created on that node.
//! Files a node needs before it starts (certificates) are swarm configs.
//!
//! Every service, config and volume carries the run's labels and is
//! removed with the run ([`remove`]).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;
use bollard::models::{
    ConfigSpec, EndpointSpec, EndpointSpecModeEnum, Mount, MountType, MountVolumeOptions,
    NetworkAttachmentConfig, ServiceSpec, ServiceSpecMode, ServiceSpecModeReplicated, TaskSpec,
    TaskSpecContainerSpec, TaskSpecContainerSpecConfigs, TaskSpecContainerSpecFile1,
    TaskSpecPlacement, TaskSpecRestartPolicy, TaskSpecRestartPolicyConditionEnum, TaskState,
};
use bollard::query_parameters::{
    ListConfigsOptionsBuilder, ListNodesOptionsBuilder, ListServicesOptionsBuilder,
    ListTasksOptionsBuilder, ListVolumesOptionsBuilder, RemoveVolumeOptionsBuilder,
    UpdateServiceOptionsBuilder,
};
use bollard::Docker;

use super::remove::removed;
use super::{ctx, gone, RunError, RUN_LABEL};

/// The label Swarm puts on every task's container: its service's name.
pub const SERVICE_LABEL: &str = "com.docker.swarm.service.name";

/// How long a task may take to be scheduled and start.
const TASK_DEADLINE: Duration = Duration::from_secs(60);

/// A swarm node a task can be placed on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmNode {
    /// The node id (what placement constraints name).
    pub id: String,
    /// Its host name (what logs and reports name).
    pub hostname: String,
}

/// The swarm's ready, active nodes in a stable order; an error naming the
/// fix when this daemon is no swarm manager.
pub async fn nodes(docker: &Docker) -> Result<Vec<SwarmNode>, RunError> {
    let not_manager = |e: bollard::errors::Error| RunError {
        action: "list the swarm's nodes (the swarm engine needs a manager: \
                 `docker swarm init` here, or DOCKER_HOST set to a manager's endpoint)"
            .into(),
        source: Box::new(e),
    };
    let list = docker
        .list_nodes(Some(ListNodesOptionsBuilder::new().build()))
        .await
        .map_err(not_manager)?;
    let mut nodes: Vec<SwarmNode> = list
        .into_iter()
        .filter(|n| {
            let ready = n
                .status
                .as_ref()
                .and_then(|s| s.state)
                .is_some_and(|s| s.to_string() == "ready");
            let active = n
                .spec
                .as_ref()
                .and_then(|s| s.availability)
                .is_some_and(|a| a.to_string() == "active");
            ready && active
        })
        .filter_map(|n| {
            Some(SwarmNode {
                id: n.id?,
                hostname: n.description.and_then(|d| d.hostname).unwrap_or_default(),
            })
        })
        .collect();
    nodes.sort_by(|a, b| (&a.hostname, &a.id).cmp(&(&b.hostname, &b.id)));
    Ok(nodes)
}

/// What one node's service is made of.
pub struct Service<'a> {
    /// The service name (also its DNS name on the network).
    pub name: &'a str,
    /// Its host name inside.
    pub hostname: &'a str,
    /// The local image, by id (an id is never pulled).
    pub image: &'a str,
    /// Its command.
    pub cmd: &'a [&'a str],
    /// Files (path inside, contents) present before it starts.
    pub files: &'a [(String, Vec<u8>)],
    /// A host folder bind-mounted at `super::SHARED_DIR`.
    pub shared: Option<std::path::PathBuf>,
    /// Folders kept across its restarts.
    pub data: &'a [String],
    /// The overlay network.
    pub network: &'a str,
    /// The node it is placed on.
    pub on: &'a SwarmNode,
    /// Whether Swarm starts a new task when one ends (`any`), or not.
    pub always: bool,
    /// The run's labels.
    pub labels: HashMap<String, String>,
}

/// Creates the one-task service `s` and waits for its task's container to
/// run; returns the container id.
pub async fn start(docker: &Docker, s: &Service<'_>) -> Result<String, RunError> {
    let mut configs = Vec::new();
    for (i, (path, bytes)) in s.files.iter().enumerate() {
        // Swarm takes config names of up to 64 characters; a service's may
        // be 63 already.
        let name = format!(
            "clusterlab-{:016x}",
            disco::backoff::fnv1a(format!("{}-{i}", s.name).as_bytes())
        );
        let id = docker
            .create_config(ConfigSpec {
                name: Some(name.clone()),
                labels: Some(s.labels.clone()),
                data: Some(base64::engine::general_purpose::STANDARD.encode(bytes)),
                ..Default::default()
            })
            .await
            .map_err(ctx(format!("create swarm config {name} for {path}")))?
            .id;
        configs.push(TaskSpecContainerSpecConfigs {
            file: Some(TaskSpecContainerSpecFile1 {
                name: Some(path.clone()),
                uid: Some("0".into()),
                gid: Some("0".into()),
                mode: Some(0o644),
            }),
            config_id: Some(id),
            config_name: Some(name),
            ..Default::default()
        });
    }
    let mut mounts: Vec<Mount> = s
        .data
        .iter()
        .enumerate()
        .map(|(i, dir)| Mount {
            target: Some(dir.clone()),
            source: Some(volume(s.name, i)),
            typ: Some(MountType::VOLUME),
            volume_options: Some(MountVolumeOptions {
                labels: Some(s.labels.clone()),
                ..Default::default()
            }),
            ..Default::default()
        })
        .collect();
    if let Some(dir) = &s.shared {
        mounts.push(Mount {
            target: Some(super::SHARED_DIR.to_string()),
            source: Some(dir.to_string_lossy().into_owned()),
            typ: Some(MountType::BIND),
            ..Default::default()
        });
    }
    let spec = ServiceSpec {
        name: Some(s.name.to_string()),
        labels: Some(s.labels.clone()),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(s.image.to_string()),
                labels: Some(s.labels.clone()),
                command: Some(s.cmd.iter().map(|c| c.to_string()).collect()),
                hostname: Some(s.hostname.to_string()),
                mounts: Some(mounts),
                configs: Some(configs),
                ..Default::default()
            }),
            restart_policy: Some(TaskSpecRestartPolicy {
                condition: Some(if s.always {
                    TaskSpecRestartPolicyConditionEnum::ANY
                } else {
                    TaskSpecRestartPolicyConditionEnum::NONE
                }),
                ..Default::default()
            }),
            placement: Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={}", s.on.id)]),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(s.network.to_string()),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated { replicas: Some(1) }),
            ..Default::default()
        }),
        endpoint_spec: Some(EndpointSpec {
            mode: Some(EndpointSpecModeEnum::DNSRR),
            ..Default::default()
        }),
        ..Default::default()
    };
    docker
        .create_service(spec, None)
        .await
        .map_err(ctx(format!("create service {} from {}", s.name, s.image)))?;
    running(docker, s.name, None).await
}

/// The volume of service `name`'s `i`th data folder.
fn volume(name: &str, i: usize) -> String {
    format!("{name}-data{i}")
}

/// Starts service `name`'s node again: a forced update, so a new task on
/// the same node with the same volumes. Returns the new container's id.
pub async fn restart(docker: &Docker, name: &str) -> Result<String, RunError> {
    update(docker, name, None).await
}

/// Moves service `name`'s task as Swarm does when its node fails: a new
/// task, placed on `on`, with new, empty volumes (a volume stays on the
/// node it was made on). Returns the new container's id.
pub async fn reschedule(docker: &Docker, name: &str, on: &SwarmNode) -> Result<String, RunError> {
    update(docker, name, Some(on)).await
}

/// A forced update of service `name`: a new task; with `moved_to`, there
/// and with fresh volumes.
async fn update(
    docker: &Docker,
    name: &str,
    moved_to: Option<&SwarmNode>,
) -> Result<String, RunError> {
    let before = task(docker, name).await?.and_then(|t| t.id);
    let service = docker
        .inspect_service(name, None)
        .await
        .map_err(ctx(format!("inspect service {name}")))?;
    let version = service.version.and_then(|v| v.index).unwrap_or_default();
    let mut spec = service.spec.unwrap_or_default();
    if let Some(t) = spec.task_template.as_mut() {
        let generation = t.force_update.unwrap_or(0) + 1;
        t.force_update = Some(generation);
        if let Some(on) = moved_to {
            t.placement = Some(TaskSpecPlacement {
                constraints: Some(vec![format!("node.id=={}", on.id)]),
                ..Default::default()
            });
            let mounts = t
                .container_spec
                .as_mut()
                .and_then(|c| c.mounts.as_mut())
                .into_iter()
                .flatten();
            let volumes = mounts.filter(|m| m.typ == Some(MountType::VOLUME));
            for (i, m) in volumes.enumerate() {
                m.source = Some(format!("{}.g{generation}", volume(name, i)));
            }
        }
    }
    let opts = UpdateServiceOptionsBuilder::new()
        .version(version as i32)
        .build();
    docker
        .update_service(name, spec, opts, None)
        .await
        .map_err(ctx(format!("update service {name} to start it again")))?;
    running(docker, name, before.as_deref()).await
}

/// Service `name`'s newest task.
async fn task(docker: &Docker, name: &str) -> Result<Option<bollard::models::Task>, RunError> {
    let filters = HashMap::from([("service", vec![name.to_string()])]);
    let mut tasks = docker
        .list_tasks(Some(
            ListTasksOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(ctx(format!("list the tasks of service {name}")))?;
    // The one Swarm wants running; else the newest.
    if let Some(i) = tasks
        .iter()
        .position(|t| t.desired_state == Some(TaskState::RUNNING))
    {
        return Ok(Some(tasks.swap_remove(i)));
    }
    tasks.sort_by_key(|t| t.created_at.as_ref().map(|c| instant_key(&c.to_string())));
    Ok(tasks.pop())
}

/// An RFC 3339 time as a key that sorts in time order: Go drops the
/// fraction's trailing zeros, so the strings alone do not.
fn instant_key(t: &str) -> (String, u64) {
    let t = t.trim_end_matches('Z');
    let (secs, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
    let nanos = format!("{digits:0<9}").parse().unwrap_or(0);
    (secs.to_string(), nanos)
}

/// Waits for service `name`'s newest task (other than `not`) to run;
/// returns its container id. A task that fails to start (an image not on
/// its node, a bad mount) is named with Swarm's reason.
async fn running(docker: &Docker, name: &str, not: Option<&str>) -> Result<String, RunError> {
    let deadline = tokio::time::Instant::now() + TASK_DEADLINE;
    loop {
        let t = task(docker, name).await?.filter(|t| t.id.as_deref() != not);
        if let Some(t) = &t {
            let status = t.status.clone().unwrap_or_default();
            let state = status.state;
            let container = status.container_status.and_then(|c| c.container_id);
            match (state, container) {
                (Some(TaskState::RUNNING), Some(id)) => return Ok(id),
                (Some(TaskState::FAILED | TaskState::REJECTED), _) => {
                    return Err(RunError {
                        action: format!("start service {name}"),
                        source: format!(
                            "its task {}: {}",
                            status.message.unwrap_or_default(),
                            status.err.unwrap_or_default()
                        )
                        .into(),
                    })
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(RunError {
                action: format!("start service {name}"),
                source: format!("its task did not run within {TASK_DEADLINE:?}").into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The containers of service `name`'s tasks, oldest first: one per life.
pub async fn containers(
    docker: &Docker,
    name: &str,
) -> Result<Vec<bollard::models::ContainerSummary>, RunError> {
    let mut list =
        super::remove::containers_labelled(docker, &format!("{SERVICE_LABEL}={name}")).await?;
    // Docker lists the newest first; `created` is in whole seconds, so
    // within one second that order (reversed) decides.
    list.reverse();
    list.sort_by_key(|c| c.created);
    Ok(list)
}

/// The container service `name` runs in now: its running one, else the
/// newest.
pub async fn current(docker: &Docker, name: &str) -> Result<Option<String>, RunError> {
    let list = containers(docker, name).await?;
    let running = list
        .iter()
        .rev()
        .find(|c| c.state.as_ref().is_some_and(|s| s.to_string() == "running"));
    Ok(running.or(list.last()).and_then(|c| c.id.clone()))
}

/// Removes run `id`'s services; their tasks' containers go on Swarm's
/// time (the caller removes them too). A daemon that is no swarm manager
/// has none.
pub async fn remove_services(docker: &Docker, id: &str) -> Result<(), RunError> {
    let label = format!("{RUN_LABEL}={id}");
    let filters = HashMap::from([("label", vec![label.clone()])]);
    let services = match docker
        .list_services(Some(
            ListServicesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
    {
        Ok(s) => s,
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 503, ..
        }) => return Ok(()),
        Err(e) => return Err(ctx(format!("list services labelled {label}"))(e)),
    };
    for s in services {
        if let Some(sid) = s.id {
            docker
                .delete_service(&sid)
                .await
                .or_else(gone)
                .map_err(ctx(format!("remove service {sid}")))?;
        }
    }
    Ok(())
}

/// Removes run `id`'s configs and volumes, once no container uses them.
pub async fn remove_configs_and_volumes(docker: &Docker, id: &str) -> Result<(), RunError> {
    let label = format!("{RUN_LABEL}={id}");
    let filters = HashMap::from([("label", vec![label.clone()])]);
    match docker
        .list_configs(Some(
            ListConfigsOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
    {
        Ok(configs) => {
            for c in configs {
                if let Some(cid) = c.id {
                    removed(format!("remove config {cid}"), || {
                        docker.delete_config(&cid)
                    })
                    .await?;
                }
            }
        }
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 503, ..
        }) => {}
        Err(e) => return Err(ctx(format!("list configs labelled {label}"))(e)),
    }
    let volumes = docker
        .list_volumes(Some(
            ListVolumesOptionsBuilder::new().filters(&filters).build(),
        ))
        .await
        .map_err(ctx(format!("list volumes labelled {label}")))?;
    for v in volumes.volumes.unwrap_or_default() {
        let force = || Some(RemoveVolumeOptionsBuilder::new().force(true).build());
        removed(format!("remove volume {}", v.name), || {
            docker.remove_volume(&v.name, force())
        })
        .await?;
    }
    Ok(())
}
