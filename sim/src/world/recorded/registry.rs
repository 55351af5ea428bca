//! [`Recorded`]: a node's registry that writes every call it makes, with
//! its invocation and completion times, into the run's [`Recorder`].

use std::sync::Arc;
use std::time::Duration;

use disco::{
    Cas, Entry, ExpiryBounds, Lease, LeaseId, Registry, RegistryError, Revision, Snapshot, Watch,
};

use super::{now_us, versioned, Call, Recorder};

/// A node's registry, recording every call into the run's [`Recorder`].
#[derive(Debug, Clone)]
pub struct Recorded<R> {
    inner: R,
    recorder: Recorder,
    node: Arc<str>,
}

impl<R: Registry> Recorded<R> {
    /// `inner`, recording as `node`.
    pub fn new(inner: R, recorder: Recorder, node: &str) -> Recorded<R> {
        Recorded {
            inner,
            recorder,
            node: node.into(),
        }
    }

    /// Records a completed call (a read: one never answered says
    /// nothing).
    fn push(&self, invoke_us: u64, call: Call) {
        self.recorder
            .push(&self.node, (invoke_us, now_us()), true, call);
    }

    /// Records a write as it is invoked: unknown until its answer comes
    /// back, and for ever if its caller is dropped first.
    fn open(&self, call: Call) -> usize {
        let t0 = now_us();
        self.recorder.push(&self.node, (t0, t0), false, call)
    }

    fn read(&self, t0: u64, key: &str, e: Option<&Entry>) {
        let v = e.map(versioned);
        self.push(t0, Call::Read(key.to_string(), v));
    }

    /// A create or compare-and-set of `key` from revision `from` (`None`:
    /// absent): records it, runs it, and records its answer.
    async fn cas(
        &self,
        key: &str,
        from: Option<u64>,
        value: &str,
        run: impl std::future::Future<Output = Result<Cas, RegistryError>>,
    ) -> Result<Cas, RegistryError> {
        let write = |rev| Call::Cas(key.to_string(), from, Some(value.to_string()), rev);
        let at = self.open(write(None));
        let r = run.await;
        match &r {
            Ok(Cas::Written(rev)) => self.recorder.close(at, true, Some(write(Some(rev.0)))),
            // Both stores answer a conflict with the key as it stands,
            // read within the call.
            Ok(Cas::Conflict(e)) => {
                let read = Call::Read(key.to_string(), e.as_ref().map(versioned));
                self.recorder.close(at, true, Some(read));
            }
            Err(_) => self.recorder.close(at, false, None),
        }
        r
    }
}

impl<R: Registry> Registry for Recorded<R> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn expiry_bounds(&self, ttl: Duration) -> ExpiryBounds {
        self.inner.expiry_bounds(ttl)
    }

    async fn grant(&self, ttl: Duration) -> Result<Lease, RegistryError> {
        self.inner.grant(ttl).await
    }

    async fn keep_alive(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        self.inner.keep_alive(lease).await
    }

    /// The keys a revocation deletes are the store's own writes.
    async fn revoke(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        self.inner.revoke(lease).await
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, RegistryError> {
        let t0 = now_us();
        let r = self.inner.get(key).await;
        if let Ok(e) = &r {
            self.read(t0, key, e.as_ref());
        }
        r
    }

    async fn list(&self, prefix: &str) -> Result<Snapshot, RegistryError> {
        let t0 = now_us();
        let r = self.inner.list(prefix).await;
        if let Ok(s) = &r {
            let entries = s
                .entries
                .iter()
                .map(|e| (e.key.clone(), versioned(e)))
                .collect();
            self.push(t0, Call::List(prefix.to_string(), entries));
        }
        r
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Revision, RegistryError> {
        let write = |rev| Call::Write(key.to_string(), Some(value.to_string()), rev);
        let at = self.open(write(None));
        let r = self.inner.put(key, value, lease).await;
        let rev = r.as_ref().ok().map(|rev| rev.0);
        self.recorder.close(at, r.is_ok(), Some(write(rev)));
        r
    }

    async fn create(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        self.cas(key, None, value, self.inner.create(key, value, lease))
            .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        let run = self.inner.compare_and_swap(key, expected, value, lease);
        self.cas(key, Some(expected.0), value, run).await
    }

    async fn compare_and_delete(
        &self,
        key: &str,
        expected: Revision,
    ) -> Result<bool, RegistryError> {
        let call = if self.inner.kind() == "etcd" {
            Call::Cas(key.to_string(), Some(expected.0), None, None)
        } else {
            // Consul's `true` for a missing key proves only absence after.
            Call::Write(key.to_string(), None, None)
        };
        let at = self.open(call);
        let r = self.inner.compare_and_delete(key, expected).await;
        match r {
            Ok(true) => self.recorder.close(at, true, None),
            Ok(false) => self.recorder.fail(at),
            Err(_) => self.recorder.close(at, false, None),
        }
        r
    }

    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        let at = self.open(Call::Write(key.to_string(), None, None));
        let r = self.inner.delete(key).await;
        self.recorder.close(at, r.is_ok(), None);
        r
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, RegistryError> {
        self.inner.watch(prefix).await
    }
}
