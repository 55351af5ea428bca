//! The writer: one client writing `rate` times a second through the live
//! nodes in turn, recording every acknowledged write; afterwards every
//! acknowledged write is read back.
//!
//! Writes are sequential and carry an increasing sequence number, cycling
//! over `keys` keys. A key may legitimately hold a *later* value than its
//! last acknowledged one (a write that timed out may still have been
//! applied), never an earlier one: reading back less than the last
//! acknowledged number, or nothing, is a lost write.

use std::collections::BTreeMap;
use std::time::Duration;

use clusterlab_core::trace::EventKind;
use clusterlab_core::view::NodeState;
use clusterlab_scenario::Workload;
use tokio::sync::oneshot;
use tokio::time::{Instant, MissedTickBehavior};

use super::addrs::Addrs;
use super::kind::Kind;
use super::observe::{Observed, Shared};
use super::recorder::Recorder;

/// The last acknowledged sequence number of each key.
pub type Ledger = BTreeMap<String, u64>;

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
        rec: Recorder,
        observed: tokio::sync::watch::Receiver<Observed>,
    ) -> Writer {
        let (stop, mut stopped) = oneshot::channel();
        let task = tokio::spawn(async move {
            let http = disco::backend::http::builder()
                .timeout(Duration::from_secs(1))
                .build()
                .expect("plain http client");
            let mut ledger = Ledger::new();
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
                let t0 = Instant::now();
                let acked = kind.write(&http, ip, &k, &seq.to_string()).await;
                let latency_us = u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX);
                if acked {
                    ledger.insert(k.clone(), seq);
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

/// Reads every key of `ledger` back through the live nodes (retrying until
/// `deadline`) and records a `lost-write` check for each one that went
/// back in time or vanished, then a `no-lost-writes` summary.
pub async fn verify(
    kind: &Kind,
    ledger: &Ledger,
    live_ips: &[std::net::Ipv4Addr],
    deadline: Duration,
    rec: &Recorder,
) {
    let http = disco::backend::http::builder()
        .timeout(Duration::from_secs(2))
        .build()
        .expect("plain http client");
    // `deadline` bounds how long the cluster may stay unreadable, not how
    // fast it reads: until it passes a key is retried; after it, each key
    // still gets one try at every live node (a thousand keys take longer
    // than 30 s to read one by one), up to a hard stop.
    let give_up = Instant::now() + deadline;
    let hard_stop = give_up + deadline * 4;
    let (mut lost, mut unread) = (0u64, 0u64);
    for (k, acked) in ledger {
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
            unread += 1;
            continue;
        };
        let seen = value.as_deref().and_then(|v| v.parse::<u64>().ok());
        if seen.is_none_or(|s| s < *acked) {
            lost += 1;
            rec.push(EventKind::Check {
                name: "lost-write".into(),
                passed: false,
                detail: format!("{k}: acknowledged {acked}, read back {value:?}"),
                nodes: Vec::new(),
            });
        }
    }
    rec.push(EventKind::Check {
        name: "no-lost-writes".into(),
        nodes: Vec::new(),
        passed: lost == 0 && unread == 0,
        detail: format!(
            "{} keys read back: {lost} lost, {unread} unreadable within {deadline:?}",
            ledger.len()
        ),
    });
}
