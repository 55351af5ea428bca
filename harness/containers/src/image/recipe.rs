//! What goes into an image: host files, where they land, and the hash that
//! names the result.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::build::ImageError;

/// An image made of host files, on `scratch` or on a local base image.
#[derive(Debug, Clone)]
pub struct Recipe {
    /// Repository name, e.g. `clusterlab/etcd`.
    pub name: String,
    /// Base image (`None`: scratch). Its tag is part of the hash.
    pub base: Option<String>,
    /// Destination path in the image (no leading `/`) -> host file.
    pub files: BTreeMap<String, PathBuf>,
    /// Clear the base's entrypoint, so that the command is run as given.
    pub clear_entrypoint: bool,
}

impl Recipe {
    /// An empty recipe for `name`.
    pub fn new(name: &str) -> Recipe {
        Recipe {
            name: name.to_string(),
            base: None,
            files: BTreeMap::new(),
            clear_entrypoint: false,
        }
    }

    /// Runs the container's command as given, whatever entrypoint the base
    /// image names (a user's image often has one that takes arguments).
    pub fn without_entrypoint(mut self) -> Recipe {
        self.clear_entrypoint = true;
        self
    }

    /// Adds a binary under `dir` with everything it needs to run on any
    /// base without touching the base's own libraries: itself in
    /// `dir/bin`, the libraries it links in `dir/lib`, and the dynamic
    /// loader as `dir/lib/ld.so`. Run it as `dir/lib/ld.so --library-path
    /// dir/lib dir/bin/<name>`; what it starts uses the base's libraries.
    pub fn private_binary(mut self, host: &Path, dir: &str) -> Result<Recipe, ImageError> {
        let dir = dir.trim_start_matches('/').trim_end_matches('/');
        let name = host.file_name().map(|n| n.to_string_lossy().to_string());
        let Some(name) = name.filter(|_| host.is_file()) else {
            return Err(ImageError::Input {
                path: host.to_path_buf(),
                reason: "missing; run `cargo build`".into(),
            });
        };
        self.files
            .insert(format!("{dir}/bin/{name}"), host.to_path_buf());
        for lib in shared_libraries(host)? {
            let file = lib
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            let dest = if file.starts_with("ld-linux") {
                format!("{dir}/lib/ld.so")
            } else {
                format!("{dir}/lib/{file}")
            };
            self.files.insert(dest, lib);
        }
        Ok(self)
    }

    /// Builds on `base` (a local image) instead of scratch.
    pub fn on(mut self, base: &str) -> Recipe {
        self.base = Some(base.to_string());
        self
    }

    /// Adds one host file at `dest`, without its libraries (for a base
    /// that has them).
    pub fn file(mut self, host: &Path, dest: &str) -> Result<Recipe, ImageError> {
        if !host.is_file() {
            return Err(ImageError::Input {
                path: host.to_path_buf(),
                reason: "missing; run `bash ci/setup.sh` and `cargo build`".into(),
            });
        }
        self.files
            .insert(dest.trim_start_matches('/').to_string(), host.to_path_buf());
        Ok(self)
    }

    /// Adds a binary at `dest` and every shared library it links, at the
    /// paths the dynamic loader will look for them.
    pub fn binary(mut self, host: &Path, dest: &str) -> Result<Recipe, ImageError> {
        if !host.is_file() {
            return Err(ImageError::Input {
                path: host.to_path_buf(),
                reason: "missing; run `bash ci/setup.sh` (servers) or `cargo build` (disco-agent)"
                    .into(),
            });
        }
        self.files
            .insert(dest.trim_start_matches('/').to_string(), host.to_path_buf());
        for lib in shared_libraries(host)? {
            let dest = lib.to_string_lossy().trim_start_matches('/').to_string();
            self.files.insert(dest, lib);
        }
        Ok(self)
    }

    /// The Dockerfile: the base, then the files, nothing else.
    pub fn dockerfile(&self) -> String {
        let mut text = format!(
            "FROM {}\nCOPY rootfs/ /\n",
            self.base.as_deref().unwrap_or("scratch")
        );
        if self.clear_entrypoint {
            text.push_str("ENTRYPOINT []\n");
        }
        text
    }

    /// `name:<first 16 hex digits of the inputs' hash>`.
    pub fn tag(&self) -> Result<String, ImageError> {
        Ok(self.read()?.tag())
    }

    /// Reads every input once: the bytes both name the image (the hash)
    /// and make up its build context.
    pub fn read(&self) -> Result<Inputs, ImageError> {
        let files = self
            .files
            .iter()
            .map(|(dest, host)| {
                std::fs::read(host)
                    .map(|bytes| (dest.clone(), bytes))
                    .map_err(|e| ImageError::Input {
                        path: host.clone(),
                        reason: e.to_string(),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(Inputs {
            name: self.name.clone(),
            dockerfile: self.dockerfile(),
            files,
        })
    }
}

/// A recipe's inputs, read: what is hashed and what is sent to the daemon.
#[derive(Debug, Clone)]
pub struct Inputs {
    /// Repository name.
    pub name: String,
    /// The Dockerfile text.
    pub dockerfile: String,
    /// (destination in the image, contents), in destination order.
    pub files: Vec<(String, Vec<u8>)>,
}

impl Inputs {
    /// `name:<first 16 hex digits of the hash of the Dockerfile and every
    /// file's destination and contents>`.
    pub fn tag(&self) -> String {
        let mut h = Sha256::new();
        h.update(&self.dockerfile);
        for (dest, bytes) in &self.files {
            h.update(dest.as_bytes());
            h.update([0]);
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        }
        let hex: String = h
            .finalize()
            .iter()
            .take(8)
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("{}:{hex}", self.name)
    }
}

/// The libraries `ldd` resolves for `binary` (absolute paths), including
/// the dynamic loader. A static binary has none.
fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| ImageError::Input {
            path: binary.to_path_buf(),
            reason: format!("cannot run ldd: {e}"),
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("not a dynamic executable") || text.contains("statically linked") {
        return Ok(Vec::new());
    }
    let mut libs = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or "/lib64/ld-linux-x86-64.so.2 (0x...)"
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        } else if line.contains("not found") {
            return Err(ImageError::Input {
                path: binary.to_path_buf(),
                reason: format!("links a library the host lacks: {line}"),
            });
        }
    }
    Ok(libs)
}
