//! The narrow boundary between disco's logic and a discovery store.
//!
//! Everything in `announce`, `peers`, `bootstrap` and `leader` is written
//! against [`Registry`] alone, so the same logic runs against real etcd, real
//! Consul, or a simulated store in the `sim` crate.
//!
//! The trait is the intersection of what etcd v3 and Consul's KV offer:
//! leases with a TTL (etcd leases, Consul sessions with `behavior=delete`),
//! create-if-absent and compare-and-swap on a per-key revision (etcd
//! `mod_revision`, Consul `ModifyIndex`), and a prefix watch (etcd watch,
//! Consul blocking query).

use std::future::Future;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::RegistryError;

/// A per-key version that changes on every write: etcd's `mod_revision`,
/// Consul's `ModifyIndex`. Used for compare-and-swap and as a fencing token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Revision(pub u64);

impl std::fmt::Display for Revision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A lease (etcd) or session (Consul): keys attached to it vanish when it is
/// not renewed within its TTL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LeaseId(pub String);

impl std::fmt::Display for LeaseId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A granted lease and the TTL the store actually applied (stores round up
/// to their own minimum).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The store's handle for the lease.
    pub id: LeaseId,
    /// The TTL the store granted.
    pub ttl: Duration,
}

/// One key as read from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Full key.
    pub key: String,
    /// UTF-8 value.
    pub value: String,
    /// Revision of the last write to this key.
    pub revision: Revision,
    /// Revision at which the key was created (unchanged by later writes).
    pub created: Revision,
    /// The lease the key is attached to, if any.
    pub lease: Option<LeaseId>,
}

/// All keys under a prefix, sorted by key, as of `revision`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Snapshot {
    /// Store-wide revision (etcd header revision, Consul `X-Consul-Index`).
    pub revision: Revision,
    /// The keys, sorted by key.
    pub entries: Vec<Entry>,
}

impl Snapshot {
    /// Whether two snapshots hold the same keys and values, whatever their
    /// store revision.
    pub fn same_entries(&self, other: &Snapshot) -> bool {
        self.entries == other.entries
    }
}

/// Outcome of a conditional write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cas {
    /// The write happened at this revision.
    Written(Revision),
    /// The condition failed; the key's current state (`None`: absent).
    Conflict(Option<Entry>),
}

impl Cas {
    /// The revision written, if the write happened.
    pub fn written(&self) -> Option<Revision> {
        match self {
            Cas::Written(r) => Some(*r),
            Cas::Conflict(_) => None,
        }
    }
}

/// When a lease of a given TTL is guaranteed to live, and when it is
/// guaranteed to be gone, after its last renewal.
///
/// etcd expires a lease TTL after the last renewal; Consul promises only
/// that a session lives *at least* its TTL and in practice invalidates it
/// after up to twice the TTL. Logic that must be safe uses `min`; checks
/// that wait for expiry use `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryBounds {
    /// The lease will not expire sooner than this after a renewal was sent.
    pub min: Duration,
    /// The lease will have expired this long after the last renewal
    /// (excluding the store's own expiry-check granularity).
    pub max: Duration,
}

/// A key-value store with leases, conditional writes and prefix watches.
///
/// Implementations must be cheap to clone (a handle to a shared client) and
/// must use tokio's clock and tasks only, so that the simulator can run them.
pub trait Registry: Clone + Send + Sync + 'static {
    /// A short name for logs: `etcd`, `consul`, ...
    fn kind(&self) -> &'static str;

    /// The expiry contract for a lease granted with `ttl`.
    fn expiry_bounds(&self, ttl: Duration) -> ExpiryBounds;

    /// Grants a lease with (at least) `ttl`.
    fn grant(&self, ttl: Duration) -> impl Future<Output = Result<Lease, RegistryError>> + Send;

    /// Renews a lease once. [`RegistryError::LeaseLost`] if it has expired.
    fn keep_alive(&self, lease: &LeaseId)
        -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Revokes a lease, deleting its keys. Revoking an expired lease is not
    /// an error.
    fn revoke(&self, lease: &LeaseId) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Reads one key.
    fn get(&self, key: &str) -> impl Future<Output = Result<Option<Entry>, RegistryError>> + Send;

    /// Reads every key under `prefix`, sorted by key.
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Snapshot, RegistryError>> + Send;

    /// Writes `key` unconditionally, attached to `lease` if given.
    fn put(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> impl Future<Output = Result<Revision, RegistryError>> + Send;

    /// Writes `key` only if it does not exist.
    fn create(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> impl Future<Output = Result<Cas, RegistryError>> + Send;

    /// Writes `key` only if its current revision is `expected`.
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> impl Future<Output = Result<Cas, RegistryError>> + Send;

    /// Deletes `key` only if its current revision is `expected`.
    fn compare_and_delete(
        &self,
        key: &str,
        expected: Revision,
    ) -> impl Future<Output = Result<bool, RegistryError>> + Send;

    /// Deletes `key` if present.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), RegistryError>> + Send;

    /// Watches `prefix`: the stream yields a full [`Snapshot`] first, then a
    /// new one after every change (push-driven, never polled on a timer).
    fn watch(&self, prefix: &str) -> impl Future<Output = Result<Watch, RegistryError>> + Send;
}

/// A live prefix watch. Each item is the full prefix after a change; errors
/// are reported as items while the backend reconnects with backoff.
///
/// Dropping the watch stops its background task.
#[derive(Debug)]
pub struct Watch {
    rx: mpsc::Receiver<Result<Snapshot, RegistryError>>,
    task: JoinHandle<()>,
}

impl Watch {
    /// Spawns `run` with the sending half of a fresh channel. Backends call
    /// this; the task should end when the sender reports it is closed.
    pub fn spawn<F, Fut>(run: F) -> Watch
    where
        F: FnOnce(mpsc::Sender<Result<Snapshot, RegistryError>>) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(16);
        let task = tokio::spawn(run(tx));
        Watch { rx, task }
    }

    /// The next snapshot or error; `None` once the backend gave up.
    pub async fn next(&mut self) -> Option<Result<Snapshot, RegistryError>> {
        self.rx.recv().await
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
