//! The messages workload (RabbitMQ): publishers send persistent messages
//! with publisher confirms to quorum queues, publisher `c` always through
//! node `c mod n` (as Jepsen binds clients to nodes: the publisher of a
//! node cut off is connected when the cut comes), and every queue is drained after the heal. In the history each queue is
//! a set: a publish is an add (ok when the broker confirmed it, unknown
//! when the confirm never came or was a nack, since the broker may still
//! have enqueued it), the drain is the set's one read. The set checker then
//! names confirmed messages lost, messages delivered twice, and messages
//! nobody published (Jepsen's total-queue, without the dequeues in between,
//! which would take elements out of the set).

use std::collections::BTreeSet;
use std::time::Duration;

use clusterlab_core::history::Func;
use clusterlab_core::view::NodeState;
use clusterlab_scenario::Workload;
use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use tokio::sync::watch;
use tokio::time::{timeout, Instant, MissedTickBehavior};

use super::ops::{Args, OpClient};
use crate::world::addrs::Addrs;
use crate::world::clock::Clock;
use crate::world::kind::Answer;
use crate::world::observe::{Observed, Shared};

/// How long a connection, a declaration or a confirm may take before the
/// publisher moves on (the message's fate is then unknown).
const PATIENCE: Duration = Duration::from_secs(5);

/// The name of queue `i`; also its key in the history.
pub fn queue(i: u32) -> String {
    format!("clusterlab-q{i}")
}

/// Running publishers.
#[derive(Debug)]
pub struct Publishers {
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    addrs: Addrs,
    rec: Clock,
    clients: u64,
    queues: u32,
}

impl Publishers {
    /// Starts `w.clients` publishers, each at `w.rate` messages per second
    /// over `w.keys` queues, publisher `c` through node `c mod n`, once one
    /// node sees every node as a member (a quorum queue's replicas are the
    /// members when it is declared).
    pub fn spawn(
        w: &Workload,
        nodes: Vec<String>,
        shared: Shared,
        addrs: Addrs,
        rec: Clock,
        observed: watch::Receiver<Observed>,
    ) -> Publishers {
        let (stop, stopped) = watch::channel(false);
        let tasks = (0..u64::from(w.clients))
            .map(|c| {
                let p = Publisher {
                    client: c,
                    nodes: nodes.clone(),
                    shared: shared.clone(),
                    addrs: addrs.clone(),
                    rec: rec.clone(),
                    rate: w.rate,
                    queues: w.keys,
                };
                tokio::spawn(p.run(stopped.clone(), observed.clone()))
            })
            .collect();
        Publishers {
            stop,
            tasks,
            addrs,
            rec,
            clients: u64::from(w.clients),
            queues: w.keys,
        }
    }

    /// Stops publishing, then drains every queue through the live nodes
    /// until each is empty or `deadline` passes.
    pub async fn stop(mut self, live: &[String], deadline: Duration) {
        let _ = self.stop.send(true);
        for t in std::mem::take(&mut self.tasks) {
            let _ = t.await;
        }
        let give_up = Instant::now() + deadline;
        for q in 0..self.queues {
            self.drain(&queue(q), live, give_up).await;
        }
    }

