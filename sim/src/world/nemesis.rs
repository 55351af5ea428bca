//! The simulator's fault mechanism behind the shared engine: each atom is
//! a turmoil hold, one-way partition, link failure rate, host crash or
//! bounce. turmoil keeps one state per host pair, while several atoms may
//! concern one pair (a partition and an isolation, a pause): [`Net`] counts
//! what each pair is subject to and sets the pair to the strongest (held,
//! then one-way cuts, then healthy).
//!
//! What the network does and does not model:
//! - a cut (partition, isolation, cut-discovery) holds every message both
//!   ways and delivers them when it ends: TCP retransmits into a black hole
//!   and resumes the connection after a short partition, so dropping the
//!   segments instead (turmoil's partition) would leave every connection
//!   that carried traffic stalled for good, which real TCP does not do. The
//!   held messages arrive at the heal, where TCP's would arrive at its next
//!   retransmission (its timeout backs off to seconds in a long cut);
//! - a pause holds its node's messages the same way (a stopped process's
//!   socket buffers);
//! - a one-way cut drops what it cuts (turmoil has no one-way hold);
//! - packet loss drops messages on the node's links, and turmoil's TCP does
//!   not retransmit: each loss stalls that connection for good, harsher
//!   than real loss, and the stalls a real network makes another way (a
//!   middlebox forgetting a connection); disco must notice by its request
//!   deadlines and reconnect;
//! - a shaped link (latency, jitter, reorder) is a turmoil link latency
//!   range added to the default one (1-2 ms; 0-100 ms under tick
//!   stepping), in whole milliseconds. turmoil's links are
//!   symmetric, so a one-way delay is half that delay each way (the same
//!   round trip); each message's delay is drawn from the range by
//!   turmoil's seeded exponential curve, weighted to its low end, where the
//!   containers draw uniformly; a `reorder` is a range from no delay to its
//!   delay. turmoil's TCP puts segments back in order, as real TCP does, so
//!   reordering shows above TCP as head-of-line delay; a `duplicate` has no
//!   effect at all there (TCP discards the copy), in either world, for a
//!   TCP store. Time moves in 50 ms ticks: shaping finer than a tick is
//!   rounded to it.

use std::collections::BTreeMap;
use std::convert::Infallible;

use std::time::Duration;

use clusterlab_core::fault::{Atom, DbOp, Nemesis, Shaping, StoreOp};
use disco::keys::Keys;

use super::board::Board;
use super::database::Databases;
use super::registry::Modelled;
use super::REGISTRY;

/// The registry host as the engine names it.
pub const STORE: &str = "s1";

/// What each host pair is subject to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Pair {
    cut: usize,
    held: usize,
    /// One-way cuts from the first host of the pair to the second, and back.
    forth: usize,
    back: usize,
    /// Loss rates (millionths) asked of this link.
    loss: Vec<u32>,
    /// Shapings of what the first host sends the second, and back.
    shaped_forth: Vec<Shaping>,
    shaped_back: Vec<Shaping>,
}

/// turmoil's default message latency range, which the world keeps for
/// every link that is not shaped.
const BASE_LATENCY: (Duration, Duration) = (Duration::ZERO, Duration::from_millis(100));

/// How a pair was last set in turmoil.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum Set {
    #[default]
    Healthy,
    Held,
    OneWay(bool, bool),
}

/// The network's fault state, kept between ticks.
#[derive(Debug, Clone)]
pub struct Net {
    pairs: BTreeMap<(String, String), Pair>,
    set: BTreeMap<(String, String), Set>,
    /// The latency range each link was last given, if it was ever shaped.
    latency: BTreeMap<(String, String), (Duration, Duration)>,
    /// Every link's latency range before shaping.
    base: (Duration, Duration),
}

impl Default for Net {
    fn default() -> Net {
        Net::with_base(BASE_LATENCY)
    }
}

