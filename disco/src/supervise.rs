//! Supervise: run the database as a child, forward SIGTERM/SIGINT to it,
//! and report how it ended.
//!
//! The agent does not `exec` the database: it must outlive it to resign
//! leadership and deregister, so that peers learn of a clean stop at once
//! instead of after a TTL.
//!
//! As a container's entrypoint the agent is PID 1, and every orphaned
//! process is re-parented to it: Patroni's postmaster is one (Patroni
//! starts it through an intermediate process). Unreaped, an exited orphan
//! stays a zombie, its PID stays taken, and Patroni waits forever for its
//! PostgreSQL to stop. So as PID 1 the agent reaps every child that is not
//! the database (whose status tokio collects), like tini does.

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

/// Spawns `argv` and waits for it, forwarding SIGTERM and SIGINT; when
/// `stop` resolves, asks the database to stop (SIGTERM) and waits for it.
pub async fn run(
    argv: &[String],
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<ExitStatus> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"))?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    // The database never needs the agent's store token.
    let mut child = Command::new(program)
        .args(args)
        .env_remove("DISCO_TOKEN")
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("cannot start {program:?}: {e}")))?;
    let pid = child
        .id()
        .and_then(|p| i32::try_from(p).ok())
        .map(Pid::from_raw);
    info!(?pid, command = ?argv, "database started");
    let mut chld = signal(SignalKind::child())?;
    let init = std::process::id() == 1;
    tokio::pin!(stop);
    let mut stopping = false;
    loop {
        let sig = tokio::select! {
            status = child.wait() => return status,
            _ = term.recv() => Signal::SIGTERM,
            _ = int.recv() => Signal::SIGINT,
            _ = &mut stop, if !stopping => {
                stopping = true;
                Signal::SIGTERM
            }
            _ = chld.recv(), if init => {
                reap_orphans(pid);
                continue;
            }
        };
        if let Some(pid) = pid {
            info!(signal = %sig, "forwarding signal to the database");
            let _ = kill(pid, sig);
        }
    }
}

/// Reaps every exited child of this process except `keep`, found through
/// `/proc` so that the database's own status is left for tokio.
fn reap_orphans(keep: Option<Pid>) {
    let me = std::process::id().to_string();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parens.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let (state, ppid) = (fields.next(), fields.next());
        if state == Some("Z") && ppid == Some(me.as_str()) && Some(Pid::from_raw(pid)) != keep {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            info!(pid, "reaped an orphaned process");
        }
    }
}
