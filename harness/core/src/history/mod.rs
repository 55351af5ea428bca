//! Operation histories, as Jepsen records them: every client operation's
//! invocation and its completion, one JSON object per event in
//! `history.jsonl`, so that a checker can ask whether some legal order of
//! the operations explains every result.
//!
//! A completion is `ok` (it happened, with this result), `fail` (it
//! definitely did not happen: Jepsen's and Knossos's convention, so a
//! compare-and-set whose compare failed is `fail`) or `unknown` (a timeout,
//! a lost connection: it may or may not have happened, at any time after
//! its invocation). Histories written by other tools can be checked too;
//! the format is in docs/src/histories.md, and Jepsen's EDN is read and written
//! ([`edn`]).

pub mod edn;
pub mod generate;
pub mod judge;
pub mod linearizable;
pub mod register;
pub mod set;
pub mod verdict;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What an operation does to a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Func {
    /// Read the key's value (`null`: absent).
    Read,
    /// Write `value`.
    Write,
    /// Compare-and-set: `from` -> `to`.
    Cas,
    /// Add `value` to a set (the key names the set; its reads return
    /// arrays).
    Add,
}

/// Which part of an operation an event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Type {
    /// The client sent it.
    Invoke,
    /// It happened; `value` is a read's result.
    Ok,
    /// It definitely did not happen.
    Fail,
    /// It may or may not have happened.
    Unknown,
}

/// One line of `history.jsonl`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Invoke or a completion.
    #[serde(rename = "type")]
    pub kind: Type,
    /// The client (a process in Jepsen's words): at most one operation of
    /// a client is open at a time, except after an `unknown`.
    pub client: u64,
    /// The operation.
    pub f: Func,
    /// The key (a register per key).
    pub key: String,
    /// A write's value, or a read's result on `ok` (`null`: absent).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<serde_json::Value>,
    /// A compare-and-set's expected value.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<serde_json::Value>,
    /// A compare-and-set's new value.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub to: Option<serde_json::Value>,
    /// When, in microseconds from any fixed origin (one clock per history).
    pub time_us: u64,
    /// Where the operation went (a node name), for the report only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

/// A field that is there, even as `null` (an absent key), is `Some`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<serde_json::Value>, D::Error> {
    serde_json::Value::deserialize(d).map(Some)
}

/// A register value: `None` is an absent key.
pub type Value = Option<String>;

/// How an operation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It happened; a read's result.
    Ok(Option<Value>),
    /// It may or may not have happened, at any time after its invocation.
    Unknown,
}

/// An operation: an invocation paired with its completion. Failed
/// operations are not kept (they did not happen).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Position in the history's operations, for reports.
    pub id: usize,
    /// The client.
    pub client: u64,
    /// What it did.
    pub f: Func,
    /// The key.
    pub key: String,
    /// A write's value; a compare-and-set's new value.
    pub value: Value,
    /// A compare-and-set's expected value.
    pub from: Value,
    /// Invocation time.
    pub invoke_us: u64,
    /// Completion time; `None` for an unknown outcome (open for ever).
    pub complete_us: Option<u64>,
    /// How it ended.
    pub outcome: Outcome,
    /// The 1-based line of its invocation.
    pub line: usize,
    /// Where it went.
    pub node: Option<String>,
}

/// A history that cannot be read, named by file and line.
#[derive(Debug, thiserror::Error)]
#[error("{file}:{line}: {what} (fix: {fix})")]
pub struct BadHistory {
    /// The file.
    pub file: String,
    /// The 1-based line.
    pub line: usize,
    /// What is wrong.
    pub what: String,
    /// What to do about it.
    pub fix: &'static str,
}

/// Canonical text of a JSON scalar: `5` and `"5"` stay different.
fn canon(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Reads a history, pairing each invocation with its client's completion.
/// Operations still open at the end are unknown.
pub fn parse(file: &str, text: &str) -> Result<Vec<Op>, BadHistory> {
    from_events(file, events(file, text)?)
}

/// The events of a `history.jsonl`, each with its 1-based line.
pub fn events(file: &str, text: &str) -> Result<Vec<(usize, Event)>, BadHistory> {
    let mut events = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        let e: Event = serde_json::from_str(raw).map_err(|err| BadHistory {
            file: file.to_string(),
            line,
            what: format!("not a history event: {err}"),
            fix: "one JSON object per line: {\"type\":\"invoke\",\"client\":1,\"f\":\"write\",\"key\":\"k\",\"value\":3,\"time_us\":10}",
        })?;
        events.push((line, e));
    }
    Ok(events)
}

