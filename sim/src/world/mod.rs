//! The simulated world: one turmoil host serving the etcd or Consul model,
//! one host per cluster node running `disco`, and a driver that fires the
//! scenario's faults at their simulated times and checks the invariants
//! after every step.

pub mod board;
pub mod freeze;
pub mod net;
pub mod node;
pub mod registry;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clusterlab_scenario::trace::{EventKind, Trace};
use clusterlab_scenario::{Action, Groups, Role, Scenario, StoreKind, Target};

use crate::baseline::Strategy;
use crate::invariant::{self, Violation};
use board::Board;
use disco::keys::Keys;
use disco::leader::LeaderRecord;
use registry::Modelled;

/// The registry host's name.
pub const REGISTRY: &str = "registry";

/// The simulation tick. turmoil's cost grows with ticks x hosts (each tick
/// polls every host's runtime), so the tick is as coarse as disco's timing
/// allows: its tightest margin is a leader stepping down 10% of the TTL
/// (200 ms at the 2 s minimum) before its lease can expire, four ticks.
/// Measured on one core, 5 nodes, 60 simulated seconds: 431 seeds/min at
/// 10 ms, 727 at 20 ms, 1,265 at 50 ms.
pub const TICK: Duration = Duration::from_millis(50);

/// Why a scenario cannot be simulated.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario asks for something the simulator does not model.
    #[error("{0}")]
    Unsupported(String),
    /// turmoil stopped with an error (a host failed).
    #[error("simulation failed: {0}")]
    Turmoil(String),
}

/// One simulated run.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Everything that happened, in simulated time.
    pub trace: Trace,
    /// Broken invariants, first first.
    pub violations: Vec<Violation>,
}

/// Network cuts applied so far, to repair at heal.
#[derive(Debug, Default)]
struct Cuts {
    pairs: Vec<(String, String)>,
    oneway: Vec<(String, String)>,
    held: Vec<(String, String)>,
    lossy: Vec<(String, String)>,
    paused: Vec<String>,
}

impl Cuts {
    /// Whether `node` and the registry can talk both ways, losslessly.
    fn reaches_registry(&self, node: &str) -> bool {
        let touches = |(a, b): &(String, String)| {
            (a == node && b == REGISTRY) || (a == REGISTRY && b == node)
        };
        !self.pairs.iter().any(touches)
            && !self.oneway.iter().any(touches)
            && !self.held.iter().any(touches)
            && !self.lossy.iter().any(touches)
    }
}

/// Runs `scenario` with `seed` and disco's logic.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Outcome, SimError> {
    run_with(scenario, seed, Strategy::Disco)
}

