//! The `[expect]` table: which checks run, their bounds, the findings a
//! scenario expects (each naming what must be seen) and the checks it
//! expects to have nothing to judge.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use super::{Check, Checker};
use crate::checks;
use crate::model::{ClusterKind, Expect, Finding, Join};
use crate::time::Time;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawExpect {
    converge_within: Option<Time>,
    stable_for: Option<Spanned<Time>>,
    single_leader: Option<bool>,
    leader_key_matches: Option<bool>,
    announced_equals_live: Option<bool>,
    no_lost_writes: Option<Spanned<bool>>,
    linearizable: Option<Spanned<bool>>,
    single_bootstrap: Option<bool>,
    failover_within: Option<Time>,
    #[serde(default)]
    findings: Vec<RawFinding>,
    #[serde(default)]
    unjudged: BTreeMap<String, Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFinding {
    check: Spanned<String>,
    kind: Option<Spanned<String>>,
    key: Option<String>,
    reference: String,
}

/// How long liveness must hold once it first holds, by default: a few
/// samples in either world (four in containers, twenty simulator ticks).
pub const STABLE_FOR: Duration = Duration::from_secs(1);

impl Checker<'_> {
    pub(super) fn expect(&self, e: RawExpect, kind: ClusterKind, join: Join) -> Check<Expect> {
        // A system formed by its own discovery (RabbitMQ's plugins) or by
        // the glue has no disco leader, bootstrap or announcements to check.
        let disco = kind != ClusterKind::Rabbitmq && join == Join::Agent;
        // Galera is multi-primary: disco's leader key names no database
        // leader there.
        let db_leader = disco && kind != ClusterKind::Galera;
        for (field, v) in [
            ("linearizable", &e.linearizable),
            ("no_lost_writes", &e.no_lost_writes),
        ] {
            if let Some(v) = v.as_ref().filter(|v| !*v.get_ref()) {
                let check = if field == "linearizable" {
                    "linearizable"
                } else {
                    "no-lost-writes"
                };
                return Err(self.err(
                    v.span(),
                    format!("`{field} = false` does not say which anomaly is expected"),
                    &format!(
                        "name it as a finding: [[expect.findings]] check = \"{check}\", kind = one of {}, reference = \"...\"",
                        checks::kinds_of(check).unwrap_or_default().join(", ")
                    ),
                ));
            }
        }
        let stable_for = match e.stable_for {
            Some(t) if t.get_ref().0 > Duration::from_secs(60) => {
                return Err(self.err(
                    t.span(),
                    format!("stable_for {:?} is longer than a minute", t.get_ref().0),
                    "liveness must hold this long once it holds; use a few seconds at most",
                ))
            }
            Some(t) => t.into_inner().0,
            None => STABLE_FOR,
        };
        let mut findings = Vec::new();
        for f in e.findings {
            let check = f.check.get_ref().as_str();
            let Some(kinds) = checks::kinds_of(check) else {
                return Err(self.unknown_check(&f.check));
            };
            let Some(kind) = f.kind else {
                return Err(self.err(
                    f.check.span(),
                    format!("the finding of `{check}` does not say what must be seen"),
                    &format!("add kind = one of {}", kinds.join(", ")),
                ));
            };
            if let Some(k) = kind.get_ref().split('|').find(|k| !kinds.contains(k)) {
                return Err(self.err(
                    kind.span(),
                    format!("`{check}` finds no {k:?}"),
                    &format!(
                        "kind = one of {} (or several joined by |)",
                        kinds.join(", ")
                    ),
                ));
            }
            findings.push(Finding {
                check: check.to_string(),
                kind: kind.into_inner(),
                key: f.key,
                reference: f.reference,
            });
        }
        let mut unjudged = BTreeMap::new();
        for (check, why) in e.unjudged {
            let Some(kinds) = checks::kinds_of(&check) else {
                return Err(self.err(
                    why.span(),
                    format!("no check is named {check:?}"),
                    &format!("checks: {}", checks::names().collect::<Vec<_>>().join(", ")),
                ));
            };
            if !kinds.contains(&checks::NOTHING_TO_JUDGE) {
                return Err(self.err(
                    why.span(),
                    format!("`{check}` always has something to judge"),
                    &format!(
                        "only these may have nothing to judge: {}",
                        checks::KINDS
                            .iter()
                            .filter(|(_, k)| k.contains(&checks::NOTHING_TO_JUDGE))
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
            unjudged.insert(check, why.into_inner());
        }
        Ok(Expect {
            converge_within: e.converge_within.map_or(Duration::from_secs(60), |t| t.0),
            stable_for,
            single_leader: e.single_leader.unwrap_or(db_leader),
            leader_key_matches: e.leader_key_matches.unwrap_or(db_leader),
            announced_equals_live: e.announced_equals_live.unwrap_or(disco),
            single_bootstrap: e.single_bootstrap.unwrap_or(disco),
            failover_within: e.failover_within.map(|t| t.0),
            findings,
            unjudged,
        })
    }

    fn unknown_check(&self, check: &Spanned<String>) -> Box<crate::ScenarioError> {
        self.err(
            check.span(),
            format!("no check is named {:?}", check.get_ref()),
            &format!("checks: {}", checks::names().collect::<Vec<_>>().join(", ")),
        )
    }
}
