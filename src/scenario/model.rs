//! The validated, typed scenario: what every other module consumes.
//!
//! Owns the shape of a rehearsal once it has been checked. Nothing here is
//! built from user text except by `scenario::validate`; downstream code never
//! sees a raw string where a `Duration`, `Method` or `Url` belongs.
//! Must not do I/O, parsing or validation.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Method};

pub use super::dist::Dist;
use super::feeder::Feeder;
pub use super::ledger::*;
pub use super::regions::*;
pub use super::telemetry::*;
use super::template::{JsonTemplate, Template};
use crate::slo::Slo;

/// One rehearsal, validated.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub name: String,
    /// The file as given on the command line (for reports and diagnostics).
    pub file: PathBuf,
    /// Lower-case hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub target: Target,
    pub seed: u64,
    /// Phases sorted by start offset (ties keep file order).
    pub phases: Vec<Phase>,
    /// Flows referenced by index from [`Phase::flow`].
    pub flows: Vec<Flow>,
    /// CSV feeders referenced by index from templates.
    pub feeders: Vec<Feeder>,
    /// The objectives the run is judged by: the scenario's own, or the
    /// built-in defaults when it has no `slos:` (see `objectives`).
    pub slos: Vec<Slo>,
    /// Whether `slos` was written, defaulted, or declined with `slos: []`.
    pub objectives: crate::slo::Objectives,
    /// Settings of the embedded demo platform, used when the target is
    /// [`Target::Embedded`].
    pub demo: DemoSettings,
    /// Where the viewers are; empty: one undegraded path.
    pub regions: Vec<Region>,
    pub chaos: Chaos,
    /// Business invariants checked after the load.
    pub invariants: Invariants,
    /// Hosts off this machine the run may send to (`allow_targets:`).
    pub allow_targets: Vec<crate::safety::Allowed>,
    /// What the run exports over OpenTelemetry, and which requests carry
    /// trace context.
    pub telemetry: Telemetry,
}

impl Scenario {
    /// The addresses an external chaos backend sends to, as written
    /// (`HOST:PORT`): its servers' APIs and the upstream they relay to.
    pub fn chaos_servers(&self) -> Vec<(&'static str, &str)> {
        let ChaosBackend::Toxiproxy(servers) = &self.chaos.backend else {
            return Vec::new();
        };
        servers
            .api
            .iter()
            .map(|a| ("chaos server", a.as_str()))
            .chain(
                servers
                    .upstream
                    .iter()
                    .map(|u| ("chaos upstream", u.as_str())),
            )
            .collect()
    }

    /// End of the last phase: the length of the whole timeline.
    pub fn timeline_end(&self) -> Duration {
        self.phases
            .iter()
            .map(|p| p.start + p.duration)
            .max()
            .unwrap_or_default()
    }
}

/// Where the requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// flashcrowd starts its own demo platform on a loopback port.
    Embedded,
    /// A base URL (`http://host:port[/prefix]`); step paths are appended.
    Url(url::Url),
}

/// A window on the timeline with a load shape and a flow.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    /// Offset from the start of the run.
    pub start: Duration,
    pub duration: Duration,
    pub load: Load,
    /// Index into [`Scenario::flows`].
    pub flow: usize,
}

/// How work arrives during a phase.
#[derive(Debug, Clone, PartialEq)]
pub enum Load {
    /// Open model: flow iterations start at a rate, whatever the target does.
    Open {
        shape: RateShape,
        arrivals: ArrivalProcess,
    },
    /// Closed model, viewers: sessions join at a rate (the curve and process
    /// of an open load) during the phase and each runs the flow once, within
    /// its dwell time. A session leaves when its dwell time is up (cut off
    /// wherever it is) or, without a dwell time, when its flow ends. A
    /// session whose flow ends early stays (watching) until its dwell time is
    /// up. Sessions may outlive their phase, never the rehearsal.
    Sessions {
        join: RateShape,
        arrivals: ArrivalProcess,
        dwell: Option<Dist>,
    },
    /// Closed model, fixed population: `count` users, each running the flow
    /// again as soon as it ends, until the phase ends.
    Users { count: u32 },
}

