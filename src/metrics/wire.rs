//! How measurements travel between processes (a distributed run's workers
//! and its coordinator): histograms in HdrHistogram's V2 compressed
//! encoding, base64 in JSON, so the receiver adds them bucket by bucket and
//! loses nothing.
//!
//! Owns the histogram codec used by `serde` on every metric type, and the
//! check that a received histogram has the configuration every flashcrowd
//! histogram has (so merging is exact). Must not know the transport.

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{de, Deserialize};

use super::{latency_histogram, SIGFIG};

/// Encode a histogram as base64 of its V2 compressed form.
pub fn encode(h: &Histogram<u64>) -> Result<String, String> {
    let mut buf = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut buf)
        .map_err(|e| format!("{e:?}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(buf))
}

/// Decode what [`encode`] produced into a histogram that grows on demand,
/// refusing one with another precision (its buckets would not line up).
pub fn decode(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|e| format!("not base64: {e}"))?;
    let h: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| format!("not an HdrHistogram V2 histogram: {e:?}"))?;
    if h.sigfig() != SIGFIG {
        return Err(format!(
            "a histogram with {} significant digits; flashcrowd merges only {SIGFIG}",
            h.sigfig()
        ));
    }
    let mut out = latency_histogram();
    out.add(&h).map_err(|e| format!("{e:?}"))?;
    Ok(out)
}

/// `#[serde(with = "wire::hist")]` for histogram fields.
pub mod hist {
    use super::*;

    pub fn serialize<S: serde::Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let text = encode(h).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let text = String::deserialize(d)?;
        decode(&text).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_survives_the_trip_bucket_for_bucket() {
        let mut h = latency_histogram();
        for v in [1, 17, 999, 1_000, 1_001, 250_000, 61_000_000] {
            h.record(v).unwrap();
        }
        let back = decode(&encode(&h).unwrap()).unwrap();
        assert_eq!(back, h);
        // It still grows.
        let mut back = back;
        back.record(u64::MAX / 4).unwrap();
    }

    #[test]
    fn foreign_precision_and_garbage_are_refused() {
        let mut two = Histogram::<u64>::new(2).unwrap();
        two.record(5).unwrap();
        let e = decode(&encode(&two).unwrap()).unwrap_err();
        assert!(e.contains("2 significant digits"), "{e}");
        assert!(decode("%%%").unwrap_err().contains("not base64"));
        assert!(decode("AAAA").unwrap_err().contains("not an HdrHistogram"));
    }
}
