//! A validated scenario: what the container and simulated worlds run.
//! Every name here exists and every fault is well-formed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::probe::Selector;

/// A world a scenario can run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// Real processes in Docker containers (`clusterlab run`).
    Containers,
    /// turmoil's deterministic simulator (`clusterlab sim`).
    Sim,
}

impl World {
    /// The word used in files.
    pub fn as_str(self) -> &'static str {
        match self {
            World::Containers => "containers",
            World::Sim => "sim",
        }
    }
}

/// The discovery store kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKind {
    /// etcd v3.
    Etcd,
    /// Consul KV + sessions.
    Consul,
}

/// The discovery store.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Discovery {
    /// etcd or Consul.
    pub kind: StoreKind,
    /// Store nodes (1, 3, 5).
    pub nodes: u32,
    /// Lease TTL of the cluster's nodes.
    pub ttl: Duration,
    /// Key prefix.
    pub prefix: String,
    /// Cluster name under the prefix.
    pub cluster: String,
    /// The store speaks TLS only, to clients and between its servers, and
    /// demands client certificates (`tls = true`; Consul's
    /// `verify_incoming`); certificates are made per run.
    pub tls: bool,
    /// The store's access control is on (`auth = true`): etcd's RBAC with
    /// each cluster's certificate a user, or Consul's ACLs in default-deny
    /// with a token per cluster; either may touch only its own keys.
    pub auth: bool,
    /// The store's image (`image = "..."`): a user's, e.g. one from a
    /// registry, run with its `etcd` or `consul` found on its PATH. `None`:
    /// the lab's own, built from Debian's packages.
    pub image: Option<Image>,
}

/// An image a scenario names, and where it names it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Image {
    /// The image reference, as `docker image inspect` takes it.
    pub name: String,
    /// `file:line:column` of the `image` key's value, for messages about it
    /// at run time (whether the image is here, what it lacks).
    pub at: String,
}

/// What kind of database cluster is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ClusterKind {
    /// etcd members found through a separate discovery store.
    Etcd,
    /// Consul servers.
    Consul,
    /// Patroni + PostgreSQL.
    Patroni,
    /// RabbitMQ, formed by its own etcd or Consul peer-discovery plugin:
    /// no disco-agent in the path, so the lab tests RabbitMQ's code. It has
    /// no leader and writes no disco keys: the checks of those are off.
    Rabbitmq,
    /// MariaDB Galera joined through disco-agent: the bootstrapper starts
    /// a new cluster (`--wsrep-new-cluster`), joiners `gcomm://` the
    /// announced peers. Every node takes writes: no leader to check.
    Galera,
    /// Any image, described by a command template and an HTTP probe.
    Generic,
}

/// How a generic system is run and observed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Generic {
    /// Image to run (must exist locally or be pullable).
    pub image: String,
    /// Command template rendered by disco-agent (`{peer}`, `{leader}`...).
    pub command: Vec<String>,
    /// Port the database advertises to peers.
    pub port: u16,
    /// The HTTP probe.
    pub probe: Probe,
    /// More `disco-agent` flags, from [`AGENT_FLAGS`]: probes of the local
    /// database that gate leadership and bootstrap, etcd's member-add.
    pub agent: Vec<String>,
    /// The requests of a `writes` workload, if the system takes one.
    pub http: Option<HttpKv>,
}

/// The `disco-agent` flags a generic scenario may add; the lab sets the
/// rest (store, cluster, node id, TTL, advertised address, status port).
pub const AGENT_FLAGS: &[&str] = &[
    "--leader-probe",
    "--leader-match",
    "--ready-probe",
    "--etcd-member-add",
    "--no-leader",
];