impl Net {
    /// A healthy network whose links' latency is `base` before shaping.
    pub fn with_base(base: (Duration, Duration)) -> Net {
        Net {
            pairs: BTreeMap::new(),
            set: BTreeMap::new(),
            latency: BTreeMap::new(),
            base,
        }
    }
}

fn key(a: &str, b: &str) -> ((String, String), bool) {
    if a < b {
        ((a.to_string(), b.to_string()), true)
    } else {
        ((b.to_string(), a.to_string()), false)
    }
}

/// The engine's view of the simulated world during one call.
pub struct SimNemesis<'a, 'b> {
    /// The simulation.
    pub sim: &'a mut turmoil::Sim<'b>,
    /// The fault state.
    pub net: &'a mut Net,
    /// What the nodes publish.
    pub board: &'a Board,
    /// The nodes' databases.
    pub dbs: &'a Databases,
    /// Every cluster node.
    pub nodes: &'a [String],
    /// The leader now, as the driver sees it.
    pub leader: Option<String>,
    /// The store, and the faults inside it.
    pub modelled: &'a Modelled,
    /// The disco keys of the cluster.
    pub keys: &'a Keys,
    /// Simulated time now.
    pub now: Duration,
}

impl SimNemesis<'_, '_> {
    fn host(name: &str) -> &str {
        if name == STORE {
            REGISTRY
        } else {
            name
        }
    }

    /// Every other host (nodes and the registry).
    fn others(&self, node: &str) -> Vec<String> {
        self.nodes
            .iter()
            .filter(|n| *n != node)
            .cloned()
            .chain([REGISTRY.to_string()])
            .collect()
    }

    fn change(&mut self, a: &str, b: &str, f: impl FnOnce(&mut Pair, bool)) {
        let (k, forward) = key(a, b);
        f(self.net.pairs.entry(k.clone()).or_default(), forward);
        self.sync(&k);
    }

    /// Sets the pair in turmoil to what it is subject to.
    fn sync(&mut self, k: &(String, String)) {
        let p = self.net.pairs.get(k).cloned().unwrap_or_default();
        let want = if p.cut > 0 || p.held > 0 {
            Set::Held
        } else if p.forth > 0 || p.back > 0 {
            Set::OneWay(p.forth > 0, p.back > 0)
        } else {
            Set::Healthy
        };
        let (a, b) = (k.0.as_str(), k.1.as_str());
        let was = self.net.set.get(k).copied().unwrap_or_default();
        if was != want {
            match was {
                // The end of a cut or a thaw delivers what was held.
                Set::Held => self.sim.release(a, b),
                Set::Healthy => {}
                Set::OneWay(..) => self.sim.repair(a, b),
            }
            match want {
                Set::Held => self.sim.hold(a, b),
                Set::OneWay(forth, back) => {
                    if forth {
                        self.sim.partition_oneway(a, b);
                    }
                    if back {
                        self.sim.partition_oneway(b, a);
                    }
                }
                Set::Healthy => {}
            }
            self.net.set.insert(k.clone(), want);
        }
    }

    /// Sets each link of `node` to the highest loss rate asked of it.
    fn sync_loss(&mut self, node: &str) {
        for other in self.others(node) {
            let (k, _) = key(node, &other);
            let rate = self
                .net
                .pairs
                .get(&k)
                .and_then(|p| p.loss.iter().max().copied());
            self.sim.set_link_fail_rate(
                node,
                other.as_str(),
                rate.map_or(0.0, |r| f64::from(r) / 1e6),
            );
        }
    }

    /// The turmoil host a node or store node is on (the model serves every
    /// store node's part).
    fn on_host(&self, name: &str) -> String {
        if self.nodes.iter().any(|n| n == name) {
            name.to_string()
        } else {
            REGISTRY.to_string()
        }
    }

