//! The steps section: one summary table (with per-region rows), then a
//! card per step with its time series (throughput and errors, latency over
//! time, p99 by region) on the run's shared timeline and its latency
//! distribution on a nines axis.
//!
//! Owns turning a step's series into chart lines (counts per interval to
//! rates, µs to ms). Must not compute statistics the report lacks.

use std::fmt::Write as _;

use super::chart::{self, Axis, Chart, Hover, Line, Stroke};
use super::summary::latency_cells;
use super::timeline::Timeline;
use super::{esc, int, num};
use crate::report::{PercentilePoint, Report, Series, StepReport};

const BLUE: &str = "#2f6fb0";
const ORANGE: &str = "#e08a1e";
const RED: &str = "#d62728";
const GREY: &str = "#52606d";
const DARK: &str = "#3e4c59";

/// Height of a time chart's plot area.
const TIME_PLOT_H: f64 = 170.0;

pub fn section(out: &mut String, r: &Report, tl: &Timeline) {
    out.push_str(r#"<h2 id="steps">Steps</h2>"#);
    if r.steps.is_empty() {
        out.push_str(r#"<p class="note">No step ran.</p>"#);
        return;
    }
    table(out, r);
    for (i, s) in r.steps.iter().enumerate() {
        card(out, i, s, tl);
    }
}

/// One row per step, its regions below it.
fn table(out: &mut String, r: &Report) {
    out.push_str(
        r#"<div class="scroll"><table class="steps"><thead><tr><th>phase</th><th>step</th><th class="n">count</th><th class="n">req/s</th><th class="n">p50</th><th class="n">p90</th><th class="n">p99</th><th class="n">p99.9</th><th class="n">max</th><th class="n">errors</th></tr></thead><tbody>"#,
    );
    for (i, s) in r.steps.iter().enumerate() {
        let _ = write!(
            out,
            r##"<tr><td>{}</td><td class="name"><a href="#step-{i}">{}</a> <span class="muted small">{}</span></td><td class="n">{}</td><td class="n">{}</td>"##,
            esc(&s.phase),
            esc(&s.step),
            esc(&s.method),
            int(s.count),
            num(s.rps)
        );
        latency_cells(out, &s.latency_us);
        error_cell(out, s.errors, s.count);
        out.push_str("</tr>");
        for g in s.regions.iter().filter(|g| g.count > 0) {
            let _ = write!(
                out,
                r#"<tr class="sub"><td></td><td class="name">└ {}</td><td class="n">{}</td><td class="n">{}</td>"#,
                esc(&g.region),
                int(g.count),
                num(g.rps)
            );
            latency_cells(out, &g.latency_us);
            error_cell(out, g.errors, g.count);
            out.push_str("</tr>");
        }
    }
    out.push_str("</tbody></table></div>");
}

fn error_cell(out: &mut String, errors: u64, count: u64) {
    let share = if count == 0 {
        0.0
    } else {
        errors as f64 * 100.0 / count as f64
    };
    let class = if errors > 0 { "n err" } else { "n" };
    let _ = write!(
        out,
        r#"<td class="{class}">{} <span class="muted">({}%)</span></td>"#,
        int(errors),
        pct_short(share)
    );
}

/// A share in percent with at most two decimals.
fn pct_short(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn card(out: &mut String, i: usize, s: &StepReport, tl: &Timeline) {
    let _ = write!(
        out,
        r#"<section class="card step" id="step-{i}"><div class="head"><h3>{} / {}</h3><span class="muted">{} · flow {} · {} requests · {} req/s · {} errors</span></div><div class="figs">"#,
        esc(&s.phase),
        esc(&s.step),
        esc(&s.method),
        esc(&s.flow),
        int(s.count),
        num(s.rps),
        int(s.errors)
    );
    out.push_str(&figure(
        "Throughput",
        "requests and errors per second",
        &throughput_chart(&format!("step-{i}-rate"), s, tl),
    ));
    match latency_chart(&format!("step-{i}-latency"), s, tl) {
        Some(c) => out.push_str(&figure(
            "Latency over time",
            "of the requests that ended in each interval",
            &c,
        )),
        None => out.push_str(
            r#"<p class="note">This report has no latency per interval for this step.</p>"#,
        ),
    }
    if let Some(c) = region_latency_chart(&format!("step-{i}-regions"), s, tl) {
        out.push_str(&figure(
            "p99 latency by region",
            "of the requests that ended in each interval",
            &c,
        ));
    }
    let mut lines: Vec<(String, &'static str, Stroke, &[PercentilePoint])> = Vec::new();
    let regions: Vec<_> = s
        .regions
        .iter()
        .filter(|g| !g.percentiles.is_empty())
        .collect();
    for g in &regions {
        lines.push((
            g.region.clone(),
            tl.region_color(&g.region),
            Stroke::Solid,
            &g.percentiles,
        ));
    }
    if !s.percentiles.is_empty() {
        let (color, stroke) = if regions.is_empty() {
            (BLUE, Stroke::Solid)
        } else {
            (DARK, Stroke::Dashed)
        };
        lines.push(("all regions".to_owned(), color, stroke, &s.percentiles));
        if regions.is_empty() {
            lines[0].0 = "latency".to_owned();
        }
    }
    match distribution_chart(
        &format!("step-{i}-dist"),
        "latency distribution",
        chart::FULL_W,
        &lines,
    ) {
        Some(c) => out.push_str(&figure(
            "Latency distribution",
            "value at each percentile (HdrHistogram ticks)",
            &c,
        )),
        None => out.push_str(r#"<p class="note">No latency was recorded for this step.</p>"#),
    }
    out.push_str("</div></section>");
}

/// A `<figure>` with a caption; `chart_html` is already markup.
pub fn figure(title: &str, sub: &str, chart_html: &str) -> String {
    format!(
        "<figure><figcaption>{} <span>· {}</span></figcaption>{chart_html}</figure>",
        esc(title),
        esc(sub)
    )
}

/// Midpoint of interval `i`, in seconds from the start.
fn mid(series: &Series, i: usize) -> f64 {
    (i as f64 + 0.5) * series.every_s
}

/// Hover columns, one per interval, with `text(i)` as the tooltip.
fn hover_columns(series: &Series, n: usize, text: impl Fn(usize) -> String) -> Vec<Hover> {
    (0..n)
        .map(|i| Hover {
            from: i as f64 * series.every_s,
            to: (i + 1) as f64 * series.every_s,
            text: format!(
                "{}–{} s: {}",
                num(i as f64 * series.every_s),
                num((i + 1) as f64 * series.every_s),
                text(i)
            ),
        })
        .collect()
}

/// A chart over the run's timeline with its phases and faults.
pub fn time_chart(
    id: &str,
    title: &str,
    tl: &Timeline,
    y: Axis,
    lines: Vec<Line>,
    hover: Vec<Hover>,
) -> String {
    chart::render(&Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        x: tl.x.clone(),
        y,
        spans: &tl.spans,
        lines,
        hover,
        width: chart::FULL_W,
        plot_h: TIME_PLOT_H,
    })
}

fn throughput_chart(id: &str, s: &StepReport, tl: &Timeline) -> String {
    let ser = &s.series;
    let every = if ser.every_s > 0.0 { ser.every_s } else { 1.0 };
    let rate = |v: u32| f64::from(v) / every;
    // Counts belong to whole intervals: drawn as steps, not as a line
    // between midpoints that would invent ramps inside an interval.
    let steps = |counts: &[u32]| -> Vec<Option<(f64, f64)>> {
        counts
            .iter()
            .enumerate()
            .flat_map(|(i, &v)| {
                [
                    Some((i as f64 * every, rate(v))),
                    Some(((i + 1) as f64 * every, rate(v))),
                ]
            })
            .collect()
    };
    let sent = steps(&ser.sent);
    let errors = steps(&ser.errors);
    let top = ser.sent.iter().map(|&v| rate(v)).fold(0.0, f64::max);
    let hover = hover_columns(ser, ser.sent.len(), |i| {
        let e = ser.errors.get(i).copied().unwrap_or(0);
        format!(
            "{} req/s, {} errors/s",
            num(rate(ser.sent[i])),
            num(rate(e))
        )
    });
    let mut lines = vec![Line {
        label: "requests/s".to_owned(),
        color: BLUE,
        stroke: Stroke::Solid,
        fill: true,
        points: sent,
    }];
    if ser.errors.iter().any(|&e| e > 0) {
        lines.push(Line {
            label: "errors/s".to_owned(),
            color: RED,
            stroke: Stroke::Solid,
            fill: true,
            points: errors,
        });
    }
    time_chart(
        id,
        "throughput",
        tl,
        Axis::zero_to(top, "req/s"),
        lines,
        hover,
    )
}

/// `Some(ms)` per interval from a µs series.
fn ms_points(ser: &Series, values: &[Option<u64>]) -> Vec<Option<(f64, f64)>> {
    values
        .iter()
        .enumerate()
        .map(|(i, v)| v.map(|us| (mid(ser, i), us as f64 / 1_000.0)))
        .collect()
}

/// The smallest and largest value of some µs series, in ms.
fn ms_range<'a>(series: impl IntoIterator<Item = &'a [Option<u64>]>) -> Option<(f64, f64)> {
    let mut range: Option<(f64, f64)> = None;
    for v in series.into_iter().flatten().flatten() {
        let ms = *v as f64 / 1_000.0;
        range = Some(match range {
            None => (ms, ms),
            Some((lo, hi)) => (lo.min(ms), hi.max(ms)),
        });
    }
    range
}

fn latency_chart(id: &str, s: &StepReport, tl: &Timeline) -> Option<String> {
    let ser = &s.series;
    let (lo, hi) = ms_range([&ser.p50_us[..], &ser.p99_us[..], &ser.max_us[..]])?;
    let lines = vec![
        Line {
            label: "p50".to_owned(),
            color: BLUE,
            stroke: Stroke::Solid,
            fill: false,
            points: ms_points(ser, &ser.p50_us),
        },
        Line {
            label: "p99".to_owned(),
            color: ORANGE,
            stroke: Stroke::Solid,
            fill: false,
            points: ms_points(ser, &ser.p99_us),
        },
        Line {
            label: "max".to_owned(),
            color: GREY,
            stroke: Stroke::Dotted,
            fill: false,
            points: ms_points(ser, &ser.max_us),
        },
    ];
    let at = |v: &[Option<u64>], i: usize| {
        v.get(i).copied().flatten().map_or("–".to_owned(), |us| {
            format!("{} ms", num(us as f64 / 1_000.0))
        })
    };
    let n = ser.p50_us.len().max(ser.p99_us.len()).max(ser.max_us.len());
    let hover = hover_columns(ser, n, |i| {
        format!(
            "p50 {}, p99 {}, max {}",
            at(&ser.p50_us, i),
            at(&ser.p99_us, i),
            at(&ser.max_us, i)
        )
    });
    Some(time_chart(
        id,
        "latency over time",
        tl,
        Axis::latency(lo, hi, "ms"),
        lines,
        hover,
    ))
}

/// One p99 line per region that has latency data.
fn region_latency_chart(id: &str, s: &StepReport, tl: &Timeline) -> Option<String> {
    let regions: Vec<_> = s
        .regions
        .iter()
        .filter(|g| g.series.p99_us.iter().any(Option::is_some))
        .collect();
    if regions.is_empty() {
        return None;
    }
    let (lo, hi) = ms_range(regions.iter().map(|g| &g.series.p99_us[..]))?;
    let lines = regions
        .iter()
        .map(|g| Line {
            label: format!("{} p99", g.region),
            color: tl.region_color(&g.region),
            stroke: Stroke::Solid,
            fill: false,
            points: ms_points(&g.series, &g.series.p99_us),
        })
        .collect();
    let first = &regions[0].series;
    let n = regions
        .iter()
        .map(|g| g.series.p99_us.len())
        .max()
        .unwrap_or(0);
    let hover = hover_columns(first, n, |i| {
        regions
            .iter()
            .map(|g| {
                let v = g.series.p99_us.get(i).copied().flatten();
                format!(
                    "{} {}",
                    g.region,
                    v.map_or("–".to_owned(), |us| format!(
                        "{} ms",
                        num(us as f64 / 1_000.0)
                    ))
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    });
    Some(time_chart(
        id,
        "p99 latency by region",
        tl,
        Axis::latency(lo, hi, "ms"),
        lines,
        hover,
    ))
}

/// A percentile plot: x = nines, y = ms, one line per distribution.
pub fn distribution_chart(
    id: &str,
    title: &str,
    width: f64,
    lines: &[(String, &'static str, Stroke, &[PercentilePoint])],
) -> Option<String> {
    let all = lines.iter().flat_map(|l| l.3.iter());
    let (mut lo, mut hi) = (f64::INFINITY, 0.0_f64);
    for p in all.clone() {
        let ms = p.value_us as f64 / 1_000.0;
        lo = lo.min(ms);
        hi = hi.max(ms);
    }
    if !lo.is_finite() {
        return None;
    }
    let x = Axis::nines(all.map(|p| p.percentile));
    let chart_lines = lines
        .iter()
        .map(|(label, color, stroke, points)| Line {
            label: label.clone(),
            color,
            stroke: *stroke,
            fill: false,
            points: points
                .iter()
                .map(|p| Some((p.percentile, p.value_us as f64 / 1_000.0)))
                .collect(),
        })
        .collect();
    // Hover bands between the nines name the value each line reaches there.
    let hover = (0..x.max.round() as u32)
        .map(|n| {
            let from = chart::nines_percentile(n);
            let to = chart::nines_percentile(n + 1);
            let text = lines
                .iter()
                .map(|(label, _, _, points)| {
                    let at = points
                        .iter()
                        .find(|p| p.percentile >= to - 1e-9)
                        .or(points.last())
                        .map_or("–".to_owned(), |p| {
                            format!("{} ms", num(p.value_us as f64 / 1_000.0))
                        });
                    format!("{label} {at}")
                })
                .collect::<Vec<_>>()
                .join(", ");
            Hover {
                from,
                to,
                text: format!("at {}: {text}", chart::nines_label(n + 1)),
            }
        })
        .collect();
    Some(chart::render(&Chart {
        id: id.to_owned(),
        title: title.to_owned(),
        x,
        y: Axis::latency(lo, hi, "ms"),
        spans: &[],
        lines: chart_lines,
        hover,
        width,
        plot_h: 200.0,
    }))
}