/// A key-value API over HTTP, for the `writes` workload of a generic
/// system: `{key}` and `{value}` are filled in per request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HttpKv {
    /// The port both requests go to.
    pub port: u16,
    /// `PUT` or `POST`.
    pub write_method: String,
    /// The write's path, with `{key}`.
    pub write_path: String,
    /// The write's body (default `{value}`).
    pub body: String,
    /// The read's path (a GET), with `{key}`. 404 means absent.
    pub read_path: String,
    /// Selects the value in a JSON answer; `None`: the answer is the value.
    pub value: Option<Selector>,
}

/// An HTTP probe: fetch `path` on `port` of a node and read the membership
/// and leader from the JSON answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Probe {
    /// `GET` or `POST`.
    pub method: String,
    /// URL path, e.g. `/nodes`.
    pub path: String,
    /// Port the probe talks to.
    pub port: u16,
    /// Request body for `POST`.
    pub body: Option<String>,
    /// Selects the member names (a list).
    pub members: Selector,
    /// Selects the leader's name (one value).
    pub leader: Selector,
}

/// The database cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Cluster {
    /// Which system.
    pub kind: ClusterKind,
    /// Node names, in order.
    pub nodes: Vec<String>,
    /// For `generic`: how to run and probe it.
    pub generic: Option<Generic>,
    /// The nodes' image, for `generic` (required), `etcd` and `consul` (a
    /// user's image with the server on its PATH; `None`: the lab's own).
    pub image: Option<Image>,
    /// For `rabbitmq`: which release (one of [`RABBITMQ_RELEASES`];
    /// `None`: the first).
    pub release: Option<String>,
    /// For `rabbitmq`: the nodes' systems carry a CA bundle, as the official
    /// RabbitMQ images do; Debian's package does not depend on one, and
    /// 4.0.5's Consul discovery does not boot without it (docs/src/findings.md).
    /// `false`: the package's declared dependencies only.
    pub ca_bundle: bool,
    /// What the container engine does when a node's process exits on its
    /// own.
    pub restart: Restart,
    /// How the nodes find each other.
    pub join: Join,
}

/// How a cluster's nodes find each other.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Join {
    /// Through the discovery store, each node under disco-agent.
    #[default]
    Agent,
    /// Seed 001's glue, with no store and no agent: the first node is a
    /// root that starts a new cluster on every start, and every other node
    /// joins it by its name (the seed's root service and global service;
    /// the lab runs one service per node). A root that comes back without
    /// its data starts a second, empty cluster.
    Root,
}

/// A container engine's restart policy for the nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Restart {
    /// Nothing: a crash stays a crash, a kill stays a kill.
    #[default]
    No,
    /// Start it again: Docker's `--restart always` (a process that exits on
    /// its own; the nemesis' kills and stops stay), Swarm's `condition:
    /// any` (any task that ends, kills included, as in production). The
    /// seeds' stacks lean on it to retry a join until it works.
    Always,
}

/// The RabbitMQ releases the lab builds, from Debian's packages: 3.10
/// (bookworm) and 4.0 (trixie, whose Erlang it needs).
pub const RABBITMQ_RELEASES: [&str; 2] = ["3.10", "4.0"];

/// A node chosen when the fault fires, by role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// The current leader.
    Leader,
    /// One follower.
    Follower,
    /// A minority of the nodes (leader excluded where possible).
    Minority,
    /// A majority of the nodes.
    Majority,
    /// One node picked by the run's seed.
    Random,
}

impl Role {
    /// All roles, as written in files.
    pub const ALL: [(&'static str, Role); 5] = [
        ("leader", Role::Leader),
        ("follower", Role::Follower),
        ("minority", Role::Minority),
        ("majority", Role::Majority),
        ("random", Role::Random),
    ];
}

/// A fault's target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    /// A node by name.
    Node(String),
    /// Nodes resolved by role when the fault fires.
    Role(Role),
}

