//! `clusterlab check` and `clusterlab export`: a saved history, judged
//! here or handed to another checker.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clusterlab_core::history::{self, edn, linearizable, verdict::Judgement, Event, Op};

use crate::BAD_INPUT;

/// The history file a path names: itself, or the run folder's.
fn file_of(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("history.jsonl")
    } else {
        path.to_path_buf()
    }
}

/// Reads a file, or says which and why not.
fn read(cmd: &str, file: &Path) -> Result<String, ExitCode> {
    std::fs::read_to_string(file).map_err(|e| {
        eprintln!(
            "clusterlab {cmd}: cannot read {}: {e}; give a history.jsonl or a run folder holding one",
            file.display()
        );
        ExitCode::from(BAD_INPUT)
    })
}

/// A Jepsen history's register: the file's name without `.edn`.
fn edn_key(file: &Path) -> String {
    file.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "register".into())
}

/// The operations of a history file, in the lab's JSON lines or Jepsen's EDN.
fn operations(file: &Path, text: &str) -> Result<Vec<Op>, history::BadHistory> {
    let name = file.display().to_string();
    if file.extension().is_some_and(|e| e == "edn") {
        history::from_events(&name, edn::read(&name, &edn_key(file), text)?)
    } else {
        history::parse(&name, text)
    }
}

/// `clusterlab check`: the linearizability verdict on a saved history.
pub fn check(path: &Path) -> ExitCode {
    let file = file_of(path);
    let text = match read("check", &file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let ops = match operations(&file, &text) {
        Ok(ops) => ops,
        Err(e) => {
            eprintln!("clusterlab check: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let started = std::time::Instant::now();
    let judged = Judgement::of(&ops, linearizable::Budget::default());
    for r in &judged.sets {
        println!("{}", r.summary());
    }
    for a in judged.anomalies() {
        println!("{}", linearizable::table(a));
    }
    for reason in judged.undecided() {
        println!("unknown: {reason}");
    }
    let bad = judged.anomalies().count();
    let bad_sets = judged.bad_sets().count();
    let unknown = judged.undecided().count();
    let word = if bad > 0 {
        "NOT LINEARIZABLE"
    } else if bad_sets > 0 {
        "SET ANOMALY"
    } else if unknown > 0 {
        "UNKNOWN"
    } else {
        "LINEARIZABLE"
    };
    println!(
        "{word}  {}: {} operations on {} keys, {} keys with anomalies, {unknown} undecided, checked in {:.2?}",
        file.display(),
        ops.len(),
        judged.registers.len() + judged.sets.len(),
        bad + bad_sets,
        started.elapsed()
    );
    ExitCode::from(if bad + bad_sets > 0 {
        1
    } else if unknown > 0 {
        3
    } else {
        0
    })
}

/// `clusterlab export --jepsen`: one EDN file per register key, written
/// only from a history the checker itself would accept.
pub fn export(path: &Path, out: Option<&Path>) -> ExitCode {
    let file = file_of(path);
    let text = match read("export", &file) {
        Ok(t) => t,
        Err(code) => return code,
    };
    let name = file.display().to_string();
    let events = match history::events(&name, &text)
        .and_then(|events| history::from_events(&name, events.clone()).map(|_| events))
    {
        Ok(events) => events.into_iter().map(|(_, e)| e).collect::<Vec<Event>>(),
        Err(e) => {
            eprintln!("clusterlab export: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    };
    let dir = out.map(Path::to_path_buf).unwrap_or_else(|| {
        file.parent()
            .unwrap_or_else(|| Path::new("."))
            .join("jepsen")
    });
    let files = edn::write(&events);
    if files.is_empty() {
        eprintln!("clusterlab export: {name} holds no register operation; nothing written");
        return ExitCode::from(BAD_INPUT);
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("clusterlab export: cannot create {}: {e}", dir.display());
        return ExitCode::from(BAD_INPUT);
    }
    let mut taken = std::collections::BTreeSet::new();
    for (key, edn) in files {
        let target = dir.join(format!("{}.edn", file_name(&key, &mut taken)));
        if let Err(e) = std::fs::write(&target, edn) {
            eprintln!("clusterlab export: cannot write {}: {e}", target.display());
            return ExitCode::from(BAD_INPUT);
        }
        println!("{}  (key {key})", target.display());
    }
    ExitCode::SUCCESS
}

/// A key as a file name: anything outside `[A-Za-z0-9._-]` becomes `_`, and
/// a name already `taken` (two keys that differ only there) gets `-2`, `-3`.
fn file_name(key: &str, taken: &mut std::collections::BTreeSet<String>) -> String {
    let mut safe: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() || safe.starts_with('.') {
        safe.insert(0, '_');
    }
    let mut name = safe.clone();
    let mut n = 1;
    while !taken.insert(name.clone()) {
        n += 1;
        name = format!("{safe}-{n}");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::file_name;

    #[test]
    fn keys_that_sanitise_alike_get_their_own_files() {
        let mut taken = Default::default();
        let names: Vec<String> = ["a/b", "a:b", "a_b", "", ".hidden"]
            .iter()
            .map(|k| file_name(k, &mut taken))
            .collect();
        assert_eq!(names, ["a_b", "a_b-2", "a_b-3", "_", "_.hidden"]);
    }
}
