//! Errors of the registry boundary and of the logic above it.

use std::time::Duration;

/// What went wrong talking to a discovery store.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The store could not be reached (connection refused, timeout, no
    /// leader). Retrying later may succeed.
    #[error("{kind} registry unreachable at {endpoint}: {reason}")]
    Unavailable {
        /// Backend kind (`etcd`, `consul`).
        kind: &'static str,
        /// The endpoint(s) tried.
        endpoint: String,
        /// The underlying cause, as text.
        reason: String,
    },
    /// The lease or session no longer exists (expired or revoked).
    #[error("lease {0} has expired or was revoked")]
    LeaseLost(String),
    /// The store refused the request (bad argument, permission, ...).
    /// Retrying the same request will not help.
    #[error("{kind} registry rejected the request: {reason}")]
    Rejected {
        /// Backend kind.
        kind: &'static str,
        /// What the store said.
        reason: String,
    },
    /// The store does not let this client in: no certificate, one from
    /// another authority, or no permission on these keys. Retrying will not
    /// help; the credentials must change.
    #[error("{kind} registry refused these credentials: {reason}")]
    Refused {
        /// Backend kind.
        kind: &'static str,
        /// What the store (or its TLS handshake) said.
        reason: String,
    },
    /// A configuration value the store cannot honour.
    #[error("invalid {what}: {reason}")]
    Config {
        /// The setting.
        what: &'static str,
        /// Why it is invalid and what to use instead.
        reason: String,
    },
}

impl RegistryError {
    /// Whether retrying after a backoff can help.
    pub fn is_transient(&self) -> bool {
        matches!(self, RegistryError::Unavailable { .. })
    }
}

/// Errors of the discovery logic (announce, bootstrap, leader election).
#[derive(Debug, Clone, thiserror::Error)]
pub enum DiscoError {
    /// The store failed in a way retries did not fix in time.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// A wait with a deadline ran out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long we waited.
        after: Duration,
    },
    /// The node is shutting down.
    #[error("shut down")]
    Shutdown,
    /// This node's bootstrap claim lapsed before it was committed (its
    /// lease expired): another node may have bootstrapped, so the cluster
    /// this node started must not be used.
    #[error("{node}'s bootstrap claim lapsed before its database was ready; do not use the cluster it started")]
    BootstrapLost {
        /// The node.
        node: String,
    },
}
