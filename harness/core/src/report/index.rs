//! `index.html` over a results folder: every run newest first, and each
//! scenario's failover and convergence over its runs, so that a slower
//! failover after a change shows without opening run by run.

use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::plot::{self, esc, Class, Point};
use crate::outcome::Outcome;

/// One run found under the folder.
#[derive(Debug, Clone)]
pub struct Run {
    /// Its folder, relative to the index.
    pub dir: PathBuf,
    /// Its `results.json`.
    pub outcome: Outcome,
    /// When its results were written.
    pub date: SystemTime,
    /// It has a `report.html` (older runs do not).
    pub page: bool,
}

/// The runs under `root` (`<root>/<scenario>/<run-id>/results.json`, the
/// `latest` links skipped), newest first.
pub fn scan(root: &Path) -> std::io::Result<Vec<Run>> {
    let mut runs = Vec::new();
    for scenario in std::fs::read_dir(root)? {
        let scenario = scenario?.path();
        let Ok(entries) = std::fs::read_dir(&scenario) else {
            continue;
        };
        for run in entries.flatten() {
            let (path, name) = (run.path(), run.file_name());
            if name == "latest" || run.file_type().is_ok_and(|t| t.is_symlink()) {
                continue;
            }
            let results = path.join("results.json");
            let (Ok(text), Ok(meta)) = (
                std::fs::read_to_string(&results),
                std::fs::metadata(&results),
            ) else {
                continue;
            };
            // A folder of another tool, or of an older lab: not a run here.
            let Ok(outcome) = serde_json::from_str::<Outcome>(&text) else {
                continue;
            };
            runs.push(Run {
                dir: path.strip_prefix(root).unwrap_or(&path).to_path_buf(),
                outcome,
                date: meta.modified().unwrap_or(UNIX_EPOCH),
                page: path.join("report.html").is_file(),
            });
        }
    }
    runs.sort_by(|a, b| (b.date, &b.outcome.run_id).cmp(&(a.date, &a.outcome.run_id)));
    Ok(runs)
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn utc(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

fn ms(v: Option<u64>) -> String {
    v.map_or("-".into(), |v| format!("{v} ms"))
}

/// The index page of `runs` (newest first).
pub fn render(runs: &[Run]) -> String {
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>clusterlab runs</title><style>\
         body{font:14px system-ui,sans-serif;margin:20px;color:#222}table{border-collapse:collapse}\
         td,th{padding:3px 10px;text-align:left;border-bottom:1px solid #eee}\
         tr.failed td.verdict{color:#fff;background:#d62728}tr.passed td.verdict{color:#fff;background:#2ca02c}\
         tr.skipped td.verdict{background:#ddd}.plot text{font:11px sans-serif}.plot .title{font-weight:bold}\
         </style></head><body>",
    );
    let _ = write!(
        out,
        "<h1>clusterlab runs</h1><p>{} runs, newest first.</p><table id=\"runs\"><tr><th>date (UTC)</th><th>scenario</th><th>world</th><th>seed</th><th>verdict</th><th>failover</th><th>convergence</th><th>writes lost</th><th>run</th></tr>",
        runs.len()
    );
    for r in runs {
        let o = &r.outcome;
        let (class, verdict) = if o.skipped.is_some() {
            ("skipped", "SKIP")
        } else if o.passed {
            ("passed", "PASS")
        } else {
            ("failed", "FAIL")
        };
        let dir = esc(&r.dir.to_string_lossy());
        let page = format!(
            "{dir}/{}",
            if r.page {
                "report.html"
            } else {
                "results.json"
            }
        );
        let _ = write!(
            out,
            "<tr class=\"{class}\"><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"verdict\">{verdict}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"{page}\">{}</a></td></tr>",
            utc(r.date),
            esc(&o.scenario),
            o.world.as_str(),
            o.seed,
            ms(o.failover_ms),
            ms(o.convergence_ms),
            o.writes_lost,
            esc(&o.run_id)
        );
    }
    out.push_str("</table>");
    // One section per scenario and world (a simulated failover is not a
    // container one) with at least two measured runs.
    let mut groups: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r.outcome.scenario.as_str(), r.outcome.world.as_str()))
        .collect();
    groups.sort();
    groups.dedup();
    for (name, world) in groups {
        // Oldest first, left to right.
        let mine: Vec<&Run> = runs
            .iter()
            .rev()
            .filter(|r| {
                r.outcome.scenario == name
                    && r.outcome.world.as_str() == world
                    && r.outcome.skipped.is_none()
            })
            .collect();
        let series = |f: fn(&Outcome) -> Option<u64>| -> Vec<Point> {
            mine.iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    f(&r.outcome).map(|v| Point {
                        t: i as f64 + 1.0,
                        ms: v as f64,
                        class: if r.outcome.passed {
                            Class::Ok
                        } else {
                            Class::Failed
                        },
                        label: format!("run {} ({}): {v} ms", r.outcome.run_id, utc(r.date)),
                    })
                })
                .collect()
        };
        let (failover, convergence) = (series(|o| o.failover_ms), series(|o| o.convergence_ms));
        if failover.len() < 2 && convergence.len() < 2 {
            continue;
        }
        let title = format!("{name} [{world}]");
        let _ = write!(out, "<h2 class=\"trend\">{}</h2>", esc(&title));
        let end = mine.len() as f64 + 1.0;
        for (what, points) in [("failover", failover), ("convergence", convergence)] {
            if points.len() >= 2 {
                let caption = format!("{title}: {what} by run, oldest first (red: a failed run)");
                out.push_str(&plot::by_run(&caption, &points, end));
            }
        }
    }
    out.push_str("</body></html>\n");
    out
}

/// Writes `<root>/index.html`; its path and how many runs it lists.
pub fn write(root: &Path) -> std::io::Result<(PathBuf, usize)> {
    let runs = scan(root)?;
    let page = root.join("index.html");
    std::fs::write(&page, render(&runs))?;
    Ok((page, runs.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dates_are_civil_utc() {
        assert_eq!(utc(UNIX_EPOCH), "1970-01-01 00:00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_796_565_045);
        assert_eq!(utc(t), "2026-12-06 13:50:45");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(utc(leap), "2000-02-29 00:00:00");
    }
}
