//! W3C trace context on a seeded sample of requests, so the slowest
//! checkout of a rehearsal can be opened in the target's own tracing
//! backend.
//!
//! Owns the sampling decision (drawn from the scenario's seed and the
//! attempt's identity, so reruns sample the same attempts), the trace and
//! span ids (salted with the run id, so two runs never share a trace),
//! the `traceparent` and `baggage` header bytes, and handing each sampled
//! attempt to the exporter without waiting. Must not allocate, lock or
//! touch a channel for an attempt that is not sampled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use http::{HeaderName, HeaderValue};
use tokio::sync::mpsc;

use super::keys::StepKeys;
use crate::metrics::Outcome;
use crate::scenario::Scenario;
use crate::schedule::mix;

/// What a run adds to the scenario's `trace:` (from the command line).
#[derive(Debug, Clone, Default)]
pub struct TraceSetup {
    /// Goes into every sampled request's baggage and salts the ids.
    pub run_id: String,
    /// Where sampled attempts go to be exported as client spans; `None`:
    /// headers only, nothing exported.
    pub spans: Option<mpsc::Sender<SpanRecord>>,
    /// Sampled attempts not handed over because the exporter's queue was
    /// full.
    pub dropped: Arc<AtomicU64>,
}

/// A trace id and the id of the client span of one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub trace: [u8; 16],
    pub span: [u8; 8],
}

impl Ids {
    pub fn trace_hex(&self) -> String {
        hex::encode(self.trace)
    }

    pub fn span_hex(&self) -> String {
        hex::encode(self.span)
    }
}

/// One sampled attempt, as the exporter turns it into a client span.
#[derive(Debug, Clone, Copy)]
pub struct SpanRecord {
    pub ids: Ids,
    /// Step key: phase, step and region.
    pub key: u32,
    /// The session's arrival sequence number.
    pub seq: u64,
    pub attempt: u32,
    /// When the attempt left and when it ended, ns from the run's start.
    pub start_ns: u64,
    pub end_ns: u64,
    /// What the report counts: from the intended start (µs).
    pub latency_us: u64,
    pub outcome: Outcome,
}

/// Keeps decisions apart from every other use of the seed.
const DECIDE_SALT: u64 = 0x7472_6163_6570_6172;
/// Keeps ids apart from decisions.
const ID_SALT: u64 = 0x0069_6473_5f66_6c63;

/// The sampler and header writer of one run.
pub(crate) struct Tracer {
    seed: u64,
    salt: u64,
    /// An attempt is sampled when its draw is below this; every attempt
    /// when `all`.
    threshold: u64,
    all: bool,
    /// By step key: the whole `baggage` header line, or nothing.
    baggage: Vec<Box<[u8]>>,
    /// Slowest sampled requests kept per step key for the report.
    pub slowest: usize,
    spans: Option<mpsc::Sender<SpanRecord>>,
    dropped: Arc<AtomicU64>,
}

impl Tracer {
    /// The run's tracer; `None` when the scenario samples nothing.
    pub fn new(scenario: &Scenario, keys: &StepKeys, setup: Option<&TraceSetup>) -> Option<Self> {
        let t = scenario.telemetry.trace.as_ref()?;
        if t.sample <= 0.0 {
            return None;
        }
        let default = TraceSetup::default();
        let setup = setup.unwrap_or(&default);
        let baggage = (0..keys.len())
            .map(|k| {
                if !t.baggage {
                    return Box::default();
                }
                let (pi, si, ri) = keys.triple(k);
                let phase = scenario.phases.get(pi);
                let step = phase
                    .and_then(|p| scenario.flows.get(p.flow))
                    .and_then(|f| f.steps.get(si));
                let mut pairs = vec![
                    ("flashcrowd.run_id", setup.run_id.as_str()),
                    ("flashcrowd.phase", phase.map_or("", |p| p.name.as_str())),
                    ("flashcrowd.step", step.map_or("", |s| s.name.as_str())),
                ];
                if let Some(r) = scenario.regions.get(ri) {
                    pairs.push(("flashcrowd.region", r.name.as_str()));
                }
                baggage_line(&pairs).into_boxed_slice()
            })
            .collect();
        let salt = setup
            .run_id
            .bytes()
            .fold(ID_SALT ^ scenario.seed, |h, b| mix(h, u64::from(b)));
        Some(Tracer {
            seed: scenario.seed,
            salt,
            // Exact at both ends: 0 never gets here, 1 samples everything.
            threshold: (t.sample * 2f64.powi(64)) as u64,
            all: t.sample >= 1.0,
            baggage,
            slowest: t.slowest,
            spans: setup.spans.clone(),
            dropped: setup.dropped.clone(),
        })
    }

