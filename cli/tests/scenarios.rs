//! The shipped scenarios, run against real containers exactly as
//! `clusterlab run` runs them (through the same `clusterlab::Lab`), plus the
//! proofs that a run can fail, that an interrupted run leaves nothing
//! behind, and that the two worlds fire the same faults: every shipped
//! scenario that runs in both worlds is also simulated with the same seed,
//! and the two fault schedules are compared.
//!
//! Reports of every run land in `target/tmp/clusterlab/<scenario>/latest/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use std::collections::HashMap;

use clusterlab::{ContainerEngine, Done, Lab, Scenario, World};
use clusterlab_containers::run::{self, PID_LABEL};
use clusterlab_core::fault;
use clusterlab_core::trace::{EventKind, Trace};
use clusterlab_scenario::{ClusterKind, WorkloadKind};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn out_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("clusterlab")
}

const SEED: u64 = 7;

/// Two slots for container runs. A cluster of disco-agents over etcd or
/// Consul takes one: it mostly waits on timers, so two such runs side by
/// side barely touch each other's figures, and they are half the suite's
/// count. RabbitMQ, Patroni and Galera take both: their boots are CPU-bound
/// (Erlang, initdb, SST) and were seen to miss their bounds beside another
/// run on this 2-core machine.
static SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// How many of the [`SLOTS`] a run of `s` holds.
fn slots(s: &Scenario) -> u32 {
    match s.cluster.kind {
        ClusterKind::Etcd | ClusterKind::Consul | ClusterKind::Generic => 1,
        ClusterKind::Patroni | ClusterKind::Rabbitmq | ClusterKind::Galera => 2,
    }
}

/// A CPU-bound run's turn at the machine: `ci/test.sh` runs the test
/// binaries that start no containers beside this one and holds the lock
/// file `CLUSTERLAB_CPU_LOCK` shared while they run; a run that takes both
/// slots waits for it. Without the variable (a run of this binary alone)
/// there is nothing to wait for.
async fn cpu_turn(s: &Scenario) -> Option<nix::fcntl::Flock<std::fs::File>> {
    let path = std::env::var_os("CLUSTERLAB_CPU_LOCK")?;
    if slots(s) < 2 {
        return None;
    }
    tokio::task::spawn_blocking(move || {
        let f = std::fs::File::options()
            .create(true)
            .append(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.to_string_lossy()));
        nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| e)
            .expect("lock CLUSTERLAB_CPU_LOCK")
    })
    .await
    .ok()
}

async fn run_scenario(s: &Scenario) -> Done {
    run_scenario_on(s, ContainerEngine::Docker).await
}

async fn run_scenario_on(s: &Scenario, engine: ContainerEngine) -> Done {
    // A swarm test holds the CPU turn and every slot while its swarm
    // exists (see on_a_single_node_swarm), taken in this same order.
    let (_cpu, _turn) = match engine {
        ContainerEngine::Docker => (
            cpu_turn(s).await,
            Some(SLOTS.acquire_many(slots(s)).await.unwrap()),
        ),
        ContainerEngine::Swarm => (None, None),
    };
    let run_id = format!("t-{}-{}-{}", s.name, engine.name(), std::process::id());
    let done = Lab::containers()
        .engine(engine)
        .seed(SEED)
        .run_id(&run_id)
        .reports(out_dir())
        .run_full(s)
        .await
        // One line: what is missing (Docker, an image) and its fix.
        .unwrap_or_else(|e| panic!("{}: {e}", s.name));
    println!(
        "{}  ({})",
        done.outcome.summary(),
        done.dir.as_ref().unwrap().display()
    );
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (c, n) = run::labelled(&docker, &format!("{}={run_id}", run::RUN_LABEL))
        .await
        .unwrap();
    assert_eq!((c.len(), n.len()), (0, 0), "run {run_id} left resources");
    if engine == ContainerEngine::Swarm {
        let label = HashMap::from([("label", vec![format!("{}={run_id}", run::RUN_LABEL)])]);
        let services = docker
            .list_services(Some(
                bollard::query_parameters::ListServicesOptionsBuilder::new()
                    .filters(&label)
                    .build(),
            ))
            .await
            .unwrap();
        let volumes = docker
            .list_volumes(Some(
                bollard::query_parameters::ListVolumesOptionsBuilder::new()
                    .filters(&label)
                    .build(),
            ))
            .await
            .unwrap()
            .volumes
            .unwrap_or_default();
        let configs = docker
            .list_configs(Some(
                bollard::query_parameters::ListConfigsOptionsBuilder::new()
                    .filters(&label)
                    .build(),
            ))
            .await
            .unwrap();
        assert_eq!(
            (services.len(), volumes.len(), configs.len()),
            (0, 0, 0),
            "run {run_id} left services, volumes or configs"
        );
    }
    done
}

