//! The fault engine both worlds share: the schedule, the seeded picker,
//! role and group resolution, and the ledger of what is in effect. A world
//! supplies only the mechanism, through [`Nemesis`]: apply one effect,
//! undo it, restart a node, and say who leads. So the same scenario and
//! seed give the same faults, in the same order, at the same times, hitting
//! the same nodes wherever the choice does not depend on live state.
//!
//! As Jepsen's nemesis and etcd's robustness failpoints do, the schedule
//! (when, what, whom) is kept apart from the mechanism (iptables in a
//! container's namespace, a turmoil partition).

pub mod atom;
pub mod pick;
pub mod resolve;
pub mod schedule;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::time::Duration;

use clusterlab_scenario::{Action, Direction, Fault, Peer, Scenario, StoreKey, Target};

use crate::trace::EventKind;
use crate::tracker::History;
use crate::view::{NodeState, Taken};
pub use atom::{Atom, Ledger, Shaping};
use pick::Picker;
use resolve::Live;
use schedule::Step;

/// How long a fault whose target is a role waits for the role to be known
/// (a leader to exist) before it fires anyway, hitting nobody.
pub const ROLE_WAIT: Duration = Duration::from_secs(20);

/// A world's fault mechanism. Futures may complete at once (the simulator
/// acts on its network directly) or talk to Docker (containers).
pub trait Nemesis {
    /// Why an effect could not be applied or undone.
    type Error;

    /// The node that leads now, if the world knows one.
    fn leader(&mut self) -> impl Future<Output = Option<String>>;

    /// The discovery store node that leads now.
    fn store_leader(&mut self) -> impl Future<Output = Option<String>>;

    /// Puts `atom` in effect.
    fn apply(&mut self, atom: &Atom) -> impl Future<Output = Result<(), Self::Error>>;

    /// Takes `atom` out of effect.
    fn undo(&mut self, atom: &Atom) -> impl Future<Output = Result<(), Self::Error>>;

    /// Kills `node` and starts it again with its data, at once.
    fn bounce(&mut self, node: &str) -> impl Future<Output = Result<(), Self::Error>>;

    /// Does `op` to the discovery store from outside, at once.
    fn store(&mut self, op: &StoreOp) -> impl Future<Output = Result<(), Self::Error>>;

    /// Does `op` to a node's database, at once.
    fn database(&mut self, op: &DbOp) -> impl Future<Output = Result<(), Self::Error>>;
}

/// Something a node's database does on its own, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbOp {
    /// Its cluster's leadership moves to this node.
    LeaderTo(String),
    /// This node's database crashes.
    Crash(String),
}

/// Something done to the discovery store from outside, at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOp {
    /// Delete the leader key.
    DeleteLeaderKey,
    /// Delete the bootstrap key.
    DeleteBootstrapKey,
    /// Delete this node's member key.
    DeleteMemberKey(String),
    /// Revoke the lease (destroy the session) this node's member key is on.
    RevokeLease(String),
    /// Cancel every watch (etcd).
    CancelWatches,
    /// Move the store's lease clock forward.
    ClockJump(Duration),
}

/// What a fault does when it fires.
struct Resolved {
    hit: Vec<String>,
    atoms: Vec<Atom>,
    forever: Vec<Atom>,
    bounce: Vec<String>,
    ops: Vec<StoreOp>,
    db: Vec<DbOp>,
}

/// A fault in effect.
#[derive(Debug, Clone)]
struct Active {
    fault: usize,
    atoms: Vec<Atom>,
}

/// The engine of one run.
#[derive(Debug, Clone)]
pub struct Engine {
    faults: Vec<Fault>,
    nodes: Vec<String>,
    stores: Vec<String>,
    seed: u64,
    steps: Vec<Step>,
    next: usize,
    waiting: Vec<Step>,
    active: Vec<Active>,
    ledger: Ledger,
    strict: bool,
    /// Derived from the ledger whenever it changes: each node's state, and
    /// the nodes that reach the store (read every tick by the simulator).
    states: BTreeMap<String, NodeState>,
    reaches: BTreeSet<String>,
    severed: BTreeSet<String>,
    store_up: bool,
    version: u64,
    /// Every time a fault took the leader key from outside.
    taken: Vec<Taken>,
    /// When a fault last started or ended.
    changed: Duration,
    /// When the store's leader last changed: its leader was killed, or
    /// the store came back from losing its quorum (either way a new leader
    /// renews every lease for a full TTL).
    store_changed: Option<Duration>,
}

impl Engine {
    /// The engine for `scenario`'s faults with `seed`; `stores` names the
    /// world's discovery store nodes.
    pub fn new(scenario: &Scenario, seed: u64, stores: Vec<String>) -> Engine {
        Engine {
            steps: schedule::expand(&scenario.faults),
            faults: scenario.faults.clone(),
            nodes: scenario.cluster.nodes.clone(),
            stores,
            seed,
            next: 0,
            waiting: Vec::new(),
            active: Vec::new(),
            ledger: Ledger::default(),
            strict: true,
            states: BTreeMap::new(),
            reaches: BTreeSet::new(),
            severed: BTreeSet::new(),
            store_up: true,
            version: 0,
            taken: Vec::new(),
            changed: Duration::ZERO,
            store_changed: None,
        }
        .derived()
    }

