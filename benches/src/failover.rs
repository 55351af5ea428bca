//! Failover: from the leader's death to the leader key naming a new live
//! node. Each node runs on its own thread and tokio runtime, so killing it
//! is dropping that runtime: no deregistration, no revoke, its lease just
//! stops being renewed, as when a process is SIGKILLed.

use std::collections::BTreeSet;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use disco::backend::{ConsulRegistry, EtcdRegistry};
use disco::leader::LeaderRecord;
use disco::node::{Node, NodeConfig};
use disco::Registry;
use tokio::sync::oneshot;

use crate::{keys, Backend, PREFIX};

/// How long a failover may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(60);

struct Running {
    name: String,
    kill: oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

async fn run_node<R: Registry>(registry: R, cfg: NodeConfig, kill: oneshot::Receiver<()>) {
    let node = Node::start(registry, cfg, DEADLINE)
        .await
        .expect("node starts");
    let _ = kill.await;
    // Dropped with the runtime, not shut down: a death, not a departure.
    std::mem::forget(node);
}

/// Three campaigning nodes on one store, and an observer of the leader key.
pub struct Cluster<R: Registry> {
    backend: Backend,
    url: String,
    cluster: String,
    ttl: Duration,
    observer: R,
    nodes: Vec<Running>,
    next: usize,
}

impl<R: Registry> Cluster<R> {
    /// Starts three nodes campaigning with `ttl`; `observer` reads the key.
    pub fn start(backend: Backend, url: &str, cluster: &str, ttl: Duration, observer: R) -> Self {
        let mut c = Cluster {
            backend,
            url: url.to_string(),
            cluster: cluster.to_string(),
            ttl,
            observer,
            nodes: Vec::new(),
            next: 0,
        };
        for _ in 0..3 {
            c.spawn();
        }
        c
    }

    fn spawn(&mut self) {
        self.next += 1;
        let name = format!("n{}", self.next);
        let cfg = NodeConfig {
            prefix: PREFIX.into(),
            cluster: self.cluster.clone(),
            node: name.clone(),
            address: format!("{name}:7000"),
            ttl: self.ttl,
            campaign: true,
        };
        let (kill, dead) = oneshot::channel();
        let (backend, url) = (self.backend, self.url.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                match backend {
                    Backend::Etcd => {
                        let r = EtcdRegistry::connect(&[url]).await.expect("etcd client");
                        run_node(r, cfg, dead).await
                    }
                    Backend::Consul => {
                        let r = ConsulRegistry::new(&url).expect("consul client");
                        run_node(r, cfg, dead).await
                    }
                }
            });
            rt.shutdown_background();
        });
        self.nodes.push(Running { name, kill, thread });
    }

    async fn named(&self) -> Option<String> {
        let entry = self
            .observer
            .get(&keys(&self.cluster).leader())
            .await
            .ok()??;
        LeaderRecord::parse(&entry.value).map(|r| r.node)
    }

    async fn live_leader(&self, exclude: &BTreeSet<String>) -> String {
        let give_up = Instant::now() + DEADLINE;
        loop {
            if let Some(n) = self.named().await {
                if !exclude.contains(&n) && self.nodes.iter().any(|r| r.name == n) {
                    return n;
                }
            }
            assert!(
                Instant::now() < give_up,
                "no live leader within {DEADLINE:?}"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Kills the current leader and returns the time until the key names
    /// another live node; a replacement node is then started.
    pub async fn fail_over_once(&mut self) -> Duration {
        let leader = self.live_leader(&BTreeSet::new()).await;
        let pos = self
            .nodes
            .iter()
            .position(|r| r.name == leader)
            .expect("leader is ours");
        let dead = self.nodes.remove(pos);
        let _ = dead.kill.send(());
        dead.thread.join().expect("node thread");
        let t0 = Instant::now();
        let took = {
            self.live_leader(&BTreeSet::from([leader])).await;
            t0.elapsed()
        };
        self.spawn();
        took
    }
}
