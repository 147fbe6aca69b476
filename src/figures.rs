//! How figures are written for people: numbers with about three
//! significant digits, percentages, counts with thousands separators.
//!
//! Owns the one way each kind of figure reads in every output (terminal,
//! reports, verdict reasons, annotations), so the same value never reads
//! differently in two places. Must not know what the figures mean or
//! where they are shown.

/// A number with about three significant digits and no trailing noise.
pub fn num(v: f64) -> String {
    let a = v.abs();
    let s = if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// A percentage with up to three decimals, trailing zeros dropped (99.95%
/// is not 100%).
pub fn pct(v: f64) -> String {
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// A count with thousands separators.
pub fn int(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_keep_about_three_significant_digits() {
        assert_eq!(num(67.263), "67.3");
        assert_eq!(num(1234.5), "1234");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(2.5), "2.5");
        assert_eq!(num(0.0004), "0");
        assert_eq!(pct(99.95), "99.95");
        assert_eq!(pct(100.0), "100");
        assert_eq!(int(1_234_567), "1,234,567");
        assert_eq!(int(12), "12");
    }
}