    /// Recomputes what is derived from the ledger.
    fn derived(mut self) -> Engine {
        self.derive();
        self
    }

    fn derive(&mut self) {
        let holds = |a: Atom| self.ledger.holds(&a);
        self.states = self
            .nodes
            .iter()
            .map(|n| {
                let st = if holds(Atom::Down(n.clone())) || holds(Atom::Left(n.clone())) {
                    NodeState::Down
                } else if holds(Atom::Pause(n.clone())) {
                    NodeState::Paused
                } else {
                    NodeState::Up
                };
                (n.clone(), st)
            })
            .collect();
        let down = self
            .stores
            .iter()
            .filter(|s| holds(Atom::StoreDown((*s).clone())))
            .count();
        self.store_up = (self.stores.len() - down) * 2 > self.stores.len();
        let is_store = |n: &str| self.stores.iter().any(|s| s == n);
        let blocked: BTreeSet<&str> = self
            .ledger
            .active()
            .filter_map(|a| match a {
                Atom::Isolate(n)
                | Atom::CutStore(n)
                | Atom::Loss(n, _)
                | Atom::ReplyLoss(n, _)
                | Atom::ReplyDelay(n, _) => Some(n.as_str()),
                // A slowed link to the store: its renewals may come too
                // late, which the store's contract does not excuse (copies
                // alone change nothing above TCP).
                Atom::Shape(from, to, s) if s.delays() && !is_store(from) => {
                    to.as_deref().is_none_or(is_store).then_some(from.as_str())
                }
                Atom::Shape(from, Some(to), s) if s.delays() && is_store(from) => Some(to.as_str()),
                _ => None,
            })
            .collect();
        // Nodes with no path to the store at all: their leases run out.
        self.severed = self
            .states
            .iter()
            .filter(|(n, st)| {
                **st == NodeState::Paused
                    || holds(Atom::Isolate((*n).clone()))
                    || holds(Atom::CutStore((*n).clone()))
            })
            .map(|(n, _)| n.clone())
            .collect();
        let refuses = holds(Atom::NodeGone);
        self.reaches = if self.store_up && !refuses {
            self.states
                .iter()
                .filter(|(n, st)| **st == NodeState::Up && !blocked.contains(n.as_str()))
                .map(|(n, _)| n.clone())
                .collect()
        } else {
            BTreeSet::new()
        };
        self.version += 1;
    }

    /// Every time a fault took the leader key from outside: deleted it,
    /// revoked a node's lease (whose key it may have been), or ended every
    /// session of the agents' Consul node.
    pub fn taken(&self) -> &[Taken] {
        &self.taken
    }

    /// When the store's leader last changed by a fault: its leader was
    /// killed, or the store came back from losing its quorum. A store
    /// follower's restart changes no lease.
    pub fn store_changed(&self) -> Option<Duration> {
        self.store_changed
    }

    /// Running nodes with no path to the store at all (paused, isolated,
    /// or cut from it): their leases run out.
    pub fn severed(&self) -> &BTreeSet<String> {
        &self.severed
    }

    /// Nodes stopped cleanly for good (a `leave`).
    pub fn left(&self) -> BTreeSet<String> {
        self.nodes
            .iter()
            .filter(|n| self.ledger.holds(&Atom::Left((*n).clone())))
            .cloned()
            .collect()
    }

    /// Whether `a` and `b` reach each other: no cut, one-way cut or
    /// isolation between them is in force.
    pub fn reach(&self, a: &str, b: &str) -> bool {
        let holds = |x: Atom| self.ledger.holds(&x);
        !(holds(Atom::Isolate(a.to_string()))
            || holds(Atom::Isolate(b.to_string()))
            || holds(Atom::cut(a, b))
            || holds(Atom::OneWay(a.to_string(), b.to_string()))
            || holds(Atom::OneWay(b.to_string(), a.to_string())))
    }

    /// Since when no fault has been in effect (`None` while one is; for
    /// good, a crash or a leave is in effect only at its instant).
    pub fn quiet_since(&self) -> Option<Duration> {
        self.active.is_empty().then_some(self.changed)
    }

    /// A number that changes whenever the ledger does.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// For generated schedules: a fault that hits nobody, or fires before
    /// the cluster formed, is not a failure of the run (the generator does
    /// not know the cluster's state).
    pub fn lenient(mut self) -> Engine {
        self.strict = false;
        self
    }

    /// When the next step is due; `None` when the schedule is done (a
    /// waiting start is due now).
    pub fn next_due(&self) -> Option<Duration> {
        let waiting = self.waiting.iter().map(|s| s.at).min();
        let next = self.steps.get(self.next).map(|s| s.at);
        waiting.into_iter().chain(next).min()
    }