/// One fault start as the trace has it: (fault, action, due, nodes).
type Fired = (usize, String, u64, Vec<String>);

fn fired(trace: &Trace) -> Vec<Fired> {
    trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::FaultStart {
                fault,
                action,
                nodes,
                due_ms,
            } => Some((*fault, action.clone(), *due_ms, nodes.clone())),
            _ => None,
        })
        .collect()
}

/// The same scenario and seed fire the same faults, in the same order, due
/// at the same times, in both worlds; they hit the same nodes wherever the
/// choice did not depend on who led (the leader is resolved live in each
/// world, and once a fault followed it, the ledger's later picks may too).
async fn same_faults_as_the_simulator(s: &Scenario, containers: &Trace) {
    if s.supports(World::Sim).is_err() {
        return;
    }
    let sim = Lab::sim().seed(SEED).run_full(s).await.unwrap();
    let (c, m) = (fired(containers), fired(&sim.trace));
    let key = |f: &Fired| (f.0, f.1.clone(), f.2);
    assert_eq!(
        c.iter().map(key).collect::<Vec<_>>(),
        m.iter().map(key).collect::<Vec<_>>(),
        "{}: the same faults, in the same order, due at the same times",
        s.name
    );
    for (a, b) in c.iter().zip(&m) {
        if fault::depends_on_leader(&s.faults[a.0].action) {
            break;
        }
        assert_eq!(a.3, b.3, "{}: fault {} hit the same nodes", s.name, a.0);
    }
    println!(
        "{}: {} faults fired alike in both worlds: {c:?}",
        s.name,
        c.len()
    );
}

async fn shipped(name: &str) -> Done {
    shipped_on(name, ContainerEngine::Docker).await
}

async fn shipped_on(name: &str, engine: ContainerEngine) -> Done {
    let s = clusterlab::load(root().join(format!("scenarios/{name}.toml"))).unwrap();
    assert!(s.supports(World::Containers).is_ok());
    let done = run_scenario_on(&s, engine).await;
    let o = &done.outcome;
    let failed: Vec<_> = o.failures().collect();
    assert!(o.passed, "{}: failed checks {failed:#?}", o.summary());
    assert_eq!(o.writes_lost, 0);
    // Every run is judged on one cluster with every live node in it.
    let membership = o.checks.iter().find(|c| c.name == "membership");
    assert!(
        membership.is_some_and(|c| c.passed),
        "{}: {membership:?}",
        s.name
    );
    match &s.workload {
        Some(w) if w.kind == WorkloadKind::Register => {
            let lin = o.checks.iter().find(|c| c.name == "linearizable");
            let lin = lin.expect("a register workload is judged for linearizability");
            if s.expect.findings.iter().any(|f| f.check == "linearizable") {
                assert!(lin.detail.starts_with("expected finding"), "{}", lin.detail);
            }
        }
        Some(w) if w.kind == WorkloadKind::Set => {
            let set = o.checks.iter().find(|c| c.name == "set");
            assert!(set.is_some(), "a set workload is judged");
        }
        Some(w) if w.kind == WorkloadKind::Messages => {
            let queues = o.checks.iter().filter(|c| c.name == "set");
            for q in queues.clone() {
                assert!(
                    q.detail.contains(", 1 reads"),
                    "each queue drained once: {}",
                    q.detail
                );
            }
            assert_eq!(queues.count(), w.keys as usize, "every queue is judged");
        }
        Some(_) => assert!(o.writes_acked > 0, "the writer got no write acknowledged"),
        None => {}
    }
    same_faults_as_the_simulator(&s, &done.trace).await;
    done
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick() {
    let done = shipped("quick").await;
    // The leader's container died by the fault's SIGKILL: an exit, not a
    // crash.
    let exits: Vec<_> = done
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Exited { node, by_fault, .. } => Some((node.clone(), *by_fault)),
            _ => None,
        })
        .collect();
    let (_, _, killed) = first_fault(&done.trace);
    assert_eq!(exits, [(killed, true)]);
    assert!(
        done.outcome.crashed.is_empty(),
        "{}",
        done.outcome.summary()
    );
}

