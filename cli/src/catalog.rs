//! Finding scenarios: a path as given, a name in a scenarios folder, or a
//! name among the scenarios shipped in the binary (so that an installed
//! `clusterlab` runs `quick` from any folder). A path always wins.

use std::path::{Path, PathBuf};

use clusterlab_scenario::{Scenario, ScenarioError};

include!(concat!(env!("OUT_DIR"), "/shipped.rs"));

/// The scenarios folder, if there is one: `$CLUSTERLAB_SCENARIOS`, else
/// `./scenarios`. `None`: the shipped scenarios.
pub fn default_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("CLUSTERLAB_SCENARIOS") {
        return Some(PathBuf::from(d));
    }
    let here = PathBuf::from("scenarios");
    here.is_dir().then_some(here)
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

/// The shipped scenario `name`'s text.
pub fn shipped(name: &str) -> Option<&'static str> {
    SHIPPED.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// How a shipped scenario is named in messages.
pub fn shipped_file(name: &str) -> String {
    format!("<shipped>/{name}.toml")
}

/// Loads a scenario argument: an existing path (or anything that looks
/// like one: a `/` or `.toml`), else a name in `dir`, else a shipped
/// scenario's name.
pub fn load(arg: &str, dir: Option<&Path>) -> Result<Scenario, Box<ScenarioError>> {
    let p = PathBuf::from(arg);
    if p.exists() || arg.contains('/') || arg.ends_with(".toml") {
        return clusterlab_scenario::load(&p);
    }
    let in_dir = dir.map(|d| d.join(format!("{arg}.toml")));
    if let Some(f) = in_dir.as_ref().filter(|f| f.exists()) {
        return clusterlab_scenario::load(f);
    }
    match shipped(arg) {
        Some(text) => clusterlab_scenario::parse(&shipped_file(arg), arg, text),
        // The folder's path names what was looked for.
        None => clusterlab_scenario::load(
            &in_dir.unwrap_or_else(|| PathBuf::from(format!("{arg}.toml"))),
        ),
    }
}

/// A scenario as named in messages, loaded or with its error.
pub type Loaded = (String, Result<Scenario, Box<ScenarioError>>);

/// Every scenario in `dir`, or every shipped one.
pub fn all(dir: Option<&Path>) -> std::io::Result<Vec<Loaded>> {
    Ok(match dir {
        Some(d) => files_in(d)?
            .into_iter()
            .map(|f| (f.display().to_string(), clusterlab_scenario::load(&f)))
            .collect(),
        None => SHIPPED
            .iter()
            .map(|(name, text)| {
                let file = shipped_file(name);
                let s = clusterlab_scenario::parse(&file, name, text);
                (file, s)
            })
            .collect(),
    })
}