/// How arrivals are spread around the rate curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArrivalProcess {
    /// Evenly spaced along the curve: arrival `k` starts when the expected
    /// count reaches `k`.
    #[default]
    Uniform,
    /// A (non-homogeneous) Poisson process following the curve: random,
    /// seeded gaps, as independent viewers arrive.
    Poisson,
}

/// Arrival rate over a phase, in iterations per second. Shapes whose
/// parameters are relative to the phase (ramp, staircase) span the phase's
/// scenario duration even when `--duration` cuts it short.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateShape {
    Constant {
        per_sec: f64,
    },
    /// Linear ramp from `from` at the phase start to `to` at its end.
    Ramp {
        from: f64,
        to: f64,
    },
    /// `steps` equal-length stairs from `from` to `to` (evenly spaced levels).
    Staircase {
        from: f64,
        to: f64,
        steps: u32,
    },
    /// Jump to `peak` at the phase start, then decay back towards `base`.
    Spike {
        base: f64,
        peak: f64,
        decay: Decay,
    },
    /// `mean + amplitude · sin(2π (t + offset) / period)`: daily or hourly
    /// waves. `amplitude <= mean`, so the rate never goes negative.
    Wave {
        mean: f64,
        amplitude: f64,
        period: Duration,
        offset: Duration,
    },
}

/// How a spike falls back to its base rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decay {
    /// The excess over the base halves every `half_life`.
    Exponential { half_life: Duration },
    /// The excess falls linearly to zero `over` this long.
    Linear { over: Duration },
}

impl RateShape {
    /// Multiply every rate by `factor` (`--scale`); times are unchanged.
    pub fn scaled(self, factor: f64) -> Self {
        match self {
            RateShape::Constant { per_sec } => RateShape::Constant {
                per_sec: per_sec * factor,
            },
            RateShape::Ramp { from, to } => RateShape::Ramp {
                from: from * factor,
                to: to * factor,
            },
            RateShape::Staircase { from, to, steps } => RateShape::Staircase {
                from: from * factor,
                to: to * factor,
                steps,
            },
            RateShape::Spike { base, peak, decay } => RateShape::Spike {
                base: base * factor,
                peak: peak * factor,
                decay,
            },
            RateShape::Wave {
                mean,
                amplitude,
                period,
                offset,
            } => RateShape::Wave {
                mean: mean * factor,
                amplitude: amplitude * factor,
                period,
                offset,
            },
        }
    }
}

/// What one virtual user does: a program of actions over the flow's
/// request steps.
#[derive(Debug, Clone)]
pub struct Flow {
    pub name: String,
    /// Every request step of the flow, in file order, wherever it appears in
    /// the program (loops and branches included). Names are unique within a
    /// flow; metrics are kept per (phase, step index).
    pub steps: Vec<Step>,
    /// What runs, in order. A flow written as a plain list of steps is
    /// `[Request(0), Request(1), ...]`.
    pub program: Vec<Action>,
    /// Session variables that steps capture, by slot: templates and captures
    /// refer to them by index.
    pub vars: Vec<String>,
}

/// One instruction of a flow's program.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Run `steps[step]` with probability `chance` (1.0 = always). When the
    /// draw fails the session's flow ends there: a funnel exit.
    Request { step: usize, chance: f64 },
    /// Wait, as a viewer reading or deciding.
    Think(Dist),
    /// Run `body` `times` times (`None`: until the session ends), starting a
    /// round every `every` if given (a poll every 10 s), else back to back.
    Loop {
        times: Option<u32>,
        every: Option<Duration>,
        body: Vec<Action>,
    },
    /// Run one of the branches, picked by weight (weights sum to 1).
    Choose(Vec<(f64, Vec<Action>)>),
}

/// One step of a flow: what it does, and the deadline of doing it.
#[derive(Debug, Clone)]
pub struct Step {
    /// Unique within its flow; what SLOs and reports call it.
    pub name: String,
    /// Deadline of the whole step: an HTTP exchange, a WebSocket connect
    /// (TCP and handshake), a send, or the wait for a matching message.
    pub timeout: Duration,
    pub kind: StepKind,
}

