//! Where clusterlab keeps what it fetches and builds: the etcd and Consul
//! servers and the tags of the Debian base images. Outside any checkout, so
//! that an installed `clusterlab`, the repository's scripts and its tests
//! share one cache (`ci/cache.sh` follows the same rule).

use std::path::PathBuf;

/// `$CLUSTERLAB_CACHE`, else `$XDG_CACHE_HOME/clusterlab`, else
/// `~/.cache/clusterlab`.
pub fn root() -> PathBuf {
    if let Some(d) = std::env::var_os("CLUSTERLAB_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("clusterlab");
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/clusterlab")
}

/// The server binaries' folder: `$CLUSTERLAB_SERVERS_BIN`, else
/// `servers/bin` in the cache.
pub fn servers_bin() -> PathBuf {
    std::env::var_os("CLUSTERLAB_SERVERS_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("servers/bin"))
}