    /// Whether every step has fired.
    pub fn done(&self) -> bool {
        self.next >= self.steps.len() && self.waiting.is_empty()
    }

    /// A node's state as the ledger has it.
    pub fn state(&self, node: &str) -> NodeState {
        self.states.get(node).copied().unwrap_or(NodeState::Up)
    }

    /// Whether the store is up: a majority of its nodes not killed.
    pub fn store_up(&self) -> bool {
        self.store_up
    }

    /// Nodes that run, are not paused, and have an unbroken, lossless path
    /// to a working store.
    pub fn reaches_store(&self) -> &BTreeSet<String> {
        &self.reaches
    }

    /// Every atom in effect.
    pub fn in_effect(&self) -> impl Iterator<Item = &Atom> {
        self.ledger.active()
    }

    fn up(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| self.state(n) != NodeState::Down)
            .cloned()
            .collect()
    }

    /// Fires every step due at `now`, in order, and returns the events to
    /// record. A start whose target is a role the world cannot resolve yet
    /// (no leader known) waits, while later steps go on: it fires as soon
    /// as the role is known, or, hitting nobody, at its end or after
    /// [`ROLE_WAIT`], whichever comes first.
    pub async fn fire<N: Nemesis>(
        &mut self,
        now: Duration,
        history: &History,
        world: &mut N,
    ) -> Result<Vec<EventKind>, N::Error> {
        let mut out = Vec::new();
        let mut leader: Option<Option<String>> = None;
        let waiting = std::mem::take(&mut self.waiting);
        for step in waiting {
            let l = match &leader {
                Some(l) => l.clone(),
                None => leader.insert(world.leader().await).clone(),
            };
            if l.is_some() || now >= step.at + ROLE_WAIT {
                self.start(now, step, l, history, world, &mut out).await?;
            } else {
                self.waiting.push(step);
            }
        }
        while let Some(step) = self.steps.get(self.next).copied() {
            if step.at > now {
                break;
            }
            self.next += 1;
            if step.start {
                let l = if depends_on_leader(&self.faults[step.fault].action) {
                    match &leader {
                        Some(l) => l.clone(),
                        None => leader.insert(world.leader().await).clone(),
                    }
                } else {
                    None
                };
                if l.is_none()
                    && depends_on_leader(&self.faults[step.fault].action)
                    && now < step.at + ROLE_WAIT
                {
                    self.waiting.push(step);
                    continue;
                }
                self.start(now, step, l, history, world, &mut out).await?;
            } else {
                if let Some(pos) = self.waiting.iter().position(|w| w.fault == step.fault) {
                    // Its role never became known while it was due.
                    let w = self.waiting.remove(pos);
                    self.start(now, w, None, history, world, &mut out).await?;
                }
                self.end(now, step.fault, world, &mut out).await?;
            }
        }
        Ok(out)
    }

    /// Undoes every fault still in effect at `now` (the checks are about a
    /// healed cluster).
    pub async fn heal_all<N: Nemesis>(
        &mut self,
        now: Duration,
        world: &mut N,
    ) -> Result<Vec<EventKind>, N::Error> {
        let mut out = Vec::new();
        while let Some(a) = self.active.first() {
            let fault = a.fault;
            self.end(now, fault, world, &mut out).await?;
        }
        Ok(out)
    }

    async fn end<N: Nemesis>(
        &mut self,
        now: Duration,
        fault: usize,
        world: &mut N,
        out: &mut Vec<EventKind>,
    ) -> Result<(), N::Error> {
        let Some(pos) = self.active.iter().position(|a| a.fault == fault) else {
            return Ok(());
        };
        let a = self.active.remove(pos);
        self.changed = now;
        for atom in &a.atoms {
            if self.ledger.release(atom) {
                let was_up = self.store_up;
                self.derive();
                // The old leader restarts as a follower; only a store that
                // regains its quorum elects (and renews every lease).
                if matches!(atom, Atom::StoreDown(_)) && !was_up && self.store_up {
                    self.store_changed = Some(now);
                }
                world.undo(atom).await?;
            }
        }
        out.push(EventKind::FaultEnd {
            fault,
            action: self.faults[fault].action.name().into(),
        });
        Ok(())
    }

    async fn start<N: Nemesis>(
        &mut self,
        now: Duration,
        step: Step,
        leader: Option<String>,
        history: &History,
        world: &mut N,
        out: &mut Vec<EventKind>,
    ) -> Result<(), N::Error> {
        let i = step.fault;
        self.changed = now;
        let fault = self.faults[i].clone();
        let fault = &fault;
        let name = fault.action.name();
        let due_ms = u64::try_from(step.at.as_millis()).unwrap_or(u64::MAX);
        if fault.action == Action::Heal {
            while let Some(a) = self.active.first() {
                let f = a.fault;
                self.end(now, f, world, out).await?;
            }
            out.push(EventKind::FaultStart {
                fault: i,
                action: name.into(),
                nodes: Vec::new(),
                due_ms,
            });
            out.push(EventKind::FaultEnd {
                fault: i,
                action: name.into(),
            });
            return Ok(());
        }
        if self.strict && !fault.during_formation {
            let never: Vec<String> = self
                .up()
                .into_iter()
                .filter(|n| !history.served.contains(n))
                .collect();
            if !never.is_empty() {
                out.push(EventKind::Check {
                    name: "formed-before-fault".into(),
                    passed: false,
                    detail: format!(
                        "fault {i} ({name}) fired while {never:?} had never served; move it later"
                    ),
                    nodes: never,
                    found: Vec::new(),
                });
            }
        }
        let Resolved {
            hit,
            atoms,
            forever,
            bounce,
            ops,
            db,
        } = self.resolve(i, fault, leader.as_deref(), world).await;
        for atom in atoms.iter().chain(&forever) {
            if self.ledger.hold(atom) {
                self.derive();
                if matches!(atom, Atom::StoreDown(_)) {
                    self.store_changed = Some(now);
                }
                world.apply(atom).await?;
            }
        }
        for n in &bounce {
            world.bounce(n).await?;
        }
        for op in &ops {
            world.store(op).await?;
        }
        for op in &db {
            world.database(op).await?;
        }
        for op in &ops {
            match op {
                StoreOp::DeleteLeaderKey => self.taken.push(Taken {
                    at: now,
                    holder: None,
                }),
                StoreOp::RevokeLease(n) => self.taken.push(Taken {
                    at: now,
                    holder: Some(n.clone()),
                }),
                _ => {}
            }
        }
        if atoms.contains(&Atom::NodeGone) {
            self.taken.push(Taken {
                at: now,
                holder: None,
            });
        }
        if hit.is_empty() && self.strict && hits_nodes(&fault.action) {
            out.push(EventKind::Check {
                name: "fault-target".into(),
                passed: false,
                detail: format!(
                    "fault {i} ({name}) resolved to no node (leader: {})",
                    leader.as_deref().unwrap_or("none")
                ),
                nodes: Vec::new(),
                found: Vec::new(),
            });
        }
        out.push(EventKind::FaultStart {
            fault: i,
            action: name.into(),
            nodes: hit,
            due_ms,
        });
        if fault.duration.is_some() || !atoms.is_empty() {
            self.active.push(Active { fault: i, atoms });
        }
        Ok(())
    }

    /// The nodes `fault` hits, the atoms it puts in effect (for the
    /// length of the fault, or for good), the nodes it restarts at once,
    /// and what it does to the store at once.
    async fn resolve<N: Nemesis>(
        &self,
        i: usize,
        fault: &Fault,
        leader: Option<&str>,
        world: &mut N,
    ) -> Resolved {
        let up = self.up();
        let live = Live {
            leader,
            up: &up,
            size: self.nodes.len(),
        };
        let mut pick = Picker::for_fault(self.seed, i);
        let each = |targets: &[Target], pick: &mut Picker| resolve::targets(targets, &live, pick);
        let running = |names: Vec<String>| -> Vec<String> {
            names.into_iter().filter(|n| up.contains(n)).collect()
        };
        let mut atoms = Vec::new();
        let mut forever = Vec::new();
        let mut bounce = Vec::new();
        let mut ops = Vec::new();
        let mut db = Vec::new();
        let hit: Vec<String> = match &fault.action {
            Action::Heal => Vec::new(),
            Action::Crash { target } => {
                let names = running(each(target, &mut pick));
                forever.extend(names.iter().map(|n| Atom::Down(n.clone())));
                names
            }
            Action::Leave { target } => {
                let names = running(each(target, &mut pick));
                forever.extend(names.iter().map(|n| Atom::Left(n.clone())));
                names
            }
            Action::DeleteKey { key, target } => match key {
                StoreKey::Leader => {
                    ops.push(StoreOp::DeleteLeaderKey);
                    Vec::new()
                }
                StoreKey::Bootstrap => {
                    ops.push(StoreOp::DeleteBootstrapKey);
                    Vec::new()
                }
                StoreKey::Member => {
                    let names = each(target, &mut pick);
                    ops.extend(names.iter().map(|n| StoreOp::DeleteMemberKey(n.clone())));
                    names
                }
            },
            Action::RevokeLease { target } => {
                let names = each(target, &mut pick);
                ops.extend(names.iter().map(|n| StoreOp::RevokeLease(n.clone())));
                names
            }
            Action::DropReplies { target, rate } => {
                let names = each(target, &mut pick);
                let ppm = (rate * 1e6).round() as u32;
                atoms.extend(names.iter().map(|n| Atom::ReplyLoss(n.clone(), ppm)));
                names
            }
            Action::DelayReplies { target, delay } => {
                let names = each(target, &mut pick);
                let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                atoms.extend(names.iter().map(|n| Atom::ReplyDelay(n.clone(), ms)));
                names
            }
            Action::CancelWatches => {
                ops.push(StoreOp::CancelWatches);
                Vec::new()
            }
            Action::DeregisterNode => {
                atoms.push(Atom::NodeGone);
                Vec::new()
            }
            Action::ClockJump { by } => {
                ops.push(StoreOp::ClockJump(*by));
                Vec::new()
            }
            Action::ClockDrift { rate } => {
                atoms.push(Atom::ClockRate((rate * 1000.0).round() as u32));
                Vec::new()
            }
            Action::ResetIndex => {
                atoms.push(Atom::IndexBack);
                Vec::new()
            }
            Action::Isolate { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::Isolate(n.clone())));
                names
            }
            Action::CutDiscovery { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::CutStore(n.clone())));
                names
            }
            Action::PacketLoss { target, rate } => {
                let names = each(target, &mut pick);
                let ppm = (rate * 1e6).round() as u32;
                atoms.extend(names.iter().map(|n| Atom::Loss(n.clone(), ppm)));
                names
            }
            Action::Pause { target } => {
                let names = running(each(target, &mut pick));
                atoms.extend(names.iter().map(|n| Atom::Pause(n.clone())));
                names
            }
            Action::Kill { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::Down(n.clone())));
                names
            }
            Action::KillLeader => {
                let names: Vec<String> = leader.map(str::to_string).into_iter().collect();
                atoms.extend(names.iter().map(|n| Atom::Down(n.clone())));
                names
            }
            Action::Restart { target } => {
                let names = running(each(target, &mut pick));
                bounce.extend(names.iter().cloned());
                names
            }
            Action::Partition { groups } => {
                let groups = resolve::groups(groups, &self.nodes, &live);
                atoms.extend(cuts(&groups));
                groups.concat()
            }
            Action::Bridge { groups, .. } => {
                atoms.extend(cuts(groups));
                groups.concat()
            }
            Action::PartitionOneWay { from, to } => {
                let (from, to) = (each(from, &mut pick), each(to, &mut pick));
                for a in &from {
                    for b in to.iter().filter(|b| *b != a) {
                        atoms.push(Atom::OneWay(a.clone(), b.clone()));
                    }
                }
                [from, to].concat()
            }
            Action::Shape {
                shape,
                target,
                peer,
                direction,
            } => {
                let names = each(target, &mut pick);
                let peers: Option<Vec<String>> = match peer {
                    Peer::All => None,
                    Peer::Store => Some(self.stores.clone()),
                    Peer::Nodes(t) => Some(each(t, &mut pick)),
                };
                atoms.extend(self.shaped(&names, peers.as_deref(), *direction, shape));
                names
            }
            Action::KillStoreLeader => {
                let names: Vec<String> = world.store_leader().await.into_iter().collect();
                atoms.extend(names.iter().map(|n| Atom::StoreDown(n.clone())));
                names
            }
            Action::DbLeaderMove { target } => {
                // One new leader: the first the targets resolve to.
                let names: Vec<String> = running(each(target, &mut pick))
                    .into_iter()
                    .take(1)
                    .collect();
                db.extend(names.iter().map(|n| DbOp::LeaderTo(n.clone())));
                names
            }
            Action::DbNotReady { target } => {
                let names = each(target, &mut pick);
                atoms.extend(names.iter().map(|n| Atom::DbUnready(n.clone())));
                names
            }
            Action::DbCrash { target } => {
                let names = running(each(target, &mut pick));
                db.extend(names.iter().map(|n| DbOp::Crash(n.clone())));
                names
            }
        };
        let mut hit = hit;
        hit.sort();
        hit.dedup();
        Resolved {
            hit,
            atoms,
            forever,
            bounce,
            ops,
            db,
        }
    }
}

