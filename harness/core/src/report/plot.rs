//! Small inline SVG plots for `report.html`: an operation's latency over
//! time and its rate per second, each with the faults' windows shaded. Hand
//! written (no plotting library, no script): a page must open offline and
//! each point carries its own hover text (`<title>`).

use std::fmt::Write;

/// How an operation ended, which is its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// Acknowledged.
    Ok,
    /// Refused or failed: it did not happen.
    Failed,
    /// Unknown: it may have happened.
    Unknown,
}

impl Class {
    fn color(self) -> &'static str {
        match self {
            Class::Ok => "#1f77b4",
            Class::Failed => "#d62728",
            Class::Unknown => "#ff7f0e",
        }
    }

    /// Its name in legends.
    pub fn name(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Failed => "failed",
            Class::Unknown => "unknown",
        }
    }
}

/// One operation: when it was invoked (s), how long it took (ms), how it
/// ended, and its hover text.
#[derive(Debug, Clone)]
pub struct Point {
    /// Invocation, seconds from the run's start.
    pub t: f64,
    /// Latency in milliseconds (an operation that never returned: until
    /// the run's end).
    pub ms: f64,
    /// How it ended.
    pub class: Class,
    /// Shown on hover.
    pub label: String,
}

/// A fault's window (seconds) and its label.
#[derive(Debug, Clone)]
pub struct Window {
    /// Start.
    pub from: f64,
    /// End (the run's end if never undone).
    pub to: f64,
    /// What it was.
    pub label: String,
}

const W: f64 = 1100.0;
const H: f64 = 170.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 24.0;
const BOTTOM: f64 = 28.0;

/// Escapes text for HTML and SVG.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The x axis: seconds of a run, or runs counted from 1.
#[derive(Clone, Copy, PartialEq)]
enum Axis {
    Seconds,
    Runs,
}

/// Opens the SVG and draws its frame: title, axes, ticks and the shaded
/// fault windows.
fn frame(
    out: &mut String,
    title: &str,
    x_axis: (f64, Axis),
    ymax: f64,
    unit: &str,
    faults: &[Window],
) {
    let (end, axis) = x_axis;
    let x = |t: f64| LEFT + (W - LEFT - RIGHT) * t / end;
    let _ = write!(
        out,
        r#"<svg class="plot" viewBox="0 0 {W} {H}" width="{W}" height="{H}" xmlns="http://www.w3.org/2000/svg">"#
    );
    let _ = write!(
        out,
        r#"<text x="{LEFT}" y="15" class="title">{}</text>"#,
        esc(title)
    );
    for f in faults {
        let (a, b) = (x(f.from), x(f.to.min(end)));
        let _ = write!(
            out,
            r##"<rect x="{a:.1}" y="{TOP}" width="{:.1}" height="{:.1}" fill="#d62728" fill-opacity="0.12"><title>fault: {}</title></rect>"##,
            (b - a).max(1.0),
            H - TOP - BOTTOM,
            esc(&f.label)
        );
    }
    let (y0, y1) = (H - BOTTOM, TOP);
    let _ = write!(
        out,
        r##"<line x1="{LEFT}" y1="{y0}" x2="{}" y2="{y0}" stroke="#444"/><line x1="{LEFT}" y1="{y0}" x2="{LEFT}" y2="{y1}" stroke="#444"/>"##,
        W - RIGHT
    );
    let (first, step, suffix) = match axis {
        Axis::Seconds => (0.0, nice_step(end / 10.0), "s"),
        Axis::Runs => (1.0, nice_step(end / 10.0).max(1.0), ""),
    };
    // Each tick from its index (no float sums: 0.30000000000000004), with
    // the decimals the step needs.
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    for k in 0.. {
        let t = first + k as f64 * step;
        if t > end + 1e-9 {
            break;
        }
        let _ = write!(
            out,
            r##"<text x="{:.1}" y="{}" class="tick" text-anchor="middle">{t:.decimals$}{suffix}</text>"##,
            x(t),
            H - 10.0
        );
    }
    let _ = write!(
        out,
        r##"<text x="{}" y="{}" class="tick" text-anchor="end">{}{unit}</text><text x="{}" y="{y0}" class="tick" text-anchor="end">0</text>"##,
        LEFT - 4.0,
        y1 + 8.0,
        short(ymax),
        LEFT - 4.0
    );
}

