//! Inline SVG charts for the HTML report: scales, nice ticks, axes,
//! polylines, shaded spans with labelled lanes, hover columns and legends.
//!
//! Owns geometry and drawing only. It knows nothing about reports and must
//! not compute statistics: it plots the numbers it is given. Output is
//! deterministic (coordinates printed with fixed decimals), so the same
//! chart always gives the same bytes.

use std::fmt::Write as _;

use super::esc;

/// Width of a full-width chart's coordinate system; the SVG scales to its
/// box, so text stays legible as long as the box is about this wide.
pub const FULL_W: f64 = 960.0;
/// Width for charts laid out two to a row.
pub const HALF_W: f64 = 580.0;
const MARGIN_LEFT: f64 = 62.0;
/// Room for the last x label, which is centred on the plot's edge.
const MARGIN_RIGHT: f64 = 34.0;
const MARGIN_BOTTOM: f64 = 34.0;
const MARGIN_TOP: f64 = 10.0;
/// Height of one lane of span labels above the plot.
const LANE_H: f64 = 16.0;
/// Rough width of one character of an 11 px label, to keep labels apart.
const CHAR_W: f64 = 6.4;

/// How an axis maps values onto its length.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    Linear,
    /// Logarithmic; `min` must be positive.
    Log,
    /// Percentiles (0–100) placed by their number of nines,
    /// `log10(1 / (1 - p))`; `max` is the number of nines at the far end.
    Nines,
}

/// One axis: its scale, its range and what its numbers are.
#[derive(Debug, Clone)]
pub struct Axis {
    pub scale: Scale,
    pub min: f64,
    pub max: f64,
    /// Unit shown by the axis (`s`, `ms`, `req/s`).
    pub unit: String,
}

impl Axis {
    /// A linear axis from zero to a nice number at or above `top`.
    pub fn zero_to(top: f64, unit: &str) -> Axis {
        Axis {
            scale: Scale::Linear,
            min: 0.0,
            max: nice_ceil(top),
            unit: unit.to_owned(),
        }
    }

    /// A linear axis over exactly `[min, max]` (a time axis: it should end
    /// where the run ended, not at the next round number).
    pub fn exact(min: f64, max: f64, unit: &str) -> Axis {
        let max = if max > min { max } else { min + 1.0 };
        Axis {
            scale: Scale::Linear,
            min,
            max,
            unit: unit.to_owned(),
        }
    }

    /// A value axis for latencies in `[lo, hi]`: logarithmic when they span
    /// more than a factor of 30 (tails would flatten everything else),
    /// otherwise linear from zero.
    pub fn latency(lo: f64, hi: f64, unit: &str) -> Axis {
        if lo > 0.0 && hi / lo > 30.0 {
            let (min, max) = log_bounds(lo, hi);
            Axis {
                scale: Scale::Log,
                min,
                max,
                unit: unit.to_owned(),
            }
        } else {
            Axis::zero_to(hi, unit)
        }
    }

    /// A nines axis wide enough for the finest finite percentile given.
    pub fn nines<I: IntoIterator<Item = f64>>(percentiles: I) -> Axis {
        let finest = percentiles
            .into_iter()
            .map(nines)
            .filter(|n| n.is_finite())
            .fold(0.0_f64, f64::max);
        Axis {
            scale: Scale::Nines,
            min: 0.0,
            max: nines_span(finest),
            unit: "percentile".to_owned(),
        }
    }

    /// Where `v` falls along the axis, 0 at `min` and 1 at `max`; values
    /// beyond the range are clamped to it.
    pub fn frac(&self, v: f64) -> f64 {
        let f = match self.scale {
            Scale::Linear => (v - self.min) / (self.max - self.min),
            Scale::Log => {
                let v = v.max(self.min);
                (v.log10() - self.min.log10()) / (self.max.log10() - self.min.log10())
            }
            Scale::Nines => nines(v) / self.max,
        };
        if f.is_finite() {
            f.clamp(0.0, 1.0)
        } else if f > 0.0 {
            1.0
        } else {
            0.0
        }
    }