/// A single-node swarm for the test: the one here, or one it makes and
/// leaves when dropped.
struct Swarm {
    made: bool,
    /// Whether Docker's bridge for swarm tasks was here before: `swarm
    /// leave` keeps it, so the test removes the one it caused.
    had_gwbridge: bool,
}

fn has_network(name: &str) -> bool {
    Command::new("docker")
        .args(["network", "inspect", name])
        .output()
        .is_ok_and(|o| o.status.success())
}

impl Swarm {
    fn here_or_made() -> Swarm {
        let state = Command::new("docker")
            .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
            .output()
            .expect("docker info");
        let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
        let had_gwbridge = has_network("docker_gwbridge");
        if state == "active" {
            return Swarm {
                made: false,
                had_gwbridge,
            };
        }
        let init = Command::new("docker")
            .args(["swarm", "init", "--advertise-addr", "127.0.0.1"])
            .output()
            .expect("docker swarm init");
        assert!(
            init.status.success(),
            "docker swarm init: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        Swarm {
            made: true,
            had_gwbridge,
        }
    }
}

impl Drop for Swarm {
    fn drop(&mut self) {
        if self.made {
            let _ = Command::new("docker")
                .args(["swarm", "leave", "--force"])
                .output();
            if !self.had_gwbridge {
                let _ = Command::new("docker")
                    .args(["network", "rm", "docker_gwbridge"])
                    .output();
            }
        }
    }
}

/// Shipped scenarios, unchanged, on a single-node swarm: one service per
/// node, an overlay network, the nemesis in each task's namespace; every
/// node's task named with the swarm node it ran on, and nothing left (no
/// service, volume or config either). One test for both, so that the swarm
/// is made and left once for them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_single_node_swarm() {
    let names = ["quick", "rabbitmq-etcd-formation"];
    let heaviest = names
        .iter()
        .map(|n| clusterlab::load(root().join(format!("scenarios/{n}.toml"))).unwrap())
        .max_by_key(slots)
        .unwrap();
    let _alone = alone_on_a_swarm(&heaviest).await;
    for name in names {
        let done = shipped_on(name, ContainerEngine::Swarm).await;
        let placed: std::collections::BTreeSet<String> = done
            .trace
            .events
            .iter()
            .filter_map(|e| match &e.kind {
                EventKind::Placed { node, host } if !host.is_empty() => Some(node.clone()),
                _ => None,
            })
            .collect();
        let s = clusterlab::load(root().join(format!("scenarios/{name}.toml"))).unwrap();
        let every: std::collections::BTreeSet<String> = (1..=s.discovery.nodes)
            .map(|i| format!("s{i}"))
            .chain(s.cluster.nodes.iter().cloned())
            .collect();
        assert_eq!(placed, every, "{name}: every node's swarm node is named");
        let clean = done
            .outcome
            .checks
            .iter()
            .find(|c| c.name == "no-leftovers");
        assert!(clean.is_some_and(|c| c.passed), "{name}: {clean:?}");
    }
}

/// Shipped scenario `name` alone on a single-node swarm (made and left
/// here if there is none).
async fn shipped_on_a_swarm(name: &str) -> Done {
    let s = clusterlab::load(root().join(format!("scenarios/{name}.toml"))).unwrap();
    let _alone = alone_on_a_swarm(&s).await;
    shipped_on(name, ContainerEngine::Swarm).await
}

/// What a run on the single-node swarm holds, `heaviest` its heaviest
/// scenario: the CPU turn, then both slots (the order every run takes them
/// in; the other deadlocks against a CPU-bound run waiting for the slots),
/// then the swarm, made here if there is none. No other run beside a
/// swarm: Swarm mode's own work (its raft, its networks' rules) is not to
/// be a load on another run's bounds. Dropped swarm first.
async fn alone_on_a_swarm(heaviest: &Scenario) -> impl Sized {
    let cpu = cpu_turn(heaviest).await;
    let all = SLOTS.acquire_many(2).await.unwrap();
    (Swarm::here_or_made(), all, cpu)
}

/// When each bootstrap of the run happened (ms).
fn bootstraps(trace: &Trace) -> Vec<u64> {
    trace
        .events
        .iter()
        .filter_map(|e| matches!(e.kind, EventKind::Bootstrap { .. }).then_some(e.at_ms))
        .collect()
}

