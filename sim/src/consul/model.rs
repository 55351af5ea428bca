//! Consul 1.8's KV store and sessions as a pure state machine over a
//! caller-supplied clock.
//!
//! What it keeps of Consul's semantics (checked against real Consul by
//! `tests/differential.rs`):
//! - one raft index for every write, session create and destroy; a failed
//!   transaction consumes an index too, as it goes through raft;
//! - keys carry `CreateIndex`, `ModifyIndex`, `LockIndex` and the session
//!   holding them;
//! - sessions expire at twice their TTL after the last renewal (Consul arms
//!   its timer at `TTL * 2`), and invalidation deletes the keys they hold
//!   (`behavior = delete`) at one index;
//! - `/v1/txn` verbs `set`, `lock`, `unlock`, `check-index`,
//!   `check-not-exists`, all or nothing;
//! - the index of a prefix listing: the highest modify or tombstone index
//!   under the prefix, else the whole table's.

use std::collections::BTreeMap;
use std::time::Duration;

/// One stored key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The value (raw bytes).
    pub value: Vec<u8>,
    /// Index of the write that created the key.
    pub create_index: u64,
    /// Index of the last write.
    pub modify_index: u64,
    /// How many times a session has acquired it.
    pub lock_index: u64,
    /// The session holding it, if any.
    pub session: Option<String>,
}

/// A live session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Its TTL as created.
    pub ttl: Duration,
    /// How long the keys it held stay unlockable after it is invalidated
    /// (Consul's default: 15 s).
    pub lock_delay: Duration,
    /// Index of its creation.
    pub create_index: u64,
    /// When Consul invalidates it unless renewed.
    pub deadline: Duration,
    /// When it was created or last renewed (or its timer armed afresh), in
    /// real (simulated) time: the store's clock may be a fault's.
    pub renewed: Duration,
}

/// One `/v1/txn` operation. `key` is the key it acts on, `value` what it
/// writes, `session` the session it acts for.
#[allow(missing_docs)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Write the value, keeping any lock holder.
    Set { key: String, value: Vec<u8> },
    /// Acquire with `session` and write the value.
    Lock {
        key: String,
        value: Vec<u8>,
        session: String,
    },
    /// Release `session`'s hold and write the value.
    Unlock {
        key: String,
        value: Vec<u8>,
        session: String,
    },
    /// Fail unless the key's modify index is `index`.
    CheckIndex { key: String, index: u64 },
    /// Fail if the key exists.
    CheckNotExists { key: String },
}

/// Why a transaction was rolled back (Consul answers 409 with these).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TxnError(pub String);

/// The store.
#[derive(Debug, Clone)]
pub struct Model {
    index: u64,
    kvs_index: u64,
    kvs: BTreeMap<String, Pair>,
    tombstones: BTreeMap<String, u64>,
    sessions: BTreeMap<String, Session>,
    next_session: u64,
    /// Keys no session may lock before these instants (lock-delay).
    delayed: BTreeMap<String, Duration>,
    /// Whether the node sessions are created on is in the catalog.
    node_registered: bool,
    /// The latest time the model was told (at each expiry check).
    now: Duration,
    /// Keys deleted by a session's end rather than by a client's request,
    /// not yet taken by [`Model::take_lapsed`].
    lapsed: Vec<String>,
}

impl Default for Model {
    /// An empty store whose raft index has moved once: a real server has
    /// written its own bookkeeping (the catalog) before any client's first
    /// write, so no client write ever carries the index an empty listing
    /// answers with (at least 1, as Consul's blocking-query rules ask).
    fn default() -> Self {
        Model {
            index: 1,
            kvs_index: 0,
            kvs: BTreeMap::new(),
            tombstones: BTreeMap::new(),
            sessions: BTreeMap::new(),
            next_session: 0,
            delayed: BTreeMap::new(),
            node_registered: true,
            now: Duration::ZERO,
            lapsed: Vec::new(),
        }
    }
}

impl Model {
    /// The raft index of the last write.
    pub fn index(&self) -> u64 {
        self.index
    }

    fn bump(&mut self) -> u64 {
        self.index += 1;
        self.index
    }

