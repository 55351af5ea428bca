//! Peak memory: `disco-agent` announcing, watching and campaigning against
//! real etcd while it supervises a child (target under 20 MB), and one
//! simulator seed of the 5-node leader-loss scenario in a process of its
//! own. Both are the kernel's peak RSS figures.

use std::process::{Command, Stdio};

use clusterlab_benches::process::{
    children_peak_rss_kib, mib, peak_rss_kib, release_binary, workspace_root, SETTLE,
};
use clusterlab_benches::{gate, servers};

const CHILD: &str = "CLUSTERLAB_BENCH_SIM_SEED";

fn agent_rss() -> u64 {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let srv = rt.block_on(servers::Server::etcd());
    let mut child = Command::new(release_binary(&["disco"], "disco-agent"))
        .args(["--etcd", &srv.url, "--cluster", "mem", "--node-id", "m1"])
        .args(["--advertise", "m1:7000", "--ttl", "2s", "--", "sleep", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn disco-agent");
    std::thread::sleep(SETTLE);
    let alive = child.try_wait().expect("wait").is_none();
    let rss = peak_rss_kib(child.id());
    let _ = child.kill();
    let _ = child.wait();
    assert!(alive, "disco-agent exited during the sample");
    rss.expect("read /proc/<pid>/status")
}

fn sim_seed_rss() -> u64 {
    let status = Command::new(std::env::current_exe().expect("own path"))
        .env(CHILD, "1")
        .status()
        .expect("re-run self");
    assert!(status.success(), "the simulated seed failed");
    children_peak_rss_kib()
}

fn main() {
    if std::env::var_os(CHILD).is_some() {
        let p = workspace_root().join("scenarios/sim-leader-loss-60s.toml");
        let s = clusterlab_scenario::load(&p).expect("scenario");
        let out = clusterlab_sim::world::run(&s, 1).expect("simulates");
        assert!(out.outcome.passed);
        return;
    }
    // `cargo bench -- <filter>` passes arguments; run only when selected.
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filter.is_empty() && !filter.iter().any(|f| "memory".contains(f.as_str())) {
        return;
    }
    let sim = sim_seed_rss();
    let agent = agent_rss();
    println!(
        "memory: disco-agent peak RSS {} after {SETTLE:?} (target < 20 MB); one sim seed (5 nodes, 60 simulated s) {}",
        mib(agent),
        mib(sim)
    );
    let mut figures = gate::Figures::new();
    figures.insert(
        "memory.disco_agent_mib".into(),
        gate::lower(agent as f64 / 1024.0, "MiB", 0.5),
    );
    figures.insert(
        "memory.sim_seed_mib".into(),
        gate::lower(sim as f64 / 1024.0, "MiB", 0.5),
    );
    gate::record(figures).expect("write figures");
}
