//! Toxic definitions: the types, their attributes, and their JSON form.
//!
//! Owns parsing a toxic from an API body (defaults, stream names, strict
//! integer attributes), checking the extension toxics' values, merging
//! partial updates and serializing a toxic in the exact shape Toxiproxy
//! clients expect (`ttl` only when set). It must not touch sockets or
//! clocks: how a toxic acts on bytes lives in `link`, on whole connections
//! in `admit`, on listeners and expiry in `registry`.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ProxyError;
use crate::netem::{Delay, Loss, TcpPath, RTO_MIN};

mod wire;

use wire::*;
pub use wire::{Attributes, AttributesJson};

/// Which way a toxic acts: `upstream` is client → server, `downstream` is
/// server → client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stream {
    Upstream,
    Downstream,
}

impl Stream {
    /// Case-insensitive, as Toxiproxy accepts it.
    pub fn parse(s: &str) -> Result<Stream, ProxyError> {
        match s.to_ascii_lowercase().as_str() {
            "upstream" => Ok(Stream::Upstream),
            "downstream" => Ok(Stream::Downstream),
            _ => Err(ProxyError::InvalidStream),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Upstream => "upstream",
            Stream::Downstream => "downstream",
        }
    }
}

/// Attributes of every supported type. Unsigned integers only: the Rust
/// client decodes attributes as `u32`, and a negative sleep has no meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    Noop,
    Latency {
        latency: u64,
        jitter: u64,
    },
    Bandwidth {
        rate: u64,
    },
    SlowClose {
        delay: u64,
    },
    Timeout {
        timeout: u64,
    },
    ResetPeer {
        timeout: u64,
    },
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    LimitData {
        bytes: u64,
    },
    /// Normal delay per chunk: mean `latency`, standard deviation `stdev`.
    LatencyNormal {
        latency: u64,
        stdev: u64,
    },
    /// Pareto delay per chunk: at least `latency`, shape `shape_x100 / 100`.
    LatencyPareto {
        latency: u64,
        shape_x100: u64,
    },
    /// TCP segment loss, felt as retransmission stalls.
    Loss {
        rate_ppm: u64,
        burst: u64,
        rtt: u64,
        rtt_var: u64,
        mss: u64,
    },
    /// Delay of the upstream dial of each new connection.
    ConnectDelay {
        delay: u64,
        jitter: u64,
    },
    /// Holds the stream's bytes (and, upstream, new dials) while present.
    Blackhole,
    /// Resets every connection, open or new.
    Reset,
    /// Closes the proxy's listener while present.
    Refuse,
}

/// Largest `loss` segment probability, in parts per million.
pub const PPM: u64 = 1_000_000;

/// Path round trip assumed by `loss` when `rtt` is 0: Linux's smallest
/// retransmission timeout, so a stall is never shorter than a real one.
const DEFAULT_RTT: Duration = RTO_MIN;

/// Smallest segment size `loss` accepts (Linux's `TCP_MIN_MSS`); below it a
/// 32 KiB chunk would cost thousands of draws for no realism.
const MIN_MSS: u64 = 88;

/// Largest segment size `loss` accepts: what an IPv4 packet can carry.
const MAX_MSS: u64 = 65_535;

/// Longest `ttl`: a day. Longer-lived toxics should simply have none.
pub const MAX_TTL_MS: u64 = 24 * 60 * 60 * 1000;

/// Longest `rtt` or `rtt_var` of `loss`, as for any delay model.
const MAX_PATH_MS: u64 = 60_000;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