impl Step {
    /// The HTTP request, if this is a request step.
    pub fn http(&self) -> Option<&Request> {
        match &self.kind {
            StepKind::Http(r) => Some(r),
            StepKind::Ws(_) => None,
        }
    }

    /// What reports show as the step's method: `GET`, `POST`, ... or
    /// `WS CONNECT`, `WS SEND`, `WS AWAIT`, `WS CLOSE`.
    pub fn method_label(&self) -> String {
        match &self.kind {
            StepKind::Http(r) => r.method.to_string(),
            StepKind::Ws(WsStep::Connect(_)) => "WS CONNECT".into(),
            StepKind::Ws(WsStep::Send(_)) => "WS SEND".into(),
            StepKind::Ws(WsStep::Await(_)) => "WS AWAIT".into(),
            StepKind::Ws(WsStep::Close) => "WS CLOSE".into(),
        }
    }
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum StepKind {
    Http(Request),
    Ws(WsStep),
}

/// One HTTP request with its checks.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// Path (and query) relative to the target, e.g. `/api/products/{{ pick(skus) }}`.
    pub path: Template,
    pub headers: Vec<(HeaderName, Template)>,
    pub body: Option<Body>,
    pub expect: Expect,
    /// Values taken from the response into session variables.
    pub captures: Vec<Capture>,
    /// What the run's history keeps of each attempt, if it is a ledger
    /// operation.
    pub ledger: Option<LedgerOp>,
    /// How failed attempts are tried again.
    pub retry: Option<Retry>,
}

/// A step on the session's WebSocket. A session holds at most one socket;
/// while it is open, every message that arrives is read and measured
/// whatever the session is doing (thinking, making HTTP requests).
#[derive(Debug, Clone)]
pub enum WsStep {
    /// Open the socket (closing any open one first).
    Connect(WsConnect),
    /// Send one text message.
    Send(WsSend),
    /// Wait for a message that passes every check.
    Await(WsAwait),
    /// Close the socket with the closing handshake.
    Close,
}

/// `ws: /path` — open the session's WebSocket.
#[derive(Debug, Clone)]
pub struct WsConnect {
    /// Path and query relative to the target; `http` targets connect with
    /// `ws://`.
    pub path: Template,
    pub headers: Vec<(HeaderName, Template)>,
    /// Which viewers see each other's messages; deliveries are expected
    /// from every other socket of the same room. Default: the rendered
    /// path without its query.
    pub room: Option<Template>,
    /// Name of the JSON field that carries flashcrowd's message id and send
    /// time in every tracked message.
    pub track: String,
    /// What happens when the socket closes or fails while the session holds
    /// it.
    pub reconnect: Reconnect,
    /// Time the viewer spends on each message before reading the next: a
    /// slow device. The platform's per-viewer queue then fills up, and the
    /// report shows what its slow-consumer policy does.
    pub read_delay: Option<Duration>,
}

/// Reconnect policy of a WebSocket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reconnect {
    /// The socket stays closed; later sends fail.
    Never,
    /// Connect again at once.
    Immediate,
    /// Wait `base × 2^attempt`, capped at `max`, with full jitter (a uniform
    /// draw below that bound) so a crowd that lost its sockets together
    /// does not come back together.
    Backoff { base: Duration, max: Duration },
}

/// `send: ...` — one text message.
#[derive(Debug, Clone)]
pub enum WsSend {
    /// A JSON object; flashcrowd adds its tracking field so every receiver
    /// can measure fan-out latency.
    Tracked(JsonTemplate),
    /// Sent as written, untracked.
    Text(Template),
}

/// `await: { checks }` — wait for a matching message.
#[derive(Debug, Clone)]
pub struct WsAwait {
    /// Every check must hold on the message's JSON; no checks: any message.
    pub checks: Vec<JsonCheck>,
    /// Values taken from the matching message into session variables
    /// (`json` and `regex` sources).
    pub captures: Vec<Capture>,
}

/// Take a value from a response into a session variable.
#[derive(Debug, Clone)]
pub struct Capture {
    /// Slot in [`Flow::vars`].
    pub var: usize,
    pub from: CaptureFrom,
}

