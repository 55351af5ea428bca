//! `clusterlab`: run, simulate, list and validate scenario files.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use clusterlab_harness::{catalog, report};
use clusterlab_scenario::trace::Trace;
use clusterlab_scenario::{Scenario, World};

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
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
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
            not_built(&loaded, World::Sim, "the simulated world (sim issue)")
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

/// Runs scenarios in containers: what cannot run here is reported as
/// skipped, with its reports written; the rest needs the container world.
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
        let mut unrunnable = Vec::new();
        for s in scenarios {
            let run_id = run_id();
            let reason = match s.supports(World::Containers) {
                Err(reason) => Some(reason),
                Ok(()) => match &s.cluster.generic {
                    Some(g) => match clusterlab_harness::docker::has_image(&docker, &g.image).await {
                        Ok(true) => None,
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
            match reason {
                Some(reason) => {
                    let outcome = report::Outcome::skipped(s, World::Containers, &run_id, reason);
                    match report::write_run(&args.out, s, &outcome, &Trace::default()) {
                        Ok(dir) => println!("{}  ({})", outcome.summary(), dir.display()),
                        Err(e) => {
                            eprintln!("clusterlab: cannot write reports under {}: {e}", args.out.display());
                            return ExitCode::from(1);
                        }
                    }
                }
                None => unrunnable.push(s.clone()),
            }
        }
        if unrunnable.is_empty() {
            ExitCode::SUCCESS
        } else {
            not_built(&unrunnable, World::Containers, "the container world (harness issue)")
        }
    })
}

/// A run id that sorts by time and differs between concurrent runs.
fn run_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("{ms}-{}", std::process::id())
}

fn not_built(scenarios: &[Scenario], world: World, what: &str) -> ExitCode {
    for s in scenarios {
        match s.supports(world) {
            Ok(()) => println!(
                "valid {} ({} faults, {}s)",
                s.name,
                s.faults.len(),
                s.duration.as_secs()
            ),
            Err(reason) => println!("skip  {}: {reason}", s.name),
        }
    }
    eprintln!(
        "clusterlab: {what} is not built yet; the scenarios above are valid. `bash ci/demo.sh` runs a cold start and leader loss through real etcd today."
    );
    ExitCode::from(BAD_INPUT)
}
