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

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value as Json;

use super::{BadHistory, Event, Func, Type};

/// The register histories of `events`, one EDN text per key (set
/// operations are left out: they are not a register's).
pub fn write(events: &[Event]) -> BTreeMap<String, String> {
    let mut files: BTreeMap<String, String> = BTreeMap::new();
    let mut next = events.iter().map(|e| e.client).max().unwrap_or(0) + 1;
    // The lab's client -> its current Jepsen process.
    let mut process: BTreeMap<u64, u64> = BTreeMap::new();
    // The invocation each open process made, for its completion's value.
    let mut open: BTreeMap<u64, &Event> = BTreeMap::new();
    for e in events.iter().filter(|e| e.f != Func::Add) {
        let p = *process.entry(e.client).or_insert(e.client);
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
        let out = files
            .entry(e.key.clone())
            .or_insert_with(|| format!(";; clusterlab history of key {}\n", e.key));
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
        Some(Json::String(s)) => format!("{s:?}"),
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
    let mut r = Reader {
        text,
        at: 0,
        line: 1,
    };
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
        let time_us = match get("time") {
            Some(Edn::Int(ns)) if *ns >= 0 => *ns as u64 / 1000,
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
                v.json().map(Some).ok_or_else(|| {
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

/// The part of EDN a history uses.
#[derive(Debug, Clone, PartialEq)]
enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// A register value as JSON, if it is a scalar.
    fn json(&self) -> Option<Json> {
        Some(match self {
            Edn::Nil => Json::Null,
            Edn::Bool(b) => Json::Bool(*b),
            Edn::Int(i) => Json::from(*i),
            Edn::Float(f) => serde_json::Number::from_f64(*f).map(Json::Number)?,
            Edn::Str(s) => Json::String(s.clone()),
            _ => return None,
        })
    }
}

/// A reader over EDN text that counts lines.
struct Reader<'a> {
    text: &'a str,
    at: usize,
    line: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<char> {
        self.text[self.at..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.at += c.len_utf8();
        if c == '\n' {
            self.line += 1;
        }
        Some(c)
    }

    /// Skips whitespace, commas and comments; the line of what follows, if
    /// anything does.
    fn skip_space(&mut self) -> Option<usize> {
        while let Some(c) = self.peek() {
            if c == ';' {
                while self.peek().is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() || c == ',' {
                self.bump();
            } else {
                return Some(self.line);
            }
        }
        None
    }

    fn form(&mut self) -> Result<Edn, String> {
        self.skip_space().ok_or("the text ends inside a form")?;
        match self.peek().unwrap_or(' ') {
            '{' => {
                self.bump();
                let items = self.until('}')?;
                if items.len() % 2 == 1 {
                    return Err("a map with a key and no value".into());
                }
                let mut it = items.into_iter();
                let mut pairs = Vec::new();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((k, v));
                }
                Ok(Edn::Map(pairs))
            }
            '[' | '(' => {
                let close = if self.bump() == Some('[') { ']' } else { ')' };
                Ok(Edn::Vector(self.until(close)?))
            }
            '"' => {
                self.bump();
                let mut s = String::new();
                loop {
                    match self.bump().ok_or("a string that never ends")? {
                        '"' => return Ok(Edn::Str(s)),
                        '\\' => s.push(match self.bump().ok_or("a string that never ends")? {
                            'n' => '\n',
                            't' => '\t',
                            'r' => '\r',
                            c => c,
                        }),
                        c => s.push(c),
                    }
                }
            }
            c if "}])".contains(c) => Err(format!("an unexpected {c:?}")),
            _ => {
                let start = self.at;
                while self
                    .peek()
                    .is_some_and(|c| !c.is_whitespace() && !",;{}[]()\"".contains(c))
                {
                    self.bump();
                }
                let word = &self.text[start..self.at];
                Ok(match word {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ if word.starts_with(':') => Edn::Keyword(word[1..].into()),
                    _ => {
                        let digits = word.trim_end_matches(['N', 'M']);
                        if let Ok(i) = digits.parse() {
                            Edn::Int(i)
                        } else if let Ok(f) = digits.parse() {
                            Edn::Float(f)
                        } else {
                            Edn::Symbol(word.into())
                        }
                    }
                })
            }
        }
    }

    /// Forms up to the closing `close`.
    fn until(&mut self, close: char) -> Result<Vec<Edn>, String> {
        let mut items = Vec::new();
        loop {
            self.skip_space().ok_or(format!("a missing {close:?}"))?;
            if self.peek() == Some(close) {
                self.bump();
                return Ok(items);
            }
            items.push(self.form()?);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read_with_their_lines() {
        let mut r = Reader {
            text: "; a comment\n{:a 1, :b [nil \"x\\\"y\" 2.5 true]}\n",
            at: 0,
            line: 1,
        };
        assert_eq!(r.skip_space(), Some(2));
        let f = r.form().unwrap();
        assert_eq!(
            f,
            Edn::Map(vec![
                (Edn::Keyword("a".into()), Edn::Int(1)),
                (
                    Edn::Keyword("b".into()),
                    Edn::Vector(vec![
                        Edn::Nil,
                        Edn::Str("x\"y".into()),
                        Edn::Float(2.5),
                        Edn::Bool(true)
                    ])
                ),
            ])
        );
        assert_eq!(r.skip_space(), None);
    }

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
