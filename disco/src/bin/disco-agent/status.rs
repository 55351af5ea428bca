//! `--status-port`: the agent's own view of itself over HTTP (any path,
//! one JSON object), for test harnesses and operators. It says what the
//! agent decided at boot, whether it is registered, whom disco sees as
//! members, and whether it may act as leader and for how long.
//!
//! ```json
//! {"node":"n1","role":"bootstrap","registered":true,"peers":["n1","n2"],
//!  "leader":{"token":42,"valid_for_ms":2650},"phase":"running"}
//! ```

use std::sync::{Arc, Mutex};
use std::time::Duration;

use disco::agent::Phase;
use disco::bootstrap::Role;
use disco::leader::Leadership;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::Instant;
use tracing::warn;

/// What the endpoint reports, as the agent's reports keep it.
#[derive(Debug, Clone)]
pub struct Status {
    /// This node's id.
    pub node: String,
    /// Where the agent is.
    pub phase: Phase,
    /// What it decided at boot, once it has.
    pub role: Option<Role>,
    /// Whether its bootstrap is committed (a bootstrapper reports
    /// `bootstrapping` until then: a claim that may still lapse).
    pub committed: bool,
    /// disco's member view.
    pub peers: Option<Vec<String>>,
    /// Its leadership.
    pub leadership: Leadership,
}

/// The status, shared by the agent's report and the endpoint.
pub type Shared = Arc<Mutex<Status>>;

impl Status {
    fn render(&self) -> String {
        let role = match &self.role {
            Some(Role::Bootstrap) if self.committed => Some("bootstrap"),
            Some(Role::Bootstrap) => Some("bootstrapping"),
            Some(Role::Join { .. }) => Some("join"),
            Some(Role::Rejoin) => Some("rejoin"),
            None => None,
        };
        let leader = match &self.leadership {
            Leadership::Leader { token, valid_until } if *valid_until > Instant::now() => json!({
                "token": token.0,
                "valid_for_ms": valid_until.saturating_duration_since(Instant::now()).as_millis() as u64,
            }),
            _ => serde_json::Value::Null,
        };
        let registered = !matches!(self.phase, Phase::Registering | Phase::Stopped);
        json!({
            "node": self.node,
            "phase": self.phase.name(),
            "role": role,
            "registered": registered,
            "peers": self.peers,
            "leader": leader,
        })
        .to_string()
    }
}

/// How long a client may take to send its request.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `status` on `port` until the task is aborted.
pub async fn serve(port: u16, status: Shared) {
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            warn!(port, error = %e, "status endpoint: cannot listen");
            return;
        }
    };
    loop {
        let mut conn = match listener.accept().await {
            Ok((c, _)) => c,
            Err(e) => {
                // Out of descriptors, say: do not spin on it.
                warn!(error = %e, "status endpoint: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let body = status.lock().expect("status lock").render();
        tokio::spawn(async move {
            // The request itself does not matter: read its head, answer; a
            // client that sends nothing is not waited for.
            let mut buf = [0u8; 1024];
            let _ = tokio::time::timeout(READ_TIMEOUT, conn.read(&mut buf)).await;
            let head = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(head.as_bytes()).await;
            let _ = conn.write_all(body.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}
