//! The simulator's history: every registry call the nodes make, recorded
//! as Jepsen records a workload (invocation, then ok or unknown), plus the
//! store's own deletions, so that the linearizability checker that judges
//! the container workloads also holds the store models to their contract
//! under every fault.
//!
//! Each key is a register whose value is the entry's value and revision,
//! `value@revision`. etcd and Consul compare-and-set on revisions, and a
//! revision names one write of one key, so with revisions in the values a
//! compare-and-set on a revision is a compare-and-set on a value, and a
//! value written twice is still two values.
//!
//! What each call says:
//! - `get` and the reads inside a failed `create` or `compare_and_swap`
//!   (both stores answer a conflict with the key as it stands, read within
//!   the call) are reads; `list` is a read of every key the run knows under
//!   its prefix (absent: `null`);
//! - `put`, `delete` are writes; `create` is a compare-and-set from absent;
//!   `compare_and_swap` one from the value at the expected revision;
//!   `compare_and_delete` one to absent on etcd, and a delete on Consul
//!   (which answers `true` for a missing key, so a success proves less);
//! - any error is `unknown`: a call that timed out may have been applied;
//!   so is a write whose caller was dropped before the answer (a crashed
//!   host, an aborted task), which is why writes are recorded when they are
//!   invoked. The revision of an unknown write is learnt from the first read that
//!   returns a revision no acknowledged write made;
//! - a lease's or session's end and an operator's delete are the store's
//!   own writes, placed anywhere in the simulation step they happened in.
//!
//! Weaker than the stores promise, never stricter: a listing's atomicity
//! across keys is not checked, a Consul compare-and-delete is a blind
//! delete, and a compare-and-delete that found another revision is left
//! out. Watches are not reads (a snapshot may be of the past) and pass
//! through unrecorded. A compare-and-set names the revision it expects; which
//! value that revision holds is read off the write that made it.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_core::history::{Event, Func, Type};
use disco::{
    Cas, Entry, ExpiryBounds, Lease, LeaseId, Registry, RegistryError, Revision, Snapshot, Watch,
};

use super::board::now;

/// Who the store's own writes are by, in the history.
pub const STORE_NODE: &str = "store";

/// A register value: a payload at a revision.
type Versioned = (String, u64);

#[derive(Debug, Clone)]
enum Call {
    /// A read of one key (`None`: absent).
    Read(String, Option<Versioned>),
    /// A listing: every key the run knows under the prefix is read.
    List(String, Vec<(String, Versioned)>),
    /// A write; `None`: a delete. The revision, once known.
    Write(String, Option<String>, Option<u64>),
    /// A compare-and-set from a revision (`None`: absent) to a payload
    /// (`None`: absent); the revision written, once known.
    Cas(String, Option<u64>, Option<String>, Option<u64>),
}

#[derive(Debug, Clone)]
struct Rec {
    client: u64,
    node: String,
    invoke_us: u64,
    /// When the answer (or the error) came back; the invocation while
    /// none has.
    done_us: u64,
    /// Whether the call's effect is known (`false`: an error, or no answer
    /// ever came back).
    known: bool,
    /// It definitely did not happen (a compare-and-delete that found
    /// another revision): left out of the history.
    failed: bool,
    call: Call,
}

#[derive(Debug, Default)]
struct Log {
    next_client: u64,
    recs: Vec<Rec>,
}

/// The run's log, shared by every node's [`Recorded`] registry.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    log: Arc<Mutex<Log>>,
}

fn now_us() -> u64 {
    u64::try_from(now().as_micros()).unwrap_or(u64::MAX)
}

impl Recorder {
    fn with<T>(&self, f: impl FnOnce(&mut Log) -> T) -> T {
        f(&mut self.log.lock().expect("history lock"))
    }

    /// Records a call; its index, for [`Recorder::close`].
    fn push(&self, node: &str, span: (u64, u64), known: bool, call: Call) -> usize {
        self.with(|l| {
            l.next_client += 1;
            let client = l.next_client;
            l.recs.push(Rec {
                client,
                node: node.to_string(),
                invoke_us: span.0,
                done_us: span.1,
                known,
                failed: false,
                call,
            });
            l.recs.len() - 1
        })
    }

    /// The answer to call `at` came back: known or not, and what the call
    /// turned out to be (a failed compare-and-set is a read).
    fn close(&self, at: usize, known: bool, call: Option<Call>) {
        let done = now_us();
        self.with(|l| {
            let r = &mut l.recs[at];
            r.done_us = done.max(r.invoke_us);
            r.known = known;
            if let Some(c) = call {
                r.call = c;
            }
        });
    }

    /// Call `at` definitely did not happen.
    fn fail(&self, at: usize) {
        self.with(|l| l.recs[at].failed = true);
    }

