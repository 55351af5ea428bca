//! The simulated world: one turmoil host serving the etcd or Consul model,
//! one host per cluster node running `disco`, and a driver that steps the
//! simulation, fires the scenario's faults through the shared fault engine
//! ([`nemesis`] is its mechanism here), and hands a [`View`] of every tick
//! to the shared referee.

pub mod board;
pub mod database;
pub mod freeze;
pub mod nemesis;
pub mod net;
pub mod node;
pub mod recorded;
pub mod registry;
pub mod stepping;

use std::time::Duration;

use std::collections::{BTreeMap, BTreeSet};

use clusterlab_core::check::Waits;
use clusterlab_core::driver::{Driver, Seen};
use clusterlab_core::fault::{Engine, ROLE_WAIT};
use clusterlab_core::history::judge;
use clusterlab_core::referee::{Referee, Timed};
use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_core::view::{NodeState, NodeView, StoreView, View, Window};
use clusterlab_core::Outcome;
use clusterlab_scenario::{Scenario, StoreKind, World};
use disco::keys::Keys;
use disco::leader::LeaderRecord;

use crate::baseline::{Seat, Strategy};
use board::Board;
use database::Databases;
use nemesis::{Net, SimNemesis, STORE};
use recorded::{Recorded, Recorder};
use registry::Modelled;
use stepping::{Announced, Events, Stepping, EVENT_LATENCY};

/// The registry host's name.
pub const REGISTRY: &str = "registry";

/// The simulation tick. turmoil's cost grows with ticks x hosts (each tick
/// polls every host's runtime), so the tick is as coarse as disco's timing
/// allows: its tightest margin is a leader stepping down 10% of the TTL
/// (200 ms at the 2 s minimum) before its lease can expire, four ticks.
/// Measured on one core, 5 nodes, 60 simulated seconds: 431 seeds/min at
/// 10 ms, 727 at 20 ms, 1,265 at 50 ms.
pub const TICK: Duration = Duration::from_millis(50);

/// How late the simulator may see a change: the tick, and the models'
/// expiry sweeps (etcd's every 500 ms, as etcd's own; Consul's 250 ms).
pub const SLACK: Duration = Duration::from_millis(500);

/// Why a scenario cannot be simulated.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// The scenario asks for something the simulator does not model.
    #[error("{0}")]
    Unsupported(String),
    /// turmoil stopped with an error (a host failed).
    #[error("simulation failed: {0}")]
    Turmoil(String),
    /// The scenario would run a seed past [`MAX_SIMULATED`].
    #[error(
        "{scenario} needs up to {needed:?} of simulated time per seed (its faults, then \
         converge_within, then up to {role_wait:?} per fault waiting for a role); the simulator \
         stops a seed at {cap:?}: shorten the faults or converge_within, or run it in containers",
        cap = MAX_SIMULATED,
        role_wait = ROLE_WAIT
    )]
    TooLong {
        /// The scenario's name.
        scenario: String,
        /// The simulated time a seed may need.
        needed: Duration,
    },
}

/// The most simulated time one seed may run. A simulated hour of five
/// nodes costs about a second of CPU at [`TICK`], so a seed stays within
/// minutes; the schema caps every time at a day, which is a container
/// soak's length, not a seed's.
pub const MAX_SIMULATED: Duration = Duration::from_secs(2 * 3600);

/// How much simulated time a seed of `scenario` may take: its length, the
/// waits of faults whose target is a role, and a minute more; refused past
/// [`MAX_SIMULATED`].
pub fn limit(scenario: &Scenario) -> Result<Duration, SimError> {
    let needed =
        scenario.duration + ROLE_WAIT * (scenario.faults.len() as u32) + Duration::from_secs(60);
    if needed > MAX_SIMULATED {
        return Err(SimError::TooLong {
            scenario: scenario.name.clone(),
            needed,
        });
    }
    Ok(needed)
}

/// One simulated run: its trace and the verdict read from it.
#[derive(Debug, Clone)]
pub struct Simulated {
    /// Everything that happened, in simulated time.
    pub trace: Trace,
    /// The verdict, as every world reports it.
    pub outcome: Outcome,
    /// Messages delivered after their due time: none under event stepping
    /// unless a host's timer was not announced ([`stepping::MAX_LAG`]);
    /// every message under tick stepping is not counted.
    pub late: turmoil::Late,
}

