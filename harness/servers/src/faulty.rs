//! A [`Registry`] that injects the faults real stores and networks produce
//! into the calls of a real one: a request applied whose reply is lost, a
//! call that never answers, a write the store refuses, a lease reported
//! lost, a watch that cannot start, a write still on the wire after its
//! caller gave up. Tests of disco's logic arm one fault, act, and assert.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use disco::registry::{
    Cas, Entry, ExpiryBounds, Lease, LeaseId, Registry, Revision, Snapshot, Watch,
};
use disco::RegistryError;

/// One armed fault of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Applied by the store, then the reply is lost (a timeout).
    DropReply,
    /// Never answers.
    Stall,
    /// Refused: a conditional write answers a conflict with no current
    /// entry (Consul's 409 for a failed transaction op); other calls fail.
    Refuse,
    /// A keep-alive answers that the lease is gone (it is not).
    LeaseLost,
    /// Rejected: the store refuses the request for good (a permission).
    Reject,
    /// For a watch: after its first snapshot the caller gets only the
    /// latest one every given period, as from a store that batches the
    /// events of one watch response or a watcher that reads late; the
    /// changes in between (a deletion followed by a rewrite) are never seen
    /// one by one.
    Coalesce(Duration),
    /// For a call: it waits this long before it goes to the store, as a
    /// request on a slow link does.
    Delay(Duration),
}

#[derive(Debug, Default)]
struct Plan {
    calls: BTreeMap<&'static str, usize>,
    /// Faults for the next calls of an operation, in order.
    next: BTreeMap<&'static str, Vec<Fault>>,
    /// Faults for every call of an operation until cleared.
    always: BTreeMap<&'static str, Fault>,
    /// A put reaches the store this long after it is sent, even if its
    /// caller stops waiting.
    put_delay: Option<Duration>,
}

/// Arms faults and counts calls of a [`Faulty`] registry.
#[derive(Debug, Clone, Default)]
pub struct Control {
    plan: Arc<Mutex<Plan>>,
}

impl Control {
    fn with<T>(&self, f: impl FnOnce(&mut Plan) -> T) -> T {
        f(&mut self.plan.lock().expect("plan lock"))
    }

    /// The next call of `op` suffers `fault` (after those already armed).
    pub fn once(&self, op: &'static str, fault: Fault) {
        self.with(|p| p.next.entry(op).or_default().push(fault));
    }

    /// Every call of `op` suffers `fault` until [`Control::clear`].
    pub fn always(&self, op: &'static str, fault: Fault) {
        self.with(|p| p.always.insert(op, fault));
    }

    /// Disarms every fault of `op`.
    pub fn clear(&self, op: &'static str) {
        self.with(|p| {
            p.always.remove(op);
            p.next.remove(op);
        });
    }

    /// Puts reach the store `delay` after they are sent.
    pub fn delay_puts(&self, delay: Duration) {
        self.with(|p| p.put_delay = Some(delay));
    }

    /// How many calls of `op` were made.
    pub fn calls(&self, op: &'static str) -> usize {
        self.with(|p| p.calls.get(op).copied().unwrap_or(0))
    }

    fn begin(&self, op: &'static str) -> Option<Fault> {
        self.with(|p| {
            *p.calls.entry(op).or_insert(0) += 1;
            if let Some(f) = p.always.get(op) {
                return Some(*f);
            }
            let queue = p.next.get_mut(op)?;
            (!queue.is_empty()).then(|| queue.remove(0))
        })
    }
}

/// A registry whose calls go to `R` through armed faults.
#[derive(Debug, Clone)]
pub struct Faulty<R> {
    inner: R,
    control: Control,
}

impl<R: Registry> Faulty<R> {
    /// Wraps `inner`; arm faults through the returned [`Control`].
    pub fn new(inner: R) -> (Faulty<R>, Control) {
        let control = Control::default();
        (
            Faulty {
                inner,
                control: control.clone(),
            },
            control,
        )
    }

    fn lost(&self) -> RegistryError {
        RegistryError::Unavailable {
            kind: self.inner.kind(),
            endpoint: "faulty".into(),
            reason: "the reply was lost".into(),
        }
    }

    /// Runs `call` under the fault armed for `op`.
    async fn run<T, F>(
        &self,
        op: &'static str,
        call: F,
        refused: impl FnOnce() -> Result<T, RegistryError>,
    ) -> Result<T, RegistryError>
    where
        F: std::future::Future<Output = Result<T, RegistryError>>,
    {
        match self.control.begin(op) {
            None => call.await,
            Some(Fault::DropReply) => {
                let _ = call.await;
                Err(self.lost())
            }
            Some(Fault::Stall) => std::future::pending().await,
            Some(Fault::Refuse) => refused(),
            Some(Fault::LeaseLost) => Err(RegistryError::LeaseLost("faulty".into())),
            Some(Fault::Reject) => Err(self.rejected()),
            Some(Fault::Delay(d)) => {
                tokio::time::sleep(d).await;
                call.await
            }
            // A watch's fault; other calls pass.
            Some(Fault::Coalesce(_)) => call.await,
        }
    }