    /// The store deleted `key` of its own accord (a lease's end, an
    /// operator) during the simulation step from `from` to `to`. Calls
    /// made in a step carry its start time, so the deletion is placed in
    /// `[from, to)`: a call invoked at `to` came after it.
    pub fn store_deleted(&self, key: &str, from: Duration, to: Duration) {
        let us = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        let call = Call::Write(key.to_string(), None, None);
        let (from, to) = (us(from), us(to));
        self.push(
            STORE_NODE,
            (from, to.saturating_sub(1).max(from)),
            true,
            call,
        );
    }

    /// The history so far, as `history.jsonl` events in time order.
    pub fn events(&self) -> Vec<Event> {
        let mut recs: Vec<Rec> =
            self.with(|l| l.recs.iter().filter(|r| !r.failed).cloned().collect());
        resolve_unknown_writes(&mut recs);
        let values = payloads(&recs);
        let keys: BTreeSet<String> = recs.iter().flat_map(keys_of).collect();
        let mut out: Vec<(u64, usize, Event)> = Vec::new();
        let mut client = recs.len() as u64;
        for (i, r) in recs.iter().enumerate() {
            for (f, key, value, from, result) in ops_of(r, &keys, &values) {
                let c = if matches!(r.call, Call::List(..)) {
                    client += 1;
                    client
                } else {
                    r.client
                };
                let ev = |kind, time_us, value, from, to| Event {
                    kind,
                    client: c,
                    f,
                    key: key.clone(),
                    value,
                    from,
                    to,
                    time_us,
                    node: Some(r.node.clone()),
                };
                let (v, fr, to) = match f {
                    Func::Cas => (None, Some(from.clone()), Some(value.clone())),
                    Func::Write => (Some(value.clone()), None, None),
                    _ => (None, None, None),
                };
                out.push((r.invoke_us, 2 * i, ev(Type::Invoke, r.invoke_us, v, fr, to)));
                let t = r.done_us;
                let done = match r.known {
                    true => ev(Type::Ok, t, result.clone(), None, None),
                    false => ev(Type::Unknown, t, None, None, None),
                };
                out.push((t, 2 * i + 1, done));
            }
        }
        out.sort_by_key(|(t, seq, _)| (*t, *seq));
        out.into_iter().map(|(_, _, e)| e).collect()
    }
}

/// The keys a call touches (a listing's known keys are added later).
fn keys_of(r: &Rec) -> Vec<String> {
    match &r.call {
        Call::Read(k, _) | Call::Write(k, ..) | Call::Cas(k, ..) => vec![k.clone()],
        Call::List(_, entries) => entries.iter().map(|(k, _)| k.clone()).collect(),
    }
}

fn json(v: Option<Versioned>) -> serde_json::Value {
    match v {
        Some((payload, rev)) => format!("{payload}@{rev}").into(),
        None => serde_json::Value::Null,
    }
}

type Emitted = (
    Func,
    String,
    serde_json::Value,
    serde_json::Value,
    Option<serde_json::Value>,
);

/// The register operations of one call: (function, key, value written,
/// value expected, read result).
fn ops_of(
    r: &Rec,
    keys: &BTreeSet<String>,
    values: &HashMap<(String, u64), String>,
) -> Vec<Emitted> {
    let null = serde_json::Value::Null;
    let written = |k: &str, payload: &Option<String>, rev: &Option<u64>| match (payload, rev) {
        (None, _) => serde_json::Value::Null,
        (Some(p), Some(rev)) => json(Some((p.clone(), *rev))),
        // Never observed: the checker drops it.
        (Some(p), None) => format!("{p}@?{k}").into(),
    };
    match &r.call {
        Call::Read(k, v) => vec![(
            Func::Read,
            k.clone(),
            null.clone(),
            null,
            Some(json(v.clone())),
        )],
        Call::List(prefix, entries) => {
            let found: BTreeMap<&String, &Versioned> =
                entries.iter().map(|(k, v)| (k, v)).collect();
            keys.range(prefix.clone()..)
                .take_while(|k| k.starts_with(prefix.as_str()))
                .map(|k| {
                    let v = found.get(k).map(|v| (*v).clone());
                    (
                        Func::Read,
                        k.clone(),
                        null.clone(),
                        null.clone(),
                        Some(json(v)),
                    )
                })
                .collect()
        }
        Call::Write(k, payload, rev) => {
            vec![(Func::Write, k.clone(), written(k, payload, rev), null, None)]
        }
        Call::Cas(k, from, payload, rev) => {
            let from = match from {
                None => null,
                Some(f) => match values.get(&(k.clone(), *f)) {
                    Some(p) => json(Some((p.clone(), *f))),
                    // Nobody ever saw that revision's value: no value can
                    // match it, so the checker reports the call.
                    None => format!("(never seen)@{f}").into(),
                },
            };
            vec![(Func::Cas, k.clone(), written(k, payload, rev), from, None)]
        }
    }
}