impl Kind {
    /// The zero-valued attributes of a type name, or `InvalidToxicType`.
    pub fn zero(type_name: &str) -> Result<Kind, ProxyError> {
        Ok(match type_name {
            "noop" => Kind::Noop,
            "latency" => Kind::Latency {
                latency: 0,
                jitter: 0,
            },
            "bandwidth" => Kind::Bandwidth { rate: 0 },
            "slow_close" => Kind::SlowClose { delay: 0 },
            "timeout" => Kind::Timeout { timeout: 0 },
            "reset_peer" => Kind::ResetPeer { timeout: 0 },
            "slicer" => Kind::Slicer {
                average_size: 0,
                size_variation: 0,
                delay: 0,
            },
            "limit_data" => Kind::LimitData { bytes: 0 },
            "latency_normal" => Kind::LatencyNormal {
                latency: 0,
                stdev: 0,
            },
            "latency_pareto" => Kind::LatencyPareto {
                latency: 0,
                shape_x100: 0,
            },
            "loss" => Kind::Loss {
                rate_ppm: 0,
                burst: 0,
                rtt: 0,
                rtt_var: 0,
                mss: 0,
            },
            "connect_delay" => Kind::ConnectDelay {
                delay: 0,
                jitter: 0,
            },
            "blackhole" => Kind::Blackhole,
            "reset" => Kind::Reset,
            "refuse" => Kind::Refuse,
            _ => return Err(ProxyError::InvalidToxicType),
        })
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Kind::Noop => "noop",
            Kind::Latency { .. } => "latency",
            Kind::Bandwidth { .. } => "bandwidth",
            Kind::SlowClose { .. } => "slow_close",
            Kind::Timeout { .. } => "timeout",
            Kind::ResetPeer { .. } => "reset_peer",
            Kind::Slicer { .. } => "slicer",
            Kind::LimitData { .. } => "limit_data",
            Kind::LatencyNormal { .. } => "latency_normal",
            Kind::LatencyPareto { .. } => "latency_pareto",
            Kind::Loss { .. } => "loss",
            Kind::ConnectDelay { .. } => "connect_delay",
            Kind::Blackhole => "blackhole",
            Kind::Reset => "reset",
            Kind::Refuse => "refuse",
        }
    }

    /// Whether the toxic acts on the bytes of its stream, so a pipe must
    /// leave its direct copy mode for it. `connect_delay`, `reset` and
    /// `refuse` act on connections and listeners only.
    pub fn on_bytes(&self) -> bool {
        !matches!(self, Kind::ConnectDelay { .. } | Kind::Reset | Kind::Refuse)
    }

    /// Overwrites the attributes present in `v` (a JSON object); the rest
    /// keep their values. The whole merge fails if any value is not an
    /// unsigned integer, or an extension toxic's values make no model,
    /// leaving `self` unchanged.
    pub fn merge(&mut self, v: Option<&Value>) -> Result<(), ProxyError> {
        let mut next = self.clone();
        match &mut next {
            Kind::Noop => {}
            Kind::Latency { latency, jitter } => {
                let a: LatencyAttrs = attrs(v)?;
                *latency = a.latency.unwrap_or(*latency);
                *jitter = a.jitter.unwrap_or(*jitter);
            }
            Kind::Bandwidth { rate } => {
                let a: RateAttrs = attrs(v)?;
                *rate = a.rate.unwrap_or(*rate);
            }
            Kind::SlowClose { delay } => {
                let a: DelayAttrs = attrs(v)?;
                *delay = a.delay.unwrap_or(*delay);
            }
            Kind::Timeout { timeout } | Kind::ResetPeer { timeout } => {
                let a: TimeoutAttrs = attrs(v)?;
                *timeout = a.timeout.unwrap_or(*timeout);
            }
            Kind::Slicer {
                average_size,
                size_variation,
                delay,
            } => {
                let a: SlicerAttrs = attrs(v)?;
                *average_size = a.average_size.unwrap_or(*average_size);
                *size_variation = a.size_variation.unwrap_or(*size_variation);
                *delay = a.delay.unwrap_or(*delay);
            }
            Kind::LimitData { bytes } => {
                let a: BytesAttrs = attrs(v)?;
                *bytes = a.bytes.unwrap_or(*bytes);
            }
            Kind::LatencyNormal { latency, stdev } => {
                let a: NormalAttrs = attrs(v)?;
                *latency = a.latency.unwrap_or(*latency);
                *stdev = a.stdev.unwrap_or(*stdev);
            }
            Kind::LatencyPareto {
                latency,
                shape_x100,
            } => {
                let a: ParetoAttrs = attrs(v)?;
                *latency = a.latency.unwrap_or(*latency);
                *shape_x100 = a.shape_x100.unwrap_or(*shape_x100);
            }
            Kind::Loss {
                rate_ppm,
                burst,
                rtt,
                rtt_var,
                mss,
            } => {
                let a: LossAttrs = attrs(v)?;
                *rate_ppm = a.rate_ppm.unwrap_or(*rate_ppm);
                *burst = a.burst.unwrap_or(*burst);
                *rtt = a.rtt.unwrap_or(*rtt);
                *rtt_var = a.rtt_var.unwrap_or(*rtt_var);
                *mss = a.mss.unwrap_or(*mss);
            }
            Kind::ConnectDelay { delay, jitter } => {
                let a: ConnectDelayAttrs = attrs(v)?;
                *delay = a.delay.unwrap_or(*delay);
                *jitter = a.jitter.unwrap_or(*jitter);
            }
            Kind::Blackhole | Kind::Reset | Kind::Refuse => {}
        }
        next.validate()?;
        *self = next;
        Ok(())
    }

    /// Checks that an extension toxic's values make a usable model. The
    /// Toxiproxy types accept any unsigned value, as Toxiproxy does.
    fn validate(&self) -> Result<(), ProxyError> {
        let invalid = |msg: String| Err(ProxyError::InvalidAttribute(msg));
        match *self {
            Kind::LatencyPareto { shape_x100, .. } if shape_x100 <= 100 => invalid(format!(
                "shape_x100 must be above 100 (a Pareto shape above 1, e.g. 250 for 2.5), got {shape_x100}"
            )),
            Kind::Loss { rate_ppm, .. } if rate_ppm > PPM => invalid(format!(
                "rate_ppm must be at most {PPM} (parts per million), got {rate_ppm}"
            )),
            Kind::Loss { mss, .. } if mss != 0 && !(MIN_MSS..=MAX_MSS).contains(&mss) => invalid(
                format!("mss must be 0 (1460) or {MIN_MSS} to {MAX_MSS} bytes, got {mss}"),
            ),
            Kind::Loss { rtt, rtt_var, .. } if rtt.max(rtt_var) > MAX_PATH_MS => invalid(format!(
                "rtt and rtt_var must be at most {MAX_PATH_MS} ms"
            )),
            Kind::Loss { .. } => self.loss_model().map(|_| ()),
            _ => match self.delay() {
                Some(d) => d
                    .validate()
                    .map_err(|e| ProxyError::InvalidAttribute(e.to_string())),
                None => Ok(()),
            },
        }
    }

    /// The delay distribution of a delaying extension toxic.
    pub fn delay(&self) -> Option<Delay> {
        match *self {
            Kind::LatencyNormal { latency, stdev } => Some(Delay::Normal {
                latency: ms(latency),
                stdev: ms(stdev),
            }),
            Kind::LatencyPareto {
                latency,
                shape_x100,
            } => Some(Delay::Pareto {
                base: ms(latency),
                shape: shape_x100 as f64 / 100.0,
            }),
            Kind::ConnectDelay { delay, jitter } => Some(Delay::Uniform {
                latency: ms(delay),
                jitter: ms(jitter),
            }),
            _ => None,
        }
    }

    /// The loss process and path of a `loss` toxic: independent loss for a
    /// mean burst of 0 or 1 segment, Gilbert–Elliott bursts above.
    pub fn loss_model(&self) -> Result<(Loss, TcpPath), ProxyError> {
        let Kind::Loss {
            rate_ppm,
            burst,
            rtt,
            rtt_var,
            mss,
        } = *self
        else {
            return Err(ProxyError::InvalidToxicType);
        };
        let p = rate_ppm.min(PPM) as f64 / PPM as f64;
        // Bursts of total loss are the same as total loss; the burst model
        // itself needs a rate below one.
        let loss = if burst <= 1 || rate_ppm >= PPM {
            Loss::Bernoulli { p }
        } else {
            Loss::bursts(p, burst as f64)
                .map_err(|e| ProxyError::InvalidAttribute(e.to_string()))?
        };
        let path = TcpPath {
            rtt: if rtt == 0 { DEFAULT_RTT } else { ms(rtt) },
            rtt_var: ms(rtt_var),
            mss: if mss == 0 {
                TcpPath::DEFAULT_MSS
            } else {
                usize::try_from(mss).unwrap_or(TcpPath::DEFAULT_MSS)
            },
        };
        Ok((loss, path))
    }

    /// Every attribute of the type, zeros included, in Toxiproxy's order.
    pub fn attributes(&self) -> Attributes {
        match *self {
            Kind::Noop => Attributes::None {},
            Kind::Latency { latency, jitter } => Attributes::Latency { latency, jitter },
            Kind::Bandwidth { rate } => Attributes::Bandwidth { rate },
            Kind::SlowClose { delay } => Attributes::Delay { delay },
            Kind::Timeout { timeout } | Kind::ResetPeer { timeout } => {
                Attributes::Timeout { timeout }
            }
            Kind::Slicer {
                average_size,
                size_variation,
                delay,
            } => Attributes::Slicer {
                average_size,
                size_variation,
                delay,
            },
            Kind::LimitData { bytes } => Attributes::Bytes { bytes },
            Kind::LatencyNormal { latency, stdev } => Attributes::Normal { latency, stdev },
            Kind::LatencyPareto {
                latency,
                shape_x100,
            } => Attributes::Pareto {
                latency,
                shape_x100,
            },
            Kind::Loss {
                rate_ppm,
                burst,
                rtt,
                rtt_var,
                mss,
            } => Attributes::Loss {
                rate_ppm,
                burst,
                rtt,
                rtt_var,
                mss,
            },
            Kind::ConnectDelay { delay, jitter } => Attributes::ConnectDelay { delay, jitter },
            Kind::Blackhole | Kind::Reset | Kind::Refuse => Attributes::None {},
        }
    }
}

