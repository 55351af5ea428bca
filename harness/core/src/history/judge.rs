//! The `linearizable` check over a run's recorded operations, the same in
//! every world: the verdict of [`linearizable::check`] on the trace's
//! history, turned into a check event that names the anomaly's window, its
//! clients' nodes and when it happened.
//!
//! A scenario may expect an anomaly (`[expect] linearizable = false`, for a
//! store configured to allow stale reads): the check then passes only if
//! the checker finds one, so that CI stays green for the right reason and
//! turns red if the anomaly disappears.

use std::time::Duration;

use super::linearizable::{self, Budget};
use super::verdict::Judgement;
use super::{from_events, Op};
use crate::trace::{EventKind, Trace};

/// The check's name.
pub const NAME: &str = "linearizable";

/// The set check's name.
pub const SET: &str = "set";

/// The check events (and their times) for `trace`'s operations: the
/// `linearizable` check over its registers, the `set` check over its sets;
/// none when the run recorded no operation.
pub fn judge(trace: &Trace, expect_linearizable: bool) -> Vec<(Duration, EventKind)> {
    let events = trace.history();
    if events.is_empty() {
        return Vec::new();
    }
    let end = Duration::from_micros(events.last().map_or(0, |e| e.time_us));
    let lines = events.into_iter().enumerate().map(|(i, e)| (i + 1, e));
    let ops = match from_events("history.jsonl", lines) {
        Ok(ops) => ops,
        Err(e) => {
            let detail = format!("the recorded history is malformed: {e}");
            return vec![(end, check(false, detail, Vec::new()))];
        }
    };
    let judged = Judgement::of(&ops, Budget::default());
    let mut out: Vec<(Duration, EventKind)> = judged
        .sets
        .iter()
        .map(|r| {
            let e = EventKind::Check {
                name: SET.into(),
                passed: r.valid(),
                detail: r.summary(),
                nodes: Vec::new(),
            };
            (end, e)
        })
        .collect();
    out.extend(registers(&ops, &judged, end, expect_linearizable));
    out
}

/// The `linearizable` check over the registers, if there are any.
fn registers(
    ops: &[Op],
    judged: &Judgement,
    end: Duration,
    expect_linearizable: bool,
) -> Option<(Duration, EventKind)> {
    if judged.registers.is_empty() {
        return None;
    }
    let keys = judged.registers.len();
    let anomaly = judged.anomalies().next();
    let unknown: Vec<&String> = judged.undecided().collect();
    let (ok, unk) = count(ops);
    let summary = format!(
        "{} operations ({ok} ok, {unk} unknown) on {keys} keys",
        ops.len()
    );
    Some(match (anomaly, expect_linearizable) {
        (Some(a), expect) => {
            let at = Duration::from_micros(stuck_time(a));
            let nodes = window_nodes(&a.window);
            let table = linearizable::table(a);
            let detail = if expect {
                format!("{summary}: {table}")
            } else {
                format!("expected, and found: {summary}: {table}")
            };
            (at, check(!expect, detail, nodes))
        }
        (None, _) if !unknown.is_empty() => (
            end,
            check(false, format!("unknown: {}", unknown[0]), Vec::new()),
        ),
        (None, true) => (end, check(true, format!("{summary}: linearizable"), Vec::new())),
        (None, false) => (
            end,
            check(
                false,
                format!("{summary}: linearizable, but the scenario expects an anomaly (`[expect] linearizable = false`); it disappeared"),
                Vec::new(),
            ),
        ),
    })
}

fn check(passed: bool, detail: String, nodes: Vec<String>) -> EventKind {
    EventKind::Check {
        name: NAME.into(),
        passed,
        detail,
        nodes,
    }
}

fn count(ops: &[Op]) -> (usize, usize) {
    let unknown = ops.iter().filter(|o| o.complete_us.is_none()).count();
    (ops.len() - unknown, unknown)
}

fn stuck_time(a: &linearizable::Anomaly) -> u64 {
    a.window
        .iter()
        .find(|o| o.id == a.stuck)
        .and_then(|o| o.complete_us)
        .unwrap_or(0)
}

fn window_nodes(w: &[Op]) -> Vec<String> {
    let mut nodes: Vec<String> = w.iter().filter_map(|o| o.node.clone()).collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// A small history with a stale read, for tests here and in the reports.
#[cfg(test)]
pub(crate) mod fixture {
    use std::time::Duration;

    use crate::history::{Event, Func, Type};
    use crate::trace::{EventKind, Trace};

    fn ev(kind: Type, client: u64, f: Func, value: Option<i64>, t: u64) -> EventKind {
        EventKind::Op(Event {
            kind,
            client,
            f,
            key: "x".into(),
            value: value.map(serde_json::Value::from),
            from: None,
            to: None,
            time_us: t,
            node: Some(format!("n{client}")),
        })
    }

    /// n1 writes 1, n3 writes 2, then n2 reads `read` (1: stale).
    pub(crate) fn trace(read: i64) -> Trace {
        let mut t = Trace::default();
        let at = Duration::from_millis(1);
        t.push(at, ev(Type::Invoke, 1, Func::Write, Some(1), 10));
        t.push(at, ev(Type::Ok, 1, Func::Write, None, 20));
        t.push(at, ev(Type::Invoke, 3, Func::Write, Some(2), 22));
        t.push(at, ev(Type::Ok, 3, Func::Write, None, 25));
        t.push(at, ev(Type::Invoke, 2, Func::Read, None, 30));
        t.push(at, ev(Type::Ok, 2, Func::Read, Some(read), 40));
        t
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::trace;
    use super::*;

    fn verdict(t: &Trace, expect: bool) -> (bool, String, Vec<String>) {
        match judge(t, expect).remove(0).1 {
            EventKind::Check {
                passed,
                detail,
                nodes,
                ..
            } => (passed, detail, nodes),
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn a_stale_read_fails_and_passes_only_where_expected() {
        // Client 2 on n2 reads 1 after n3's write of 2 completed.
        let (passed, detail, nodes) = verdict(&trace(1), true);
        assert!(!passed);
        assert!(detail.contains("not linearizable"), "{detail}");
        assert_eq!(nodes, ["n2", "n3"]);
        let (passed, detail, _) = verdict(&trace(1), false);
        assert!(
            passed && detail.starts_with("expected, and found"),
            "{detail}"
        );
        let (passed, _, _) = verdict(&trace(2), true);
        assert!(passed);
        let (passed, detail, _) = verdict(&trace(2), false);
        assert!(!passed && detail.contains("it disappeared"), "{detail}");
        assert!(judge(&Trace::default(), true).is_empty());
    }

    #[test]
    fn operations_go_to_history_jsonl_not_events_jsonl() {
        let t = trace(2);
        assert_eq!(t.to_jsonl(), "");
        assert_eq!(t.history().len(), 6);
    }
}
