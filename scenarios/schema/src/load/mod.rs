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

mod expect;

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
pub const ACTIONS: [&str; 30] = [
    "isolate",
    "partition",
    "partition-one-way",
    "bridge",
    "cut-discovery",
    "packet-loss",
    "pause",
    "kill",
    "restart",
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
        let expect = self.expect(raw.expect, cluster.kind)?;
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

    fn workload(&self, w: RawWorkload, cluster: ClusterKind) -> Check<Workload> {
        // Each quorum queue is a Raft group on every node.
        const MAX_QUEUES: u32 = 16;
        let clients = w.clients.as_ref().map_or(1, |c| *c.get_ref());
        for (what, v, max) in [
            ("rate", Some(&w.rate), 1_000),
            ("keys", Some(&w.keys), 1_000_000),
            ("clients", w.clients.as_ref(), 100),
        ] {
            let Some(v) = v else { continue };
            if *v.get_ref() == 0 || *v.get_ref() > max {
                return Err(self.err(
                    v.span(),
                    format!("workload {what} = {} is out of range", v.get_ref()),
                    &format!("use 1 to {max}"),
                ));
            }
        }
        let kind = match w.kind.as_ref().map(|k| (k.get_ref().as_str(), k.span())) {
            Some(("messages", _)) if cluster == ClusterKind::Rabbitmq => {
                if *w.keys.get_ref() > MAX_QUEUES {
                    return Err(self.err(
                        w.keys.span(),
                        format!("{} quorum queues", w.keys.get_ref()),
                        &format!("keys is the number of queues here: use 1 to {MAX_QUEUES}"),
                    ));
                }
                WorkloadKind::Messages
            }
            Some(("messages", span)) => {
                return Err(self.err(
                    span,
                    "a messages workload publishes to RabbitMQ queues: a rabbitmq cluster".into(),
                    "use kind = \"writes\" or \"register\" for this cluster",
                ))
            }
            _ if cluster == ClusterKind::Rabbitmq => {
                let span = w.kind.as_ref().map_or(w.rate.span(), |k| k.span());
                return Err(self.err(
                    span,
                    "a rabbitmq cluster takes a messages workload".into(),
                    "kind = \"messages\" (publisher-confirmed messages to quorum queues)",
                ));
            }
            None | Some(("writes", _)) => WorkloadKind::Writes,
            Some(("register", span)) => {
                if !matches!(cluster, ClusterKind::Etcd | ClusterKind::Consul) {
                    return Err(self.err(
                        span,
                        "a register workload needs a key-value store with compare-and-set: an etcd or consul cluster".into(),
                        "use kind = \"writes\" for this cluster",
                    ));
                }
                WorkloadKind::Register
            }
            Some(("set", span)) => {
                if !matches!(cluster, ClusterKind::Patroni | ClusterKind::Galera) {
                    return Err(self.err(
                        span,
                        "a set workload adds rows to a SQL table: a patroni or galera cluster"
                            .into(),
                        "use kind = \"register\" for an etcd or consul cluster",
                    ));
                }
                WorkloadKind::Set
            }
            Some((other, span)) => {
                return Err(self.err(
                    span,
                    format!("unknown workload kind {other:?}"),
                    "kind = \"writes\", \"register\", \"set\" or \"messages\"",
                ))
            }
        };
        let allowed: &[ReadMode] = match cluster {
            ClusterKind::Etcd => &[ReadMode::Linearizable, ReadMode::Serializable],
            ClusterKind::Consul => &[ReadMode::Consistent, ReadMode::Default, ReadMode::Stale],
            _ => &[],
        };
        let words: Vec<&str> = allowed.iter().map(|m| m.as_str()).collect();
        let reads = match &w.reads {
            None => allowed.first().copied().unwrap_or(ReadMode::Linearizable),
            Some(r) => {
                if kind != WorkloadKind::Register {
                    return Err(self.err(
                        r.span(),
                        "`reads` is a register workload's setting".into(),
                        "add kind = \"register\", or drop `reads`",
                    ));
                }
                match allowed.iter().find(|m| m.as_str() == r.get_ref()) {
                    Some(m) => *m,
                    None => {
                        return Err(self.err(
                            r.span(),
                            format!(
                                "{:?} is not a read mode of {} clusters",
                                r.get_ref(),
                                if cluster == ClusterKind::Consul {
                                    "consul"
                                } else {
                                    "etcd"
                                }
                            ),
                            &format!("reads = one of {}", words.join(", ")),
                        ))
                    }
                }
            }
        };
        Ok(Workload {
            kind,
            rate: w.rate.into_inner(),
            keys: w.keys.into_inner(),
            clients,
            reads,
        })
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

    fn discovery(&self, d: RawDiscovery, name: &str) -> Check<Discovery> {
        let nodes = *d.nodes.get_ref();
        if nodes == 0 || nodes % 2 == 0 {
            return Err(self.err(
                d.nodes.span(),
                format!("{nodes} store nodes: a quorum store needs an odd count"),
                "use 1, 3 or 5",
            ));
        }
        let ttl = d
            .ttl
            .as_ref()
            .map_or(Duration::from_secs(10), |t| t.get_ref().0);
        if let Some(t) = &d.ttl {
            let min = if d.kind == StoreKind::Consul { 10 } else { 1 };
            if ttl < Duration::from_secs(min) || ttl.subsec_nanos() != 0 {
                return Err(self.err(
                    t.span(),
                    format!("ttl {ttl:?} is not whole seconds >= {min}s"),
                    if min == 10 {
                        "Consul sessions take 10s to 24h"
                    } else {
                        "etcd leases take whole seconds"
                    },
                ));
            }
        }
        let cluster = match d.cluster {
            Some(c) => {
                self.segment(&c, "cluster")?;
                c.into_inner()
            }
            None => name.to_string(),
        };
        let tls = d.tls.as_ref().is_some_and(|t| *t.get_ref());
        let auth = d.auth.as_ref().is_some_and(|a| *a.get_ref());
        if let Some(a) = d.auth.as_ref().filter(|_| auth && !tls) {
            return Err(self.err(
                a.span(),
                "auth without tls: a cluster's identity (etcd: its certificate's name; Consul: its ACL token) is shown only over TLS".into(),
                "add tls = true to [discovery]",
            ));
        }
        let image = d.image.as_ref().map(|i| self.image(i)).transpose()?;
        Ok(Discovery {
            kind: d.kind,
            nodes,
            ttl,
            prefix: d.prefix.unwrap_or_else(|| "disco".into()),
            cluster,
            tls,
            auth,
            image,
        })
    }

    fn segment(&self, v: &Spanned<String>, what: &str) -> Check<()> {
        let s = v.get_ref();
        if s.is_empty() || s.contains('/') || s.chars().any(char::is_whitespace) {
            return Err(self.err(
                v.span(),
                format!("{what} {s:?} must be non-empty without '/' or spaces"),
                "it becomes a key segment",
            ));
        }
        Ok(())
    }

    fn cluster(&self, c: RawCluster) -> Check<Cluster> {
        let n = *c.nodes.get_ref();
        if !(1..=64).contains(&n) {
            return Err(self.err(c.nodes.span(), format!("{n} nodes: use 1 to 64"), ""));
        }
        let nodes: Vec<String> = match &c.names {
            Some(names) => {
                let list = names.get_ref();
                if list.len() != n as usize {
                    return Err(self.err(
                        names.span(),
                        format!("{} names for {n} nodes", list.len()),
                        "give one name per node, or drop `names` for n1..nN",
                    ));
                }
                let mut seen = BTreeSet::new();
                for name in list {
                    let span = self.find(&names.span(), name, 0);
                    if !seen.insert(name.as_str()) {
                        return Err(self.err(
                            self.find(&names.span(), name, 1),
                            format!("node name {name:?} appears twice"),
                            "names must be unique",
                        ));
                    }
                    if Role::ALL.iter().any(|(r, _)| r == name) {
                        return Err(self.err(
                            span,
                            format!("{name:?} is a role, not a node name"),
                            "pick another name",
                        ));
                    }
                    if is_store_name(name) {
                        return Err(self.err(
                            span,
                            format!("{name:?} is the name of a discovery store node"),
                            "store nodes are s1, s2, ...; pick another name for a cluster node",
                        ));
                    }
                    self.segment(&Spanned::new(span, name.clone()), "node name")?;
                }
                list.clone()
            }
            None => (1..=n).map(|i| format!("n{i}")).collect(),
        };
        let kind = *c.kind.get_ref();
        let generic = if kind == ClusterKind::Generic {
            let missing = |what: &str| {
                self.err(
                    c.kind.span(),
                    format!("a generic cluster needs `{what}`"),
                    "generic clusters give image, command, port and [cluster.probe]",
                )
            };
            let command = c.command.ok_or_else(|| missing("command"))?;
            disco_template::validate(command.get_ref()).map_err(|e| {
                let span = self.find(&command.span(), &e.arg, 0);
                self.err(
                    span,
                    e.reason.clone(),
                    &format!("placeholders: {}", disco_template::known()),
                )
            })?;
            let p = c.probe.ok_or_else(|| missing("[cluster.probe]"))?;
            let method = p.method.get_ref().to_ascii_uppercase();
            if method != "GET" && method != "POST" {
                return Err(self.err(
                    p.method.span(),
                    format!("probe method {method:?}"),
                    "use GET or POST",
                ));
            }
            let sel = |s: &Spanned<String>| {
                Selector::parse(s.get_ref()).map_err(|m| {
                    self.err(
                        s.span(),
                        m,
                        "e.g. \"/nodes/*/id\" or \"/*[leader=true]/id\"",
                    )
                })
            };
            let agent = match &c.agent {
                None => Vec::new(),
                Some(a) => {
                    for flag in a.get_ref().iter().filter(|f| f.starts_with("--")) {
                        let name = flag.split_once('=').map_or(flag.as_str(), |(n, _)| n);
                        if !AGENT_FLAGS.contains(&name) {
                            return Err(self.err(
                                self.find(&a.span(), flag, 0),
                                format!("disco-agent flag {name:?} is not one a scenario sets"),
                                &format!(
                                    "use {}; the lab sets the store, cluster, node id, TTL and address",
                                    AGENT_FLAGS.join(", ")
                                ),
                            ));
                        }
                    }
                    a.get_ref().clone()
                }
            };
            let http = c.http.as_ref().map(|h| self.http(h)).transpose()?;
            Some(Generic {
                agent,
                http,
                image: c
                    .image
                    .as_ref()
                    .ok_or_else(|| missing("image"))?
                    .get_ref()
                    .clone(),
                command: command.into_inner(),
                port: c.port.ok_or_else(|| missing("port"))?,
                probe: Probe {
                    method,
                    path: p.path,
                    port: p.port,
                    body: p.body,
                    members: sel(&p.members)?,
                    leader: sel(&p.leader)?,
                },
            })
        } else {
            if let Some(h) = &c.http {
                return Err(self.err(
                    h.span(),
                    format!("[cluster.http] is only for generic clusters, not {kind:?}"),
                    "clusterlab writes to this kind itself; remove [cluster.http]",
                ));
            }
            if let Some(cmd) = &c.command {
                return Err(self.err(
                    cmd.span(),
                    format!("`command` is only for generic clusters, not {kind:?}"),
                    "clusterlab builds and runs this kind itself; remove `command`",
                ));
            }
            None
        };
        let image = c.image.as_ref().map(|i| self.image(i)).transpose()?;
        if let (Some(i), ClusterKind::Patroni | ClusterKind::Rabbitmq | ClusterKind::Galera) =
            (&c.image, kind)
        {
            return Err(self.err(
                i.span(),
                format!("`image` is not supported for {kind:?} clusters"),
                "their nodes run the lab's scripts on its Debian-built image; remove `image`, \
                 or run your image as kind = \"generic\"",
            ));
        }
        let release = match &c.release {
            None => None,
            Some(r)
                if kind == ClusterKind::Rabbitmq
                    && RABBITMQ_RELEASES.contains(&r.get_ref().as_str()) =>
            {
                Some(r.get_ref().clone())
            }
            Some(r) if kind == ClusterKind::Rabbitmq => {
                return Err(self.err(
                    r.span(),
                    format!("RabbitMQ release {:?} is not built here", r.get_ref()),
                    &format!("use one of {}", RABBITMQ_RELEASES.join(", ")),
                ))
            }
            Some(r) => {
                return Err(self.err(
                    r.span(),
                    format!("`release` is only for rabbitmq clusters, not {kind:?}"),
                    "remove `release`",
                ))
            }
        };
        let ca_bundle = match &c.ca_bundle {
            Some(b) if kind != ClusterKind::Rabbitmq => {
                return Err(self.err(
                    b.span(),
                    format!("`ca_bundle` is only for rabbitmq clusters, not {kind:?}"),
                    "remove `ca_bundle`",
                ))
            }
            b => b.as_ref().is_some_and(|b| *b.get_ref()),
        };
        Ok(Cluster {
            kind,
            nodes,
            generic,
            image,
            release,
            ca_bundle,
        })
    }

    /// A generic system's key-value requests: `write = "PUT /path/{key}"`,
    /// `read = "/path/{key}"`, a body with `{value}` (the default).
    fn http(&self, h: &Spanned<RawHttp>) -> Check<HttpKv> {
        let raw = h.get_ref();
        let (method, write_path) = raw
            .write
            .get_ref()
            .split_once(' ')
            .map(|(m, p)| (m.to_ascii_uppercase(), p.trim().to_string()))
            .unwrap_or_default();
        if !matches!(method.as_str(), "PUT" | "POST") || !write_path.starts_with('/') {
            return Err(self.err(
                raw.write.span(),
                format!(
                    "write = {:?} is not a method and a path",
                    raw.write.get_ref()
                ),
                "write = \"PUT /v1/kv/{key}\" (PUT or POST)",
            ));
        }
        let body = raw
            .body
            .as_ref()
            .map_or("{value}".to_string(), |b| b.get_ref().clone());
        let read_path = raw.read.get_ref().trim().to_string();
        if !write_path.contains("{key}") || !read_path.contains("{key}") {
            let span = if write_path.contains("{key}") {
                raw.read.span()
            } else {
                raw.write.span()
            };
            return Err(self.err(
                span,
                "a write and a read name their key with {key}".into(),
                "e.g. write = \"PUT /v1/kv/{key}\", read = \"/v1/kv/{key}?raw\"",
            ));
        }
        if !read_path.starts_with('/') {
            return Err(self.err(
                raw.read.span(),
                format!("read = {read_path:?} is not a path (it is a GET)"),
                "read = \"/v1/kv/{key}?raw\"",
            ));
        }
        if !body.contains("{value}") && !write_path.contains("{value}") {
            return Err(self.err(
                raw.body.as_ref().map_or(raw.write.span(), |b| b.span()),
                "the write carries no {value}".into(),
                "put {value} in the body (the default) or the path",
            ));
        }
        let value = match &raw.value {
            None => None,
            Some(v) => Some(Selector::parse(v.get_ref()).map_err(|m| {
                self.err(
                    v.span(),
                    m,
                    "e.g. \"/0/Value\", or drop `value` for a raw answer",
                )
            })?),
        };
        Ok(HttpKv {
            port: raw.port,
            write_method: method,
            write_path,
            body,
            read_path,
            value,
        })
    }

    /// A target value: one name or role, or a list of them.
    fn targets(&self, v: &Spanned<Value>, nodes: &[String], field: &str) -> Check<Vec<Target>> {
        let items: Vec<&Value> = match v.get_ref() {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        if items.is_empty() {
            return Err(self.err(
                v.span(),
                format!("`{field}` is empty"),
                "name at least one node or role",
            ));
        }
        let mut out = Vec::new();
        for item in items {
            let Value::String(s) = item else {
                return Err(self.err(
                    v.span(),
                    format!("`{field}` must be a node name, a role, or a list of them"),
                    "e.g. target = \"n1\" or target = [\"n1\", \"n2\"] or target = \"leader\"",
                ));
            };
            if let Some((_, role)) = Role::ALL.iter().find(|(r, _)| r == s) {
                out.push(Target::Role(*role));
            } else if nodes.contains(s) {
                out.push(Target::Node(s.clone()));
            } else {
                return Err(self.err(
                    self.find(&v.span(), s, 0),
                    format!("target {s:?} is neither a node nor a role"),
                    &format!(
                        "nodes: {}; roles: leader, follower, minority, majority, random",
                        nodes.join(", ")
                    ),
                ));
            }
        }
        Ok(out)
    }

    /// Explicit groups: lists of node names, no node twice.
    fn group_lists(&self, v: &Spanned<Value>, nodes: &[String]) -> Check<Vec<Vec<String>>> {
        let shape = || {
            self.err(v.span(), "`groups` must be a list of lists of node names, \"halves\" or \"majority-minority\"".into(), "e.g. groups = [[\"n1\", \"n2\"], [\"n3\"]]")
        };
        let Value::Array(groups) = v.get_ref() else {
            return Err(shape());
        };
        if groups.len() < 2 {
            return Err(self.err(
                v.span(),
                format!("{} group: a partition needs at least two", groups.len()),
                "",
            ));
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        let mut out = Vec::new();
        for g in groups {
            let Value::Array(members) = g else {
                return Err(shape());
            };
            let mut group = Vec::new();
            for m in members {
                let Value::String(name) = m else {
                    return Err(shape());
                };
                let count = seen.entry(name.as_str()).or_insert(0);
                *count += 1;
                if *count > 1 {
                    return Err(self.err(
                        self.find(&v.span(), name, *count - 1),
                        format!("node {name:?} is in more than one partition group"),
                        "a node can be on one side of a partition only",
                    ));
                }
                if !nodes.contains(name) {
                    return Err(self.err(
                        self.find(&v.span(), name, 0),
                        format!("group member {name:?} is not a node"),
                        &format!("nodes: {}", nodes.join(", ")),
                    ));
                }
                group.push(name.clone());
            }
            if group.is_empty() {
                return Err(self.err(v.span(), "an empty partition group".into(), "remove it"));
            }
            out.push(group);
        }
        Ok(out)
    }

    fn fault(
        &self,
        f: RawFault,
        nodes: &[String],
        worlds: &[World],
        store: StoreKind,
    ) -> Check<Fault> {
        let action = f.action.get_ref().as_str();
        let aspan = f.action.span();
        let need = |v: Option<&'_ Spanned<Value>>, field: &str| -> Check<Spanned<Value>> {
            v.cloned().ok_or_else(|| {
                self.err(
                    aspan.clone(),
                    format!("`{action}` needs `{field}`"),
                    &format!("add {field} = ... to this fault"),
                )
            })
        };
        // Fields that the action does not use are errors, not silently ignored.
        let used: &[&str] = match action {
            "isolate" | "cut-discovery" | "pause" | "kill" | "restart" | "crash" | "leave"
            | "revoke-lease" | "db-leader-move" | "db-not-ready" | "db-crash" => &["target"],
            "packet-loss" | "drop-replies" => &["target", "rate"],
            "delay-replies" => &["target", "delay"],
            "delete-key" => &["key", "target"],
            "clock-drift" => &["rate"],
            "clock-jump" => &["by"],
            "partition" => &["groups"],
            "bridge" => &["groups", "via"],
            "partition-one-way" => &["from", "to"],
            "latency" => &["target", "peer", "direction", "delay"],
            "jitter" => &["target", "peer", "direction", "delay", "jitter"],
            "reorder" => &["target", "peer", "direction", "delay", "rate"],
            "duplicate" => &["target", "peer", "direction", "rate"],
            "kill-leader" | "kill-store-leader" | "heal" | "cancel-watches" | "reset-index"
            | "deregister-node" => &[],
            other => {
                let near = ACTIONS
                    .iter()
                    .min_by_key(|a| distance(a, other))
                    .copied()
                    .unwrap_or("heal");
                return Err(self.err(
                    aspan,
                    format!("unknown action {other:?}"),
                    &format!("did you mean {near:?}? actions: {}", ACTIONS.join(", ")),
                ));
            }
        };
        let present = [
            ("target", f.target.as_ref().map(Spanned::span)),
            ("groups", f.groups.as_ref().map(Spanned::span)),
            ("from", f.from.as_ref().map(Spanned::span)),
            ("to", f.to.as_ref().map(Spanned::span)),
            ("via", f.via.as_ref().map(Spanned::span)),
            ("rate", f.rate.as_ref().map(Spanned::span)),
            ("key", f.key.as_ref().map(Spanned::span)),
            ("delay", f.delay.as_ref().map(Spanned::span)),
            ("by", f.by.as_ref().map(Spanned::span)),
            ("peer", f.peer.as_ref().map(Spanned::span)),
            ("direction", f.direction.as_ref().map(Spanned::span)),
            ("jitter", f.jitter.as_ref().map(Spanned::span)),
        ];
        for (field, span) in present {
            if let Some(span) = span {
                if !used.contains(&field) {
                    return Err(self.err(
                        span,
                        format!("`{action}` takes no `{field}`"),
                        &format!(
                            "`{action}` uses: {}",
                            if used.is_empty() {
                                "nothing but at".into()
                            } else {
                                used.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        if action == "heal" {
            if let Some(d) = &f.duration {
                return Err(self.err(d.span(), "`heal` takes no `for`".into(), "remove it"));
            }
        }
        if let Some(d) = &f.duration {
            let end = f.at.get_ref().0 + d.get_ref().0;
            if end > crate::time::MAX {
                return Err(self.err(
                    d.span(),
                    format!(
                        "this fault ends at {end:?}, past the limit of {}h for a run",
                        crate::time::MAX.as_secs() / 3600
                    ),
                    "start it earlier or shorten its `for`; a soak test longer than a day is several runs",
                ));
            }
        }
        let act = match action {
            "isolate" => Action::Isolate {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "cut-discovery" => Action::CutDiscovery {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "pause" => Action::Pause {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "kill" => Action::Kill {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "restart" => Action::Restart {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "packet-loss" | "drop-replies" => {
                let target = self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?;
                let rate = f.rate.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        format!("`{action}` needs `rate`"),
                        "rate = 0.3 loses 30%",
                    )
                })?;
                let r = *rate.get_ref();
                if !(r > 0.0 && r <= 1.0) {
                    return Err(self.err(
                        rate.span(),
                        format!("rate {r} is outside (0, 1]"),
                        "rate = 0.3 loses 30%",
                    ));
                }
                if action == "packet-loss" {
                    Action::PacketLoss { target, rate: r }
                } else {
                    Action::DropReplies { target, rate: r }
                }
            }
            "db-leader-move" => Action::DbLeaderMove {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "db-not-ready" => Action::DbNotReady {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "db-crash" => Action::DbCrash {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "crash" => Action::Crash {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "leave" => Action::Leave {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "revoke-lease" => Action::RevokeLease {
                target: self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?,
            },
            "delete-key" => {
                let key = f.key.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`delete-key` needs `key`".into(),
                        "key = \"leader\", \"bootstrap\" or \"member\" (with a target)",
                    )
                })?;
                let which = match key.get_ref().as_str() {
                    "leader" => StoreKey::Leader,
                    "bootstrap" => StoreKey::Bootstrap,
                    "member" => StoreKey::Member,
                    other => {
                        return Err(self.err(
                            key.span(),
                            format!("unknown key {other:?}"),
                            "use \"leader\", \"bootstrap\" or \"member\"",
                        ))
                    }
                };
                let target = match (which, f.target.as_ref()) {
                    (StoreKey::Member, t) => self.targets(&need(t, "target")?, nodes, "target")?,
                    (_, Some(t)) => {
                        return Err(self.err(
                            t.span(),
                            format!(
                                "a {:?} key belongs to no node; `target` is for key = \"member\"",
                                key.get_ref()
                            ),
                            "remove `target`",
                        ))
                    }
                    (_, None) => Vec::new(),
                };
                Action::DeleteKey { key: which, target }
            }
            "delay-replies" => {
                let target = self.targets(&need(f.target.as_ref(), "target")?, nodes, "target")?;
                let delay = f.delay.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`delay-replies` needs `delay`".into(),
                        "delay = \"2s\"",
                    )
                })?;
                Action::DelayReplies {
                    target,
                    delay: delay.get_ref().0,
                }
            }
            "clock-drift" => {
                let rate = f.rate.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`clock-drift` needs `rate`".into(),
                        "rate = 1.05: the store's clock runs 5% fast",
                    )
                })?;
                let r = *rate.get_ref();
                if !(0.5..=2.0).contains(&r) {
                    return Err(self.err(
                        rate.span(),
                        format!("a clock rate of {r}"),
                        "use a rate from 0.5 to 2.0 (1.05: 5% fast)",
                    ));
                }
                Action::ClockDrift { rate: r }
            }
            "clock-jump" => {
                let by = f.by.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`clock-jump` needs `by`".into(),
                        "by = \"500ms\": the store's clock jumps forward",
                    )
                })?;
                Action::ClockJump { by: by.get_ref().0 }
            }
            "cancel-watches" => Action::CancelWatches,
            "reset-index" => Action::ResetIndex,
            "deregister-node" => Action::DeregisterNode,
            "partition" => {
                let g = &need(f.groups.as_ref(), "groups")?;
                let groups = match g.get_ref() {
                    Value::String(s) if s == "halves" => Groups::Halves,
                    Value::String(s) if s == "majority-minority" => Groups::MajorityMinority,
                    Value::String(s) => {
                        return Err(self.err(
                            g.span(),
                            format!("unknown group preset {s:?}"),
                            "use \"halves\", \"majority-minority\" or explicit lists",
                        ))
                    }
                    _ => Groups::Explicit(self.group_lists(g, nodes)?),
                };
                Action::Partition { groups }
            }
            "bridge" => {
                let g = &need(f.groups.as_ref(), "groups")?;
                let groups = self.group_lists(g, nodes)?;
                if groups.len() != 2 {
                    return Err(self.err(
                        g.span(),
                        format!("{} groups: a bridge joins exactly two", groups.len()),
                        "",
                    ));
                }
                let via = f.via.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`bridge` needs `via`".into(),
                        "via = \"n3\": the node both sides reach",
                    )
                })?;
                let name = via.get_ref();
                if !nodes.contains(name) {
                    return Err(self.err(
                        via.span(),
                        format!("via {name:?} is not a node"),
                        &format!("nodes: {}", nodes.join(", ")),
                    ));
                }
                if groups.iter().flatten().any(|n| n == name) {
                    return Err(self.err(
                        via.span(),
                        format!("via {name:?} is also in a group"),
                        "the bridge node stands between the groups",
                    ));
                }
                Action::Bridge {
                    groups,
                    via: name.clone(),
                }
            }
            "partition-one-way" => Action::PartitionOneWay {
                from: self.targets(&need(f.from.as_ref(), "from")?, nodes, "from")?,
                to: self.targets(&need(f.to.as_ref(), "to")?, nodes, "to")?,
            },
            "latency" | "jitter" | "reorder" | "duplicate" => self.shape(&f, action, nodes)?,
            "kill-leader" => Action::KillLeader,
            "kill-store-leader" => Action::KillStoreLeader,
            _ => Action::Heal,
        };
        let (can, kind) = act.needs();
        if let Some(w) = worlds.iter().find(|w| !can.contains(w)) {
            return Err(self.err(
                aspan,
                format!("`{action}` cannot be made in the {} world", w.as_str()),
                &format!(
                    "run this scenario in the {} world only: move {} to [excluded] with a reason",
                    can.iter()
                        .map(|w| w.as_str())
                        .collect::<Vec<_>>()
                        .join(" and "),
                    w.as_str()
                ),
            ));
        }
        if kind.is_some_and(|k| k != store) {
            return Err(self.err(
                aspan,
                format!(
                    "`{action}` needs a {:?} discovery store, not {store:?}",
                    kind.expect("some")
                ),
                "change [discovery] kind, or use another fault",
            ));
        }
        if matches!(
            act,
            Action::Crash { .. }
                | Action::Leave { .. }
                | Action::DbLeaderMove { .. }
                | Action::DbCrash { .. }
        ) {
            if let Some(d) = &f.duration {
                return Err(self.err(
                    d.span(),
                    format!("`{action}` happens at one instant and takes no `for`"),
                    "drop `for` (`kill` is a node that comes back after a while)",
                ));
            }
        }
        Ok(Fault {
            at: f.at.into_inner().0,
            duration: f.duration.map(|d| d.into_inner().0),
            action: act,
            during_formation: f.during_formation.unwrap_or(false),
        })
    }
}

impl Checker<'_> {
    /// A `latency`, `jitter`, `reorder` or `duplicate` fault.
    fn shape(&self, f: &RawFault, action: &str, nodes: &[String]) -> Check<Action> {
        let aspan = f.action.span();
        let target = match &f.target {
            Some(t) => self.targets(t, nodes, "target")?,
            None => {
                return Err(self.err(
                    aspan,
                    format!("`{action}` needs `target`"),
                    "target = \"leader\": whose packets are shaped",
                ))
            }
        };
        let peer = match &f.peer {
            None => Peer::All,
            Some(p) => match p.get_ref() {
                Value::String(s) if s == "store" => Peer::Store,
                Value::String(s) if s == "all" => Peer::All,
                _ => Peer::Nodes(self.targets(p, nodes, "peer").map_err(|mut e| {
                    e.hint = Some(
                        "peer = \"store\", \"all\" (the default), or node names and roles".into(),
                    );
                    e
                })?),
            },
        };
        let direction = match f.direction.as_ref().map(|d| (d.get_ref().as_str(), d.span())) {
            None | Some(("both", _)) => Direction::Both,
            Some(("out", _)) => Direction::Out,
            Some(("in", _)) => Direction::In,
            Some((other, span)) => {
                return Err(self.err(
                    span,
                    format!("unknown direction {other:?}"),
                    "direction = \"out\" (what the target sends), \"in\" (what it receives) or \"both\" (the default)",
                ))
            }
        };
        let delay = || -> Check<Duration> {
            let d = f.delay.as_ref().ok_or_else(|| {
                self.err(
                    aspan.clone(),
                    format!("`{action}` needs `delay`"),
                    "delay = \"50ms\"",
                )
            })?;
            let v = d.get_ref().0;
            if v.is_zero() || v > MAX_SHAPE_DELAY {
                return Err(self.err(
                    d.span(),
                    format!("a delay of {v:?}"),
                    &format!(
                        "use a delay above 0 and at most {}s; a longer one is a cut: use `cut-discovery` or `isolate`",
                        MAX_SHAPE_DELAY.as_secs()
                    ),
                ));
            }
            Ok(v)
        };
        let rate = || -> Check<f64> {
            let r = f.rate.as_ref().ok_or_else(|| {
                self.err(
                    aspan.clone(),
                    format!("`{action}` needs `rate`"),
                    "rate = 0.1: one packet in ten",
                )
            })?;
            let v = *r.get_ref();
            if !(v > 0.0 && v <= 1.0) {
                return Err(self.err(
                    r.span(),
                    format!("rate {v} is outside (0, 1]"),
                    "rate = 0.1: one packet in ten",
                ));
            }
            Ok(v)
        };
        let shape = match action {
            "latency" => Shape::Latency { delay: delay()? },
            "jitter" => {
                let delay = delay()?;
                let j = f.jitter.as_ref().ok_or_else(|| {
                    self.err(
                        aspan.clone(),
                        "`jitter` needs `jitter`".into(),
                        "jitter = \"10ms\": each delay is drawn from delay +- jitter",
                    )
                })?;
                let jitter = j.get_ref().0;
                if jitter.is_zero() || jitter > delay {
                    return Err(self.err(
                        j.span(),
                        format!("a jitter of {jitter:?} around a delay of {delay:?}"),
                        "use a jitter above 0 and at most the delay (no packet arrives before it is sent)",
                    ));
                }
                Shape::Jitter { delay, jitter }
            }
            "reorder" => Shape::Reorder {
                rate: rate()?,
                delay: delay()?,
            },
            _ => Shape::Duplicate { rate: rate()? },
        };
        Ok(Action::Shape {
            shape,
            target,
            peer,
            direction,
        })
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