    /// Invalidates every session past its deadline, each at its own index.
    pub fn expire(&mut self, now: Duration) {
        self.now = self.now.max(now);
        let due: Vec<(Duration, String)> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.deadline <= now)
            .map(|(id, s)| (s.deadline, id.clone()))
            .collect();
        let mut due = due;
        due.sort();
        for (_, id) in due {
            self.destroy(&id);
        }
    }

    /// Creates a session; returns its id. The id is a UUID-shaped counter, so
    /// runs are deterministic.
    pub fn create_session(&mut self, now: Duration, ttl: Duration) -> String {
        self.create_session_with(now, ttl, Duration::ZERO)
            .expect("the node is registered")
    }

    /// Creates a session with a lock-delay; refused (as Consul's "Missing
    /// node registration") while the node is deregistered.
    pub fn create_session_with(
        &mut self,
        now: Duration,
        ttl: Duration,
        lock_delay: Duration,
    ) -> Result<String, String> {
        if !self.node_registered {
            return Err("Missing node registration".into());
        }
        Ok(self.new_session(now, ttl, lock_delay))
    }

    fn new_session(&mut self, now: Duration, ttl: Duration, lock_delay: Duration) -> String {
        self.next_session += 1;
        let id = format!("00000000-0000-4000-8000-{:012x}", self.next_session);
        let create_index = self.bump();
        self.sessions.insert(
            id.clone(),
            Session {
                ttl,
                lock_delay,
                create_index,
                deadline: now + ttl * 2,
                renewed: turmoil::sim_elapsed().unwrap_or(now),
            },
        );
        id
    }

    /// Renews a session; `None` if it is gone. Renewals go through no raft
    /// write, so the index does not move.
    pub fn renew(&mut self, now: Duration, id: &str) -> Option<Session> {
        let s = self.sessions.get_mut(id)?;
        s.deadline = now + s.ttl * 2;
        s.renewed = turmoil::sim_elapsed().unwrap_or(now);
        Some(s.clone())
    }

    /// A new leader takes over: it arms every session's timer afresh, at
    /// twice the TTL from `now`, as Consul's leader does on election.
    pub fn promote(&mut self, now: Duration) {
        for s in self.sessions.values_mut() {
            s.deadline = now + s.ttl * 2;
            s.renewed = turmoil::sim_elapsed().unwrap_or(now);
        }
    }

    /// The node sessions live on is deregistered (`false`: every session
    /// is invalidated, none can be created) or registered again.
    pub fn set_node_registered(&mut self, registered: bool) {
        if !registered {
            for id in self.session_ids() {
                self.destroy(&id);
            }
        }
        self.node_registered = registered;
    }

    /// Every live session's id.
    pub fn session_ids(&self) -> Vec<String> {
        self.sessions.keys().cloned().collect()
    }

    /// A session, if live.
    pub fn session(&self, id: &str) -> Option<&Session> {
        self.sessions.get(id)
    }

    /// Destroys a session and deletes the keys it holds, at one index.
    /// Returns whether it existed; a missing session still consumes an
    /// index (the request goes through raft).
    pub fn destroy(&mut self, id: &str) -> bool {
        let idx = self.bump();
        let gone = self.sessions.remove(id);
        let held: Vec<String> = self
            .kvs
            .iter()
            .filter(|(_, p)| p.session.as_deref() == Some(id))
            .map(|(k, _)| k.clone())
            .collect();
        let delay = gone.as_ref().map_or(Duration::ZERO, |s| s.lock_delay);
        for k in held {
            if delay > Duration::ZERO {
                self.delayed.insert(k.clone(), self.now + delay);
            }
            self.lapsed.push(k.clone());
            self.remove(&k, idx);
        }
        gone.is_some()
    }

    /// The keys deleted by a session's end (expiry, destruction,
    /// invalidation) since the last call: writes no client's request
    /// records, which the simulator's history must still hold.
    pub fn take_lapsed(&mut self) -> Vec<String> {
        std::mem::take(&mut self.lapsed)
    }

    fn remove(&mut self, key: &str, idx: u64) {
        if self.kvs.remove(key).is_some() {
            self.tombstones.insert(key.to_string(), idx);
            self.kvs_index = idx;
        }
    }

    /// One key.
    pub fn get(&self, key: &str) -> Option<&Pair> {
        self.kvs.get(key)
    }

    /// Every key under `prefix` and the index Consul reports for it.
    pub fn list(&self, prefix: &str) -> (u64, Vec<(String, Pair)>) {
        let entries: Vec<(String, Pair)> = self
            .kvs
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect();
        (self.prefix_index(prefix), entries)
    }

    /// The index a blocking query on `prefix` waits to move past.
    pub fn prefix_index(&self, prefix: &str) -> u64 {
        if prefix.is_empty() {
            return self.kvs_index.max(1);
        }
        let live = self
            .kvs
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, p)| p.modify_index)
            .max()
            .unwrap_or(0);
        let dead = self
            .tombstones
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, i)| *i)
            .max()
            .unwrap_or(0);
        match live.max(dead) {
            0 => self.kvs_index.max(1),
            i => i,
        }
    }

    /// `DELETE /v1/kv/<key>`, with `?cas=<index>` if `cas` is given.
    /// Consul answers `true` for a missing key even with a CAS index.
    pub fn delete(&mut self, key: &str, cas: Option<u64>) -> bool {
        let idx = self.bump();
        match (self.kvs.get(key), cas) {
            (None, _) => true,
            (Some(p), Some(c)) if p.modify_index != c => false,
            (Some(_), _) => {
                self.remove(key, idx);
                true
            }
        }
    }

    /// Runs a transaction at one new index; on failure nothing changes but
    /// the index. Returns the modify index of each op's key.
    pub fn txn(&mut self, ops: &[TxnOp]) -> Result<Vec<u64>, TxnError> {
        let idx = self.bump();
        let saved = (self.kvs.clone(), self.tombstones.clone(), self.kvs_index);
        let mut out = Vec::with_capacity(ops.len());
        for (i, op) in ops.iter().enumerate() {
            match self.apply(op, idx) {
                Ok(m) => out.push(m),
                Err(e) => {
                    (self.kvs, self.tombstones, self.kvs_index) = saved;
                    return Err(TxnError(format!("op {i}: {e}")));
                }
            }
        }
        Ok(out)
    }

    /// Writes a key; returns its modify index. Like Consul, a write that
    /// changes nothing (same value, holder and lock count) keeps the old
    /// index.
    fn write(
        &mut self,
        key: &str,
        value: &[u8],
        session: Option<String>,
        lock: u64,
        idx: u64,
    ) -> u64 {
        if let Some(p) = self.kvs.get(key) {
            if p.value == value && p.session == session && p.lock_index == lock {
                return p.modify_index;
            }
        }
        let create_index = self.kvs.get(key).map_or(idx, |p| p.create_index);
        self.kvs.insert(
            key.to_string(),
            Pair {
                value: value.to_vec(),
                create_index,
                modify_index: idx,
                lock_index: lock,
                session,
            },
        );
        self.tombstones.remove(key);
        self.kvs_index = idx;
        idx
    }

    fn apply(&mut self, op: &TxnOp, idx: u64) -> Result<u64, String> {
        match op {
            TxnOp::Set { key, value } => {
                let (session, lock) = self
                    .kvs
                    .get(key)
                    .map_or((None, 0), |p| (p.session.clone(), p.lock_index));
                Ok(self.write(key, value, session, lock, idx))
            }
            TxnOp::Lock {
                key,
                value,
                session,
            } => {
                if !self.sessions.contains_key(session) {
                    return Err(format!("invalid session {session:?}"));
                }
                if self.delayed.get(key).is_some_and(|until| *until > self.now) {
                    return Err(format!("key {key:?} is in its lock-delay"));
                }
                let lock = match self.kvs.get(key) {
                    Some(p) if p.session.as_deref() == Some(session) => p.lock_index,
                    Some(p) if p.session.is_some() => {
                        return Err(format!("failed to lock key {key:?}"))
                    }
                    Some(p) => p.lock_index + 1,
                    None => 1,
                };
                Ok(self.write(key, value, Some(session.clone()), lock, idx))
            }
            TxnOp::Unlock {
                key,
                value,
                session,
            } => match self.kvs.get(key) {
                Some(p) if p.session.as_deref() == Some(session) => {
                    let lock = p.lock_index;
                    Ok(self.write(key, value, None, lock, idx))
                }
                _ => Err(format!("failed to unlock key {key:?}")),
            },
            TxnOp::CheckIndex { key, index } => match self.kvs.get(key) {
                Some(p) if p.modify_index == *index => Ok(p.modify_index),
                Some(p) => Err(format!(
                    "current modify index {} != {index}",
                    p.modify_index
                )),
                None => Err(format!("key {key:?} doesn't exist")),
            },
            TxnOp::CheckNotExists { key } => match self.kvs.get(key) {
                Some(_) => Err(format!("key {key:?} exists")),
                None => Ok(0),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> String {
        x.to_string()
    }

    #[test]
    fn a_lock_is_held_until_unlocked_and_counts_acquisitions() {
        let mut m = Model::default();
        let a = m.create_session(Duration::ZERO, Duration::from_secs(10));
        let b = m.create_session(Duration::ZERO, Duration::from_secs(10));
        let lock = |session: &str| TxnOp::Lock {
            key: s("k"),
            value: b"v".to_vec(),
            session: session.into(),
        };
        m.txn(&[lock(&a)]).unwrap();
        assert!(m.txn(&[lock(&b)]).is_err(), "b cannot take a's lock");
        let unlock = TxnOp::Unlock {
            key: s("k"),
            value: Vec::new(),
            session: a.clone(),
        };
        m.txn(&[unlock, lock(&b)]).unwrap();
        let p = m.get("k").unwrap();
        assert_eq!((p.lock_index, p.session.as_deref()), (2, Some(b.as_str())));
    }

    #[test]
    fn an_expired_session_takes_its_keys_at_twice_the_ttl() {
        let mut m = Model::default();
        let a = m.create_session(Duration::ZERO, Duration::from_secs(10));
        m.txn(&[TxnOp::Lock {
            key: s("p/k"),
            value: b"v".to_vec(),
            session: a.clone(),
        }])
        .unwrap();
        m.expire(Duration::from_secs(19));
        assert!(m.get("p/k").is_some());
        m.expire(Duration::from_secs(20));
        assert!(m.get("p/k").is_none());
        assert!(m.renew(Duration::from_secs(20), &a).is_none());
        assert_eq!(
            m.prefix_index("p/"),
            m.index(),
            "the tombstone moves the prefix"
        );
    }

    #[test]
    fn a_failed_txn_changes_nothing_but_the_index() {
        let mut m = Model::default();
        let before = m.index();
        let err = m.txn(&[
            TxnOp::Set {
                key: s("a"),
                value: b"1".to_vec(),
            },
            TxnOp::CheckNotExists { key: s("a") },
        ]);
        assert!(err.is_err());
        assert!(m.get("a").is_none());
        assert_eq!(m.index(), before + 1);
    }
}