/// How a partition splits the nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Groups {
    /// Named groups; nodes in no group stay connected to everyone.
    Explicit(Vec<Vec<String>>),
    /// Two halves (the first half gets the extra node).
    Halves,
    /// A majority containing the leader and a minority without it.
    MajorityMinority,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Cut the targets off from every other node and the store.
    Isolate {
        /// Who.
        target: Vec<Target>,
    },
    /// Split into groups that cannot reach each other.
    Partition {
        /// The groups.
        groups: Groups,
    },
    /// `from` cannot send to `to`; the reverse direction still works.
    PartitionOneWay {
        /// Senders that are cut.
        from: Vec<Target>,
        /// Receivers they cannot reach.
        to: Vec<Target>,
    },
    /// Two groups that cannot reach each other but both reach `via`.
    Bridge {
        /// The two sides.
        groups: Vec<Vec<String>>,
        /// The node both sides reach.
        via: String,
    },
    /// Cut the targets from the discovery store only (their TTL expires
    /// while their database keeps serving).
    CutDiscovery {
        /// Who.
        target: Vec<Target>,
    },
    /// Drop a fraction of the targets' packets.
    PacketLoss {
        /// Who.
        target: Vec<Target>,
        /// Fraction dropped, in (0, 1].
        rate: f64,
    },
    /// Freeze the targets' processes.
    Pause {
        /// Who.
        target: Vec<Target>,
    },
    /// Kill the targets (SIGKILL).
    Kill {
        /// Who.
        target: Vec<Target>,
    },
    /// Restart the targets with their data.
    Restart {
        /// Who.
        target: Vec<Target>,
    },
    /// Kill whichever node leads when the fault fires.
    KillLeader,
    /// Kill the discovery store's leader.
    KillStoreLeader,
    /// Move the targets' tasks as a scheduler does when their host fails:
    /// each starts again with none of its data (a Swarm task placed on
    /// another node finds none of its volumes).
    Reschedule {
        /// Who.
        target: Vec<Target>,
    },
    /// Kill the targets for good: no restart, not even at `heal`.
    Crash {
        /// Who.
        target: Vec<Target>,
    },
    /// Stop the targets cleanly for good (SIGTERM: they resign and
    /// deregister): nodes that leave the cluster.
    Leave {
        /// Who.
        target: Vec<Target>,
    },
    /// Delete a disco key from outside, as an operator or a script would.
    DeleteKey {
        /// Which key.
        key: StoreKey,
        /// Whose member key, for [`StoreKey::Member`].
        target: Vec<Target>,
    },
    /// Revoke the targets' leases (etcd) or destroy their sessions
    /// (Consul) from outside: their member keys, and the leader key if one
    /// held it, vanish.
    RevokeLease {
        /// Whose.
        target: Vec<Target>,
    },
    /// The store applies the targets' requests but loses this fraction of
    /// its replies.
    DropReplies {
        /// Whose.
        target: Vec<Target>,
        /// Fraction lost, in (0, 1].
        rate: f64,
    },
    /// The store's replies to the targets arrive this late.
    DelayReplies {
        /// Whose.
        target: Vec<Target>,
        /// How late.
        delay: Duration,
    },
    /// etcd cancels every watch (as after a compaction), so that watchers
    /// must list and watch again.
    CancelWatches,
    /// Consul's blocking-query index goes backwards (as after a snapshot
    /// restore): watchers must reset it.
    ResetIndex,
    /// Consul deregisters the node its sessions belong to, invalidating
    /// every session.
    DeregisterNode,
    /// The store's lease clock runs `rate` times as fast as real time.
    ClockDrift {
        /// Its speed, e.g. 1.05.
        rate: f64,
    },
    /// The store's lease clock jumps forward.
    ClockJump {
        /// By how much.
        by: Duration,
    },
    /// Shape the targets' packets without cutting them: delay them
    /// (`latency`), spread their delay (`jitter`), hold a fraction back so
    /// that later ones overtake them (`reorder`), or send a fraction twice
    /// (`duplicate`). Real discovery breaks on slow links as often as on
    /// cut ones: a renewal that arrives late, a watch that lags.
    Shape {
        /// How the packets are shaped.
        shape: Shape,
        /// Whose packets.
        target: Vec<Target>,
        /// The other end of the shaped links.
        peer: Peer,
        /// Which way the shaped packets go.
        direction: Direction,
    },
    /// The database's leadership moves to the target on its own (a
    /// switchover, an election its agent did not see coming): the leader
    /// key must follow.
    DbLeaderMove {
        /// The new leader (a node, or a role such as `follower`).
        target: Vec<Target>,
    },
    /// The targets' databases do not pass their ready probe while the fault
    /// lasts (for good without `for`): a bootstrapper must give its claim
    /// up by its deadline, and joiners must not wait for ever.
    DbNotReady {
        /// Whose.
        target: Vec<Target>,
    },
    /// The targets' databases crash (exit non-zero): the agent resigns,
    /// deregisters and is started again, as `restart: always` would.
    DbCrash {
        /// Whose.
        target: Vec<Target>,
    },
    /// Undo every active fault.
    Heal,
}

