//! The regression gate: medians from criterion's estimates (and the figures
//! the memory bench writes) become named figures; each is compared with the
//! committed baseline within a noise margin.
//!
//! Ratios measured in the same run are the primary figures, since both
//! sides drift together between machines: disco's join over the store's
//! own floor (`disco_over_raw`, goal at most 1.3x) first, then the naive
//! glue over disco; absolute times get wider margins.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

/// Which way is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Larger is better (ratios, throughput).
    Higher,
    /// Smaller is better (latency, memory).
    Lower,
}

/// One named figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    /// The value, in `unit`.
    pub value: f64,
    /// Its unit.
    pub unit: String,
    /// Which way is better.
    pub better: Better,
    /// How far it may move the wrong way before it is a regression, as a
    /// fraction of the baseline (0.5: half).
    pub margin: f64,
}

/// Figures by name.
pub type Figures = BTreeMap<String, Figure>;

/// Margin for same-run ratios: half the baseline. The naive side's median
/// over 10 samples moves with its polling phase; a real regression in
/// disco's join path moves the ratio by an order of magnitude.
pub const RATIO_MARGIN: f64 = 0.5;
/// Margin for absolute times and rates: they drift between machines.
pub const ABSOLUTE_MARGIN: f64 = 1.0;

#[derive(Deserialize)]
struct Estimates {
    median: Estimate,
}

#[derive(Deserialize)]
struct Estimate {
    point_estimate: f64,
}

/// Criterion's median for `group/function/param`, in nanoseconds.
pub fn median_ns(criterion: &Path, id: &str) -> Option<f64> {
    let path = criterion.join(id).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    serde_json::from_str::<Estimates>(&text)
        .ok()
        .map(|e| e.median.point_estimate)
}

fn figure(value: f64, unit: &str, better: Better, margin: f64) -> Figure {
    Figure {
        value,
        unit: unit.into(),
        better,
        margin,
    }
}

/// The gate's figures from a criterion output directory and the extra
/// figures file the memory bench writes (if present).
pub fn collect(criterion: &Path, extra: &Path) -> Figures {
    let mut out = Figures::new();
    for backend in ["etcd", "consul"] {
        for n in [3, 5, 7] {
            let disco = median_ns(criterion, &format!("join_{backend}/disco/{n}"));
            let naive = median_ns(criterion, &format!("join_{backend}/naive/{n}"));
            if let Some(d) = disco {
                out.insert(
                    format!("join.{backend}.{n}.disco_ms"),
                    figure(d / 1e6, "ms", Better::Lower, ABSOLUTE_MARGIN),
                );
            }
            let raw = median_ns(criterion, &format!("join_{backend}/raw/{n}"));
            if let (Some(d), Some(r)) = (disco, raw) {
                out.insert(
                    format!("join.{backend}.{n}.raw_ms"),
                    figure(r / 1e6, "ms", Better::Lower, ABSOLUTE_MARGIN),
                );
                // The primary figure: disco's join over the store's own
                // floor in the same run (goal: at most 1.3x).
                out.insert(
                    format!("join.{backend}.{n}.disco_over_raw"),
                    figure(d / r, "x", Better::Lower, RATIO_MARGIN),
                );
            }
            if let (Some(d), Some(nv)) = (disco, naive) {
                out.insert(
                    format!("join.{backend}.{n}.naive_ms"),
                    figure(nv / 1e6, "ms", Better::Lower, ABSOLUTE_MARGIN),
                );
                out.insert(
                    format!("join.{backend}.{n}.ratio"),
                    figure(nv / d, "x", Better::Higher, RATIO_MARGIN),
                );
            }
        }
        for op in ["create", "cas"] {
            if let Some(t) = median_ns(criterion, &format!("cas_{backend}/{op}")) {
                out.insert(
                    format!("cas.{backend}.{op}_us"),
                    figure(t / 1e3, "us", Better::Lower, ABSOLUTE_MARGIN),
                );
            }
        }
    }
    if let Some(t) = median_ns(criterion, "sim/seed/sim-leader-loss-60s") {
        out.insert(
            "sim.seeds_per_min_per_core".into(),
            figure(60e9 / t, "seeds/min", Better::Higher, ABSOLUTE_MARGIN / 2.0),
        );
    }
    if let Ok(text) = std::fs::read_to_string(extra) {
        if let Ok(more) = serde_json::from_str::<Figures>(&text) {
            out.extend(more);
        }
    }
    out
}

/// One figure that moved the wrong way past its margin.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// Its name.
    pub name: String,
    /// The baseline value.
    pub baseline: f64,
    /// This run's value.
    pub current: f64,
    /// The limit it crossed.
    pub limit: f64,
}

/// Compares every baseline figure with this run's. A figure missing from
/// this run is a regression too (the bench stopped producing it).
pub fn compare(baseline: &Figures, current: &Figures) -> Vec<Regression> {
    let mut out = Vec::new();
    for (name, base) in baseline {
        let limit = match base.better {
            Better::Higher => base.value * (1.0 - base.margin),
            Better::Lower => base.value * (1.0 + base.margin),
        };
        let value = current.get(name).map(|f| f.value);
        let bad = match (value, base.better) {
            (None, _) => true,
            (Some(v), Better::Higher) => v < limit,
            (Some(v), Better::Lower) => v > limit,
        };
        if bad {
            out.push(Regression {
                name: name.clone(),
                baseline: base.value,
                current: value.unwrap_or(f64::NAN),
                limit,
            });
        }
    }
    out
}

/// Where the benches keep their extra figures: `<target>/clusterlab-bench`.
pub fn out_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("clusterlab-bench")
}

/// Adds figures to `<out_dir>/figures.json`, keeping the others there.
pub fn record(more: Figures) -> std::io::Result<()> {
    let path = out_dir().join("figures.json");
    std::fs::create_dir_all(out_dir())?;
    let mut all: Figures = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    all.extend(more);
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&all).map_err(std::io::Error::other)?,
    )
}

/// A figure that is lower-better with the absolute margin, for benches that
/// measure outside criterion.
pub fn lower(value: f64, unit: &str, margin: f64) -> Figure {
    figure(value, unit, Better::Lower, margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ratio_that_halves_fails_and_noise_passes() {
        let mut base = Figures::new();
        base.insert("r".into(), figure(100.0, "x", Better::Higher, 0.5));
        base.insert("t".into(), figure(10.0, "ms", Better::Lower, 1.0));
        let mut now = base.clone();
        now.get_mut("r").unwrap().value = 60.0;
        now.get_mut("t").unwrap().value = 19.0;
        assert!(compare(&base, &now).is_empty());
        now.get_mut("r").unwrap().value = 40.0;
        now.get_mut("t").unwrap().value = 21.0;
        let names: Vec<String> = compare(&base, &now).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["r", "t"]);
        now.remove("r");
        assert_eq!(compare(&base, &now)[0].name, "r", "a missing figure fails");
    }
}
