//! Selectors that read membership and leadership out of a probe's JSON.
//!
//! A selector is a path of `/`-separated steps: a key (or array index),
//! `*` for every child, or `*[field=value]` for the children whose `field`
//! equals `value`. rqlite's `/nodes` answer is read with
//! `members = "/*/id"` and `leader = "/*[leader=true]/id"`.

use serde::Serialize;
use serde_json::Value;

/// One step of a selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum Step {
    /// An object key or array index.
    Key(String),
    /// Every child.
    Any,
    /// Every child whose `field` renders as `value`.
    Where(String, String),
}

/// A parsed selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selector {
    /// As written.
    pub text: String,
    /// Its steps.
    pub steps: Vec<Step>,
}

impl Selector {
    /// Parses `/a/*/b`, `/*[leader=true]/id`, `/` (the whole answer).
    pub fn parse(text: &str) -> Result<Selector, String> {
        let Some(rest) = text.strip_prefix('/') else {
            return Err(format!(
                "selector {text:?} must start with '/', e.g. \"/nodes/*/id\""
            ));
        };
        let mut steps = Vec::new();
        for part in rest.split('/').filter(|p| !p.is_empty()) {
            let step = if part == "*" {
                Step::Any
            } else if let Some(filter) = part.strip_prefix("*[") {
                let inner = filter
                    .strip_suffix(']')
                    .ok_or_else(|| format!("step {part:?} in {text:?} lacks a closing ']'"))?;
                let (field, value) = inner
                    .split_once('=')
                    .ok_or_else(|| format!("step {part:?} in {text:?} must be *[field=value]"))?;
                if field.is_empty() {
                    return Err(format!("step {part:?} in {text:?} names no field"));
                }
                Step::Where(field.to_string(), value.to_string())
            } else if part.contains(['*', '[', ']']) {
                return Err(format!(
                    "step {part:?} in {text:?}: use `*` or `*[field=value]` alone"
                ));
            } else {
                Step::Key(part.to_string())
            };
            steps.push(step);
        }
        Ok(Selector {
            text: text.to_string(),
            steps,
        })
    }

    /// Every value the selector reaches, rendered as text.
    pub fn select(&self, root: &Value) -> Vec<String> {
        let mut cur = vec![root];
        for step in &self.steps {
            let mut next = Vec::new();
            for v in cur {
                match step {
                    Step::Key(k) => {
                        let child = match v {
                            Value::Object(m) => m.get(k),
                            Value::Array(a) => k.parse::<usize>().ok().and_then(|i| a.get(i)),
                            _ => None,
                        };
                        next.extend(child);
                    }
                    Step::Any => next.extend(children(v)),
                    Step::Where(f, want) => next.extend(
                        children(v)
                            .filter(|c| c.get(f.as_str()).is_some_and(|x| render(x) == *want)),
                    ),
                }
            }
            cur = next;
        }
        cur.into_iter()
            .flat_map(|v| match v {
                Value::Array(a) => a.iter().map(render).collect::<Vec<_>>(),
                other => vec![render(other)],
            })
            .collect()
    }
}

fn children(v: &Value) -> Box<dyn Iterator<Item = &Value> + '_> {
    match v {
        Value::Object(m) => Box::new(m.values()),
        Value::Array(a) => Box::new(a.iter()),
        _ => Box::new(std::iter::empty()),
    }
}

fn render(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rqlite_nodes() {
        let nodes: Value = serde_json::json!({
            "n1": {"id": "n1", "leader": false},
            "n2": {"id": "n2", "leader": true},
            "n3": {"id": "n3", "leader": false}
        });
        let members = Selector::parse("/*/id").unwrap();
        let leader = Selector::parse("/*[leader=true]/id").unwrap();
        assert_eq!(members.select(&nodes), ["n1", "n2", "n3"]);
        assert_eq!(leader.select(&nodes), ["n2"]);
    }

    #[test]
    fn reads_arrays_and_rejects_bad_steps() {
        let v: Value = serde_json::json!({"rows": [["a"], ["b"]], "x": {"leader": "b"}});
        assert_eq!(Selector::parse("/rows/*/0").unwrap().select(&v), ["a", "b"]);
        assert_eq!(Selector::parse("/x/leader").unwrap().select(&v), ["b"]);
        assert!(Selector::parse("rows").is_err());
        assert!(Selector::parse("/*[leader=true").is_err());
        assert!(Selector::parse("/a*").is_err());
    }
}
