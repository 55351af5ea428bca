//! Announce: keep `<prefix>/<cluster>/members/<node>` alive on a lease.
//!
//! The shell glue this replaces (`etcdctl set --ttl 60; sleep 45`) renews
//! blindly and never notices that its key expired while it was cut off. Here
//! the key lives on a lease renewed every TTL/3; when the store says the lease
//! is gone (partition longer than the TTL, store restart), the node grants a
//! new lease and announces again. The current lease and how long it is
//! guaranteed to live are published for the leader election, which holds its
//! key on the same lease.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::backoff::Backoff;
use crate::error::{DiscoError, RegistryError};
use crate::keys::Keys;
use crate::registry::{Lease, Registry, Snapshot, Watch};

/// A lease the node holds and until when it is certainly still alive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseState {
    /// The lease.
    pub lease: Lease,
    /// The lease cannot expire before this instant: the send time of the
    /// last acknowledged renewal plus the store's minimum lifetime, less a
    /// 10% margin for clock-rate drift.
    pub valid_until: Instant,
}

impl LeaseState {
    /// Whether the lease is certainly alive now.
    pub fn is_valid(&self) -> bool {
        Instant::now() < self.valid_until
    }
}

/// A running announcement. Call [`Announcement::stop`] to deregister.
#[derive(Debug)]
pub struct Announcement {
    lease: watch::Receiver<Option<LeaseState>>,
    /// Set when the store refused the node's credentials before it was
    /// ever registered: no retry can help, so the announcement ends.
    refused: watch::Receiver<Option<RegistryError>>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

/// What to announce.
#[derive(Debug, Clone)]
pub struct AnnounceConfig {
    /// Node id (the last key segment).
    pub node: String,
    /// Address peers should use to reach this node.
    pub address: String,
    /// Lease TTL.
    pub ttl: Duration,
}

impl Announcement {
    /// Starts announcing in the background; it retries with backoff while
    /// the store is unreachable, logging each failure.
    pub fn start<R: Registry>(registry: R, keys: Keys, cfg: AnnounceConfig) -> Announcement {
        let (tx, rx) = watch::channel(None);
        let (refused_tx, refused) = watch::channel(None);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(run(registry, keys, cfg, tx, refused_tx, stop_rx));
        Announcement {
            lease: rx,
            refused,
            stop: Some(stop_tx),
            task,
        }
    }

    /// The current lease, `None` while not registered.
    pub fn lease(&self) -> Option<LeaseState> {
        self.lease.borrow().clone()
    }

    /// A receiver that sees every lease change and renewal.
    pub fn subscribe(&self) -> watch::Receiver<Option<LeaseState>> {
        self.lease.clone()
    }

    /// Waits until the node is registered, up to `deadline`; a store that
    /// refuses the node's credentials ends the wait at once.
    pub async fn registered(&self, deadline: Duration) -> Result<LeaseState, DiscoError> {
        let mut rx = self.lease.clone();
        let mut refused = self.refused.clone();
        let got = crate::timer::timeout(deadline, async {
            tokio::select! {
                l = rx.wait_for(|l| l.is_some()) => l.map(|l| Ok(l.clone())),
                e = refused.wait_for(|e| e.is_some()) => e.map(|e| Err(e.clone())),
            }
        })
        .await;
        match got {
            Ok(Ok(Ok(l))) => Ok(l.expect("checked")),
            Ok(Ok(Err(e))) => Err(DiscoError::Registry(e.expect("checked"))),
            // The task ended: a refusal closes the lease channel as it
            // sets the refusal, and either wait may see it first.
            Ok(Err(_)) => match self.refused.borrow().clone() {
                Some(e) => Err(DiscoError::Registry(e)),
                None => Err(DiscoError::Shutdown),
            },
            Err(_) => Err(DiscoError::Timeout {
                what: "registration in the discovery store".into(),
                after: deadline,
            }),
        }
    }

    /// Deregisters (deletes the key, revokes the lease) and stops.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }

