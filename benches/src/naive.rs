//! The seeds' shell glue as the yardstick, scaled down in time: every node
//! runs `etcdctl set <key> --ttl 60` then `sleep 45`, and builds its join
//! list by listing the prefix on the same beat. Real intervals would make a
//! bench take minutes per sample, so both are divided by [`SCALE`]; the
//! unscaled glue is [`SCALE`] times slower than what is measured here.

use std::collections::BTreeSet;
use std::time::Duration;

use disco::keys::Keys;
use disco::peers::Membership;
use disco::Registry;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How much faster than the seeds' `sleep 45` / `--ttl 60` the naive agent
/// runs here.
pub const SCALE: u32 = 100;

/// The glue's poll and renew period, scaled: 45 s / [`SCALE`].
pub fn period() -> Duration {
    Duration::from_secs(45) / SCALE
}

/// The glue's TTL, scaled (60 s / [`SCALE`]), raised to the store's minimum.
pub fn ttl(min: Duration) -> Duration {
    (Duration::from_secs(60) / SCALE).max(min)
}

/// A naive node's view: it lists the members every [`period`].
#[derive(Debug)]
pub struct Poller {
    view: watch::Receiver<BTreeSet<String>>,
    task: JoinHandle<()>,
}

impl Poller {
    /// Starts polling `keys`' members, at a random phase of the period as
    /// independently started shell loops would be.
    pub fn start<R: Registry>(registry: R, keys: Keys, phase: Duration) -> Poller {
        let (tx, view) = watch::channel(BTreeSet::new());
        let task = tokio::spawn(async move {
            tokio::time::sleep(phase).await;
            let mut tick = tokio::time::interval(period());
            loop {
                tick.tick().await;
                if let Ok(snap) = registry.list(&keys.members()).await {
                    let seen = Membership::from_snapshot(&keys, &snap)
                        .members
                        .into_iter()
                        .map(|m| m.node)
                        .collect();
                    tx.send_replace(seen);
                }
            }
        });
        Poller { view, task }
    }

    /// What it saw last.
    pub fn view(&self) -> watch::Receiver<BTreeSet<String>> {
        self.view.clone()
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `etcdctl set <members>/<node> <addr> --ttl 60`, scaled.
pub async fn announce<R: Registry>(
    registry: &R,
    keys: &Keys,
    node: &str,
    min_ttl: Duration,
) -> Result<(), disco::RegistryError> {
    let lease = registry.grant(ttl(min_ttl)).await?;
    registry
        .put(&keys.member(node), &format!("{node}:7000"), Some(&lease.id))
        .await?;
    Ok(())
}
