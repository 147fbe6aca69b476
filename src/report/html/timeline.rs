//! The run's timeline as every time chart of the page shares it: one x
//! axis (seconds from the start), the phases as bands, the chaos events as
//! fault spans, and one colour per region.
//!
//! Owns pairing chaos transitions into spans (start/on → end/off/cleanup
//! per event and region). Must not draw; [`super::chart`] does.

use super::chart::{Axis, Span, SpanKind};
use super::num;
use crate::report::Report;

/// Colours for regions, in the order the report lists them; chosen to stay
/// apart from each other and from the red of errors and faults.
const REGION_COLORS: [&str; 8] = [
    "#2f6fb0", "#e08a1e", "#3a9a5b", "#8e5bb5", "#1a9ba8", "#b8862a", "#d4608f", "#6b7785",
];

/// The shared x axis, bands and region colours.
pub struct Timeline {
    pub x: Axis,
    pub spans: Vec<Span>,
    regions: Vec<String>,
}

impl Timeline {
    pub fn new(r: &Report) -> Timeline {
        let mut end = r.duration_s;
        for p in &r.phases {
            end = end.max(p.start_s + p.duration_s);
        }
        for s in &r.steps {
            end = end.max(s.series.sent.len() as f64 * s.series.every_s);
        }
        if let Some(last) = r.sessions.series.last() {
            end = end.max(last.0);
        }
        if !end.is_finite() || end <= 0.0 {
            end = 1.0;
        }
        let mut spans: Vec<Span> = r
            .phases
            .iter()
            .map(|p| Span {
                kind: SpanKind::Phase,
                from: p.start_s,
                to: p.start_s + p.duration_s,
                label: p.name.clone(),
                title: format!(
                    "phase {} ({}): {}–{} s",
                    p.name,
                    p.model,
                    num(p.start_s),
                    num(p.start_s + p.duration_s)
                ),
            })
            .collect();
        spans.extend(fault_spans(r, end));
        let mut regions: Vec<String> = r.regions.iter().map(|g| g.name.clone()).collect();
        for s in &r.steps {
            for g in &s.regions {
                if !regions.contains(&g.region) {
                    regions.push(g.region.clone());
                }
            }
        }
        Timeline {
            x: Axis::exact(0.0, end, "seconds from start"),
            spans,
            regions,
        }
    }

    /// The colour of a region, the same in every chart.
    pub fn region_color(&self, region: &str) -> &'static str {
        let i = self
            .regions
            .iter()
            .position(|g| g == region)
            .unwrap_or(self.regions.len());
        REGION_COLORS[i % REGION_COLORS.len()]
    }
}

/// Each chaos event's time in effect per region, from the transitions as
/// they happened; from the plan when nothing was logged.
fn fault_spans(r: &Report, end: f64) -> Vec<Span> {
    let Some(c) = &r.chaos else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if c.transitions.is_empty() {
        for e in &c.events {
            let to = e.until_s.unwrap_or(end);
            let label = format!("{} · {}", e.name, e.regions.join(", "));
            out.push(Span {
                kind: SpanKind::Fault,
                from: e.at_s,
                to,
                title: format!(
                    "{label}: {} (planned {}–{} s)",
                    e.action,
                    num(e.at_s),
                    num(to)
                ),
                label,
            });
        }
        return out;
    }
    // (event, region, since, action, errors seen) of what is in effect now.
    let mut open: Vec<(&str, &str, f64, &str, Vec<&str>)> = Vec::new();
    let close = |o: (&str, &str, f64, &str, Vec<&str>), to: f64, out: &mut Vec<Span>| {
        let label = format!("{} · {}", o.0, o.1);
        let failed = if o.4.is_empty() {
            String::new()
        } else {
            format!(" — FAILED: {}", o.4.join("; "))
        };
        out.push(Span {
            kind: SpanKind::Fault,
            from: o.2,
            to,
            title: format!("{label}: {}, {}–{} s{failed}", o.3, num(o.2), num(to)),
            label,
        });
    };
    for t in &c.transitions {
        let at = open.iter().position(|o| o.0 == t.event && o.1 == t.region);
        match t.change.as_str() {
            "start" | "on" => {
                if at.is_none() {
                    let errors = t.error.as_deref().into_iter().collect();
                    open.push((&t.event, &t.region, t.at_s, &t.action, errors));
                }
            }
            "end" | "off" | "cleanup" => {
                if let Some(i) = at {
                    let o = open.remove(i);
                    close(o, t.at_s, &mut out);
                }
            }
            // `full` (a ramp at its top) changes strength, not extent.
            _ => {
                if let (Some(i), Some(e)) = (at, t.error.as_deref()) {
                    open[i].4.push(e);
                }
            }
        }
    }
    for o in open {
        close(o, end, &mut out);
    }
    out.sort_by(|a, b| a.from.total_cmp(&b.from));
    merge_regions(out)
}

/// One span for an event that hit several regions over the same window
/// (its transitions differ by the time it took to apply each), so the
/// charts show one band labelled with every region instead of a stack.
fn merge_regions(spans: Vec<Span>) -> Vec<Span> {
    /// Windows closer than this are the same window.
    const SAME_S: f64 = 0.5;
    let mut out: Vec<(Span, String, Vec<String>)> = Vec::new();
    for s in spans {
        let (event, region) = match s.label.split_once(" · ") {
            Some((e, g)) => (e.to_owned(), g.to_owned()),
            None => (s.label.clone(), String::new()),
        };
        let same = out.iter_mut().find(|(o, e, _)| {
            *e == event && (o.from - s.from).abs() < SAME_S && (o.to - s.to).abs() < SAME_S
        });
        match same {
            Some((o, _, regions)) => {
                o.title = format!("{}\n{}", o.title, s.title);
                regions.push(region);
            }
            None => out.push((s, event, vec![region])),
        }
    }
    out.into_iter()
        .map(|(mut s, event, regions)| {
            if regions.len() > 1 {
                s.label = format!("{event} · {}", regions.join(", "));
            }
            s
        })
        .collect()
}
