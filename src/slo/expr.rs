//! Parser for one SLO expression: `METRIC(STEP) OP VALUE`.
//!
//! Owns the grammar and the units of thresholds. Must not check that the
//! named step exists (the scenario validator does, with the file location).

use std::fmt;

/// A parsed objective.
#[derive(Debug, Clone, PartialEq)]
pub struct Slo {
    /// The expression as written.
    pub expr: String,
    pub metric: Metric,
    pub selector: Selector,
    /// Only requests of this region (`p99(checkout, region=eu)`); `None`:
    /// every region.
    pub region: Option<String>,
    pub op: Op,
    /// In the metric's base unit: microseconds for latencies, a fraction
    /// (0..=1) for error rates, per second for throughput, a plain number for
    /// counts.
    pub threshold: f64,
    /// Written in the scenario, or one of the built-in defaults.
    pub origin: Origin,
}

/// Where an objective comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Written in the scenario's `slos:`; the line and column (1-based) of
    /// the expression when it was read from a file.
    Written { at: Option<(u32, u32)> },
    /// Built in: the scenario declares no `slos:` at all, so the run is
    /// judged by flashcrowd's default objectives.
    Default,
}

impl Origin {
    pub fn is_default(self) -> bool {
        self == Origin::Default
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Metric {
    /// Latency at a percentile in (0, 100].
    Percentile(f64),
    Mean,
    Min,
    Max,
    /// Failed requests / sent requests.
    ErrorRate,
    /// Successful-or-not requests per second over the phases that ran the step.
    Throughput,
    /// Number of requests sent.
    Count,
    /// Number of requests that succeeded (passed every check).
    Ok,
    /// Fan-out latency of a WebSocket `send` step at a percentile: from the
    /// message's intended send time to its arrival at each other viewer.
    FanoutPercentile(f64),
    /// Slowest delivery of a `send` step's messages.
    FanoutMax,
    /// Deliveries received over deliveries expected, for a `send` step.
    DeliveryRatio,
    /// Deliveries a viewer received more than once.
    Duplicates,
}

impl Slo {
    /// The metric's name as written (up to the parenthesis).
    pub fn metric_name(&self) -> &str {
        self.expr.split('(').next().unwrap_or_default().trim()
    }
}

impl Metric {
    /// Whether thresholds are durations.
    pub fn is_latency(self) -> bool {
        matches!(
            self,
            Metric::Percentile(_)
                | Metric::Mean
                | Metric::Min
                | Metric::Max
                | Metric::FanoutPercentile(_)
                | Metric::FanoutMax
        )
    }

    /// Whether the metric looks at WebSocket deliveries rather than at
    /// requests.
    pub fn is_fanout(self) -> bool {
        matches!(
            self,
            Metric::FanoutPercentile(_)
                | Metric::FanoutMax
                | Metric::DeliveryRatio
                | Metric::Duplicates
        )
    }

    /// Unit the report shows observed values in.
    pub fn unit(self) -> &'static str {
        match self {
            m if m.is_latency() => "ms",
            Metric::ErrorRate | Metric::DeliveryRatio => "%",
            Metric::Duplicates => "deliveries",
            Metric::Throughput => "/s",
            _ => "requests",
        }
    }
}

/// Which requests an objective looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// Every step of every phase (`*`).
    All,
    /// Every step with this name, in whichever phases run it.
    Step(String),
    /// One step in one phase (`phase/step`).
    PhaseStep(String, String),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::All => f.write_str("*"),
            Selector::Step(s) => f.write_str(s),
            Selector::PhaseStep(p, s) => write!(f, "{p}/{s}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Gt,
    Ge,
}

impl Op {
    pub fn holds(self, observed: f64, threshold: f64) -> bool {
        match self {
            Op::Lt => observed < threshold,
            Op::Le => observed <= threshold,
            Op::Gt => observed > threshold,
            Op::Ge => observed >= threshold,
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Lt => "<",
            Op::Le => "<=",
            Op::Gt => ">",
            Op::Ge => ">=",
        })
    }
}

