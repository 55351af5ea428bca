//! Leader key follows the database: with `--leader-probe`, the agent
//! campaigns for the disco leader key only while its own database says it
//! leads, and resigns as soon as it stops leading. The key then names the
//! real leader (rqlite's disco design), instead of whichever agent won a
//! race that the database knows nothing about.

use std::time::Duration;

use disco::announce::LeaseState;
use disco::keys::Keys;
use disco::leader::{Election, LeaderRecord};
use disco::Registry;
use tokio::sync::watch;
use tracing::info;

/// How often the local database is asked.
const EVERY: Duration = Duration::from_millis(250);

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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()
            .expect("plain http client");
        Probe { url, needle, http }
    }

    async fn leads(&self) -> bool {
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
/// it stops. Abort the task to stop; the lease's revocation at shutdown
/// removes a key still held.
pub async fn follow<R: Registry>(
    registry: R,
    keys: Keys,
    me: LeaderRecord,
    lease: watch::Receiver<Option<LeaseState>>,
    probe: Probe,
) {
    let mut election: Option<Election> = None;
    loop {
        let leads = probe.leads().await;
        match (leads, election.is_some()) {
            (true, false) => {
                info!("the database leads: campaigning for the leader key");
                election = Some(Election::start(
                    registry.clone(),
                    keys.clone(),
                    me.clone(),
                    lease.clone(),
                ));
            }
            (false, true) => {
                info!("the database no longer leads: resigning the leader key");
                if let Some(e) = election.take() {
                    e.resign().await;
                }
            }
            _ => {}
        }
        tokio::time::sleep(EVERY).await;
    }
}
