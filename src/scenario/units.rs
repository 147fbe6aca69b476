//! Durations (`1m30s`), arrival rates (`300/s`, `50/s .. 400/s`) and
//! shares (`15%`, `0.15`) as people write them in scenario files.
//!
//! Owns the unit grammar and its error messages. Errors carry a byte offset
//! into the text so the validator can point at the exact character. Must not
//! know about YAML, field paths or files.

use std::time::Duration;

use super::model::RateShape;

/// Why a duration or rate did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UnitError {
    /// Byte offset into the text where the problem starts.
    pub offset: usize,
    pub message: String,
    pub hint: Option<String>,
}

fn err(offset: usize, message: impl Into<String>, hint: Option<&str>) -> UnitError {
    UnitError {
        offset,
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

const DURATION_HINT: &str =
    "duration units are us, ms, s, m (or min), h and d, e.g. `500ms`, `1m30s`, `1.5s`";
const RATE_HINT: &str =
    "write a rate such as `300/s`, `1200/min` (or `/m`) or `50/h`, or a ramp `50/s .. 400/s`";

/// Nanoseconds per unit.
fn duration_unit(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" | "min" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "d" => 86_400_000_000_000,
        _ => return None,
    })
}

/// A decimal number `123` or `1.25` at the start of `s`: its integer part,
/// its fraction digits and how many bytes it used. `None` if `s` does not
/// start with a digit.
fn decimal(s: &str) -> Option<(&str, &str, usize)> {
    let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
    if int_len == 0 {
        return None;
    }
    let rest = &s[int_len..];
    if let Some(after_dot) = rest.strip_prefix('.') {
        let frac_len = after_dot.bytes().take_while(u8::is_ascii_digit).count();
        if frac_len > 0 {
            return Some((
                &s[..int_len],
                &after_dot[..frac_len],
                int_len + 1 + frac_len,
            ));
        }
    }
    Some((&s[..int_len], "", int_len))
}

/// `int.frac × unit_ns` exactly, or `None` on overflow.
fn scaled(int: &str, frac: &str, unit_ns: u128) -> Option<u128> {
    let mut total: u128 = 0;
    for b in int.bytes() {
        total = total.checked_mul(10)?.checked_add(u128::from(b - b'0'))?;
    }
    total = total.checked_mul(unit_ns)?;
    // Fraction digits beyond nanosecond precision are dropped.
    let mut scale = unit_ns;
    for b in frac.bytes() {
        scale /= 10;
        if scale == 0 {
            break;
        }
        total = total.checked_add(u128::from(b - b'0') * scale)?;
    }
    Some(total)
}

/// Parse `10s`, `500ms`, `1m30s`, `2h`, `1.5s` (also `0s`).
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let lead = text.len() - text.trim_start().len();
    let body = text.trim();
    if body.is_empty() {
        return Err(err(
            lead,
            "expected a duration such as `10s`",
            Some(DURATION_HINT),
        ));
    }
    if body.starts_with('-') {
        return Err(err(lead, "a duration can't be negative", None));
    }
    let mut pos = 0;
    let mut total: u128 = 0;
    while pos < body.len() {
        let rest = &body[pos..];
        let blank = rest.len() - rest.trim_start().len();
        if blank > 0 {
            pos += blank;
            continue;
        }
        let Some((int, frac, used)) = decimal(rest) else {
            return Err(err(
                lead + pos,
                format!("`{body}` is not a duration"),
                Some(DURATION_HINT),
            ));
        };
        pos += used;
        let spaces = body[pos..].len() - body[pos..].trim_start().len();
        let ustart = pos + spaces;
        let num_start = pos - used;
        let unit: &str = {
            let r = &body[ustart..];
            let n = r.find(|c: char| !c.is_alphabetic()).unwrap_or(r.len());
            &r[..n]
        };
        if unit.is_empty() {
            let n = &body[num_start..pos];
            let hint = format!("write e.g. `{n}s` or `{n}ms`");
            return Err(err(
                lead + num_start,
                format!("duration `{body}` needs a unit"),
                Some(&hint),
            ));
        }
        let Some(unit_ns) = duration_unit(unit) else {
            return Err(err(
                lead + ustart,
                format!("unknown duration unit \"{unit}\""),
                Some(DURATION_HINT),
            ));
        };
        pos = ustart + unit.len();
        total = scaled(int, frac, unit_ns)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| err(lead, format!("duration `{body}` is too long"), None))?;
    }
    let nanos = u64::try_from(total)
        .map_err(|_| err(lead, format!("duration `{body}` is too long"), None))?;
    Ok(Duration::from_nanos(nanos))
}