    /// One read of queue `q`'s set: every message taken from it, over as
    /// many connections as it takes (a message taken is gone, so what one
    /// connection took counts even if the next one finishes the drain).
    async fn drain(&self, q: &str, live: &[String], give_up: Instant) {
        let Some(first) = live.first() else {
            return;
        };
        let op = OpClient {
            rec: &self.rec,
            client: self.clients,
            node: first,
        };
        let t = op.invoke(Func::Read, q, Args::default());
        let mut taken: Vec<i64> = Vec::new();
        for node in live.iter().cycle() {
            if Instant::now() >= give_up {
                break;
            }
            let Some(ip) = self.addrs.ip(node) else {
                continue;
            };
            match take_all(ip, q, &mut taken, give_up).await {
                Ok(()) => {
                    let value = serde_json::to_string(&taken).expect("numbers");
                    op.complete(Func::Read, q, Answer::Ok(Some(value)), t, |v| {
                        v.and_then(|s| serde_json::from_str(&s).ok())
                    });
                    return;
                }
                Err(e) => {
                    tracing::debug!(node, queue = q, "drain: {e}");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
        // Some messages may have been taken, but the drain never finished:
        // not a read of the whole set.
        op.complete(Func::Read, q, Answer::Fail, t, |_| None);
    }
}

/// Takes messages from `q` on node `ip` until it is empty, appending each
/// one's element to `taken`.
async fn take_all(
    ip: std::net::Ipv4Addr,
    q: &str,
    taken: &mut Vec<i64>,
    give_up: Instant,
) -> Result<(), String> {
    let (_conn, ch) = connect(ip, 0).await?;
    let no_ack = BasicGetOptions { no_ack: true };
    while Instant::now() < give_up {
        let got = timeout(PATIENCE, ch.basic_get(q.into(), no_ack))
            .await
            .map_err(|_| "basic.get timed out".to_string())?
            .map_err(|e| e.to_string())?;
        let Some(m) = got else {
            return Ok(());
        };
        let text = String::from_utf8_lossy(&m.delivery.data);
        // A payload that is no element of ours is still something taken
        // from the queue: the set checker reports it as unexpected.
        taken.push(text.parse().unwrap_or(-1));
    }
    Err("the drain ran out of time".into())
}

/// A connection and a channel to node `ip`, with every queue declared.
/// Declaring is idempotent, and a quorum queue declared on one node is the
/// cluster's.
async fn connect(ip: std::net::Ipv4Addr, queues: u32) -> Result<(Connection, Channel), String> {
    let uri = format!("amqp://guest:guest@{ip}:5672/%2f");
    let conn = timeout(
        PATIENCE,
        Connection::connect(&uri, ConnectionProperties::default()),
    )
    .await
    .map_err(|_| format!("no AMQP connection to {ip} within {PATIENCE:?}"))?
    .map_err(|e| e.to_string())?;
    let ch = timeout(PATIENCE, conn.create_channel())
        .await
        .map_err(|_| "channel.open timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let mut args = FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        AMQPValue::LongString("quorum".into()),
    );
    for q in 0..queues {
        timeout(
            PATIENCE,
            ch.queue_declare(
                queue(q).as_str().into(),
                QueueDeclareOptions::durable(),
                args.clone(),
            ),
        )
        .await
        .map_err(|_| "queue.declare timed out".to_string())?
        .map_err(|e| e.to_string())?;
    }
    Ok((conn, ch))
}

/// One publisher's state.
struct Publisher {
    client: u64,
    nodes: Vec<String>,
    shared: Shared,
    addrs: Addrs,
    rec: Clock,
    rate: u32,
    queues: u32,
}

impl Publisher {
    async fn run(
        self,
        mut stopped: watch::Receiver<bool>,
        mut observed: watch::Receiver<Observed>,
    ) {
        let all: BTreeSet<String> = self.nodes.iter().cloned().collect();
        tokio::select! {
            _ = stopped.wait_for(|s| *s) => return,
            _ = observed.wait_for(|o| {
                o.view.nodes.values().any(|v| v.members.as_ref() == Some(&all))
            }) => {}
        }
        let mut tick = tokio::time::interval(Duration::from_secs(1) / self.rate.max(1));
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let node = self.nodes[self.client as usize % self.nodes.len()].clone();
        let mut open: Option<(Connection, Channel)> = None;
        for n in 1i64.. {
            tokio::select! {
                _ = stopped.wait_for(|s| *s) => return,
                _ = tick.tick() => {}
            }
            if open.is_none() {
                // Down (killed, paused) nodes are not dialled; a cut one is,
                // and fails within PATIENCE.
                let Some(ip) = self.reachable(&node) else {
                    continue;
                };
                open = match connect(ip, self.queues).await {
                    Ok((conn, ch)) => {
                        match ch.confirm_select(ConfirmSelectOptions::default()).await {
                            Ok(()) => Some((conn, ch)),
                            Err(_) => None,
                        }
                    }
                    Err(e) => {
                        tracing::debug!(node, "publisher {}: {e}", self.client);
                        None
                    }
                };
            }
            let Some((_, ch)) = &open else {
                continue;
            };
            let q = queue((n as u32) % self.queues.max(1));
            let e = (self.client as i64) * 1_000_000 + n;
            let op = OpClient {
                rec: &self.rec,
                client: self.client,
                node: &node,
            };
            let t = op.invoke(
                Func::Add,
                &q,
                Args {
                    value: Some(e.into()),
                    ..Args::default()
                },
            );
            let confirmed = timeout(PATIENCE, async {
                ch.basic_publish(
                    "".into(),
                    q.as_str().into(),
                    BasicPublishOptions::default(),
                    e.to_string().as_bytes(),
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await?
                .await
            })
            .await;
            let (a, broken) = match confirmed {
                Ok(Ok(c)) if c.is_ack() => (Answer::Ok(None), false),
                // A nack: the broker could not take charge of it, but may
                // still deliver it.
                Ok(Ok(_)) => (Answer::Unknown, false),
                Err(_) | Ok(Err(_)) => (Answer::Unknown, true),
            };
            op.complete(Func::Add, &q, a, t, |_| None);
            if broken {
                open = None;
            }
        }
    }

    /// `node`'s address, unless the fault schedule has it down or paused.
    fn reachable(&self, node: &str) -> Option<std::net::Ipv4Addr> {
        let up = {
            let l = self.shared.lock().expect("ledger lock");
            l.states.get(node).is_none_or(|s| *s == NodeState::Up)
        };
        up.then(|| self.addrs.ip(node)).flatten()
    }
}
