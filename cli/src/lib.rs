//! clusterlab, above both worlds: the `clusterlab` command, and a small API
//! for a user's own `cargo test`: load a scenario, run it in a world, get
//! an [`Outcome`], assert on it.
//!
//! ```no_run
//! # async fn example() -> Result<(), clusterlab::Error> {
//! let scenario = clusterlab::load("scenarios/quick.toml")?;
//! let outcome = clusterlab::Lab::sim().seed(7).run(&scenario).await?;
//! outcome.assert_passed();
//! # Ok(())
//! # }
//! ```
//!
//! [`Lab::containers`] runs the same file against real containers (Docker,
//! images built offline); [`Lab::reports`] writes `results.json`,
//! `junit.xml`, `events.jsonl` and `timeline.svg` for every run.

pub mod catalog;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use clusterlab_containers::run::ContainerEngine;
pub use clusterlab_containers::world::{OnProgress, Progress};
pub use clusterlab_core::trace::Trace;
pub use clusterlab_core::{CheckResult, Outcome};
pub use clusterlab_scenario::{Scenario, ScenarioError, World};
pub use clusterlab_sim::baseline::Strategy;
pub use clusterlab_sim::world::Schedule;

use clusterlab_containers::{docker, world as containers};
use clusterlab_core::report;

