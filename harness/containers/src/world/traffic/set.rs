//! The set workload (SQL): clients add unique elements, through whichever
//! node leads (Patroni: only the primary takes writes) or client `c`
//! through node `c mod n` (Galera: every node does), every tenth operation
//! reads the whole set there, and a last read after the heal judges what
//! was lost; every operation is recorded for the set checker.

use std::time::Duration;

use clusterlab_core::history::Func;
use clusterlab_scenario::Workload;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};

use super::ops::{Args, OpClient};
use crate::world::addrs::Addrs;
use crate::world::clock::Clock;
use crate::world::kind::{galera, patroni, Answer, Kind};
use crate::world::observe::Observed;

/// The set's key in the history.
const KEY: &str = "clusterlab_set";

/// Running set clients.
#[derive(Debug)]
pub struct Clients {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    addrs: Addrs,
    rec: Clock,
    clients: u64,
    galera: bool,
}

impl Clients {
    /// Starts `w.clients` clients on a `kind` cluster of `nodes`.
    pub fn spawn(
        kind: &Kind,
        nodes: &[String],
        w: &Workload,
        addrs: Addrs,
        rec: Clock,
        observed: watch::Receiver<Observed>,
    ) -> Clients {
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..u64::from(w.clients))
            .map(|c| {
                let (addrs, rec, observed, mut stopped) = (
                    addrs.clone(),
                    rec.clone(),
                    observed.clone(),
                    stopped.clone(),
                );
                let galera = matches!(kind, Kind::Galera { .. });
                let own = nodes[c as usize % nodes.len()].clone();
                let rate = w.rate;
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
                    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    for n in 1i64.. {
                        tokio::select! {
                            _ = stopped.wait_for(|s| *s) => return,
                            _ = tick.tick() => {}
                        }
                        let target = if galera {
                            Some(own.clone())
                        } else {
                            observed.borrow().view.leader()
                        };
                        let Some((node, ip)) =
                            target.and_then(|l| Some((l.clone(), addrs.ip(&l)?)))
                        else {
                            continue;
                        };
                        let op = OpClient {
                            rec: &rec,
                            client: c,
                            node: &node,
                        };
                        if n % 10 == 0 {
                            let t = op.invoke(Func::Read, KEY, Args::default());
                            complete(&op, Func::Read, read(galera, ip).await, t);
                        } else {
                            let e = (c as i64) * 1_000_000 + n;
                            let t = add(&op, e);
                            let a = if galera {
                                galera::set_add(ip, e).await
                            } else {
                                patroni::set_add(ip, e).await
                            };
                            complete(&op, Func::Add, a, t);
                        }
                    }
                })
            })
            .collect();
        Clients {
            stop,
            tasks,
            addrs,
            rec,
            clients: u64::from(w.clients),
            galera: matches!(kind, Kind::Galera { .. }),
        }
    }

    /// Stops adding, then reads the whole set through the live nodes
    /// until one answers as primary or `deadline` passes.
    pub async fn stop(self, live: &[String], deadline: Duration) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let give_up = Instant::now() + deadline;
        while Instant::now() < give_up {
            for node in live {
                let Some(ip) = self.addrs.ip(node) else {
                    continue;
                };
                let op = OpClient {
                    rec: &self.rec,
                    client: self.clients,
                    node,
                };
                let t = op.invoke(Func::Read, KEY, Args::default());
                let a = read(self.galera, ip).await;
                let done = matches!(a, Answer::Ok(_));
                complete(&op, Func::Read, a, t);
                if done {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

async fn read(galera: bool, ip: std::net::Ipv4Addr) -> Answer {
    if galera {
        galera::set_read(ip).await
    } else {
        patroni::set_read(ip).await
    }
}

fn add(op: &OpClient<'_>, e: i64) -> u64 {
    let args = Args {
        value: Some(e.into()),
        ..Args::default()
    };
    op.invoke(Func::Add, KEY, args)
}

fn complete(op: &OpClient<'_>, f: Func, a: Answer, invoked: u64) {
    op.complete(f, KEY, a, invoked, |v| {
        v.map(|json| serde_json::from_str(&json).unwrap_or(serde_json::Value::Null))
    });
}