/// A configured toxic. `id` is unique for the life of the server, so a
/// toxic deleted and re-created under the same name is a new toxic to live
/// connections (fresh toxicity draw, fresh `limit_data` count).
#[derive(Debug, Clone)]
pub struct Toxic {
    pub id: u64,
    pub name: String,
    pub stream: Stream,
    pub toxicity: f32,
    pub kind: Kind,
    /// Milliseconds after which the server removes the toxic, counted from
    /// when it was last set; 0 is forever.
    pub ttl: u64,
}

/// The JSON shape of a toxic: `attributes` first, as Toxiproxy sends it.
#[derive(Serialize)]
pub struct ToxicJson {
    pub attributes: AttributesJson,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stream: Stream,
    pub toxicity: f32,
}

impl Toxic {
    /// Applies an update (toxicity, partial attributes, `ttl`) all or
    /// nothing. Returns the `ttl` the update set, if it named one, so the
    /// caller can restart the clock: re-sending a `ttl` renews the lease.
    pub fn update(&mut self, u: ToxicUpdate) -> Result<Option<u64>, ProxyError> {
        let ttl = ttl(u.attributes.as_ref())?;
        self.kind.merge(u.attributes.as_ref())?;
        if let Some(toxicity) = u.toxicity {
            self.toxicity = toxicity;
        }
        if let Some(ttl) = ttl {
            self.ttl = ttl;
        }
        Ok(ttl)
    }

