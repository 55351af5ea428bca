//! `--status-port`: the agent's own view of itself over HTTP (any path,
//! one JSON object), for test harnesses and operators. It says what the
//! agent decided at boot, whether it is registered, whom disco sees as
//! members, and whether it may act as leader and for how long, so that a
//! harness can hold disco's leadership windows to "never two at once"
//! without trusting the store's key alone.
//!
//! ```json
//! {"node":"n1","role":"bootstrap","registered":true,"peers":["n1","n2"],
//!  "leader":{"token":42,"valid_for_ms":2650}}
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use disco::announce::LeaseState;
use disco::bootstrap::Role;
use disco::leader::Leadership;
use disco::peers::Membership;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::warn;

/// What the endpoint reports.
#[derive(Debug, Clone)]
pub struct Status {
    /// This node's id.
    pub node: String,
    /// What it decided at boot.
    pub role: Role,
    /// Whether its bootstrap is committed (a bootstrapper reports
    /// `bootstrapping` until then: a claim that may still lapse).
    pub committed: Arc<AtomicBool>,
    /// Its lease, `None` while not registered.
    pub lease: watch::Receiver<Option<LeaseState>>,
    /// disco's member view.
    pub peers: watch::Receiver<Option<Membership>>,
    /// Its leadership.
    pub leadership: watch::Receiver<Leadership>,
}

impl Status {
    fn render(&self) -> String {
        let role = match self.role {
            Role::Bootstrap if self.committed.load(Ordering::Relaxed) => "bootstrap",
            Role::Bootstrap => "bootstrapping",
            Role::Join { .. } => "join",
            Role::Rejoin => "rejoin",
        };
        let peers: Option<Vec<String>> = self
            .peers
            .borrow()
            .as_ref()
            .map(|m| m.members.iter().map(|x| x.node.clone()).collect());
        let leader = match &*self.leadership.borrow() {
            Leadership::Leader { token, valid_until } if *valid_until > Instant::now() => json!({
                "token": token.0,
                "valid_for_ms": valid_until.saturating_duration_since(Instant::now()).as_millis() as u64,
            }),
            _ => serde_json::Value::Null,
        };
        json!({
            "node": self.node,
            "role": role,
            "registered": self.lease.borrow().is_some(),
            "peers": peers,
            "leader": leader,
        })
        .to_string()
    }
}

/// Serves `status` on `port` until the task is aborted.
pub async fn serve(port: u16, status: Status) {
    let listener = match TcpListener::bind(("0.0.0.0", port)).await {
        Ok(l) => l,
        Err(e) => {
            warn!(port, error = %e, "status endpoint: cannot listen");
            return;
        }
    };
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let status = status.clone();
        tokio::spawn(async move {
            // The request itself does not matter: read its head, answer.
            let mut buf = [0u8; 1024];
            let _ = conn.read(&mut buf).await;
            let body = status.render();
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
