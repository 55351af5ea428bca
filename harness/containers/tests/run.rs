//! Nothing of a run survives it: teardown, drop on panic, Ctrl-C, and the
//! reaping of runs whose process was killed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bollard::models::NetworkCreateRequest;
use bollard::Docker;
use clusterlab_containers::image::{self, stock};
use clusterlab_containers::run::{self, Run, HOST_LABEL, PID_LABEL, RUN_LABEL};

/// (containers, networks) labelled with run `id`.
async fn resources(docker: &Docker, id: &str) -> (usize, usize) {
    let (c, n) = run::labelled(docker, &format!("{RUN_LABEL}={id}"))
        .await
        .unwrap();
    (c.len(), n.len())
}

async fn etcd_image(docker: &Docker) -> String {
    image::ensure(docker, &stock::etcd().unwrap())
        .await
        .unwrap()
        .tag
}

const ETCD: &[&str] = &["/usr/local/bin/etcd", "--data-dir", "/data"];

/// Every `Run::start` reaps dead runs, which would race with the tests that
/// plant dead runs on purpose: these tests take turns.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn teardown_removes_every_container_and_network() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tag = etcd_image(&docker).await;
    let id = format!("t-teardown-{}", std::process::id());
    let run = Run::start(docker.clone(), &id).await.unwrap();
    run.start_container("n1", &tag, ETCD).await.unwrap();
    run.start_container("n2", &tag, ETCD).await.unwrap();
    assert_eq!(resources(&docker, &id).await, (2, 1));
    run.teardown().await.unwrap();
    assert_eq!(resources(&docker, &id).await, (0, 0));
}

#[tokio::test]
async fn a_panicking_run_still_leaves_nothing() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tag = etcd_image(&docker).await;
    let id = format!("t-panic-{}", std::process::id());
    let (id2, tag2) = (id.clone(), tag.clone());
    let joined = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let docker = clusterlab_containers::docker::connect()
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            let run = Run::start(docker, &id2).await.unwrap();
            run.start_container("n1", &tag2, ETCD).await.unwrap();
            panic!("a check failed");
        })
    })
    .join();
    assert!(joined.is_err(), "the run panicked");
    assert_eq!(resources(&docker, &id).await, (0, 0));
}

#[tokio::test]
async fn dead_runs_are_reaped_and_live_ones_kept() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // A run owned by a process that has exited.
    let mut child = Command::new("true").spawn().unwrap();
    let dead_pid = child.id();
    child.wait().unwrap();
    let dead = format!("t-dead-{}", std::process::id());
    let live = format!("t-live-{}", std::process::id());
    for (id, pid) in [(&dead, dead_pid), (&live, std::process::id())] {
        let labels = HashMap::from([
            (RUN_LABEL.to_string(), id.clone()),
            (PID_LABEL.to_string(), pid.to_string()),
            (HOST_LABEL.to_string(), run::hostname()),
        ]);
        docker
            .create_network(NetworkCreateRequest {
                name: format!("clusterlab-{id}"),
                labels: Some(labels),
                ..Default::default()
            })
            .await
            .unwrap();
    }
    let reaped = run::reap::reap(&docker).await.unwrap();
    assert!(reaped.contains(&dead), "{reaped:?}");
    assert!(!reaped.contains(&live), "a live run is not reaped");
    assert_eq!(resources(&docker, &dead).await, (0, 0));
    assert_eq!(resources(&docker, &live).await, (0, 1));
    run::remove_run(&docker, &live).await.unwrap();
}

/// Starts the `hold_run` example and waits for its run to be up.
fn hold_run() -> (std::process::Child, String) {
    let exe = std::env::current_exe().unwrap();
    let example = exe.ancestors().nth(2).unwrap().join("examples/hold_run");
    assert!(
        example.is_file(),
        "{} is built by cargo test",
        example.display()
    );
    let mut child = Command::new(example)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let id = line
        .trim()
        .strip_prefix("ready ")
        .unwrap_or_else(|| panic!("unexpected {line:?}"))
        .to_string();
    (child, id)
}

