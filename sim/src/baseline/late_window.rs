//! A planted bug, for the simulator's time resolution: disco over a
//! registry adapter that states its store's shortest lease life a few
//! milliseconds long, so that every leadership window closes [`LATE`] after
//! the renewal was *sent* plus the TTL. The store counts the TTL from when
//! the renewal *arrives*, so the window outlives the lease whenever a
//! renewal reaches the store in less than [`LATE`]: always on a LAN, never
//! in a simulator whose messages take a 50 ms tick or more.

use std::time::Duration;

use disco::{
    Cas, Entry, ExpiryBounds, Lease, LeaseId, Registry, RegistryError, Revision, Snapshot, Watch,
};

/// How far past the lease the planted adapter lets a window run.
pub const LATE: Duration = Duration::from_millis(4);

/// `inner`, its lease contract overstated so disco's window (nine tenths
/// of the shortest life after the renewal was sent) ends [`LATE`] after
/// the TTL.
#[derive(Debug, Clone)]
pub struct Overstated<R>(pub R);

impl<R: Registry> Registry for Overstated<R> {
    fn kind(&self) -> &'static str {
        self.0.kind()
    }

    fn expiry_bounds(&self, ttl: Duration) -> ExpiryBounds {
        let b = self.0.expiry_bounds(ttl);
        ExpiryBounds {
            min: (ttl + LATE).div_f64(0.9),
            max: b.max.max((ttl + LATE).div_f64(0.9)),
        }
    }

    async fn grant(&self, ttl: Duration) -> Result<Lease, RegistryError> {
        self.0.grant(ttl).await
    }

    async fn keep_alive(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        self.0.keep_alive(lease).await
    }

    async fn revoke(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        self.0.revoke(lease).await
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, RegistryError> {
        self.0.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Snapshot, RegistryError> {
        self.0.list(prefix).await
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Revision, RegistryError> {
        self.0.put(key, value, lease).await
    }

    async fn create(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        self.0.create(key, value, lease).await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        self.0.compare_and_swap(key, expected, value, lease).await
    }

    async fn compare_and_delete(
        &self,
        key: &str,
        expected: Revision,
    ) -> Result<bool, RegistryError> {
        self.0.compare_and_delete(key, expected).await
    }

    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        self.0.delete(key).await
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, RegistryError> {
        self.0.watch(prefix).await
    }
}
