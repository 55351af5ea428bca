//! Starts a run (a labelled network and one etcd container) and holds it
//! until Ctrl-C or SIGTERM, then tears it down: the cleanup contract in a
//! few lines. `cargo run -p clusterlab-containers --example hold_run`.

use clusterlab_containers::image::{self, stock};
use clusterlab_containers::run::Run;
use tokio::signal::unix::{signal, SignalKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let docker = clusterlab_containers::docker::connect().await?;
    let tag = image::ensure(&docker, &stock::etcd()?).await?.tag;
    let id = format!("hold-{}", std::process::id());
    let run = Run::start(docker, &id).await?;
    run.start_container("n1", &tag, &["/usr/local/bin/etcd", "--data-dir", "/data"])
        .await?;
    println!("ready {id}");
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    run.teardown().await?;
    println!("clean {id}");
    Ok(())
}
