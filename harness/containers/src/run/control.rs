//! Acting on a run's nodes by short name: kill, stop, start again,
//! freeze, thaw; and reading what they printed and how they ended. On
//! Swarm each acts on the node's current task ([`Run::target`]).

use bollard::query_parameters::{
    KillContainerOptionsBuilder, LogsOptionsBuilder, StopContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::{ctx, swarm, ContainerEngine, Run, RunError};

impl Run {
    /// Sends SIGKILL to container `name` (no clean shutdown).
    pub async fn kill(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        let target = self.target(name).await;
        self.exits.expect(&full);
        let r = self
            .docker
            .kill_container(
                &target,
                Some(KillContainerOptionsBuilder::new().signal("SIGKILL").build()),
            )
            .await;
        self.exits
            .unless(&full, r)
            .map_err(ctx(format!("kill container {full}")))
    }

    /// Stops container `name` cleanly: SIGTERM, and SIGKILL after 10 s.
    pub async fn stop(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        let target = self.target(name).await;
        self.exits.expect(&full);
        let r = self
            .docker
            .stop_container(
                &target,
                Some(StopContainerOptionsBuilder::new().t(10).build()),
            )
            .await;
        self.exits
            .unless(&full, r)
            .map_err(ctx(format!("stop container {full}")))
    }

    /// Starts stopped container `name` again, with its data.
    pub async fn restart(&self, name: &str) -> Result<(), RunError> {
        let full = self.container(name);
        match self.engine {
            ContainerEngine::Swarm => {
                self.exits
                    .start(&full, swarm::restart(&self.docker, &full))
                    .await?;
                Ok(())
            }
            ContainerEngine::Docker => self
                .exits
                .start(&full, self.docker.start_container(&full, None))
                .await
                .map_err(ctx(format!("start container {full}"))),
        }
    }

    /// Freezes container `name` (cgroup freezer).
    pub async fn pause(&self, name: &str) -> Result<(), RunError> {
        let full = self.target(name).await;
        self.docker
            .pause_container(&full)
            .await
            .map_err(ctx(format!("pause container {full}")))
    }

    /// Thaws container `name`.
    pub async fn unpause(&self, name: &str) -> Result<(), RunError> {
        let full = self.target(name).await;
        self.docker
            .unpause_container(&full)
            .await
            .map_err(ctx(format!("unpause container {full}")))
    }

    /// Container `name`'s stdout and stderr so far, over all its lives.
    pub async fn logs(&self, name: &str) -> Result<String, RunError> {
        let full = self.container(name);
        // On Swarm each life is a task with its own container; on one
        // daemon a reschedule is a new container, the old one renamed.
        let lives: Vec<String> = match self.engine {
            ContainerEngine::Docker => {
                let retired = self.retired.lock().expect("retired lock");
                let earlier = retired.get(name).cloned().unwrap_or_default();
                earlier.into_iter().chain([full]).collect()
            }
            ContainerEngine::Swarm => swarm::containers(&self.docker, &full)
                .await?
                .into_iter()
                .filter_map(|c| c.id)
                .collect(),
        };
        let mut text = String::new();
        for c in lives {
            let opts = LogsOptionsBuilder::new()
                .stdout(true)
                .stderr(true)
                .timestamps(true)
                .build();
            let mut stream = self.docker.logs(&c, Some(opts));
            while let Some(chunk) = stream.next().await {
                let chunk = chunk.map_err(ctx(format!("logs of container {c}")))?;
                text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
            }
        }
        Ok(text)
    }

    /// The exit code of container `name`, once it has stopped.
    pub async fn exit_code(&self, name: &str) -> Option<i64> {
        let info = self
            .docker
            .inspect_container(&self.target(name).await, None)
            .await
            .ok()?;
        let state = info.state?;
        if state.running == Some(true) {
            return None;
        }
        state.exit_code
    }
}
