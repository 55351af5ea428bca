//! What the lab fetches and builds on first use, from recipes embedded in
//! the binary: the etcd and Consul servers (Debian packages) and the
//! Debian base images of the kinds that need one. An installed `clusterlab`
//! needs no checkout: the recipes are this repository's `ci/` scripts and
//! `images/` files, compiled in, written to the cache and run from there,
//! only for what a scenario uses, each step with a line and its time.
//!
//! Fetching sends traffic to the Debian mirror, so it happens only where a
//! user asked for it: the `clusterlab` command turns it on
//! ([`fetch_on_first_use`]); a library user and the tests get an error
//! naming the command that fetches, and `CLUSTERLAB_OFFLINE=1` turns it
//! off everywhere. A lock file per step lets parallel runs share one build.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use clusterlab_provision::cache;

use super::build::ImageError;

/// The `ci/` scripts the steps run (and the ones they source), by name.
const SCRIPTS: [(&str, &str); 8] = [
    ("cache.sh", include_str!("../../../../ci/cache.sh")),
    ("mirror.sh", include_str!("../../../../ci/mirror.sh")),
    ("servers.sh", include_str!("../../../../ci/servers.sh")),
    (
        "debian-base.sh",
        include_str!("../../../../ci/debian-base.sh"),
    ),
    (
        "patroni-base.sh",
        include_str!("../../../../ci/patroni-base.sh"),
    ),
    (
        "rabbitmq-base.sh",
        include_str!("../../../../ci/rabbitmq-base.sh"),
    ),
    (
        "rabbitmq4-base.sh",
        include_str!("../../../../ci/rabbitmq4-base.sh"),
    ),
    (
        "galera-base.sh",
        include_str!("../../../../ci/galera-base.sh"),
    ),
];

/// The files the stock images carry (`harness/containers/images/`).
const FILES: [(&str, &str); 3] = [
    (
        "rabbitmq-node.sh",
        include_str!("../../images/rabbitmq-node.sh"),
    ),
    (
        "galera-node.sh",
        include_str!("../../images/galera-node.sh"),
    ),
    ("patroni.yml", include_str!("../../images/patroni.yml")),
];

/// The Debian bases, what each holds, and which kinds use it.
pub const BASES: [(&str, &str); 4] = [
    ("patroni-base", "PostgreSQL and Patroni (bookworm)"),
    ("rabbitmq-base", "RabbitMQ 3.10 (bookworm)"),
    ("rabbitmq4-base", "RabbitMQ 4.0 (trixie)"),
    ("galera-base", "MariaDB and Galera 4 (bookworm)"),
];

static FETCH: AtomicBool = AtomicBool::new(false);

/// Lets a missing server or base be fetched and built when first needed
/// (unless `CLUSTERLAB_OFFLINE` is set).
pub fn fetch_on_first_use(yes: bool) {
    FETCH.store(yes, Ordering::Relaxed);
}

/// Refuses a step that would fetch, unless fetching on first use is on.
fn may_fetch(what: &str, path: &Path, fix: &str) -> Result<(), ImageError> {
    let offline = std::env::var_os("CLUSTERLAB_OFFLINE").is_some_and(|v| !v.is_empty());
    if FETCH.load(Ordering::Relaxed) && !offline {
        return Ok(());
    }
    Err(ImageError::Input {
        path: path.to_path_buf(),
        reason: format!(
            "{what} is not in the cache{}; run `{fix}` (or `bash ci/setup.sh` in a checkout)",
            if offline {
                " and CLUSTERLAB_OFFLINE is set"
            } else {
                ""
            }
        ),
    })
}