/// Runs `scenario` with `seed` and the given node logic.
pub fn run_with(scenario: &Scenario, seed: u64, strategy: Strategy) -> Result<Outcome, SimError> {
    scenario
        .supports(clusterlab_scenario::World::Sim)
        .map_err(SimError::Unsupported)?;
    let mut sim = turmoil::Builder::new()
        .simulation_duration(scenario.duration + Duration::from_secs(60))
        .tick_duration(TICK)
        .rng_seed(seed)
        .build();
    let board = Board::default();
    let kind = scenario.discovery.kind;
    let modelled = Modelled::new(kind);
    let keys = Keys::new(&scenario.discovery.prefix, &scenario.discovery.cluster);
    let served = modelled.clone();
    sim.host(REGISTRY, move || served.clone().serve());
    let d = &scenario.discovery;
    for name in &scenario.cluster.nodes {
        let (name, prefix, cluster, ttl, board) = (
            name.clone(),
            d.prefix.clone(),
            d.cluster.clone(),
            d.ttl,
            board.clone(),
        );
        board.alive(Duration::ZERO, &name, true);
        let host = name.clone();
        sim.host(host.as_str(), move || {
            let (name, prefix, cluster, board) =
                (name.clone(), prefix.clone(), cluster.clone(), board.clone());
            let frozen = board.frozen(&name);
            freeze::gated(frozen, async move {
                match kind {
                    StoreKind::Etcd => {
                        let r = registry::etcd_registry().await?;
                        strategy.run(r, name, prefix, cluster, ttl, board).await
                    }
                    StoreKind::Consul => {
                        let r = registry::consul_registry();
                        strategy.run(r, name, prefix, cluster, ttl, board).await
                    }
                }
            })
        });
    }
    // Keys the invariants read every step, built once.
    let leader_key = keys.leader();
    let members_prefix = keys.members();
    let member_keys: BTreeMap<String, String> = scenario
        .cluster
        .nodes
        .iter()
        .map(|n| (n.clone(), keys.member(n)))
        .collect();
    let bounds = modelled.expiry_bounds(d.ttl);
    let mut registered = invariant::registered::Registered::new(d.ttl);
    let mut driver = Driver {
        scenario,
        board: board.clone(),
        cuts: Cuts::default(),
        seed,
        active: Vec::new(),
        registry_down: false,
    };
    let mut steps: Vec<(Duration, usize, bool)> = Vec::new();
    for (i, f) in scenario.faults.iter().enumerate() {
        steps.push((f.at, i, true));
        if let Some(len) = f.duration {
            steps.push((f.at + len, i, false));
        }
    }
    steps.sort_by_key(|(at, i, start)| (*at, !*start, *i));
    let mut steps = steps.into_iter().peekable();
    let mut violations = Vec::new();
    let last_heal = scenario.last_heal();
    let mut converged = None;
    while sim.elapsed() < scenario.duration {
        while let Some((at, i, start)) = steps.peek().copied() {
            if at > sim.elapsed() {
                break;
            }
            steps.next();
            driver.fire(&mut sim, i, start)?;
        }
        sim.step().map_err(|e| SimError::Turmoil(e.to_string()))?;
        let now = sim.elapsed();
        let nodes = board.nodes();
        if let Some(v) = invariant::single_leader::check(now, &nodes) {
            violations.push(v);
            break;
        }
        if let Some(v) = invariant::single_bootstrap::check(&board.bootstraps()) {
            violations.push(v);
            break;
        }
        let named = modelled
            .get(&leader_key)
            .and_then(|v| LeaderRecord::parse(&v))
            .map(|r| r.node);
        if let Some(v) = invariant::leader_key::check(
            now,
            named.as_deref(),
            &board.died(),
            bounds.max + Duration::from_millis(500),
        ) {
            violations.push(v);
            break;
        }
        let announced = modelled.keys(&members_prefix);
        let reachable = driver.reachable(&nodes);
        if let Some(v) = registered.check(now, &reachable, |n| {
            member_keys
                .get(n)
                .is_some_and(|k| announced.binary_search(k).is_ok())
        }) {
            violations.push(v);
            break;
        }
        // Done at the first step after the last heal where the cluster has
        // converged, as the container world is.
        if now >= last_heal
            && steps.peek().is_none()
            && invariant::convergence::check(now, &nodes).is_empty()
        {
            converged = Some(now);
            break;
        }
    }
    let end = sim.elapsed();
    if violations.is_empty() && converged.is_none() {
        violations.extend(invariant::convergence::check(end, &board.nodes()));
    }
    for v in &violations {
        board.event(
            end,
            EventKind::Check {
                name: v.invariant.into(),
                passed: false,
                detail: v.detail.clone(),
            },
        );
    }
    if violations.is_empty() {
        board.event(
            end,
            EventKind::Check {
                name: "converged".into(),
                passed: true,
                detail: format!(
                    "every invariant held; {} ms after the last heal all live nodes agree on members and one leader",
                    end.saturating_sub(last_heal).as_millis()
                ),
            },
        );
    }
    Ok(Outcome {
        trace: board.trace(),
        violations,
    })
}

struct Driver<'a> {
    scenario: &'a Scenario,
    board: Board,
    cuts: Cuts,
    seed: u64,
    active: Vec<(usize, Vec<String>)>,
    registry_down: bool,
}