impl Engine {
    /// The shaped links of `names` with `peers` (`None`: everyone), each
    /// one way: what a target sends (`out`), what its peers send it
    /// (`in`).
    fn shaped(
        &self,
        names: &[String],
        peers: Option<&[String]>,
        direction: Direction,
        shape: &clusterlab_scenario::Shape,
    ) -> Vec<Atom> {
        let s = Shaping::of(shape);
        let everyone: Vec<String> = self.nodes.iter().chain(&self.stores).cloned().collect();
        let mut out = Vec::new();
        for n in names {
            if direction.out() {
                match peers {
                    None => out.push(Atom::Shape(n.clone(), None, s)),
                    Some(ps) => out.extend(
                        ps.iter()
                            .filter(|p| *p != n)
                            .map(|p| Atom::Shape(n.clone(), Some(p.clone()), s)),
                    ),
                }
            }
            if direction.inward() {
                out.extend(
                    peers
                        .unwrap_or(&everyone)
                        .iter()
                        .filter(|p| *p != n)
                        .map(|p| Atom::Shape(p.clone(), Some(n.clone()), s)),
                );
            }
        }
        out.sort();
        out.dedup();
        out
    }
}

/// Whether resolving `action` needs the current leader (which each world
/// resolves live, so its picks may differ between worlds).
pub fn depends_on_leader(action: &Action) -> bool {
    match action {
        Action::KillLeader => true,
        Action::Isolate { target }
        | Action::CutDiscovery { target }
        | Action::PacketLoss { target, .. }
        | Action::Pause { target }
        | Action::Kill { target }
        | Action::Restart { target }
        | Action::Crash { target }
        | Action::Leave { target }
        | Action::DbLeaderMove { target }
        | Action::DbNotReady { target }
        | Action::DbCrash { target }
        | Action::DeleteKey { target, .. }
        | Action::RevokeLease { target }
        | Action::DropReplies { target, .. }
        | Action::DelayReplies { target, .. } => resolve::needs_leader(target),
        Action::PartitionOneWay { from, to } => {
            resolve::needs_leader(from) || resolve::needs_leader(to)
        }
        Action::Partition { groups } => {
            matches!(groups, clusterlab_scenario::Groups::MajorityMinority)
        }
        Action::Shape { target, peer, .. } => {
            resolve::needs_leader(target)
                || matches!(peer, Peer::Nodes(p) if resolve::needs_leader(p))
        }
        Action::Bridge { .. }
        | Action::KillStoreLeader
        | Action::Heal
        | Action::CancelWatches
        | Action::ResetIndex
        | Action::DeregisterNode
        | Action::ClockDrift { .. }
        | Action::ClockJump { .. } => false,
    }
}

