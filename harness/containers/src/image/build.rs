//! Building a [`Recipe`] through the Docker API from an in-memory tar.

use std::path::PathBuf;

use bollard::query_parameters::{
    BuildImageOptionsBuilder, ListImagesOptionsBuilder, RemoveImageOptions,
};
use bollard::Docker;
use futures_util::StreamExt;

use super::recipe::{Inputs, Recipe};
use crate::docker;

/// Why an image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// An input file is missing or unreadable.
    #[error("image input {path}: {reason}")]
    Input {
        /// The host file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Docker refused the build; `step` is the last step it reported.
    #[error("building {tag} failed at {step:?}: {reason}")]
    Build {
        /// The tag being built.
        tag: String,
        /// The last `Step n/m : ...` line the daemon printed.
        step: String,
        /// The daemon's error.
        reason: String,
    },
    /// The daemon could not be reached.
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
}

/// The outcome of [`ensure`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// `name:hash`.
    pub tag: String,
    /// False when an image with this tag already existed.
    pub fresh: bool,
}

/// Other tags of a repository older than this are pruned by [`ensure`]:
/// old enough that no concurrent run can still be about to use them.
const STALE_AFTER_SECS: i64 = 3600;

/// Builds `recipe` unless an image with its tag exists already, then prunes
/// stale tags of the same repository.
pub async fn ensure(docker: &Docker, recipe: &Recipe) -> Result<Built, ImageError> {
    let inputs = recipe.read()?;
    let built = build_if_missing(docker, &inputs).await?;
    prune_stale(docker, &recipe.name, &built.tag).await;
    Ok(built)
}

/// Removes tags of `repo` other than `keep` that are over an hour old.
/// Without force, so an image any container still uses stays; failures are
/// ignored (pruning is housekeeping, not the caller's goal).
async fn prune_stale(docker: &Docker, repo: &str, keep: &str) {
    let filters = std::collections::HashMap::from([("reference", vec![repo.to_string()])]);
    let opts = ListImagesOptionsBuilder::new().filters(&filters).build();
    let Ok(images) = docker.list_images(Some(opts)).await else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    for img in images {
        if now - img.created < STALE_AFTER_SECS {
            continue;
        }
        for t in img
            .repo_tags
            .iter()
            .filter(|t| t.as_str() != keep && t.starts_with(&format!("{repo}:")))
        {
            let _ = docker
                .remove_image(t, None::<RemoveImageOptions>, None)
                .await;
        }
    }
}

async fn build_if_missing(docker: &Docker, inputs: &Inputs) -> Result<Built, ImageError> {
    let tag = inputs.tag();
    if docker::has_image(docker, &tag).await? {
        return Ok(Built { tag, fresh: false });
    }
    let context = tar_context(inputs)?;
    let opts = BuildImageOptionsBuilder::new()
        .dockerfile("Dockerfile")
        .t(&tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    let mut step = String::from("(before the first step)");
    while let Some(item) = stream.next().await {
        let fail = |reason: String, step: &str| ImageError::Build {
            tag: tag.clone(),
            step: step.to_string(),
            reason,
        };
        match item {
            Ok(info) => {
                if let Some(s) = info.stream.as_deref() {
                    if let Some(line) = s.lines().find(|l| l.starts_with("Step ")) {
                        step = line.trim().to_string();
                    }
                }
                if let Some(detail) = info.error_detail {
                    return Err(fail(detail.message.unwrap_or_default(), &step));
                }
            }
            Err(e) => return Err(fail(e.to_string(), &step)),
        }
    }
    if !docker::has_image(docker, &tag).await? {
        return Err(ImageError::Build {
            tag: tag.clone(),
            step,
            reason: "the daemon reported no error but the image is missing".into(),
        });
    }
    Ok(Built { tag, fresh: true })
}

/// The build context: `Dockerfile` and `rootfs/<dest>` for every file.
fn tar_context(inputs: &Inputs) -> Result<Vec<u8>, ImageError> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, bytes: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, path, bytes)
            .map_err(|e| ImageError::Input {
                path: PathBuf::from(path),
                reason: format!("adding to the build context: {e}"),
            })
    };
    add("Dockerfile", inputs.dockerfile.as_bytes(), 0o644)?;
    for (dest, bytes) in &inputs.files {
        add(&format!("rootfs/{dest}"), bytes, 0o755)?;
    }
    tar.into_inner().map_err(|e| ImageError::Input {
        path: PathBuf::from("context.tar"),
        reason: e.to_string(),
    })
}
