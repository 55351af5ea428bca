//! The run's two images, the nodes' and the store's: the lab's own, built
//! from Debian's packages, or the ones a scenario names (`image = ...`,
//! e.g. from the user's registry), with what the lab needs layered on.
//!
//! A named image must already be on this machine (the lab never pulls: a
//! pull is traffic to a registry) and must carry the server the lab starts
//! on its PATH; both are checked before the run starts, and an error names
//! the scenario's line.

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use clusterlab_scenario::{Image, Scenario, StoreKind};
use futures_util::StreamExt;

use super::kind::Kind;
use super::WorldError;
use crate::image::{self, stock};
use crate::run::Run;

/// The image tags a run starts its containers from.
#[derive(Debug, Clone)]
pub struct Images {
    /// The cluster nodes'.
    pub node: String,
    /// The discovery store's.
    pub store: String,
}

/// PATH when an image sets none (Docker's default).
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The server binary a kind's node or store runs from a named image.
pub fn server(kind: StoreKind) -> &'static str {
    match kind {
        StoreKind::Etcd => "etcd",
        StoreKind::Consul => "consul",
    }
}

/// Builds (or finds) both images for `scenario`, checking the named ones.
pub async fn resolve(
    docker: &Docker,
    scenario: &Scenario,
    kind: &Kind,
    run_id: &str,
) -> Result<Images, WorldError> {
    let node_server = match kind {
        Kind::Etcd => Some("etcd"),
        Kind::Consul => Some("consul"),
        _ => None,
    };
    let base_id = match &scenario.cluster.image {
        Some(i) => {
            let id = present(docker, i).await?;
            if let Some(bin) = node_server {
                has_on_path(docker, i, bin, run_id).await?;
            }
            Some(id)
        }
        None => None,
    };
    let node = image::ensure(docker, &kind.recipe(scenario, base_id.as_deref())?)
        .await?
        .tag;
    let d = &scenario.discovery;
    let store_recipe = match &d.image {
        Some(i) => {
            let id = present(docker, i).await?;
            has_on_path(docker, i, server(d.kind), run_id).await?;
            stock::layered("clusterlab/store", &i.name, &id, false)?
        }
        None => match d.kind {
            StoreKind::Etcd => stock::etcd()?,
            StoreKind::Consul => stock::consul()?,
        },
    };
    let store = image::ensure(docker, &store_recipe).await?.tag;
    Ok(Images { node, store })
}

/// The id of the named image, which must be on this machine.
async fn present(docker: &Docker, i: &Image) -> Result<String, WorldError> {
    crate::docker::image_id(docker, &i.name)
        .await
        .map_err(|e| WorldError::Unsupported(e.to_string()))?
        .ok_or_else(|| {
            WorldError::Unsupported(format!(
                "{}: image {} is not on this machine, and clusterlab never pulls; \
                 `docker pull {}` (or `docker load`) first, or remove `image` for the lab's own",
                i.at, i.name, i.name
            ))
        })
}

/// Checks that `bin` is in a folder of the image's PATH, by reading it out
/// of a container created (never started) from the image.
async fn has_on_path(
    docker: &Docker,
    i: &Image,
    bin: &str,
    run_id: &str,
) -> Result<(), WorldError> {
    let api = |e: bollard::errors::Error| WorldError::Unsupported(format!("{}: {e}", i.at));
    let inspected = docker.inspect_image(&i.name).await.map_err(api)?;
    let path = inspected
        .config
        .and_then(|c| c.env)
        .unwrap_or_default()
        .into_iter()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_string))
        .unwrap_or_else(|| DEFAULT_PATH.to_string());
    let body = ContainerCreateBody {
        image: Some(i.name.clone()),
        // Never run; an image without a command still needs one to exist.
        entrypoint: Some(vec!["/clusterlab-never-run".into()]),
        labels: Some(Run::labels_for(run_id)),
        ..Default::default()
    };
    let name = format!("clusterlab-{run_id}-image-check");
    let created = docker
        .create_container(
            Some(CreateContainerOptionsBuilder::new().name(&name).build()),
            body,
        )
        .await
        .map_err(api)?;
    let mut found = None;
    for dir in path.split(':').filter(|d| d.starts_with('/')) {
        let file = format!("{}/{bin}", dir.trim_end_matches('/'));
        let mut stream = docker.download_from_container(
            &created.id,
            Some(
                DownloadFromContainerOptionsBuilder::new()
                    .path(&file)
                    .build(),
            ),
        );
        if matches!(stream.next().await, Some(Ok(_))) {
            found = Some(file);
            break;
        }
    }
    let _ = docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await;
    match found {
        Some(_) => Ok(()),
        None => Err(WorldError::Unsupported(format!(
            "{}: image {} has no `{bin}` on its PATH ({path}); the lab starts `{bin}` from it: \
             use an image that carries it, or remove `image` for the lab's own",
            i.at, i.name
        ))),
    }
}
