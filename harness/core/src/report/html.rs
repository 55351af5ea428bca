//! `report.html`: one page a person opens to see why a run passed or
//! failed, without opening the other files: the verdict and the command
//! that replays the run, every check with its instant and nodes, the
//! timeline, each workload's latency and rate with the faults shaded, the
//! history's anomaly window with call and return times, links to the
//! nodes' logs, and the scenario as written. Self-contained: inline SVG and
//! CSS, no script and nothing fetched, so it opens offline and from a CI
//! artifact.

use std::collections::BTreeMap;
use std::fmt::Write;

use clusterlab_scenario::Scenario;

use super::plot::{self, esc, Class, Point, Window};
use crate::history::{linearizable, Type};
use crate::outcome::Outcome;
use crate::trace::{EventKind, Trace};

/// What the page is made of, besides the run's outcome and trace.
pub struct Page<'a> {
    /// The scenario run.
    pub scenario: &'a Scenario,
    /// Its verdict.
    pub outcome: &'a Outcome,
    /// What happened.
    pub trace: &'a Trace,
    /// `timeline.svg`'s text, drawn inline.
    pub timeline: Option<String>,
    /// Nodes whose output is in `logs/<node>.log`.
    pub logs: Vec<String>,
    /// The command that replays this run.
    pub replay: String,
    /// The other reports beside the page (only the ones written).
    pub files: Vec<&'static str>,
}

const STYLE: &str = "body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#222;max-width:1180px}\
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}\
.verdict{display:inline-block;padding:2px 10px;border-radius:4px;color:#fff;font-weight:600}\
.pass{background:#2ca02c}.fail{background:#d62728}.skip{background:#888}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #eee;padding:4px 8px;text-align:left;vertical-align:top}\
tr.failed td{background:#fdecea}code,pre{font:12px/1.4 ui-monospace,monospace;background:#f6f6f6}\
pre{padding:10px;overflow:auto}.plot .title{font:600 13px sans-serif}.plot .tick{font:11px sans-serif;fill:#444}\
.tl svg{max-width:100%;height:auto}";

/// Renders the page.
pub fn render(p: &Page) -> String {
    let o = p.outcome;
    let mut out = String::new();
    let verdict = if o.skipped.is_some() {
        ("skip", "SKIPPED")
    } else if o.passed {
        ("pass", "PASS")
    } else {
        ("fail", "FAIL")
    };
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} {} {}</title><style>{STYLE}</style></head><body>",
        verdict.1,
        esc(&o.scenario),
        esc(&o.run_id)
    );
    let _ = write!(
        out,
        "<h1><span class=\"verdict {}\">{}</span> {} <small>[{}] run {}, seed {}</small></h1><p>{}</p><p><code>{}</code></p><p>Replay: <code id=\"replay\">{}</code></p>",
        verdict.0,
        verdict.1,
        esc(&o.scenario),
        o.world.as_str(),
        esc(&o.run_id),
        o.seed,
        esc(&p.scenario.description),
        esc(&o.summary()),
        esc(&p.replay)
    );
    checks(&mut out, o);
    if let Some(svg) = &p.timeline {
        let body = svg.find("<svg").map_or(svg.as_str(), |i| &svg[i..]);
        let _ = write!(out, "<h2>Timeline</h2><div class=\"tl\">{body}</div>");
    }
    workloads(&mut out, p.trace);
    anomaly(&mut out, p.trace);
    // On Swarm, the node each task ran on: a fault or a crash on one
    // host is read beside the others there.
    let placed: BTreeMap<&str, &str> = p
        .trace
        .events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Placed { node, host } => Some((node.as_str(), host.as_str())),
            _ => None,
        })
        .collect();
    if !p.logs.is_empty() {
        out.push_str("<h2>Logs</h2><p>");
        for n in &p.logs {
            let _ = write!(out, "<a href=\"logs/{0}.log\">{0}</a> ", esc(n));
            if let Some(host) = placed.get(n.as_str()) {
                let _ = write!(out, "(swarm node {}) ", esc(host));
            }
        }
        out.push_str("</p>");
    }
    let _ = write!(
        out,
        "<h2>Scenario</h2><pre id=\"scenario\">{}</pre><p>Also here:",
        esc(&p.scenario.source)
    );
    for (i, f) in p.files.iter().enumerate() {
        let sep = if i == 0 { "" } else { "," };
        let _ = write!(out, "{sep} <a href=\"{f}\">{f}</a>");
    }
    out.push_str(".</p></body></html>\n");
    out
}

fn checks(out: &mut String, o: &Outcome) {
    out.push_str("<h2>Checks</h2><table id=\"checks\"><tr><th>check</th><th>verdict</th><th>at</th><th>nodes</th><th>detail</th></tr>");
    // Failed checks first, each where a reader looks first.
    let mut rows: Vec<_> = o.checks.iter().collect();
    rows.sort_by_key(|c| c.passed);
    for c in rows {
        let _ = write!(
            out,
            "<tr class=\"{}\"><td>{}</td><td>{}</td><td>{:.3} s</td><td>{}</td><td>{}</td></tr>",
            if c.passed { "passed" } else { "failed" },
            esc(&c.name),
            if c.passed { "passed" } else { "FAILED" },
            c.at_ms as f64 / 1000.0,
            esc(&c.nodes.join(", ")),
            esc(&c.detail)
        );
    }
    out.push_str("</table>");
}