/// How a `Shape` fault treats each packet on its links.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "shape")]
pub enum Shape {
    /// Every packet `delay` late.
    Latency {
        /// How late.
        delay: Duration,
    },
    /// Every packet late by a delay drawn from `delay` +- `jitter`
    /// (uniform), so packets may overtake each other.
    Jitter {
        /// The middle of the range.
        delay: Duration,
        /// Half its width.
        jitter: Duration,
    },
    /// A fraction `rate` of the packets held back by `delay`; the others
    /// pass at once and overtake them.
    Reorder {
        /// Fraction held back, in (0, 1].
        rate: f64,
        /// How long.
        delay: Duration,
    },
    /// A fraction `rate` of the packets sent twice.
    Duplicate {
        /// Fraction copied, in (0, 1].
        rate: f64,
    },
}

impl Shape {
    /// The action's word in files.
    pub fn name(&self) -> &'static str {
        match self {
            Shape::Latency { .. } => "latency",
            Shape::Jitter { .. } => "jitter",
            Shape::Reorder { .. } => "reorder",
            Shape::Duplicate { .. } => "duplicate",
        }
    }
}

/// The other end of a shaped link.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Peer {
    /// Everyone the target talks to.
    All,
    /// The discovery store's nodes.
    Store,
    /// These cluster nodes.
    Nodes(Vec<Target>),
}

/// Which packets of a target's links are shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// What the target sends.
    Out,
    /// What the target receives.
    In,
    /// Both.
    Both,
}

impl Direction {
    /// Whether the target's sending is shaped.
    pub fn out(self) -> bool {
        matches!(self, Direction::Out | Direction::Both)
    }

    /// Whether the target's receiving is shaped.
    pub fn inward(self) -> bool {
        matches!(self, Direction::In | Direction::Both)
    }
}

/// A disco key a fault can touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreKey {
    /// The leader key.
    Leader,
    /// The bootstrap key.
    Bootstrap,
    /// The targets' member keys.
    Member,
}

