//! Peak resident memory, from the kernel's own accounting, and the
//! workspace's release binaries the benches run as processes.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Builds `packages` in release mode (a no-op when up to date) and returns
/// the path of release binary `bin`.
pub fn release_binary(packages: &[&str], bin: &str) -> PathBuf {
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--release", "-q"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let status = cmd
        .current_dir(workspace_root())
        .status()
        .expect("run cargo");
    assert!(
        status.success(),
        "cargo build --release {packages:?} failed"
    );
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("release")
        .join(bin)
}

/// Peak RSS of a running process (`VmHWM` in `/proc/<pid>/status`), KiB.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The largest peak RSS of any waited-for child of this process, KiB.
pub fn children_peak_rss_kib() -> u64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .map(|u| u.max_rss() as u64)
        .unwrap_or(0)
}

/// Formats KiB as MiB with one decimal.
pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// How long a memory sample lets the agent run before reading its peak.
pub const SETTLE: Duration = Duration::from_secs(5);
