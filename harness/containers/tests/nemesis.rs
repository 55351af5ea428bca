//! Network faults on real containers: who can reach whom, checked from
//! inside each node's network namespace; each effect undone by deleting
//! its own rules, leaving any other effect in force.

use std::process::Command;
use std::time::{Duration, Instant};

use clusterlab_containers::image::{self, stock};
use clusterlab_containers::netfault::shaper::Shaper;
use clusterlab_containers::netfault::{self, rules, Node};
use clusterlab_containers::run::Run;
use clusterlab_core::fault::{Atom, Shaping};

/// Whether `from` (None: the host) gets an answer from `to`'s etcd.
fn reach(from: Option<&Node>, to: &Node) -> bool {
    let url = format!("http://{}:2379/health", to.ip);
    let mut cmd = match from {
        Some(n) => {
            let mut c = Command::new("nsenter");
            c.args(["-t", &n.pid.to_string(), "-n", "curl"]);
            c
        }
        None => Command::new("curl"),
    };
    let out = cmd.args(["-s", "-m", "1", &url]).output().unwrap();
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains("health")
}

fn chain_rules(n: &Node) -> usize {
    let out = Command::new("nsenter")
        .args([
            "-t",
            &n.pid.to_string(),
            "-n",
            "iptables",
            "-w",
            "-S",
            netfault::netns::CHAIN,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with("-A"))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_cut_exactly_what_they_say_and_heal_undoes_them() {
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tag = image::ensure(&docker, &stock::etcd().unwrap())
        .await
        .unwrap()
        .tag;
    let run = Run::start(docker.clone(), &format!("t-nemesis-{}", std::process::id()))
        .await
        .unwrap();
    let mut nodes = Vec::new();
    for name in ["n1", "n2", "n3"] {
        let id = run
            .start_container(
                name,
                &tag,
                &[
                    "/usr/local/bin/etcd",
                    "--data-dir",
                    "/data",
                    "--listen-client-urls",
                    "http://0.0.0.0:2379",
                    "--advertise-client-urls",
                    "http://127.0.0.1:2379",
                ],
            )
            .await
            .unwrap();
        let node = Node::of(&docker, name, &id, run.network(), None)
            .await
            .unwrap();
        node.install().unwrap();
        nodes.push(node);
    }
    let [n1, n2, n3] = [&nodes[0], &nodes[1], &nodes[2]];
    let start = Instant::now();
    while !nodes.iter().all(|n| reach(None, n)) {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "etcd containers did not come up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        reach(Some(n2), n1) && reach(Some(n1), n3),
        "all connected at first"
    );

    let by_name = |n: &str| nodes.iter().find(|x| x.name == n).unwrap();
    let ip = |n: &str| nodes.iter().find(|x| x.name == n).map(|x| x.ip);
    let apply = |atom: &Atom| {
        for (n, spec) in rules::rules(atom, ip, &[]) {
            by_name(&n).append(&spec).unwrap();
        }
    };
    let undo = |atom: &Atom| {
        for (n, spec) in rules::rules(atom, ip, &[]) {
            by_name(&n).delete(&spec);
        }
    };

    let isolated = Atom::Isolate("n1".into());
    apply(&isolated);
    assert!(
        !reach(Some(n2), n1) && !reach(Some(n1), n3),
        "n1 is cut off both ways"
    );
    assert!(reach(Some(n2), n3), "the others still talk");
    undo(&isolated);
    assert!(
        reach(Some(n2), n1) && reach(Some(n1), n3),
        "undoing the isolation reconnects n1"
    );

    let cuts = [Atom::cut("n1", "n2"), Atom::cut("n1", "n3")];
    cuts.iter().for_each(apply);
    assert!(
        !reach(Some(n2), n1) && !reach(Some(n1), n3),
        "across the partition: nothing"
    );
    assert!(
        reach(Some(n2), n3) && reach(None, n1),
        "within a side, and from the host: fine"
    );
    // Another fault isolates n1 meanwhile; ending it leaves the partition.
    apply(&isolated);
    undo(&isolated);
    assert!(!reach(Some(n2), n1), "the partition is still in force");
    cuts.iter().for_each(undo);
    assert!(reach(Some(n2), n1) && reach(Some(n1), n3), "and then gone");

    let one_way = Atom::OneWay("n1".into(), "n2".into());
    apply(&one_way);
    assert!(!reach(Some(n1), n2), "n1 cannot send to n2");
    assert!(
        reach(Some(n3), n2) && reach(Some(n1), n3),
        "everyone else is unaffected"
    );
    undo(&one_way);

    let lossy = Atom::Loss("n1".into(), 1_000_000);
    apply(&lossy);
    assert!(!reach(Some(n2), n1), "100% loss drops everything");
    undo(&lossy);
    assert!(
        nodes.iter().all(|n| chain_rules(n) == 0),
        "undoing every effect leaves no rule behind"
    );
    assert!(reach(Some(n2), n1) && reach(Some(n3), n2));
    assert!(
        nodes.iter().all(|n| n.leftovers().unwrap().is_empty()),
        "the undo check finds nothing when nothing is left"
    );
    apply(&isolated);
    let left = n1.leftovers().unwrap();
    assert!(
        !left.is_empty() && left.iter().all(|l| l.contains("CLUSTERLAB")),
        "the undo check names a rule left in force: {left:?}"
    );
    // A queue bound in the namespace is a leftover too, until let go.
    let shaping = Shaping {
        delay_us: 1_000,
        jitter_us: 0,
        hold_ppm: 1_000_000,
        duplicate_ppm: 0,
    };
    let shaper = Shaper::start(&n2.netns(), 3, shaping, 1).unwrap();
    let left = n2.leftovers().unwrap();
    assert!(
        left.iter().any(|l| l.contains("queue 3")),
        "a bound queue is named: {left:?}"
    );
    shaper.stop().unwrap();
    assert!(n2.leftovers().unwrap().is_empty(), "a queue let go is not");
    netfault::heal(&nodes).unwrap();
    assert!(reach(Some(n2), n1), "heal flushes whatever is left");
    assert!(n1.leftovers().unwrap().is_empty());

    run.teardown().await.unwrap();
}