/// Where the faults come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schedule {
    /// The scenario's own: a fault that hits nobody fails the run.
    Scenario,
    /// Generated: the generator does not know the cluster's state, so a
    /// fault that hits nobody is no failure.
    Generated,
}

/// Runs `scenario` with `seed` and disco's logic.
pub fn run(scenario: &Scenario, seed: u64) -> Result<Simulated, SimError> {
    run_with(scenario, seed, Strategy::Disco)
}

/// Runs `scenario` with `seed` and the given node logic.
pub fn run_with(scenario: &Scenario, seed: u64, strategy: Strategy) -> Result<Simulated, SimError> {
    simulate(scenario, seed, strategy, Schedule::Scenario)
}

/// Runs `scenario` with `seed`, `strategy`, and faults from `schedule`.
pub fn simulate(
    scenario: &Scenario,
    seed: u64,
    strategy: Strategy,
    schedule: Schedule,
) -> Result<Simulated, SimError> {
    simulate_stepping(scenario, seed, strategy, schedule, Stepping::default())
}

/// [`simulate`], moving time as `stepping` says.
pub fn simulate_stepping(
    scenario: &Scenario,
    seed: u64,
    strategy: Strategy,
    schedule: Schedule,
    stepping: Stepping,
) -> Result<Simulated, SimError> {
    scenario
        .supports(World::Sim)
        .map_err(SimError::Unsupported)?;
    let limit = limit(scenario)?;
    let mut builder = turmoil::Builder::new();
    builder
        .simulation_duration(limit + Duration::from_secs(1))
        .tick_duration(TICK)
        .rng_seed(seed);
    let latency = scenario.sim_latency.unwrap_or(EVENT_LATENCY);
    if stepping == Stepping::Events {
        builder
            .min_message_latency(latency.0)
            .max_message_latency(latency.1);
    }
    let mut sim = builder.build();
    let _announced = (stepping == Stepping::Events).then(Announced::install);
    let mut events = (stepping == Stepping::Events).then(|| Events::new(&mut sim));
    let board = Board::default();
    let dbs = Databases::default();
    let kind = scenario.discovery.kind;
    let modelled = Modelled::new(kind);
    let served = modelled.clone();
    sim.host(REGISTRY, move || served.clone().serve());
    let recorder = Recorder::default();
    let d = &scenario.discovery;
    for name in &scenario.cluster.nodes {
        let seat = Seat {
            name: name.clone(),
            prefix: d.prefix.clone(),
            cluster: d.cluster.clone(),
            ttl: d.ttl,
            board: board.clone(),
            dbs: dbs.clone(),
        };
        let recorder = recorder.clone();
        sim.host(name.as_str(), move || {
            let (seat, recorder) = (seat.clone(), recorder.clone());
            let name = seat.name.clone();
            let frozen = seat.board.frozen(&name);
            freeze::gated(frozen, async move {
                match kind {
                    StoreKind::Etcd => {
                        let r = registry::etcd_registry().await?.with_jitter(&name);
                        let r = Recorded::new(r, recorder, &name);
                        strategy.run(r, seat).await
                    }
                    StoreKind::Consul => {
                        let r = registry::consul_registry().with_jitter(&name);
                        let r = Recorded::new(r, recorder, &name);
                        strategy.run(r, seat).await
                    }
                }
            })
        });
    }
    let keys = Keys::new(&scenario.discovery.prefix, &scenario.discovery.cluster);
    let mut observer = Observer::new(scenario, modelled.clone(), dbs.clone());
    let mut engine = Engine::new(scenario, seed, vec![STORE.to_string()]);
    if schedule == Schedule::Generated {
        engine = engine.lenient();
    }
    let referee = Referee::new(scenario, SLACK).waits(Waits {
        startup: node::STARTUP_TIMEOUT,
        join: node::JOIN_TIMEOUT,
        ready: node::READY_TIMEOUT,
    });
    let mut driver = Driver::new(engine, referee).stop_at_breach();
    // Whose uncommitted claim the bootstrap key holds, as of the last
    // step: the one a lapse of the key takes.
    let mut claim: Option<String> = None;
    let mut claim_seen = u64::MAX;
    let bootstrap_key = keys.bootstrap();
    let mut net = match stepping {
        Stepping::Events => Net::with_base(latency),
        Stepping::Ticks => Net::default(),
    };
    // Run every host at the start and after a fault: a fault can wake one
    // (a thawed node, a healed link) through no message or deadline.
    let mut everyone = true;
    let record = |events: Vec<Timed>| {
        for (at, e) in events {
            board.event(at, e);
        }
    };
    loop {
        let now = sim.elapsed();
        if driver.due(now) {
            let leader = observer.leader(&board, driver.engine(), now);
            let mut world = SimNemesis {
                sim: &mut sim,
                net: &mut net,
                board: &board,
                dbs: &dbs,
                nodes: &scenario.cluster.nodes,
                leader,
                modelled: &modelled,
                keys: &keys,
                now,
            };
            let mut fired = Vec::new();
            ready(driver.act(now, &|| now, &mut world, &mut |e| fired.push((now, e))));
            everyone |= !fired.is_empty();
            record(fired);
        }
        let before = sim.elapsed();
        match events.as_mut() {
            Some(events) => {
                let bound = driver.engine().next_due().filter(|_| !driver.healed());
                events.step(&mut sim, everyone, bound).map(|_| ())
            }
            None => sim.step().map(|_| ()),
        }
        .map_err(|e| SimError::Turmoil(e.to_string()))?;
        everyone = false;
        let now = sim.elapsed();
        let mut seen = Seen {
            facts: board.take_facts(),
            bootstraps: board.take_bootstraps(),
            ..Seen::default()
        };
        for key in modelled.take_lapsed() {
            if key == bootstrap_key {
                if let Some(node) = claim.take() {
                    seen.lapses.push((now, EventKind::ClaimLapsed { node }));
                }
            }
            recorder.store_deleted(&key, before, now);
        }
        if modelled.version() != claim_seen {
            claim_seen = modelled.version();
            claim = modelled
                .get(&bootstrap_key)
                .map(|r| disco::bootstrap::BootstrapRecord::parse(&r.value))
                .filter(|r| !r.committed)
                .map(|r| r.node);
        }
        let engine = driver.engine();
        dbs.elect(
            now,
            |n| engine.state(n) == NodeState::Up,
            |a, b| engine.reach(a, b),
        );
        seen.published = board.take_published();
        let view = observer.view(now, &board, driver.engine());
        record(driver.observe(seen, view));
        if driver.over(view) || now >= limit {
            break;
        }
    }
    let end = sim.elapsed();
    let late = sim.late();
    let trace = board.trace();
    record(driver.finish(&trace, end));
    // The nodes' registry calls: the store model held to linearizability.
    for e in recorder.events() {
        board.event(Duration::from_micros(e.time_us), EventKind::Op(e));
    }
    // Every node calls the registry: there is always a history to judge.
    let wants = judge::Wants {
        linearizable: true,
        set: false,
    };
    record(judge::judge(&board.trace(), wants));
    let trace = board.trace();
    let outcome = Outcome::from_trace(scenario, World::Sim, &format!("seed-{seed}"), seed, &trace);
    Ok(Simulated {
        trace,
        outcome,
        late,
    })
}

