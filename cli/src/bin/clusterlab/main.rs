//! `clusterlab`: run, simulate, list and validate scenario files.

mod cli;
mod doctor;
mod history;
mod merge;
mod setup;
mod sim;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clusterlab::{catalog, Lab, Progress, Scenario};
use indicatif::{ProgressBar, ProgressStyle};

use cli::{Cli, Command};

/// Exit code for bad input: a scenario that does not validate, an unknown
/// scenario name, a world that cannot run here.
pub(crate) const BAD_INPUT: u8 = 2;

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
    // A user's command may fetch what a scenario needs; tests and library
    // users get an error naming `clusterlab setup` instead.
    clusterlab_containers::image::setup::fetch_on_first_use(true);
    let dir = cli.scenario_dir.clone().or_else(catalog::default_dir);
    let dir = dir.as_deref();
    match cli.command {
        Command::Validate { files } => validate(dir, files),
        Command::List => list(dir),
        Command::Check { history } => history::check(&history),
        Command::Export { history, out, .. } => history::export(&history, out.as_deref()),
        Command::Run(args) => {
            let names = if args.scenarios.is_empty() {
                vec!["quick".to_string()]
            } else {
                args.scenarios.clone()
            };
            let Some(loaded) = load_all(dir, &names) else {
                return ExitCode::from(BAD_INPUT);
            };
            run_containers(&loaded, &names, &args)
        }
        Command::Sim(args) => {
            let Some(loaded) = load_all(dir, std::slice::from_ref(&args.scenario)) else {
                return ExitCode::from(BAD_INPUT);
            };
            sim::simulate(&loaded[0], &args)
        }
        Command::Merge { paths } => merge::merge(&paths),
        Command::Report { dir } => report(&dir),
        Command::Setup { kinds } => setup::setup(&kinds),
        Command::Doctor => doctor::doctor(),
    }
}

/// `clusterlab report`: the index over a results folder.
fn report(dir: &std::path::Path) -> ExitCode {
    match clusterlab_core::report::index::write(dir) {
        Ok((_, 0)) => {
            eprintln!(
                "clusterlab report: no run under {} (a run writes <DIR>/<scenario>/<run-id>/results.json); give the --out folder of `clusterlab run` or `sim`",
                dir.display()
            );
            ExitCode::from(BAD_INPUT)
        }
        Ok((page, n)) => {
            println!("{n} runs: {}", page.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "clusterlab report: cannot index {}: {e}; give the --out folder of `clusterlab run` or `sim`",
                dir.display()
            );
            ExitCode::from(BAD_INPUT)
        }
    }
}

/// Loads every named scenario, printing each error; `None` if any failed.
fn load_all(dir: Option<&std::path::Path>, names: &[String]) -> Option<Vec<Scenario>> {
    let mut ok = Vec::new();
    let mut failed = false;
    for n in names {
        match catalog::load(n, dir) {
            Ok(s) => ok.push(s),
            Err(e) => {
                eprintln!("{:?}", miette::Report::new(*e));
                failed = true;
            }
        }
    }
    (!failed).then_some(ok)
}

/// Every scenario in `dir` (or shipped), or exit 2 with a hint.
fn shipped(dir: Option<&std::path::Path>) -> Result<Vec<catalog::Loaded>, ExitCode> {
    catalog::all(dir).map_err(|e| {
        eprintln!(
            "clusterlab: cannot read {}: {e}; pass --scenario-dir DIR or set CLUSTERLAB_SCENARIOS",
            dir.map_or_else(|| "the scenarios".into(), |d| d.display().to_string())
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

fn validate(dir: Option<&std::path::Path>, files: Vec<PathBuf>) -> ExitCode {
    let loaded = if files.is_empty() {
        match shipped(dir) {
            Ok(f) => f,
            Err(code) => return code,
        }
    } else {
        files
            .iter()
            .map(|f| (f.display().to_string(), clusterlab_scenario::load(f)))
            .collect()
    };
    let mut bad = 0;
    let total = loaded.len();
    for (f, s) in loaded {
        match s {
            Ok(s) => {
                println!(
                    "ok    {f} ({}; {} faults)",
                    world_names(&s, ", "),
                    s.faults.len()
                );
            }
            Err(e) => {
                bad += 1;
                println!("FAIL  {f}");
                eprintln!("{:?}", miette::Report::new(*e));
            }
        }
    }
    println!("{} valid, {} invalid", total - bad, bad);
    if bad > 0 {
        ExitCode::from(BAD_INPUT)
    } else {
        ExitCode::SUCCESS
    }
}

fn list(dir: Option<&std::path::Path>) -> ExitCode {
    let loaded = match shipped(dir) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut code = ExitCode::SUCCESS;
    let mut out = std::io::stdout().lock();
    for (_, s) in loaded {
        match s {
            Ok(s) => {
                // A closed pipe (`clusterlab list | head`) ends the listing.
                if writeln!(
                    out,
                    "{:<28} {:<16} {:>5}s  {}",
                    s.name,
                    world_names(&s, ","),
                    s.duration.as_secs(),
                    s.description
                )
                .is_err()
                {
                    return code;
                }
            }
            Err(e) => {
                eprintln!("{e}");
                code = ExitCode::from(BAD_INPUT);
            }
        }
    }
    code
}

/// Prints a run's summary line and report folder.
pub(crate) fn print(done: &clusterlab::Done) {
    match &done.dir {
        Some(dir) => println!(
            "{}  ({})\n      report: {}",
            done.outcome.summary(),
            dir.display(),
            dir.join("report.html").display()
        ),
        None => println!("{}", done.outcome.summary()),
    }
}

/// Runs scenarios in containers, one after another. What cannot run here
/// is reported as skipped (never as passed); every run writes its reports,
/// plus the containers' logs when it fails. Ctrl-C or SIGTERM stops the
/// run and removes its containers before exiting.
fn run_containers(scenarios: &[Scenario], typed: &[String], args: &cli::RunArgs) -> ExitCode {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let mut failed = false;
        for (s, typed) in scenarios.iter().zip(typed) {
            let bar = progress(s);
            let shown = bar.clone();
            let name = s.name.clone();
            let mut lab = Lab::containers()
                .typed_as(typed)
                .reports(&args.out)
                .keep(args.keep)
                .engine(match args.engine {
                    cli::EngineArg::Docker => clusterlab::ContainerEngine::Docker,
                    cli::EngineArg::Swarm => clusterlab::ContainerEngine::Swarm,
                })
                .progress(move |p| match p {
                    Progress::Elapsed(secs) => shown.set_position(secs),
                    Progress::Doing(msg) => shown.set_message(format!("{name}: {msg}")),
                });
            if let Some(seed) = args.seed {
                lab = lab.seed(seed);
            }
            let result = tokio::select! {
                r = lab.run_full(s) => r,
                sig = interrupted() => {
                    bar.finish_and_clear();
                    // Dropping the run future removed its containers.
                    eprintln!("clusterlab: {sig}: {} stopped and its containers removed", s.name);
                    return ExitCode::from(130);
                }
            };
            bar.finish_and_clear();
            match result {
                Ok(done) => {
                    failed |= !done.outcome.passed && done.outcome.skipped.is_none();
                    print(&done);
                }
                Err(e) => {
                    eprintln!("clusterlab: {}: {e}", s.name);
                    return ExitCode::from(match e {
                        clusterlab::Error::Reports { .. } => 1,
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
