//! The JSON form of toxic attributes: the partial sets parsed from API
//! bodies (strict unsigned integers, unknown keys ignored) and the ordered
//! `attributes` object sent back.
//!
//! Owns field names and order only. It must not check values or know what
//! a toxic does: `super` (the `Kind` methods) does.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::proxy::ProxyError;

// Partial attribute sets: a missing key keeps its value (update) or is zero
// (create); unknown keys are ignored, as Toxiproxy ignores them.
#[derive(Deserialize, Default)]
pub struct LatencyAttrs {
    pub latency: Option<u64>,
    pub jitter: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct RateAttrs {
    pub rate: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct DelayAttrs {
    pub delay: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct TimeoutAttrs {
    pub timeout: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct SlicerAttrs {
    pub average_size: Option<u64>,
    pub size_variation: Option<u64>,
    pub delay: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct BytesAttrs {
    pub bytes: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct NormalAttrs {
    pub latency: Option<u64>,
    pub stdev: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct ParetoAttrs {
    pub latency: Option<u64>,
    pub shape_x100: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct LossAttrs {
    pub rate_ppm: Option<u64>,
    pub burst: Option<u64>,
    pub rtt: Option<u64>,
    pub rtt_var: Option<u64>,
    pub mss: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct ConnectDelayAttrs {
    pub delay: Option<u64>,
    pub jitter: Option<u64>,
}
#[derive(Deserialize, Default)]
pub struct TtlAttr {
    pub ttl: Option<u64>,
}

pub fn attrs<T: DeserializeOwned + Default>(v: Option<&Value>) -> Result<T, ProxyError> {
    match v {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| ProxyError::BadBody(e.to_string()))
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
    Normal {
        latency: u64,
        stdev: u64,
    },
    Pareto {
        latency: u64,
        shape_x100: u64,
    },
    Loss {
        rate_ppm: u64,
        burst: u64,
        rtt: u64,
        rtt_var: u64,
        mss: u64,
    },
    ConnectDelay {
        delay: u64,
        jitter: u64,
    },
}

/// A type's attributes plus `ttl`, which appears only when set so standard
/// toxics look exactly as Toxiproxy shows them.
#[derive(Serialize)]
pub struct AttributesJson {
    #[serde(flatten)]
    pub kind: Attributes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}
