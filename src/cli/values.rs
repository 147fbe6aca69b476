//! Parsers of flag values: scales, durations, percentages, source-address
//! lists, allowed hosts and demo faults, each with the message clap shows
//! for a bad value.
//!
//! Owns only turning one flag's text into a value. Must not read files,
//! the environment or anything beyond the text.

use std::time::Duration;

/// `10%` (or `10`) as 0.10.
pub(super) fn parse_percent(s: &str) -> Result<f64, String> {
    let n = s.trim().trim_end_matches('%');
    let v: f64 = n
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a percentage (e.g. 10%)"))?;
    if v.is_finite() && (0.0..=1000.0).contains(&v) {
        Ok(v / 100.0)
    } else {
        Err("a percentage between 0% and 1000%".to_owned())
    }
}

pub(super) fn parse_allowed(s: &str) -> Result<crate::safety::Allowed, String> {
    crate::safety::Allowed::parse(s)
        .ok_or_else(|| format!("`{s}` is not a host or host:port (e.g. staging.example.com:8080)"))
}

pub(super) fn parse_demo_fault(s: &str) -> Result<(crate::demo::FaultName, f64), String> {
    crate::demo::parse_fault(s).map_err(|e| e.to_string())
}

pub(super) fn parse_scale(s: &str) -> Result<f64, String> {
    let f: f64 = s.parse().map_err(|_| format!("`{s}` is not a number"))?;
    if f.is_finite() && f > 0.0 {
        Ok(f)
    } else {
        Err("the scale must be a positive number (e.g. 0.01 or 3)".to_owned())
    }
}

/// Most source addresses one run binds to.
const MAX_SOURCE_ADDRS: usize = 1024;

/// `--source-addrs`, one flag value holding the whole list.
#[derive(Debug, Clone)]
pub(super) struct SourceAddrs(pub(super) Vec<std::net::IpAddr>);

pub(super) fn parse_addrs(s: &str) -> Result<SourceAddrs, String> {
    use std::net::{IpAddr, Ipv4Addr};
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad =
            || format!("`{part}` is not an address or an IPv4 range such as 127.0.0.1-127.0.0.8");
        match part.split_once('-') {
            Some((a, b)) => {
                let a: Ipv4Addr = a.trim().parse().map_err(|_| bad())?;
                let b: Ipv4Addr = b.trim().parse().map_err(|_| bad())?;
                let (a, b) = (u32::from(a), u32::from(b));
                if b < a || (b - a) as usize >= MAX_SOURCE_ADDRS {
                    return Err(format!("`{part}`: the range must go upwards and hold at most {MAX_SOURCE_ADDRS} addresses"));
                }
                out.extend((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
        if out.len() > MAX_SOURCE_ADDRS {
            return Err(format!("at most {MAX_SOURCE_ADDRS} source addresses"));
        }
    }
    if out.is_empty() {
        return Err("give at least one address".to_owned());
    }
    Ok(SourceAddrs(out))
}

pub(super) fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = crate::scenario::units::parse_duration(s).map_err(|e| match &e.hint {
        Some(h) => format!("{e} ({h})"),
        None => e.to_string(),
    })?;
    if d.is_zero() {
        Err("the duration must be longer than zero".to_owned())
    } else {
        Ok(d)
    }
}

#[cfg(test)]
mod tests {
    use super::parse_addrs;

    #[test]
    fn source_addresses_are_lists_or_upward_ipv4_ranges() {
        let a = parse_addrs("127.0.0.1-127.0.0.3, ::1").unwrap().0;
        let shown: Vec<String> = a.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["127.0.0.1", "127.0.0.2", "127.0.0.3", "::1"]);
        assert!(parse_addrs("127.0.0.3-127.0.0.1").is_err());
        assert!(parse_addrs("127.0.0.1-127.0.255.255").is_err());
        assert!(parse_addrs("localhost").is_err());
        assert!(parse_addrs(" , ").is_err());
    }
}
