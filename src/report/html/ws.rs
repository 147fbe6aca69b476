//! The WebSocket and sessions sections: delivery figures, socket life and
//! fan-out percentiles per WebSocket step (with region rows), a fan-out
//! distribution plot per sending step, and live sessions over the run.
//!
//! Owns their layout only; every figure is the report's. Must not compute
//! statistics.

use std::fmt::Write as _;

use super::chart::{self, Axis, Hover, Line, Stroke};
use super::steps::{distribution_chart, figure, time_chart};
use super::summary::latency_cells;
use super::timeline::Timeline;
use super::{esc, int, num, pct};
use crate::report::{PercentilePoint, Report, WsReport};

pub fn section(out: &mut String, r: &Report, tl: &Timeline) {
    let ws_steps: Vec<(usize, &crate::report::StepReport, &WsReport)> = r
        .steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.ws.as_ref().map(|w| (i, s, w)))
        .collect();
    if !ws_steps.is_empty() {
        out.push_str(r#"<h2 id="websocket">WebSocket</h2>"#);
        delivery_table(out, &ws_steps);
        sockets_table(out, &ws_steps);
        fanout(out, &ws_steps, tl);
    }
    sessions(out, r, tl);
}

/// Rows of a step and its regions that carry WebSocket figures.
fn rows<'a>(
    s: &'a crate::report::StepReport,
    w: &'a WsReport,
) -> Vec<(bool, String, &'a WsReport)> {
    let mut out = vec![(false, format!("{} / {}", s.phase, s.step), w)];
    for g in &s.regions {
        if let Some(gw) = &g.ws {
            out.push((true, format!("└ {}", g.region), gw));
        }
    }
    out
}

fn delivery_table(out: &mut String, steps: &[(usize, &crate::report::StepReport, &WsReport)]) {
    let senders: Vec<_> = steps.iter().filter(|(_, _, w)| w.messages > 0).collect();
    if senders.is_empty() {
        return;
    }
    out.push_str(
        r#"<h4>Delivery</h4><div class="scroll"><table class="ws"><thead><tr><th>step</th><th class="n">messages</th><th class="n">expected</th><th class="n">received</th><th class="n">delivery</th><th class="n">missing</th><th class="n">duplicates</th><th class="n">out of order</th><th class="n">echoes</th><th class="n">unexpected</th></tr></thead><tbody>"#,
    );
    for (_, s, w) in senders {
        for (sub, name, w) in rows(s, w) {
            let ratio = w
                .delivery_ratio
                .map_or("–".to_owned(), |d| format!("{}%", pct(d * 100.0)));
            let bad = |n: u64| if n > 0 { "n err" } else { "n" };
            let _ = write!(
                out,
                r#"<tr{}><td class="name">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{ratio}</td><td class="{}">{}</td><td class="{}">{}</td><td class="{}">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                if sub { r#" class="sub""# } else { "" },
                esc(&name),
                int(w.messages),
                int(w.expected),
                int(w.received),
                bad(w.missing),
                int(w.missing),
                bad(w.duplicates),
                int(w.duplicates),
                bad(w.out_of_order),
                int(w.out_of_order),
                int(w.echoes),
                int(w.unexpected),
            );
        }
    }
    out.push_str("</tbody></table></div>");
}

