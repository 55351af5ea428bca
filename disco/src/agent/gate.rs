//! The leader key follows the database: in gate mode the agent campaigns
//! for the disco leader key only while its own database says it leads, and
//! resigns as soon as it stops leading. The key then names the real leader
//! (rqlite's disco design), instead of whichever agent won a race that the
//! database knows nothing about.
//!
//! The moment the database stops leading, the agent stops saying it leads,
//! before the resignation's compare-and-delete is even sent: that call may
//! land and its reply be slow or lost, and the next holder may take the key
//! meanwhile.

use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tracing::info;

use super::database::Probe;
use crate::announce::LeaseState;
use crate::keys::Keys;
use crate::leader::{Election, LeaderRecord, Leadership};
use crate::registry::Registry;

/// How often the local database is asked whether it leads.
pub const EVERY: Duration = Duration::from_millis(250);

/// A running gate. [`Gate::stop`] resigns whatever it holds.
#[derive(Debug)]
pub struct Gate {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Gate {
    /// Follows `probe`: campaigns while the database leads, resigns when it
    /// stops, and mirrors the election's view into `view`.
    pub fn start<R: Registry, P: Probe>(
        registry: R,
        keys: Keys,
        me: LeaderRecord,
        lease: watch::Receiver<Option<LeaseState>>,
        probe: P,
        view: watch::Sender<Leadership>,
    ) -> Gate {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(follow(registry, keys, me, lease, probe, view, stopped));
        Gate {
            stop: Some(stop),
            task,
        }
    }

    /// Stops following and resigns the key if held.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn follow<R: Registry, P: Probe>(
    registry: R,
    keys: Keys,
    me: LeaderRecord,
    lease: watch::Receiver<Option<LeaseState>>,
    probe: P,
    view: watch::Sender<Leadership>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut held: Option<(Election, tokio::task::JoinHandle<()>)> = None;
    let mut stopping = false;
    // A resignation the store did not answer leaves the key on this node's
    // lease, renewed as long as the node lives, and every other campaign
    // waits: it is taken back as soon as the store answers.
    let mut stale = false;
    loop {
        let leads = if stopping {
            false
        } else {
            tokio::select! {
                l = probe.leads() => l,
                _ = &mut stopped => {
                    stopping = true;
                    false
                }
            }
        };
        match (leads && !stopping, held.is_some()) {
            (true, false) => {
                info!("the database leads: campaigning for the leader key");
                let e = Election::start(registry.clone(), keys.clone(), me.clone(), lease.clone());
                let mirror = tokio::spawn(mirror_view(e.subscribe(), view.clone()));
                held = Some((e, mirror));
            }
            (false, true) => {
                if !stopping {
                    info!("the database no longer leads: resigning the leader key");
                }
                let (e, mirror) = held.take().expect("checked");
                // Not leading from this instant: the view says so before
                // the resignation is sent, and the election's own last
                // words no longer reach it.
                mirror.abort();
                view.send_replace(Leadership::Follower { leader: None });
                stale = !e.resign().await;
            }
            (false, false) if stale => {
                let lease_id = lease.borrow().as_ref().map(|l| l.lease.id.clone());
                stale = match lease_id {
                    Some(id) => !crate::leader::take_back(&registry, &keys, &me, &id)
                        .await
                        .unwrap_or(false),
                    // No lease: nothing of ours can hold the key.
                    None => false,
                };
            }
            _ => {}
        }
        if stopping {
            return;
        }
        tokio::select! {
            _ = crate::timer::sleep(EVERY) => {}
            _ = &mut stopped => stopping = true,
        }
    }
}

/// Copies every change of an election's view into `to`.
async fn mirror_view(mut from: watch::Receiver<Leadership>, to: watch::Sender<Leadership>) {
    loop {
        to.send_replace(from.borrow_and_update().clone());
        if from.changed().await.is_err() {
            return;
        }
    }
}