    pub fn to_json(&self) -> ToxicJson {
        ToxicJson {
            attributes: AttributesJson {
                kind: self.kind.attributes(),
                ttl: (self.ttl > 0).then_some(self.ttl),
            },
            name: self.name.clone(),
            kind: self.kind.type_name(),
            stream: self.stream,
            toxicity: self.toxicity,
        }
    }
}

/// Body of `POST /proxies/{p}/toxics`.
#[derive(Deserialize)]
pub struct NewToxic {
    name: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    stream: Option<String>,
    toxicity: Option<f32>,
    attributes: Option<Value>,
}

impl NewToxic {
    /// Applies Toxiproxy's defaults: stream `downstream`, toxicity 1.0,
    /// name `<type>_<stream>`.
    pub fn into_toxic(self, id: u64) -> Result<Toxic, ProxyError> {
        let mut kind = Kind::zero(self.kind.as_deref().unwrap_or(""))?;
        let stream = match self.stream.as_deref() {
            None | Some("") => Stream::Downstream,
            Some(s) => Stream::parse(s)?,
        };
        kind.merge(self.attributes.as_ref())?;
        let ttl = ttl(self.attributes.as_ref())?.unwrap_or(0);
        let name = match self.name {
            Some(n) if !n.is_empty() => n,
            _ => format!("{}_{}", kind.type_name(), stream.as_str()),
        };
        Ok(Toxic {
            id,
            name,
            stream,
            toxicity: self.toxicity.unwrap_or(1.0),
            kind,
            ttl,
        })
    }
}

/// The generic `ttl` attribute, accepted by every type.
fn ttl(v: Option<&Value>) -> Result<Option<u64>, ProxyError> {
    let a: TtlAttr = attrs(v)?;
    match a.ttl {
        Some(t) if t > MAX_TTL_MS => Err(ProxyError::InvalidAttribute(format!(
            "ttl must be at most {MAX_TTL_MS} ms (a day; 0 means forever), got {t}"
        ))),
        t => Ok(t),
    }
}