fn wait_exit(
    child: &mut std::process::Child,
    deadline: Duration,
) -> Option<std::process::ExitStatus> {
    let start = Instant::now();
    while start.elapsed() < deadline {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[tokio::test]
async fn ctrl_c_tears_the_run_down() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut child, id) = hold_run();
    assert_eq!(resources(&docker, &id).await, (1, 1));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let st = wait_exit(&mut child, Duration::from_secs(60)).expect("exits after Ctrl-C");
    assert!(st.success(), "{st:?}");
    assert_eq!(
        resources(&docker, &id).await,
        (0, 0),
        "nothing of run {id} is left"
    );
}

#[tokio::test]
async fn a_killed_run_is_reaped_by_the_next_one() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let (mut child, id) = hold_run();
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();
    assert_eq!(
        resources(&docker, &id).await,
        (1, 1),
        "a killed run leaves its resources"
    );
    let next = Run::start(docker.clone(), &format!("t-next-{}", std::process::id()))
        .await
        .unwrap();
    assert_eq!(
        resources(&docker, &id).await,
        (0, 0),
        "the next run reaped them"
    );
    next.teardown().await.unwrap();
}

/// A kill that finds its container already dead (it crashed on its own)
/// caused nothing: the node's next exit, after a restart, must not be
/// reported as the fault's.
#[tokio::test]
async fn a_kill_that_finds_its_container_dead_claims_no_exit() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tag = etcd_image(&docker).await;
    let id = format!("t-kill-dead-{}", std::process::id());
    let run = Run::start(docker.clone(), &id).await.unwrap();
    run.start_container("n1", &tag, ETCD).await.unwrap();
    run.start_container("n2", &tag, ETCD).await.unwrap();
    // n1 dies behind the harness's back.
    docker
        .kill_container(&run.container("n1"), None)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while run.exit_code("n1").await.is_none() {
        assert!(Instant::now() < deadline, "n1 still runs after its kill");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(run.kill("n1").await.is_err(), "killed a dead container");
    assert!(!run.exits().caused(&run.container("n1")));
    // A kill that lands is the fault's.
    run.kill("n2").await.unwrap();
    assert!(run.exits().caused(&run.container("n2")));
    run.teardown().await.unwrap();
    assert_eq!(resources(&docker, &id).await, (0, 0));
}

/// Whether container `name` holds a file at `path`.
async fn holds(docker: &Docker, name: &str, path: &str) -> bool {
    use futures_util::StreamExt;
    let opts = bollard::query_parameters::DownloadFromContainerOptionsBuilder::new()
        .path(path)
        .build();
    let mut archive = docker.download_from_container(name, Some(opts));
    matches!(archive.next().await, Some(Ok(_)))
}

/// A rescheduled node on one daemon is a new container from the same image
/// and command: none of its data, the files the run wrote into it back
/// before it starts, its earlier life's output still in its logs, and
/// nothing left after the run.
#[tokio::test]
async fn a_rescheduled_node_starts_without_its_data() {
    let _turn = SERIAL.lock().await;
    let docker = clusterlab_containers::docker::connect()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let tag = etcd_image(&docker).await;
    let id = format!("t-reschedule-{}", std::process::id());
    let run = Run::start(docker.clone(), &id).await.unwrap();
    run.start_node("n1", &tag, ETCD, &[]).await.unwrap();
    let full = run.container("n1");
    run.put_file("n1", "hold", b"go").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !holds(&docker, &full, "/data/member").await {
        assert!(Instant::now() < deadline, "etcd wrote no data");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    run.kill("n1").await.unwrap();
    let before = run.logs("n1").await.unwrap();
    assert!(!before.is_empty(), "etcd printed nothing");
    run.reschedule("n1").await.unwrap();
    assert!(
        holds(&docker, &full, "/hold").await,
        "the written file is back"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let after = run.logs("n1").await.unwrap();
        if after.len() > before.len() {
            break after;
        }
        assert!(
            Instant::now() < deadline,
            "the new container printed nothing"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        after.starts_with(&before),
        "the first life's output comes first"
    );
    // etcd says which: a data folder with a log is a restart.
    let second = &after[before.len()..];
    assert!(
        second.contains("starting local member") && !second.contains("restarting local member"),
        "the new container started from no data: {second}"
    );
    run.teardown().await.unwrap();
    assert_eq!(resources(&docker, &id).await, (0, 0));
}
