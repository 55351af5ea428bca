//! An installed `clusterlab` runs a user's scenario, and a shipped one by
//! name, from a folder that is not this checkout: nothing it needs is
//! found through the source tree.
//!
//! `ci/test.sh` installs it with `cargo install --path cli` (and
//! `--path disco`) into a temporary prefix and names that prefix's `bin` in
//! `CLUSTERLAB_INSTALLED`; run alone, this test installs the binaries
//! cargo built for it by copying them, which is what `cargo install` does
//! after its build.

use std::path::{Path, PathBuf};
use std::process::Command;

mod common;

/// The installed `bin` folder (a temporary one when copied here).
fn installed(scratch: &Path) -> PathBuf {
    if let Some(bin) = std::env::var_os("CLUSTERLAB_INSTALLED") {
        return PathBuf::from(bin);
    }
    let built = PathBuf::from(env!("CARGO_BIN_EXE_clusterlab"));
    let bin = scratch.join("prefix/bin");
    std::fs::create_dir_all(&bin).unwrap();
    for name in ["clusterlab", "disco-agent"] {
        let from = built.with_file_name(name);
        assert!(
            from.is_file(),
            "{} is missing: build it first (`cargo build -p disco --bin disco-agent`)",
            from.display()
        );
        std::fs::copy(&from, bin.join(name)).unwrap();
    }
    bin
}

/// `clusterlab ARGS` from `cwd`, with none of the variables that could
/// point it back at this checkout, and never fetching (a test sends no
/// traffic off this machine: the cache is filled by `ci/setup.sh`).
fn clusterlab(bin: &Path, cwd: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    common::output(
        Command::new(bin.join("clusterlab"))
            .args(args)
            .current_dir(cwd)
            .env_remove("CLUSTERLAB_SCENARIOS")
            .env_remove("CLUSTERLAB_DISCO_AGENT")
            .env_remove("CLUSTERLAB_SERVERS_BIN")
            .env("CLUSTERLAB_OFFLINE", "1"),
    )
}

#[test]
fn an_installed_binary_runs_from_an_empty_folder() {
    let scratch = tempfile::tempdir().unwrap();
    let bin = installed(scratch.path());
    let home = scratch.path().join("work");
    std::fs::create_dir_all(&home).unwrap();

    // A shipped scenario by name, with no scenarios folder here.
    let (code, out, err) = clusterlab(&bin, &home, &["list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.lines().any(|l| l.starts_with("quick ")), "{out}");

    // A user's own file: quick's text under another name.
    let quick = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/quick.toml");
    let mine = home.join("my-cluster.toml");
    std::fs::copy(&quick, &mine).unwrap();

    for (arg, name) in [("my-cluster.toml", "my-cluster"), ("quick", "quick")] {
        let (code, out, err) = clusterlab(&bin, &home, &["run", arg]);
        assert_eq!(code, Some(0), "clusterlab run {arg}:\n{out}\n{err}");
        assert!(out.contains(&format!("PASS  {name}")), "{out}");
        let latest = home.join("target/clusterlab").join(name).join("latest");
        for report in ["results.json", "timeline.svg", "junit.xml"] {
            assert!(
                latest.join(report).is_file(),
                "{report} not in {}: {out}",
                latest.display()
            );
        }
        assert!(
            out.contains("target/clusterlab/"),
            "the report folder is named: {out}"
        );
    }
}
