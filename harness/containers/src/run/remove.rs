//! Finding and removing a run's resources: what teardown, drop and the
//! reaper share.

use std::collections::HashMap;

use bollard::models::{ContainerSummary, Network};
use bollard::query_parameters::{
    ListContainersOptionsBuilder, ListNetworksOptionsBuilder, RemoveContainerOptionsBuilder,
};
use bollard::Docker;

use super::{ctx, swarm, RunError, RUN_LABEL};

/// Containers (in any state) and networks carrying `label`: a key alone
/// (`clusterlab.run`) or `key=value`.
pub async fn labelled(
    docker: &Docker,
    label: &str,
) -> Result<(Vec<ContainerSummary>, Vec<Network>), RunError> {
    let filter = HashMap::from([("label", vec![label.to_string()])]);
    let containers = containers_labelled(docker, label).await?;
    let networks = docker
        .list_networks(Some(
            ListNetworksOptionsBuilder::new().filters(&filter).build(),
        ))
        .await
        .map_err(ctx(format!("list networks labelled {label}")))?;
    Ok((containers, networks))
}

/// Containers (in any state) carrying `label`.
pub async fn containers_labelled(
    docker: &Docker,
    label: &str,
) -> Result<Vec<ContainerSummary>, RunError> {
    let filter = HashMap::from([("label", vec![label.to_string()])]);
    docker
        .list_containers(Some(
            ListContainersOptionsBuilder::new()
                .all(true)
                .filters(&filter)
                .build(),
        ))
        .await
        .map_err(ctx(format!("list containers labelled {label}")))
}

/// Removes the services, containers (forcibly, with volumes), swarm
/// configs and networks of run `id`.
pub async fn remove_run(docker: &Docker, id: &str) -> Result<(), RunError> {
    swarm::remove_services(docker, id).await?;
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
                .or_else(gone)
                .map_err(ctx(format!("remove container {cid}")))?;
        }
    }
    swarm::remove_configs_and_volumes(docker, id).await?;
    let mut overlay = false;
    for n in networks {
        let Some(nid) = n.id else { continue };
        if n.driver.as_deref() == Some("overlay") {
            // An overlay keeps its tasks' endpoints a moment after their
            // services are gone: its removal is refused until then.
            overlay = true;
            removed(format!("remove network {nid}"), || {
                docker.remove_network(&nid)
            })
            .await?;
        } else {
            docker
                .remove_network(&nid)
                .await
                .or_else(gone)
                .map_err(ctx(format!("remove network {nid}")))?;
        }
    }
    if !overlay {
        return Ok(());
    }
    // A swarm network's removal is accepted at once and done a moment
    // later: the run is gone only once the network is.
    let label = format!("{RUN_LABEL}={id}");
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while !labelled(docker, &label).await?.1.is_empty() {
        if tokio::time::Instant::now() >= deadline {
            return Err(RunError {
                action: format!("remove the network of run {id}"),
                source: "it was still listed 30 s after its removal".into(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Removes something that may still be in use a moment (a volume or config
/// of a container Swarm is still removing, an overlay with endpoints):
/// retried for 30 s; gone already (404) counts as removed.
pub(super) async fn removed<F, Fut>(what: String, mut remove: F) -> Result<(), RunError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), bollard::errors::Error>>,
{
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match remove().await {
            Ok(())
            | Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(()),
            Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => return Err(ctx(what)(e)),
        }
    }
}

/// Something another process (a reaper) removed or is
/// removing already counts as removed.
pub(super) fn gone(e: bollard::errors::Error) -> Result<(), bollard::errors::Error> {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404 | 409,
            ..
        } => Ok(()),
        e => Err(e),
    }
}
