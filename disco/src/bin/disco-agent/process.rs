//! The database as a child process, for [`disco::agent`]: started with a
//! command line rendered from the join plan, asked to stop with the signal
//! the agent received, waited for. Its probes are HTTP requests to the
//! local database (`--leader-probe`, `--ready-probe`).
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
use std::sync::{Arc, Mutex};
use std::time::Duration;

use disco::agent::{Database, DatabaseError, Probe};
use disco::node::JoinPlan;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::signal::unix::{signal, SignalKind};
use tracing::info;

use crate::etcd_join::{self, Learner};

/// How the child ended, as an exit code for the agent (128+N for signal N).
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

/// The signals the agent received, and the database's pid once it runs:
/// the first signal asks the agent to stop (which stops the database with
/// it); each later one is passed on to the database at once.
#[derive(Debug)]
pub struct Signals {
    /// The last signal received.
    pub last: Signal,
    /// How many were received.
    pub count: u32,
    /// The database's pid, once started.
    pub child: Option<Pid>,
}

/// [`Signals`], shared by the signal handler and the process.
pub type Received = Arc<Mutex<Signals>>;

/// The database as a child process.
pub struct Process {
    command: Vec<String>,
    probe: HttpProbe,
    member_add: Option<(u16, Duration)>,
    learner: Option<Learner>,
    child: Option<Child>,
    pid: Option<Pid>,
    received: Received,
    promote: Option<tokio::task::JoinHandle<()>>,
    /// SIGCHLD, when the agent is PID 1 and reaps orphans.
    orphans: Option<tokio::signal::unix::Signal>,
}

impl Process {
    /// A database run as `command` (with placeholders); `member_add`: the
    /// etcd client port to add itself through, and the deadline.
    pub fn new(
        command: Vec<String>,
        probe: HttpProbe,
        member_add: Option<(u16, Duration)>,
        received: Received,
    ) -> Process {
        Process {
            command,
            probe,
            member_add,
            learner: None,
            child: None,
            pid: None,
            received,
            promote: None,
            orphans: None,
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(p) = self.promote.take() {
            p.abort();
        }
    }
}

impl Database for Process {
    type Probe = HttpProbe;

    fn probe(&self) -> HttpProbe {
        self.probe.clone()
    }

    async fn prepare(&mut self, plan: &mut JoinPlan) -> Result<(), DatabaseError> {
        if let Some((port, deadline)) = self.member_add {
            if !plan.peers.is_empty() {
                self.learner = etcd_join::member_add(plan, port, deadline)
                    .await
                    .map_err(|e| DatabaseError(format!("{e:#}")))?;
            }
        }
        Ok(())
    }

    async fn start(&mut self, plan: &JoinPlan) -> Result<(), DatabaseError> {
        let argv = disco::render::render(&self.command, plan);
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| DatabaseError("empty command".into()))?;
        // The database never needs the agent's store token.
        let child = Command::new(program)
            .args(args)
            .env_remove("DISCO_TOKEN")
            .spawn()
            .map_err(|e| DatabaseError(format!("cannot start {program:?}: {e}")))?;
        self.pid = child
            .id()
            .and_then(|p| i32::try_from(p).ok())
            .map(Pid::from_raw);
        self.received.lock().expect("signal lock").child = self.pid;
        info!(pid = ?self.pid, command = ?argv, "database started");
        self.child = Some(child);
        if std::process::id() == 1 {
            self.orphans = signal(SignalKind::child()).ok();
        }
        if let (Some(l), Some((_, deadline))) = (self.learner.take(), self.member_add) {
            self.promote = Some(tokio::spawn(etcd_join::promote(l, deadline)));
        }
        Ok(())
    }

    fn stop(&mut self) {
        if let Some(pid) = self.pid {
            let sig = self.received.lock().expect("signal lock").last;
            info!(signal = %sig, "stopping the database");
            let _ = kill(pid, sig);
        }
    }

    async fn exited(&mut self) -> i32 {
        let Some(child) = self.child.as_mut() else {
            return std::future::pending().await;
        };
        loop {
            let orphan = async {
                match self.orphans.as_mut() {
                    Some(s) => s.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                status = child.wait() => {
                    return status.map_or(1, exit_code);
                }
                _ = orphan => reap_orphans(self.pid),
            }
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

/// Asks the local database over HTTP: it leads when `--leader-probe`
/// answers 2xx (with `--leader-match` in its body, if given); it is ready
/// when `--ready-probe` answers 2xx, or at once without one.
#[derive(Debug, Clone)]
pub struct HttpProbe {
    leader: Option<(String, Option<String>)>,
    ready: Option<String>,
    http: reqwest::Client,
}

impl HttpProbe {
    /// A probe of these URLs.
    pub fn new(leader: Option<(String, Option<String>)>, ready: Option<String>) -> HttpProbe {
        let http = disco::backend::http::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("plain http client");
        HttpProbe {
            leader,
            ready,
            http,
        }
    }

    async fn answers(&self, url: &str, needle: Option<&str>) -> bool {
        let Ok(resp) = self.http.get(url).send().await else {
            return false;
        };
        if !resp.status().is_success() {
            return false;
        }
        match needle {
            None => true,
            Some(n) => resp.text().await.is_ok_and(|t| t.contains(n)),
        }
    }
}

impl Probe for HttpProbe {
    async fn leads(&self) -> bool {
        match &self.leader {
            Some((url, needle)) => self.answers(url, needle.as_deref()).await,
            None => false,
        }
    }

    async fn ready(&self) -> bool {
        match &self.ready {
            Some(url) => self.answers(url, None).await,
            None => true,
        }
    }
}
