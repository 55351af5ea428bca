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

/// Removes the resources of every dead run; returns the ids of those
/// fully removed. A dead run that cannot be removed now is left for the
/// next reaper, never an error of the run being started: two runs starting
/// at once (two scenario tests, a CLI run beside a test) reap the same
/// leftovers, and one's network removal is refused while the other is still
/// removing the containers on it.
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
            match remove_run(docker, &id).await {
                Ok(()) => reaped.push(id),
                Err(e) => tracing::warn!(run = %id, "left for the next reaper: {e}"),
            }
        }
    }
    Ok(reaped)
}
