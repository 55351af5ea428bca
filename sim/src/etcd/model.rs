//! A model of the etcd v3 semantics disco relies on, as a pure state
//! machine over a caller-supplied clock: a global revision, keys with
//! create/mod revision and version, leases with a TTL, transactions that
//! compare and then write at one revision, prefix ranges, and the event
//! history watches replay from.
//!
//! Deliberately single-node: Raft is etcd's business; what disco sees is
//! one linearizable store. Where etcd's behaviour is a configuration
//! detail it is written down here (the minimum TTL), and the differential
//! tests hold the model to real etcd.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use etcd_client::proto::{PbEvent, PbKeyValue};

/// etcd rounds a granted TTL up to `3/2 x election timeout` (1 s by
/// default), in whole seconds: 2 s.
pub const MIN_TTL: i64 = 2;

/// An error etcd would answer with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// A put names a lease that does not exist.
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A compaction at or below the last one.
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// A compaction beyond the current revision.
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRevision,
}

#[derive(Debug, Clone)]
struct Lease {
    ttl: i64,
    expires: Duration,
    /// When it was granted or last kept alive (or promoted), in real
    /// (simulated) time: the store's clock may be a fault's.
    renewed: Duration,
    keys: BTreeSet<Vec<u8>>,
}

/// Real (simulated) time inside a simulation, else the store's `now`: a
/// lease's renewal is judged against real time (`window-within-lease`).
fn real(now: Duration) -> Duration {
    turmoil::sim_elapsed().unwrap_or(now)
}

/// The store.
#[derive(Debug, Clone)]
pub struct Model {
    revision: i64,
    kv: BTreeMap<Vec<u8>, PbKeyValue>,
    leases: BTreeMap<i64, Lease>,
    next_lease: i64,
    history: Vec<PbEvent>,
    compacted: i64,
    /// Keys deleted by a lease's end rather than by a client's request,
    /// not yet taken by [`Model::take_lapsed`].
    lapsed: Vec<String>,
}

impl Default for Model {
    fn default() -> Self {
        Model {
            revision: 1,
            kv: BTreeMap::new(),
            leases: BTreeMap::new(),
            next_lease: 0x1000,
            history: Vec::new(),
            compacted: 0,
            lapsed: Vec::new(),
        }
    }
}

/// Event type numbers of `mvccpb.Event`.
const PUT: i32 = 0;
const DELETE: i32 = 1;

/// Whether `key` is in `[key_start, range_end)` as etcd reads it: an empty
/// end means the one key, `"\0"` means every key from the start.
pub fn in_range(key: &[u8], start: &[u8], end: &[u8]) -> bool {
    if end.is_empty() {
        key == start
    } else if end == [0] {
        key >= start
    } else {
        key >= start && key < end
    }
}

impl Model {
    /// The current revision.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// Expires every lease whose deadline is at or before `now`, deleting
    /// its keys (one revision per lease, like etcd's revoke).
    pub fn expire(&mut self, now: Duration) {
        let due: Vec<i64> = self
            .leases
            .iter()
            .filter(|(_, l)| l.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.revoke(id);
        }
    }

    /// A new leader takes over: every lease gets its full TTL again from
    /// `now`, as etcd's lessor `Promote` does, so that no lease expires
    /// because the store was away.
    pub fn promote(&mut self, now: Duration) {
        for l in self.leases.values_mut() {
            l.expires = now + Duration::from_secs(l.ttl as u64);
            l.renewed = real(now);
        }
    }

    /// Grants a lease (`id` 0: the model picks one).
    pub fn grant(&mut self, now: Duration, ttl: i64, id: i64) -> (i64, i64) {
        let id = if id != 0 {
            id
        } else {
            self.next_lease += 1;
            self.next_lease
        };
        let ttl = ttl.max(MIN_TTL);
        self.leases.insert(
            id,
            Lease {
                ttl,
                expires: now + Duration::from_secs(ttl as u64),
                renewed: real(now),
                keys: BTreeSet::new(),
            },
        );
        (id, ttl)
    }

    /// Renews a lease; its TTL, or 0 if it is gone.
    pub fn keep_alive(&mut self, now: Duration, id: i64) -> i64 {
        match self.leases.get_mut(&id) {
            Some(l) => {
                l.expires = now + Duration::from_secs(l.ttl as u64);
                l.renewed = real(now);
                l.ttl
            }
            None => 0,
        }
    }

    /// When the lease `key` lives on was granted or last kept alive, if
    /// the key is present on one.
    pub fn lease_renewed(&self, key: &[u8]) -> Option<Duration> {
        let kv = self.kv.get(key)?;
        self.leases.get(&kv.lease).map(|l| l.renewed)
    }

    /// Remaining TTL in whole seconds (-1 if gone) and the granted TTL.
    pub fn time_to_live(&self, now: Duration, id: i64) -> (i64, i64) {
        match self.leases.get(&id) {
            Some(l) => (l.expires.saturating_sub(now).as_secs() as i64, l.ttl),
            None => (-1, 0),
        }
    }

    /// Revokes a lease and deletes its keys; false if it did not exist.
    pub fn revoke(&mut self, id: i64) -> bool {
        let Some(lease) = self.leases.remove(&id) else {
            return false;
        };
        if !lease.keys.is_empty() {
            self.revision += 1;
            for k in lease.keys {
                self.lapsed.push(String::from_utf8_lossy(&k).into_owned());
                self.remove(&k);
            }
        }
        true
    }