/// The payload each (key, revision) holds, from the writes that made them
/// and the reads that returned them.
fn payloads(recs: &[Rec]) -> HashMap<(String, u64), String> {
    let mut out = HashMap::new();
    for r in recs {
        match &r.call {
            Call::Write(k, Some(p), Some(rev)) | Call::Cas(k, _, Some(p), Some(rev)) => {
                out.insert((k.clone(), *rev), p.clone());
            }
            Call::Read(k, Some((p, rev))) => {
                out.insert((k.clone(), *rev), p.clone());
            }
            Call::List(_, entries) => {
                for (k, (p, rev)) in entries {
                    out.insert((k.clone(), *rev), p.clone());
                }
            }
            _ => {}
        }
    }
    out
}

/// Gives each read revision that no acknowledged write made to an unknown
/// write of the same key and payload invoked before it was first seen
/// (the earliest such, in revision order): that write was applied and its
/// reply lost. A revision no unknown write can explain stays unexplained,
/// and the checker reports the read.
fn resolve_unknown_writes(recs: &mut [Rec]) {
    let mut made: BTreeSet<(String, u64)> = BTreeSet::new();
    for r in recs.iter() {
        match &r.call {
            Call::Write(k, _, Some(rev)) | Call::Cas(k, _, _, Some(rev)) => {
                made.insert((k.clone(), *rev));
            }
            _ => {}
        }
    }
    // (revision, key) -> (payload if read, first seen, who saw it). A
    // compare-and-set that expected a revision saw it too, without its
    // payload.
    let mut seen: BTreeMap<(u64, String), (Option<String>, u64, usize)> = BTreeMap::new();
    for (i, r) in recs.iter().enumerate() {
        let at = r.done_us;
        let reads: Vec<(String, Option<String>, u64)> = match &r.call {
            Call::Read(k, Some((p, rev))) => vec![(k.clone(), Some(p.clone()), *rev)],
            Call::List(_, entries) => entries
                .iter()
                .map(|(k, (p, rev))| (k.clone(), Some(p.clone()), *rev))
                .collect(),
            Call::Cas(k, Some(rev), ..) => vec![(k.clone(), None, *rev)],
            _ => Vec::new(),
        };
        for (k, payload, rev) in reads {
            if made.contains(&(k.clone(), rev)) {
                continue;
            }
            let e = seen.entry((rev, k)).or_insert((None, at, i));
            e.0 = e.0.take().or(payload);
            if at < e.1 {
                (e.1, e.2) = (at, i);
            }
        }
    }
    // Sightings with a payload first: they name their write. One without
    // (a compare-and-set's expected revision) then takes the earliest write
    // left (any of them explains it), never the compare-and-set itself.
    let (named, blind): (Vec<_>, Vec<_>) = seen.into_iter().partition(|(_, (p, ..))| p.is_some());
    for ((rev, key), (payload, first, seer)) in named.into_iter().chain(blind) {
        let candidates: Vec<usize> = recs
            .iter()
            .enumerate()
            .filter(|(i, r)| *i != seer && !r.known && r.invoke_us <= first)
            .filter(|(_, r)| match &r.call {
                Call::Write(k, Some(p), None) | Call::Cas(k, _, Some(p), None) => {
                    *k == key && payload.as_ref().is_none_or(|want| want == p)
                }
                _ => false,
            })
            .map(|(i, _)| i)
            .collect();
        let pick = candidates.into_iter().min_by_key(|i| recs[*i].invoke_us);
        if let Some(i) = pick {
            match &mut recs[i].call {
                Call::Write(_, _, slot) | Call::Cas(_, _, _, slot) => *slot = Some(rev),
                _ => {}
            }
        }
    }
}

