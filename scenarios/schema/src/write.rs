//! Faults back into the file format: a generated schedule, shrunk, is
//! printed as `[[faults]]` tables a user pastes into a scenario file, and
//! reading them back gives the same faults.

use std::fmt::Write as _;
use std::time::Duration;

use crate::model::{Action, Direction, Fault, Groups, Peer, Role, Shape, StoreKey, Target};

/// `"1500ms"`, or `"3s"` for whole seconds.
fn time(d: Duration) -> String {
    if d.subsec_nanos() == 0 {
        format!("\"{}s\"", d.as_secs())
    } else {
        format!("\"{}ms\"", d.as_millis())
    }
}

fn target(t: &Target) -> String {
    match t {
        Target::Node(n) => n.clone(),
        Target::Role(r) => Role::ALL
            .iter()
            .find(|(_, x)| x == r)
            .map_or("?", |(w, _)| w)
            .to_string(),
    }
}

fn targets(ts: &[Target]) -> String {
    match ts {
        [one] => format!("{:?}", target(one)),
        many => format!(
            "[{}]",
            many.iter()
                .map(|t| format!("{:?}", target(t)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn lists(groups: &[Vec<String>]) -> String {
    format!(
        "[{}]",
        groups
            .iter()
            .map(|g| format!(
                "[{}]",
                g.iter()
                    .map(|n| format!("{n:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// The `[[faults]]` tables of `faults`.
pub fn faults_toml(faults: &[Fault]) -> String {
    let mut out = String::new();
    for f in faults {
        let _ = writeln!(
            out,
            "[[faults]]\nat = {}\naction = \"{}\"",
            time(f.at),
            f.action.name()
        );
        let mut field = |k: &str, v: String| {
            let _ = writeln!(out, "{k} = {v}");
        };
        match &f.action {
            Action::Isolate { target: t }
            | Action::CutDiscovery { target: t }
            | Action::Pause { target: t }
            | Action::Kill { target: t }
            | Action::Restart { target: t }
            | Action::Reschedule { target: t }
            | Action::Crash { target: t }
            | Action::Leave { target: t }
            | Action::RevokeLease { target: t }
            | Action::DbLeaderMove { target: t }
            | Action::DbNotReady { target: t }
            | Action::DbCrash { target: t } => field("target", targets(t)),
            Action::PacketLoss { target: t, rate } | Action::DropReplies { target: t, rate } => {
                field("target", targets(t));
                field("rate", rate.to_string());
            }
            Action::DelayReplies { target: t, delay } => {
                field("target", targets(t));
                field("delay", time(*delay));
            }
            Action::DeleteKey { key, target: t } => {
                let word = match key {
                    StoreKey::Leader => "leader",
                    StoreKey::Bootstrap => "bootstrap",
                    StoreKey::Member => "member",
                };
                field("key", format!("{word:?}"));
                if *key == StoreKey::Member {
                    field("target", targets(t));
                }
            }
            Action::Partition { groups } => field(
                "groups",
                match groups {
                    Groups::Explicit(g) => lists(g),
                    Groups::Halves => "\"halves\"".into(),
                    Groups::MajorityMinority => "\"majority-minority\"".into(),
                },
            ),
            Action::Bridge { groups, via } => {
                field("groups", lists(groups));
                field("via", format!("{via:?}"));
            }
            Action::PartitionOneWay { from, to } => {
                field("from", targets(from));
                field("to", targets(to));
            }
            Action::ClockDrift { rate } => field("rate", rate.to_string()),
            Action::ClockJump { by } => field("by", time(*by)),
            Action::Shape {
                shape,
                target: t,
                peer,
                direction,
            } => {
                field("target", targets(t));
                match peer {
                    Peer::All => {}
                    Peer::Store => field("peer", "\"store\"".into()),
                    Peer::Nodes(p) => field("peer", targets(p)),
                }
                match direction {
                    Direction::Both => {}
                    Direction::Out => field("direction", "\"out\"".into()),
                    Direction::In => field("direction", "\"in\"".into()),
                }
                match shape {
                    Shape::Latency { delay } => field("delay", time(*delay)),
                    Shape::Jitter { delay, jitter } => {
                        field("delay", time(*delay));
                        field("jitter", time(*jitter));
                    }
                    Shape::Reorder { rate, delay } => {
                        field("rate", rate.to_string());
                        field("delay", time(*delay));
                    }
                    Shape::Duplicate { rate } => field("rate", rate.to_string()),
                }
            }
            Action::KillLeader
            | Action::KillStoreLeader
            | Action::CancelWatches
            | Action::ResetIndex
            | Action::DeregisterNode
            | Action::Heal => {}
        }
        if f.during_formation {
            let _ = writeln!(out, "during_formation = true");
        }
        if let Some(d) = f.duration {
            let _ = writeln!(out, "for = {}", time(d));
        }
        out.push('\n');
    }
    if out.is_empty() {
        out.push_str("# (no faults)\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_faults_read_back_the_same() {
        let text = r#"
description = "every kind of fault"
worlds = ["sim"]
[excluded]
containers = "t"
[discovery]
kind = "etcd"
[cluster]
kind = "etcd"
nodes = 5
[[faults]]
at = "1s"
action = "partition"
groups = [["n1", "n2"], ["n3"]]
for = "1500ms"
[[faults]]
at = "2s"
action = "partition-one-way"
from = "leader"
to = ["n1", "n2"]
[[faults]]
at = "3s"
action = "bridge"
groups = [["n1"], ["n2"]]
via = "n3"
[[faults]]
at = "4s"
action = "drop-replies"
target = "random"
rate = 0.5
for = "2s"
[[faults]]
at = "5s"
action = "delete-key"
key = "member"
target = "follower"
[[faults]]
at = "6s"
action = "delay-replies"
target = "n4"
delay = "700ms"
[[faults]]
at = "7s"
action = "clock-drift"
rate = 1.05
for = "3s"
[[faults]]
at = "8s"
action = "cancel-watches"
[[faults]]
at = "9s"
action = "crash"
target = "n5"
"#;
        let s = crate::parse("all.toml", "all", text).unwrap();
        let head = "description = \"x\"\nworlds = [\"sim\"]\n[excluded]\ncontainers = \"t\"\n[discovery]\nkind = \"etcd\"\n[cluster]\nkind = \"etcd\"\nnodes = 5\n";
        let again = crate::parse(
            "again.toml",
            "again",
            &format!("{head}{}", faults_toml(&s.faults)),
        )
        .unwrap_or_else(|e| panic!("{e}\n{}", faults_toml(&s.faults)));
        assert_eq!(again.faults, s.faults);
    }
}