/// Whom fault `i` hit, by its `fault-start` event.
fn hit_by(trace: &Trace, i: usize) -> Vec<String> {
    trace
        .events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::FaultStart { fault, nodes, .. } if *fault == i => Some(nodes.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// Seed 001's shape on Swarm: Galera under the seed's glue (the root
/// service bootstraps on every start, the others join it by name). The
/// root's task is rescheduled with none of its data; the glue makes it
/// bootstrap again, and it ends outside the cluster for good: the
/// scenario's findings (`membership` split or silent, `converged` timeout)
/// must be seen, in `shipped`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_glue_root_rescheduled() {
    let done = shipped_on_a_swarm("galera-glue-root-rescheduled").await;
    assert_eq!(hit_by(&done.trace, 0), ["n1"], "the root was rescheduled");
    // Split: the root alone, the others together; silent: only the root.
    let membership = done.outcome.checks.iter().find(|c| c.name == "membership");
    assert!(
        membership.is_some_and(|c| c.detail.starts_with("expected finding")
            && (c.detail.contains("n1:[n1] n2:[n2,n3] n3:[n2,n3]") || c.nodes == ["n1"])),
        "the root, and only it, is out of the cluster: {membership:?}"
    );
}

/// The same move under disco-agent, on Swarm: the rescheduled node's agent
/// finds the bootstrap key taken and joins the announced peers; one
/// cluster of three again, every acknowledged row in it (in `shipped`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_etcd_root_rescheduled() {
    let done = shipped_on_a_swarm("galera-etcd-root-rescheduled").await;
    assert_eq!(hit_by(&done.trace, 0), ["n1"], "n1 was rescheduled");
    let boots = bootstraps(&done.trace).len();
    assert_eq!(boots, 1, "one bootstrap in the run, none after the move");
}

/// When fault 0 started and ended, and whom it hit first.
fn first_fault(trace: &Trace) -> (u64, u64, String) {
    let start = trace.events.iter().find_map(|e| match &e.kind {
        EventKind::FaultStart {
            fault: 0, nodes, ..
        } => Some((e.at_ms, nodes[0].clone())),
        _ => None,
    });
    let end = trace.events.iter().find_map(|e| match &e.kind {
        EventKind::FaultEnd { fault: 0, .. } => Some(e.at_ms),
        _ => None,
    });
    let (start, hit) = start.expect("fault 0 started");
    (start, end.expect("fault 0 ended"), hit)
}

/// The leader's store link turns slower than a third of its TTL: its
/// renewals come back too late, so it must give the leader key up while the
/// fault lasts (and `single-leader` held throughout, in `shipped`). A
/// latency fault that did nothing would fail here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_slow_leader_store() {
    let done = shipped("latency-slow-leader-store").await;
    let (start, end, hit) = first_fault(&done.trace);
    let gave_up = done.trace.events.iter().any(|e| {
        matches!(&e.kind, EventKind::LeaderKey { node } if node.as_deref() != Some(hit.as_str()))
            && (start..end).contains(&e.at_ms)
    });
    assert!(
        gave_up,
        "{hit} kept the leader key through its slow store link"
    );
}

/// Five nodes cold-start while their store links jitter: the jitter is in
/// force before any agent runs (they wait for the harness's start file),
/// so the bootstrap race runs on jittery links; still one bootstrap (in
/// `shipped`), and it came while the jitter lasted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jitter_cold_start() {
    let done = shipped("jitter-cold-start").await;
    let (start, end, _) = first_fault(&done.trace);
    let boot = done.trace.events.iter().find_map(|e| match &e.kind {
        EventKind::Bootstrap { .. } => Some(e.at_ms),
        _ => None,
    });
    let boot = boot.expect("a bootstrap");
    assert!(
        (start..end).contains(&boot),
        "the bootstrap at {boot} ms was not under the jitter ({start}..{end} ms)"
    );
}

/// A slow, jittery, reordering and duplicating minority.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_slow_minority() {
    shipped("latency-slow-minority").await;
}

/// quick on a secured store (TLS, client certificates, RBAC): every check
/// still holds through the run's credentials, and a rogue node with
/// another cluster's certificate, or none, gets nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_secured() {
    let done = shipped("quick-secured").await;
    let rogue = done.outcome.checks.iter().find(|c| c.name == "rogue");
    let rogue = rogue.expect("a secured run judges a rogue node");
    assert!(rogue.passed, "{}", rogue.detail);
    assert_eq!(
        rogue.detail.matches("PermissionDenied").count(),
        6,
        "another cluster's five attempts and the rogue agent are refused by the store: {}",
        rogue.detail
    );
}

