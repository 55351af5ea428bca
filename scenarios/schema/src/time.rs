//! Times in scenario files: always a string with a unit (`500ms`, `10s`,
//! `2m`, `1h`), so that `at = 10` can never mean seconds to one reader and
//! milliseconds to another.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest time a scenario may name anywhere (`at`, `for`, a bound,
/// `converge_within`, a TTL, `duration`): a day. Past it a file is a typo
/// (`99999999999h`), not an experiment, and both worlds would run it for
/// ever. The whole run is held to it too ([`MAX`] is also the longest
/// `duration`).
pub const MAX: Duration = Duration::from_secs(24 * 3600);

/// A duration written with a unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Time(pub Duration);

/// Parses `500ms`, `10s`, `2m`, `1h` (also `1.5s`), at most [`MAX`].
pub fn parse(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a time; write a number and a unit, e.g. \"10s\""))?;
    let secs = match unit.trim() {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "" => {
            return Err(format!(
                "{s:?} has no unit; write e.g. \"{num}s\" (units: ms, s, m, h)"
            ))
        }
        u => {
            return Err(format!(
                "unknown time unit {u:?} in {s:?}; use ms, s, m or h (e.g. \"{num}s\")"
            ))
        }
    };
    match Duration::try_from_secs_f64(secs) {
        Ok(d) if d <= MAX => Ok(d),
        _ => Err(format!(
            "{s:?} is longer than the limit of {}h for any time in a scenario",
            MAX.as_secs() / 3600
        )),
    }
}

impl<'de> Deserialize<'de> for Time {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Time;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a time with a unit, e.g. \"10s\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Time, E> {
                parse(v).map(Time).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Time, E> {
                Err(E::custom(format!(
                    "a bare number is ambiguous; write the unit: \"{v}s\" or \"{v}ms\""
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Time, E> {
                Err(E::custom(format!(
                    "a bare number is ambiguous; write the unit: \"{v}s\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}ms", self.0.as_millis()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse("2m"), Ok(Duration::from_secs(120)));
        assert!(parse("10").unwrap_err().contains("no unit"));
        assert!(parse("10sec")
            .unwrap_err()
            .contains("unknown time unit \"sec\""));
        assert!(parse("soon").is_err());
    }

    /// A time past a day is refused with the limit and the fix, however
    /// large (no overflow, no panic).
    #[test]
    fn a_time_past_the_limit_is_refused() {
        assert_eq!(parse("24h"), Ok(MAX));
        for huge in [
            "24.001h",
            "1441m",
            "99999999999h",
            &format!("{}s", "9".repeat(400)),
        ] {
            let e = parse(huge).unwrap_err();
            assert!(e.contains("limit of 24h"), "{huge}: {e}");
        }
    }
}
