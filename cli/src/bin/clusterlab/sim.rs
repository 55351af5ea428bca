//! `clusterlab sim`: one seed replayed with its full reports, or many seeds
//! in parallel with the command that replays each failure alone; with
//! `--shard K/M`, this machine's share of the seeds and a verdict file for
//! `clusterlab merge`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use clusterlab::{Lab, Outcome, Scenario, Schedule, Strategy, World};
use clusterlab_sim::schedule;
use indicatif::{ProgressBar, ProgressStyle};

use crate::cli;
use crate::merge::{Failure, Verdict};
use crate::BAD_INPUT;

/// Runs `clusterlab sim` on the loaded scenario `s`.
pub fn simulate(s: &Scenario, args: &cli::SimArgs) -> ExitCode {
    if let Err(reason) = s.supports(World::Sim) {
        println!("SKIP  {} [sim]: {reason}", s.name);
        return ExitCode::SUCCESS;
    }
    let strategy = Strategy::parse(&args.strategy).expect("clap checked the strategy");
    let generated = matches!(args.schedule, cli::Schedule::Generated);
    let faults = if generated {
        Schedule::Generated
    } else {
        Schedule::Scenario
    };
    if let Some(seed) = args.seed {
        return replay_one(s, args, strategy, seed, faults);
    }
    // A seed the simulator would refuse is refused before any runs (a
    // generated schedule replaces the scenario's faults: its runs say).
    if let Err(e) = clusterlab_sim::world::limit(s) {
        if !generated {
            eprintln!("clusterlab: {e}");
            return ExitCode::from(BAD_INPUT);
        }
    }
    let (k, m) = args.shard.unwrap_or((1, 1));
    // This shard's seeds: K-1, K-1+M, ... below --seeds.
    let mine = if args.seeds >= k {
        (args.seeds - k) / m + 1
    } else {
        0
    };
    let seed_of = |i: u64| (k - 1) + i * m;
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bar = ProgressBar::new(mine);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} seeds, {msg}",
        )
        .expect("valid template"),
    );
    bar.set_message("0 failed");
    // The elapsed time moves every second even while a long seed runs.
    bar.enable_steady_tick(std::time::Duration::from_secs(1));
    let next = AtomicU64::new(0);
    let failures: Mutex<Vec<(u64, String)>> = Mutex::new(Vec::new());
    let unsupported = Mutex::new(None);
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= mine || unsupported.lock().expect("lock").is_some() {
                    return;
                }
                let seed = seed_of(i);
                let lab = Lab::sim().seed(seed).strategy(strategy).schedule(faults);
                let failed = match lab.run_sim(s) {
                    Ok(done) if done.outcome.passed => None,
                    Ok(done) => Some(match &done.generated {
                        Some(g) if g.shrunk => format!(
                            "{}\n      shrunk schedule:\n{}",
                            failed_checks(&done.outcome),
                            indent(&schedule::to_toml(&g.faults))
                        ),
                        _ => failed_checks(&done.outcome),
                    }),
                    Err(e) => {
                        *unsupported.lock().expect("lock") = Some(e.to_string());
                        return;
                    }
                };
                if let Some(f) = failed {
                    let mut all = failures.lock().expect("failures lock");
                    all.push((seed, f));
                    bar.set_message(format!("{} failed", all.len()));
                }
                bar.inc(1);
            });
        }
    });
    bar.finish_and_clear();
    if let Some(e) = unsupported.into_inner().expect("lock") {
        eprintln!("clusterlab: {}: {e}", s.name);
        return ExitCode::from(BAD_INPUT);
    }
    let mut failures = failures.into_inner().expect("failures lock");
    failures.sort_by_key(|(seed, _)| *seed);
    let secs = started.elapsed().as_secs_f64();
    let replay_of = |seed| {
        clusterlab::replay_command(World::Sim, &args.scenario, &args.strategy, generated, seed)
    };
    for (seed, what) in &failures {
        println!(
            "FAIL  {} seed {seed}: {what}\n      replay: {}",
            s.name,
            replay_of(*seed)
        );
    }
    let shard = match args.shard {
        Some((k, m)) => format!(", shard {k}/{m}"),
        None => String::new(),
    };
    println!(
        "{}  {} [sim{}] {} seeds{shard}, {} failed, {:.1}s on {workers} threads ({:.0} seeds/min)",
        if failures.is_empty() { "PASS" } else { "FAIL" },
        s.name,
        if generated {
            ", generated schedules"
        } else {
            ""
        },
        mine,
        failures.len(),
        secs,
        mine as f64 / secs.max(1e-9) * 60.0
    );
    if let Some((k, m)) = args.shard {
        let verdict = Verdict {
            format: Verdict::FORMAT.into(),
            scenario: args.scenario.clone(),
            name: s.name.clone(),
            strategy: args.strategy.clone(),
            generated,
            seeds: args.seeds,
            shard: (k, m),
            ran: mine,
            elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            failures: failures
                .iter()
                .map(|(seed, what)| Failure {
                    seed: *seed,
                    checks: what.clone(),
                    replay: replay_of(*seed),
                })
                .collect(),
        };
        match verdict.write(&args.out) {
            Ok(path) => println!("verdict: {}", path.display()),
            Err(e) => {
                eprintln!("clusterlab: cannot write the shard's verdict: {e}");
                return ExitCode::from(BAD_INPUT);
            }
        }
    }
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// The failed checks of a run, each by its own name: `name: detail; ...`.
fn failed_checks(outcome: &Outcome) -> String {
    outcome
        .failures()
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect::<Vec<_>>()
        .join("; ")
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("        {l}\n"))
        .collect::<String>()
}

/// One seed, with its full reports. A generated schedule is shrunk if it
/// fails, and the shrunk run is the one reported.
fn replay_one(
    s: &Scenario,
    args: &cli::SimArgs,
    strategy: Strategy,
    seed: u64,
    faults: Schedule,
) -> ExitCode {
    let generated = faults == Schedule::Generated;
    let lab = Lab::sim()
        .typed_as(&args.scenario)
        .seed(seed)
        .strategy(strategy)
        .reports(&args.out)
        .schedule(faults)
        .run_id(if generated {
            format!("generated-seed-{seed}")
        } else {
            format!("seed-{seed}")
        });
    match lab.run_sim(s) {
        Ok(done) => {
            if let Some(g) = done.generated.as_ref().filter(|g| g.shrunk) {
                println!(
                    "seed {seed}: the generated schedule fails; shrunk to:\n{}",
                    schedule::to_toml(&g.faults)
                );
            }
            crate::print(&done);
            for c in done.outcome.failures() {
                println!("      {} at {} ms: {}", c.name, c.at_ms, c.detail);
            }
            if done.outcome.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!("clusterlab: {}: {e}", s.name);
            ExitCode::from(BAD_INPUT)
        }
    }
}

/// Where a sweep's verdict file goes.
pub fn verdict_path(out: &std::path::Path, v: &Verdict) -> PathBuf {
    out.join(&v.name).join("sweep").join(format!(
        "{}-{}-{}seeds-{}of{}.json",
        v.strategy,
        if v.generated { "generated" } else { "scenario" },
        v.seeds,
        v.shard.0,
        v.shard.1
    ))
}
