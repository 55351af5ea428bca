//! Building a [`Recipe`] through the Docker API from an in-memory tar.

use std::path::PathBuf;

use bollard::query_parameters::BuildImageOptionsBuilder;
use bollard::Docker;
use futures_util::StreamExt;

use super::recipe::Recipe;
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

/// Builds `recipe` unless an image with its tag exists already.
pub async fn ensure(docker: &Docker, recipe: &Recipe) -> Result<Built, ImageError> {
    let tag = recipe.tag()?;
    if docker::has_image(docker, &tag).await? {
        return Ok(Built { tag, fresh: false });
    }
    let context = tar_context(recipe)?;
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
fn tar_context(recipe: &Recipe) -> Result<Vec<u8>, ImageError> {
    let mut tar = tar::Builder::new(Vec::new());
    let add = |tar: &mut tar::Builder<Vec<u8>>, path: &str, bytes: &[u8], mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(mode);
        h.set_mtime(0);
        h.set_cksum();
        tar.append_data(&mut h, path, bytes)
    };
    let io = |path: PathBuf| {
        move |e: std::io::Error| ImageError::Input {
            path,
            reason: e.to_string(),
        }
    };
    add(
        &mut tar,
        "Dockerfile",
        recipe.dockerfile().as_bytes(),
        0o644,
    )
    .map_err(io(PathBuf::from("Dockerfile")))?;
    for (dest, host) in &recipe.files {
        let bytes = std::fs::read(host).map_err(io(host.clone()))?;
        add(&mut tar, &format!("rootfs/{dest}"), &bytes, 0o755).map_err(io(host.clone()))?;
    }
    tar.into_inner().map_err(io(PathBuf::from("context.tar")))
}
