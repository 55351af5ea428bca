//! The project's own images: `clusterlab/etcd` and `clusterlab/consul`,
//! each the Debian server binary plus `disco-agent`, on `scratch`; and
//! `clusterlab/patroni`, `disco-agent` and a Patroni configuration on the
//! Debian root filesystem `ci/patroni-base.sh` imports; `clusterlab/rabbitmq`,
//! a start script on the one `ci/rabbitmq-base.sh` imports; and
//! `clusterlab/generic`, a user's image with `disco-agent` layered on. The
//! servers and bases are fetched and built on first use ([`setup`]).

use std::path::PathBuf;

use clusterlab_provision::cache;

use super::build::ImageError;
use super::recipe::Recipe;
use super::setup;

/// The `disco-agent` binary: `$CLUSTERLAB_DISCO_AGENT`, else the one cargo
/// built beside this executable (`target/<profile>/disco-agent`).
pub fn disco_agent() -> Result<PathBuf, ImageError> {
    if let Some(p) = std::env::var_os("CLUSTERLAB_DISCO_AGENT") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| ImageError::Input {
        path: PathBuf::from("disco-agent"),
        reason: e.to_string(),
    })?;
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|d| d.join("disco-agent"))
        .find(|p| p.is_file())
        .ok_or_else(|| ImageError::Input {
            path: PathBuf::from("disco-agent"),
            reason: format!(
                "not found beside {}; install it there (`cargo install --path disco`, or \
                 `cargo install --git <clusterlab's repository> disco`), build it in this \
                 checkout (`cargo build -p disco --bin disco-agent`) or set CLUSTERLAB_DISCO_AGENT",
                exe.display()
            ),
        })
}

/// `clusterlab/etcd`: etcd 3.5 and disco-agent.
pub fn etcd() -> Result<Recipe, ImageError> {
    Recipe::new("clusterlab/etcd")
        .binary(&setup::servers()?.join("etcd"), "usr/local/bin/etcd")?
        .binary(&disco_agent()?, "usr/local/bin/disco-agent")
}

/// `clusterlab/consul`: consul 1.8 and disco-agent.
pub fn consul() -> Result<Recipe, ImageError> {
    Recipe::new("clusterlab/consul")
        .binary(&setup::servers()?.join("consul"), "usr/local/bin/consul")?
        .binary(&disco_agent()?, "usr/local/bin/disco-agent")
}

/// The tag of the Patroni base image (`ci/patroni-base.sh`).
pub fn patroni_base() -> Result<String, ImageError> {
    setup::base("patroni-base")
}

/// `clusterlab/rabbitmq`: RabbitMQ `release` (3.10 from bookworm, 4.0 from
/// trixie) with its peer-discovery plugins (`ci/rabbitmq-base.sh`,
/// `ci/rabbitmq4-base.sh`) and the script that configures and starts a
/// node; no disco-agent.
pub fn rabbitmq(release: Option<&str>) -> Result<Recipe, ImageError> {
    let script = setup::image_file("rabbitmq-node.sh")?;
    let base_name = match release {
        Some("4.0") => "rabbitmq4-base",
        _ => "rabbitmq-base",
    };
    Recipe::new("clusterlab/rabbitmq")
        .on(&setup::base(base_name)?)
        .file(&script, "usr/local/bin/rabbitmq-node")
}

/// `clusterlab/galera`: MariaDB 10.11 and Galera 4 from bookworm
/// (`ci/galera-base.sh`), disco-agent, and the script that starts a node
/// with the role the agent resolved.
pub fn galera() -> Result<Recipe, ImageError> {
    let script = setup::image_file("galera-node.sh")?;
    Recipe::new("clusterlab/galera")
        .on(&setup::base("galera-base")?)
        .file(&disco_agent()?, "usr/local/bin/disco-agent")?
        .file(&script, "usr/local/bin/galera-node")
}

/// `clusterlab/patroni`: PostgreSQL, Patroni and disco-agent, with
/// Patroni's leader lock TTL set to `ttl_secs` in `/etc/patroni.yml`.
pub fn patroni(ttl_secs: u64) -> Result<Recipe, ImageError> {
    let template = setup::image_file("patroni.yml")?;
    let text = std::fs::read_to_string(&template).map_err(|e| ImageError::Input {
        path: template.clone(),
        reason: e.to_string(),
    })?;
    let dir = cache::root().join("images");
    let conf = dir.join(format!("patroni-ttl{ttl_secs}.yml"));
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&conf, text.replace("ttl: 10", &format!("ttl: {ttl_secs}"))))
        .map_err(|e| ImageError::Input {
            path: conf.clone(),
            reason: e.to_string(),
        })?;
    Recipe::new("clusterlab/patroni")
        .on(&patroni_base()?)
        .file(&disco_agent()?, "usr/local/bin/disco-agent")?
        .file(&conf, "etc/patroni.yml")
}

/// Where [`generic`] puts `disco-agent`, and how to run it there: through
/// its own loader and libraries, so that it runs on any Linux base image
/// (with or without a C library, of any version) and leaves the base's
/// libraries to the database it starts.
pub const GENERIC_AGENT: [&str; 4] = [
    "/opt/clusterlab/lib/ld.so",
    "--library-path",
    "/opt/clusterlab/lib",
    "/opt/clusterlab/bin/disco-agent",
];

/// `clusterlab/generic`: the user's `image` (whose image id is `id`, so
/// that a rebuilt image gets a new tag) with `disco-agent` under
/// `/opt/clusterlab` and its entrypoint cleared.
pub fn generic(image: &str, id: &str) -> Result<Recipe, ImageError> {
    layered("clusterlab/generic", image, id, true)
}

/// `name`: the user's `image` (whose image id is `id`, so that a rebuilt
/// image gets a new tag) with its entrypoint cleared, so that the lab's
/// command runs as given, and, with `agent`, `disco-agent` under
/// `/opt/clusterlab` (run it as [`GENERIC_AGENT`]).
pub fn layered(name: &str, image: &str, id: &str, agent: bool) -> Result<Recipe, ImageError> {
    let dir = cache::root().join("images");
    let safe: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(24)
        .collect();
    let stamp = dir.join(format!("layered-base-{safe}.id"));
    std::fs::create_dir_all(&dir)
        .and_then(|_| std::fs::write(&stamp, format!("{image} {id}\n")))
        .map_err(|e| ImageError::Input {
            path: stamp.clone(),
            reason: e.to_string(),
        })?;
    let recipe = Recipe::new(name)
        .on(image)
        .without_entrypoint()
        .file(&stamp, "opt/clusterlab/base-image")?;
    if agent {
        recipe.private_binary(&disco_agent()?, "opt/clusterlab")
    } else {
        Ok(recipe)
    }
}
