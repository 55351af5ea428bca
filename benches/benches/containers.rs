//! Containers (opt-in: `CLUSTERLAB_BENCH_CONTAINERS=1`, minutes per case):
//! cluster formation for 3, 5 and 7 etcd nodes through discovery, and
//! failover for etcd, Consul and Patroni, each from one `clusterlab run`
//! (the lab's own measurements, through the same `clusterlab::Lab` the
//! command and the tests use).

use clusterlab::{Lab, Outcome};
use clusterlab_benches::gate;
use clusterlab_benches::process::{release_binary, workspace_root};

/// Runs one scenario file in containers; its outcome, which must pass.
fn run(rt: &tokio::runtime::Runtime, file: &std::path::Path) -> Outcome {
    let scenario = clusterlab::load(file).expect("a valid scenario");
    let lab = Lab::containers().reports(workspace_root().join("target/clusterlab"));
    let outcome = rt.block_on(lab.run(&scenario)).expect("the run happens");
    outcome.assert_passed();
    outcome
}

fn main() {
    if std::env::var_os("CLUSTERLAB_BENCH_CONTAINERS").is_none() {
        println!("containers: skipped (set CLUSTERLAB_BENCH_CONTAINERS=1 to run; it takes several minutes)");
        return;
    }
    // The images take the agent from beside the running executable.
    let agent = release_binary(&["disco"], "disco-agent");
    std::env::set_var("CLUSTERLAB_DISCO_AGENT", &agent);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
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
        let ms = run(&rt, &file).convergence_ms.expect("formation measured") as f64;
        println!("containers: {n} etcd nodes formed in {:.1} s", ms / 1000.0);
        figures.insert(
            format!("containers.formation_{n}_s"),
            gate::lower(ms / 1000.0, "s", 1.0),
        );
    }
    for scenario in ["quick", "consul-leader-kill", "patroni-etcd-failover"] {
        let file = workspace_root().join(format!("scenarios/{scenario}.toml"));
        let ms = run(&rt, &file).failover_ms.expect("failover measured") as f64;
        println!("containers: {scenario} failed over in {:.1} s", ms / 1000.0);
        figures.insert(
            format!("containers.failover_{scenario}_s"),
            gate::lower(ms / 1000.0, "s", 1.0),
        );
    }
    gate::record(figures).expect("write figures");
}