    /// Stops renewing without deregistering, as a crash would: the key stays
    /// until its lease expires. For tests and fault injection.
    pub fn abandon(self) {
        self.task.abort();
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn valid_until(sent: Instant, min: Duration) -> Instant {
    sent + min.mul_f64(0.9)
}

async fn run<R: Registry>(
    registry: R,
    keys: Keys,
    cfg: AnnounceConfig,
    tx: watch::Sender<Option<LeaseState>>,
    refused: watch::Sender<Option<RegistryError>>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut ever_registered = false;
    let key = keys.member(&cfg.node);
    let mut backoff = Backoff::for_lease(&cfg.node, cfg.ttl);
    let interval = cfg.ttl / 3;
    // Whether `stop` has fired (or its sender is gone).
    let stopped = |stop: &mut oneshot::Receiver<()>| {
        !matches!(stop.try_recv(), Err(oneshot::error::TryRecvError::Empty))
    };
    loop {
        // (Re-)register: a fresh lease, then the key on it. Not abandoned
        // half-way when asked to stop: a grant or a put already sent may
        // still land, and would resurrect the key on a lease nobody revokes.
        // Each call has its deadline; the stop waits for them.
        let sent = Instant::now();
        let mut granted: Option<Lease> = None;
        let step = async {
            let lease = registry.grant(cfg.ttl).await?;
            granted = Some(lease.clone());
            registry.put(&key, &cfg.address, Some(&lease.id)).await?;
            Ok::<_, RegistryError>(lease)
        };
        let result = step.await;
        if stopped(&mut stop) {
            deregister(&registry, &key, granted).await;
            tx.send_replace(None);
            return;
        }
        let lease = match result {
            Ok(l) => l,
            Err(e) => {
                if let Some(orphan) = granted {
                    spawn_revoke(&registry, orphan);
                }
                if !ever_registered && matches!(e, RegistryError::Refused { .. }) {
                    warn!(node = %cfg.node, error = %e, "the store refuses this node's credentials; not retrying");
                    refused.send_replace(Some(e));
                    return;
                }
                let delay = backoff.next_delay();
                warn!(node = %cfg.node, error = %e, retry_in = ?delay, attempt = backoff.attempt(), "announce failed; retrying");
                tokio::select! {
                    _ = crate::timer::sleep(delay) => continue,
                    _ = &mut stop => {
                        deregister(&registry, &key, None).await;
                        tx.send_replace(None);
                        return;
                    }
                }
            }
        };
        backoff.reset();
        ever_registered = true;
        let bounds = registry.expiry_bounds(lease.ttl);
        let min = bounds.min;
        let mut last_ok = sent;
        info!(node = %cfg.node, key = %key, lease = %lease.id, ttl = ?lease.ttl, "announced");
        tx.send_replace(Some(LeaseState {
            lease: lease.clone(),
            valid_until: valid_until(sent, min),
        }));

        // Keep alive until the store says the lease is gone. A renewal may
        // take at most the interval: past it there would be no time to
        // retry before the lease runs out. The first is due an interval
        // after the grant was sent, as every later one is after its own
        // renewal: counted from the registration's end, a slow grant and
        // put (store links jittering by hundreds of ms) left the lease's
        // certain life, counted from `sent`, ending before the first
        // renewal's answer came back, and a bootstrap claim on it lapsed.
        let mut next = sent + interval;
        // The key itself is watched from the first renewal on: a deletion
        // from outside is mended when the store reports it.
        let mut own: Option<Watch> = None;
        let mut renewals: u32 = 0;
        loop {
            tokio::select! {
                _ = crate::timer::sleep_until(next) => {}
                seen = next_seen(&mut own) => {
                    match seen {
                        Some(snap) => {
                            if !holds(&snap, &key, &lease) {
                                // Never past the next renewal's time.
                                let _ = crate::timer::timeout_at(
                                    next,
                                    reannounce(&registry, &key, &cfg, &lease),
                                )
                                .await;
                            }
                        }
                        None => own = None,
                    }
                    continue;
                }
                _ = &mut stop => {
                    deregister(&registry, &key, Some(lease)).await;
                    tx.send_replace(None);
                    return;
                }
            }
            let sent = Instant::now();
            let renewed =
                match crate::timer::timeout(interval, registry.keep_alive(&lease.id)).await {
                    Ok(r) => r,
                    Err(_) => Err(RegistryError::Unavailable {
                        kind: registry.kind(),
                        endpoint: String::new(),
                        reason: format!("no renewal answer within {interval:?}"),
                    }),
                };
            match renewed {
                Ok(()) => {
                    backoff.reset();
                    debug!(node = %cfg.node, lease = %lease.id, "renewed");
                    tx.send_replace(Some(LeaseState {
                        lease: lease.clone(),
                        valid_until: valid_until(sent, min),
                    }));
                    next = sent + interval;
                    last_ok = sent;
                    renewals = renewals.wrapping_add(1);
                    // The calls below share the renewal loop: each ends by
                    // the next renewal's time, whatever its own deadline (a
                    // store that stalls now must not cost the lease).
                    if own.is_none() {
                        own = crate::timer::timeout_at(next, registry.watch(&key))
                            .await
                            .ok()
                            .and_then(Result::ok);
                    }
                    // Without a watch, or one renewal in READ_EVERY even
                    // with one (a watch on a stalled connection sees
                    // nothing), the key is read: mended within a TTL.
                    if own.is_none() || renewals % READ_EVERY == 0 {
                        let _ = crate::timer::timeout_at(
                            next,
                            ensure_key(&registry, &key, &cfg, &lease),
                        )
                        .await;
                    }
                }
                Err(RegistryError::LeaseLost(_)) => {
                    warn!(node = %cfg.node, lease = %lease.id, "lease expired; announcing again");
                    tx.send_replace(None);
                    // Gone, says the store; if the answer was wrong (a
                    // stream that closed), its keys must not outlive it.
                    spawn_revoke(&registry, lease);
                    break;
                }
                // Whatever the error, once the lease has certainly expired
                // there is nothing left to renew.
                Err(e) if Instant::now() > last_ok + bounds.max => {
                    warn!(node = %cfg.node, lease = %lease.id, error = %e, "lease cannot have survived; announcing again");
                    tx.send_replace(None);
                    // If it did survive after all, it holds keys (this
                    // node's, perhaps the leader key) that nobody renews:
                    // take them away now rather than after its TTL.
                    spawn_revoke(&registry, lease);
                    break;
                }
                Err(e) => {
                    let delay = backoff.next_delay().min(interval);
                    warn!(node = %cfg.node, error = %e, retry_in = ?delay, "renewal failed; retrying");
                    next = Instant::now() + delay;
                }
            }
        }
    }
}

/// How often a renewal reads the member key although it is watched.
const READ_EVERY: u32 = 3;

/// The next snapshot of this node's watched key, skipping the errors a
/// backend reports while it reconnects; `None` once the watch ended. With
/// no watch, never ready.
async fn next_seen(own: &mut Option<Watch>) -> Option<Snapshot> {
    let Some(w) = own else {
        return std::future::pending().await;
    };
    loop {
        match w.next().await? {
            Ok(snap) => return Some(snap),
            Err(_) => continue,
        }
    }
}

/// Whether `snap` shows `key` on `lease` (the watch's prefix also matches
/// longer keys: `n1` is a prefix of `n10`).
fn holds(snap: &Snapshot, key: &str, lease: &Lease) -> bool {
    snap.entries
        .iter()
        .any(|e| e.key == key && e.lease.as_ref() == Some(&lease.id))
}

/// After a renewal: if the member key was deleted from outside while the
/// lease lives (an operator, a cleanup script), writes it again.
async fn ensure_key<R: Registry>(registry: &R, key: &str, cfg: &AnnounceConfig, lease: &Lease) {
    if let Ok(e) = registry.get(key).await {
        if e.is_none_or(|e| e.lease.as_ref() != Some(&lease.id)) {
            reannounce(registry, key, cfg, lease).await;
        }
    }
}

/// Writes the member key again on the live lease.
async fn reannounce<R: Registry>(registry: &R, key: &str, cfg: &AnnounceConfig, lease: &Lease) {
    warn!(node = %cfg.node, key, "member key missing while the lease lives; announcing again");
    if let Err(e) = registry.put(key, &cfg.address, Some(&lease.id)).await {
        warn!(node = %cfg.node, error = %e, "re-announce failed; a later renewal reads the key again");
    }
}

/// Revokes a lease this node no longer uses, in the background.
fn spawn_revoke<R: Registry>(registry: &R, lease: Lease) {
    let registry = registry.clone();
    tokio::spawn(async move {
        let _ = registry.revoke(&lease.id).await;
    });
}

async fn deregister<R: Registry>(registry: &R, key: &str, lease: Option<Lease>) {
    if let Err(e) = registry.delete(key).await {
        warn!(key, error = %e, "deregister: delete failed (the lease will expire)");
    }
    if let Some(l) = lease {
        if let Err(e) = registry.revoke(&l.id).await {
            warn!(lease = %l.id, error = %e, "deregister: revoke failed (the lease will expire)");
        }
    }
}