    /// Whether attempt `attempt` of the `n`-th request of session `seq` is
    /// sampled, and its ids if so. Every attempt of one request shares the
    /// trace; each has its own span.
    pub fn decide(&self, seq: u64, n: u32, attempt: u32) -> Option<Ids> {
        let who = (u64::from(n) << 32) | u64::from(attempt);
        let draw = mix(mix(self.seed ^ DECIDE_SALT, seq), who);
        if !self.all && draw >= self.threshold {
            return None;
        }
        let request = mix(mix(self.salt, seq), u64::from(n));
        let mut trace = [0u8; 16];
        trace[..8].copy_from_slice(&mix(request, 1).to_be_bytes());
        trace[8..].copy_from_slice(&mix(request, 2).to_be_bytes());
        let mut span = mix(request ^ ID_SALT, u64::from(attempt)).to_be_bytes();
        // All-zero ids are invalid in W3C trace context.
        if trace == [0; 16] {
            trace[15] = 1;
        }
        if span == [0; 8] {
            span[7] = 1;
        }
        Some(Ids { trace, span })
    }

    /// Append the `traceparent` (and `baggage`) header lines of `ids` for
    /// step key `key`.
    pub fn write_headers(&self, ids: &Ids, key: usize, out: &mut Vec<u8>) {
        let mut line = [0u8; TRACEPARENT_LINE];
        traceparent(ids, &mut line);
        out.extend_from_slice(&line);
        if let Some(b) = self.baggage.get(key) {
            out.extend_from_slice(b);
        }
    }

    /// The same headers as name and value, for a WebSocket handshake
    /// (which its client library writes).
    pub fn header_values(&self, ids: &Ids, key: usize) -> Vec<(HeaderName, HeaderValue)> {
        let mut raw = Vec::new();
        self.write_headers(ids, key, &mut raw);
        raw.split(|&b| b == b'\n')
            .filter_map(|line| {
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                let colon = line.iter().position(|&b| b == b':')?;
                let name = HeaderName::from_bytes(line.get(..colon)?).ok()?;
                let value = HeaderValue::from_bytes(line.get(colon + 1..)?.trim_ascii()).ok()?;
                Some((name, value))
            })
            .collect()
    }