impl Action {
    /// The word used in files.
    pub fn name(&self) -> &'static str {
        match self {
            Action::Isolate { .. } => "isolate",
            Action::Partition { .. } => "partition",
            Action::PartitionOneWay { .. } => "partition-one-way",
            Action::Bridge { .. } => "bridge",
            Action::CutDiscovery { .. } => "cut-discovery",
            Action::PacketLoss { .. } => "packet-loss",
            Action::Pause { .. } => "pause",
            Action::Kill { .. } => "kill",
            Action::Restart { .. } => "restart",
            Action::KillLeader => "kill-leader",
            Action::KillStoreLeader => "kill-store-leader",
            Action::Reschedule { .. } => "reschedule",
            Action::Crash { .. } => "crash",
            Action::Leave { .. } => "leave",
            Action::DeleteKey { .. } => "delete-key",
            Action::RevokeLease { .. } => "revoke-lease",
            Action::DropReplies { .. } => "drop-replies",
            Action::DelayReplies { .. } => "delay-replies",
            Action::CancelWatches => "cancel-watches",
            Action::ResetIndex => "reset-index",
            Action::DeregisterNode => "deregister-node",
            Action::ClockDrift { .. } => "clock-drift",
            Action::ClockJump { .. } => "clock-jump",
            Action::Shape { shape, .. } => shape.name(),
            Action::DbLeaderMove { .. } => "db-leader-move",
            Action::DbNotReady { .. } => "db-not-ready",
            Action::DbCrash { .. } => "db-crash",
            Action::Heal => "heal",
        }
    }

    /// The worlds that can produce this fault, and the store kind it
    /// needs, if any. The simulator's store is a model: every fault that
    /// lives in the store (its clock, its watches) is made there; the
    /// container world produces only what it can do to real processes and
    /// networks from outside.
    pub fn needs(&self) -> (&'static [World], Option<StoreKind>) {
        const BOTH: &[World] = &[World::Containers, World::Sim];
        const SIM: &[World] = &[World::Sim];
        const CONTAINERS: &[World] = &[World::Containers];
        match self {
            // The simulator's databases are models whose leadership and
            // readiness its nemesis moves; a real database's are its own.
            Action::DelayReplies { .. }
            | Action::ClockDrift { .. }
            | Action::ClockJump { .. }
            | Action::DbLeaderMove { .. }
            | Action::DbNotReady { .. }
            | Action::DbCrash { .. } => (SIM, None),
            // The simulator's nodes keep no data to lose.
            Action::Reschedule { .. } => (CONTAINERS, None),
            Action::CancelWatches => (SIM, Some(StoreKind::Etcd)),
            Action::ResetIndex => (SIM, Some(StoreKind::Consul)),
            Action::DeregisterNode => (BOTH, Some(StoreKind::Consul)),
            _ => (BOTH, None),
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fault {
    /// When it fires, from the start of the run.
    pub at: Duration,
    /// How long until it is undone (`None`: until a `heal` or the end).
    pub duration: Option<Duration>,
    /// What it does.
    #[serde(flatten)]
    pub action: Action,
    /// Meant to hit a cluster still forming (`during_formation = true`):
    /// otherwise a fault that fires before every live node has served
    /// fails the run (`formed-before-fault`), since it usually means the
    /// scenario's timing is off rather than that the system failed.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub during_formation: bool,
}

/// The cluster's own data under load while faults fire.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Workload {
    /// Which workload.
    pub kind: WorkloadKind,
    /// Operations per second (per client for `register`).
    pub rate: u32,
    /// Distinct keys (queues for `messages`).
    pub keys: u32,
    /// Clients at once (`register`, `set`, `messages`), each bound to one
    /// node in turn.
    pub clients: u32,
    /// How `register` reads.
    pub reads: ReadMode,
}

/// What a workload does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WorkloadKind {
    /// One writer of increasing sequence numbers, read back after the heal
    /// (lost writes).
    Writes,
    /// Reads, writes and compare-and-sets from several clients through
    /// several nodes, every operation recorded (`history.jsonl`) and
    /// checked for linearizability.
    Register,
    /// Unique elements added to a SQL table through the primary, the whole
    /// table read back now and then and after the heal (lost, stale,
    /// duplicated or unexpected elements).
    Set,
    /// Persistent messages published with publisher confirms to `keys`
    /// quorum queues (RabbitMQ) through the live nodes, every queue drained
    /// after the heal: each publish an add to the queue's set, the drain
    /// its read (confirmed messages lost, duplicated or never published).
    Messages,
}

/// How a register workload reads: the stores' own read modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadMode {
    /// etcd's default: through the raft leader's read index.
    Linearizable,
    /// etcd's `serializable`: the member's local copy, possibly stale.
    Serializable,
    /// Consul's `?consistent`: the leader confirms it still leads.
    Consistent,
    /// Consul's default: the leader answers without confirming.
    Default,
    /// Consul's `?stale`: any server's local copy.
    Stale,
}

