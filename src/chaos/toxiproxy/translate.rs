//! What a region's desired toxics are in Toxiproxy's terms: the proxy
//! enabled or not, and at most one standard toxic per type and stream (see
//! the parent module for the mapping and the merge rules).
//!
//! Owns the mapping, the merging, adding a toxic through the client, and
//! comparing the server's toxics with the plan. Must not decide when to
//! call a server or wait on one.

use toxiproxy_rust::proxy::Proxy;
use toxiproxy_rust::toxic::ToxicPack;

use super::super::state::{Desired, ToxicSpec};
use super::super::ChaosError;

/// What a proxy should be, in Toxiproxy's terms.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Plan {
    pub enabled: bool,
    /// At most one per type and stream, in order of first appearance.
    pub toxics: Vec<Toxic>,
}

impl Plan {
    pub fn clean() -> Plan {
        Plan {
            enabled: true,
            toxics: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Toxic {
    pub effect: Effect,
    pub upstream: bool,
    pub toxicity: f32,
}

/// A standard toxic with its attributes (the client takes `u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Effect {
    Latency {
        latency: u32,
        jitter: u32,
    },
    Bandwidth {
        rate: u32,
    },
    SlowClose {
        delay: u32,
    },
    Timeout {
        timeout: u32,
    },
    ResetPeer {
        timeout: u32,
    },
    Slicer {
        average_size: u32,
        size_variation: u32,
        delay: u32,
    },
    LimitData {
        bytes: u32,
    },
}

impl Effect {
    pub fn kind(self) -> &'static str {
        match self {
            Effect::Latency { .. } => "latency",
            Effect::Bandwidth { .. } => "bandwidth",
            Effect::SlowClose { .. } => "slow_close",
            Effect::Timeout { .. } => "timeout",
            Effect::ResetPeer { .. } => "reset_peer",
            Effect::Slicer { .. } => "slicer",
            Effect::LimitData { .. } => "limit_data",
        }
    }

    pub fn attributes(self) -> Vec<(&'static str, u32)> {
        match self {
            Effect::Latency { latency, jitter } => vec![("latency", latency), ("jitter", jitter)],
            Effect::Bandwidth { rate } => vec![("rate", rate)],
            Effect::SlowClose { delay } => vec![("delay", delay)],
            Effect::Timeout { timeout } | Effect::ResetPeer { timeout } => {
                vec![("timeout", timeout)]
            }
            Effect::Slicer {
                average_size,
                size_variation,
                delay,
            } => vec![
                ("average_size", average_size),
                ("size_variation", size_variation),
                ("delay", delay),
            ],
            Effect::LimitData { bytes } => vec![("bytes", bytes)],
        }
    }

    /// Two toxics of the same type on one stream as one (see the module
    /// doc). Different types never meet here.
    fn merge(self, other: Effect) -> Effect {
        use Effect::*;
        match (self, other) {
            (
                Latency { latency, jitter },
                Latency {
                    latency: l2,
                    jitter: j2,
                },
            ) => Latency {
                latency: latency.saturating_add(l2),
                jitter: jitter.saturating_add(j2),
            },
            (Bandwidth { rate }, Bandwidth { rate: r2 }) => Bandwidth { rate: rate.min(r2) },
            (SlowClose { delay }, SlowClose { delay: d2 }) => SlowClose {
                delay: delay.saturating_add(d2),
            },
            (Timeout { timeout }, Timeout { timeout: t2 }) => Timeout {
                timeout: timeout.min(t2),
            },
            (ResetPeer { timeout }, ResetPeer { timeout: t2 }) => ResetPeer {
                timeout: timeout.min(t2),
            },
            (
                a @ Slicer { average_size, .. },
                b @ Slicer {
                    average_size: s2, ..
                },
            ) => {
                if s2 < average_size {
                    b
                } else {
                    a
                }
            }
            (LimitData { bytes }, LimitData { bytes: b2 }) => LimitData {
                bytes: bytes.min(b2),
            },
            (a, _) => a,
        }
    }
}

impl Toxic {
    pub fn stream(&self) -> &'static str {
        if self.upstream {
            "upstream"
        } else {
            "downstream"
        }
    }

