//! Every shipped scenario validates; every broken fixture fails with its own
//! message at its own line and column (declared in the fixture's header:
//! `# expect: <text>` and `# at: <line>:<column>`).

use std::path::{Path, PathBuf};

fn tomls(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_shipped_scenario_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let files = tomls(&dir);
    assert!(
        files.len() >= 10,
        "scenarios/ holds the shipped files: {files:?}"
    );
    for f in files {
        let s = clusterlab_scenario::load(&f).unwrap_or_else(|e| panic!("{e}"));
        assert!(
            !s.description.is_empty(),
            "{} has a description",
            f.display()
        );
        assert!(s.duration >= s.last_heal(), "{}", f.display());
    }
}

#[test]
fn every_broken_fixture_fails_precisely() {
    let files = tomls(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/broken"));
    assert!(files.len() >= 9);
    let mut messages = std::collections::BTreeSet::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let header = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}: ")))
                .unwrap_or_else(|| panic!("{} lacks `# {key}:`", f.display()))
                .to_string()
        };
        let (want, at) = (header("expect"), header("at"));
        let e = match clusterlab_scenario::load(&f) {
            Ok(_) => panic!("{} must not validate", f.display()),
            Err(e) => e,
        };
        assert!(
            e.message.contains(&want),
            "{}: want {want:?}, got {:?}",
            f.display(),
            e.message
        );
        assert_eq!(
            format!("{}:{}", e.line, e.column),
            at,
            "{}: {}",
            f.display(),
            e
        );
        assert!(
            !e.snippet.is_empty(),
            "{}: shows the offending text",
            f.display()
        );
        assert!(
            e.to_string().starts_with(&format!("{}:{at}:", f.display())),
            "{e}"
        );
        assert!(
            messages.insert(e.message.clone()),
            "each fixture has its own error: {}",
            e.message
        );
    }
}

#[test]
fn hints_point_at_the_fix() {
    let e = clusterlab_scenario::parse(
        "x.toml",
        "x",
        "worlds = [\"sim\", \"containers\"]\n[discovery]\nkind = \"etcd\"\n[cluster]\nkind = \"etcd\"\nnodes = 3\n[[faults]]\nat = \"1s\"\naction = \"paus\"\ntarget = \"n1\"\n",
    )
    .unwrap_err();
    assert!(
        e.hint
            .as_deref()
            .unwrap()
            .contains("did you mean \"pause\""),
        "{:?}",
        e.hint
    );
}
