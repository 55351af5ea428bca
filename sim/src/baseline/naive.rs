//! The seeds' shell glue, transcribed: read the announced list, bootstrap
//! if it is empty, else join it; then `etcdctl set --ttl 60` and `sleep 45`,
//! forever. Two nodes that boot together both read an empty list.

use std::time::Duration;

use disco::keys::Keys;
use disco::peers::Membership;
use disco::Registry;

use crate::world::board::Board;

/// Runs node `name` with the naive glue.
pub async fn run<R: Registry>(
    registry: R,
    name: String,
    prefix: String,
    cluster: String,
    board: Board,
) -> turmoil::Result {
    let keys = Keys::new(&prefix, &cluster);
    let mut first = true;
    loop {
        if let Ok(snap) = registry.list(&keys.members()).await {
            let members: Vec<String> = Membership::from_snapshot(&keys, &snap)
                .members
                .into_iter()
                .map(|m| m.node)
                .collect();
            if first {
                if members.iter().all(|m| *m == name) {
                    board.bootstrap(&name);
                }
                first = false;
            }
            board.members(&name, members);
        }
        if let Ok(lease) = registry.grant(Duration::from_secs(60)).await {
            let _ = registry
                .put(
                    &keys.member(&name),
                    &format!("{name}:7000"),
                    Some(&lease.id),
                )
                .await;
        }
        disco::timer::sleep(Duration::from_secs(45)).await;
    }
}
