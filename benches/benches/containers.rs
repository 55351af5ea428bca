//! Containers (opt-in: `CLUSTERLAB_BENCH_CONTAINERS=1`, minutes per case):
//! cluster formation for 3, 5 and 7 etcd nodes through discovery, and
//! failover for etcd, Consul and Patroni, each from one `clusterlab run`
//! (the harness's own measurements in `results.json`).

use std::path::Path;
use std::process::Command;

use clusterlab_benches::gate;
use clusterlab_benches::process::{release_binary, workspace_root};

/// Runs one scenario file; returns its `results.json`.
fn run(bin: &Path, file: &Path, name: &str) -> serde_json::Value {
    let status = Command::new(bin)
        .arg("run")
        .arg(file)
        .current_dir(workspace_root())
        .status()
        .expect("run clusterlab");
    assert!(status.success(), "clusterlab run {} failed", file.display());
    let results = workspace_root().join(format!("target/clusterlab/{name}/latest/results.json"));
    serde_json::from_str(&std::fs::read_to_string(&results).expect("results.json"))
        .expect("valid results.json")
}

fn main() {
    if std::env::var_os("CLUSTERLAB_BENCH_CONTAINERS").is_none() {
        println!("containers: skipped (set CLUSTERLAB_BENCH_CONTAINERS=1 to run; it takes several minutes)");
        return;
    }
    let bin = release_binary(&["clusterlab-harness", "disco"], "clusterlab");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut figures = gate::Figures::new();
    for n in [3, 5, 7] {
        let name = format!("bench-formation-{n}");
        let file = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &file,
            format!(
                "description = \"{n} etcd nodes form through etcd discovery\"\nworlds = [\"containers\"]\n\
                 [excluded]\nsim = \"a container benchmark\"\n\
                 [discovery]\nkind = \"etcd\"\nttl = \"3s\"\n[cluster]\nkind = \"etcd\"\nnodes = {n}\n\
                 [expect]\nconverge_within = \"120s\"\n"
            ),
        )
        .expect("write scenario");
        let r = run(&bin, &file, &name);
        let ms = r["convergence_ms"].as_f64().expect("formation measured");
        println!("containers: {n} etcd nodes formed in {:.1} s", ms / 1000.0);
        figures.insert(
            format!("containers.formation_{n}_s"),
            gate::lower(ms / 1000.0, "s", 1.0),
        );
    }
    for scenario in ["quick", "consul-leader-kill", "patroni-etcd-failover"] {
        let file = workspace_root().join(format!("scenarios/{scenario}.toml"));
        let r = run(&bin, &file, scenario);
        let ms = r["failover_ms"].as_f64().expect("failover measured");
        println!("containers: {scenario} failed over in {:.1} s", ms / 1000.0);
        figures.insert(
            format!("containers.failover_{scenario}_s"),
            gate::lower(ms / 1000.0, "s", 1.0),
        );
    }
    gate::record(figures).expect("write figures");
}
