//! The writer: one client writing `rate` times a second through the live
//! nodes in turn, recording every acknowledged write; afterwards every
//! acknowledged write is read back.
//!
//! Writes are sequential and carry an increasing sequence number, cycling
//! over `keys` keys. A key may legitimately hold a *later* value than its
//! last acknowledged one (a write that timed out may still have been
//! applied), never an earlier one: reading back less than the last
//! acknowledged number, or nothing, is a lost write; a value that was
//! never written to that key (another key's number, one past the last
//! attempt, not a number) is an unwritten value. A run with no write
//! acknowledged has nothing to judge.

use std::collections::BTreeMap;
use std::time::Duration;

use clusterlab_core::check::Found;
use clusterlab_core::trace::EventKind;
use clusterlab_core::view::NodeState;
use clusterlab_scenario::checks::NOTHING_TO_JUDGE;
use clusterlab_scenario::Workload;
use tokio::sync::oneshot;
use tokio::time::{Instant, MissedTickBehavior};

use crate::world::addrs::Addrs;
use crate::world::clock::Clock;
use crate::world::kind::Kind;
use crate::world::observe::{Observed, Shared};

/// What the writer did: the last acknowledged sequence number of each
/// key, the last number it tried, and how many keys it cycled over.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// The last acknowledged sequence number of each key.
    pub acked: BTreeMap<String, u64>,
    /// The last sequence number attempted.
    pub last: u64,
    /// The number of keys.
    pub keys: u32,
}

impl Ledger {
    /// Whether `seq` was ever written (attempted) to `key`.
    fn wrote(&self, key_name: &str, seq: u64) -> bool {
        seq >= 1 && seq <= self.last && key(seq, self.keys) == key_name
    }
}

/// A running writer.
#[derive(Debug)]
pub struct Writer {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Ledger>,
}

fn key(i: u64, keys: u32) -> String {
    format!("clusterlab/w/{}", i % u64::from(keys.max(1)))
}

impl Writer {
    /// Starts writing.
    pub fn spawn(
        kind: Kind,
        w: Workload,
        nodes: Vec<String>,
        shared: Shared,
        addrs: Addrs,
        rec: Clock,
        observed: tokio::sync::watch::Receiver<Observed>,
    ) -> Writer {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let http = disco::backend::http::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .expect("plain http client");
            let mut ledger = Ledger {
                keys: w.keys,
                ..Ledger::default()
            };
            let mut tick = tokio::time::interval(Duration::from_secs(1) / w.rate.max(1));
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            for seq in 1u64.. {
                tokio::select! {
                    _ = &mut stopped => break,
                    _ = tick.tick() => {}
                }
                let up: Vec<String> = {
                    let l = shared.lock().expect("ledger lock");
                    nodes
                        .iter()
                        .filter(|n| l.states.get(*n).is_none_or(|s| *s == NodeState::Up))
                        .cloned()
                        .collect()
                };
                // The leader if the kind needs it and one is known, else the
                // live nodes in turn.
                let leader = kind
                    .writes_to_leader()
                    .then(|| observed.borrow().view.leader())
                    .flatten();
                let Some(ip) = leader
                    .as_ref()
                    .or_else(|| up.get(seq as usize % up.len().max(1)))
                    .and_then(|n| addrs.ip(n))
                else {
                    continue;
                };
                let k = key(seq, w.keys);
                ledger.last = seq;
                let t0 = Instant::now();
                let acked = kind.write(&http, ip, &k, &seq.to_string()).await;
                let latency_us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                if acked {
                    ledger.acked.insert(k.clone(), seq);
                }
                rec.push(EventKind::Write {
                    key: k,
                    latency_us,
                    acked,
                });
            }
            ledger
        });
        Writer { stop, task }
    }

    /// Stops writing and returns the ledger.
    pub async fn stop(self) -> Ledger {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_default()
    }
}

/// Reads every acknowledged key of `ledger` back through the live nodes
/// (retrying until `deadline`) and records the `no-lost-writes` check:
/// each key that went back in time or vanished, each that holds a value
/// never written to it, each that could not be read, or nothing to judge
/// if no write was acknowledged.
pub async fn verify(
    kind: &Kind,
    ledger: &Ledger,
    live_ips: &[std::net::Ipv4Addr],
    deadline: Duration,
    rec: &Clock,
) {
    let http = disco::backend::http::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("plain http client");
    if ledger.acked.is_empty() {
        rec.push(EventKind::Check {
            name: NAME.into(),
            passed: false,
            detail: format!(
                "no write was acknowledged ({} attempted): nothing to judge",
                ledger.last
            ),
            nodes: Vec::new(),
            found: vec![Found::kind(NOTHING_TO_JUDGE)],
        });
        return;
    }
    // `deadline` bounds how long the cluster may stay unreadable, not how
    // fast it reads: until it passes a key is retried; after it, each key
    // still gets one try at every live node (a thousand keys take longer
    // than 30 s to read one by one), up to a hard stop.
    let give_up = Instant::now() + deadline;
    let hard_stop = give_up + deadline * 4;
    let mut found = Vec::new();
    let mut shown = Vec::new();
    for (k, acked) in &ledger.acked {
        let mut read = None;
        'retry: while Instant::now() < hard_stop {
            for ip in live_ips {
                if let Ok(v) = kind.read(&http, *ip, k).await {
                    read = Some(v);
                    break 'retry;
                }
            }
            if Instant::now() >= give_up {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let Some(value) = read else {
            found.push(Found::on("unreadable", k));
            continue;
        };
        let seen = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        let what = match seen {
            Some(s) if !ledger.wrote(k, s) => "unwritten-value",
            Some(s) if s >= *acked => continue,
            _ => "lost",
        };
        found.push(Found::on(what, k));
        if shown.len() < 5 {
            shown.push(format!(
                "{k}: acknowledged {acked}, read back {value:?} ({what})"
            ));
        }
    }
    let count = |kind: &str| found.iter().filter(|f| f.kind == kind).count();
    rec.push(EventKind::Check {
        name: NAME.into(),
        nodes: Vec::new(),
        passed: found.is_empty(),
        detail: format!(
            "{} keys read back: {} lost, {} with a value never written to them, {} unreadable within {deadline:?}{}",
            ledger.acked.len(),
            count("lost"),
            count("unwritten-value"),
            count("unreadable"),
            if shown.is_empty() {
                String::new()
            } else {
                format!("; {}", shown.join("; "))
            }
        ),
        found,
    });
}

/// The check's name.
pub const NAME: &str = "no-lost-writes";

#[cfg(test)]
mod tests {
    use super::*;

    /// Before the change the read-back was compared with the last
    /// acknowledged number only: another key's number, or one never
    /// attempted, passed as "a later write".
    #[test]
    fn only_numbers_written_to_a_key_are_its_values() {
        let l = Ledger {
            acked: BTreeMap::from([(key(1, 2), 1)]),
            last: 6,
            keys: 2,
        };
        let k1 = key(1, 2);
        assert!(l.wrote(&k1, 1) && l.wrote(&k1, 5));
        assert!(!l.wrote(&k1, 4), "another key's number");
        assert!(!l.wrote(&k1, 7), "never attempted");
        assert!(!l.wrote(&k1, 0));
    }
}
