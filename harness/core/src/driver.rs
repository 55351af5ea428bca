//! The run loop's decisions, written once for every world: when the faults
//! fire and when everything still in force is healed, what the referee
//! hears of each step and in which order, and when the run is over. A
//! world supplies its mechanisms (its [`Nemesis`], its clock, what it
//! observed) and its stepping: the simulator steps turmoil tick by tick,
//! the container world waits for its observer's next sample.

use std::time::Duration;

use crate::fault::{Engine, Nemesis};
use crate::referee::{Referee, Timed};
use crate::trace::{EventKind, Trace};
use crate::view::{View, Window};

/// A run's fault engine and referee, and whether the faults are over.
#[derive(Debug)]
pub struct Driver {
    engine: Engine,
    referee: Referee,
    healed: bool,
    stop_at_breach: bool,
}

/// What a world saw in one step besides its view, in the order the referee
/// hears it.
#[derive(Debug, Default)]
pub struct Seen {
    /// The agents' own reports: phases, bootstrap claims, their databases
    /// starting and exiting.
    pub facts: Vec<Timed>,
    /// Bootstraps the nodes committed.
    pub bootstraps: Vec<(Duration, String)>,
    /// What the store showed of the agents' promises: a bootstrap claim
    /// that lapsed before it was committed.
    pub lapses: Vec<Timed>,
    /// Leadership windows the nodes published (`None`: not leading).
    pub published: Vec<(Duration, String, Option<Window>)>,
}

impl Driver {
    /// A run of `engine`'s schedule judged by `referee`.
    pub fn new(engine: Engine, referee: Referee) -> Driver {
        Driver {
            engine,
            referee,
            healed: false,
            stop_at_breach: false,
        }
    }

    /// Ends the run at its first safety breach: the simulator's choice (a
    /// seed that broke is done; the next seed is worth more). A container
    /// run goes on to its end, since the history after a breach is what its
    /// reader needs.
    pub fn stop_at_breach(mut self) -> Driver {
        self.stop_at_breach = true;
        self
    }

    /// The fault engine (its ledger of who is down and who reaches what).
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The referee.
    pub fn referee(&self) -> &Referee {
        &self.referee
    }

    /// Whether every fault has been healed.
    pub fn healed(&self) -> bool {
        self.healed
    }

    /// Whether a fault step is due at `now`, or the schedule is done and
    /// what is in force is still to be healed.
    pub fn due(&self, now: Duration) -> bool {
        !self.healed && self.engine.next_due().is_none_or(|due| due <= now)
    }

    /// Fires what is due at `now` through `world`; once the schedule is
    /// done, heals everything still in force (at `clock()`: a world's
    /// faults take time to set) and tells the referee, whose liveness
    /// checks are about a healed cluster. Each step's events go to `emit`
    /// as soon as the step is done, so a world stamps them with its time.
    pub async fn act<N: Nemesis>(
        &mut self,
        now: Duration,
        clock: &dyn Fn() -> Duration,
        world: &mut N,
        emit: &mut dyn FnMut(EventKind),
    ) -> Result<(), N::Error> {
        self.fire(now, world)
            .await?
            .into_iter()
            .for_each(&mut *emit);
        if !self.healed && self.engine.done() {
            let healed = self.engine.heal_all(clock(), world).await?;
            healed.into_iter().for_each(&mut *emit);
            self.referee.healed(clock());
            self.healed = true;
        }
        Ok(())
    }

    /// Fires what is due at `now` and nothing more (no heal): for faults
    /// set before the nodes start.
    pub async fn fire<N: Nemesis>(
        &mut self,
        now: Duration,
        world: &mut N,
    ) -> Result<Vec<EventKind>, N::Error> {
        if self.healed {
            return Ok(Vec::new());
        }
        self.engine.fire(now, self.referee.past(), world).await
    }

    /// Tells the referee what a step saw, then its view; returns the
    /// events to record.
    pub fn observe(&mut self, seen: Seen, view: &View) -> Vec<Timed> {
        let mut out = Vec::new();
        for (at, e) in seen.facts {
            out.push(self.referee.agent(at, e));
        }
        for (at, n) in &seen.bootstraps {
            out.push(self.referee.bootstrap(*at, n));
        }
        for (at, e) in seen.lapses {
            out.push(self.referee.agent(at, e));
        }
        for (at, n, w) in &seen.published {
            out.extend(self.referee.published(*at, n, *w));
        }
        out.extend(self.referee.observe(view));
        out
    }

    /// Whether the run is over at `view`: every liveness check held, the
    /// convergence deadline passed, or (with [`Self::stop_at_breach`]) a
    /// safety check broke.
    pub fn over(&mut self, view: &View) -> bool {
        (self.stop_at_breach && self.referee.broken())
            || self.referee.converged(view)
            || self.referee.deadline().is_some_and(|d| view.at >= d)
    }

    /// Whether every node is down for good at `at`, nothing bringing one
    /// back: no convergence to wait for.
    pub fn all_down(&mut self, at: Duration) -> bool {
        self.referee.all_down(at)
    }

    /// The closing verdicts over `trace`, ended at `end`.
    pub fn finish(&self, trace: &Trace, end: Duration) -> Vec<Timed> {
        self.referee.finish(trace, end)
    }
}