/// Why a run could not happen (a failed check is an [`Outcome`], not an
/// error).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The scenario file is bad.
    #[error(transparent)]
    Scenario(#[from] Box<ScenarioError>),
    /// Docker cannot be used.
    #[error(transparent)]
    Docker(#[from] docker::DockerError),
    /// The container world could not carry the run out.
    #[error(transparent)]
    Containers(#[from] containers::WorldError),
    /// The simulator could not carry the run out.
    #[error(transparent)]
    Sim(#[from] clusterlab_sim::world::SimError),
    /// The reports could not be written.
    #[error("cannot write reports under {dir}: {source}")]
    Reports {
        /// Where.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Reads and validates a scenario file.
pub fn load(path: impl AsRef<Path>) -> Result<Scenario, Error> {
    Ok(clusterlab_scenario::load(path.as_ref())?)
}

/// A finished run: its verdict, its trace, where its reports went, and
/// (containers) what each container printed.
#[derive(Debug, Clone)]
pub struct Done {
    /// The verdict.
    pub outcome: Outcome,
    /// Everything that happened.
    pub trace: Trace,
    /// The run's report folder, if reports were asked for.
    pub dir: Option<PathBuf>,
    /// With a generated schedule (simulator), the faults that ran.
    pub generated: Option<Generated>,
}

/// The faults a generated schedule ran: the seed's own, or, when they
/// failed the run, the smallest schedule found that still fails it (the
/// run reported is then that one's).
#[derive(Debug, Clone)]
pub struct Generated {
    /// The faults, as `[[faults]]` tables can say them.
    pub faults: Vec<clusterlab_scenario::Fault>,
    /// Whether the seed's schedule failed, so that these are the smallest
    /// failing schedule the shrinker found (possibly the seed's own).
    pub shrunk: bool,
}

/// How to run a scenario: in which world, with which seed, and where the
/// reports go.
#[derive(Clone)]
pub struct Lab {
    world: World,
    seed: Option<u64>,
    reports: Option<PathBuf>,
    keep: bool,
    engine: ContainerEngine,
    strategy: Strategy,
    schedule: Schedule,
    run_id: Option<String>,
    progress: Option<OnProgress>,
    typed: Option<String>,
}

impl std::fmt::Debug for Lab {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lab")
            .field("world", &self.world)
            .field("seed", &self.seed)
            .field("reports", &self.reports)
            .finish_non_exhaustive()
    }
}

impl Lab {
    fn new(world: World) -> Lab {
        Lab {
            world,
            seed: None,
            reports: None,
            keep: false,
            engine: ContainerEngine::Docker,
            strategy: Strategy::Disco,
            schedule: Schedule::Scenario,
            run_id: None,
            typed: None,
            progress: None,
        }
    }

    /// The deterministic simulator: same seed, same run.
    pub fn sim() -> Lab {
        Lab::new(World::Sim)
    }

    /// Real containers (needs Docker; images are built offline).
    pub fn containers() -> Lab {
        Lab::new(World::Containers)
    }

    /// The seed for the simulator and for `random` fault targets
    /// (default: 0 in the simulator, one from the run id in containers).
    pub fn seed(mut self, seed: u64) -> Lab {
        self.seed = Some(seed);
        self
    }

    /// Writes each run's reports under `dir/<scenario>/<run id>/`.
    pub fn reports(mut self, dir: impl Into<PathBuf>) -> Lab {
        self.reports = Some(dir.into());
        self
    }

    /// Leaves the containers running afterwards (containers only).
    pub fn keep(mut self, keep: bool) -> Lab {
        self.keep = keep;
        self
    }

    /// What runs a container world's nodes: one Docker daemon (the
    /// default) or a Docker Swarm, whose manager `DOCKER_HOST` (or the
    /// local socket) names. The simulator ignores it.
    pub fn engine(mut self, engine: ContainerEngine) -> Lab {
        self.engine = engine;
        self
    }

    /// The node logic the simulator runs (default: disco).
    pub fn strategy(mut self, strategy: Strategy) -> Lab {
        self.strategy = strategy;
        self
    }

    /// Where the faults come from (simulator): the scenario's own, or a
    /// schedule generated from the seed in place of them (a fault that
    /// hits nobody is then no failure), shrunk if the run fails: up to a
    /// few hundred simulations for one failing seed.
    pub fn schedule(mut self, schedule: Schedule) -> Lab {
        self.schedule = schedule;
        self
    }

    /// How the user named the scenario (a name or a path): the replay
    /// command in `report.html` names it so (default: the scenario's name).
    pub fn typed_as(mut self, typed: impl Into<String>) -> Lab {
        self.typed = Some(typed.into());
        self
    }

    /// The command that replays a run of `scenario` with `outcome`'s seed.
    fn replay(&self, scenario: &Scenario, outcome: &Outcome) -> String {
        let typed = self.typed.clone().unwrap_or_else(|| scenario.name.clone());
        replay_command(
            self.world,
            &typed,
            self.strategy.as_str(),
            self.schedule == Schedule::Generated,
            outcome.seed,
        )
    }

    /// The run id (default: time and process id; `seed-N` in the simulator).
    pub fn run_id(mut self, id: impl Into<String>) -> Lab {
        self.run_id = Some(id.into());
        self
    }

    /// Told how far a container run is and what it is doing.
    pub fn progress(mut self, f: impl Fn(Progress<'_>) + Send + Sync + 'static) -> Lab {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Runs `scenario` and returns its verdict. A scenario this world
    /// cannot run (excluded, or a `generic` image not present) is an
    /// outcome that is skipped, never a pass.
    pub async fn run(&self, scenario: &Scenario) -> Result<Outcome, Error> {
        Ok(self.run_full(scenario).await?.outcome)
    }

    /// Runs `scenario`: its verdict, trace and report folder.
    pub async fn run_full(&self, scenario: &Scenario) -> Result<Done, Error> {
        match self.world {
            World::Sim => {
                // turmoil runs its own runtime: off this one's threads.
                let (lab, s) = (self.clone(), scenario.clone());
                tokio::task::spawn_blocking(move || lab.run_sim(&s))
                    .await
                    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
            }
            World::Containers => {
                let (outcome, trace, logs) = self.in_containers(scenario).await?;
                self.done(scenario, outcome, trace, logs.as_ref(), None)
            }
        }
    }

    /// Runs `scenario` in the simulator on this thread: what `clusterlab
    /// sim` calls for one seed and for each seed of a sweep. Call it off
    /// any async runtime (turmoil runs its own and would panic inside
    /// another); from async code, [`Lab::run_full`] runs it on a blocking
    /// thread. With a generated schedule the run is the seed's schedule,
    /// or, if that fails, the smallest failing one the shrinker found:
    /// each run once.
    pub fn run_sim(&self, scenario: &Scenario) -> Result<Done, Error> {
        if let Err(reason) = scenario.supports(World::Sim) {
            let outcome = self.skipped(scenario, reason);
            return self.done(scenario, outcome, Trace::default(), None, None);
        }
        let seed = self.seed.unwrap_or(0);
        let (ran, sim, generated) = match self.schedule {
            Schedule::Scenario => {
                let sim = clusterlab_sim::world::simulate(
                    scenario,
                    seed,
                    self.strategy,
                    Schedule::Scenario,
                )?;
                (scenario.clone(), sim, None)
            }
            Schedule::Generated => {
                use clusterlab_sim::schedule;
                let (faults, sim, shrunk) = match schedule::check(scenario, self.strategy, seed)? {
                    Ok(sim) => (
                        schedule::generated(scenario.discovery.kind, seed),
                        sim,
                        false,
                    ),
                    Err(found) => (found.faults, found.run, true),
                };
                let ran = schedule::with_faults(scenario, faults.clone());
                (ran, sim, Some(Generated { faults, shrunk }))
            }
        };
        let mut outcome = sim.outcome;
        if let Some(id) = &self.run_id {
            outcome.run_id = id.clone();
        }
        self.done(&ran, outcome, sim.trace, None, generated)
    }

    /// A run's end in any world: its reports, if asked for, from the
    /// scenario that ran.
    fn done(
        &self,
        scenario: &Scenario,
        outcome: Outcome,
        trace: Trace,
        logs: Option<&std::collections::BTreeMap<String, String>>,
        generated: Option<Generated>,
    ) -> Result<Done, Error> {
        let dir = match &self.reports {
            None => None,
            Some(out) => {
                let dir = report::write_run(out, scenario, &outcome, &trace)
                    .and_then(|dir| {
                        if let Some(logs) = logs.filter(|_| !outcome.passed) {
                            report::write_logs(&dir, logs)?;
                        }
                        let replay = self.replay(scenario, &outcome);
                        report::write_page(&dir, scenario, &outcome, &trace, &replay)?;
                        Ok(dir)
                    })
                    .map_err(|source| Error::Reports {
                        dir: out.clone(),
                        source,
                    })?;
                Some(dir)
            }
        };
        Ok(Done {
            outcome,
            trace,
            dir,
            generated,
        })
    }

    fn run_id_now(&self) -> String {
        self.run_id.clone().unwrap_or_else(run_id)
    }

    fn skipped(&self, scenario: &Scenario, reason: String) -> Outcome {
        Outcome::skipped(scenario, self.world, &self.run_id_now(), reason)
    }

    async fn in_containers(
        &self,
        scenario: &Scenario,
    ) -> Result<
        (
            Outcome,
            Trace,
            Option<std::collections::BTreeMap<String, String>>,
        ),
        Error,
    > {
        let skip = |reason| Ok((self.skipped(scenario, reason), Trace::default(), None));
        if let Err(reason) = scenario.supports(World::Containers) {
            return skip(reason);
        }
        let docker = docker::connect().await?;
        if let Some(g) = &scenario.cluster.generic {
            if !docker::has_image(&docker, &g.image).await? {
                return skip(format!(
                    "image {} is not present locally and clusterlab does not pull; `docker pull {}` (or load it) first",
                    g.image, g.image
                ));
            }
        }
        let run_id = self.run_id_now();
        let seed = self.seed.unwrap_or_else(|| fnv(&run_id));
        let opts = containers::Options {
            run_id: run_id.clone(),
            seed,
            keep: self.keep,
            engine: self.engine,
            progress: self.progress.clone(),
        };
        let done = containers::run(&docker, scenario, &opts).await?;
        let outcome = Outcome::from_trace(scenario, World::Containers, &run_id, seed, &done.trace);
        Ok((outcome, done.trace, Some(done.logs)))
    }
}

/// A seed derived from a run id (FNV-1a).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A run id that sorts by time and differs between concurrent runs.
pub fn run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms}-{}", std::process::id())
}

/// The command that replays one run: the scenario as the user typed it
/// (quoted for a POSIX shell when it needs to be), the seed, and in the
/// simulator a strategy other than disco and a generated schedule.
pub fn replay_command(
    world: World,
    typed: &str,
    strategy: &str,
    generated: bool,
    seed: u64,
) -> String {
    let arg = shell_quote(typed);
    match world {
        World::Containers => format!("clusterlab run {arg} --seed {seed}"),
        World::Sim => format!(
            "clusterlab sim {arg}{}{} --seed {seed}",
            if strategy == Strategy::Disco.as_str() {
                String::new()
            } else {
                format!(" --strategy {strategy}")
            },
            if generated {
                " --schedule generated"
            } else {
                ""
            },
        ),
    }
}

/// `s` as one word of a POSIX shell: as it is when it holds only safe
/// characters, else in single quotes.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./,:=+@%".contains(c));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod replay_tests {
    use super::*;

    #[test]
    fn replays_name_what_was_typed_quoted_for_the_shell() {
        assert_eq!(
            replay_command(World::Containers, "quick", "disco", false, 7),
            "clusterlab run quick --seed 7"
        );
        assert_eq!(
            replay_command(World::Sim, "dir/my file.toml", "naive", true, 3),
            "clusterlab sim 'dir/my file.toml' --strategy naive --schedule generated --seed 3"
        );
        assert_eq!(
            replay_command(World::Sim, "it's$HOME`x`.toml", "disco", false, 0),
            "clusterlab sim 'it'\\''s$HOME`x`.toml' --seed 0"
        );
    }
}
