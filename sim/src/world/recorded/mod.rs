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
use disco::Entry;

use super::board::now;

mod registry;

pub use registry::Recorded;

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

#[cfg(test)]
mod tests;
