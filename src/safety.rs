//! Target safety: a run sends only to loopback, the embedded platform, or
//! hosts its operator listed. A typo in a URL must not become a load test
//! of somebody's production.
//!
//! Owns the allow-list, what counts as loopback, and the list of every
//! address a run would send to (target, chaos servers and upstream). Must
//! not open sockets or resolve names (the check runs before either), nor
//! read scenarios: callers name the addresses, so `scenario` can use the
//! allow-list without a cycle.

/// One allowed host, with or without a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    /// Lower-case host name or IP literal (IPv6 without brackets).
    pub host: String,
    pub port: Option<u16>,
}

impl Allowed {
    /// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` if malformed.
    pub fn parse(s: &str) -> Option<Allowed> {
        let s = s.trim();
        if s.is_empty() || s.contains(['/', ' ', '@', '?', '#']) {
            return None;
        }
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (h, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?.parse().ok()?),
            };
            (h, port)
        } else {
            match s.rsplit_once(':') {
                // A bare IPv6 literal has several colons and no port.
                Some((h, p)) if !h.contains(':') => (h, Some(p.parse().ok()?)),
                _ => (s, None),
            }
        };
        if host.is_empty() {
            return None;
        }
        Some(Allowed {
            host: host.to_ascii_lowercase(),
            port,
        })
    }

    fn matches(&self, host: &str, port: u16) -> bool {
        self.host == host && self.port.is_none_or(|p| p == port)
    }
}

impl std::fmt::Display for Allowed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match self.port {
            Some(p) => write!(f, "{host}:{p}"),
            None => f.write_str(&host),
        }
    }
}

/// A destination refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "refusing to send to {what} {host}:{port}: it is not loopback and not on the allow-list; \
     if it is meant, add `{host}` to `allow_targets:` in the scenario or pass `--allow-target {host}:{port}`"
)]
pub struct Refused {
    pub what: &'static str,
    pub host: String,
    pub port: u16,
}

/// Whether `host` (as in a URL, IPv6 without brackets) is this machine:
/// `localhost`, 127.0.0.0/8 or ::1. Names other than `localhost` are not
/// resolved: what a name points at can change between check and use.
pub fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// Every destination a run would send to: the target URL and any other
/// named addresses (`HOST:PORT`; e.g. external chaos servers' APIs and the
/// upstream they relay to, from [`crate::scenario::Scenario::chaos_servers`]).
/// `target` is the URL in use (the scenario's or `--target`); `None` for
/// the embedded platform.
pub fn destinations(
    target: Option<&url::Url>,
    others: &[(&'static str, &str)],
) -> Vec<(&'static str, String, u16)> {
    let mut out: Vec<_> = target.and_then(target_destination).into_iter().collect();
    for (what, addr) in others {
        if let Some(a) = Allowed::parse(addr) {
            out.push((what, a.host, a.port.unwrap_or(8474)));
        }
    }
    out
}

/// The target URL as a destination: lower-case host (IPv6 without
/// brackets) and port.
pub fn target_destination(u: &url::Url) -> Option<(&'static str, String, u16)> {
    let h = u.host_str()?;
    let h = h.trim_start_matches('[').trim_end_matches(']');
    Some((
        "target",
        h.to_ascii_lowercase(),
        u.port_or_known_default().unwrap_or(80),
    ))
}

/// Refuse the first destination that is neither loopback nor allowed.
pub fn check(dests: &[(&'static str, String, u16)], allowed: &[Allowed]) -> Result<(), Refused> {
    for (what, host, port) in dests {
        if is_loopback(host) || allowed.iter().any(|a| a.matches(host, *port)) {
            continue;
        }
        return Err(Refused {
            what,
            host: host.clone(),
            port: *port,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_entries_parse_hosts_ports_and_ipv6() {
        let a = |s| Allowed::parse(s).map(|a| (a.host, a.port));
        assert_eq!(
            a("Staging.Example.com"),
            Some(("staging.example.com".into(), None))
        );
        assert_eq!(a("10.0.0.5:8080"), Some(("10.0.0.5".into(), Some(8080))));
        assert_eq!(a("[fd00::1]:443"), Some(("fd00::1".into(), Some(443))));
        assert_eq!(a("fd00::1"), Some(("fd00::1".into(), None)));
        for bad in ["", "http://x", "x:port", "a b", ":80", "[::1"] {
            assert_eq!(a(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_loopback_and_listed_hosts_pass() {
        for h in ["localhost", "127.0.0.1", "127.8.9.10", "::1", "[::1]"] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["10.0.0.1", "example.com", "localhost.evil.com", "0.0.0.0"] {
            assert!(!is_loopback(h), "{h}");
        }
        let allowed = vec![
            Allowed::parse("staging.example.com").unwrap(),
            Allowed::parse("10.0.0.5:8080").unwrap(),
        ];
        let d = |h: &str, p| vec![("target", h.to_owned(), p)];
        assert!(check(&d("staging.example.com", 443), &allowed).is_ok());
        assert!(check(&d("10.0.0.5", 8080), &allowed).is_ok());
        let e = check(&d("10.0.0.5", 9090), &allowed).unwrap_err();
        assert_eq!(e.port, 9090);
        assert!(e.to_string().contains("--allow-target 10.0.0.5:9090"));
        assert!(check(&d("prod.example.com", 443), &allowed).is_err());
        assert!(check(&d("127.0.0.1", 1), &[]).is_ok());
    }
}