/// Polls a future of the simulated nemesis, which never waits.
fn ready<T>(f: impl std::future::Future<Output = Result<T, std::convert::Infallible>>) -> T {
    use futures_util::FutureExt;
    match f.now_or_never() {
        Some(Ok(v)) => v,
        Some(Err(never)) => match never {},
        None => unreachable!("the simulated nemesis acts at once"),
    }
}

/// Reads a [`View`] off the board, the store model and the fault ledger,
/// every tick. Most ticks change nothing but the time: the parts are
/// rebuilt only when their source moved.
struct Observer {
    nodes: Vec<String>,
    modelled: Modelled,
    dbs: Databases,
    leader_key: String,
    members_prefix: String,
    keys: Keys,
    view: View,
    seen: (u64, u64, u64, u64),
}

impl Observer {
    fn new(scenario: &Scenario, modelled: Modelled, dbs: Databases) -> Observer {
        let keys = Keys::new(&scenario.discovery.prefix, &scenario.discovery.cluster);
        Observer {
            nodes: scenario.cluster.nodes.clone(),
            modelled,
            dbs,
            leader_key: keys.leader(),
            members_prefix: keys.members(),
            keys,
            view: View::default(),
            seen: (u64::MAX, u64::MAX, u64::MAX, u64::MAX),
        }
    }

