//! Histories as Jepsen writes them (`history.edn`), so that Knossos or
//! elle-cli can check a run of the lab, and the lab can check theirs.
//!
//! One register per file: Knossos's `cas-register` model is one register,
//! so a history over many keys becomes one file per key. Each operation is
//! a map on its own line: `:type` (`:invoke`, `:ok`, `:fail`, `:info` for
//! an unknown outcome), `:f` (`:read`, `:write`, `:cas`), `:value` (a
//! write's value, a read's result, `[from to]` for a compare-and-set),
//! `:process` and `:time` in nanoseconds. A process whose operation ended
//! `:info` is never reused (Jepsen's rule: its thread takes a new process),
//! so the lab's client, which may go on after an unknown outcome, gets a
//! fresh process number there. Reading skips what is not a client's
//! register operation (`:process :nemesis`, `:f :start`, ...).

mod reader;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::Value as Json;

use super::{BadHistory, Event, Func, Type};
use reader::{Edn, Reader};

/// The register histories of `events`, one EDN text per key. A set's key
/// (any `add` on it) is left out, its reads too: it is not a register.
/// Processes are numbered densely from 0: a client's first, then a new
/// one at each `:info` it gets.
pub fn write(events: &[Event]) -> BTreeMap<String, String> {
    let sets: BTreeSet<&str> = events
        .iter()
        .filter(|e| e.f == Func::Add)
        .map(|e| e.key.as_str())
        .collect();
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut next = 0u64;
    // The lab's client -> its current Jepsen process.
    let mut process: BTreeMap<u64, u64> = BTreeMap::new();
    // The invocation each open process made, for its completion's value.
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    for e in events.iter().filter(|e| !sets.contains(e.key.as_str())) {
        let p = *process.entry(e.client).or_insert_with(|| {
            next += 1;
            next - 1
        });
        let (kind, invoke) = match e.kind {
            Type::Invoke => {
                open.insert(e.client, e);
                ("invoke", e)
            }
            Type::Ok => ("ok", open.get(&e.client).copied().unwrap_or(e)),
            Type::Fail => ("fail", open.get(&e.client).copied().unwrap_or(e)),
            Type::Unknown => {
                process.insert(e.client, next);
                next += 1;
                ("info", open.get(&e.client).copied().unwrap_or(e))
            }
        };
        let (f, value) = match e.f {
            Func::Read => (
                "read",
                if e.kind == Type::Ok {
                    json(e.value.as_ref())
                } else {
                    "nil".into()
                },
            ),
            Func::Write => ("write", json(invoke.value.as_ref())),
            Func::Cas => (
                "cas",
                format!(
                    "[{} {}]",
                    json(invoke.from.as_ref()),
                    json(invoke.to.as_ref())
                ),
            ),
            Func::Add => unreachable!("filtered above"),
        };
        let out = files.entry(e.key.clone()).or_insert_with(|| {
            format!(";; clusterlab history of key {}\n", reader::string(&e.key))
        });
        let _ = writeln!(
            out,
            "{{:type :{kind}, :f :{f}, :value {value}, :process {p}, :time {}}}",
            e.time_us.saturating_mul(1000)
        );
    }
    files
}

/// A JSON scalar in EDN: numbers and strings as they are, `null` as `nil`.
fn json(v: Option<&Json>) -> String {
    match v {
        None | Some(Json::Null) => "nil".into(),
        Some(Json::String(s)) => reader::string(s),
        Some(other) => other.to_string(),
    }
}