    fn rejected(&self) -> RegistryError {
        RegistryError::Rejected {
            kind: self.inner.kind(),
            reason: "refused by the faulty registry".into(),
        }
    }
}

impl<R: Registry> Registry for Faulty<R> {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn expiry_bounds(&self, ttl: Duration) -> ExpiryBounds {
        self.inner.expiry_bounds(ttl)
    }

    async fn grant(&self, ttl: Duration) -> Result<Lease, RegistryError> {
        self.run("grant", self.inner.grant(ttl), || Err(self.rejected()))
            .await
    }

    async fn keep_alive(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        self.run("keep_alive", self.inner.keep_alive(lease), || {
            Err(self.rejected())
        })
        .await
    }

    async fn revoke(&self, lease: &LeaseId) -> Result<(), RegistryError> {
        self.run("revoke", self.inner.revoke(lease), || Err(self.rejected()))
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, RegistryError> {
        self.run("get", self.inner.get(key), || Err(self.rejected()))
            .await
    }

    async fn list(&self, prefix: &str) -> Result<Snapshot, RegistryError> {
        self.run("list", self.inner.list(prefix), || Err(self.rejected()))
            .await
    }

    async fn put(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Revision, RegistryError> {
        let delay = self.control.with(|p| p.put_delay);
        let Some(delay) = delay else {
            return self
                .run("put", self.inner.put(key, value, lease), || {
                    Err(self.rejected())
                })
                .await;
        };
        // On the wire: it lands whether or not the caller still waits.
        let (inner, key, value, lease) = (
            self.inner.clone(),
            key.to_string(),
            value.to_string(),
            lease.cloned(),
        );
        self.control.begin("put");
        let sent = tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            inner.put(&key, &value, lease.as_ref()).await
        });
        sent.await.unwrap_or_else(|_| Err(self.lost()))
    }

    async fn create(
        &self,
        key: &str,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        self.run("create", self.inner.create(key, value, lease), || {
            Ok(Cas::Conflict(None))
        })
        .await
    }

    async fn compare_and_swap(
        &self,
        key: &str,
        expected: Revision,
        value: &str,
        lease: Option<&LeaseId>,
    ) -> Result<Cas, RegistryError> {
        self.run(
            "cas",
            self.inner.compare_and_swap(key, expected, value, lease),
            || Ok(Cas::Conflict(None)),
        )
        .await
    }

    async fn compare_and_delete(
        &self,
        key: &str,
        expected: Revision,
    ) -> Result<bool, RegistryError> {
        self.run("cad", self.inner.compare_and_delete(key, expected), || {
            Ok(false)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), RegistryError> {
        self.run("delete", self.inner.delete(key), || Err(self.rejected()))
            .await
    }

    /// For a watch, [`Fault::Stall`] delivers the first snapshot and then
    /// nothing (a watch on a stalled connection); [`Fault::DropReply`]
    /// delivers the first snapshot and ends (a watch that died);
    /// [`Fault::Coalesce`] delivers the latest snapshot once a period;
    /// [`Fault::Refuse`] fails to start it.
    async fn watch(&self, prefix: &str) -> Result<Watch, RegistryError> {
        let fault = self.control.begin("watch");
        match fault {
            None => self.inner.watch(prefix).await,
            Some(Fault::Refuse | Fault::LeaseLost | Fault::Reject) => Err(self.rejected()),
            Some(f) => {
                let mut inner = self.inner.watch(prefix).await?;
                Ok(Watch::spawn(move |tx| async move {
                    // The first snapshot always arrives: a caller needs it to start.
                    let Some(first) = inner.next().await else {
                        return;
                    };
                    if tx.send(first).await.is_err() {
                        return;
                    }
                    match f {
                        Fault::Stall => std::future::pending::<()>().await,
                        Fault::Coalesce(period) => loop {
                            tokio::time::sleep(period).await;
                            let mut latest = None;
                            // Take what is ready now, without waiting.
                            loop {
                                match tokio::time::timeout(Duration::ZERO, inner.next()).await {
                                    Ok(Some(s)) => latest = Some(s),
                                    Ok(None) => return,
                                    Err(_) => break,
                                }
                            }
                            if let Some(s) = latest {
                                if tx.send(s).await.is_err() {
                                    return;
                                }
                            }
                        },
                        // A dropped reply ends the stream after its first
                        // snapshot (a delay is a call's fault, not a watch's).
                        _ => {}
                    }
                }))
            }
        }
    }
}
