//! Leader: a lease-bound leader key taken with create-if-absent, with a
//! fencing token and a local deadline that ends leadership before the lease
//! can expire.
//!
//! rqlite writes its leader key with no TTL and overwrites it
//! unconditionally, so a dead leader's key stays and two writers can race.
//! Here the key is created only if absent and lives on the holder's lease:
//! a dead holder's key vanishes within the store's expiry bound and the
//! next contender's create succeeds. A holder that cannot renew stops
//! acting as leader at `valid_until`, which is strictly before the store may
//! expire its lease, so two nodes never both believe they lead. Every term
//! carries a fencing token (the key's create revision) that grows from term
//! to term, so a resource guarded by the leader can reject stale holders.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::announce::LeaseState;
use crate::backoff::Backoff;
use crate::error::RegistryError;
use crate::keys::Keys;
use crate::registry::{Cas, Entry, Registry, Revision};

/// What the leader key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaderRecord {
    /// The leader's node id.
    pub node: String,
    /// The leader's advertise address.
    pub address: String,
}

impl LeaderRecord {
    /// Parses a leader key value; `None` if it is not ours.
    pub fn parse(value: &str) -> Option<LeaderRecord> {
        serde_json::from_str(value).ok()
    }

    fn encode(&self) -> String {
        serde_json::to_string(self).expect("plain struct")
    }
}

/// This node's view of leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Leadership {
    /// Not yet known (not registered, or the store is unreachable).
    Unknown,
    /// Another node (or none) holds the key.
    Follower {
        /// The current holder, if any.
        leader: Option<LeaderRecord>,
    },
    /// This node holds the key.
    Leader {
        /// Fencing token: the leader key's create revision for this term.
        token: Revision,
        /// Leadership ends at this instant unless the lease is renewed.
        valid_until: Instant,
    },
}

impl Leadership {
    /// Whether this node may act as leader right now.
    pub fn is_leader_now(&self) -> bool {
        matches!(self, Leadership::Leader { valid_until, .. } if Instant::now() < *valid_until)
    }

    /// The fencing token, if this node leads now.
    pub fn token(&self) -> Option<Revision> {
        match self {
            Leadership::Leader { token, valid_until } if Instant::now() < *valid_until => {
                Some(*token)
            }
            _ => None,
        }
    }
}

/// A running election. Dropping it stops campaigning without resigning.
#[derive(Debug)]
pub struct Election {
    rx: watch::Receiver<Leadership>,
    stop: Option<oneshot::Sender<()>>,
    /// Ends `true` if the key is surely not this node's when it stops.
    task: JoinHandle<bool>,
}

impl Election {
    /// Campaigns for the leader key whenever it is free, holding it on the
    /// lease published by `lease` (the node's announcement).
    pub fn start<R: Registry>(
        registry: R,
        keys: Keys,
        me: LeaderRecord,
        lease: watch::Receiver<Option<LeaseState>>,
    ) -> Election {
        let (tx, rx) = watch::channel(Leadership::Unknown);
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = tokio::spawn(campaign(registry, keys, me, lease, tx, stop_rx));
        Election {
            rx,
            stop: Some(stop_tx),
            task,
        }
    }

    /// The current view.
    pub fn current(&self) -> Leadership {
        self.rx.borrow().clone()
    }

    /// A receiver notified on every change.
    pub fn subscribe(&self) -> watch::Receiver<Leadership> {
        self.rx.clone()
    }

    /// Resigns (deletes the key if this node still holds it) and stops.
    /// Returns `false` if the key may still be this node's (the store did
    /// not answer the delete): it then sits on the node's lease, renewed
    /// as long as the node lives, until [`take_back`] removes it.
    pub async fn resign(mut self) -> bool {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.unwrap_or(false)
    }
}

