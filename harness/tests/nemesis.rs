//! Network faults on real containers: who can reach whom, checked from
//! inside each node's network namespace, and gone again after heal.

use std::process::Command;
use std::time::{Duration, Instant};

use clusterlab_harness::image::{self, stock};
use clusterlab_harness::nemesis::{self, isolate, loss, partition, Node};
use clusterlab_harness::run::Run;

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
            nemesis::netns::CHAIN,
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
    let docker = clusterlab_harness::docker::connect().await.unwrap();
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
        nodes.push(Node::of(&docker, name, &id, run.network()).await.unwrap());
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

    isolate::isolate(n1).unwrap();
    assert!(
        !reach(Some(n2), n1) && !reach(Some(n1), n3),
        "n1 is cut off both ways"
    );
    assert!(reach(Some(n2), n3), "the others still talk");
    nemesis::heal(&nodes).unwrap();
    assert!(
        reach(Some(n2), n1) && reach(Some(n1), n3),
        "heal reconnects n1"
    );

    partition::partition(&[vec![n1], vec![n2, n3]]).unwrap();
    assert!(
        !reach(Some(n2), n1) && !reach(Some(n1), n3),
        "across the partition: nothing"
    );
    assert!(
        reach(Some(n2), n3) && reach(None, n1),
        "within a side, and from the host: fine"
    );
    nemesis::heal(&nodes).unwrap();

    partition::one_way(&[n1], &[n2]).unwrap();
    assert!(!reach(Some(n1), n2), "n1 cannot send to n2");
    assert!(
        reach(Some(n3), n2) && reach(Some(n1), n3),
        "everyone else is unaffected"
    );
    nemesis::heal(&nodes).unwrap();

    loss::packet_loss(n1, 1.0).unwrap();
    assert!(!reach(Some(n2), n1), "100% loss drops everything");
    nemesis::heal(&nodes).unwrap();
    assert!(
        nodes.iter().all(|n| chain_rules(n) == 0),
        "heal leaves no rule behind"
    );
    assert!(reach(Some(n2), n1) && reach(Some(n3), n2));

    run.teardown().await.unwrap();
}