    /// The name the client gives it.
    pub fn name(&self) -> String {
        format!("{}_{}", self.effect.kind(), self.stream())
    }

    /// Adds it through the client; `false` for the one type the client
    /// cannot create (`reset_peer`), which the parent posts itself.
    pub fn add_with(&self, proxy: &Proxy) -> bool {
        let s = self.stream().to_owned();
        let x = self.toxicity;
        match self.effect {
            Effect::Latency { latency, jitter } => proxy.with_latency(s, latency, jitter, x),
            Effect::Bandwidth { rate } => proxy.with_bandwidth(s, rate, x),
            Effect::SlowClose { delay } => proxy.with_slow_close(s, delay, x),
            Effect::Timeout { timeout } => proxy.with_timeout(s, timeout, x),
            Effect::Slicer {
                average_size,
                size_variation,
                delay,
            } => proxy.with_slicer(s, average_size, size_variation, delay, x),
            Effect::LimitData { bytes } => proxy.with_limit_data(s, bytes, x),
            Effect::ResetPeer { .. } => return false,
        };
        true
    }

    /// Its `POST /proxies/{p}/toxics` body, as the client would send it.
    pub fn json(&self) -> serde_json::Value {
        let attrs: serde_json::Map<String, serde_json::Value> = self
            .effect
            .attributes()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
        serde_json::json!({
            "name": self.name(),
            "type": self.effect.kind(),
            "stream": self.stream(),
            "toxicity": self.toxicity,
            "attributes": attrs,
        })
    }

    /// Whether the server's copy says the same.
    pub fn matches(&self, p: &ToxicPack) -> bool {
        p.r#type == self.effect.kind()
            && p.stream.eq_ignore_ascii_case(self.stream())
            && (p.toxicity - self.toxicity).abs() < 1e-6
            && self
                .effect
                .attributes()
                .iter()
                .all(|(k, v)| p.attributes.get(*k) == Some(v))
    }
}

/// What `desired` is in Toxiproxy's terms, or why it cannot be.
pub(super) fn translate(desired: &Desired) -> Result<Plan, ChaosError> {
    let mut plan = Plan::clean();
    for spec in desired {
        let a = |k: &str| attribute(spec, k);
        let effect = match spec.kind.as_str() {
            "refuse" => {
                plan.enabled = false;
                continue;
            }
            "noop" => continue,
            // Toxiproxy dials the upstream at once: a profile's handshake
            // round trip cannot be emulated there, and is left out (the
            // validator refuses it where a scenario asks for it by name).
            "connect_delay" => continue,
            "latency" => Effect::Latency {
                latency: a("latency"),
                jitter: a("jitter"),
            },
            "bandwidth" => Effect::Bandwidth { rate: a("rate") },
            "slow_close" => Effect::SlowClose { delay: a("delay") },
            "timeout" => Effect::Timeout {
                timeout: a("timeout"),
            },
            "reset_peer" => Effect::ResetPeer {
                timeout: a("timeout"),
            },
            "slicer" => Effect::Slicer {
                average_size: a("average_size"),
                size_variation: a("size_variation"),
                delay: a("delay"),
            },
            "limit_data" => Effect::LimitData { bytes: a("bytes") },
            "reset" => Effect::ResetPeer { timeout: 0 },
            "blackhole" => Effect::Timeout { timeout: 0 },
            other => {
                return Err(ChaosError::Backend(format!(
                    "toxic `{}`: Toxiproxy has no `{other}` toxic (it needs `backend: embedded`)",
                    spec.name
                )))
            }
        };
        let t = Toxic {
            effect,
            // A partition's reset must cut requests before they reach the
            // target: on the upstream stream Toxiproxy resets on the
            // client's first bytes instead of forwarding them.
            upstream: spec.upstream || spec.kind == "reset",
            toxicity: spec.toxicity,
        };
        let same = plan
            .toxics
            .iter_mut()
            .find(|o| o.effect.kind() == effect.kind() && o.upstream == t.upstream);
        match same {
            Some(o) => {
                o.effect = o.effect.merge(effect);
                o.toxicity = o.toxicity.max(t.toxicity);
            }
            None => plan.toxics.push(t),
        }
    }
    Ok(plan)
}