    /// Adds (`add`) or removes one shaping of what `from` sends `to`
    /// (`None`: everyone).
    fn shape(&mut self, from: &str, to: Option<&str>, s: Shaping, add: bool) {
        let from = self.on_host(from);
        let tos = match to {
            Some(t) => vec![self.on_host(t)],
            None => self.others(&from),
        };
        for to in tos.into_iter().filter(|t| *t != from) {
            self.change(&from, &to, |p, fwd| {
                let list = if fwd {
                    &mut p.shaped_forth
                } else {
                    &mut p.shaped_back
                };
                if add {
                    list.push(s);
                } else if let Some(i) = list.iter().position(|x| *x == s) {
                    list.remove(i);
                }
            });
            self.sync_latency(&from, &to);
        }
    }

    /// Sets a link's latency range to the default plus its shaping: the
    /// widest asked each way, averaged over both ways (turmoil's links are
    /// symmetric; the round trip is kept).
    fn sync_latency(&mut self, a: &str, b: &str) {
        let (k, _) = key(a, b);
        let p = self.net.pairs.get(&k).cloned().unwrap_or_default();
        let widest = |l: &[Shaping]| {
            l.iter()
                .map(Shaping::range)
                .fold((Duration::ZERO, Duration::ZERO), |(lo, hi), (l2, h2)| {
                    (lo.max(l2), hi.max(h2))
                })
        };
        let (f, b2) = (widest(&p.shaped_forth), widest(&p.shaped_back));
        // Whole milliseconds: event stepping runs hosts on them.
        let ms = |d: Duration| Duration::from_millis(d.as_millis() as u64);
        let want = (
            self.net.base.0 + ms((f.0 + b2.0) / 2),
            self.net.base.1 + ms((f.1 + b2.1) / 2),
        );
        let was = self.net.latency.get(&k).copied().unwrap_or(self.net.base);
        if was != want {
            self.sim
                .set_link_latency(k.0.as_str(), k.1.as_str(), want.0);
            self.sim
                .set_link_max_message_latency(k.0.as_str(), k.1.as_str(), want.1);
            self.net.latency.insert(k, want);
        }
    }

    fn each_link(&mut self, node: &str, f: impl Fn(&mut Pair)) {
        for other in self.others(node) {
            self.change(node, &other, |p, _| f(p));
        }
    }
}

impl Nemesis for SimNemesis<'_, '_> {
    type Error = Infallible;

    async fn leader(&mut self) -> Option<String> {
        self.leader.clone()
    }

    async fn store_leader(&mut self) -> Option<String> {
        Some(STORE.to_string())
    }

    async fn apply(&mut self, atom: &Atom) -> Result<(), Infallible> {
        match atom {
            Atom::Cut(a, b) => self.change(a, b, |p, _| p.cut += 1),
            Atom::OneWay(a, b) => {
                self.change(a, b, |p, fwd| if fwd { p.forth += 1 } else { p.back += 1 })
            }
            Atom::Isolate(n) => self.each_link(n, |p| p.cut += 1),
            Atom::CutStore(n) => self.change(n, REGISTRY, |p, _| p.cut += 1),
            Atom::Loss(n, ppm) => {
                self.each_link(n, |p| p.loss.push(*ppm));
                self.sync_loss(n);
            }
            Atom::Pause(n) => {
                // Frozen: the node's work is not polled (`freeze`) and its
                // messages both ways are held until the thaw.
                self.board.freeze(n, true);
                self.each_link(n, |p| p.held += 1);
            }
            Atom::Down(n) => {
                self.sim.crash(n.as_str());
                self.board.reset(n);
                self.dbs.killed(n);
            }
            Atom::StoreDown(s) => self.sim.crash(Self::host(s)),
            Atom::Left(n) => self.board.leave(n),
            Atom::ReplyLoss(n, ppm) => {
                let ip = self.sim.lookup(n.as_str());
                self.modelled.chaos.lose_replies(ip, *ppm);
            }
            Atom::ReplyDelay(n, ms) => {
                let ip = self.sim.lookup(n.as_str());
                self.modelled
                    .chaos
                    .delay_replies(ip, Duration::from_millis(*ms));
            }
            Atom::ClockRate(permille) => self
                .modelled
                .chaos
                .clock_rate(self.now, f64::from(*permille) / 1000.0),
            Atom::IndexBack => self.modelled.chaos.set_index_back(true),
            Atom::NodeGone => self.modelled.deregister_node(true),
            Atom::Shape(from, to, s) => self.shape(from, to.as_deref(), *s, true),
            Atom::DbUnready(n) => self.dbs.set_unready(n, true),
        }
        Ok(())
    }