    /// The node inside a leadership window now (the highest token if,
    /// against every invariant, there are several).
    fn leader(&self, board: &Board, engine: &Engine, now: Duration) -> Option<String> {
        board
            .all()
            .into_iter()
            .filter(|(n, _)| engine.state(n) != NodeState::Down)
            .filter_map(|(n, p)| {
                p.leader
                    .filter(|(until, _)| *until > now)
                    .map(|(_, t)| (t, n))
            })
            .max()
            .map(|(_, n)| n)
    }

    fn view(&mut self, now: Duration, board: &Board, engine: &Engine) -> &View {
        let (b, e, m, d) = (
            board.version(),
            engine.version(),
            self.modelled.version(),
            self.dbs.version(),
        );
        if (b, e, d) != (self.seen.0, self.seen.1, self.seen.3) {
            let published = board.all();
            self.view.nodes = self
                .nodes
                .iter()
                .map(|n| {
                    let p = published.get(n);
                    let peers: Option<BTreeSet<String>> = p
                        .and_then(|p| p.members.as_ref())
                        .map(|m| m.iter().cloned().collect());
                    // A node whose agent runs a database: the database's
                    // own view; a baseline's node: disco's, as the database.
                    let members = if self.dbs.known(n) {
                        self.dbs.members(n).map(|m| m.into_iter().collect())
                    } else {
                        peers.clone()
                    };
                    let view = NodeView {
                        state: engine.state(n),
                        peers,
                        members,
                        leads: false,
                        window: p
                            .and_then(|p| p.leader)
                            .map(|(until, token)| Window { until, token }),
                    };
                    (n.clone(), view)
                })
                .collect();
            self.view.reaches_store = engine.reaches_store().clone();
            self.view.severed = engine.severed().clone();
            self.view.left = engine.left();
            self.view.left_cut.clone_from(engine.left_cut());
        }
        if !engine.store_up() {
            // Down: nobody can ask it anything.
            self.view.store = None;
            self.seen.2 = u64::MAX;
        } else if m != self.seen.2 {
            let created: BTreeMap<String, u64> = self
                .modelled
                .entries(&self.members_prefix)
                .into_iter()
                .filter_map(|(k, created)| Some((self.keys.node_of(&k)?.to_string(), created)))
                .collect();
            let announced = created.keys().cloned().collect();
            let key = self.modelled.get(&self.leader_key);
            let leader_key = key
                .as_ref()
                .and_then(|k| LeaderRecord::parse(&k.value))
                .map(|r| r.node);
            self.view.store = Some(StoreView {
                announced,
                created,
                leader_token: key.filter(|_| leader_key.is_some()).map(|k| k.created),
                leader_key,
            });
        }
        self.seen = (b, e, if engine.store_up() { m } else { u64::MAX }, d);
        self.view.at = now;
        // Renewals move no revision: read every time.
        self.view.leader_lease_renewed = self.modelled.lease_renewed(&self.leader_key);
        if self.view.taken.len() != engine.taken().len() {
            self.view.taken = engine.taken().to_vec();
        }
        self.view.quiet_since = engine.quiet_since();
        self.view.store_changed = engine.store_changed();
        for (n, v) in self.view.nodes.iter_mut() {
            // The database's claim where an agent runs one; a baseline's
            // disco window otherwise.
            v.leads = v.state != NodeState::Down
                && if self.dbs.known(n) {
                    self.dbs.leads(n)
                } else {
                    v.window.is_some_and(|w| w.until > now)
                };
        }
        &self.view
    }
}