/// Body of `POST|PATCH /proxies/{p}/toxics/{t}`: only these two can change.
#[derive(Deserialize)]
pub struct ToxicUpdate {
    pub toxicity: Option<f32>,
    pub attributes: Option<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn new(v: Value) -> Result<Toxic, ProxyError> {
        serde_json::from_value::<NewToxic>(v).unwrap().into_toxic(1)
    }

    #[test]
    fn defaults_name_stream_and_toxicity_like_toxiproxy() {
        let t = new(json!({"type": "latency", "attributes": {"latency": 5}})).unwrap();
        assert_eq!(t.name, "latency_downstream");
        assert_eq!(t.stream, Stream::Downstream);
        assert_eq!(t.toxicity, 1.0);
        assert_eq!(
            t.kind,
            Kind::Latency {
                latency: 5,
                jitter: 0
            }
        );
        let up = new(json!({"type": "noop", "stream": "UpStream"})).unwrap();
        assert_eq!(up.name, "noop_upstream");
    }

    #[test]
    fn rejects_floats_unknown_types_and_bad_streams() {
        let float = new(json!({"type": "latency", "attributes": {"latency": 1.5}}));
        assert!(matches!(float, Err(ProxyError::BadBody(_))));
        assert!(matches!(
            new(json!({"type": "nope"})),
            Err(ProxyError::InvalidToxicType)
        ));
        assert!(matches!(
            new(json!({"type": "noop", "stream": "sideways"})),
            Err(ProxyError::InvalidStream)
        ));
    }

    #[test]
    fn partial_update_keeps_the_other_attributes() {
        let mut k = Kind::Latency {
            latency: 100,
            jitter: 10,
        };
        k.merge(Some(&json!({"jitter": 3, "unknown": 9}))).unwrap();
        assert_eq!(
            k,
            Kind::Latency {
                latency: 100,
                jitter: 3
            }
        );
        assert!(k.merge(Some(&json!({"latency": -1}))).is_err());
        assert_eq!(
            k,
            Kind::Latency {
                latency: 100,
                jitter: 3
            }
        );
    }

    #[test]
    fn serializes_every_attribute_with_attributes_first() {
        let t = new(json!({"type": "slicer"})).unwrap();
        let s = serde_json::to_string(&t.to_json()).unwrap();
        assert!(
            s.starts_with("{\"attributes\":{\"average_size\":0,\"size_variation\":0,\"delay\":0},"),
            "{s}"
        );
        for key in ["average_size", "size_variation", "delay", "toxicity"] {
            assert!(s.contains(key), "{s}");
        }
    }

    #[test]
    fn a_pareto_shape_of_one_or_less_is_a_clear_400() {
        for shape in [0, 50, 100] {
            let r = new(
                json!({"type": "latency_pareto", "attributes": {"latency": 50, "shape_x100": shape}}),
            );
            let Err(e) = r else {
                panic!("shape_x100 {shape} accepted")
            };
            assert_eq!(e.status(), 400);
            assert!(
                e.to_string().contains("shape_x100 must be above 100"),
                "{e}"
            );
        }
        let ok = new(
            json!({"type": "latency_pareto", "attributes": {"latency": 50, "shape_x100": 250}}),
        )
        .unwrap();
        assert_eq!(
            ok.kind.delay(),
            Some(Delay::Pareto {
                base: ms(50),
                shape: 2.5
            })
        );
        // A partial update that would break the model leaves it unchanged.
        let mut k = ok.kind.clone();
        assert!(k.merge(Some(&json!({"shape_x100": 99}))).is_err());
        assert_eq!(k, ok.kind);
    }

