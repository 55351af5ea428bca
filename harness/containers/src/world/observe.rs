//! The observer: every [`EVERY`], probe each cluster node (its database's
//! own view, and its agent's status endpoint), read each agent's journal
//! (its leadership windows and bootstrap, written to a folder shared with
//! the host, so an isolated or frozen node's last window is still known)
//! and read the store, and publish one [`View`] of the whole cluster, in
//! the shape every world shares. Every sample goes to the driver in order
//! (none is lost while it is busy firing a fault); the newest also goes to
//! the workloads and the nemesis, which need only that.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read as _, Seek, SeekFrom};
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clusterlab_core::terms::Publication;
use clusterlab_core::trace::EventKind;
use clusterlab_core::view::{NodeState, NodeView, Taken, View, Window};
use disco::journal::Line;
use futures_util::future::join_all;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::addrs::Addrs;
use super::clock::Clock;
use super::kind::{Kind, STATUS_PORT};
use super::store::Store;

/// How often the cluster is sampled.
pub const EVERY: Duration = Duration::from_millis(250);

/// What the fault ledger says of each node, as the driver last set it.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    /// Up, paused or down.
    pub states: BTreeMap<String, NodeState>,
    /// Nodes with an unbroken path to a working store.
    pub reaches_store: BTreeSet<String>,
    /// Running nodes with no path to the store at all.
    pub severed: BTreeSet<String>,
    /// Nodes stopped cleanly for good.
    pub left: BTreeSet<String>,
    /// Of those, the ones cut from the store since, and when.
    pub left_cut: BTreeMap<String, Duration>,
    /// Every time a fault took the leader key from outside.
    pub taken: Vec<Taken>,
    /// Since when no fault has been in effect.
    pub quiet_since: Option<Duration>,
    /// When a store node was last killed or restarted.
    pub store_changed: Option<Duration>,
}

/// The ledger, written by the driver, read by the observer and the writer.
pub type Shared = Arc<Mutex<Ledger>>;

/// One sample.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    /// The cluster.
    pub view: View,
    /// Leadership windows the agents wrote down since the last sample, in
    /// order: when, whose, and the window (`None`: not leading).
    pub published: Vec<Publication>,
    /// Bootstraps the agents wrote down since the last sample.
    pub bootstraps: Vec<(Duration, String)>,
    /// The rest of what the agents wrote down (phases, claims, their
    /// databases starting and exiting), as trace events.
    pub facts: Vec<(Duration, EventKind)>,
}

/// What an agent's status endpoint says: disco's member view.
async fn agent_peers(http: &reqwest::Client, ip: Ipv4Addr) -> Option<BTreeSet<String>> {
    let v: Value = http
        .get(format!("http://{ip}:{STATUS_PORT}/status"))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    v["peers"].as_array().map(|p| {
        p.iter()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    })
}

/// What the journals gained since the last read.
#[derive(Debug, Default)]
pub struct Gained {
    /// Leadership windows, in order.
    pub published: Vec<Publication>,
    /// Bootstrap commits.
    pub bootstraps: Vec<(Duration, String)>,
    /// Phases, claims, databases starting and exiting.
    pub facts: Vec<(Duration, EventKind)>,
}

/// The name of an agent's journal in its node's shared folder.
pub const JOURNAL: &str = "journal.jsonl";

/// Every node's journal, read from the host as far as it has been
/// written, with each node's latest window.
#[derive(Debug, Default)]
pub struct Journals {
    files: BTreeMap<String, PathBuf>,
    offset: BTreeMap<String, u64>,
    partial: BTreeMap<String, String>,
    windows: BTreeMap<String, Option<Window>>,
}

impl Journals {
    /// The journals of `nodes`, in the host folders `dir` gives.
    pub fn new(nodes: &[String], dir: impl Fn(&str) -> Option<PathBuf>) -> Journals {
        Journals {
            files: nodes
                .iter()
                .filter_map(|n| Some((n.clone(), dir(n)?.join(JOURNAL))))
                .collect(),
            ..Journals::default()
        }
    }

    /// What every journal gained since the last call: windows and
    /// bootstraps, each on the run's clock.
    pub fn read(&mut self, rec: &Clock) -> Gained {
        let (mut published, mut bootstraps, mut facts) = (Vec::new(), Vec::new(), Vec::new());
        for (node, path) in &self.files {
            let Ok(mut f) = std::fs::File::open(path) else {
                continue;
            };
            let offset = self.offset.entry(node.clone()).or_default();
            let mut text = String::new();
            if f.seek(SeekFrom::Start(*offset)).is_err() || f.read_to_string(&mut text).is_err() {
                continue;
            }
            *offset += text.len() as u64;
            let partial = self.partial.entry(node.clone()).or_default();
            partial.push_str(&text);
            let complete = partial.rfind('\n').map_or(0, |i| i + 1);
            let lines: String = partial.drain(..complete).collect();
            for l in lines.lines() {
                let Ok(line) = serde_json::from_str::<Line>(l) else {
                    tracing::warn!(node = %node, line = l, "journal: a line that does not parse");
                    continue;
                };
                let at = rec.since_mono(line.mono_ns);
                if line.bootstrap {
                    bootstraps.push((at, node.clone()));
                }
                if let Some(phase) = line.phase {
                    let node = node.clone();
                    facts.push((at, EventKind::Phase { node, phase }));
                }
                if line.claim {
                    facts.push((at, EventKind::Claimed { node: node.clone() }));
                }
                if let Some(running) = line.database {
                    let node = node.clone();
                    facts.push((at, EventKind::Database { node, running }));
                }
                if let Some(w) = line.leader {
                    let w = w.map(|w| Window {
                        until: rec.since_mono(w.until_mono_ns),
                        token: w.token,
                    });
                    self.windows.insert(node.clone(), w);
                    published.push((at, node.clone(), w));
                }
            }
        }
        published.sort_by_key(|(at, _, _)| *at);
        bootstraps.sort();
        facts.sort_by_key(|(at, _)| *at);
        Gained {
            published,
            bootstraps,
            facts,
        }
    }

