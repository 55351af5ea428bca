//! `clusterlab`: run, simulate, list and validate scenario files.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clusterlab_harness::{catalog, report, world};
use clusterlab_scenario::trace::Trace;
use clusterlab_scenario::{Scenario, World};
use indicatif::{ProgressBar, ProgressStyle};

use cli::{Cli, Command};

/// Exit code for bad input: a scenario that does not validate, an unknown
/// scenario name, a world that cannot run here.
const BAD_INPUT: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Long paths and messages stay on one line, so they can be grepped.
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                // Simulated nodes warn about every simulated fault.
                if matches!(cli.command, Command::Sim(_)) {
                    "error".into()
                } else {
                    "warn".into()
                }
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let dir = cli
        .scenario_dir
        .clone()
        .unwrap_or_else(catalog::default_dir);
    match cli.command {
        Command::Validate { files } => validate(&dir, files),
        Command::List => list(&dir),
        Command::Run(args) => {
            let names = if args.scenarios.is_empty() {
                vec!["quick".to_string()]
            } else {
                args.scenarios.clone()
            };
            let Some(loaded) = load_all(&dir, &names) else {
                return ExitCode::from(BAD_INPUT);
            };
            run_containers(&loaded, &args)
        }
        Command::Sim(args) => {
            let Some(loaded) = load_all(&dir, std::slice::from_ref(&args.scenario)) else {
                return ExitCode::from(BAD_INPUT);
            };
            simulate(&loaded[0], &args)
        }
    }
}

/// Loads every named scenario, printing each error; `None` if any failed.
fn load_all(dir: &std::path::Path, names: &[String]) -> Option<Vec<Scenario>> {
    let mut ok = Vec::new();
    let mut failed = false;
    for n in names {
        match clusterlab_scenario::load(&catalog::resolve(n, dir)) {
            Ok(s) => ok.push(s),
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(*e));
                failed = true;
            }
        }
    }
    (!failed).then_some(ok)
}

/// The scenario files in `dir`, or exit 2 with a hint.
fn shipped(dir: &std::path::Path) -> Result<Vec<PathBuf>, ExitCode> {
    catalog::files_in(dir).map_err(|e| {
        eprintln!(
            "clusterlab: cannot read {}: {e}; pass --scenario-dir DIR or set CLUSTERLAB_SCENARIOS",
            dir.display()
        );
        ExitCode::from(BAD_INPUT)
    })
}

/// `containers, sim`.
fn world_names(s: &Scenario, sep: &str) -> String {
    s.worlds
        .iter()
        .map(|w| w.as_str())
        .collect::<Vec<_>>()
        .join(sep)
}