impl Drop for Election {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether `token` is still the current term: the leader key exists and was
/// created at `token`. A guarded resource calls this before acting.
pub async fn fence_holds<R: Registry>(
    registry: &R,
    keys: &Keys,
    token: Revision,
) -> Result<bool, RegistryError> {
    Ok(registry
        .get(&keys.leader())
        .await?
        .is_some_and(|e| e.created == token))
}

/// One pass of the loop: what the key looked like and what we did.
enum Step {
    /// We hold the key (created now, or found ours on our lease).
    Lead(Entry),
    /// Someone else holds it, or it is unreadable.
    Follow(Option<Entry>),
}

async fn campaign<R: Registry>(
    registry: R,
    keys: Keys,
    me: LeaderRecord,
    mut lease_rx: watch::Receiver<Option<LeaseState>>,
    tx: watch::Sender<Leadership>,
    mut stop: oneshot::Receiver<()>,
) -> bool {
    let key = keys.leader();
    let mut backoff = Backoff::for_registry(&me.node);
    loop {
        // A valid lease first.
        let lease = {
            let wait = lease_rx.wait_for(|l| l.as_ref().is_some_and(LeaseState::is_valid));
            tokio::select! {
                r = wait => match r { Ok(l) => l.clone().expect("checked"), Err(_) => return true },
                _ = &mut stop => return true,
            }
        };
        let attempt = async {
            match registry
                .create(&key, &me.encode(), Some(&lease.lease.id))
                .await?
            {
                Cas::Written(rev) => Ok::<_, RegistryError>(Step::Lead(Entry {
                    key: key.clone(),
                    value: me.encode(),
                    revision: rev,
                    created: rev,
                    lease: Some(lease.lease.id.clone()),
                })),
                Cas::Conflict(Some(e)) if e.lease.as_ref() == Some(&lease.lease.id) => {
                    Ok(Step::Lead(e))
                }
                Cas::Conflict(e) => Ok(Step::Follow(e)),
            }
        };
        // A stop while the create is in flight does not drop it: a create
        // already sent may land, and would leave the key on this node's
        // lease, renewed for as long as the node lives, while every other
        // campaign waits for it to go. Its answer is awaited, and a key it
        // may have written is taken back.
        tokio::pin!(attempt);
        let (step, stopping) = tokio::select! {
            s = &mut attempt => (s, false),
            _ = &mut stop => (attempt.await, true),
        };
        if stopping {
            return relinquish(&registry, &keys, &me, &lease.lease.id, step).await;
        }
        let step = match step {
            // A refusal with no holder (Consul's 409 during a lock-delay,
            // say): nothing to wait for, so back off as for an error
            // rather than ask again at once.
            Ok(Step::Follow(None)) => {
                let delay = backoff.next_delay();
                tx.send_replace(Leadership::Follower { leader: None });
                warn!(node = %me.node, retry_in = ?delay, "the store refused the leader key with no holder; retrying");
                tokio::select! {
                    _ = crate::timer::sleep(delay) => continue,
                    _ = &mut stop => return true,
                }
            }
            Ok(s) => {
                backoff.reset();
                s
            }
            Err(e) => {
                tx.send_replace(Leadership::Unknown);
                let delay = backoff.next_delay();
                warn!(node = %me.node, error = %e, retry_in = ?delay, "leader campaign failed; retrying");
                tokio::select! {
                    _ = crate::timer::sleep(delay) => continue,
                    // The create failed: it may have landed anyway.
                    _ = &mut stop => return take_back(&registry, &keys, &me, &lease.lease.id).await.unwrap_or(false),
                }
            }
        };
        match step {
            Step::Lead(entry) => {
                if let Some(clean) =
                    hold(&registry, &key, &me, entry, &mut lease_rx, &tx, &mut stop).await
                {
                    return clean;
                }
            }
            Step::Follow(entry) => {
                let leader = entry.as_ref().and_then(|e| LeaderRecord::parse(&e.value));
                tx.send_replace(Leadership::Follower { leader });
                if wait_until_free(&registry, &key, entry, &mut stop, &tx).await {
                    return true;
                }
            }
        }
    }
}

/// After a stop during a campaign's create: takes the key back if the
/// create wrote it, or if it cannot say (an error), if the store shows the
/// key as this node's on its lease. Returns whether the key is surely not
/// this node's now.
async fn relinquish<R: Registry>(
    registry: &R,
    keys: &Keys,
    me: &LeaderRecord,
    lease: &crate::registry::LeaseId,
    step: Result<Step, RegistryError>,
) -> bool {
    match step {
        Ok(Step::Follow(_)) => true,
        Ok(Step::Lead(e)) => match registry
            .compare_and_delete(&keys.leader(), e.revision)
            .await
        {
            Ok(_) => {
                info!(node = %me.node, "stopped mid-campaign: took back the leader key it had just won");
                true
            }
            Err(err) => {
                warn!(node = %me.node, error = %err, "stopped mid-campaign: could not take back the leader key it won");
                false
            }
        },
        Err(_) => take_back(registry, keys, me, lease).await.unwrap_or(false),
    }
}

/// Removes the leader key if it is this node's (`me` on `lease`): a key
/// left by a resignation or a stopped campaign the store did not answer.
/// `Ok(true)` once the key is surely not this node's (removed, another's,
/// absent); an error if the store did not answer.
pub async fn take_back<R: Registry>(
    registry: &R,
    keys: &Keys,
    me: &LeaderRecord,
    lease: &crate::registry::LeaseId,
) -> Result<bool, RegistryError> {
    let key = keys.leader();
    let Some(e) = registry.get(&key).await? else {
        return Ok(true);
    };
    if e.lease.as_ref() != Some(lease) || LeaderRecord::parse(&e.value).as_ref() != Some(me) {
        return Ok(true);
    }
    registry.compare_and_delete(&key, e.revision).await?;
    info!(node = %me.node, "took back a leader key left on this node's lease");
    Ok(true)
}

/// What became of the leader key while leading.
enum KeyNews {
    /// It no longer names this term.
    Lost,
    /// The watch ended: the key can no longer be seen going.
    Blind,
}

/// Whether the key still names this term, read from the store: `None` if
/// the store did not answer.
async fn still_ours<R: Registry>(registry: &R, key: &str, token: Revision) -> Option<bool> {
    registry
        .get(key)
        .await
        .ok()
        .map(|e| e.is_some_and(|e| e.created == token))
}

/// Leads until the lease lapses, is replaced, or the key is lost. Returns
/// `Some(clean)` if asked to stop (after resigning; `clean`: the key is
/// surely not this node's any more), `None` to campaign again.
///
/// The key is watched, and read again at every renewal: a key deleted from
/// outside (an operator, a revoked lease) while this node's lease lives
/// would otherwise leave it leading beside whoever takes the key next, if
/// its watch never started, ended, or sits on a stalled connection.
async fn hold<R: Registry>(
    registry: &R,
    key: &str,
    me: &LeaderRecord,
    entry: Entry,
    lease_rx: &mut watch::Receiver<Option<LeaseState>>,
    tx: &watch::Sender<Leadership>,
    stop: &mut oneshot::Receiver<()>,
) -> Option<bool> {
    let token = entry.created;
    let lease_id = entry.lease.clone();
    info!(node = %me.node, %token, "became leader");
    let mut key_watch = registry.watch(key).await.ok();
    let mut renewed: Option<Instant> = None;
    loop {
        let state = lease_rx.borrow().clone();
        let Some(state) = state.filter(|s| Some(&s.lease.id) == lease_id.as_ref()) else {
            warn!(node = %me.node, %token, "lease replaced: stepping down");
            break;
        };
        if !state.is_valid() {
            warn!(node = %me.node, %token, "lease not renewed in time: stepping down");
            break;
        }
        // A renewal extends leadership only once the key is confirmed ours
        // after it.
        if renewed != Some(state.valid_until) {
            if still_ours(registry, key, token).await == Some(false) {
                warn!(node = %me.node, %token, "leader key lost: stepping down");
                break;
            }
            renewed = Some(state.valid_until);
        }
        if key_watch.is_none() {
            key_watch = registry.watch(key).await.ok();
        }
        tx.send_replace(Leadership::Leader {
            token,
            valid_until: state.valid_until,
        });
        let key_changed = async {
            match key_watch.as_mut() {
                Some(w) => loop {
                    match w.next().await {
                        Some(Ok(snap)) => {
                            let ours = snap
                                .entries
                                .iter()
                                .any(|e| e.key == key && e.created == token);
                            if !ours {
                                return KeyNews::Lost;
                            }
                        }
                        // The backend reconnects and sends the whole key again.
                        Some(Err(_)) => {}
                        None => return KeyNews::Blind,
                    }
                },
                // No watch: the reads at each renewal are the only eyes;
                // try to watch again in a while.
                None => {
                    crate::timer::sleep(Duration::from_millis(500)).await;
                    KeyNews::Blind
                }
            }
        };
        tokio::select! {
            _ = crate::timer::sleep_until(state.valid_until) => {}
            r = lease_rx.changed() => if r.is_err() { break },
            news = key_changed => match news {
                KeyNews::Lost => {
                    warn!(node = %me.node, %token, "leader key lost: stepping down");
                    break;
                }
                KeyNews::Blind => key_watch = None,
            },
            _ = &mut *stop => {
                tx.send_replace(Leadership::Follower { leader: None });
                return Some(match registry.compare_and_delete(key, entry.revision).await {
                    Ok(true) => {
                        info!(node = %me.node, %token, "resigned leadership");
                        true
                    }
                    Ok(false) => true,
                    Err(e) => {
                        warn!(node = %me.node, error = %e, "resign failed: the key stays on this node's lease until taken back");
                        false
                    }
                });
            }
        }
    }
    tx.send_replace(Leadership::Unknown);
    None
}

/// Waits until the leader key is absent. A key that is not a leader
/// record and has no lease would never go: it is removed (compare-and-
/// delete at the revision seen). Returns true if asked to stop.
async fn wait_until_free<R: Registry>(
    registry: &R,
    key: &str,
    seen: Option<Entry>,
    stop: &mut oneshot::Receiver<()>,
    tx: &watch::Sender<Leadership>,
) -> bool {
    if seen.is_none() {
        return false;
    }
    let mut watch = tokio::select! {
        w = registry.watch(key) => match w {
            Ok(w) => w,
            Err(_) => {
                tokio::select! {
                    _ = crate::timer::sleep(Duration::from_millis(500)) => return false,
                    _ = &mut *stop => return true,
                }
            }
        },
        _ = &mut *stop => return true,
    };
    loop {
        let item = tokio::select! {
            i = watch.next() => i,
            _ = &mut *stop => return true,
        };
        match item {
            Some(Ok(snap)) => match snap.entries.iter().find(|e| e.key == key) {
                None => return false,
                Some(e) => {
                    let leader = LeaderRecord::parse(&e.value);
                    if leader.is_none() && e.lease.is_none() {
                        warn!(key, value = %e.value, "the leader key holds no leader and no lease: removing it");
                        let _ = registry.compare_and_delete(key, e.revision).await;
                        return false;
                    }
                    tx.send_replace(Leadership::Follower { leader });
                }
            },
            Some(Err(_)) => {}
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fencing token is handed out only inside the leadership window:
    /// at its last instant the store may already let another node win, so
    /// the window is half-open. (A surviving mutant: `token` ignored the
    /// window.)
    #[tokio::test(start_paused = true)]
    async fn the_token_ends_with_the_window() {
        let open = Leadership::Leader {
            token: Revision(7),
            valid_until: Instant::now() + Duration::from_millis(1),
        };
        assert_eq!(open.token(), Some(Revision(7)));
        assert!(open.is_leader_now());
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(open.token(), None, "the window closed at valid_until");
        assert!(!open.is_leader_now());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(open.token(), None);
    }
}