impl ReadMode {
    /// The word in scenario files.
    pub fn as_str(self) -> &'static str {
        match self {
            ReadMode::Linearizable => "linearizable",
            ReadMode::Serializable => "serializable",
            ReadMode::Consistent => "consistent",
            ReadMode::Default => "default",
            ReadMode::Stale => "stale",
        }
    }
}

/// What must hold after the last heal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Expect {
    /// All checks must pass within this time after the last heal.
    pub converge_within: Duration,
    /// Once every liveness check holds, it must go on holding this long
    /// before the run counts as converged: a regression a moment later
    /// (an old primary that answers once, then reclaims) fails it.
    pub stable_for: Duration,
    /// Exactly one leader, and fenced terms (disco's leader key exists).
    pub single_leader: bool,
    /// The discovery leader key names the real leader.
    pub leader_key_matches: bool,
    /// The announced set equals the live set (once TTLs have run out).
    pub announced_equals_live: bool,
    /// Exactly one bootstrap over the whole run.
    pub single_bootstrap: bool,
    /// Bound on failover time, if any.
    pub failover_within: Option<Duration>,
    /// Anomalies of the system under test that this scenario is known to
    /// show: each must be seen (the run fails if it stops happening), and
    /// excuses only a failure made of what it names.
    pub findings: Vec<Finding>,
    /// Checks that are expected to have nothing to judge, with the reason
    /// (any other check with nothing to judge fails).
    pub unjudged: BTreeMap<String, String>,
}

/// An expected finding: what a check must find in the system under test,
/// with a reference that explains it (an issue, a note).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The check that fails.
    pub check: String,
    /// What it must find: one of its kinds ([`crate::checks::KINDS`]), or
    /// several joined by `|`, any of which is the finding (a system may
    /// fail one way or another depending on the engine's timing).
    pub kind: String,
    /// Only on this key (a set's, a register's, a written key), if given.
    pub key: Option<String>,
    /// Where it is explained.
    pub reference: String,
}

impl Finding {
    /// Whether `found`, seen by `check`, is this finding.
    pub fn matches(&self, check: &str, found: &crate::checks::Found) -> bool {
        self.check == check
            && self.kind.split('|').any(|k| k == found.kind)
            && self
                .key
                .as_ref()
                .is_none_or(|k| found.key.as_ref() == Some(k))
    }
}

/// A whole validated scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scenario {
    /// Name (the file stem unless set).
    pub name: String,
    /// One line for `clusterlab list`.
    pub description: String,
    /// Worlds it runs in.
    pub worlds: Vec<World>,
    /// Worlds it does not run in, with the reason.
    pub excluded: BTreeMap<World, String>,
    /// Total run length (faults, then convergence).
    pub duration: Duration,
    /// The discovery store.
    pub discovery: Discovery,
    /// The database cluster.
    pub cluster: Cluster,
    /// Faults, in firing order.
    pub faults: Vec<Fault>,
    /// The writer, if any.
    pub workload: Option<Workload>,
    /// The checks.
    pub expect: Expect,
    /// The simulated network's one-way message latency, least and most
    /// (`[sim] latency`); `None`: the simulator's default.
    pub sim_latency: Option<(Duration, Duration)>,
    /// The file's text, as written (the reports show it).
    #[serde(skip)]
    pub source: String,
}

impl Scenario {
    /// Whether the scenario runs in `world`; the reason if not.
    pub fn supports(&self, world: World) -> Result<(), String> {
        if self.worlds.contains(&world) {
            Ok(())
        } else {
            Err(self
                .excluded
                .get(&world)
                .cloned()
                .unwrap_or_else(|| format!("not written for the {} world", world.as_str())))
        }
    }

    /// When the last fault is undone (by `for` or a `heal`), or 0.
    pub fn last_heal(&self) -> Duration {
        self.faults
            .iter()
            .map(|f| f.at + f.duration.unwrap_or_default())
            .max()
            .unwrap_or_default()
    }
}
