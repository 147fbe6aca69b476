//! Toxic definitions: the types, their attributes, and their JSON form.
//!
//! Owns parsing a toxic from an API body (defaults, stream names, strict
//! integer attributes), merging partial updates and serializing a toxic in
//! the exact shape Toxiproxy clients expect. It must not touch sockets or
//! time: how a toxic acts on bytes lives in `link`.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ProxyError;

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
}

// Partial attribute sets: a missing key keeps its value (update) or is zero
// (create); unknown keys are ignored, as Toxiproxy ignores them.
#[derive(Deserialize, Default)]
struct LatencyAttrs {
    latency: Option<u64>,
    jitter: Option<u64>,
}
#[derive(Deserialize, Default)]
struct RateAttrs {
    rate: Option<u64>,
}
#[derive(Deserialize, Default)]
struct DelayAttrs {
    delay: Option<u64>,
}
#[derive(Deserialize, Default)]
struct TimeoutAttrs {
    timeout: Option<u64>,
}
#[derive(Deserialize, Default)]
struct SlicerAttrs {
    average_size: Option<u64>,
    size_variation: Option<u64>,
    delay: Option<u64>,
}
#[derive(Deserialize, Default)]
struct BytesAttrs {
    bytes: Option<u64>,
}

fn attrs<T: DeserializeOwned + Default>(v: Option<&Value>) -> Result<T, ProxyError> {
    match v {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| ProxyError::BadBody(e.to_string()))
        }
    }
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
        }
    }

    /// Overwrites the attributes present in `v` (a JSON object); the rest
    /// keep their values. The whole merge fails if any value is not an
    /// unsigned integer, leaving `self` unchanged.
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
        }
        *self = next;
        Ok(())
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
        }
    }
}

/// The `attributes` object of a toxic; struct variants keep the field order
/// Toxiproxy sends (a JSON map would sort the keys).
#[derive(Serialize)]
#[serde(untagged)]
pub enum Attributes {
    None {},
    Latency {
        latency: u64,
        jitter: u64,
    },
    Bandwidth {
        rate: u64,
    },
    Delay {
        delay: u64,
    },
    Timeout {
        timeout: u64,
    },
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: u64,
    },
    Bytes {
        bytes: u64,
    },
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
}

/// The JSON shape of a toxic: `attributes` first, as Toxiproxy sends it.
#[derive(Serialize)]
pub struct ToxicJson {
    pub attributes: Attributes,
    pub name: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub stream: Stream,
    pub toxicity: f32,
}

impl Toxic {
    pub fn to_json(&self) -> ToxicJson {
        ToxicJson {
            attributes: self.kind.attributes(),
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
        })
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
}