    /// Tick positions (as values on this axis) with their labels.
    pub fn ticks(&self) -> Vec<(f64, String)> {
        match self.scale {
            Scale::Linear => linear_ticks(self.min, self.max, 6)
                .into_iter()
                .map(|v| (v, fmt_num(v)))
                .collect(),
            Scale::Log => log_ticks(self.min, self.max)
                .into_iter()
                .map(|v| (v, fmt_num(v)))
                .collect(),
            Scale::Nines => (0..=self.max.round() as u32)
                .map(|n| (nines_percentile(n), nines_label(n)))
                .collect(),
        }
    }
}

/// Number of nines of a percentile (0–100): 0 at 0%, 1 at 90%, 2 at 99%;
/// infinite at 100%.
pub fn nines(percentile: f64) -> f64 {
    let rest = 1.0 - percentile / 100.0;
    if rest <= 0.0 {
        f64::INFINITY
    } else {
        -rest.log10()
    }
}

/// The percentile with `n` nines: 0, 90, 99, 99.9 ...
pub fn nines_percentile(n: u32) -> f64 {
    100.0 - 100.0 / 10f64.powi(n as i32)
}

/// `n` nines written out (`0%`, `90%`, `99%`, `99.9%` ...); spelled, not
/// rounded, since every digit is the point.
pub fn nines_label(n: u32) -> String {
    match n {
        0 => "0%".to_owned(),
        1 => "90%".to_owned(),
        n => format!("99.{}%", "9".repeat(n as usize - 2)).replace(".%", "%"),
    }
}

/// How many nines a plot needs: the finest finite percentile rounded up,
/// at least 2 (99%) and at most 6. The 100% point sits at the far end.
fn nines_span(finest: f64) -> f64 {
    (finest - 1e-9).ceil().clamp(2.0, 6.0)
}

/// A step between ticks close to `range / target` that is 1, 2 or 5 times a
/// power of ten.
pub fn nice_step(range: f64, target: usize) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / target.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm < 1.5 {
        1.0
    } else if norm < 3.0 {
        2.0
    } else if norm < 7.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The smallest multiple of a nice step at or above `v` (the top of a
/// value axis); 1 for nothing to show.
pub fn nice_ceil(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let step = nice_step(v, 5);
    (v / step - 1e-9).ceil() * step
}

/// Ticks at multiples of a nice step within `[min, max]`.
pub fn linear_ticks(min: f64, max: f64, target: usize) -> Vec<f64> {
    let step = nice_step(max - min, target);
    let first = (min / step - 1e-9).ceil() as i64;
    let last = (max / step + 1e-9).floor() as i64;
    (first..=last)
        // Multiplying an integer index avoids accumulating float error.
        .map(|i| {
            let v = i as f64 * step;
            if v == 0.0 {
                0.0
            } else {
                v
            }
        })
        .collect()
}

/// 1, 2 or 5 times a power of ten just outside `[lo, hi]`.
pub fn log_bounds(lo: f64, hi: f64) -> (f64, f64) {
    let below = |v: f64| {
        let mag = 10f64.powf(v.log10().floor());
        [5.0, 2.0, 1.0]
            .into_iter()
            .map(|m| m * mag)
            .find(|c| *c <= v * (1.0 + 1e-9))
            .unwrap_or(mag)
    };
    let above = |v: f64| {
        let mag = 10f64.powf(v.log10().floor());
        [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * mag)
            .find(|c| *c >= v * (1.0 - 1e-9))
            .unwrap_or(10.0 * mag)
    };
    (below(lo), above(hi.max(lo)))
}

/// Ticks of a log axis: 1-2-5 steps when they stay few, else decades only.
pub fn log_ticks(min: f64, max: f64) -> Vec<f64> {
    if min <= 0.0 || max <= min {
        return vec![min.max(0.0)];
    }
    let first = min.log10().floor() as i32;
    let last = max.log10().ceil() as i32;
    let within = |v: &f64| *v >= min * (1.0 - 1e-9) && *v <= max * (1.0 + 1e-9);
    let all: Vec<f64> = (first..=last)
        .flat_map(|e| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(e)))
        .filter(within)
        .collect();
    if all.len() <= 8 {
        return all;
    }
    (first..=last)
        .map(|e| 10f64.powi(e))
        .filter(within)
        .collect()
}

