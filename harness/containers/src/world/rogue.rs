//! A rogue node on a secured store: a container on the run's network
//! holding another cluster's certificate (and token) runs disco-agent for
//! this cluster, and the harness makes the five attempts a rogue would
//! (announce itself, read the members, claim the bootstrap key, take the
//! leader key, revoke a member's lease: its keys would go with it) with
//! each set of credentials a rogue may hold ([`Secrets::rogues`]), once the
//! cluster has a member. Every attempt must
//! be refused and nothing it tried may reach the store; the run's
//! membership checks, which see the store's announced set, would catch a
//! rogue member on top.

use std::time::Duration;

use clusterlab_core::trace::EventKind;
use disco::{Keys, Registry, RegistryError};
use tokio::time::Instant;

use super::clock::Clock;
use super::secrets::Secrets;
use super::store::{Client, Store};
use crate::run::Run;

/// The rogue's node id.
pub const NODE: &str = "rogue";

/// What the rogue got.
#[derive(Debug, Default)]
pub struct Attempts {
    /// Each attempt and the store's answer; an `Ok` is a breach.
    pub answers: Vec<(String, Result<(), String>)>,
    /// The rogue agent's exit code and its last error line.
    pub agent: Option<(i64, String)>,
}

/// Any answer but an error is a breach: even a failed create has read.
fn res<T>(x: Result<T, RegistryError>) -> Result<(), String> {
    x.map(|_| ()).map_err(|e| e.to_string())
}

/// A read is refused, or answered with nothing while the cluster has
/// members (`seen`): Consul filters out what a token may not read rather
/// than refusing (etcd refuses). Without members seen, an empty answer
/// proves nothing and counts as a breach.
fn read(x: Result<disco::Snapshot, RegistryError>, seen: bool) -> Result<(), String> {
    match x {
        Ok(s) if s.entries.is_empty() && seen => {
            Err("nothing (the store hid the members from this token)".into())
        }
        other => res(other),
    }
}

/// The attempts; `victim` is a member's lease (`None`: no member was seen,
/// and that attempt counts as a breach: it could not be made).
async fn five<R: Registry>(
    r: &R,
    keys: &Keys,
    victim: Option<&disco::LeaseId>,
) -> Vec<(String, Result<(), String>)> {
    let revoke = match victim {
        Some(l) => res(r.revoke(l).await),
        None => Ok(()),
    };
    vec![
        (
            "announce".into(),
            res(r.put(&keys.member(NODE), "rogue:1", None).await),
        ),
        (
            "read the members".into(),
            read(r.list(&keys.members()).await, victim.is_some()),
        ),
        (
            "claim the bootstrap key".into(),
            res(r.create(&keys.bootstrap(), NODE, None).await),
        ),
        (
            "take the leader key".into(),
            res(r.create(&keys.leader(), NODE, None).await),
        ),
        ("revoke a member's lease".into(), revoke),
    ]
}

/// Makes every attempt once `store` shows a member of the cluster (so that
/// an empty read means hidden, not absent; up to 60 s); `argv` is the
/// rogue agent's command line before its credential flags.
pub async fn attempt(
    run: &Run,
    image: &str,
    secrets: &Secrets,
    keys: &Keys,
    store: &Store,
    argv: Vec<String>,
) -> Attempts {
    let mut out = Attempts::default();
    let give_up = Instant::now() + Duration::from_secs(60);
    let mut victim = None;
    while Instant::now() < give_up {
        victim = store.member_lease().await;
        if victim.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for (who, creds) in secrets.rogues() {
        let answers = match store.connect_as(&creds).await {
            Ok(Client::Etcd(r)) => five(r.as_ref(), keys, victim.as_ref()).await,
            Ok(Client::Consul(r)) => five(&r, keys, victim.as_ref()).await,
            Err(e) => vec![("connect".into(), Err(e.to_string()))],
        };
        for (what, answer) in answers {
            out.answers.push((format!("{who}: {what}"), answer));
        }
    }
    let mut argv = argv;
    argv.extend(secrets.rogue_flags());
    argv.extend(["--", "true"].map(str::to_string));
    let args: Vec<&str> = argv.iter().map(String::as_str).collect();
    if run
        .start_container_with(NODE, image, &args, &secrets.rogue_files())
        .await
        .is_ok()
    {
        let give_up = Instant::now() + Duration::from_secs(60);
        while Instant::now() < give_up {
            if let Some(code) = run.exit_code(NODE).await {
                let logs = run.logs(NODE).await.unwrap_or_default();
                let line = logs
                    .lines()
                    .rev()
                    .find(|l| l.contains("disco-agent: error"))
                    .unwrap_or("")
                    .trim()
                    .to_string();
                out.agent = Some((code, line));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    out
}

impl Attempts {
    /// Records the `rogue` check against what `store` holds under
    /// `prefix` in the rogue's name.
    pub async fn judge_store(&self, store: &Store, prefix: &str, rec: &Clock) {
        let left = match store
            .list_all(&format!("{}/", prefix.trim_matches('/')))
            .await
        {
            Ok(snap) => snap
                .entries
                .into_iter()
                .filter(|e| e.key.contains(NODE) || e.value.contains(NODE))
                .map(|e| format!("{} = {}", e.key, e.value))
                .collect::<Vec<_>>(),
            Err(e) => vec![format!("(the store could not be read: {e})")],
        };
        self.judge(&left, rec);
    }

    /// Records the `rogue` check: every attempt refused, the agent out with
    /// code 2, and `left` (the keys the store holds in the rogue's name).
    pub fn judge(&self, left: &[String], rec: &Clock) {
        let breaches: Vec<&str> = self
            .answers
            .iter()
            .filter(|(_, a)| a.is_ok())
            .map(|(w, _)| w.as_str())
            .collect();
        let agent_ok = self.agent.as_ref().is_some_and(|(c, _)| *c == 2);
        let passed = breaches.is_empty() && agent_ok && left.is_empty();
        let mut detail = String::new();
        for (what, a) in &self.answers {
            detail.push_str(&format!(
                "{what}: {}; ",
                a.as_ref().err().map_or("ALLOWED", String::as_str)
            ));
        }
        detail.push_str(&match &self.agent {
            Some((code, line)) => format!("rogue disco-agent exited {code}: {line}; "),
            None => "rogue disco-agent did not exit within 60 s; ".into(),
        });
        if left.is_empty() {
            detail.push_str("nothing of it in the store");
        } else {
            detail.push_str(&format!("in the store: {left:?}"));
        }
        rec.push(EventKind::Check {
            name: "rogue".into(),
            passed,
            detail,
            nodes: if passed {
                Vec::new()
            } else {
                vec![NODE.into()]
            },
            found: if passed {
                Vec::new()
            } else {
                vec![clusterlab_core::check::Found::kind("accepted")]
            },
        });
    }
}