/// quick-secured's Consul twin (HTTPS only with client certificates, TLS
/// between three servers, ACLs default-deny with a token per cluster):
/// every check holds through the run's certificate and token; another
/// cluster's token and no token are refused by the ACLs on each of the
/// four writes, destroying a member's session among them (the read comes
/// back empty: Consul filters, it does not refuse), as is the rogue agent;
/// a stolen token without a certificate fails the TLS handshake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_secured() {
    let done = shipped("consul-secured").await;
    let rogue = done.outcome.checks.iter().find(|c| c.name == "rogue");
    let rogue = rogue.expect("a secured run judges a rogue node");
    assert!(rogue.passed, "{}", rogue.detail);
    assert_eq!(
        rogue.detail.matches("Permission denied").count(),
        9,
        "two rogues' four writes (a member's session among them) and the rogue agent are refused by the ACLs: {}",
        rogue.detail
    );
    assert!(
        rogue.detail.matches("BadCertificate").count() >= 3,
        "a token without a certificate fails the handshake: {}",
        rogue.detail
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_start_5() {
    shipped("cold-start-5").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_discovery_bootstrap() {
    shipped("etcd-discovery-bootstrap").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_leader_kill() {
    shipped("etcd-leader-kill").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_minority_partition() {
    shipped("etcd-minority-partition").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_leader_kill() {
    shipped("consul-leader-kill").await;
}

/// Nodes that leave for good (one cleanly, one crashed): everyone's view
/// must shrink to the live nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_leave() {
    shipped("nodes-leave").await;
}

/// Stale reads from a member cut off from its quorum: the checker must find
/// them (the scenario expects the anomaly), and must not with the store's
/// linearizable reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_stale_reads() {
    shipped("etcd-stale-reads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_linearizable_reads() {
    shipped("etcd-linearizable-reads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_stale_reads() {
    shipped("consul-stale-reads").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consul_consistent_reads() {
    shipped("consul-consistent-reads").await;
}

/// A finding: Patroni 3.0.2 on etcd3 loses acknowledged rows after an
/// isolated primary comes back (docs/src/findings.md); the scenario expects it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patroni_set_partition() {
    shipped("patroni-set-partition").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patroni_set_failover() {
    shipped("patroni-set-failover").await;
}

/// Also the proof that disco-agent reaps orphans as PID 1: without it the
/// old primary's postmaster stays a zombie and Patroni never rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patroni_consul_ttl_expiry() {
    shipped("patroni-consul-ttl-expiry").await;
}

/// A system known only from its scenario file: Consul servers from a
/// user's image (`ci/example-image.sh`), with disco-agent layered on, found
/// through etcd, probed and written through the file's HTTP templates; the
/// leader is killed and a follower isolated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generic_consul() {
    shipped("generic-consul").await;
}

/// quick on a user's etcd image (`ci/example-image.sh`, standing in for a
/// registry's) for the store and the nodes: the lab layers disco-agent
/// onto the nodes' copy and starts `etcd` from the image's PATH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_images() {
    let done = shipped("user-images").await;
    // The nodes ran the layered image, not the lab's own clusterlab/etcd.
    let labels = Command::new("docker")
        .args([
            "image",
            "ls",
            "--format",
            "{{.Repository}}",
            "clusterlab/server",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&labels.stdout).contains("clusterlab/server"),
        "no layered node image: {done:?}"
    );
}

/// A named image must be on this machine (the lab never pulls) and carry
/// the server it starts; either error names the scenario's line, and
/// nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_image_must_be_here_and_carry_its_server() {
    let text = |store: &str, nodes: &str| {
        format!(
            "description = \"x\"\nworlds = [\"containers\"]\n[excluded]\nsim = \"a test\"\n\
             [discovery]\nkind = \"etcd\"\nimage = \"{store}\"\n\
             [cluster]\nkind = \"etcd\"\nnodes = 1\nimage = \"{nodes}\"\n"
        )
    };
    for (store, nodes, line, wanted) in [
        (
            "clusterlab-example/etcd:3.5",
            "registry.invalid/etcd:never-pulled",
            "mine.toml:11:9",
            "is not on this machine, and clusterlab never pulls",
        ),
        (
            "clusterlab-example/etcd:3.5",
            "clusterlab-example/consul:1.8",
            "mine.toml:11:9",
            "has no `etcd` on its PATH",
        ),
        (
            "clusterlab-example/consul:1.8",
            "clusterlab-example/etcd:3.5",
            "mine.toml:7:9",
            "has no `etcd` on its PATH",
        ),
    ] {
        let s = clusterlab_scenario::parse("mine.toml", "mine", &text(store, nodes)).unwrap();
        let run_id = format!("t-image-check-{}", std::process::id());
        let err = Lab::containers()
            .run_id(&run_id)
            .run_full(&s)
            .await
            .expect_err("a run on a missing or unfit image");
        let err = err.to_string();
        assert!(err.contains(line) && err.contains(wanted), "{err}");
        let left = Command::new("docker")
            .args([
                "ps",
                "-aq",
                "--filter",
                &format!("label=clusterlab.run={run_id}"),
            ])
            .output()
            .unwrap();
        assert!(left.stdout.is_empty(), "left behind: {:?}", left);
    }
}

/// RabbitMQ's own etcd peer discovery (no disco-agent): three nodes
/// started at once form one cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_etcd_formation() {
    shipped("rabbitmq-etcd-formation").await;
}

/// The same through RabbitMQ's Consul peer discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_consul_formation() {
    shipped("rabbitmq-consul-formation").await;
}