    async fn undo(&mut self, atom: &Atom) -> Result<(), Infallible> {
        match atom {
            Atom::Cut(a, b) => self.change(a, b, |p, _| p.cut -= 1),
            Atom::OneWay(a, b) => {
                self.change(a, b, |p, fwd| if fwd { p.forth -= 1 } else { p.back -= 1 })
            }
            Atom::Isolate(n) => self.each_link(n, |p| p.cut -= 1),
            Atom::CutStore(n) => self.change(n, REGISTRY, |p, _| p.cut -= 1),
            Atom::Loss(n, ppm) => {
                self.each_link(n, |p| {
                    if let Some(i) = p.loss.iter().position(|r| r == ppm) {
                        p.loss.remove(i);
                    }
                });
                self.sync_loss(n);
            }
            Atom::Pause(n) => {
                self.board.freeze(n, false);
                self.each_link(n, |p| p.held -= 1);
            }
            Atom::Down(n) => {
                self.sim.bounce(n.as_str());
                self.board.reset(n);
            }
            Atom::StoreDown(s) => self.sim.bounce(Self::host(s)),
            // Never undone: the node is gone for good.
            Atom::Left(_) => {}
            Atom::ReplyLoss(n, _) => {
                let ip = self.sim.lookup(n.as_str());
                self.modelled.chaos.lose_replies(ip, 0);
            }
            Atom::ReplyDelay(n, _) => {
                let ip = self.sim.lookup(n.as_str());
                self.modelled.chaos.delay_replies(ip, Duration::ZERO);
            }
            Atom::ClockRate(_) => self.modelled.chaos.clock_rate(self.now, 1.0),
            Atom::IndexBack => self.modelled.chaos.set_index_back(false),
            Atom::NodeGone => self.modelled.deregister_node(false),
            Atom::Shape(from, to, s) => self.shape(from, to.as_deref(), *s, false),
            Atom::DbUnready(n) => self.dbs.set_unready(n, false),
        }
        Ok(())
    }

    async fn bounce(&mut self, node: &str) -> Result<(), Infallible> {
        self.sim.bounce(node);
        self.board.reset(node);
        self.dbs.killed(node);
        Ok(())
    }

    async fn database(&mut self, op: &DbOp) -> Result<(), Infallible> {
        match op {
            DbOp::LeaderTo(n) => self.dbs.move_leader(n, self.now),
            DbOp::Crash(n) => self.dbs.crash(n),
            // Refused at load (`Action::needs`): the simulator's database
            // models have no data a move could lose; nearest is a restart.
            DbOp::Reschedule(n) => return self.bounce(n).await,
        }
        Ok(())
    }

    async fn store(&mut self, op: &StoreOp) -> Result<(), Infallible> {
        let m = self.modelled;
        match op {
            StoreOp::DeleteLeaderKey => m.delete(&self.keys.leader()),
            StoreOp::DeleteBootstrapKey => m.delete(&self.keys.bootstrap()),
            StoreOp::DeleteMemberKey(n) => m.delete(&self.keys.member(n)),
            StoreOp::RevokeLease(n) => m.revoke_holder(&self.keys.member(n)),
            StoreOp::CancelWatches => m.cancel_watches(),
            StoreOp::ClockJump(by) => m.chaos.clock_jump(self.now, *by),
        }
        Ok(())
    }
}