fn validate(dir: &std::path::Path, files: Vec<PathBuf>) -> ExitCode {
    let files = if files.is_empty() {
        match shipped(dir) {
            Ok(f) => f,
            Err(code) => return code,
        }
    } else {
        files
    };
    let mut bad = 0;
    for f in &files {
        match clusterlab_scenario::load(f) {
            Ok(s) => {
                println!(
                    "ok    {} ({}; {} faults)",
                    f.display(),
                    world_names(&s, ", "),
                    s.faults.len()
                );
            }
            Err(e) => {
                bad += 1;
                println!("FAIL  {}", f.display());
                eprintln!("{:?}", miette::Report::new(*e));
            }
        }
    }
    println!("{} valid, {} invalid", files.len() - bad, bad);
    if bad > 0 {
        ExitCode::from(BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}

fn list(dir: &std::path::Path) -> ExitCode {
    let files = match shipped(dir) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut code = ExitCode::SUCCESS;
    for f in files {
        match clusterlab_scenario::load(&f) {
            Ok(s) => {
                println!(
                    "{:<28} {:<16} {:>5}s  {}",
                    s.name,
                    world_names(&s, ","),
                    s.duration.as_secs(),
                    s.description
                );
            }
            Err(e) => {
                eprintln!("{e}");
                code = ExitCode::from(BAD_INPUT);
            }
        }
    }
    code
}

/// Runs scenarios in containers, one after another. What cannot run here
/// is reported as skipped (never as passed); every run writes its reports,
/// plus the containers' logs when it fails. Ctrl-C or SIGTERM stops the
/// run and removes its containers before exiting.
fn run_containers(scenarios: &[Scenario], args: &cli::RunArgs) -> ExitCode {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let docker = match clusterlab_harness::docker::connect().await {
            Ok(d) => d,
            Err(e) => {
                eprintln!("clusterlab: {e}");
                return ExitCode::from(BAD_INPUT);
            }
        };
        let mut failed = false;
        for s in scenarios {
            let run_id = run_id();
            let reason = match s.supports(World::Containers) {
                Err(reason) => Some(reason),
                Ok(()) => match &s.cluster.generic {
                    Some(g) => match clusterlab_harness::docker::has_image(&docker, &g.image).await {
                        Ok(true) => Some(format!(
                            "image {} is present, but generic clusters are not run by the container world yet",
                            g.image
                        )),
                        Ok(false) => Some(format!(
                            "image {} is not present locally and clusterlab does not pull; `docker pull {}` (or load it) first",
                            g.image, g.image
                        )),
                        Err(e) => {
                            eprintln!("clusterlab: {e}");
                            return ExitCode::from(BAD_INPUT);
                        }
                    },
                    None => None,
                },
            };
            if let Some(reason) = reason {
                let outcome = report::Outcome::skipped(s, World::Containers, &run_id, reason);
                if let Err(code) = write(args, s, &outcome, &Trace::default(), None) {
                    return code;
                }
                continue;
            }
            let seed = args.seed.unwrap_or_else(|| fnv(&run_id));
            let bar = progress(s);
            let opts = world::Options {
                run_id: run_id.clone(),
                seed,
                keep: args.keep,
                progress: Some(bar.clone()),
            };
            let result = tokio::select! {
                r = world::run(&docker, s, &opts) => r,
                sig = interrupted() => {
                    bar.finish_and_clear();
                    // Dropping the run future removed its containers.
                    eprintln!("clusterlab: {sig}: run {run_id} stopped and removed");
                    return ExitCode::from(130);
                }
            };
            bar.finish_and_clear();
            match result {
                Ok(done) => {
                    let outcome =
                        report::Outcome::from_trace(s, World::Containers, &run_id, seed, &done.trace);
                    failed |= !outcome.passed;
                    let logs = (!outcome.passed).then_some(&done.logs);
                    if let Err(code) = write(args, s, &outcome, &done.trace, logs) {
                        return code;
                    }
                }
                Err(e) => {
                    eprintln!("clusterlab: {}: {e}", s.name);
                    return ExitCode::from(match e {
                        world::WorldError::Timeout(_) | world::WorldError::Nemesis(_) => 1,
                        _ => BAD_INPUT,
                    });
                }
            }
        }
        if failed {
            ExitCode::from(1)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// Writes a run's reports (and `logs/<node>.log` if given) and prints its
/// summary line.
fn write(
    args: &cli::RunArgs,
    s: &Scenario,
    outcome: &report::Outcome,
    trace: &Trace,
    logs: Option<&std::collections::BTreeMap<String, String>>,
) -> Result<(), ExitCode> {
    let written = report::write_run(&args.out, s, outcome, trace).and_then(|dir| {
        if let Some(logs) = logs {
            report::write_logs(&dir, logs)?;
        }
        Ok(dir)
    });
    match written {
        Ok(dir) => {
            println!("{}  ({})", outcome.summary(), dir.display());
            Ok(())
        }
        Err(e) => {
            eprintln!(
                "clusterlab: cannot write reports under {}: {e}",
                args.out.display()
            );
            Err(ExitCode::from(1))
        }
    }
}

/// A bar over the scenario's length, in seconds.
fn progress(s: &Scenario) -> ProgressBar {
    let bar = ProgressBar::new(s.duration.as_secs());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}")
            .expect("valid template"),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Resolves on Ctrl-C or SIGTERM, naming it.
async fn interrupted() -> &'static str {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "interrupted",
        _ = term.recv() => "terminated",
    }
}

/// A seed derived from the run id (FNV-1a).
fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A run id that sorts by time and differs between concurrent runs.
fn run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms}-{}", std::process::id())
}