/// RabbitMQ 4.0 (formation rewritten in 3.13) through etcd: five nodes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq4_etcd_formation() {
    shipped("rabbitmq4-etcd-formation").await;
}

/// A finding: RabbitMQ 4.0.5 with Consul discovery does not boot without a
/// CA bundle (docs/src/findings.md); the scenario expects it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq4_consul_formation() {
    let done = shipped("rabbitmq4-consul-formation").await;
    // Every node dies at boot, and the report says so.
    assert_eq!(done.outcome.crashed.len(), 5, "{}", done.outcome.summary());
}

/// RabbitMQ's registrations expire while every node is cut from etcd, then
/// a killed node is restarted: one cluster throughout, the restarted node
/// back in it, and no node dying on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_etcd_cut_discovery_then_kill() {
    let done = shipped("rabbitmq-etcd-cut-discovery-then-kill").await;
    let o = &done.outcome;
    assert!(o.crashed.is_empty(), "{}", o.summary());
}

/// Publisher-confirmed messages to a quorum queue through every node while
/// one node is cut off: none confirmed is lost, duplicated or made up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_etcd_partition_under_load() {
    shipped("rabbitmq-etcd-partition-under-load").await;
}

/// The same through RabbitMQ's Consul peer discovery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_consul_partition_under_load() {
    shipped("rabbitmq-consul-partition-under-load").await;
}

/// The same on RabbitMQ 4.0 (formation and quorum queues rewritten since
/// 3.10): no confirmed message lost, duplicated or made up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq4_etcd_partition_under_load() {
    shipped("rabbitmq4-etcd-partition-under-load").await;
}

/// The same through 4.0's Consul peer discovery, on systems with a CA
/// bundle (without one no 4.0.5 node boots: `rabbitmq4_consul_formation`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq4_consul_partition_under_load() {
    shipped("rabbitmq4-consul-partition-under-load").await;
}

/// MariaDB Galera through disco-agent and etcd: three nodes at once, one
/// bootstrap, rows through every node; a killed node rejoins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_etcd_formation() {
    shipped("galera-etcd-formation").await;
}

/// Galera through etcd with etcd cut away for the first 20 s of formation:
/// still one bootstrap and one cluster after the heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_etcd_store_cut_during_formation() {
    shipped("galera-etcd-store-cut-during-formation").await;
}

/// Galera through Consul with Consul cut away for the first 20 s of
/// formation, then n2 killed and restarted under the set workload: the
/// one bootstrap came after the heal (nobody could claim the key before),
/// n2 rejoined the same cluster (in `shipped`), and no node died on its
/// own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_consul_store_cut_then_kill() {
    let done = shipped("galera-consul-store-cut-then-kill").await;
    let (_, healed, _) = first_fault(&done.trace);
    let boots = bootstraps(&done.trace);
    assert!(
        boots.len() == 1 && boots[0] >= healed,
        "one bootstrap, after the store came back at {healed} ms: {boots:?}"
    );
    let o = &done.outcome;
    assert!(o.crashed.is_empty(), "{}", o.summary());
}

/// Galera through etcd: registrations expire while every node is cut from
/// etcd, then n3 is isolated, rows going in through every node: one
/// cluster, no acknowledged row lost (in `shipped`), no node died.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_etcd_cut_discovery_then_isolate() {
    let done = shipped("galera-etcd-cut-discovery-then-isolate").await;
    let o = &done.outcome;
    assert!(o.crashed.is_empty(), "{}", o.summary());
}

