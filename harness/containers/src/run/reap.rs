//! Reaping: a run whose process died (SIGKILL, a crashed CI job) cannot
//! clean up after itself, so every new run removes the resources of runs
//! whose owning process is gone. Runs owned by a live process, or by
//! another host, are left alone.

use std::collections::{BTreeMap, HashMap};

use bollard::Docker;

use super::{hostname, labelled, remove_run, RunError, HOST_LABEL, PID_LABEL, RUN_LABEL};

/// Whether process `pid` exists on this machine.
fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Removes the resources of every dead run; returns their ids.
pub async fn reap(docker: &Docker) -> Result<Vec<String>, RunError> {
    let (containers, networks) = labelled(docker, RUN_LABEL).await?;
    let mut owners: BTreeMap<String, HashMap<String, String>> = BTreeMap::new();
    let labels = containers
        .into_iter()
        .filter_map(|c| c.labels)
        .chain(networks.into_iter().filter_map(|n| n.labels));
    for l in labels {
        if let Some(id) = l.get(RUN_LABEL) {
            owners.entry(id.clone()).or_insert(l);
        }
    }
    let me = hostname();
    let mut reaped = Vec::new();
    for (id, labels) in owners {
        let same_host = labels.get(HOST_LABEL).is_some_and(|h| *h == me);
        let pid = labels.get(PID_LABEL).and_then(|p| p.parse::<i32>().ok());
        let dead = same_host && pid.is_some_and(|p| !alive(p));
        if dead {
            tracing::info!(run = %id, "reaping the resources of a dead run");
            remove_run(docker, &id).await?;
            reaped.push(id);
        }
    }
    Ok(reaped)
}
