//! `timeline.svg`: what happened, at a glance. Faults are shaded bands
//! labelled with their action; each node is a row coloured by its role over
//! time, with each change of its membership view written where it happens
//! (`+n3 -n2`: whom it gained and lost); the top row shows who the discovery
//! leader key named; every failed check is a red line at its instant,
//! labelled with its name, with a cross on the rows of the nodes involved;
//! a history that is not linearizable has its smallest failing window drawn
//! as one bar per operation (invocation to completion, open-ended if
//! unknown) on its node's row, the operation no order can complete in red;
//! the bottom panel plots every write's latency (failed writes in red).

use std::collections::BTreeMap;
use std::path::Path;

use crate::history::{from_events, linearizable};
use crate::trace::{EventKind, NodeRole, Trace};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const ROW: u32 = 34;

fn role_color(r: NodeRole) -> RGBColor {
    match r {
        NodeRole::Leader => RGBColor(31, 119, 180),
        NodeRole::Follower => RGBColor(158, 202, 225),
        NodeRole::Starting => RGBColor(220, 220, 220),
        NodeRole::Paused => RGBColor(253, 174, 97),
        NodeRole::Down => RGBColor(120, 120, 120),
    }
}

/// One coloured stretch of a row.
struct Span {
    from: f64,
    to: f64,
    role: NodeRole,
}

