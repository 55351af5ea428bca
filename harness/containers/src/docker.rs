//! The Docker daemon: reaching it, and what images it holds.
//!
//! Nothing here pulls: a pull sends traffic to a registry, which a test must
//! never do, so pulling is left to an explicit user action.

use bollard::Docker;

/// Why Docker cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No daemon answered.
    #[error(
        "cannot reach the Docker daemon ({endpoint}): {reason}; start Docker or set DOCKER_HOST"
    )]
    Unreachable {
        /// `DOCKER_HOST` or the default socket.
        endpoint: String,
        /// What failed.
        reason: String,
    },
    /// The daemon answered with an error.
    #[error("docker: {action}: {reason}")]
    Api {
        /// What was asked.
        action: String,
        /// The daemon's answer.
        reason: String,
    },
}

/// Connects (honouring `DOCKER_HOST`) and checks the daemon answers.
pub async fn connect() -> Result<Docker, DockerError> {
    let endpoint =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    let unreachable = |reason: String| DockerError::Unreachable {
        endpoint: endpoint.clone(),
        reason,
    };
    let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
    match tokio::time::timeout(std::time::Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => Ok(docker),
        Ok(Err(e)) => Err(unreachable(e.to_string())),
        Err(_) => Err(unreachable("no answer within 5s".into())),
    }
}

/// The id of local image `image`, or `None` if it is not here.
pub async fn image_id(docker: &Docker, image: &str) -> Result<Option<String>, DockerError> {
    match docker.inspect_image(image).await {
        Ok(i) => Ok(i.id),
        Err(bollard::errors::Error::DockerResponseServerError {
            status_code: 404, ..
        }) => Ok(None),
        Err(e) => Err(DockerError::Api {
            action: format!("inspect image {image}"),
            reason: e.to_string(),
        }),
    }
}

/// Whether `image` is present locally.
pub async fn has_image(docker: &Docker, image: &str) -> Result<bool, DockerError> {
    Ok(image_id(docker, image).await?.is_some())
}