/// Writes `text` to `path` unless it holds it already.
fn materialize(path: &Path, text: &str) -> Result<(), ImageError> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(());
    }
    let err = |e: std::io::Error| ImageError::Input {
        path: path.to_path_buf(),
        reason: format!("{e}; set CLUSTERLAB_CACHE to a writable folder"),
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    // Written aside and renamed: a parallel run never reads half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// An image file, from the binary, at its path in the cache.
pub fn image_file(name: &str) -> Result<PathBuf, ImageError> {
    let (_, text) = FILES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no embedded image file {name}"));
    let path = cache::root().join("recipes/images").join(name);
    materialize(&path, text)?;
    Ok(path)
}

/// The embedded scripts, written to the cache; returns the script `name`.
fn script(name: &str) -> Result<PathBuf, ImageError> {
    let dir = cache::root().join("recipes/ci");
    for (n, text) in SCRIPTS {
        materialize(&dir.join(n), text)?;
    }
    Ok(dir.join(name))
}

/// Holds the step's lock file until dropped.
struct Turn(#[allow(dead_code)] nix::fcntl::Flock<std::fs::File>);

fn turn(step: &str) -> Result<Turn, ImageError> {
    let path = cache::root().join("locks").join(format!("{step}.lock"));
    let err = |reason: String| ImageError::Input {
        path: path.clone(),
        reason,
    };
    std::fs::create_dir_all(path.parent().expect("a parent")).map_err(|e| err(e.to_string()))?;
    let file = std::fs::File::create(&path).map_err(|e| err(e.to_string()))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map(Turn)
        .map_err(|(_, e)| err(e.to_string()))
}

/// Runs the embedded script `name` with `args`, its own lines passed
/// through, framed by a line saying what is being done and one with its time.
fn run(name: &str, what: &str, args: &[&str]) -> Result<(), ImageError> {
    let path = script(name)?;
    eprintln!("clusterlab setup: {what}");
    let started = Instant::now();
    let status = Command::new("bash")
        .arg(&path)
        .args(args)
        .env("CLUSTERLAB_CACHE", cache::root())
        .status()
        .map_err(|e| ImageError::Input {
            path: path.clone(),
            reason: format!("cannot run bash: {e}"),
        })?;
    if !status.success() {
        return Err(ImageError::Input {
            path,
            reason: format!(
                "{what} failed (its error is above); `clusterlab doctor` checks what it needs"
            ),
        });
    }
    eprintln!(
        "clusterlab setup: {what}: done in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The server binaries' folder, fetched first if a server is missing.
pub fn servers() -> Result<PathBuf, ImageError> {
    let bin = cache::servers_bin();
    let ready = |bin: &Path| bin.join("etcd").is_file() && bin.join("consul").is_file();
    if ready(&bin) {
        return Ok(bin);
    }
    if std::env::var_os("CLUSTERLAB_SERVERS_BIN").is_some() {
        return Err(ImageError::Input {
            path: bin,
            reason: "CLUSTERLAB_SERVERS_BIN names a folder without etcd and consul".into(),
        });
    }
    may_fetch("etcd or consul", &bin, "clusterlab setup")?;
    let _turn = turn("servers")?;
    if !ready(&bin) {
        run(
            "servers.sh",
            "fetching etcd 3.5 and consul 1.8 from Debian's packages",
            &[],
        )?;
    }
    Ok(bin)
}

/// Whether the local image `tag` exists.
fn image_exists(tag: &str) -> bool {
    Command::new("docker")
        .args(["image", "inspect", "--format", "{{.Id}}", tag])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The tag of the Debian base `name` (one of [`BASES`]), built first if it
/// is missing: a minute or two, once.
pub fn base(name: &str) -> Result<String, ImageError> {
    let (_, holds) = BASES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no Debian base {name}"));
    let tag_file = cache::root().join("images").join(format!("{name}.tag"));
    let current = || {
        std::fs::read_to_string(&tag_file)
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| image_exists(t))
    };
    if let Some(tag) = current() {
        return Ok(tag);
    }
    let kind = name.trim_end_matches("-base");
    may_fetch(
        &format!("the {name} image"),
        &tag_file,
        &format!("clusterlab setup {kind}"),
    )?;
    let _turn = turn(name)?;
    if let Some(tag) = current() {
        return Ok(tag);
    }
    run(
        &format!("{name}.sh"),
        &format!("building the {name} image: {holds} (1-2 minutes, once)"),
        &[],
    )?;
    current().ok_or_else(|| ImageError::Input {
        path: tag_file,
        reason: format!("the {name} build wrote no tag"),
    })
}

/// The bases that are built, by name, and the tag of each.
pub fn bases_present() -> Vec<(&'static str, Option<String>)> {
    BASES
        .iter()
        .map(|(name, _)| {
            let tag_file = cache::root().join("images").join(format!("{name}.tag"));
            let tag = std::fs::read_to_string(&tag_file)
                .ok()
                .map(|t| t.trim().to_string())
                .filter(|t| image_exists(t));
            (*name, tag)
        })
        .collect()
}