/// Parse one rate, `300/s`, `1200/min`, `1200/m`, `50/h` or `2.5/s`, into
/// arrivals per second.
pub fn parse_rate(text: &str) -> Result<f64, UnitError> {
    let lead = text.len() - text.trim_start().len();
    let body = text.trim();
    if body.starts_with('-') {
        return Err(err(lead, "a rate can't be negative", None));
    }
    let Some((_, _, used)) = decimal(body) else {
        return Err(err(
            lead,
            format!("`{body}` is not a rate"),
            Some(RATE_HINT),
        ));
    };
    let n: f64 = body[..used]
        .parse()
        .map_err(|_| err(lead, format!("`{body}` is not a rate"), Some(RATE_HINT)))?;
    if !n.is_finite() {
        return Err(err(lead, format!("rate `{body}` is too large"), None));
    }
    let after = body[used..].trim_start();
    let uoff = lead + body.len() - after.len();
    let Some(unit) = after.strip_prefix('/') else {
        if after.is_empty() {
            let msg = format!("rate `{body}` needs a unit");
            return Err(err(lead, msg, Some(RATE_HINT)));
        }
        let msg = format!("unknown rate unit \"{after}\"");
        return Err(err(uoff, msg, Some(RATE_HINT)));
    };
    let per_sec = match unit.trim() {
        "s" => n,
        "m" | "min" => n / 60.0,
        "h" => n / 3600.0,
        other => {
            return Err(err(
                uoff,
                format!("unknown rate unit \"/{other}\""),
                Some(RATE_HINT),
            ))
        }
    };
    Ok(per_sec)
}

const SHARE_HINT: &str = "write a percentage such as `15%` or a fraction such as `0.15`";

/// Parse a share of a whole: a percentage `15%` (`12.5 %`) or a fraction
/// `0.15`, above zero and at most 100%.
pub fn parse_share(text: &str) -> Result<f64, UnitError> {
    let lead = text.len() - text.trim_start().len();
    let body = text.trim();
    if body.starts_with('-') {
        return Err(err(lead, "a share can't be negative", Some(SHARE_HINT)));
    }
    let Some((_, _, used)) = decimal(body) else {
        return Err(err(
            lead,
            format!("`{body}` is not a percentage or a fraction"),
            Some(SHARE_HINT),
        ));
    };
    let n: f64 = body[..used].parse().map_err(|_| {
        err(
            lead,
            format!("`{body}` is not a percentage or a fraction"),
            Some(SHARE_HINT),
        )
    })?;
    let after = body[used..].trim_start();
    let share = match after {
        "%" => n / 100.0,
        "" => n,
        _ => {
            let at = lead + body.len() - after.len();
            return Err(err(
                at,
                format!("unexpected `{after}` after the number"),
                Some(SHARE_HINT),
            ));
        }
    };
    if !(share.is_finite() && share > 0.0) {
        return Err(err(
            lead,
            format!("`{body}` is not above zero"),
            Some(SHARE_HINT),
        ));
    }
    if share > 1.0 {
        let hint = if after.is_empty() {
            "fractions run up to 1; write a percentage with `%`, e.g. `15%`"
        } else {
            SHARE_HINT
        };
        return Err(err(lead, format!("`{body}` is more than 100%"), Some(hint)));
    }
    Ok(share)
}

