//! `--journal PATH`: the agent writes down, as it happens, every change of
//! its leadership window and its bootstrap, one JSON object a line, with
//! times on the machine's monotonic clock (`CLOCK_MONOTONIC`, which every
//! container on a host shares). A harness reads the file from outside, so
//! what the agent believed is known even while the node is cut off from
//! the network or frozen, and after it died: a status endpoint answers
//! neither.
//!
//! ```json
//! {"mono_ns":81234000000,"leader":{"token":42,"until_mono_ns":81236700000}}
//! {"mono_ns":81240000000,"leader":null}
//! {"mono_ns":80100000000,"bootstrap":true}
//! {"mono_ns":80000000000,"phase":"joining"}
//! {"mono_ns":80050000000,"claim":true}
//! {"mono_ns":80060000000,"database":true}
//! ```

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::leader::Leadership;

/// One line of a journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// When, in nanoseconds of `CLOCK_MONOTONIC`.
    pub mono_ns: u64,
    /// The leadership window from now on (`null`: not leading); absent on
    /// other lines.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "leader_field"
    )]
    pub leader: Option<Option<Window>>,
    /// This node committed its bootstrap: the cluster exists for good.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bootstrap: bool,
    /// The agent entered this phase (`disco::agent::Phase::name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    /// This node won the bootstrap claim: its database starts a new
    /// cluster, to be committed once ready.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub claim: bool,
    /// Its database started (`true`) or exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<bool>,
}

impl Line {
    fn at(mono_ns: u64) -> Line {
        Line {
            mono_ns,
            leader: None,
            bootstrap: false,
            phase: None,
            claim: false,
            database: None,
        }
    }
}

/// A leadership window on the monotonic clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    /// The term's fencing token.
    pub token: u64,
    /// It may act as leader until then (ns of `CLOCK_MONOTONIC`).
    pub until_mono_ns: u64,
}

/// `leader` is three-valued: absent (another kind of line), `null` (not
/// leading), or a window.
mod leader_field {
    use super::Window;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<Option<Window>>, s: S) -> Result<S::Ok, S::Error> {
        v.as_ref().and_then(|w| w.as_ref()).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<Window>>, D::Error> {
        Option::<Window>::deserialize(d).map(Some)
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC` now.
pub fn mono_now_ns() -> u64 {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .expect("CLOCK_MONOTONIC is always readable");
    u64::try_from(Duration::from(t).as_nanos()).unwrap_or(u64::MAX)
}

/// An open journal file. Writing never fails the agent: a line that cannot
/// be written is logged and dropped.
#[derive(Debug)]
pub struct Journal {
    file: Mutex<std::fs::File>,
}

impl Journal {
    /// Opens (creates, appends to) the journal at `path`.
    pub fn open(path: &Path) -> std::io::Result<Journal> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Journal {
            file: Mutex::new(file),
        })
    }

    fn write(&self, line: &Line) {
        let mut text = serde_json::to_string(line).expect("a line serializes");
        text.push('\n');
        let mut f = self.file.lock().expect("journal lock");
        if let Err(e) = f.write_all(text.as_bytes()) {
            tracing::warn!(error = %e, "journal: a line could not be written");
        }
    }

    /// The leadership as it stands now.
    pub fn leadership(&self, l: &Leadership) {
        let (now, now_ns) = (Instant::now(), mono_now_ns());
        let window = match l {
            Leadership::Leader { token, valid_until } if *valid_until > now => Some(Window {
                token: token.0,
                until_mono_ns: now_ns
                    .saturating_add(u64::try_from((*valid_until - now).as_nanos()).unwrap_or(0)),
            }),
            _ => None,
        };
        self.write(&Line {
            leader: Some(window),
            ..Line::at(now_ns)
        });
    }

    /// This node committed its bootstrap.
    pub fn bootstrap(&self) {
        self.write(&Line {
            bootstrap: true,
            ..Line::at(mono_now_ns())
        });
    }

    /// The agent entered `phase`.
    pub fn phase(&self, phase: &str) {
        self.write(&Line {
            phase: Some(phase.to_string()),
            ..Line::at(mono_now_ns())
        });
    }

    /// This node won the bootstrap claim.
    pub fn claimed(&self) {
        self.write(&Line {
            claim: true,
            ..Line::at(mono_now_ns())
        });
    }

    /// Its database started or exited.
    pub fn database(&self, running: bool) {
        self.write(&Line {
            database: Some(running),
            ..Line::at(mono_now_ns())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back_as_written() {
        for (text, line) in [
            (
                r#"{"mono_ns":5,"leader":{"token":42,"until_mono_ns":9}}"#,
                Line {
                    leader: Some(Some(Window {
                        token: 42,
                        until_mono_ns: 9,
                    })),
                    ..Line::at(5)
                },
            ),
            (
                r#"{"mono_ns":6,"leader":null}"#,
                Line {
                    leader: Some(None),
                    ..Line::at(6)
                },
            ),
            (
                r#"{"mono_ns":7,"bootstrap":true}"#,
                Line {
                    bootstrap: true,
                    ..Line::at(7)
                },
            ),
            (
                r#"{"mono_ns":8,"phase":"joining"}"#,
                Line {
                    phase: Some("joining".into()),
                    ..Line::at(8)
                },
            ),
            (
                r#"{"mono_ns":9,"database":false}"#,
                Line {
                    database: Some(false),
                    ..Line::at(9)
                },
            ),
        ] {
            assert_eq!(serde_json::from_str::<Line>(text).unwrap(), line);
            assert_eq!(serde_json::to_string(&line).unwrap(), text);
        }
        assert!(mono_now_ns() > 0);
    }
}