/// A number for a tick or a tooltip: about three significant digits,
/// thousands as `k`, no trailing zeros.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a >= 10_000.0 {
        return format!("{}k", fmt_num(v / 1_000.0));
    }
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.001 {
        format!("{v:.4}")
    } else {
        format!("{v:.6}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// What a shaded span stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    /// A phase of the schedule: a light grey band.
    Phase,
    /// A fault in effect: a red band.
    Fault,
}

/// A shaded stretch of the x axis with a label in a lane above the plot.
/// Spans of one kind with the same label share a lane (a flapping fault's
/// windows) and only the first is labelled.
#[derive(Debug, Clone)]
pub struct Span {
    pub kind: SpanKind,
    pub from: f64,
    pub to: f64,
    pub label: String,
    /// Tooltip text.
    pub title: String,
}

/// How a line is stroked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stroke {
    Solid,
    Dashed,
    Dotted,
}

/// One plotted line; `None` points break it (no data there).
#[derive(Debug, Clone)]
pub struct Line {
    pub label: String,
    pub color: &'static str,
    pub stroke: Stroke,
    /// Shade the area under the line.
    pub fill: bool,
    pub points: Vec<Option<(f64, f64)>>,
}

/// A stretch of the x axis that shows `text` when hovered.
#[derive(Debug, Clone)]
pub struct Hover {
    pub from: f64,
    pub to: f64,
    pub text: String,
}

/// Everything one chart draws.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// Unique in the page: used for the element id and the clip path.
    pub id: String,
    /// Accessible name of the figure.
    pub title: String,
    pub x: Axis,
    pub y: Axis,
    pub spans: &'a [Span],
    pub lines: Vec<Line>,
    pub hover: Vec<Hover>,
    /// Width of the whole chart ([`FULL_W`] or [`HALF_W`]).
    pub width: f64,
    /// Height of the plot area.
    pub plot_h: f64,
}

/// Which lane each span's group of labels goes in: phases first, then
/// faults, each group in the first lane where its label and bars fit.
/// Returns (lane of each span, whether it carries the label, lane count).
fn lanes(spans: &[Span], x: &Axis, plot_w: f64) -> (Vec<usize>, Vec<bool>, usize) {
    let px = |v: f64| x.frac(v) * plot_w;
    // Groups in order of first appearance: (kind, label) → span indices.
    let mut groups: Vec<(SpanKind, &str, Vec<usize>)> = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match groups
            .iter_mut()
            .find(|(k, l, _)| *k == s.kind && *l == s.label)
        {
            Some(g) => g.2.push(i),
            None => groups.push((s.kind, &s.label, vec![i])),
        }
    }
    let mut lane_of = vec![0; spans.len()];
    let mut labelled = vec![false; spans.len()];
    let mut occupied: Vec<Vec<(f64, f64)>> = Vec::new();
    for kind in [SpanKind::Phase, SpanKind::Fault] {
        let base = occupied.len();
        for (_, label, members) in groups.iter().filter(|g| g.0 == kind) {
            let first = &spans[members[0]];
            let start = px(first.from);
            // Bars may touch end to end; a label keeps some air after it.
            let text_end = start + 10.0 + label.chars().count() as f64 * CHAR_W;
            let end = members
                .iter()
                .map(|&i| px(spans[i].to))
                .fold(text_end, f64::max);
            let lane = (base..)
                .find(|&l| {
                    occupied
                        .get(l)
                        .is_none_or(|iv| iv.iter().all(|&(a, b)| end <= a || start >= b))
                })
                .unwrap_or(base);
            if occupied.len() <= lane {
                occupied.resize(lane + 1, Vec::new());
            }
            occupied[lane].push((start, end));
            for &i in members {
                lane_of[i] = lane;
            }
            labelled[members[0]] = true;
        }
    }
    (lane_of, labelled, occupied.len())
}