fn sockets_table(out: &mut String, steps: &[(usize, &crate::report::StepReport, &WsReport)]) {
    let connects: Vec<_> = steps
        .iter()
        .filter(|(_, _, w)| {
            w.messages_in > 0 || w.reconnects > 0 || w.broken > 0 || !w.closed_by_server.is_empty()
        })
        .collect();
    if connects.is_empty() {
        return;
    }
    out.push_str(
        r#"<h4>Sockets</h4><div class="scroll"><table class="ws"><thead><tr><th>step</th><th class="n">messages in</th><th class="n">reconnects</th><th class="n">broken</th><th>closed by server</th></tr></thead><tbody>"#,
    );
    for (_, s, w) in connects {
        for (sub, name, w) in rows(s, w) {
            let closes: Vec<String> = w
                .closed_by_server
                .iter()
                .map(|(code, n)| format!("{} × {}", int(*n), esc(code)))
                .collect();
            let _ = write!(
                out,
                r#"<tr{}><td class="name">{}</td><td class="n">{}</td><td class="n">{}</td><td class="{}">{}</td><td>{}</td></tr>"#,
                if sub { r#" class="sub""# } else { "" },
                esc(&name),
                int(w.messages_in),
                int(w.reconnects),
                if w.broken > 0 { "n err" } else { "n" },
                int(w.broken),
                if closes.is_empty() {
                    "–".to_owned()
                } else {
                    closes.join(", ")
                }
            );
        }
    }
    out.push_str("</tbody></table></div>");
}

/// Fan-out percentiles (table) and one distribution plot per sending step.
fn fanout(
    out: &mut String,
    steps: &[(usize, &crate::report::StepReport, &WsReport)],
    tl: &Timeline,
) {
    let senders: Vec<_> = steps
        .iter()
        .filter(|(_, _, w)| w.fanout_us.samples > 0)
        .collect();
    if senders.is_empty() {
        return;
    }
    out.push_str(
        r#"<h4>Fan-out latency</h4><p class="note">From a message's intended send time to its arrival at each other viewer.</p><div class="scroll"><table class="ws"><thead><tr><th>step</th><th class="n">deliveries</th><th class="n">p50</th><th class="n">p90</th><th class="n">p99</th><th class="n">p99.9</th><th class="n">max</th></tr></thead><tbody>"#,
    );
    for (_, s, w) in &senders {
        for (sub, name, w) in rows(s, w) {
            let _ = write!(
                out,
                r#"<tr{}><td class="name">{}</td><td class="n">{}</td>"#,
                if sub { r#" class="sub""# } else { "" },
                esc(&name),
                int(w.fanout_us.samples)
            );
            latency_cells(out, &w.fanout_us);
            out.push_str("</tr>");
        }
    }
    out.push_str("</tbody></table></div>");
    out.push_str(r#"<section class="card"><div class="grid2">"#);
    for (i, s, w) in senders {
        let mut lines: Vec<(String, &'static str, Stroke, &[PercentilePoint])> = Vec::new();
        for g in &s.regions {
            if let Some(gw) = g.ws.as_ref().filter(|gw| !gw.fanout_percentiles.is_empty()) {
                lines.push((
                    g.region.clone(),
                    tl.region_color(&g.region),
                    Stroke::Solid,
                    &gw.fanout_percentiles,
                ));
            }
        }
        let alone = lines.is_empty();
        lines.push((
            if alone { "fan-out" } else { "all regions" }.to_owned(),
            if alone { "#2f6fb0" } else { "#3e4c59" },
            if alone { Stroke::Solid } else { Stroke::Dashed },
            &w.fanout_percentiles,
        ));
        if let Some(c) = distribution_chart(
            &format!("step-{i}-fanout"),
            "fan-out distribution",
            chart::HALF_W,
            &lines,
        ) {
            let title = format!("Fan-out distribution: {} / {}", s.phase, s.step);
            out.push_str(&figure(&title, "value at each percentile", &c));
        }
    }
    out.push_str("</div></section>");
}

/// Live sessions over the run, when closed-model phases ran.
fn sessions(out: &mut String, r: &Report, tl: &Timeline) {
    let ser = &r.sessions.series;
    if ser.is_empty() {
        return;
    }
    let _ = write!(
        out,
        r#"<h2 id="sessions">Sessions</h2><p class="note">Peak: <strong>{}</strong> live sessions, sampled every {} s.</p>"#,
        int(r.sessions.peak),
        num(r.sessions.sample_every_s)
    );
    let top = ser.iter().map(|p| p.1 as f64).fold(0.0, f64::max);
    let line = Line {
        label: "live sessions".to_owned(),
        color: "#3a9a5b",
        stroke: Stroke::Solid,
        fill: true,
        points: ser.iter().map(|&(t, n)| Some((t, n as f64))).collect(),
    };
    // Each sample owns the time up to the next one.
    let hover = ser
        .iter()
        .enumerate()
        .map(|(k, &(t, n))| {
            let next = ser
                .get(k + 1)
                .map_or(t + r.sessions.sample_every_s, |p| p.0);
            Hover {
                from: t,
                to: next,
                text: format!("{} s: {} live sessions", num(t), int(n)),
            }
        })
        .collect();
    let c = time_chart(
        "sessions-chart",
        "live sessions",
        tl,
        Axis::zero_to(top, "sessions"),
        vec![line],
        hover,
    );
    out.push_str(r#"<section class="card">"#);
    out.push_str(&figure("Live sessions", "over the run", &c));
    out.push_str("</section>");
}
