//! Region network profiles: the conditions between one region's viewers and
//! the platform, per direction (latency and its spread, loss, bandwidth),
//! with an optional "degraded" overlay that chaos events switch to.
//!
//! Owns the typed profile and loading a profile file into it (through the
//! same marked YAML tree and diagnostics as scenarios). Must not apply a
//! profile to traffic (the proxy does) or pick which profile a region
//! uses (scenarios do).

use std::path::Path;

use super::diagnostic::{Diagnostic, Diagnostics};
use super::validate;
use super::yaml;
use super::LoadError;
use crate::netem::{Delay, Loss};

/// Largest profile file accepted.
pub const MAX_PROFILE_BYTES: usize = 64 << 10;

/// One direction of a path.
#[derive(Debug, Clone, PartialEq)]
pub struct Link {
    /// One-way delay of each chunk.
    pub delay: Delay,
    /// Segment loss, turned into retransmission stalls; `None`: lossless.
    pub loss: Option<Loss>,
    /// Bytes per second; `None`: unlimited.
    pub bandwidth: Option<u64>,
}

/// A region's network profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    pub name: String,
    /// What the profile stands for and where its numbers come from.
    pub about: Option<String>,
    /// Viewer → platform.
    pub upstream: Link,
    /// Platform → viewer.
    pub downstream: Link,
    /// The same path when it degrades (the base with the overlay's fields
    /// replaced), if the profile has one.
    pub degraded: Option<(Link, Link)>,
}

impl Profile {
    /// Round-trip time without spread, loss or queueing: the sum of both
    /// directions' mean delays.
    pub fn base_rtt(&self) -> std::time::Duration {
        self.upstream.delay.mean() + self.downstream.delay.mean()
    }
}

/// The profiles shipped in `profiles/`, compiled in so that a scenario can
/// name them wherever flashcrowd runs.
pub const BUILTIN: &[(&str, &str)] = &[
    ("cn-core", include_str!("../../profiles/cn-core.yaml")),
    (
        "cn-inbound-peak",
        include_str!("../../profiles/cn-inbound-peak.yaml"),
    ),
    (
        "eu-longhaul",
        include_str!("../../profiles/eu-longhaul.yaml"),
    ),
    (
        "me-longhaul",
        include_str!("../../profiles/me-longhaul.yaml"),
    ),
    (
        "na-longhaul",
        include_str!("../../profiles/na-longhaul.yaml"),
    ),
    (
        "nearby-regions",
        include_str!("../../profiles/nearby-regions.yaml"),
    ),
    ("sea-mobile", include_str!("../../profiles/sea-mobile.yaml")),
];

/// The text of a shipped profile.
pub fn builtin(name: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
}

/// Load and check a profile file (YAML).
pub fn load_profile_str(file: &Path, text: &str) -> Result<Profile, LoadError> {
    if text.len() > MAX_PROFILE_BYTES {
        return Err(LoadError::TooLarge {
            path: file.to_path_buf(),
            size: text.len() as u64,
            limit: MAX_PROFILE_BYTES as u64,
        });
    }
    let src = yaml::Source::new(text);
    let doc = yaml::parse(text).map_err(|issue| {
        LoadError::Invalid(Diagnostics(vec![Diagnostic {
            file: file.to_path_buf(),
            line: issue.pos.line,
            col: issue.pos.col,
            path: issue.path,
            message: issue.message,
            hint: issue.hint,
        }]))
    })?;
    validate::profile(file, &src, doc).map_err(|d| LoadError::Invalid(Diagnostics(d)))
}

/// Read a profile file.
pub fn load_profile(path: &Path) -> Result<Profile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_profile_str(path, &text)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn load(text: &str) -> Result<Profile, Vec<String>> {
        load_profile_str(Path::new("p.yaml"), text).map_err(|e| match e {
            LoadError::Invalid(d) => {
                d.0.iter()
                    .map(|d| format!("{}:{} {}: {}", d.line, d.col, d.path, d.message))
                    .collect()
            }
            other => vec![other.to_string()],
        })
    }

    #[test]
    fn every_shipped_profile_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("profiles");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let p = load_profile(&path).unwrap_or_else(|e| panic!("{e}"));
                assert_eq!(
                    Some(p.name.as_str()),
                    path.file_stem().and_then(|s| s.to_str()),
                    "a profile is named after its file"
                );
                n += 1;
            }
        }
        assert_eq!(n, BUILTIN.len(), "every shipped profile is compiled in");
        for (name, text) in BUILTIN {
            let p = load_profile_str(Path::new(name), text).unwrap();
            assert_eq!(&p.name, name);
        }
    }

    #[test]
    fn directions_spreads_loss_models_and_the_overlay_reach_the_model() {
        let p = load(
            r#"
name: t
upstream: { latency: 90ms, jitter: 8ms, loss: 0.1% }
downstream: { latency: 100ms, pareto: 3, loss: { mean: 15%, burst: 4 }, bandwidth: 8Mbit/s }
degraded:
  upstream: { latency: 250ms }
"#,
        )
        .unwrap();
        let ms = Duration::from_millis;
        assert_eq!(
            p.upstream.delay,
            Delay::Uniform {
                latency: ms(90),
                jitter: ms(8)
            }
        );
        assert_eq!(p.upstream.loss, Some(Loss::Bernoulli { p: 0.001 }));
        assert_eq!(
            p.downstream.delay,
            Delay::Pareto {
                base: ms(100),
                shape: 3.0
            }
        );
        assert_eq!(p.downstream.loss, Some(Loss::bursts(0.15, 4.0).unwrap()));
        assert_eq!(p.downstream.bandwidth, Some(1_000_000));
        let (up, down) = p.degraded.unwrap();
        // The overlay replaces what it names and keeps the rest.
        assert_eq!(
            up.delay,
            Delay::Uniform {
                latency: ms(250),
                jitter: ms(8)
            }
        );
        assert_eq!(up.loss, p.upstream.loss);
        assert_eq!(down, p.downstream);
    }

    #[test]
    fn every_problem_is_reported_with_its_place() {
        let d = load(
            r#"
name: t
upstream: { latency: 90 parsecs, jitter: 1ms, stdev: 2ms }
downstream: { latency: 10ms, loss: 120%, bandwidth: fast, color: red }
"#,
        )
        .unwrap_err();
        assert_eq!(d.len(), 5, "{d:#?}");
        assert!(
            d[0].starts_with("3:25 upstream.latency: unknown duration unit"),
            "{}",
            d[0]
        );
        assert!(
            d[1].contains("upstream") && d[1].contains("one of"),
            "{}",
            d[1]
        );
        assert!(d.iter().any(|l| l.contains("downstream.loss")));
        assert!(d.iter().any(|l| l.contains("downstream.bandwidth")));
        assert!(d.iter().any(|l| l.contains("unknown field `color`")));
    }
}
