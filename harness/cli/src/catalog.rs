//! Finding scenario files: the shipped `scenarios/` folder or explicit paths.

use std::path::{Path, PathBuf};

/// The scenarios folder: `$CLUSTERLAB_SCENARIOS`, else `./scenarios`, else
/// the one in this source tree.
pub fn default_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("CLUSTERLAB_SCENARIOS") {
        return PathBuf::from(d);
    }
    let here = PathBuf::from("scenarios");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios")
}

/// Every `*.toml` directly in `dir`, sorted.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    Ok(v)
}

/// Resolves a scenario argument: a path as given, or a name in `dir`
/// (`quick` -> `dir/quick.toml`).
pub fn resolve(arg: &str, dir: &Path) -> PathBuf {
    let p = PathBuf::from(arg);
    if p.exists() || arg.contains('/') || arg.ends_with(".toml") {
        p
    } else {
        dir.join(format!("{arg}.toml"))
    }
}