/// Reads a register history in Jepsen's EDN (one map per line, or one
/// vector of maps) as the lab's events on register `key`, each with the
/// line it came from.
pub fn read(file: &str, key: &str, text: &str) -> Result<Vec<(usize, Event)>, BadHistory> {
    let bad = |line: usize, what: String, fix: &'static str| BadHistory {
        file: file.into(),
        line,
        what,
        fix,
    };
    let mut forms = Vec::new();
    let mut r = Reader::new(text);
    while let Some(line) = r.skip_space() {
        let form = r.form().map_err(|what| {
            bad(
                line,
                what,
                "write EDN maps like {:type :invoke, :f :write, :value 3, :process 0, :time 10}",
            )
        })?;
        match form {
            Edn::Vector(ops) => forms.extend(ops.into_iter().map(|op| (line, op))),
            op => forms.push((line, op)),
        }
    }
    let mut events = Vec::new();
    // The last event's time, in ns as read and in µs as kept.
    let mut last: Option<(i64, u64)> = None;
    for (line, form) in forms {
        let Edn::Map(fields) = form else {
            return Err(bad(
                line,
                "an operation must be a map".into(),
                "one {:type .. :f .. :value .. :process .. :time ..} per operation",
            ));
        };
        let get = |name: &str| {
            fields
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == name))
                .map(|(_, v)| v)
        };
        let Some(Edn::Int(client)) = get("process") else {
            continue; // the nemesis, or a process Jepsen did not number
        };
        let f = match get("f") {
            Some(Edn::Keyword(f)) if f == "read" => Func::Read,
            Some(Edn::Keyword(f)) if f == "write" => Func::Write,
            Some(Edn::Keyword(f)) if f == "cas" => Func::Cas,
            _ => continue, // not a register operation
        };
        let kind = match get("type") {
            Some(Edn::Keyword(t)) if t == "invoke" => Type::Invoke,
            Some(Edn::Keyword(t)) if t == "ok" => Type::Ok,
            Some(Edn::Keyword(t)) if t == "fail" => Type::Fail,
            Some(Edn::Keyword(t)) if t == "info" => Type::Unknown,
            other => {
                return Err(bad(
                    line,
                    format!("unknown :type {other:?}"),
                    ":type is one of :invoke, :ok, :fail, :info",
                ))
            }
        };
        if *client < 0 {
            return Err(bad(
                line,
                format!(":process {client} is negative"),
                "number client processes from 0",
            ));
        }
        let time_us = match get("time") {
            // Microseconds here; two events a few ns apart stay ordered.
            Some(Edn::Int(ns)) if *ns >= 0 => {
                let us = *ns as u64 / 1000;
                let us = match last {
                    Some((last_ns, last_us)) if *ns > last_ns && us <= last_us => last_us + 1,
                    _ => us,
                };
                last = Some((*ns, us));
                us
            }
            _ => {
                return Err(bad(
                    line,
                    "no :time".into(),
                    "give each operation :time, in nanoseconds",
                ))
            }
        };
        let scalar = |v: Option<&Edn>| -> Result<Option<Json>, BadHistory> {
            v.map_or(Ok(Some(Json::Null)), |v| {
                json_of(v).map(Some).ok_or_else(|| {
                    bad(
                        line,
                        format!("{v:?} is not a register value"),
                        "a register holds a number, a string or nil",
                    )
                })
            })
        };
        let value = get("value");
        let (value, from, to) = match (f, kind) {
            (Func::Read, Type::Ok) => (scalar(value)?, None, None),
            (Func::Read, _) => (None, None, None),
            (Func::Write, _) => (scalar(value)?, None, None),
            (Func::Cas, _) => match value {
                Some(Edn::Vector(pair)) if pair.len() == 2 => {
                    (None, scalar(Some(&pair[0]))?, scalar(Some(&pair[1]))?)
                }
                _ => {
                    return Err(bad(
                        line,
                        "a :cas value must be [from to]".into(),
                        "write :value [1 2] for a compare-and-set from 1 to 2",
                    ))
                }
            },
            (Func::Add, _) => unreachable!("not read from EDN"),
        };
        events.push((
            line,
            Event {
                kind,
                client: *client as u64,
                f,
                key: key.into(),
                value,
                from,
                to,
                time_us,
                node: None,
            },
        ));
    }
    Ok(events)
}

/// A register value as JSON, if it is a scalar.
fn json_of(v: &Edn) -> Option<Json> {
    Some(match v {
        Edn::Nil => Json::Null,
        Edn::Bool(b) => Json::Bool(*b),
        Edn::Int(i) => Json::from(*i),
        Edn::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number)?,
        Edn::Str(s) => Json::String(s.clone()),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_edn_names_its_line() {
        let e = read(
            "h.edn",
            "k",
            "{:type :invoke, :f :write, :value 1, :process 0, :time 1}\n{:type :ok :f\n",
        )
        .unwrap_err();
        assert_eq!(e.line, 2, "{e}");
        let e = read(
            "h.edn",
            "k",
            "{:type :done, :f :write, :value 1, :process 0, :time 1}",
        )
        .unwrap_err();
        assert!(e.to_string().contains(":type"), "{e}");
    }
}