/// The same through Consul (sessions expire in the cut).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn galera_consul_cut_discovery_then_isolate() {
    let done = shipped("galera-consul-cut-discovery-then-isolate").await;
    let o = &done.outcome;
    assert!(o.crashed.is_empty(), "{}", o.summary());
}

/// Consul cut away from every RabbitMQ node one second into formation, for
/// 20 s: the plugin's retries still make one cluster after the heal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_consul_store_cut_during_formation() {
    shipped("rabbitmq-consul-store-cut-during-formation").await;
}

/// A finding: etcd cut away from every RabbitMQ node during formation
/// kills the nodes at boot (docs/src/findings.md); the scenario expects it.
/// The retry hack: the same cut with `restart = "always"`. The nodes die
/// at boot and are started again by the engine; each restarted node gets
/// the cut put back in its new namespace, so the cluster forms only once
/// the cut has ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_etcd_store_cut_restart_always() {
    let done = shipped("rabbitmq-etcd-store-cut-restart-always").await;
    let restarted = done
        .trace
        .events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Restarted { .. }))
        .count();
    assert!(restarted > 0, "no node was started again by the engine");
    let (_, cut_ended, _) = first_fault(&done.trace);
    let formed = done.trace.events.iter().find_map(|e| match &e.kind {
        EventKind::Members { members, .. } if members.len() > 1 => Some(e.at_ms),
        _ => None,
    });
    assert!(
        formed.is_some_and(|at| at >= cut_ended),
        "a cluster formed at {formed:?} ms, before the cut ended at {cut_ended} ms: a restarted node escaped it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_etcd_store_cut_during_formation() {
    let done = shipped("rabbitmq-etcd-store-cut-during-formation").await;
    // The nodes die at boot: the report says so, not only "no view".
    let o = &done.outcome;
    assert!(!o.crashed.is_empty(), "{}", o.summary());
}

/// On Consul: every node cut from Consul until its health checks go
/// critical, then a killed node restarted; one cluster throughout, the
/// restarted node back in it, and no node dying on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_consul_cut_discovery_then_kill() {
    let done = shipped("rabbitmq-consul-cut-discovery-then-kill").await;
    let o = &done.outcome;
    assert!(o.crashed.is_empty(), "{}", o.summary());
}