impl Driver<'_> {
    fn pick(&mut self, len: usize) -> usize {
        self.seed = self
            .seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.seed >> 33) % len.max(1) as u64) as usize
    }

    /// Nodes that are running, not paused, and can reach a running
    /// registry without loss: these must stay announced.
    fn reachable(&self, nodes: &BTreeMap<String, board::NodeState>) -> BTreeSet<String> {
        if self.registry_down {
            return BTreeSet::new();
        }
        nodes
            .iter()
            .filter(|(n, s)| s.alive && !s.paused && self.cuts.reaches_registry(n))
            .map(|(n, _)| n.clone())
            .collect()
    }

    fn live(&self) -> Vec<String> {
        self.board
            .nodes()
            .into_iter()
            .filter(|(_, s)| s.alive)
            .map(|(n, _)| n)
            .collect()
    }

    fn leader(&self, now: Duration) -> Option<String> {
        self.board
            .nodes()
            .into_iter()
            .find(|(_, s)| s.alive && s.leader.is_some_and(|(u, _)| u > now))
            .map(|(n, _)| n)
    }

    fn resolve(&mut self, targets: &[Target], now: Duration) -> Vec<String> {
        let leader = self.leader(now);
        let live = self.live();
        let size = self.scenario.cluster.nodes.len();
        clusterlab_scenario::target::resolve(targets, leader.as_ref(), &live, size, &mut |len| {
            self.pick(len)
        })
    }

    fn partition(&mut self, sim: &mut turmoil::Sim<'_>, groups: &[Vec<String>]) {
        for (i, a) in groups.iter().enumerate() {
            for b in groups.iter().skip(i + 1) {
                for x in a {
                    for y in b {
                        sim.partition(x.as_str(), y.as_str());
                        self.cuts.pairs.push((x.clone(), y.clone()));
                    }
                }
            }
        }
    }

    fn everyone_but(&self, node: &str) -> Vec<String> {
        self.scenario
            .cluster
            .nodes
            .iter()
            .filter(|n| *n != node)
            .cloned()
            .chain([REGISTRY.to_string()])
            .collect()
    }

    fn heal(&mut self, sim: &mut turmoil::Sim<'_>) {
        for (a, b) in self.cuts.pairs.drain(..) {
            sim.repair(a.as_str(), b.as_str());
        }
        for (a, b) in self.cuts.oneway.drain(..) {
            sim.repair_oneway(a.as_str(), b.as_str());
        }
        for (a, b) in self.cuts.held.drain(..) {
            sim.release(a.as_str(), b.as_str());
        }
        for (a, b) in self.cuts.lossy.drain(..) {
            sim.set_link_fail_rate(a.as_str(), b.as_str(), 0.0);
        }
        let now = sim.elapsed();
        for n in self.cuts.paused.drain(..) {
            self.board.pause(now, &n, false);
        }
    }

    fn crash(&mut self, sim: &mut turmoil::Sim<'_>, names: &[String], at: Duration) {
        for n in names {
            sim.crash(n.as_str());
            self.board.alive(at, n, false);
        }
    }

    fn restart(&mut self, sim: &mut turmoil::Sim<'_>, names: &[String], at: Duration) {
        for n in names {
            if n == REGISTRY {
                sim.bounce(REGISTRY);
                self.registry_down = false;
            } else {
                sim.bounce(n.as_str());
                self.board.alive(at, n, true);
            }
        }
    }

    /// Applies the start (or end) of fault `i`.
    fn fire(&mut self, sim: &mut turmoil::Sim<'_>, i: usize, start: bool) -> Result<(), SimError> {
        let now = sim.elapsed();
        let fault = &self.scenario.faults[i];
        let name = fault.action.name();
        if !start {
            if let Some(pos) = self.active.iter().position(|(j, _)| *j == i) {
                let (_, hit) = self.active.remove(pos);
                match fault.action {
                    Action::Kill { .. } | Action::KillLeader | Action::KillStoreLeader => {
                        self.restart(sim, &hit, now)
                    }
                    _ => self.heal(sim),
                }
                self.board.event(
                    now,
                    EventKind::FaultEnd {
                        fault: i,
                        action: name.into(),
                    },
                );
            }
            return Ok(());
        }
        let hit: Vec<String> = match &fault.action {
            Action::Heal => {
                let active: Vec<(usize, Vec<String>)> = self.active.drain(..).collect();
                for (j, hit) in active {
                    match self.scenario.faults[j].action {
                        Action::Kill { .. } | Action::KillLeader | Action::KillStoreLeader => {
                            self.restart(sim, &hit, now)
                        }
                        _ => {}
                    }
                    self.board.event(
                        now,
                        EventKind::FaultEnd {
                            fault: j,
                            action: self.scenario.faults[j].action.name().into(),
                        },
                    );
                }
                self.heal(sim);
                Vec::new()
            }
            Action::Isolate { target } => {
                let names = self.resolve(target, now);
                for n in &names {
                    let groups = vec![vec![n.clone()], self.everyone_but(n)];
                    self.partition(sim, &groups);
                }
                names
            }
            Action::Partition { groups } => {
                let groups: Vec<Vec<String>> = match groups {
                    Groups::Explicit(g) => g.clone(),
                    Groups::Halves => {
                        let nodes = &self.scenario.cluster.nodes;
                        let mid = nodes.len().div_ceil(2);
                        vec![nodes[..mid].to_vec(), nodes[mid..].to_vec()]
                    }
                    Groups::MajorityMinority => {
                        let maj = self.resolve(&[Target::Role(Role::Majority)], now);
                        let min = self
                            .scenario
                            .cluster
                            .nodes
                            .iter()
                            .filter(|n| !maj.contains(n))
                            .cloned()
                            .collect();
                        vec![maj, min]
                    }
                };
                self.partition(sim, &groups);
                groups.concat()
            }
            Action::Bridge { groups, .. } => {
                self.partition(sim, groups);
                groups.concat()
            }
            Action::PartitionOneWay { from, to } => {
                let (from, to) = (self.resolve(from, now), self.resolve(to, now));
                for a in &from {
                    for b in &to {
                        sim.partition_oneway(a.as_str(), b.as_str());
                        self.cuts.oneway.push((a.clone(), b.clone()));
                    }
                }
                [from, to].concat()
            }
            Action::CutDiscovery { target } => {
                let names = self.resolve(target, now);
                for n in &names {
                    sim.partition(n.as_str(), REGISTRY);
                    self.cuts.pairs.push((n.clone(), REGISTRY.into()));
                }
                names
            }
            Action::Pause { target } => {
                // Frozen: the node's work is not polled (`freeze`) and its
                // messages both ways are held until the thaw.
                let names = self.resolve(target, now);
                for n in &names {
                    for other in self.everyone_but(n) {
                        sim.hold(n.as_str(), other.as_str());
                        self.cuts.held.push((n.clone(), other));
                    }
                    self.board.pause(now, n, true);
                    self.cuts.paused.push(n.clone());
                }
                names
            }
            Action::Kill { target } => {
                let names = self.resolve(target, now);
                self.crash(sim, &names, now);
                names
            }
            Action::KillLeader => {
                let names = self.resolve(&[Target::Role(Role::Leader)], now);
                self.crash(sim, &names, now);
                names
            }
            Action::Restart { target } => {
                let names = self.resolve(target, now);
                self.restart(sim, &names, now);
                names
            }
            Action::KillStoreLeader => {
                sim.crash(REGISTRY);
                self.registry_down = true;
                vec![REGISTRY.to_string()]
            }
            Action::PacketLoss { target, rate } => {
                // turmoil fails a link for a tick at a time with this
                // probability per tick, dropping what it carries. Its TCP
                // does not retransmit, so a drop stalls that connection for
                // good: disco must notice (request deadlines, HTTP/2
                // keepalive) and redial. Harsher than a real lossy link,
                // whose TCP would retransmit.
                let names = self.resolve(target, now);
                let registry = sim.lookup(REGISTRY);
                for n in &names {
                    let ip = sim.lookup(n.as_str());
                    let mut linked = false;
                    sim.links(|links| {
                        linked = links.into_iter().any(|l| {
                            let (a, b) = l.pair();
                            (a, b) == (ip, registry) || (a, b) == (registry, ip)
                        })
                    });
                    if linked {
                        sim.set_link_fail_rate(n.as_str(), REGISTRY, *rate);
                        self.cuts.lossy.push((n.clone(), REGISTRY.into()));
                    }
                }
                names
            }
        };
        self.board.event(
            now,
            EventKind::FaultStart {
                fault: i,
                action: name.into(),
                nodes: hit.clone(),
            },
        );
        if matches!(fault.action, Action::Heal) {
            self.board.event(
                now,
                EventKind::FaultEnd {
                    fault: i,
                    action: name.into(),
                },
            );
        } else {
            self.active.push((i, hit));
        }
        Ok(())
    }
}