/// The faults' windows, in seconds.
fn fault_windows(trace: &Trace, end: f64) -> Vec<Window> {
    let mut open: BTreeMap<usize, Window> = BTreeMap::new();
    for e in &trace.events {
        let t = e.at_ms as f64 / 1000.0;
        match &e.kind {
            EventKind::FaultStart {
                fault,
                action,
                nodes,
                ..
            } => {
                open.insert(
                    *fault,
                    Window {
                        from: t,
                        to: end,
                        label: format!("{action} {}", nodes.join(",")),
                    },
                );
            }
            EventKind::FaultEnd { fault, .. } => {
                if let Some(w) = open.get_mut(fault) {
                    w.to = t;
                }
            }
            _ => {}
        }
    }
    open.into_values().collect()
}

/// Each workload's operations, by name: the writer's writes, and the
/// history's operations by function, each paired with its completion.
fn operations(trace: &Trace, end: f64) -> BTreeMap<String, Vec<Point>> {
    let mut by: BTreeMap<String, Vec<Point>> = BTreeMap::new();
    for e in &trace.events {
        if let EventKind::Write {
            key,
            latency_us,
            acked,
        } = &e.kind
        {
            let ms = *latency_us as f64 / 1000.0;
            let t = e.at_ms as f64 / 1000.0 - ms / 1000.0;
            by.entry("writes".into()).or_default().push(Point {
                t,
                ms,
                class: if *acked { Class::Ok } else { Class::Failed },
                label: format!(
                    "write {key} at {t:.3} s: {ms:.1} ms, {}",
                    if *acked { "acked" } else { "failed" }
                ),
            });
        }
    }
    let mut invoked: BTreeMap<u64, crate::history::Event> = BTreeMap::new();
    for ev in trace.history() {
        if ev.kind == Type::Invoke {
            invoked.insert(ev.client, ev);
            continue;
        }
        let Some(call) = invoked.remove(&ev.client) else {
            continue;
        };
        let (from, to) = (call.time_us as f64 / 1e6, ev.time_us as f64 / 1e6);
        let class = match ev.kind {
            Type::Ok => Class::Ok,
            Type::Fail => Class::Failed,
            _ => Class::Unknown,
        };
        let f = format!("{:?}", call.f).to_lowercase();
        let value = ev.value.as_ref().or(call.value.as_ref());
        by.entry(f.clone()).or_default().push(Point {
            t: from,
            ms: (to - from) * 1000.0,
            class,
            label: format!(
                "client {} {f} {}{} on {}: called {from:.3} s, returned {to:.3} s ({})",
                call.client,
                call.key,
                value.map_or(String::new(), |v| format!(" = {v}")),
                call.node.as_deref().unwrap_or("?"),
                class.name()
            ),
        });
    }
    // Calls never answered: unknown, open until the end.
    for call in invoked.into_values() {
        let from = call.time_us as f64 / 1e6;
        by.entry(format!("{:?}", call.f).to_lowercase())
            .or_default()
            .push(Point {
                t: from,
                ms: (end - from).max(0.0) * 1000.0,
                class: Class::Unknown,
                label: format!(
                    "client {} {:?} {}: called {from:.3} s, never returned",
                    call.client, call.f, call.key
                ),
            });
    }
    by
}

fn workloads(out: &mut String, trace: &Trace) {
    let end = trace.end().as_secs_f64().max(1.0);
    let ops = operations(trace, end);
    if ops.is_empty() {
        return;
    }
    let faults = fault_windows(trace, end);
    out.push_str("<h2>Workloads</h2>");
    for (name, points) in &ops {
        let n = points.len();
        let ok = points.iter().filter(|p| p.class == Class::Ok).count();
        out.push_str(&plot::latency(
            &format!("{name}: latency ({n} operations, {ok} ok)"),
            points,
            end,
            &faults,
        ));
        out.push_str(&plot::rate(
            &format!("{name}: per second"),
            points,
            end,
            &faults,
        ));
    }
}

fn anomaly(out: &mut String, trace: &Trace) {
    let Some(a) = super::timeline::anomaly(trace) else {
        return;
    };
    let _ = write!(
        out,
        "<h2>Anomaly on key {}</h2><p>No order of these operations explains their results; #{} (red) is the one no order can complete. Hover a row for its times.</p><table id=\"anomaly\"><tr><th>#</th><th>node</th><th>operation</th><th>called</th><th>returned</th></tr>",
        esc(&a.key),
        a.stuck
    );
    for op in &a.window {
        let called = op.invoke_us as f64 / 1e6;
        let returned = op.complete_us.map_or("never (unknown)".to_string(), |t| {
            format!("{:.6} s", t as f64 / 1e6)
        });
        let _ = write!(
            out,
            "<tr{} title=\"called {called:.6} s, returned {returned}\"><td>{}</td><td>{}</td><td>{}</td><td>{called:.6} s</td><td>{returned}</td></tr>",
            if op.id == a.stuck { " class=\"failed\"" } else { "" },
            op.id,
            esc(op.node.as_deref().unwrap_or("-")),
            esc(&linearizable::describe(op))
        );
    }
    out.push_str("</table>");
}
