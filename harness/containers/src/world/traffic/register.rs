//! The register workload: several clients, each bound to one node, read,
//! write and compare-and-set a few keys through that node, in the read mode
//! the scenario chose, and record every invocation and completion as an
//! operation event (`history.jsonl`) for the linearizability checker.
//!
//! A client stays on its node through faults on purpose: a client of a
//! member cut off into the minority is the one that sees stale reads, if
//! the read mode lets the member answer alone.

use std::time::Duration;

use clusterlab_core::fault::pick::Picker;
use clusterlab_core::history::Func;
use clusterlab_scenario::{ReadMode, Workload};
use tokio::sync::watch;
use tokio::time::MissedTickBehavior;

use super::ops::{Args, OpClient};
use crate::world::addrs::Addrs;
use crate::world::clock::Clock;
use crate::world::kind::{consul, etcd, Answer, Kind};

/// Running register clients.
#[derive(Debug)]
pub struct Clients {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Clients {
    /// Starts `w.clients` clients, client `c` on node `c mod n`.
    pub fn spawn(
        kind: Kind,
        w: Workload,
        nodes: &[String],
        addrs: Addrs,
        rec: Clock,
        seed: u64,
    ) -> Clients {
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..w.clients)
            .map(|c| {
                let node = nodes[c as usize % nodes.len()].clone();
                let client = Client {
                    id: u64::from(c),
                    node,
                    kind: kind.clone(),
                    w: w.clone(),
                    addrs: addrs.clone(),
                    rec: rec.clone(),
                    rng: Picker::for_fault(seed, 10_000 + c as usize),
                };
                tokio::spawn(client.run(stopped.clone()))
            })
            .collect();
        Clients { stop, tasks }
    }

    /// Stops every client; an operation in flight ends unknown.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

struct Client {
    id: u64,
    node: String,
    kind: Kind,
    w: Workload,
    addrs: Addrs,
    rec: Clock,
    rng: Picker,
}

impl Client {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        let http = disco::backend::http::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("plain http client");
        let mut tick = tokio::time::interval(Duration::from_secs(1) / self.w.rate.max(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_read: std::collections::BTreeMap<String, Option<String>> = Default::default();
        for n in 0u64.. {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                _ = tick.tick() => {}
            }
            let Some(ip) = self.addrs.ip(&self.node) else {
                continue;
            };
            let key = format!("clusterlab/r/{}", self.rng.below(self.w.keys as usize));
            // Unique values, so that a read names the write it saw.
            let value = format!("{}-{n}", self.id);
            let f = match self.rng.below(10) {
                0..=4 => Func::Read,
                5..=7 => Func::Write,
                _ => Func::Cas,
            };
            match (f, &self.kind) {
                (Func::Read, _) => {
                    let t = self.invoke(Func::Read, &key, None, None);
                    let a = match self.kind {
                        Kind::Consul => {
                            consul::reg_read(&http, ip, &key, self.w.reads.as_str()).await
                        }
                        _ => {
                            etcd::reg_read(&http, ip, &key, self.w.reads == ReadMode::Serializable)
                                .await
                        }
                    };
                    if let Answer::Ok(v) = &a {
                        last_read.insert(key.clone(), v.clone());
                    }
                    self.complete(Func::Read, &key, a, t);
                }
                (Func::Write, _) => {
                    let t = self.invoke(Func::Write, &key, Some(&value), None);
                    let a = match self.kind {
                        Kind::Consul => consul::reg_write(&http, ip, &key, &value).await,
                        _ => etcd::reg_write(&http, ip, &key, &value).await,
                    };
                    self.complete(Func::Write, &key, a, t);
                }
                (_, Kind::Consul) => {
                    // Consul compares indexes, not values: read the value
                    // and its index, then put at that index. The operation
                    // is invoked once the value it expects is known.
                    let Some((from, index)) = consul::reg_index(&http, ip, &key).await else {
                        continue;
                    };
                    let t = self.invoke(Func::Cas, &key, Some(&value), Some(from.as_deref()));
                    let a = consul::reg_cas(&http, ip, &key, index, &value).await;
                    self.complete(Func::Cas, &key, a, t);
                }
                _ => {
                    let from = last_read.get(&key).cloned().flatten();
                    let t = self.invoke(Func::Cas, &key, Some(&value), Some(from.as_deref()));
                    let a = etcd::reg_cas(&http, ip, &key, from.as_deref(), &value).await;
                    self.complete(Func::Cas, &key, a, t);
                }
            }
        }
    }

    fn op(&self) -> OpClient<'_> {
        OpClient {
            rec: &self.rec,
            client: self.id,
            node: &self.node,
        }
    }

    /// Records the invocation; returns its time.
    fn invoke(&self, f: Func, key: &str, value: Option<&str>, from: Option<Option<&str>>) -> u64 {
        let json = |v: Option<&str>| v.map_or(serde_json::Value::Null, |s| s.into());
        let args = match f {
            Func::Cas => Args {
                from: from.map(json),
                to: value.map(|v| v.into()),
                ..Args::default()
            },
            _ => Args {
                value: value.map(|v| v.into()),
                ..Args::default()
            },
        };
        self.op().invoke(f, key, args)
    }

    fn complete(&self, f: Func, key: &str, a: Answer, invoked: u64) {
        self.op().complete(f, key, a, invoked, |v| {
            (f == Func::Read).then(|| v.map_or(serde_json::Value::Null, serde_json::Value::from))
        });
    }
}
