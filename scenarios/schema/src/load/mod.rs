//! Parsing and validation: TOML text to a [`Scenario`], or the first
//! problem with its file, line, column and a hint.
//!
//! Two passes: serde (with `deny_unknown_fields`) checks the shape and the
//! time units, keeping byte spans of the values that need checks serde
//! cannot express; then [`Checker`] checks names, targets, groups and
//! per-action fields against those spans.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use toml::{Spanned, Value};

use crate::error::ScenarioError;
use crate::model::*;
use crate::probe::Selector;
use crate::time::Time;

mod cluster;
mod expect;
mod fault;
mod shape;
mod workload;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: Option<String>,
    description: Option<String>,
    worlds: Spanned<Vec<World>>,
    #[serde(default)]
    excluded: RawExcluded,
    duration: Option<Spanned<Time>>,
    discovery: RawDiscovery,
    cluster: RawCluster,
    #[serde(default)]
    faults: Vec<RawFault>,
    workload: Option<RawWorkload>,
    #[serde(default)]
    expect: expect::RawExpect,
    sim: Option<RawSim>,
}

/// `[sim]`: settings only the simulator reads.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSim {
    /// One-way message latency: `["1ms", "3ms"]` (least, most) or one time.
    latency: Spanned<RawLatency>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLatency {
    One(Time),
    Range(Time, Time),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawExcluded {
    containers: Option<Spanned<String>>,
    sim: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDiscovery {
    kind: StoreKind,
    #[serde(default = "one")]
    nodes: Spanned<u32>,
    ttl: Option<Spanned<Time>>,
    prefix: Option<String>,
    cluster: Option<Spanned<String>>,
    tls: Option<Spanned<bool>>,
    auth: Option<Spanned<bool>>,
    image: Option<Spanned<String>>,
}

fn one() -> Spanned<u32> {
    Spanned::new(0..0, 1)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCluster {
    kind: Spanned<ClusterKind>,
    nodes: Spanned<u32>,
    names: Option<Spanned<Vec<String>>>,
    image: Option<Spanned<String>>,
    command: Option<Spanned<Vec<String>>>,
    port: Option<u16>,
    probe: Option<RawProbe>,
    release: Option<Spanned<String>>,
    ca_bundle: Option<Spanned<bool>>,
    restart: Option<Spanned<String>>,
    join: Option<Spanned<String>>,
    agent: Option<Spanned<Vec<String>>>,
    http: Option<Spanned<RawHttp>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHttp {
    port: u16,
    write: Spanned<String>,
    body: Option<Spanned<String>>,
    read: Spanned<String>,
    value: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProbe {
    #[serde(default = "get")]
    method: Spanned<String>,
    path: String,
    port: u16,
    body: Option<String>,
    members: Spanned<String>,
    leader: Spanned<String>,
}

fn get() -> Spanned<String> {
    Spanned::new(0..0, "GET".to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFault {
    at: Spanned<Time>,
    action: Spanned<String>,
    target: Option<Spanned<Value>>,
    groups: Option<Spanned<Value>>,
    from: Option<Spanned<Value>>,
    to: Option<Spanned<Value>>,
    via: Option<Spanned<String>>,
    rate: Option<Spanned<f64>>,
    key: Option<Spanned<String>>,
    delay: Option<Spanned<Time>>,
    by: Option<Spanned<Time>>,
    peer: Option<Spanned<Value>>,
    direction: Option<Spanned<String>>,
    jitter: Option<Spanned<Time>>,
    #[serde(rename = "for")]
    duration: Option<Spanned<Time>>,
    during_formation: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkload {
    kind: Option<Spanned<String>>,
    rate: Spanned<u32>,
    keys: Spanned<u32>,
    clients: Option<Spanned<u32>>,
    reads: Option<Spanned<String>>,
}

/// Every action a fault can name, for errors and hints.
pub const ACTIONS: [&str; 31] = [
    "isolate",
    "partition",
    "partition-one-way",
    "bridge",
    "cut-discovery",
    "packet-loss",
    "pause",
    "kill",
    "restart",
    "reschedule",
    "kill-leader",
    "kill-store-leader",
    "crash",
    "leave",
    "delete-key",
    "revoke-lease",
    "drop-replies",
    "delay-replies",
    "cancel-watches",
    "reset-index",
    "deregister-node",
    "clock-drift",
    "clock-jump",
    "latency",
    "jitter",
    "reorder",
    "duplicate",
    "db-leader-move",
    "db-not-ready",
    "db-crash",
    "heal",
];

/// The longest delay a shaping fault may ask for: past it a link is as good
/// as cut, and `cut-discovery` or `isolate` says so plainly.
pub const MAX_SHAPE_DELAY: Duration = Duration::from_secs(30);

/// Reads and validates a scenario file.
pub fn load(path: &Path) -> Result<Scenario, Box<ScenarioError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        Box::new(ScenarioError::whole(
            &file,
            format!("cannot read the scenario: {e}"),
            Some("check the path; `clusterlab list` shows the shipped scenarios".into()),
        ))
    })?;
    let stem = path
        .file_stem()
        .map_or("scenario".into(), |s| s.to_string_lossy().into_owned());
    parse(&file, &stem, &text)
}

/// Validates scenario `text`; `file` names it in errors and `stem` is the
/// default name.
pub fn parse(file: &str, stem: &str, text: &str) -> Result<Scenario, Box<ScenarioError>> {
    let raw: RawScenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        let (message, hint) = explain(e.message());
        Box::new(ScenarioError::at(file, text, span, message, hint))
    })?;
    Checker { file, text }.scenario(raw, stem)
}

/// Turns serde's wording into ours and adds a hint where one helps.
fn explain(msg: &str) -> (String, Option<String>) {
    let msg = msg.trim().to_string();
    let hint = if msg.contains("unknown field") {
        Some(
            "remove the field or fix its spelling; the schema is in scenarios/README.md"
                .to_string(),
        )
    } else if msg.contains("missing field") {
        Some("add the field; the schema is in scenarios/README.md".to_string())
    } else if msg.contains("limit of") {
        Some(format!(
            "use a time of at most \"{}h\"; a soak test longer than a day is several runs",
            crate::time::MAX.as_secs() / 3600
        ))
    } else if msg.contains("unit") || msg.contains("ambiguous") {
        Some("times are strings with a unit: \"500ms\", \"10s\", \"2m\"".to_string())
    } else if msg.contains("unknown variant") {
        Some("use one of the listed values".to_string())
    } else if msg.contains("invalid") || msg.contains("expected") || msg.contains("unterminated") {
        Some(
            "the file is not valid TOML here; check quotes, brackets and `key = value` pairs"
                .to_string(),
        )
    } else {
        None
    };
    (msg, hint)
}

struct Checker<'a> {
    file: &'a str,
    text: &'a str,
}

type Check<T> = Result<T, Box<ScenarioError>>;

impl Checker<'_> {
    fn err(&self, span: Range<usize>, message: String, hint: &str) -> Box<ScenarioError> {
        let hint = (!hint.is_empty()).then(|| hint.to_string());
        Box::new(ScenarioError::at(self.file, self.text, span, message, hint))
    }

    /// An image reference: one word, named with where it is written.
    fn image(&self, i: &Spanned<String>) -> Check<Image> {
        let name = i.get_ref().trim();
        if name.is_empty() || name.contains(char::is_whitespace) {
            return Err(self.err(
                i.span(),
                format!("{:?} is not an image reference", i.get_ref()),
                "e.g. image = \"quay.io/coreos/etcd:v3.5.16\" (a local tag or one pulled beforehand)",
            ));
        }
        let at = ScenarioError::at(self.file, self.text, i.span(), String::new(), None);
        Ok(Image {
            name: name.to_string(),
            at: format!("{}:{}:{}", at.file, at.line, at.column),
        })
    }

    /// `[sim] latency`: whole milliseconds (tokio's timers, which the
    /// simulator's time rides on, resolve no finer), at least 1 ms, at most
    /// a minute, least first; only in a scenario the simulator runs.
    fn sim_latency(
        &self,
        l: &Spanned<RawLatency>,
        worlds: &[World],
    ) -> Check<(Duration, Duration)> {
        let hint =
            "latency = [\"1ms\", \"3ms\"] (least, most), whole milliseconds from 1 ms to 1 minute";
        if !worlds.contains(&World::Sim) {
            return Err(self.err(
                l.span(),
                "[sim] is read only by the simulator, and this scenario does not run in it".into(),
                "remove [sim], or add \"sim\" to worlds",
            ));
        }
        let (lo, hi) = match l.get_ref() {
            RawLatency::One(t) => (t.0, t.0),
            RawLatency::Range(a, b) => (a.0, b.0),
        };
        for t in [lo, hi] {
            if t < Duration::from_millis(1)
                || t > Duration::from_secs(60)
                || t.subsec_nanos() % 1_000_000 != 0
            {
                return Err(self.err(
                    l.span(),
                    format!("a simulated latency of {t:?} cannot be simulated"),
                    hint,
                ));
            }
        }
        if hi < lo {
            return Err(self.err(
                l.span(),
                format!("the most latency ({hi:?}) is below the least ({lo:?})"),
                hint,
            ));
        }
        Ok((lo, hi))
    }

    /// Narrows `span` to the `nth` quoted occurrence of `word` inside it.
    fn find(&self, span: &Range<usize>, word: &str, nth: usize) -> Range<usize> {
        let hay = &self.text[span.clone()];
        let quoted = format!("\"{word}\"");
        hay.match_indices(&quoted)
            .nth(nth)
            .map(|(i, _)| span.start + i..span.start + i + quoted.len())
            .unwrap_or_else(|| span.clone())
    }

    fn scenario(&self, raw: RawScenario, stem: &str) -> Check<Scenario> {
        let name = raw.name.unwrap_or_else(|| stem.to_string());
        let (worlds, excluded) = self.worlds(&raw.worlds, &raw.excluded)?;
        let tls_span = raw.discovery.tls.as_ref().map(Spanned::span);
        let discovery = self.discovery(raw.discovery, &name)?;
        let cluster = self.cluster(raw.cluster)?;
        if cluster.restart == Restart::Always && worlds.contains(&World::Sim) {
            return Err(self.err(
                raw.worlds.span(),
                "restart = \"always\" is a container engine's policy; the simulator restarts a \
                 crashed database itself (the db-crash fault)"
                    .into(),
                "worlds = [\"containers\"], with sim = \"...\" under [excluded]",
            ));
        }
        if cluster.join == Join::Root && worlds.contains(&World::Sim) {
            return Err(self.err(
                raw.worlds.span(),
                "join = \"root\" is seed 001's glue around real Galera nodes; the simulator runs \
                 disco's logic"
                    .into(),
                "worlds = [\"containers\"], with sim = \"...\" under [excluded]",
            ));
        }
        if cluster.kind == ClusterKind::Rabbitmq && worlds.contains(&World::Sim) {
            return Err(self.err(
                raw.worlds.span(),
                "a rabbitmq cluster runs RabbitMQ's own discovery; the simulator runs disco's"
                    .into(),
                "worlds = [\"containers\"], with sim = \"...\" under [excluded]",
            ));
        }
        if discovery.tls {
            let span = tls_span.unwrap_or_default();
            if worlds.contains(&World::Sim) {
                return Err(self.err(
                    span,
                    "the simulator does not model TLS or RBAC".into(),
                    "worlds = [\"containers\"], with sim = \"...\" under [excluded]",
                ));
            }
            if !matches!(cluster.kind, ClusterKind::Etcd | ClusterKind::Consul) {
                return Err(self.err(
                    span,
                    format!(
                        "a {:?} cluster talks to the store itself, without the run's certificates",
                        cluster.kind
                    ),
                    "a secured store is for clusters that join through disco-agent: kind = \"etcd\" or \"consul\"",
                ));
            }
        }
        let mut faults = raw
            .faults
            .into_iter()
            .map(|f| self.fault(f, &cluster.nodes, &worlds, discovery.kind))
            .collect::<Check<Vec<_>>>()?;
        faults.sort_by_key(|f| f.at);
        if let (Some(g), Some(w)) = (&cluster.generic, &raw.workload) {
            if g.http.is_none() {
                return Err(self.err(
                    w.rate.span(),
                    "a generic cluster's workload needs its key-value requests".into(),
                    "add [cluster.http] with write and read, or remove [workload]",
                ));
            }
        }
        let workload = raw
            .workload
            .map(|w| self.workload(w, cluster.kind))
            .transpose()?;
        let expect = self.expect(raw.expect, cluster.kind, cluster.join)?;
        let sim_latency = raw
            .sim
            .map(|sim| self.sim_latency(&sim.latency, &worlds))
            .transpose()?;
        let mut s = Scenario {
            name,
            description: raw.description.unwrap_or_default(),
            worlds,
            excluded,
            duration: Duration::ZERO,
            discovery,
            cluster,
            faults,
            workload,
            expect,
            sim_latency,
            source: self.text.to_string(),
        };
        let needed = s.last_heal() + s.expect.converge_within;
        s.duration = match raw.duration {
            Some(d) if d.get_ref().0 < s.last_heal() => {
                return Err(self.err(
                    d.span(),
                    format!(
                        "duration {:?} ends before the last fault is undone at {:?}",
                        d.get_ref().0,
                        s.last_heal()
                    ),
                    "lengthen the duration or move the faults earlier",
                ))
            }
            Some(d) => d.into_inner().0,
            None => needed,
        };
        Ok(s)
    }

    fn worlds(
        &self,
        worlds: &Spanned<Vec<World>>,
        ex: &RawExcluded,
    ) -> Check<(Vec<World>, BTreeMap<World, String>)> {
        let list = worlds.get_ref().clone();
        if list.is_empty() {
            return Err(self.err(
                worlds.span(),
                "a scenario must run in at least one world".into(),
                "worlds = [\"containers\", \"sim\"]",
            ));
        }
        let mut excluded = BTreeMap::new();
        for (world, reason) in [(World::Containers, &ex.containers), (World::Sim, &ex.sim)] {
            match (list.contains(&world), reason) {
                (true, Some(r)) => {
                    return Err(self.err(
                        r.span(),
                        format!("{} is both listed in worlds and excluded", world.as_str()),
                        "drop it from one of the two",
                    ))
                }
                (false, None) => {
                    return Err(self.err(
                        worlds.span(),
                        format!(
                            "the {} world is not listed and no reason is given",
                            world.as_str()
                        ),
                        &format!(
                            "add it to worlds, or say why under [excluded]: {} = \"...\"",
                            world.as_str()
                        ),
                    ))
                }
                (false, Some(r)) => {
                    excluded.insert(world, r.get_ref().clone());
                }
                (true, None) => {}
            }
        }
        Ok((list, excluded))
    }
}

/// Whether `name` is one the discovery store's nodes take (`s1`, `s2`, ...):
/// both worlds name them so, and a cluster node may not collide with them.
fn is_store_name(name: &str) -> bool {
    name.strip_prefix('s')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Edit distance, for "did you mean".
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}