/// A seed article's system run through the generic kind with its own
/// image: a pass where the image is present, and where it is not (nothing
/// can be pulled here), a skip that names the image and never a pass.
async fn seed_system(name: &str) {
    let s = clusterlab::load(root().join(format!("scenarios/{name}.toml"))).unwrap();
    let image = &s.cluster.generic.as_ref().expect("a generic kind").image;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    if clusterlab_containers::docker::has_image(&docker, image)
        .await
        .unwrap()
    {
        shipped(name).await;
        return;
    }
    let o = run_scenario(&s).await.outcome;
    assert!(!o.passed, "a skipped run never passes: {}", o.summary());
    let reason = o.skipped.as_deref().unwrap_or_default();
    assert!(
        reason.contains(&format!("image {image} is not present locally")),
        "{}",
        o.summary()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rethinkdb() {
    seed_system("rethinkdb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cratedb() {
    seed_system("cratedb").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rqlite() {
    seed_system("rqlite").await;
}

/// Patroni on etcd: the primary killed, a replica promoted within the
/// failover bound (patroni-set-failover runs the same kill under the set
/// workload).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn patroni_etcd_failover() {
    shipped("patroni-etcd-failover").await;
}

/// A finding: RabbitMQ 3.10's `ignore` partition handling leaves the
/// cluster split after a 90 s cut is healed (docs/src/findings.md); the
/// scenario expects it. About 4.5 minutes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rabbitmq_etcd_long_partition() {
    shipped("rabbitmq-etcd-long-partition").await;
}

/// An isolated leader is seen through its journal: its probes fail while
/// it is cut off (the observer's probe over the network is dropped like
/// every other packet), but the window it last published, and its step
/// down when that window closes, are read from the host; the next
/// leader's term begins after it ends, and `single-leader` judges both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_isolated_leaders_window_is_seen() {
    let text = r#"
description = "isolate the leader past its TTL"
worlds = ["containers"]
[excluded]
sim = "a test of the container world's observation"
[discovery]
kind = "etcd"
ttl = "3s"
[cluster]
kind = "etcd"
nodes = 3
[[faults]]
at = "12s"
action = "isolate"
target = "leader"
for = "10s"
[expect]
converge_within = "40s"
"#;
    let s = clusterlab_scenario::parse("isolated-leader.toml", "isolated-leader", text).unwrap();
    let done = run_scenario(&s).await;
    let o = &done.outcome;
    assert!(
        o.passed,
        "{}: {:#?}",
        o.summary(),
        o.failures().collect::<Vec<_>>()
    );
    let (start, end, isolated) = first_fault(&done.trace);
    let during = |at: u64| (start..end).contains(&at);
    // The probes' view of it while cut off: nothing (its role is whatever
    // the last answer said, and no member view arrives).
    let members_seen = done.trace.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Members { node, .. } if *node == isolated) && during(e.at_ms)
    });
    assert!(!members_seen, "a probe reached the isolated {isolated}");
    // Its journal's view: the window it held when cut off, and its step
    // down, written while it was cut off.
    let windows: Vec<(u64, Option<u64>)> = done
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Window { node, until_ms, .. } if *node == isolated => {
                Some((e.at_ms, *until_ms))
            }
            _ => None,
        })
        .collect();
    let held = windows
        .iter()
        .rev()
        .find(|(at, until)| *at <= start && until.is_some());
    let (_, until) = held.unwrap_or_else(|| panic!("{isolated} led before the cut: {windows:?}"));
    let until = until.unwrap();
    assert!(until > start, "its window was open when it was cut off");
    // Its step down, written while it was cut off: at the latest when its
    // window ended (earlier when its database lost its own leadership
    // first, as an isolated etcd leader does within an election timeout).
    let down_at = windows
        .iter()
        .find(|(at, w)| w.is_none() && during(*at) && *at > start)
        .map(|(at, _)| *at);
    let down_at = down_at.unwrap_or_else(|| {
        panic!("{isolated}'s step down was not seen while it was cut off: {windows:?}")
    });
    assert!(
        down_at <= until + 500,
        "{isolated} stepped down at {down_at} ms, past its window's end ({until} ms): {windows:?}"
    );
    println!(
        "{isolated} isolated {start}..{end} ms: window open until {until} ms, stepped down at {down_at} ms; windows {windows:?}"
    );
}

/// The checks are not rubber stamps: a failover bound no cluster can meet
/// fails the run, and only that check fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_impossible_failover_bound_fails_the_run() {
    let text = r#"
description = "kill the leader with a 1 ms failover bound"
worlds = ["containers"]
[excluded]
sim = "a test of the container world's checks"
[discovery]
kind = "etcd"
ttl = "2s"
[cluster]
kind = "etcd"
nodes = 3
[[faults]]
at = "12s"
action = "kill-leader"
for = "3s"
[expect]
converge_within = "30s"
failover_within = "1ms"
"#;
    let s = clusterlab_scenario::parse("impossible-failover.toml", "impossible-failover", text)
        .unwrap();
    let o = run_scenario(&s).await.outcome;
    assert!(!o.passed, "{}", o.summary());
    let failed: Vec<&str> = o.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(failed, ["failover"], "{:#?}", o.checks);
    assert!(o.failover_ms.is_some_and(|f| f > 1));
}

/// Ctrl-C in the middle of `clusterlab run` removes the run's containers
/// and network before the command exits with 130.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupting_clusterlab_run_leaves_nothing() {
    // Alone: a run starting beside it would reap what the interrupted
    // child left behind (its process is dead), and hide a teardown that
    // failed.
    let _turn = SLOTS.acquire_many(2).await.unwrap();
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_clusterlab"))
        .args(["run", "quick", "--out", out.path().to_str().unwrap()])
        .current_dir(root())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid_label = format!("{PID_LABEL}={}", child.id());
    // Wait until the store and all three nodes exist.
    let start = Instant::now();
    let run_id = loop {
        let (c, _) = run::labelled(&docker, &pid_label).await.unwrap();
        if c.len() >= 4 {
            break c[0].labels.as_ref().unwrap()[run::RUN_LABEL].clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "the run never started its containers"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "clusterlab exited early"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no exit after Ctrl-C"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status.code(), Some(130));
    let (c, n) = run::labelled(&docker, &format!("{}={run_id}", run::RUN_LABEL))
        .await
        .unwrap();
    assert_eq!((c.len(), n.len()), (0, 0), "run {run_id} left resources");
}