/// Writes the timeline of `trace` for `nodes` to `path`.
pub fn render(path: &Path, title: &str, nodes: &[String], trace: &Trace) -> Result<(), String> {
    let end = (trace.end().as_secs_f64() * 1.02).max(1.0);
    let secs = |ms: u64| ms as f64 / 1000.0;

    // Role stretches per node.
    let mut spans: BTreeMap<&str, Vec<Span>> = BTreeMap::new();
    let mut open: BTreeMap<&str, (f64, NodeRole)> = BTreeMap::new();
    let mut views: Vec<(f64, usize, String)> = Vec::new(); // (t, row, change)
    let mut last_view: BTreeMap<&str, &[String]> = BTreeMap::new();
    let mut failed: Vec<(f64, String, Vec<usize>)> = Vec::new(); // (t, label, rows)
    let mut leader_key: Vec<(f64, Option<String>)> = Vec::new();
    let mut faults: BTreeMap<usize, (f64, Option<f64>, String)> = BTreeMap::new();
    let mut writes: Vec<(f64, f64, bool)> = Vec::new();
    let row_of = |n: &str| nodes.iter().position(|x| x == n);
    for e in &trace.events {
        let t = secs(e.at_ms);
        match &e.kind {
            EventKind::Role { node, role } => {
                if let Some(n) = nodes.iter().find(|x| *x == node) {
                    if let Some((from, r)) = open.insert(n, (t, *role)) {
                        spans.entry(n).or_default().push(Span {
                            from,
                            to: t,
                            role: r,
                        });
                    }
                }
            }
            EventKind::Members { node, members } => {
                if let Some(r) = row_of(node) {
                    let before = last_view.insert(node, members.as_slice());
                    views.push((t, r, change(before, members)));
                }
            }
            EventKind::Check {
                name,
                passed: false,
                nodes: involved,
                ..
            } => {
                let label = if involved.is_empty() {
                    name.clone()
                } else {
                    format!("{name}: {}", involved.join(","))
                };
                failed.push((
                    t,
                    label,
                    involved.iter().filter_map(|n| row_of(n)).collect(),
                ));
            }
            // A crash is marked like a failed check: on its own it fails
            // nothing, but it is what a reader looks for first.
            EventKind::Exited {
                node,
                code,
                by_fault: false,
            } => failed.push((
                t,
                format!("{node} exited ({code})"),
                row_of(node).into_iter().collect(),
            )),
            EventKind::LeaderKey { node } => leader_key.push((t, node.clone())),
            EventKind::FaultStart {
                fault,
                action,
                nodes: hit,
                ..
            } => {
                let label = if hit.is_empty() {
                    action.clone()
                } else {
                    format!("{action} {}", hit.join(","))
                };
                faults.insert(*fault, (t, None, label));
            }
            EventKind::FaultEnd { fault, .. } => {
                if let Some(f) = faults.get_mut(fault) {
                    f.1 = Some(t);
                }
            }
            EventKind::Write {
                latency_us, acked, ..
            } => writes.push((t, *latency_us as f64 / 1000.0, *acked)),
            _ => {}
        }
    }
    for (n, (from, role)) in open {
        spans.entry(n).or_default().push(Span {
            from,
            to: end,
            role,
        });
    }

    let rows = nodes.len() + 1; // + the leader-key row
    let top_h = 124 + ROW * rows as u32;
    // No writer, no write-latency panel (the simulator records none).
    let height = if writes.is_empty() {
        top_h + 1
    } else {
        top_h + 220
    };
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    let err = |e: DrawingAreaErrorKind<_>| format!("drawing {}: {e:?}", path.display());
    root.fill(&WHITE).map_err(err)?;
    let (top, bottom) = root.split_vertically(top_h);
    top.draw(&Text::new(title.to_string(), (10, 8), ("sans-serif", 20)))
        .map_err(err)?;

    let mut chart = ChartBuilder::on(&top)
        .margin(10)
        .margin_top(62)
        .margin_left(90)
        .x_label_area_size(30)
        .build_cartesian_2d(0f64..end, 0f64..rows as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(0)
        .x_desc("seconds")
        .draw()
        .map_err(err)?;

    // Faults: shaded bands across every row, labelled at the top.
    for (start, stop, label) in faults.values() {
        let stop = stop.unwrap_or(end);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(*start, 0.0), (stop, rows as f64)],
                RGBColor(214, 39, 40).mix(0.15).filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("fault: {label}"),
                (*start, rows as f64 - 0.15),
                ("sans-serif", 12).into_font().color(&RGBColor(160, 20, 20)),
            )))
            .map_err(err)?;
    }
    // Node rows, top to bottom in node order.
    let y_of = |row: usize| (rows - 1 - row) as f64;
    for (row, n) in nodes.iter().enumerate() {
        let y = y_of(row) - 1.0;
        for s in spans.get(n.as_str()).into_iter().flatten() {
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(s.from, y + 0.2), (s.to, y + 0.8)],
                    role_color(s.role).filled(),
                )))
                .map_err(err)?;
        }
        let (px, py) = chart.backend_coord(&(0.0, y + 0.5));
        top.draw(&Text::new(n.clone(), (px - 80, py - 6), ("sans-serif", 14)))
            .map_err(err)?;
    }
    for (i, (t, row, text)) in views.iter().enumerate() {
        // Alternate heights so that changes close in time stay legible.
        let y = y_of(*row) - 1.0 + if i % 2 == 0 { 0.45 } else { 0.7 };
        chart
            .draw_series(std::iter::once(Text::new(
                text.clone(),
                (*t, y),
                ("sans-serif", 11).into_font().color(&BLACK),
            )))
            .map_err(err)?;
    }
    // Failed checks: a red line at the instant, a cross on each node involved.
    let red = RGBColor(200, 0, 0);
    for (i, (t, label, involved)) in failed.iter().enumerate() {
        chart
            .draw_series(LineSeries::new(
                [(*t, 0.0), (*t, rows as f64 - 1.0)],
                red.stroke_width(2),
            ))
            .map_err(err)?;
        for row in involved {
            chart
                .draw_series(std::iter::once(Cross::new(
                    (*t, y_of(*row) - 0.5),
                    7,
                    red.stroke_width(3),
                )))
                .map_err(err)?;
        }
        // Near the right edge the label ends at the line instead of
        // starting there, so that it is not cut off.
        let style = ("sans-serif", 12).into_font().color(&red);
        let style = if *t > end * 0.7 {
            style.pos(Pos::new(HPos::Right, VPos::Top))
        } else {
            style
        };
        chart
            .draw_series(std::iter::once(Text::new(
                format!("failed {label}"),
                (*t, 0.15 + 0.3 * (i % 3) as f64),
                style,
            )))
            .map_err(err)?;
    }
    // The anomaly's window, if the history has one.
    if let Some(a) = anomaly(trace) {
        let purple = RGBColor(106, 61, 154);
        let label_font = ("sans-serif", 10).into_font();
        for (i, o) in a.window.iter().enumerate() {
            // Operations of nodes outside the cluster (the store's own
            // writes, outside clients) go on the leader key's row.
            let row = o.node.as_deref().and_then(row_of).unwrap_or(nodes.len());
            let y = if row == nodes.len() {
                rows as f64 - 1.0
            } else {
                y_of(row) - 1.0
            } + 0.1
                + 0.12 * (i % 3) as f64;
            let from = o.invoke_us as f64 / 1e6;
            let to = o
                .complete_us
                .map_or(end, |t| t as f64 / 1e6)
                .max(from + end / 400.0);
            let color = if o.id == a.stuck { red } else { purple };
            chart
                .draw_series(std::iter::once(Rectangle::new(
                    [(from, y), (to, y + 0.08)],
                    color.filled(),
                )))
                .map_err(err)?;
            let mut what = linearizable::describe(o);
            if what.chars().count() > 40 {
                what = what.chars().take(39).collect::<String>() + "…";
            }
            chart
                .draw_series(std::iter::once(Text::new(
                    format!("#{} {what}", o.id),
                    (from, y + 0.1),
                    label_font.clone().color(&color),
                )))
                .map_err(err)?;
        }
    }
    // The leader key row, with a mark at every change.
    let ky = rows as f64 - 1.0;
    let (px, py) = chart.backend_coord(&(0.0, ky + 0.5));
    top.draw(&Text::new(
        "leader key",
        (px - 80, py - 6),
        ("sans-serif", 14),
    ))
    .map_err(err)?;
    for (i, (t, who)) in leader_key.iter().enumerate() {
        // Alternate label heights so that quick successive changes stay legible.
        let label_y = if i % 2 == 0 { ky + 0.8 } else { ky + 0.55 };
        chart
            .draw_series(std::iter::once(TriangleMarker::new(
                (*t, ky + 0.3),
                6,
                BLACK.filled(),
            )))
            .map_err(err)?;
        chart
            .draw_series(std::iter::once(Text::new(
                who.clone().unwrap_or_else(|| "(none)".into()),
                (*t, label_y),
                ("sans-serif", 11),
            )))
            .map_err(err)?;
    }
    // Legend.
    for (i, (name, r)) in [
        ("leader", NodeRole::Leader),
        ("follower", NodeRole::Follower),
        ("starting", NodeRole::Starting),
        ("paused", NodeRole::Paused),
        ("down", NodeRole::Down),
    ]
    .iter()
    .enumerate()
    {
        let x = 100 + i as i32 * 110;
        top.draw(&Rectangle::new(
            [(x, 38), (x + 14, 50)],
            role_color(*r).filled(),
        ))
        .map_err(err)?;
        top.draw(&Text::new(*name, (x + 18, 38), ("sans-serif", 12)))
            .map_err(err)?;
    }

    // Write latency.
    if writes.is_empty() {
        root.present().map_err(err)?;
        return Ok(());
    }
    let max_lat = writes.iter().map(|w| w.1).fold(1.0, f64::max) * 1.1;
    let mut lat = ChartBuilder::on(&bottom)
        .caption(
            "write latency (ms); failed writes in red",
            ("sans-serif", 14),
        )
        .margin(10)
        .margin_left(90)
        .x_label_area_size(30)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..end, 0f64..max_lat)
        .map_err(err)?;
    lat.configure_mesh().x_desc("seconds").draw().map_err(err)?;
    lat.draw_series(writes.iter().map(|(t, l, ok)| {
        Circle::new(
            (*t, *l),
            2,
            if *ok {
                RGBColor(31, 119, 180)
            } else {
                RGBColor(214, 39, 40)
            }
            .filled(),
        )
    }))
    .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The first non-linearizable window of the run's history, when a