/// Draw `chart` as an inline `<svg>` followed by its legend.
pub fn render(chart: &Chart) -> String {
    let plot_w = chart.width - MARGIN_LEFT - MARGIN_RIGHT;
    let (lane_of, labelled, lane_count) = lanes(chart.spans, &chart.x, plot_w);
    let top = MARGIN_TOP + lane_count as f64 * LANE_H + if lane_count > 0 { 4.0 } else { 6.0 };
    let h = top + chart.plot_h + MARGIN_BOTTOM;
    let x0 = MARGIN_LEFT;
    let px = |v: f64| x0 + chart.x.frac(v) * plot_w;
    let py = |v: f64| top + (1.0 - chart.y.frac(v)) * chart.plot_h;
    let id = esc(&chart.id);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {:.0} {h:.0}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg">"#,
        chart.width,
        esc(&chart.title)
    );
    let _ = write!(
        s,
        r#"<defs><clipPath id="{id}-clip"><rect x="{x0:.1}" y="{top:.1}" width="{plot_w:.1}" height="{:.1}"/></clipPath></defs>"#,
        chart.plot_h
    );
    let _ = write!(
        s,
        r#"<rect class="plot" x="{x0:.1}" y="{top:.1}" width="{plot_w:.1}" height="{:.1}"/>"#,
        chart.plot_h
    );

    // Bands under everything, labels in their lanes above the plot.
    let mut phase_n = 0;
    for (i, sp) in chart.spans.iter().enumerate() {
        let (a, b) = (px(sp.from), px(sp.to.max(sp.from)));
        let (class, shade) = match sp.kind {
            SpanKind::Phase => {
                phase_n += 1;
                ("phase", if phase_n % 2 == 1 { "band-a" } else { "band-b" })
            }
            SpanKind::Fault => ("fault", "band-f"),
        };
        let lane_y = MARGIN_TOP + lane_of[i] as f64 * LANE_H;
        let _ = write!(
            s,
            r#"<g class="{class}"><title>{}</title><rect class="{shade}" x="{a:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"/><line class="edge" x1="{a:.1}" y1="{top:.1}" x2="{a:.1}" y2="{:.1}"/><rect class="bar" x="{a:.1}" y="{:.1}" width="{:.1}" height="3"/>"#,
            esc(&sp.title),
            (b - a).max(1.0),
            chart.plot_h,
            top + chart.plot_h,
            lane_y + LANE_H - 4.0,
            (b - a).max(2.0),
        );
        if sp.kind == SpanKind::Fault {
            let _ = write!(
                s,
                r#"<line class="edge" x1="{b:.1}" y1="{top:.1}" x2="{b:.1}" y2="{:.1}"/>"#,
                top + chart.plot_h
            );
        }
        if labelled[i] {
            let _ = write!(
                s,
                r#"<text class="lane" x="{:.1}" y="{:.1}">{}</text>"#,
                a + 2.0,
                lane_y + LANE_H - 7.0,
                esc(&sp.label)
            );
        }
        s.push_str("</g>");
    }

    // Grid and tick labels.
    s.push_str(r#"<g class="grid">"#);
    for (v, label) in chart.y.ticks() {
        let y = py(v);
        let _ = write!(
            s,
            r#"<line x1="{x0:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text class="yt" x="{:.1}" y="{:.1}">{}</text>"#,
            x0 + plot_w,
            x0 - 6.0,
            y + 4.0,
            esc(&label)
        );
    }
    for (v, label) in chart.x.ticks() {
        let x = px(v);
        let _ = write!(
            s,
            r#"<line class="xg" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{:.1}"/><text class="xt" x="{x:.1}" y="{:.1}">{}</text>"#,
            top + chart.plot_h,
            top + chart.plot_h + 16.0,
            esc(&label)
        );
    }
    let _ = write!(
        s,
        r#"<text class="unit" x="{:.1}" y="{:.1}">{}</text><text class="unit" x="{:.1}" y="{:.1}" text-anchor="end">{}</text></g>"#,
        x0 - 6.0,
        top + chart.plot_h + 30.0,
        esc(&chart.y.unit),
        x0 + plot_w,
        top + chart.plot_h + 30.0,
        esc(&chart.x.unit)
    );

    // Lines, clipped to the plot.
    let _ = write!(s, r#"<g clip-path="url(#{id}-clip)">"#);
    let base = top + chart.plot_h;
    for line in &chart.lines {
        let segments = segments(&line.points, &px, &py);
        let _ = write!(s, "<g><title>{}</title>", esc(&line.label));
        if line.fill {
            for seg in segments.iter().filter(|g| g.len() > 1) {
                let mut d = String::new();
                let _ = write!(d, "M{:.1} {base:.1}", seg[0].0);
                for (x, y) in seg {
                    let _ = write!(d, "L{x:.1} {y:.1}");
                }
                let _ = write!(d, "L{:.1} {base:.1}Z", seg[seg.len() - 1].0);
                let _ = write!(s, r#"<path class="area" d="{d}" fill="{}"/>"#, line.color);
            }
        }
        let dash = match line.stroke {
            Stroke::Solid => "",
            Stroke::Dashed => r#" stroke-dasharray="6 4""#,
            Stroke::Dotted => r#" stroke-dasharray="2 3""#,
        };
        for seg in &segments {
            if let [(x, y)] = seg.as_slice() {
                // A lone point has no line to draw; show it as a dot.
                let _ = write!(
                    s,
                    r#"<circle cx="{x:.1}" cy="{y:.1}" r="2.2" fill="{}"/>"#,
                    line.color
                );
                continue;
            }
            let mut d = String::new();
            for (k, (x, y)) in seg.iter().enumerate() {
                let _ = write!(d, "{}{x:.1} {y:.1}", if k == 0 { "M" } else { "L" });
            }
            let _ = write!(
                s,
                r#"<path class="line" d="{d}" stroke="{}"{dash}/>"#,
                line.color
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</g>");

    // Hover columns last, so they sit on top and catch the pointer.
    if !chart.hover.is_empty() {
        s.push_str(r#"<g class="hover">"#);
        for hv in &chart.hover {
            let (a, b) = (px(hv.from), px(hv.to));
            let _ = write!(
                s,
                r#"<rect x="{a:.1}" y="{top:.1}" width="{:.1}" height="{:.1}"><title>{}</title></rect>"#,
                (b - a).max(0.5),
                chart.plot_h,
                esc(&hv.text)
            );
        }
        s.push_str("</g>");
    }
    s.push_str("</svg>");
    s.push_str(&legend(&chart.lines));
    s
}

/// Pixel coordinates of each unbroken run of points.
fn segments(
    points: &[Option<(f64, f64)>],
    px: &impl Fn(f64) -> f64,
    py: &impl Fn(f64) -> f64,
) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut current: Vec<(f64, f64)> = Vec::new();
    for p in points {
        match p {
            Some((x, y)) if x.is_finite() && y.is_finite() => current.push((px(*x), py(*y))),
            _ => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

/// A row of swatches naming each line.
fn legend(lines: &[Line]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let mut s = String::from(r#"<div class="legend">"#);
    for l in lines {
        let class = match l.stroke {
            Stroke::Solid => "sw",
            Stroke::Dashed => "sw dashed",
            Stroke::Dotted => "sw dotted",
        };
        let _ = write!(
            s,
            r#"<span><i class="{class}" style="border-color:{}"></i>{}</span>"#,
            l.color,
            esc(&l.label)
        );
    }
    s.push_str("</div>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn nice_steps_are_one_two_or_five_times_a_power_of_ten() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(100.0, 5), 20.0);
        assert_eq!(nice_step(7.0, 6), 1.0);
        assert_eq!(nice_step(0.35, 6), 0.05);
        assert_eq!(nice_step(1234.0, 6), 200.0);
        assert_eq!(nice_step(0.0, 6), 1.0);
    }

    #[test]
    fn linear_ticks_cover_the_range_on_round_numbers() {
        assert_eq!(
            linear_ticks(0.0, 6.2, 6),
            vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
        );
        assert_eq!(
            linear_ticks(0.0, 120.0, 6),
            vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0, 120.0]
        );
        // No float drift: 0.1 steps print as 0.3, not 0.30000000000000004.
        let t = linear_ticks(0.0, 0.5, 5);
        assert_eq!(
            t.iter().map(|v| fmt_num(*v)).collect::<Vec<_>>(),
            ["0", "0.1", "0.2", "0.3", "0.4", "0.5"]
        );
    }

    #[test]
    fn axis_tops_round_up_to_a_nice_number() {
        assert_eq!(nice_ceil(87.0), 100.0);
        assert_eq!(nice_ceil(100.0), 100.0);
        assert_eq!(nice_ceil(101.0), 120.0);
        assert_eq!(nice_ceil(0.0), 1.0);
        assert!(close(nice_ceil(0.37), 0.4));
    }

    #[test]
    fn log_axes_end_on_one_two_five_and_tick_decades_when_wide() {
        assert_eq!(log_bounds(0.7, 340.0), (0.5, 500.0));
        assert_eq!(log_bounds(1.0, 1000.0), (1.0, 1000.0));
        assert_eq!(log_ticks(0.5, 500.0), vec![1.0, 10.0, 100.0]);
        assert_eq!(log_ticks(2.0, 50.0), vec![2.0, 5.0, 10.0, 20.0, 50.0]);
        let a = Axis::latency(0.5, 500.0, "ms");
        assert_eq!(a.scale, Scale::Log);
        assert!(close(a.frac(a.min), 0.0) && close(a.frac(a.max), 1.0));
        assert!(
            close(a.frac(15.811_388_300_841_896), 0.5),
            "the geometric middle"
        );
        assert_eq!(Axis::latency(5.0, 40.0, "ms").scale, Scale::Linear);
    }

    #[test]
    fn nines_axis_places_each_nine_one_step_further() {
        assert_eq!(nines(0.0), 0.0);
        assert!(close(nines(90.0), 1.0));
        assert!(close(nines(99.0), 2.0));
        assert!(close(nines(99.9), 3.0));
        assert!(nines(100.0).is_infinite());
        let a = Axis::nines([0.0, 50.0, 99.95, 100.0]);
        assert_eq!(a.max, 4.0, "99.95% is 3.3 nines: the axis runs to 99.99%");
        assert!(close(a.frac(99.0), 0.5));
        assert_eq!(a.frac(100.0), 1.0, "the maximum sits at the far end");
        let labels: Vec<String> = a.ticks().into_iter().map(|t| t.1).collect();
        assert_eq!(labels, ["0%", "90%", "99%", "99.9%", "99.99%"]);
        // Few samples still get a two-nines axis; many never more than six.
        assert_eq!(Axis::nines([0.0, 75.0]).max, 2.0);
        assert_eq!(Axis::nines([99.999_999_9]).max, 6.0);
        assert_eq!(Axis::nines([99.9]).max, 3.0);
    }

    #[test]
    fn numbers_print_short() {
        assert_eq!(fmt_num(0.0), "0");
        assert_eq!(fmt_num(12.5), "12.5");
        assert_eq!(fmt_num(250.0), "250");
        assert_eq!(fmt_num(20_000.0), "20k");
        assert_eq!(fmt_num(0.25), "0.25");
        assert_eq!(nines_label(2), "99%");
        assert_eq!(nines_label(5), "99.999%");
    }

    #[test]
    fn flapping_windows_share_a_lane_and_overlapping_phases_do_not() {
        let span = |kind, from, to, label: &str| Span {
            kind,
            from,
            to,
            label: label.to_owned(),
            title: String::new(),
        };
        let spans = [
            span(SpanKind::Phase, 0.0, 30.0, "room-fills"),
            span(SpanKind::Phase, 30.0, 65.0, "qa"),
            span(SpanKind::Phase, 30.0, 110.0, "host-desk"),
            span(SpanKind::Fault, 45.0, 48.0, "wobble · sea"),
            span(SpanKind::Fault, 55.0, 58.0, "wobble · sea"),
        ];
        let x = Axis::exact(0.0, 120.0, "s");
        let (lane, labelled, n) = lanes(&spans, &x, 880.0);
        assert_eq!(lane[0], lane[1], "back to back phases fit in one lane");
        assert_ne!(lane[1], lane[2]);
        assert_eq!(lane[3], lane[4]);
        assert!(lane[3] > lane[2], "faults below the phases");
        assert_eq!(labelled, [true, true, true, true, false]);
        assert_eq!(n, 3);
    }
}