/// A spec's attribute; absent ones are 0, and values beyond the client's
/// `u32` saturate.
fn attribute(spec: &ToxicSpec, name: &str) -> u32 {
    spec.attributes
        .iter()
        .find(|(k, _)| k == name)
        .map_or(0, |(_, v)| u32::try_from(*v).unwrap_or(u32::MAX))
}

/// Compares the server's toxics with the ones that should be there.
pub(super) fn check(have: &[ToxicPack], want: &[Toxic]) -> Result<(), String> {
    let mut problems = Vec::new();
    for t in want {
        let name = t.name();
        match have.iter().find(|p| p.name == name) {
            None => problems.push(format!("`{name}` is missing")),
            Some(p) if !t.matches(p) => problems.push(format!(
                "`{name}` is {} {} {:?} at toxicity {}",
                p.r#type, p.stream, p.attributes, p.toxicity
            )),
            Some(_) => {}
        }
    }
    for p in have {
        if !want.iter().any(|t| t.name() == p.name) {
            problems.push(format!("`{}` should not be there", p.name));
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the server did not take the toxics: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: &str, upstream: bool, attrs: &[(&str, u64)]) -> ToxicSpec {
        ToxicSpec {
            name: format!("t-{kind}"),
            kind: kind.into(),
            upstream,
            toxicity: 1.0,
            attributes: attrs.iter().map(|(k, v)| ((*k).into(), *v)).collect(),
        }
    }

    fn effects(plan: &Plan) -> Vec<(Effect, bool)> {
        plan.toxics.iter().map(|t| (t.effect, t.upstream)).collect()
    }

    #[test]
    fn standard_toxics_keep_their_attributes_and_missing_ones_are_zero() {
        let plan = translate(&vec![
            spec("latency", false, &[("latency", 100)]),
            spec("bandwidth", true, &[("rate", 64)]),
            spec("slicer", false, &[("average_size", 10), ("delay", 5)]),
        ])
        .unwrap();
        assert!(plan.enabled);
        assert_eq!(
            effects(&plan),
            vec![
                (
                    Effect::Latency {
                        latency: 100,
                        jitter: 0
                    },
                    false
                ),
                (Effect::Bandwidth { rate: 64 }, true),
                (
                    Effect::Slicer {
                        average_size: 10,
                        size_variation: 0,
                        delay: 5
                    },
                    false
                ),
            ]
        );
    }

    #[test]
    fn same_type_and_stream_merge_by_type() {
        let plan = translate(&vec![
            spec("latency", false, &[("latency", 40), ("jitter", 5)]),
            spec("latency", true, &[("latency", 7)]),
            spec("latency", false, &[("latency", 60), ("jitter", 3)]),
            spec("bandwidth", false, &[("rate", 500)]),
            spec("bandwidth", false, &[("rate", 200)]),
            spec("timeout", true, &[("timeout", 3000)]),
            spec("blackhole", true, &[]),
            spec("limit_data", false, &[("bytes", 10)]),
            spec("limit_data", false, &[("bytes", 4)]),
        ])
        .unwrap();
        assert_eq!(
            effects(&plan),
            vec![
                (
                    Effect::Latency {
                        latency: 100,
                        jitter: 8
                    },
                    false
                ),
                (
                    Effect::Latency {
                        latency: 7,
                        jitter: 0
                    },
                    true
                ),
                (Effect::Bandwidth { rate: 200 }, false),
                (Effect::Timeout { timeout: 0 }, true),
                (Effect::LimitData { bytes: 4 }, false),
            ]
        );
    }

    #[test]
    fn merged_toxic_takes_the_higher_toxicity() {
        let mut weak = spec("latency", false, &[("latency", 10)]);
        weak.toxicity = 0.25;
        let mut strong = weak.clone();
        strong.toxicity = 0.75;
        let plan = translate(&vec![weak, strong]).unwrap();
        assert_eq!(plan.toxics.len(), 1);
        assert_eq!(plan.toxics[0].toxicity, 0.75);
    }

    #[test]
    fn partitions_become_disabled_proxy_reset_peer_and_timeout() {
        let plan = translate(&vec![
            spec("refuse", false, &[]),
            spec("reset", false, &[]),
            spec("blackhole", false, &[]),
            spec("noop", true, &[]),
        ])
        .unwrap();
        assert!(!plan.enabled);
        assert_eq!(
            effects(&plan),
            vec![
                (Effect::ResetPeer { timeout: 0 }, true),
                (Effect::Timeout { timeout: 0 }, false),
            ]
        );
        // Upstream, so a request is cut before it reaches the target.
        assert_eq!(plan.toxics[0].name(), "reset_peer_upstream");
    }

    #[test]
    fn the_handshake_delay_is_left_out_for_toxiproxy() {
        let plan = translate(&vec![
            spec("connect_delay", true, &[("delay", 180)]),
            spec("latency", true, &[("latency", 90)]),
        ])
        .unwrap();
        assert_eq!(effects(&plan).len(), 1);
    }

    #[test]
    fn extension_and_unknown_types_are_refused_by_name() {
        for kind in ["latency_normal", "latency_pareto", "loss", "warp"] {
            let err = translate(&vec![spec(kind, false, &[])]).unwrap_err();
            assert!(err.to_string().contains(&format!("`{kind}`")), "{err}");
        }
    }

    #[test]
    fn huge_attributes_saturate() {
        let plan = translate(&vec![spec("latency", false, &[("latency", u64::MAX)])]).unwrap();
        assert_eq!(
            plan.toxics[0].effect,
            Effect::Latency {
                latency: u32::MAX,
                jitter: 0
            }
        );
    }

    #[test]
    fn json_body_matches_the_clients() {
        let t = Toxic {
            effect: Effect::ResetPeer { timeout: 0 },
            upstream: false,
            toxicity: 1.0,
        };
        assert_eq!(
            t.json(),
            serde_json::json!({
                "name": "reset_peer_downstream",
                "type": "reset_peer",
                "stream": "downstream",
                "toxicity": 1.0,
                "attributes": {"timeout": 0},
            })
        );
    }

    #[test]
    fn check_reports_missing_changed_and_extra_toxics() {
        let want = vec![Toxic {
            effect: Effect::Latency {
                latency: 100,
                jitter: 0,
            },
            upstream: false,
            toxicity: 1.0,
        }];
        let pack = |name: &str, latency: u32| ToxicPack {
            name: name.into(),
            r#type: "latency".into(),
            stream: "downstream".into(),
            toxicity: 1.0,
            attributes: [("latency".to_owned(), latency), ("jitter".to_owned(), 0)].into(),
        };
        assert!(check(&[pack("latency_downstream", 100)], &want).is_ok());
        let e = check(&[pack("latency_downstream", 99)], &want).unwrap_err();
        assert!(e.contains("`latency_downstream` is latency"), "{e}");
        let e = check(&[], &want).unwrap_err();
        assert!(e.contains("missing"), "{e}");
        let e = check(&[pack("latency_upstream", 1)], &[]).unwrap_err();
        assert!(e.contains("should not be there"), "{e}");
    }
}