    /// The window `node` last wrote down, if it leads by it.
    pub fn window(&self, node: &str) -> Option<Window> {
        self.windows.get(node).copied().flatten()
    }
}

/// The observer's outputs: every sample in order for the driver, and the
/// newest one for whoever needs only that.
pub struct Samples {
    /// Every sample, in order.
    pub all: mpsc::UnboundedReceiver<Observed>,
    /// The newest sample.
    pub latest: watch::Receiver<Observed>,
}

/// Runs until the driver's receiver is gone or the task is aborted.
#[allow(clippy::too_many_arguments)]
pub fn spawn(
    kind: Kind,
    nodes: Vec<String>,
    shared: Shared,
    addrs: Addrs,
    store: Arc<Store>,
    rec: Clock,
    mut journals: Journals,
) -> (Samples, tokio::task::JoinHandle<()>) {
    let (latest_tx, latest) = watch::channel(Observed::default());
    let (all_tx, all) = mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let http = disco::backend::http::builder()
            .timeout(Duration::from_millis(800))
            .build()
            .expect("plain http client");
        loop {
            let taken = rec.elapsed();
            let ledger = shared.lock().expect("ledger lock").clone();
            let probes = nodes.iter().map(|n| {
                let (http, addrs, kind) = (&http, &addrs, &kind);
                let state = ledger.states.get(n).copied().unwrap_or(NodeState::Up);
                async move {
                    match (state, addrs.ip(n)) {
                        (NodeState::Up, Some(ip)) => {
                            tokio::join!(kind.probe(http, ip, n), agent_peers(http, ip))
                        }
                        _ => (None, None),
                    }
                }
            });
            let (answers, store_view) = tokio::join!(join_all(probes), store.view());
            let Gained {
                published,
                bootstraps,
                facts,
            } = journals.read(&rec);
            // A fault that began while this sample was taken may explain
            // what it saw: the sample is not quiet then.
            let quiet_since = {
                let now = shared.lock().expect("ledger lock").quiet_since;
                if now == ledger.quiet_since {
                    now
                } else {
                    None
                }
            };
            let mut view = View {
                at: taken,
                nodes: BTreeMap::new(),
                store: store_view,
                reaches_store: ledger.reaches_store.clone(),
                severed: ledger.severed.clone(),
                left: ledger.left.clone(),
                left_cut: ledger.left_cut.clone(),
                taken: ledger.taken.clone(),
                quiet_since,
                store_changed: ledger.store_changed,
                // A real store does not say when it renewed a lease.
                leader_lease_renewed: None,
            };
            for (n, (db, peers)) in nodes.iter().zip(answers) {
                let state = ledger.states.get(n).copied().unwrap_or(NodeState::Up);
                view.nodes.insert(
                    n.clone(),
                    NodeView {
                        state,
                        leads: db.as_ref().is_some_and(|d| d.leads),
                        members: db.map(|d| d.members.iter().map(|m| addrs.node_name(m)).collect()),
                        window: journals.window(n),
                        peers,
                    },
                );
            }
            let obs = Observed {
                view,
                published,
                bootstraps,
                facts,
            };
            latest_tx.send_replace(obs.clone());
            if all_tx.send(obs).is_err() {
                return;
            }
            tokio::time::sleep(EVERY).await;
        }
    });
    (Samples { all, latest }, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// A journal is read as far as whole lines go, on the run's clock, and
    /// a node's last window stays known whatever its network does.
    #[test]
    fn journals_are_read_line_by_line_on_the_runs_clock() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Clock::start();
        let zero = disco::journal::mono_now_ns();
        let ms = |v: u64| zero + v * 1_000_000;
        let mut journals = Journals::new(&["n1".to_string()], |_| Some(dir.path().to_path_buf()));
        let mut f = std::fs::File::create(dir.path().join(JOURNAL)).unwrap();
        write!(
            f,
            "{{\"mono_ns\":{},\"bootstrap\":true}}\n{{\"mono_ns\":{},\"bootstrap\":true}}\n{{\"mono_ns\":{},\"leader\":{{\"token\":7,\"until_mono_ns\":{}}}}}\n{{\"mono_ns\":{},\"lea",
            ms(100),
            ms(150),
            ms(200),
            ms(2_900),
            ms(1_000)
        )
        .unwrap();
        let Gained {
            published,
            bootstraps,
            ..
        } = journals.read(&rec);
        // Each commit counts: a node that bootstraps twice (restarted,
        // say) shows twice, where the status endpoint's role showed once.
        assert_eq!(bootstraps.len(), 2);
        assert_eq!(published.len(), 1, "the partial line waits");
        let (at, node, w) = &published[0];
        assert_eq!(node, "n1");
        let near = |d: Duration, want: u64| d.as_millis().abs_diff(u128::from(want)) < 50;
        assert!(near(*at, 200), "{at:?}");
        let w = w.expect("a window");
        assert!(near(w.until, 2_900) && w.token == 7, "{w:?}");
        assert_eq!(journals.window("n1"), Some(w));
        writeln!(f, "der\":null}}").unwrap();
        let published = journals.read(&rec).published;
        assert_eq!(published.len(), 1);
        assert_eq!(published[0].2, None);
        assert_eq!(journals.window("n1"), None);
    }
}
