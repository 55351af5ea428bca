//! Watches the run's containers die (Docker's `die` events) and records
//! each exit of a cluster or store node in the trace, saying whether a
//! fault caused it. Without it a database that crashes on its own (a boot
//! that fails, a process that aborts) shows only as a node with no view.

use std::collections::{BTreeMap, HashMap};

use bollard::query_parameters::EventsOptionsBuilder;
use clusterlab_core::trace::EventKind;
use futures_util::StreamExt;

use super::clock::Clock;
use crate::run::{Run, RUN_LABEL};

/// Starts watching from now; the task runs until aborted. Docker replays
/// events since the given second, so an exit before the subscription
/// reaches it is not missed. A node the engine started again on its own
/// (a restart policy) is recorded and sent to `restarted`: its process
/// and namespace are new, and the faults in force on it must be put back.
pub fn watch(
    run: &Run,
    nodes: &[String],
    rec: Clock,
    restarted: tokio::sync::mpsc::UnboundedSender<String>,
) -> tokio::task::JoinHandle<()> {
    let by_container: BTreeMap<String, String> = nodes
        .iter()
        .map(|n| (run.container(n), n.clone()))
        .collect();
    let filters = HashMap::from([
        ("type", vec!["container".to_string()]),
        ("event", vec!["die".to_string(), "start".to_string()]),
        ("label", vec![format!("{RUN_LABEL}={}", run.id())]),
    ]);
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let opts = EventsOptionsBuilder::new()
        .since(&since.to_string())
        .filters(&filters)
        .build();
    let docker = run.docker().clone();
    let exits = run.exits();
    tokio::spawn(async move {
        let mut events = Box::pin(docker.events(Some(opts)));
        // An error only means exits go unreported, never a failed run.
        while let Some(Ok(e)) = events.next().await {
            let attrs = e.actor.and_then(|a| a.attributes).unwrap_or_default();
            // On Swarm a node's containers (one per task) are named by
            // Swarm; their service's name is the node's.
            let container = attrs
                .get(crate::run::swarm::SERVICE_LABEL)
                .or_else(|| attrs.get("name"))
                .cloned()
                .unwrap_or_default();
            let Some(node) = by_container.get(&container) else {
                continue;
            };
            if e.action.as_deref() == Some("start") {
                if exits.engine_started(&container) {
                    rec.push(EventKind::Restarted { node: node.clone() });
                    let _ = restarted.send(node.clone());
                }
                continue;
            }
            let code = attrs
                .get("exitCode")
                .and_then(|c| c.parse().ok())
                .unwrap_or(-1);
            rec.push(EventKind::Exited {
                node: node.clone(),
                code,
                by_fault: exits.caused(&container),
            });
            exits.died(&container);
        }
    })
}