/// Why an expression did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct SloError {
    /// Byte offset into the expression where the problem starts.
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

fn err(offset: usize, message: impl Into<String>, hint: Option<&str>) -> SloError {
    SloError {
        offset,
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

const METRIC_HINT: &str =
    "metrics are p50, p90, p99, p99.9 (any pNN), mean, min, max, error_rate, throughput, count, ok; for WebSocket sends fanout_p99 (any fanout_pNN), fanout_max, delivery, duplicates";

/// Parse `METRIC(STEP) OP VALUE`, e.g. `p99(checkout) < 250ms`,
/// `error_rate(*) < 1%`, `throughput(product) >= 900/s`.
///
/// Thresholds come back in base units: µs, fractions, per second.
///
/// ```
/// use flashcrowd::slo::{parse, Metric, Selector};
///
/// let slo = parse("p99.9(link-drop/checkout) <= 1.5s").unwrap();
/// assert_eq!(slo.metric, Metric::Percentile(99.9));
/// assert_eq!(slo.selector, Selector::PhaseStep("link-drop".into(), "checkout".into()));
/// assert_eq!(slo.threshold, 1_500_000.0);
///
/// let err = parse("p99(checkout) < 250").unwrap_err();
/// assert_eq!(err.offset, 16); // points at the threshold that lacks a unit
/// ```
pub fn parse(expr: &str) -> Result<Slo, SloError> {
    let mut cur = Cursor { s: expr, pos: 0 };
    cur.skip_ws();
    let mstart = cur.pos;
    let name = cur.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    if name.is_empty() {
        return Err(err(mstart, "expected a metric name", Some(METRIC_HINT)));
    }
    let metric = parse_metric(name).ok_or_else(|| {
        err(
            mstart,
            format!("unknown metric `{name}`"),
            Some(METRIC_HINT),
        )
    })?;
    cur.skip_ws();
    if !cur.eat('(') {
        return Err(err(
            cur.pos,
            "expected `(` and a step name after the metric",
            Some("write e.g. `p99(checkout) < 250ms`, or `*` for every step"),
        ));
    }
    cur.skip_ws();
    let sstart = cur.pos;
    let inner = cur.take_while(|c| c != ')');
    if !cur.eat(')') {
        return Err(err(cur.pos, "missing `)` after the step name", None));
    }
    let (sel, filter) = match inner.split_once(',') {
        Some((sel, rest)) => (sel.trim(), Some((sstart + sel.len() + 1, rest))),
        None => (inner.trim(), None),
    };
    let region = match filter {
        None => None,
        Some((at, rest)) => Some(region_filter(at, rest)?),
    };
    let selector = match sel {
        "" => {
            return Err(err(
                sstart,
                "empty step name",
                Some("use `*` for every step"),
            ))
        }
        "*" => Selector::All,
        s => match s.split_once('/') {
            Some((p, st)) if !p.trim().is_empty() && !st.trim().is_empty() => {
                Selector::PhaseStep(p.trim().to_owned(), st.trim().to_owned())
            }
            Some(_) => return Err(err(sstart, "write `phase/step` with both names", None)),
            None => Selector::Step(s.to_owned()),
        },
    };
    cur.skip_ws();
    let ostart = cur.pos;
    let op = if cur.eat_str("<=") {
        Op::Le
    } else if cur.eat_str(">=") {
        Op::Ge
    } else if cur.eat('<') {
        Op::Lt
    } else if cur.eat('>') {
        Op::Gt
    } else {
        return Err(err(ostart, "expected a comparison: <, <=, > or >=", None));
    };
    cur.skip_ws();
    let vstart = cur.pos;
    let value = cur.rest().trim_end();
    if value.is_empty() {
        return Err(err(
            vstart,
            "expected a threshold after the comparison",
            None,
        ));
    }
    let threshold = parse_threshold(metric, value).map_err(|(m, h)| err(vstart, m, h))?;
    // Hundreds of digits parse to infinity, which a report cannot hold
    // (JSON has no infinity) and no measurement can be compared with.
    if !threshold.is_finite() {
        return Err(err(
            vstart,
            format!("threshold `{value}` is too large"),
            None,
        ));
    }
    Ok(Slo {
        expr: expr.trim().to_owned(),
        metric,
        selector,
        region,
        op,
        threshold,
        origin: Origin::Written { at: None },
    })
}

/// `region=NAME` after the selector's comma; `at` is the byte offset of
/// `rest` in the expression.
fn region_filter(at: usize, rest: &str) -> Result<String, SloError> {
    let lead = rest.len() - rest.trim_start().len();
    let at = at + lead;
    let Some((key, value)) = rest.trim().split_once('=') else {
        return Err(err(
            at,
            "expected `region=NAME` after the comma",
            Some("e.g. `p99(checkout, region=eu) < 1.2s`"),
        ));
    };
    if key.trim() != "region" {
        return Err(err(
            at,
            format!("unknown filter `{}`", key.trim()),
            Some("the only filter is `region=NAME`"),
        ));
    }
    let value = value.trim();
    if value.is_empty() || value.contains(',') || value.contains(char::is_whitespace) {
        return Err(err(at, "expected one region name after `region=`", None));
    }
    Ok(value.to_owned())
}

fn parse_metric(name: &str) -> Option<Metric> {
    match name {
        "mean" | "avg" => Some(Metric::Mean),
        "min" => Some(Metric::Min),
        "max" => Some(Metric::Max),
        "error_rate" => Some(Metric::ErrorRate),
        "throughput" | "rps" => Some(Metric::Throughput),
        "count" => Some(Metric::Count),
        "ok" => Some(Metric::Ok),
        "fanout_max" => Some(Metric::FanoutMax),
        "delivery" | "delivery_ratio" => Some(Metric::DeliveryRatio),
        "duplicates" => Some(Metric::Duplicates),
        _ => {
            if let Some(p) = name.strip_prefix("fanout_") {
                let q: f64 = p.strip_prefix('p')?.parse().ok()?;
                return (q > 0.0 && q <= 100.0).then_some(Metric::FanoutPercentile(q));
            }
            let q: f64 = name.strip_prefix('p')?.parse().ok()?;
            (q > 0.0 && q <= 100.0).then_some(Metric::Percentile(q))
        }
    }
}

type ThresholdError = (String, Option<&'static str>);

fn parse_threshold(metric: Metric, value: &str) -> Result<f64, ThresholdError> {
    let split = value
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(value.len());
    let (num, unit) = value.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| (format!("`{value}` does not start with a number"), None))?;
    let unit = unit.trim();
    if metric.is_latency() {
        let mult = match unit {
            "us" | "µs" => 1.0,
            "ms" => 1_000.0,
            "s" => 1_000_000.0,
            "" => {
                return Err((
                    format!("latency threshold `{value}` needs a unit"),
                    Some("use us, ms or s, e.g. `250ms`"),
                ))
            }
            _ => {
                return Err((
                    format!("unknown latency unit `{unit}`"),
                    Some("use us, ms or s, e.g. `250ms`"),
                ))
            }
        };
        return Ok(n * mult);
    }
    match metric {
        Metric::ErrorRate | Metric::DeliveryRatio => match unit {
            "%" if n <= 100.0 => Ok(n / 100.0),
            "" if n <= 1.0 => Ok(n),
            "%" | "" => Err((
                format!(
                    "{} `{value}` is above 100%",
                    if metric == Metric::ErrorRate {
                        "error rate"
                    } else {
                        "delivery ratio"
                    }
                ),
                None,
            )),
            _ => Err((
                format!("unknown error-rate unit `{unit}`"),
                Some("write a percentage such as `1%` or a fraction such as `0.01`"),
            )),
        },
        Metric::Throughput => match unit {
            "/s" => Ok(n),
            "/m" | "/min" => Ok(n / 60.0),
            _ => Err((
                format!("throughput `{value}` needs a rate unit"),
                Some("write e.g. `900/s` or `54000/min`"),
            )),
        },
        _ => match unit {
            "" => Ok(n),
            _ => Err((format!("a count takes no unit, got `{unit}`"), None)),
        },
    }
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }
    fn eat(&mut self, c: char) -> bool {
        if self.rest().starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }
    fn eat_str(&mut self, t: &str) -> bool {
        if self.rest().starts_with(t) {
            self.pos += t.len();
            true
        } else {
            false
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let n = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_latency_percentile_in_microseconds() {
        let s = parse("p99(checkout) < 250ms").unwrap();
        assert_eq!(s.metric, Metric::Percentile(99.0));
        assert_eq!(s.selector, Selector::Step("checkout".into()));
        assert_eq!(s.op, Op::Lt);
        assert_eq!(s.threshold, 250_000.0);
        assert_eq!(parse("p99.9(*)<=1.5s").unwrap().threshold, 1_500_000.0);
    }

    #[test]
    fn parses_rates_and_phase_qualified_steps() {
        let s = parse("error_rate(link-drop/checkout) < 1%").unwrap();
        assert_eq!(
            s.selector,
            Selector::PhaseStep("link-drop".into(), "checkout".into())
        );
        assert!((s.threshold - 0.01).abs() < 1e-12);
        assert_eq!(
            parse("throughput(product) >= 900/s").unwrap().threshold,
            900.0
        );
        assert_eq!(parse("rps(x) > 6000/min").unwrap().threshold, 100.0);
    }

    #[test]
    fn a_region_filter_follows_the_step_name() {
        let s = parse("p99(checkout, region=eu) < 1.2s").unwrap();
        assert_eq!(s.selector, Selector::Step("checkout".into()));
        assert_eq!(s.region.as_deref(), Some("eu"));
        assert_eq!(s.threshold, 1_200_000.0);
        let s = parse("p99(drop/checkout,region=sea-mobile) < 1s").unwrap();
        assert_eq!(s.region.as_deref(), Some("sea-mobile"));
        assert_eq!(parse("p99(checkout) < 1s").unwrap().region, None);
        let e = parse("p99(checkout, zone=eu) < 1s").unwrap_err();
        assert_eq!(e.offset, 14);
        assert!(e.message.contains("unknown filter `zone`"));
        let e = parse("p99(checkout, region=) < 1s").unwrap_err();
        assert!(e.message.contains("one region name"));
    }

    #[test]
    fn a_threshold_too_large_for_a_number_is_refused_at_the_threshold() {
        let huge = "9".repeat(400);
        let e = parse(&format!("p99(checkout) < {huge}ms")).unwrap_err();
        assert_eq!(e.offset, 16);
        assert!(e.message.contains("is too large"), "{}", e.message);
        // Finite before its unit, infinite after.
        let e = parse(&format!("p99(x) < 1{}s", "0".repeat(305))).unwrap_err();
        assert!(e.message.contains("is too large"), "{}", e.message);
        assert!(parse(&format!("count(x) < 1{}", "0".repeat(300))).is_ok());
    }

    #[test]
    fn errors_point_at_the_offending_part() {
        let e = parse("p99(checkout) < 250").unwrap_err();
        assert_eq!(e.offset, 16);
        assert!(e.message.contains("needs a unit"));
        let e = parse("latency(checkout) < 1s").unwrap_err();
        assert_eq!(e.offset, 0);
        assert!(e.hint.is_some());
        assert_eq!(parse("p99(checkout) = 1s").unwrap_err().offset, 14);
        assert!(parse("error_rate(x) < 120%").is_err());
        assert!(parse("p0(x) < 1s").is_err());
    }
}
