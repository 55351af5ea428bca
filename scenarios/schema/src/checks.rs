//! The checks' vocabulary, shared by the scenario files and the checks:
//! each check's name and the kinds of thing it can find. A failed check
//! says what it found ([`Found`]); an expected finding names one kind
//! (and perhaps a key), and excuses only failures made of what it names.

use serde::{Deserialize, Serialize};

/// A check that judged nothing says so with this kind, in every check
/// that can have nothing to judge.
pub const NOTHING_TO_JUDGE: &str = "nothing-to-judge";

/// Every check a scenario may name in `[[expect.findings]]` or
/// `[expect.unjudged]`, with the kinds of failure it reports.
pub const KINDS: &[(&str, &[&str])] = &[
    ("single-leader", &["overlap"]),
    ("single-bootstrap", &["twice"]),
    ("leader-key-expiry", &["outlived"]),
    ("registered", &["missing"]),
    ("fencing", &["token-reused", "token-older", "key-older"]),
    ("window-within-lease", &["past-lease"]),
    ("stable", &["lost-key"]),
    ("leader-key-follows", &["behind"]),
    ("clean-stop", &["key-left"]),
    ("claim-lapse", &["committed", "still-running"]),
    ("bounded-waits", &["overdue"]),
    (
        "membership",
        &["silent", "split", "missing", "no-live-node"],
    ),
    ("one-leader", &["none", "several"]),
    ("leader-key", &["no-store", "wrong"]),
    ("announced-live", &["no-store", "differs"]),
    ("peers", &["silent", "differs", NOTHING_TO_JUDGE]),
    ("bootstrapped", &["none"]),
    ("converged", &["timeout", "all-down", "not-healed"]),
    ("failover", &["slow", "none-observed", "still-open"]),
    (
        "no-lost-writes",
        &["lost", "unreadable", "unwritten-value", NOTHING_TO_JUDGE],
    ),
    (
        "linearizable",
        &[
            "stale-read",
            "unwritten-read",
            "write",
            "cas",
            "unknown",
            "malformed",
            NOTHING_TO_JUDGE,
        ],
    ),
    (
        "set",
        &[
            "lost",
            "stale",
            "went-back",
            "unexpected",
            "duplicated",
            "no-final-read",
            NOTHING_TO_JUDGE,
        ],
    ),
    ("rogue", &["accepted"]),
];

/// The names of every check in [`KINDS`].
pub fn names() -> impl Iterator<Item = &'static str> {
    KINDS.iter().map(|(n, _)| *n)
}

/// The kinds `check` can find, if it is a check.
pub fn kinds_of(check: &str) -> Option<&'static [&'static str]> {
    KINDS.iter().find(|(n, _)| *n == check).map(|(_, k)| *k)
}

/// One thing a failed check saw: its kind and, where the check judges
/// keys (sets, registers, written keys), the key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Found {
    /// One of the check's kinds.
    pub kind: String,
    /// The key it was seen on, if the check judges keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

impl Found {
    /// A kind seen on no particular key.
    pub fn kind(kind: &str) -> Found {
        Found {
            kind: kind.to_string(),
            key: None,
        }
    }

    /// A kind seen on `key`.
    pub fn on(kind: &str, key: &str) -> Found {
        Found {
            kind: kind.to_string(),
            key: Some(key.to_string()),
        }
    }
}

impl std::fmt::Display for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.key {
            Some(k) => write!(f, "{} on {k:?}", self.kind),
            None => f.write_str(&self.kind),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_of_several_kinds_matches_any_of_them_only() {
        let f = crate::Finding {
            check: "membership".into(),
            kind: "split|silent".into(),
            key: None,
            reference: "here".into(),
        };
        assert!(f.matches("membership", &Found::kind("split")));
        assert!(f.matches("membership", &Found::kind("silent")));
        assert!(!f.matches("membership", &Found::kind("missing")));
        assert!(!f.matches("converged", &Found::kind("split")));
    }

    #[test]
    fn every_check_has_kinds_and_no_kind_twice() {
        for (check, kinds) in KINDS {
            assert!(!kinds.is_empty(), "{check}");
            let mut k = kinds.to_vec();
            k.sort();
            k.dedup();
            assert_eq!(k.len(), kinds.len(), "{check} names a kind twice");
        }
        assert_eq!(kinds_of("set").map(|k| k.contains(&"lost")), Some(true));
        assert_eq!(kinds_of("no-such-check"), None);
    }
}