/// `clusterlab sim`: one seed replayed with its full reports, or many seeds
/// in parallel with a replay command for each failure.
fn simulate(s: &Scenario, args: &cli::SimArgs) -> ExitCode {
    if let Err(reason) = s.supports(World::Sim) {
        println!("SKIP  {} [sim]: {reason}", s.name);
        return ExitCode::SUCCESS;
    }
    let strategy = clusterlab_sim::baseline::Strategy::parse(&args.strategy)
        .expect("clap checked the strategy");
    if matches!(args.schedule, cli::Schedule::Generated) {
        return generated(s, args, strategy);
    }
    if let Some(seed) = args.seed {
        return match clusterlab_sim::world::run_with(s, seed, strategy) {
            Ok(out) => {
                let run_id = format!("seed-{seed}");
                let outcome = report::Outcome::from_trace(s, World::Sim, &run_id, seed, &out.trace);
                match report::write_run(&args.out, s, &outcome, &out.trace) {
                    Ok(dir) => println!("{}  ({})", outcome.summary(), dir.display()),
                    Err(e) => {
                        eprintln!(
                            "clusterlab: cannot write reports under {}: {e}",
                            args.out.display()
                        );
                        return ExitCode::from(1);
                    }
                }
                if outcome.passed {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("clusterlab: {}: {e}", s.name);
                ExitCode::from(BAD_INPUT)
            }
        };
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    let bar = ProgressBar::new(args.seeds);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} seeds {msg}",
        )
        .expect("valid template"),
    );
    let next = std::sync::atomic::AtomicU64::new(0);
    let failures = std::sync::Mutex::new(Vec::new());
    let started = std::time::Instant::now();
    let unsupported = std::sync::Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if seed >= args.seeds {
                    return;
                }
                match clusterlab_sim::world::run_with(s, seed, strategy) {
                    Ok(out) if out.violations.is_empty() => {}
                    Ok(out) => failures
                        .lock()
                        .expect("failures lock")
                        .push((seed, out.violations[0].clone())),
                    Err(e) => {
                        *unsupported.lock().expect("lock") = Some(e.to_string());
                        return;
                    }
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
    for (seed, v) in &failures {
        println!(
            "FAIL  {} seed {seed}: {}: {}\n      replay: clusterlab sim {} --strategy {} --seed {seed}",
            s.name, v.invariant, v.detail, s.name, args.strategy
        );
    }
    println!(
        "{}  {} [sim] {} seeds, {} failed, {:.1}s on {workers} threads ({:.0} seeds/min)",
        if failures.is_empty() { "PASS" } else { "FAIL" },
        s.name,
        args.seeds,
        failures.len(),
        secs,
        args.seeds as f64 / secs * 60.0
    );
    if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// `--schedule generated`: proptest draws `--seeds` fault schedules; the
/// first that breaks an invariant is shrunk and printed as `[[faults]]`.
fn generated(
    s: &Scenario,
    args: &cli::SimArgs,
    strategy: clusterlab_sim::baseline::Strategy,
) -> ExitCode {
    use clusterlab_sim::schedule;
    let cases = u32::try_from(args.seeds).unwrap_or(u32::MAX);
    let started = std::time::Instant::now();
    match schedule::search(s, strategy, cases, 0) {
        None => {
            println!(
                "PASS  {} [sim, {}] {cases} generated schedules held every invariant ({:.1}s)",
                s.name,
                args.strategy,
                started.elapsed().as_secs_f64()
            );
            ExitCode::SUCCESS
        }
        Some(found) => {
            println!(
                "FAIL  {} [sim, {}] {}: {}\nshrunk schedule:\n{}replay: clusterlab sim {} --strategy {} --schedule generated --seeds {cases}",
                s.name,
                args.strategy,
                found.violation.invariant,
                found.violation.detail,
                schedule::to_toml(&found.faults),
                s.name,
                args.strategy
            );
            ExitCode::from(1)
        }
    }
}