/// 1, 2 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if raw <= 0.0 || !raw.is_finite() {
        return 1.0;
    }
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * p)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * p)
}

fn short(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Latency over time: one dot per operation at its invocation.
pub fn latency(title: &str, points: &[Point], end: f64, faults: &[Window]) -> String {
    dots(title, points, (end.max(1.0), Axis::Seconds), faults)
}

/// A figure (ms) of each run, run `t` at x = `t` (from 1), up to `end`.
pub fn by_run(title: &str, points: &[Point], end: f64) -> String {
    dots(title, points, (end.max(2.0), Axis::Runs), &[])
}

fn dots(title: &str, points: &[Point], x_axis: (f64, Axis), faults: &[Window]) -> String {
    let end = x_axis.0;
    // Headroom above the slowest, so that its dot is not on the frame.
    let ymax = (points.iter().map(|p| p.ms).fold(1.0f64, f64::max) * 1.15).min(60_000.0);
    let mut out = String::new();
    frame(&mut out, title, x_axis, ymax, " ms", faults);
    let x = |t: f64| LEFT + (W - LEFT - RIGHT) * t / end;
    let y = |ms: f64| (H - BOTTOM) - (H - TOP - BOTTOM) * ms.min(ymax) / ymax;
    for p in points {
        let _ = write!(
            out,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.2" fill="{}"><title>{}</title></circle>"#,
            x(p.t),
            y(p.ms),
            p.class.color(),
            esc(&p.label)
        );
    }
    legend(&mut out);
    out.push_str("</svg>");
    out
}

/// Operations per second by how they ended, stacked.
pub fn rate(title: &str, points: &[Point], end: f64, faults: &[Window]) -> String {
    let end = end.max(1.0);
    let buckets = end.ceil() as usize;
    let mut counts = vec![[0u32; 3]; buckets.max(1)];
    for p in points {
        let b = (p.t.max(0.0) as usize).min(counts.len() - 1);
        counts[b][p.class as usize] += 1;
    }
    let ymax = counts
        .iter()
        .map(|c| c.iter().sum::<u32>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let mut out = String::new();
    frame(&mut out, title, (end, Axis::Seconds), ymax, "/s", faults);
    let x = |t: f64| LEFT + (W - LEFT - RIGHT) * t / end;
    let bar_h = |n: u32| (H - TOP - BOTTOM) * n as f64 / ymax;
    for (i, c) in counts.iter().enumerate() {
        let mut base = H - BOTTOM;
        for class in [Class::Ok, Class::Failed, Class::Unknown] {
            let n = c[class as usize];
            if n == 0 {
                continue;
            }
            let h = bar_h(n);
            base -= h;
            let _ = write!(
                out,
                r#"<rect x="{:.1}" y="{base:.1}" width="{:.1}" height="{h:.1}" fill="{}"><title>{i}-{}s: {n} {}</title></rect>"#,
                x(i as f64) + 0.5,
                (x(1.0) - x(0.0) - 1.0).max(0.5),
                class.color(),
                i + 1,
                class.name()
            );
        }
    }
    legend(&mut out);
    out.push_str("</svg>");
    out
}

fn legend(out: &mut String) {
    for (i, c) in [Class::Ok, Class::Failed, Class::Unknown]
        .iter()
        .enumerate()
    {
        let x = W - RIGHT - 200.0 + 70.0 * i as f64;
        let _ = write!(
            out,
            r#"<circle cx="{x}" cy="11" r="4" fill="{}"/><text x="{}" y="15" class="tick">{}</text>"#,
            c.color(),
            x + 7.0,
            c.name()
        );
    }
}