/// Pairs events (with their 1-based lines) into operations.
pub fn from_events(
    file: &str,
    events: impl IntoIterator<Item = (usize, Event)>,
) -> Result<Vec<Op>, BadHistory> {
    let bad = |line: usize, what: String, fix: &'static str| BadHistory {
        file: file.to_string(),
        line,
        what,
        fix,
    };
    let mut open: BTreeMap<u64, (usize, Event)> = BTreeMap::new();
    let mut ops = Vec::new();
    let mut last_time = 0u64;
    for (line, e) in events {
        if e.time_us < last_time {
            return Err(bad(
                line,
                format!(
                    "time_us {} is before the line above ({last_time})",
                    e.time_us
                ),
                "write events in the order they happened",
            ));
        }
        last_time = e.time_us;
        match e.kind {
            Type::Invoke => {
                match e.f {
                    Func::Write | Func::Add if e.value.is_none() => {
                        return Err(bad(
                            line,
                            format!("{:?} without `value`", e.f),
                            "add \"value\"",
                        ))
                    }
                    Func::Cas if e.from.is_none() || e.to.is_none() => {
                        return Err(bad(
                            line,
                            "a cas without `from` and `to`".into(),
                            "add \"from\" and \"to\"",
                        ))
                    }
                    _ => {}
                }
                if let Some((l, _)) = open.get(&e.client) {
                    return Err(bad(
                        line,
                        format!(
                            "client {} invokes while its operation of line {l} is open",
                            e.client
                        ),
                        "complete each operation (ok, fail or unknown) before the client's next",
                    ));
                }
                open.insert(e.client, (line, e));
            }
            done => {
                let Some((l, inv)) = open.remove(&e.client) else {
                    return Err(bad(
                        line,
                        format!(
                            "a completion for client {} with no open invocation",
                            e.client
                        ),
                        "every completion follows its invocation",
                    ));
                };
                if inv.f != e.f || inv.key != e.key {
                    return Err(bad(
                        line,
                        format!(
                            "completes a {:?} of {:?} but line {l} invoked a {:?} of {:?}",
                            e.f, e.key, inv.f, inv.key
                        ),
                        "a completion repeats its invocation's f and key",
                    ));
                }
                if done == Type::Ok && e.f == Func::Read && e.value.is_none() {
                    return Err(bad(
                        line,
                        "an ok read without `value`".into(),
                        "give the value read, null for an absent key",
                    ));
                }
                let outcome = match done {
                    Type::Fail => continue,
                    Type::Unknown => Outcome::Unknown,
                    _ => Outcome::Ok(match e.f {
                        Func::Read => Some(e.value.as_ref().and_then(canon)),
                        _ => None,
                    }),
                };
                ops.push(op(ops.len(), l, inv, Some(e.time_us), outcome));
            }
        }
    }
    for (l, inv) in open.into_values() {
        ops.push(op(ops.len(), l, inv, None, Outcome::Unknown));
    }
    Ok(ops)
}

fn op(id: usize, line: usize, inv: Event, done: Option<u64>, outcome: Outcome) -> Op {
    let complete_us = match outcome {
        Outcome::Unknown => None,
        Outcome::Ok(_) => done,
    };
    let (value, from) = match inv.f {
        Func::Read => (None, None),
        Func::Write | Func::Add => (inv.value.as_ref().and_then(canon), None),
        Func::Cas => (
            inv.to.as_ref().and_then(canon),
            inv.from.as_ref().and_then(canon),
        ),
    };
    Op {
        id,
        client: inv.client,
        f: inv.f,
        key: inv.key,
        value,
        from,
        invoke_us: inv.time_us,
        complete_us,
        outcome,
        line,
        node: inv.node,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_invocations_with_completions_and_drops_failures() {
        let h = r#"{"type":"invoke","client":1,"f":"write","key":"x","value":1,"time_us":0}
{"type":"invoke","client":2,"f":"read","key":"x","time_us":1}
{"type":"ok","client":1,"f":"write","key":"x","value":1,"time_us":5}
{"type":"ok","client":2,"f":"read","key":"x","value":1,"time_us":6}
{"type":"invoke","client":1,"f":"cas","key":"x","from":1,"to":2,"time_us":7}
{"type":"fail","client":1,"f":"cas","key":"x","from":1,"to":2,"time_us":8}
{"type":"invoke","client":3,"f":"write","key":"x","value":3,"time_us":9}
"#;
        let ops = parse("h.jsonl", h).unwrap();
        assert_eq!(ops.len(), 3);
        assert_eq!(ops[1].outcome, Outcome::Ok(Some(Some("1".into()))));
        assert_eq!(ops[2].outcome, Outcome::Unknown);
        assert_eq!(ops[2].complete_us, None);
        assert_eq!(ops[2].line, 7);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let h = "{\"type\":\"invoke\",\"client\":1,\"f\":\"read\",\"key\":\"x\",\"time_us\":0}\nnot json\n";
        let e = parse("h.jsonl", h).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            e.to_string().starts_with("h.jsonl:2: not a history event"),
            "{e}"
        );
        let h = "{\"type\":\"ok\",\"client\":1,\"f\":\"read\",\"key\":\"x\",\"time_us\":0}\n";
        assert!(parse("h", h)
            .unwrap_err()
            .what
            .contains("no open invocation"));
        let h = "{\"type\":\"invoke\",\"client\":1,\"f\":\"read\",\"key\":\"x\",\"time_us\":5}\n\
                 {\"type\":\"invoke\",\"client\":2,\"f\":\"read\",\"key\":\"x\",\"time_us\":4}\n";
        assert!(parse("h", h)
            .unwrap_err()
            .what
            .contains("before the line above"));
    }
}