    /// Hand a sampled attempt to the exporter, or count it as dropped if
    /// the exporter is behind.
    pub fn export(&self, rec: SpanRecord) {
        if let Some(tx) = &self.spans {
            if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(rec) {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// `traceparent: 00-<trace>-<span>-01\r\n`.
const TRACEPARENT_LINE: usize = 13 + 2 + 1 + 32 + 1 + 16 + 1 + 2 + 2;

fn traceparent(ids: &Ids, out: &mut [u8; TRACEPARENT_LINE]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut at = 0;
    let mut put = |bytes: &[u8]| {
        out[at..at + bytes.len()].copy_from_slice(bytes);
        at += bytes.len();
    };
    put(b"traceparent: 00-");
    for b in ids.trace {
        put(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
    }
    put(b"-");
    for b in ids.span {
        put(&[HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
    }
    // Sampled: the target's tracer should record its side too.
    put(b"-01\r\n");
}

/// A whole `baggage` header line; values percent-encoded where W3C
/// baggage does not allow the byte as is.
fn baggage_line(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = b"baggage: ".to_vec();
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        for &b in v.as_bytes() {
            let plain = matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
                && b != b'%';
            if plain {
                out.push(b);
            } else {
                out.extend_from_slice(format!("%{b:02X}").as_bytes());
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(sample: &str, regions: bool) -> Scenario {
        let regions = if regions {
            "regions:\n  eu: { share: 50% }\n  sea: { share: 50% }\n"
        } else {
            ""
        };
        crate::scenario::load_str(
            std::path::Path::new("t.yaml"),
            &format!(
                "name: t\nseed: 9\nphases:\n  - {{ name: rush, duration: 1s, load: {{ rate: 1/s }}, flow: f }}\nflows:\n  f:\n    - {{ name: checkout, get: / }}\n{regions}telemetry: {{ trace: {{ sample: \"{sample}\" }} }}\n"
            ),
        )
        .unwrap()
    }

    fn tracer(sample: &str) -> Tracer {
        let s = scenario(sample, false);
        let setup = TraceSetup {
            run_id: "run-1".into(),
            ..TraceSetup::default()
        };
        Tracer::new(&s, &StepKeys::new(&s), Some(&setup)).unwrap()
    }

    #[test]
    fn decisions_follow_the_seed_and_the_share() {
        let t = tracer("10%");
        let picks: Vec<bool> = (0..20_000)
            .map(|seq| t.decide(seq, 1, 1).is_some())
            .collect();
        let share = picks.iter().filter(|&&p| p).count() as f64 / picks.len() as f64;
        assert!((0.09..0.11).contains(&share), "{share}");
        // The same seed decides the same way, whatever the run id.
        let again = {
            let s = scenario("10%", false);
            let setup = TraceSetup {
                run_id: "another-run".into(),
                ..TraceSetup::default()
            };
            Tracer::new(&s, &StepKeys::new(&s), Some(&setup)).unwrap()
        };
        let picks_again: Vec<bool> = (0..20_000)
            .map(|seq| again.decide(seq, 1, 1).is_some())
            .collect();
        assert_eq!(picks, picks_again);
        // ...but the ids differ, so two runs never share a trace.
        let seq = (0..).find(|&s| t.decide(s, 1, 1).is_some()).unwrap();
        assert_ne!(t.decide(seq, 1, 1), again.decide(seq, 1, 1));
        assert!(tracer("100%").decide(12, 3, 1).is_some());
        let none = scenario("0", false);
        assert!(Tracer::new(&none, &StepKeys::new(&none), None).is_none());
    }

    #[test]
    fn attempts_of_one_request_share_the_trace_not_the_span() {
        let t = tracer("100%");
        let (a, b) = (t.decide(5, 2, 1).unwrap(), t.decide(5, 2, 2).unwrap());
        assert_eq!(a.trace, b.trace);
        assert_ne!(a.span, b.span);
        // Another request of the same session is another trace.
        assert_ne!(t.decide(5, 3, 1).unwrap().trace, a.trace);
    }

    #[test]
    fn headers_are_w3c_trace_context_and_baggage() {
        let s = scenario("100%", true);
        let setup = TraceSetup {
            run_id: "20260101T000000Z-t-00ab".into(),
            ..TraceSetup::default()
        };
        let keys = StepKeys::new(&s);
        let t = Tracer::new(&s, &keys, Some(&setup)).unwrap();
        let ids = t.decide(1, 1, 1).unwrap();
        let mut out = Vec::new();
        t.write_headers(&ids, keys.key(0, 0, 1), &mut out);
        let text = String::from_utf8(out).unwrap();
        let want = format!(
            "traceparent: 00-{}-{}-01\r\nbaggage: flashcrowd.run_id=20260101T000000Z-t-00ab,flashcrowd.phase=rush,flashcrowd.step=checkout,flashcrowd.region=sea\r\n",
            ids.trace_hex(),
            ids.span_hex()
        );
        assert_eq!(text, want);
        // Bytes W3C baggage does not take as they are get percent-encoded.
        assert_eq!(
            baggage_line(&[("k", "a b,c;d%é")]),
            b"baggage: k=a%20b%2Cc%3Bd%25%C3%A9\r\n"
        );
    }
}