    fn remove(&mut self, key: &[u8]) {
        if let Some(old) = self.kv.remove(key) {
            if let Some(l) = self.leases.get_mut(&old.lease) {
                l.keys.remove(key);
            }
            self.history.push(PbEvent {
                r#type: DELETE,
                kv: Some(PbKeyValue {
                    key: key.to_vec(),
                    mod_revision: self.revision,
                    ..Default::default()
                }),
                prev_kv: None,
            });
        }
    }

    /// The keys in range, sorted.
    pub fn range(&self, start: &[u8], end: &[u8]) -> Vec<PbKeyValue> {
        self.kv
            .iter()
            .filter(|(k, _)| in_range(k, start, end))
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Checks a put's lease before any write of a transaction happens.
    pub fn check_lease(&self, lease: i64) -> Result<(), ModelError> {
        if lease != 0 && !self.leases.contains_key(&lease) {
            return Err(ModelError::LeaseNotFound);
        }
        Ok(())
    }

    /// Writes at the current revision (the caller bumped it): the body of
    /// a put, alone or inside a transaction.
    pub fn put_at_current(&mut self, key: &[u8], value: &[u8], lease: i64) {
        let rev = self.revision;
        let kv = match self.kv.get(key) {
            Some(old) => {
                if old.lease != lease {
                    if let Some(l) = self.leases.get_mut(&old.lease) {
                        l.keys.remove(key);
                    }
                }
                PbKeyValue {
                    key: key.to_vec(),
                    create_revision: old.create_revision,
                    mod_revision: rev,
                    version: old.version + 1,
                    value: value.to_vec(),
                    lease,
                }
            }
            None => PbKeyValue {
                key: key.to_vec(),
                create_revision: rev,
                mod_revision: rev,
                version: 1,
                value: value.to_vec(),
                lease,
            },
        };
        if let Some(l) = self.leases.get_mut(&lease) {
            l.keys.insert(key.to_vec());
        }
        self.history.push(PbEvent {
            r#type: PUT,
            kv: Some(kv.clone()),
            prev_kv: None,
        });
        self.kv.insert(key.to_vec(), kv);
    }

    /// The keys deleted by a lease's end (expiry or revocation) since the
    /// last call: writes no client's request records, which the simulator's
    /// history must still hold.
    pub fn take_lapsed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lapsed)
    }

    /// Deletes the range at the current revision; how many went.
    pub fn delete_at_current(&mut self, start: &[u8], end: &[u8]) -> i64 {
        let keys: Vec<Vec<u8>> = self
            .kv
            .keys()
            .filter(|k| in_range(k, start, end))
            .cloned()
            .collect();
        for k in &keys {
            self.remove(k);
        }
        keys.len() as i64
    }

    /// Starts a write: bumps the revision.
    pub fn begin_write(&mut self) {
        self.revision += 1;
    }

    /// Undoes [`Model::begin_write`] when nothing was written.
    pub fn abort_write(&mut self) {
        self.revision -= 1;
    }

    /// Compacts the history up to the current revision, as `etcdctl
    /// compact` does: a watch cannot start at or before it any more.
    pub fn compact(&mut self) {
        let rev = self.revision;
        let _ = self.compact_at(rev);
    }

    /// Compacts the history below `rev`, as etcd's Compact RPC; refused as
    /// etcd refuses (already compacted, or in the future).
    pub fn compact_at(&mut self, rev: i64) -> Result<(), ModelError> {
        if rev <= self.compacted {
            return Err(ModelError::Compacted);
        }
        if rev > self.revision {
            return Err(ModelError::FutureRevision);
        }
        self.compacted = rev;
        self.history
            .retain(|e| e.kv.as_ref().is_some_and(|kv| kv.mod_revision >= rev));
        Ok(())
    }

    /// The revision the history was last compacted at (0: never).
    pub fn compacted(&self) -> i64 {
        self.compacted
    }

    /// Events with revision >= `from` whose key is in range.
    pub fn events_since(&self, from: i64, start: &[u8], end: &[u8]) -> Vec<PbEvent> {
        self.history
            .iter()
            .filter(|e| {
                e.kv.as_ref()
                    .is_some_and(|kv| kv.mod_revision >= from && in_range(&kv.key, start, end))
            })
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Duration = Duration::ZERO;

    #[test]
    fn versions_and_revisions_follow_etcd() {
        let mut m = Model::default();
        m.begin_write();
        m.put_at_current(b"a", b"1", 0);
        m.begin_write();
        m.put_at_current(b"a", b"2", 0);
        let kv = &m.range(b"a", b"")[0];
        assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
    }

    #[test]
    fn an_expired_lease_takes_its_keys_in_one_revision() {
        let mut m = Model::default();
        let (id, ttl) = m.grant(T0, 1, 0);
        assert_eq!(ttl, MIN_TTL);
        m.begin_write();
        m.put_at_current(b"k1", b"v", id);
        m.begin_write();
        m.put_at_current(b"k2", b"v", id);
        m.expire(Duration::from_secs(1));
        assert_eq!(m.range(b"k", b"l").len(), 2);
        m.expire(Duration::from_secs(2));
        assert!(m.range(b"k", b"l").is_empty());
        assert_eq!(m.revision(), 4);
        assert_eq!(m.keep_alive(Duration::from_secs(2), id), 0);
    }

    #[test]
    fn ranges_read_prefixes_and_everything() {
        assert!(in_range(b"ab", b"a", b"b"));
        assert!(!in_range(b"b", b"a", b"b"));
        assert!(in_range(b"zz", b"a", &[0]));
        assert!(in_range(b"a", b"a", b""));
        assert!(!in_range(b"ab", b"a", b""));
    }
}