/// `linearizable` check found one (failed, or expected and found).
/// The history's smallest non-linearizable window, if the run found one.
pub(crate) fn anomaly(trace: &Trace) -> Option<linearizable::Anomaly> {
    let found = trace.events.iter().any(|e| {
        matches!(&e.kind, EventKind::Check { name, detail, .. }
            if name == crate::history::judge::NAME && detail.contains("not linearizable"))
    });
    if !found {
        return None;
    }
    let lines = trace
        .history()
        .into_iter()
        .enumerate()
        .map(|(i, e)| (i + 1, e));
    let ops = from_events("history.jsonl", lines).ok()?;
    linearizable::check(&ops, linearizable::Budget::default())
        .into_iter()
        .find_map(|(_, v)| match v {
            linearizable::Verdict::NotLinearizable(a) => Some(a),
            _ => None,
        })
}

/// How a member view changed: `+n3 -n2`, or the whole view the first time.
fn change(before: Option<&[String]>, after: &[String]) -> String {
    let Some(before) = before else {
        return format!("[{}]", after.join(","));
    };
    let gained = after
        .iter()
        .filter(|n| !before.contains(n))
        .map(|n| format!("+{n}"));
    let lost = before
        .iter()
        .filter(|n| !after.contains(n))
        .map(|n| format!("-{n}"));
    gained.chain(lost).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_change_names_who_came_and_went() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(change(None, &v(&["n1", "n2"])), "[n1,n2]");
        assert_eq!(
            change(Some(&v(&["n1", "n2"])), &v(&["n1", "n3"])),
            "+n3 -n2"
        );
    }

    #[test]
    fn a_non_linearizable_window_is_drawn_on_its_nodes_rows() {
        use crate::history::judge::{self, fixture};
        use std::time::Duration;
        let mut t = fixture::trace(1);
        for (at, e) in judge::judge(&t, judge::Wants::default()) {
            t.push(at, e);
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("timeline.svg");
        let nodes = ["n1", "n2", "n3"].map(String::from);
        render(&path, "stale", &nodes, &t).expect("drawn");
        let svg = std::fs::read_to_string(&path).expect("written");
        assert!(svg.contains("write 2"), "the window's write is drawn");
        assert!(
            svg.contains("read -&gt; 1") || svg.contains("read -> 1"),
            "and the stale read"
        );
        // A linearizable history draws no window.
        let mut ok = Trace::default();
        for e in t
            .events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Op(_)))
            .take(4)
        {
            ok.push(Duration::from_millis(1), e.kind.clone());
        }
        assert!(anomaly(&ok).is_none());
    }
}