fn versioned(e: &Entry) -> Versioned {
    (e.value.clone(), e.revision.0)
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use clusterlab_core::history::{from_events, linearizable};

    fn v(p: &str, rev: u64) -> Option<Versioned> {
        Some((p.to_string(), rev))
    }

    fn write(k: &str, p: &str, rev: Option<u64>) -> Call {
        Call::Write(k.into(), Some(p.into()), rev)
    }

    /// The checker's verdict on the recorded calls.
    fn linearizable(calls: Vec<((u64, u64), bool, Call)>) -> bool {
        let r = Recorder::default();
        for (span, known, call) in calls {
            r.push("n1", span, known, call);
        }
        let events = r.events().into_iter().enumerate().map(|(i, e)| (i + 1, e));
        let ops = from_events("history.jsonl", events).expect("well formed");
        linearizable::check(&ops, linearizable::Budget::default())
            .iter()
            .all(|(_, v)| *v == linearizable::Verdict::Linearizable)
    }

    #[test]
    fn a_write_whose_reply_was_lost_is_placed_by_the_read_that_saw_it() {
        let calls = vec![
            ((0, 10), true, write("k", "a", Some(2))),
            ((20, 30), false, write("k", "b", None)),
            ((40, 50), true, Call::Read("k".into(), v("b", 3))),
            (
                (60, 70),
                true,
                Call::Cas("k".into(), Some(3), Some("c".into()), Some(4)),
            ),
        ];
        assert!(linearizable(calls));
    }

    #[test]
    fn a_write_whose_caller_was_dropped_is_unknown_and_placed_by_its_reader() {
        // Recorded at invocation and never answered (its host crashed).
        let r = Recorder::default();
        r.push("n1", (0, 0), false, write("k", "a", None));
        r.push("n2", (40, 50), true, Call::Read("k".into(), v("a", 3)));
        let events = r.events().into_iter().enumerate().map(|(i, e)| (i + 1, e));
        let ops = from_events("h", events).expect("well formed");
        let verdicts = linearizable::check(&ops, linearizable::Budget::default());
        assert_eq!(verdicts[0].1, linearizable::Verdict::Linearizable);
    }

    #[test]
    fn a_revision_seen_only_as_expected_does_not_take_another_reads_write() {
        // U1 wrote "x" (rev 8), U2 wrote "y" (rev 7), both unanswered; a
        // CAS expected 7 (no payload), a read saw x@8.
        let calls = vec![
            ((1, 1), false, write("k", "x", None)),
            ((2, 2), false, write("k", "y", None)),
            (
                (3, 5),
                true,
                Call::Cas("k".into(), Some(7), Some("z".into()), Some(9)),
            ),
            ((6, 7), true, Call::Read("k".into(), v("z", 9))),
        ];
        assert!(linearizable(calls));
        let calls = vec![
            ((1, 1), false, write("k", "x", None)),
            ((2, 2), false, write("k", "y", None)),
            (
                (3, 5),
                false,
                Call::Cas("k".into(), Some(7), Some("z".into()), None),
            ),
            ((6, 7), true, Call::Read("k".into(), v("x", 8))),
        ];
        assert!(linearizable(calls));
    }

    #[test]
    fn a_revision_nobody_wrote_is_an_anomaly() {
        let calls = vec![
            ((0, 10), true, write("k", "a", Some(2))),
            ((40, 50), true, Call::Read("k".into(), v("b", 3))),
        ];
        assert!(!linearizable(calls));
    }

    #[test]
    fn a_stale_read_and_a_lost_delete_are_anomalies() {
        let stale = vec![
            ((0, 10), true, write("k", "a", Some(2))),
            ((20, 30), true, write("k", "b", Some(3))),
            ((40, 50), true, Call::Read("k".into(), v("a", 2))),
        ];
        assert!(!linearizable(stale));
        // The store deleted the key (a lease ended) before the read began.
        let r = Recorder::default();
        r.push("n1", (0, 10), true, write("k", "a", Some(2)));
        r.store_deleted("k", Duration::from_micros(20), Duration::from_micros(30));
        r.push("n2", (40, 50), true, Call::Read("k".into(), v("a", 2)));
        let events = r.events().into_iter().enumerate().map(|(i, e)| (i + 1, e));
        let ops = from_events("h", events).expect("well formed");
        let verdicts = linearizable::check(&ops, linearizable::Budget::default());
        assert!(matches!(
            verdicts[0].1,
            linearizable::Verdict::NotLinearizable(_)
        ));
    }

    #[test]
    fn a_compare_and_set_on_a_replaced_revision_is_an_anomaly() {
        // The same payload written again is a new revision: a CAS that
        // expected the first must not succeed after the second.
        let calls = vec![
            ((0, 10), true, write("k", "a", Some(2))),
            ((20, 30), true, write("k", "a", Some(3))),
            (
                (40, 50),
                true,
                Call::Cas("k".into(), Some(2), Some("c".into()), Some(4)),
            ),
        ];
        assert!(!linearizable(calls));
    }

    #[test]
    fn a_listing_reads_every_known_key_under_its_prefix() {
        let calls = vec![
            ((0, 10), true, write("m/a", "x", Some(2))),
            // m/a is missing from a listing after its write completed.
            ((20, 30), true, Call::List("m/".into(), vec![])),
        ];
        assert!(!linearizable(calls));
        let calls = vec![
            ((0, 10), true, write("m/a", "x", Some(2))),
            (
                (20, 30),
                true,
                Call::List("m/".into(), vec![("m/a".into(), ("x".into(), 2))]),
            ),
        ];
        assert!(linearizable(calls));
    }
}