/// Parse a constant rate `300/s` or a linear ramp `50/s .. 400/s`.
pub fn parse_rate_shape(text: &str) -> Result<RateShape, UnitError> {
    match text.find("..") {
        None => Ok(RateShape::Constant {
            per_sec: parse_rate(text)?,
        }),
        Some(i) => {
            let from = parse_rate(&text[..i])?;
            let to_text = &text[i + 2..];
            let to = parse_rate(to_text).map_err(|mut e| {
                e.offset += i + 2;
                e
            })?;
            Ok(if from == to {
                RateShape::Constant { per_sec: from }
            } else {
                RateShape::Ramp { from, to }
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Duration {
        parse_duration(text).unwrap()
    }

    #[test]
    fn durations_in_every_unit_and_combined() {
        assert_eq!(d("10s"), Duration::from_secs(10));
        assert_eq!(d("500ms"), Duration::from_millis(500));
        assert_eq!(d("1m30s"), Duration::from_secs(90));
        assert_eq!(d("2h"), Duration::from_secs(7200));
        assert_eq!(d("1.5s"), Duration::from_millis(1500));
        assert_eq!(d("250us"), Duration::from_micros(250));
        assert_eq!(d("3min"), Duration::from_secs(180));
        assert_eq!(d("1d"), Duration::from_secs(86_400));
        assert_eq!(d("0s"), Duration::ZERO);
        assert_eq!(d(" 10 s "), Duration::from_secs(10));
        assert_eq!(d("1h 2m 3s"), Duration::from_secs(3723));
        assert_eq!(d("0.001ms"), Duration::from_micros(1));
    }

    #[test]
    fn unknown_unit_names_the_unit_and_points_at_it() {
        let e = parse_duration("10 parsecs").unwrap_err();
        assert_eq!(e.message, "unknown duration unit \"parsecs\"");
        assert_eq!(e.offset, 3);
        assert!(e.hint.unwrap().contains("ms"));
    }

    #[test]
    fn bad_durations_are_rejected_with_a_reason() {
        assert!(parse_duration("10")
            .unwrap_err()
            .message
            .contains("needs a unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-1s")
            .unwrap_err()
            .message
            .contains("negative"));
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("1.s").is_err());
        assert!(parse_duration("10s5").is_err());
        let huge = format!("{}h", "9".repeat(40));
        assert!(parse_duration(&huge)
            .unwrap_err()
            .message
            .contains("too long"));
    }

    #[test]
    fn rates_in_every_unit() {
        assert_eq!(parse_rate("300/s").unwrap(), 300.0);
        assert_eq!(parse_rate("1200/min").unwrap(), 20.0);
        assert_eq!(parse_rate("1200/m").unwrap(), 20.0);
        assert_eq!(parse_rate("36/h").unwrap(), 0.01);
        assert_eq!(parse_rate("2.5 / s").unwrap(), 2.5);
        assert_eq!(parse_rate("0/s").unwrap(), 0.0);
    }

    #[test]
    fn bad_rates_explain_the_unit() {
        let e = parse_rate("300").unwrap_err();
        assert!(e.message.contains("needs a unit"));
        assert_eq!(e.offset, 0);
        let e = parse_rate("300/sec").unwrap_err();
        assert_eq!(e.message, "unknown rate unit \"/sec\"");
        assert!(parse_rate("-3/s").is_err());
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate(&format!("{}/s", "9".repeat(400))).is_err());
    }

    #[test]
    fn shares_as_percentages_or_fractions() {
        assert_eq!(parse_share("15%").unwrap(), 0.15);
        assert_eq!(parse_share(" 12.5 % ").unwrap(), 0.125);
        assert_eq!(parse_share("0.39").unwrap(), 0.39);
        assert_eq!(parse_share("1").unwrap(), 1.0);
        assert_eq!(parse_share("100%").unwrap(), 1.0);
        assert!(parse_share("0%")
            .unwrap_err()
            .message
            .contains("above zero"));
        assert!(parse_share("-5%").unwrap_err().message.contains("negative"));
        let e = parse_share("15").unwrap_err();
        assert!(e.message.contains("more than 100%"));
        assert!(e.hint.unwrap().contains("`%`"));
        assert!(parse_share("120%").is_err());
        let e = parse_share("15 percent").unwrap_err();
        assert_eq!(e.offset, 3);
        assert!(parse_share("half").is_err());
    }

    #[test]
    fn rate_shapes_constant_and_ramp() {
        assert_eq!(
            parse_rate_shape("300/s").unwrap(),
            RateShape::Constant { per_sec: 300.0 }
        );
        assert_eq!(
            parse_rate_shape("50/s .. 400/s").unwrap(),
            RateShape::Ramp {
                from: 50.0,
                to: 400.0
            }
        );
        assert_eq!(
            parse_rate_shape("60/min..60/min").unwrap(),
            RateShape::Constant { per_sec: 1.0 }
        );
        let e = parse_rate_shape("50/s .. 400").unwrap_err();
        assert_eq!(e.offset, 8);
    }
}

const BANDWIDTH_HINT: &str =
    "write e.g. `8Mbit/s`, `500kbit/s`, `625KB/s` or `1MB/s` (K and M are 1000s)";

/// A bandwidth such as `8Mbit/s` or `625KB/s`, in bytes per second. `K`
/// and `M` are decimal (1 KB = 1000 bytes), as network rates are.
pub fn parse_bandwidth(text: &str) -> Result<u64, UnitError> {
    let lead = text.len() - text.trim_start().len();
    let body = text.trim();
    let split = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (num, unit) = body.split_at(split);
    let n: f64 = num.parse().map_err(|_| {
        err(
            lead,
            format!("`{body}` does not start with a number"),
            Some(BANDWIDTH_HINT),
        )
    })?;
    let per_byte = match unit.trim() {
        "B/s" => 1.0,
        "KB/s" | "kB/s" => 1e3,
        "MB/s" => 1e6,
        "GB/s" => 1e9,
        "bit/s" | "bps" => 1.0 / 8.0,
        "kbit/s" | "Kbit/s" | "kbps" => 1e3 / 8.0,
        "Mbit/s" | "Mbps" => 1e6 / 8.0,
        "Gbit/s" | "Gbps" => 1e9 / 8.0,
        "" => {
            return Err(err(
                lead + split,
                format!("bandwidth `{body}` needs a unit"),
                Some(BANDWIDTH_HINT),
            ))
        }
        other => {
            return Err(err(
                lead + split,
                format!("unknown bandwidth unit `{other}`"),
                Some(BANDWIDTH_HINT),
            ))
        }
    };
    let bytes = n * per_byte;
    if !(bytes >= 1.0 && bytes.is_finite() && bytes < 1e12) {
        return Err(err(
            lead,
            format!("bandwidth `{body}` must be at least 1 byte/s and below 1 TB/s"),
            Some("leave `bandwidth` out for an unlimited link"),
        ));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod bandwidth_tests {
    use super::parse_bandwidth;

    #[test]
    fn bandwidths_are_bytes_per_second_with_decimal_prefixes() {
        assert_eq!(parse_bandwidth("8Mbit/s"), Ok(1_000_000));
        assert_eq!(parse_bandwidth("625KB/s"), Ok(625_000));
        assert_eq!(parse_bandwidth(" 1.5 MB/s"), Ok(1_500_000));
        assert_eq!(parse_bandwidth("500kbit/s"), Ok(62_500));
        assert!(parse_bandwidth("fast").is_err());
        assert!(parse_bandwidth("10").is_err());
        assert!(parse_bandwidth("0KB/s").is_err());
        assert_eq!(parse_bandwidth("5 furlongs/s").unwrap_err().offset, 1);
    }
}
