//! Files a run puts into its nodes while they run (a fault's hold file)
//! and the host folders it shares with them (their agents' journals).

use super::{ctx, ContainerEngine, File, Run, RunError};

impl Run {
    /// The host folder shared with node `name` (made on first use, writable
    /// by any user: a database image may run its agent as its own user).
    pub fn shared_dir(&self, name: &str) -> std::io::Result<std::path::PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.shared.path().join(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777))?;
        Ok(dir)
    }
    /// Writes the files [`Run::put_file`] wrote into node `name` again, on
    /// Swarm, whose restarts (a fault's undo, the restart policy) are new
    /// containers from the image; a plain container kept them.
    pub async fn put_back_files(&self, name: &str) -> Result<(), RunError> {
        if self.engine == ContainerEngine::Docker {
            return Ok(());
        }
        let files = self.written_into(name);
        if files.is_empty() {
            return Ok(());
        }
        self.upload(&self.target(name).await, &files).await
    }

    /// What [`Run::put_file`] wrote into node `name` so far.
    pub(super) fn written_into(&self, name: &str) -> Vec<File> {
        let written = self.written.lock().expect("written lock");
        written.get(name).cloned().unwrap_or_default()
    }

    /// Writes `bytes` as `/<file>` into running container `name` (an
    /// archive upload: the image needs no shell).
    pub async fn put_file(&self, name: &str, file: &str, bytes: &[u8]) -> Result<(), RunError> {
        let written = (file.to_string(), bytes.to_vec());
        self.upload(&self.target(name).await, std::slice::from_ref(&written))
            .await?;
        self.written
            .lock()
            .expect("written lock")
            .entry(name.to_string())
            .or_default()
            .push(written);
        Ok(())
    }

    /// Copies `files` (absolute path inside, contents; mode 0644) into
    /// container `full`, created or running, as one archive unpacked at
    /// `/` (Docker makes the missing folders).
    pub(super) async fn upload(&self, full: &str, files: &[File]) -> Result<(), RunError> {
        let mut tar = tar::Builder::new(Vec::new());
        for (path, bytes) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_cksum();
            tar.append_data(&mut h, path.trim_start_matches('/'), bytes.as_slice())
                .map_err(ctx(format!("archive {path} for {full}")))?;
        }
        let archive = tar
            .into_inner()
            .map_err(ctx(format!("archive files for {full}")))?;
        let opts = bollard::query_parameters::UploadToContainerOptionsBuilder::default()
            .path("/")
            .build();
        self.docker
            .upload_to_container(full, Some(opts), bollard::body_full(archive.into()))
            .await
            .map_err(ctx(format!("copy files into {full}")))
    }
}