/// Whether `action` is meant to hit nodes (a fault on the store itself,
/// its keys, clock or watches, hits none).
fn hits_nodes(action: &Action) -> bool {
    !matches!(
        action,
        Action::DeleteKey {
            key: StoreKey::Leader | StoreKey::Bootstrap,
            ..
        } | Action::CancelWatches
            | Action::ResetIndex
            | Action::DeregisterNode
            | Action::ClockDrift { .. }
            | Action::ClockJump { .. }
    )
}

/// A cut between every pair of nodes on different sides.
fn cuts(groups: &[Vec<String>]) -> Vec<Atom> {
    let mut out = Vec::new();
    for (i, a) in groups.iter().enumerate() {
        for b in groups.iter().skip(i + 1) {
            for x in a {
                for y in b.iter().filter(|y| *y != x) {
                    out.push(Atom::cut(x, y));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what the engine asks of a world; its futures are ready at once.
    #[derive(Default)]
    struct Book {
        leader: Option<String>,
        log: Vec<String>,
    }

    impl Nemesis for Book {
        type Error = std::convert::Infallible;
        async fn leader(&mut self) -> Option<String> {
            self.leader.clone()
        }
        async fn store_leader(&mut self) -> Option<String> {
            Some("s1".into())
        }
        async fn apply(&mut self, atom: &Atom) -> Result<(), Self::Error> {
            self.log.push(format!("+{atom:?}"));
            Ok(())
        }
        async fn undo(&mut self, atom: &Atom) -> Result<(), Self::Error> {
            self.log.push(format!("-{atom:?}"));
            Ok(())
        }
        async fn bounce(&mut self, node: &str) -> Result<(), Self::Error> {
            self.log.push(format!("bounce {node}"));
            Ok(())
        }
        async fn store(&mut self, op: &StoreOp) -> Result<(), Self::Error> {
            self.log.push(format!("store {op:?}"));
            Ok(())
        }
        async fn database(&mut self, op: &DbOp) -> Result<(), Self::Error> {
            self.log.push(format!("database {op:?}"));
            Ok(())
        }
    }

    fn scenario(faults: &str) -> Scenario {
        let text = format!(
            "description = \"t\"\nworlds = [\"sim\"]\n[excluded]\ncontainers = \"t\"\n\
             [discovery]\nkind = \"etcd\"\n[cluster]\nkind = \"etcd\"\nnodes = 3\n{faults}"
        );
        clusterlab_scenario::parse("t.toml", "t", &text).unwrap()
    }

    fn served() -> History {
        History {
            served: ["n1", "n2", "n3"].iter().map(|s| s.to_string()).collect(),
            ..History::default()
        }
    }

    fn run(engine: &mut Engine, book: &mut Book, until: u64) -> Vec<EventKind> {
        let mut out = Vec::new();
        let history = served();
        for s in 0..=until {
            let fired = engine.fire(Duration::from_secs(s), &history, book);
            out.extend(futures_ready(fired).unwrap());
        }
        out
    }

    /// Polls a future that must be ready at once.
    fn futures_ready<F: Future>(f: F) -> F::Output {
        let mut f = std::pin::pin!(f);
        let waker = std::task::Waker::noop();
        match f.as_mut().poll(&mut std::task::Context::from_waker(waker)) {
            std::task::Poll::Ready(v) => v,
            std::task::Poll::Pending => panic!("the book never waits"),
        }
    }

    #[test]
    fn each_fault_is_undone_by_its_own_undo_and_shared_effects_last() {
        let s = scenario(
            "[[faults]]\nat = \"1s\"\naction = \"partition\"\ngroups = [[\"n1\"], [\"n2\", \"n3\"]]\nfor = \"5s\"\n\
             [[faults]]\nat = \"2s\"\naction = \"isolate\"\ntarget = \"n1\"\nfor = \"2s\"\n\
             [[faults]]\nat = \"3s\"\naction = \"partition\"\ngroups = [[\"n1\"], [\"n2\"]]\n",
        );
        let mut e = Engine::new(&s, 1, vec!["s1".into()]);
        let mut b = Book::default();
        run(&mut e, &mut b, 4);
        // The isolation ended alone; both partitions still cut n1-n2.
        assert!(
            b.log.contains(&"-Isolate(\"n1\")".to_string()),
            "{:?}",
            b.log
        );
        assert_eq!(
            b.log.iter().filter(|l| l.contains("Cut")).count(),
            2,
            "{:?}",
            b.log
        );
        run(&mut e, &mut b, 7);
        // The first partition ended: n1-n3 healed, n1-n2 still held by the third.
        assert!(
            b.log.contains(&"-Cut(\"n1\", \"n3\")".to_string()),
            "{:?}",
            b.log
        );
        assert!(
            !b.log.contains(&"-Cut(\"n1\", \"n2\")".to_string()),
            "{:?}",
            b.log
        );
        let healed = futures_ready(e.heal_all(Duration::from_secs(8), &mut b)).unwrap();
        assert_eq!(healed.len(), 1, "{healed:?}");
        assert!(b.log.contains(&"-Cut(\"n1\", \"n2\")".to_string()));
        assert!(e.in_effect().next().is_none());
    }

    #[test]
    fn a_shaped_store_link_is_one_atom_per_direction_and_excuses_the_node() {
        let s = scenario(
            "[[faults]]\nat = \"1s\"\naction = \"latency\"\ntarget = \"n1\"\npeer = \"store\"\ndelay = \"2s\"\nfor = \"3s\"\n\
             [[faults]]\nat = \"1s\"\naction = \"duplicate\"\ntarget = \"n2\"\ndirection = \"in\"\nrate = 0.5\n",
        );
        let mut e = Engine::new(&s, 1, vec!["s1".into()]);
        let mut b = Book::default();
        run(&mut e, &mut b, 1);
        let late = Shaping {
            delay_us: 2_000_000,
            hold_ppm: 1_000_000,
            ..Shaping::default()
        };
        for atom in [
            Atom::Shape("n1".into(), Some("s1".into()), late),
            Atom::Shape("s1".into(), Some("n1".into()), late),
        ] {
            assert!(b.log.contains(&format!("+{atom:?}")), "{:?}", b.log);
        }
        // `in` with every peer: each other node and the store send n2 copies.
        let copies = b
            .log
            .iter()
            .filter(|l| l.contains("duplicate_ppm: 500000"))
            .count();
        assert_eq!(copies, 3, "{:?}", b.log);
        assert!(
            b.log.iter().all(|l| !l.contains("Shape(\"n2\"")),
            "{:?}",
            b.log
        );
        // n1 cannot be expected to keep its lease; n2's copies delay
        // nothing.
        assert!(!e.reaches_store().contains("n1"));
        assert!(e.reaches_store().contains("n2"));
        run(&mut e, &mut b, 4);
        assert!(b.log.contains(&format!(
            "-{:?}",
            Atom::Shape("s1".into(), Some("n1".into()), late)
        )));
        assert!(e.reaches_store().contains("n1"));
    }

    #[test]
    fn a_leader_target_waits_for_a_leader_then_gives_up() {
        let s = scenario("[[faults]]\nat = \"1s\"\naction = \"kill-leader\"\nfor = \"60s\"\n");
        let mut e = Engine::new(&s, 1, vec!["s1".into()]);
        let mut b = Book::default();
        assert!(
            run(&mut e, &mut b, 5).is_empty(),
            "waits while no leader is known"
        );
        b.leader = Some("n2".into());
        let ev = run(&mut e, &mut b, 6);
        assert!(
            matches!(&ev[0], EventKind::FaultStart { nodes, due_ms: 1000, .. } if nodes == &["n2"]),
            "{ev:?}"
        );
        assert_eq!(e.state("n2"), NodeState::Down);
        let s = scenario("[[faults]]\nat = \"1s\"\naction = \"kill-leader\"\n");
        let mut e = Engine::new(&s, 1, vec!["s1".into()]);
        let ev = run(&mut e, &mut Book::default(), 25);
        assert!(
            ev.iter()
                .any(|e| matches!(e, EventKind::Check { name, .. } if name == "fault-target")),
            "{ev:?}"
        );
    }

    #[test]
    fn random_picks_depend_on_seed_and_fault_only() {
        let s = scenario("[[faults]]\nat = \"1s\"\naction = \"isolate\"\ntarget = \"random\"\n");
        let hit = |seed, leader: Option<&str>| {
            let mut e = Engine::new(&s, seed, vec!["s1".into()]);
            let mut b = Book {
                leader: leader.map(str::to_string),
                ..Book::default()
            };
            match &run(&mut e, &mut b, 1)[0] {
                EventKind::FaultStart { nodes, .. } => nodes.clone(),
                other => panic!("{other:?}"),
            }
        };
        assert_eq!(
            hit(7, None),
            hit(7, Some("n1")),
            "the leader does not move a random pick"
        );
        let all: BTreeSet<Vec<String>> = (0..32).map(|s| hit(s, None)).collect();
        assert!(all.len() > 1, "seeds pick different nodes: {all:?}");
    }

    #[test]
    fn a_killed_node_is_down_until_its_fault_ends_and_the_store_counts_its_majority() {
        let s = scenario(
            "[[faults]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"n1\"\nfor = \"2s\"\n\
             [[faults]]\nat = \"1s\"\naction = \"kill-store-leader\"\nfor = \"2s\"\n",
        );
        let mut e = Engine::new(&s, 1, vec!["s1".into(), "s2".into(), "s3".into()]);
        let mut b = Book::default();
        run(&mut e, &mut b, 1);
        assert_eq!(e.state("n1"), NodeState::Down);
        assert!(e.store_up(), "two of three store nodes are up");
        assert!(!e.reaches_store().contains("n1"));
        assert!(e.reaches_store().contains("n2"));
        run(&mut e, &mut b, 3);
        assert_eq!(e.state("n1"), NodeState::Up);
        assert!(b.log.contains(&"-Down(\"n1\")".to_string()));
        let mut one = Engine::new(&s, 1, vec!["s1".into()]);
        run(&mut one, &mut b, 1);
        assert!(
            !one.store_up(),
            "a single store node down is the store down"
        );
        assert!(one.reaches_store().is_empty());
    }

    /// Before the change any store node's kill or restart moved
    /// `store_changed` (widening `leader-key-expiry` by a lease), and any
    /// store operation set `tampered` (silencing every leader overlap).
    /// Now only a store leader's kill or a regained quorum moves the one,
    /// and only a theft of the leader key is recorded, with its holder.
    #[test]
    fn only_leader_changes_and_key_thefts_excuse() {
        let s = scenario(
            "[[faults]]\nat = \"1s\"\naction = \"kill-store-leader\"\nfor = \"2s\"\n\
             [[faults]]\nat = \"5s\"\naction = \"delete-key\"\nkey = \"member\"\ntarget = \"n2\"\n\
             [[faults]]\nat = \"6s\"\naction = \"revoke-lease\"\ntarget = \"n3\"\n\
             [[faults]]\nat = \"7s\"\naction = \"delete-key\"\nkey = \"leader\"\n",
        );
        let three = vec!["s1".into(), "s2".into(), "s3".into()];
        let mut e = Engine::new(&s, 1, three);
        let mut b = Book::default();
        run(&mut e, &mut b, 2);
        assert_eq!(
            e.store_changed(),
            Some(Duration::from_secs(1)),
            "its leader killed"
        );
        run(&mut e, &mut b, 4);
        assert_eq!(
            e.store_changed(),
            Some(Duration::from_secs(1)),
            "the old leader back as a follower changes no lease"
        );
        run(&mut e, &mut b, 5);
        assert!(e.taken().is_empty(), "a member key is not the leader key");
        run(&mut e, &mut b, 7);
        assert_eq!(
            e.taken(),
            [
                Taken {
                    at: Duration::from_secs(6),
                    holder: Some("n3".into())
                },
                Taken {
                    at: Duration::from_secs(7),
                    holder: None
                }
            ]
        );
        // A one-node store: its restart is a regained quorum.
        let s = scenario("[[faults]]\nat = \"1s\"\naction = \"kill-store-leader\"\nfor = \"2s\"\n");
        let mut e = Engine::new(&s, 1, vec!["s1".into()]);
        run(&mut e, &mut b, 4);
        assert_eq!(e.store_changed(), Some(Duration::from_secs(3)));
    }

    /// A paused, isolated or store-cut node is severed; a lossy one is not.
    #[test]
    fn severed_nodes_are_the_ones_with_no_path_to_the_store() {
        let s = scenario(
            "[[faults]]\nat = \"1s\"\naction = \"pause\"\ntarget = \"n1\"\nfor = \"5s\"\n\
             [[faults]]\nat = \"1s\"\naction = \"cut-discovery\"\ntarget = \"n2\"\nfor = \"5s\"\n\
             [[faults]]\nat = \"1s\"\naction = \"packet-loss\"\ntarget = \"n3\"\nrate = 0.5\nfor = \"5s\"\n",
        );
        let mut e = Engine::new(&s, 1, vec!["s1".into()]);
        let mut b = Book::default();
        run(&mut e, &mut b, 2);
        let severed: Vec<&str> = e.severed().iter().map(String::as_str).collect();
        assert_eq!(severed, ["n1", "n2"]);
        run(&mut e, &mut b, 7);
        assert!(e.severed().is_empty());
    }
}