    #[test]
    fn loss_rates_above_a_million_ppm_and_odd_segments_are_refused() {
        let loss = |attrs: Value| new(json!({"type": "loss", "attributes": attrs}));
        let e = loss(json!({"rate_ppm": 1_000_001})).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(e.to_string().contains("rate_ppm"), "{e}");
        assert!(loss(json!({"rate_ppm": 1_000_000, "burst": 4})).is_ok());
        assert!(loss(json!({"rate_ppm": 5000, "mss": 10})).is_err());
        assert!(loss(json!({"rate_ppm": 5000, "mss": 100_000})).is_err());
        assert!(loss(json!({"rate_ppm": 5000, "rtt": 60_001})).is_err());
        assert!(loss(json!({"rate_ppm": -1})).is_err());
        // Defaults: 200 ms round trip, 1460-byte segments; burst 0 or 1 is
        // independent loss, more is Gilbert–Elliott.
        let t = loss(json!({"rate_ppm": 50_000})).unwrap();
        let (model, path) = t.kind.loss_model().unwrap();
        assert_eq!(model, Loss::Bernoulli { p: 0.05 });
        assert_eq!(path.rtt, ms(200));
        assert_eq!(path.mss, 1460);
        let bursty = loss(json!({"rate_ppm": 50_000, "burst": 3, "rtt": 40, "mss": 1200}))
            .unwrap()
            .kind
            .loss_model()
            .unwrap();
        assert!(matches!(bursty.0, Loss::GilbertElliott { .. }));
        assert!((bursty.0.mean() - 0.05).abs() < 1e-12);
        assert_eq!((bursty.1.rtt, bursty.1.mss), (ms(40), 1200));
    }

    #[test]
    fn extension_toxics_list_every_attribute_as_integers() {
        let cases = [
            ("latency_normal", json!({"latency": 100, "stdev": 10})),
            ("latency_pareto", json!({"latency": 50, "shape_x100": 250})),
            (
                "loss",
                json!({"rate_ppm": 50000, "burst": 0, "rtt": 40, "rtt_var": 0, "mss": 0}),
            ),
            ("connect_delay", json!({"delay": 300, "jitter": 0})),
            ("blackhole", json!({})),
            ("reset", json!({})),
            ("refuse", json!({})),
        ];
        for (kind, attrs) in cases {
            let t = new(json!({"type": kind, "attributes": attrs})).unwrap();
            assert_eq!(t.kind.type_name(), kind);
            let v = serde_json::to_value(t.to_json()).unwrap();
            assert_eq!(v["attributes"], attrs, "{kind}");
            assert_eq!(v["name"], format!("{kind}_downstream"));
        }
        let delay =
            new(json!({"type": "connect_delay", "attributes": {"delay": 300, "jitter": 20}}))
                .unwrap();
        assert_eq!(
            delay.kind.delay(),
            Some(Delay::Uniform {
                latency: ms(300),
                jitter: ms(20)
            })
        );
        assert!(!delay.kind.on_bytes());
        assert!(Kind::Blackhole.on_bytes());
    }

    #[test]
    fn ttl_is_echoed_only_when_set_and_an_update_reports_it() {
        let plain = new(json!({"type": "latency", "attributes": {"latency": 5}})).unwrap();
        let s = serde_json::to_string(&plain.to_json()).unwrap();
        assert!(
            s.starts_with("{\"attributes\":{\"latency\":5,\"jitter\":0},"),
            "{s}"
        );
        let mut t = new(json!({"type": "blackhole", "attributes": {"ttl": 300}})).unwrap();
        assert_eq!(t.ttl, 300);
        let v = serde_json::to_value(t.to_json()).unwrap();
        assert_eq!(v["attributes"], json!({"ttl": 300}));
        let zero = new(json!({"type": "noop", "attributes": {"ttl": 0}})).unwrap();
        assert_eq!(
            serde_json::to_value(zero.to_json()).unwrap()["attributes"],
            json!({})
        );
        let update = |v: Value| serde_json::from_value::<ToxicUpdate>(v).unwrap();
        assert_eq!(t.update(update(json!({"toxicity": 0.5}))).unwrap(), None);
        assert_eq!(t.ttl, 300);
        assert_eq!(
            t.update(update(json!({"attributes": {"ttl": 0}}))).unwrap(),
            Some(0)
        );
        assert_eq!(
            serde_json::to_value(t.to_json()).unwrap()["attributes"],
            json!({})
        );
        let too_long = new(json!({"type": "noop", "attributes": {"ttl": MAX_TTL_MS + 1}}));
        assert!(matches!(too_long, Err(ProxyError::InvalidAttribute(_))));
        let float = new(json!({"type": "noop", "attributes": {"ttl": 1.5}}));
        assert!(matches!(float, Err(ProxyError::BadBody(_))));
    }
}