/// Where a captured value comes from.
#[derive(Debug, Clone)]
pub enum CaptureFrom {
    /// A JSON body path (`order.id`, `items[0].sku`); strings are taken
    /// as is, other values as their JSON text.
    Json(Vec<JsonPathSeg>),
    /// A response header.
    Header(HeaderName),
    /// A regular expression over the body; the value is capture `group`
    /// (0 = the whole match).
    Regex { re: regex::Regex, group: usize },
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// Sent with `content-type: application/json`.
    Json(JsonTemplate),
    /// Sent as is; the scenario sets the content type if it cares.
    Text(Template),
}

/// What makes a response a success.
#[derive(Debug, Clone, PartialEq)]
pub struct Expect {
    /// Accepted status codes (inclusive ranges). Default: 200..=299.
    pub status: Vec<(u16, u16)>,
    /// Checks on the JSON response body; empty means the body is not parsed.
    pub json: Vec<JsonCheck>,
}

impl Default for Expect {
    fn default() -> Self {
        Expect {
            status: vec![(200, 299)],
            json: Vec::new(),
        }
    }
}

impl Expect {
    pub fn status_ok(&self, status: u16) -> bool {
        self.status
            .iter()
            .any(|&(lo, hi)| lo <= status && status <= hi)
    }
}

/// One check on a JSON response body.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCheck {
    /// The path as written (`order.items[0].sku`), for messages.
    pub path_text: String,
    pub path: Vec<JsonPathSeg>,
    pub cond: JsonCond,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonPathSeg {
    Key(String),
    Index(usize),
}

#[derive(Debug, Clone, PartialEq)]
pub enum JsonCond {
    /// The path resolves to any value (including null).
    Exists,
    /// The path resolves to exactly this value.
    Equals(serde_json::Value),
}

impl JsonCheck {
    /// Whether `body` satisfies this check.
    pub fn holds(&self, body: &serde_json::Value) -> bool {
        match (json_lookup(body, &self.path), &self.cond) {
            (None, _) => false,
            (Some(_), JsonCond::Exists) => true,
            (Some(v), JsonCond::Equals(want)) => v == want,
        }
    }
}

/// The value at `path` in `doc`, if every segment exists.
pub fn json_lookup<'v>(
    doc: &'v serde_json::Value,
    path: &[JsonPathSeg],
) -> Option<&'v serde_json::Value> {
    let mut cur = doc;
    for seg in path {
        cur = match seg {
            JsonPathSeg::Key(k) => cur.get(k.as_str())?,
            JsonPathSeg::Index(i) => cur.get(*i)?,
        };
    }
    Some(cur)
}

/// Settings for the embedded demo platform, from the scenario's optional
/// `demo:` block.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoSettings {
    /// SKUs and their initial stock. Empty means the demo's own catalogue.
    pub stock: Vec<(String, u64)>,
    /// Concurrent payment authorisations the demo's payment stage allows.
    pub payment_slots: usize,
    /// Time one payment authorisation takes.
    pub payment_latency: Duration,
    /// Messages a live-room viewer may fall behind before `ws_slow_policy`
    /// applies.
    pub ws_queue: usize,
    /// What happens to a live-room viewer that falls further behind.
    pub ws_slow_policy: SlowViewers,
    /// WebSocket viewers the demo holds at once.
    pub ws_max_viewers: usize,
    /// How long each of an order's tracking statuses lasts.
    pub tracking_step: Duration,
}

/// The demo's policy for a live-room viewer that reads more slowly than
/// the room broadcasts (`demo.ws.slow_policy`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SlowViewers {
    /// It skips the oldest messages and is told how many it missed.
    #[default]
    Lag,
    /// Its socket is closed with code 1008.
    Disconnect,
}

impl Default for DemoSettings {
    fn default() -> Self {
        DemoSettings {
            stock: Vec::new(),
            payment_slots: 8,
            payment_latency: Duration::from_millis(2),
            ws_queue: 1024,
            ws_slow_policy: SlowViewers::Lag,
            ws_max_viewers: 100_000,
            tracking_step: Duration::from_secs(2),
        }
    }
}
