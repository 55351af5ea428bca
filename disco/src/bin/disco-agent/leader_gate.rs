//! Leader key follows the database: with `--leader-probe`, the agent
//! campaigns for the disco leader key only while its own database says it
//! leads, and resigns as soon as it stops leading. The key then names the
//! real leader (rqlite's disco design), instead of whichever agent won a
//! race that the database knows nothing about.

use std::time::Duration;

use disco::announce::LeaseState;
use disco::keys::Keys;
use disco::leader::{Election, LeaderRecord, Leadership};
use disco::Registry;
use tokio::sync::watch;
use tracing::info;

/// How often the local database is asked.
pub const EVERY: Duration = Duration::from_millis(250);

/// Asks the database whether it leads.
#[derive(Debug, Clone)]
pub struct Probe {
    url: String,
    needle: Option<String>,
    http: reqwest::Client,
}

impl Probe {
    /// GET `url`; leading means 2xx and, if given, a body containing `needle`.
    pub fn new(url: String, needle: Option<String>) -> Probe {
        let http = disco::backend::http::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("plain http client");
        Probe { url, needle, http }
    }

    /// Whether the database answers as the probe wants (leads, or is ready).
    pub async fn leads(&self) -> bool {
        let Ok(resp) = self.http.get(&self.url).send().await else {
            return false;
        };
        if !resp.status().is_success() {
            return false;
        }
        match &self.needle {
            None => true,
            Some(n) => resp.text().await.is_ok_and(|t| t.contains(n.as_str())),
        }
    }
}

/// Runs forever: starts an election when the database leads, resigns when
/// it stops, and mirrors the current election's view into `view`. Abort the
/// task to stop; the lease's revocation at shutdown removes a key still
/// held.
pub async fn follow<R: Registry>(
    registry: R,
    keys: Keys,
    me: LeaderRecord,
    lease: watch::Receiver<Option<LeaseState>>,
    probe: Probe,
    view: watch::Sender<Leadership>,
) {
    let mut election: Option<(Election, tokio::task::JoinHandle<()>)> = None;
    loop {
        let leads = probe.leads().await;
        match (leads, election.is_some()) {
            (true, false) => {
                info!("the database leads: campaigning for the leader key");
                let e = Election::start(registry.clone(), keys.clone(), me.clone(), lease.clone());
                let mirror = tokio::spawn(mirror(e.subscribe(), view.clone()));
                election = Some((e, mirror));
            }
            (false, true) => {
                info!("the database no longer leads: resigning the leader key");
                if let Some((e, mirror)) = election.take() {
                    mirror.abort();
                    e.resign().await;
                    view.send_replace(Leadership::Follower { leader: None });
                }
            }
            _ => {}
        }
        tokio::time::sleep(EVERY).await;
    }
}

/// Copies every change of an election's view into `to`.
async fn mirror(mut from: watch::Receiver<Leadership>, to: watch::Sender<Leadership>) {
    loop {
        to.send_replace(from.borrow_and_update().clone());
        if from.changed().await.is_err() {
            return;
        }
    }
}
