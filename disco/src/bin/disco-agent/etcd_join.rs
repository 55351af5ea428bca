//! Joining an etcd cluster: etcd accepts a new member only after an existing
//! member has added it (MemberAdd). A voting member that has been added but
//! not started yet counts towards quorum, so adding one to a 1-member
//! cluster stops that cluster until the newcomer is up (and the newcomer's
//! own start needs a linearized read from it: seconds of deadlock). So a
//! joiner adds itself as a *learner* (no vote, no quorum change; etcd allows
//! one learner at a time, which serialises simultaneous joiners), starts
//! with exactly the member list etcd returned, and is promoted to a voter
//! once it has caught up.

use std::time::Duration;

use disco::node::JoinPlan;
use disco::peers::Member;
use etcd_client::{Client, ConnectOptions, MemberAddOptions};
use tokio::time::{sleep, Instant};
use tracing::{info, warn};

/// The host of `http://host:port`.
fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    rest.rsplit_once(':').map_or(rest, |(h, _)| h)
}

/// A learner to promote once its etcd is running.
#[derive(Debug, Clone)]
pub struct Learner {
    id: u64,
    endpoints: Vec<String>,
}

fn connect_options() -> ConnectOptions {
    ConnectOptions::new()
        .with_connect_timeout(Duration::from_secs(2))
        .with_timeout(Duration::from_secs(5))
}

/// Adds this node to the cluster of `plan`'s peers as a learner (or finds
/// it already there, after a restart) and replaces `plan.peers` with etcd's
/// own member list, so that `{initial_cluster}` matches what etcd expects.
/// Returns the learner to [`promote`], if this node is one.
pub async fn member_add(
    plan: &mut JoinPlan,
    client_port: u16,
    deadline: Duration,
) -> anyhow::Result<Option<Learner>> {
    let me = plan.me.address.clone();
    let give_up = Instant::now() + deadline;
    let opts = connect_options();
    let endpoints: Vec<String> = plan
        .peers
        .iter()
        .map(|p| format!("http://{}:{client_port}", host_of(&p.address)))
        .collect();
    let mut delay = Duration::from_millis(200);
    loop {
        for peer in &plan.peers {
            let url = format!("http://{}:{client_port}", host_of(&peer.address));
            let mut client = match Client::connect([url.as_str()], Some(opts.clone())).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(%url, error = %e, "peer not reachable for member add");
                    continue;
                }
            };
            let listed = match client.member_list().await {
                Ok(l) => l.members().to_vec(),
                Err(e) => {
                    warn!(%url, error = %e, "member list failed");
                    continue;
                }
            };
            // This node's own entry: found on a restart, or etcd's answer
            // to the add.
            let mine = listed.iter().find(|m| m.peer_urls().contains(&me)).cloned();
            let (members, mine) = if let Some(m) = mine {
                info!(%url, learner = m.is_learner(), "already a member (restart): starting with etcd's member list");
                (listed, m)
            } else {
                let add = MemberAddOptions::new().with_is_learner();
                match client.member_add([me.clone()], Some(add)).await {
                    Ok(r) => {
                        info!(%url, "added as a learner");
                        let Some(m) = r.member().cloned() else {
                            warn!(%url, "member add answered without the member it added");
                            continue;
                        };
                        (r.member_list().to_vec(), m)
                    }
                    Err(e) => {
                        warn!(%url, error = %e, "member add refused (another joiner may still be starting)");
                        continue;
                    }
                }
            };
            plan.peers = members
                .iter()
                .filter(|m| !m.peer_urls().contains(&me))
                .filter_map(|m| {
                    let address = m.peer_urls().first()?.clone();
                    let node = if m.name().is_empty() {
                        host_of(&address).to_string()
                    } else {
                        m.name().to_string()
                    };
                    Some(Member { node, address })
                })
                .collect();
            plan.peers.sort();
            // A voter already (restarted after its promotion) needs none.
            let learner = mine.is_learner().then(|| Learner {
                id: mine.id(),
                endpoints: endpoints.clone(),
            });
            return Ok(learner);
        }
        if Instant::now() >= give_up {
            anyhow::bail!(
                "could not add {me} to the etcd cluster through any of {:?} within {deadline:?}",
                plan.peers.iter().map(|p| &p.address).collect::<Vec<_>>()
            );
        }
        sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

/// Promotes `learner` to a voting member, retrying until etcd agrees that
/// it has caught up with the leader (or `deadline` passes).
pub async fn promote(learner: Learner, deadline: Duration) {
    let give_up = Instant::now() + deadline;
    while Instant::now() < give_up {
        sleep(Duration::from_millis(500)).await;
        let Ok(mut client) = Client::connect(&learner.endpoints, Some(connect_options())).await
        else {
            continue;
        };
        match client.member_promote(learner.id).await {
            Ok(_) => {
                info!(id = learner.id, "promoted from learner to voting member");
                return;
            }
            Err(e) => info!(error = %e, "not promoted yet (still catching up?)"),
        }
    }
    warn!(
        id = learner.id,
        "still a learner after {deadline:?}: giving up promotion"
    );
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_of_strips_scheme_and_port() {
        assert_eq!(host_of("http://n1:2380"), "n1");
        assert_eq!(host_of("n1:2380"), "n1");
        assert_eq!(host_of("http://10.0.0.2:2380"), "10.0.0.2");
    }
}
