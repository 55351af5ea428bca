//! Supervise: run the database as a child, forward SIGTERM/SIGINT to it,
//! and report how it ended.
//!
//! The agent does not `exec` the database: it must outlive it to resign
//! leadership and deregister, so that peers learn of a clean stop at once
//! instead of after a TTL.

use std::process::ExitStatus;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::Command;
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

/// How the child ended, as an exit code for the agent (128+N for signal N).
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// Spawns `argv` and waits for it, forwarding SIGTERM and SIGINT.
pub async fn run(argv: &[String]) -> std::io::Result<ExitStatus> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut child = Command::new(program)
        .args(args)
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start {program:?}: {e}")))?;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    info!(?pid, command = ?argv, "database started");
    loop {
        let sig = tokio::select! {
            status = child.wait() => return status,
            _ = term.recv() => Signal::SIGTERM,
            _ = int.recv() => Signal::SIGINT,
        };
        if let Some(pid) = pid {
            info!(signal = %sig, "forwarding signal to the database");
            let _ = kill(pid, sig);
        }
    }
}
