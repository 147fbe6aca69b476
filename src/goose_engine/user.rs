//! One Goose user's life: its phase's flow, run back to back from the
//! phase's start until the phase ends, as a fixed-population user of
//! flashcrowd's own engine runs it.
//!
//! Owns the Goose engine's player of a flow: requests go through the
//! `GooseUser`, so Goose sends and times them, while the program (funnel
//! draws, think times, loops, branches) is read by the native engine's
//! interpreter, `engine::program`, and templates, checks, captures and
//! retries follow the scenario exactly as the native engine applies them. Besides Goose's timings
//! the user records what Goose does not know: each outcome's kind, the
//! per-second figures, and when it started. Must not build the load test
//! or read Goose's aggregated metrics.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use goose::goose::{GooseMethod, GooseRequest, GooseUser};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::ledger::{backoff, retryable};
use crate::engine::program::{exec, Next, Player};
use crate::engine::session::apply_captures;
use crate::engine::StepKeys;
use crate::metrics::{IntervalPart, Outcome, Recorder};
use crate::scenario::template::RenderCtx;
use crate::scenario::{Body, Flow, Request, Scenario, Step, StepKind};

/// What every user of a run shares.
pub(super) struct Plan {
    pub scenario: Arc<Scenario>,
    pub keys: StepKeys,
    /// The target's base URL without a trailing slash; step paths follow.
    pub base: String,
    /// By phase index.
    pub phases: Vec<PhasePlan>,
    /// Goose's request name of each step key.
    pub names: Vec<String>,
    /// Cancelled on interrupt: users stop thinking and leave.
    pub stop: CancellationToken,
    /// Cancelled when requests in flight must stop at once.
    pub abort: CancellationToken,
    pub late_after: Duration,
    /// Users alive now.
    pub alive: AtomicU64,
    /// Where users hand their per-second figures; taken (closing the
    /// channel) when the run ends, whoever still holds the plan.
    pub parts: Mutex<Option<mpsc::UnboundedSender<Vec<IntervalPart>>>>,
    /// Each user's recorder once it has left.
    pub finished: Mutex<Vec<Recorder>>,
    /// Users Goose is to launch, and those launched so far.
    pub users: usize,
    pub launched: AtomicUsize,
    /// The run's time origin (phase offsets count from it), set when Goose
    /// has launched the last user: Goose builds every user's HTTP client
    /// first, which takes long enough in a big run that a clock started
    /// before would find the users late.
    pub t0: watch::Sender<Option<Instant>>,
    /// The origin is never earlier than this (the caller's).
    pub not_before: Option<Instant>,
}

/// One phase's place on the timeline and its users' sequence numbers.
pub(super) struct PhasePlan {
    /// Offsets from the run's origin.
    pub start: Duration,
    pub duration: Duration,
    /// The schedule's sequence number of each of the phase's users (the
    /// same numbers flashcrowd's own engine gives them, so templates draw
    /// the same values).
    pub seqs: Vec<u64>,
    /// Users of this phase started so far.
    pub next: AtomicUsize,
}

impl Plan {
    fn hand_over(&self, parts: Vec<IntervalPart>) {
        if parts.is_empty() {
            return;
        }
        if let Ok(guard) = self.parts.lock() {
            if let Some(tx) = guard.as_ref() {
                // A collector that is gone has ended the run already.
                let _ = tx.send(parts);
            }
        }
    }

    /// Count one more user launched; the last one fixes the origin.
    fn launched_one(&self) {
        if self.launched.fetch_add(1, Ordering::AcqRel) + 1 >= self.users {
            let at = Instant::now() + AFTER_LAUNCH;
            let t0 = self.not_before.map_or(at, |nb| nb.max(at));
            self.t0.send_replace(Some(t0));
        }
    }

    /// The run's origin once every user is launched; `None` if the run was
    /// stopped first.
    pub(super) async fn origin(&self) -> Option<Instant> {
        origin_or(&self.t0, &self.stop).await
    }
}

/// The origin `t0` holds once set, or `None` if `cancel` comes first.
pub(super) async fn origin_or(
    t0: &watch::Sender<Option<Instant>>,
    cancel: &CancellationToken,
) -> Option<Instant> {
    let mut rx = t0.subscribe();
    tokio::select! {
        // A set origin wins over a cancel that came after it.
        biased;
        t0 = rx.wait_for(Option::is_some) => t0.ok().and_then(|t| *t),
        _ = cancel.cancelled() => None,
    }
}

/// Run one user of phase `phase` to its end and leave its recorder in the
/// plan.
pub(super) async fn run(plan: Arc<Plan>, phase: usize, user: &mut GooseUser) {
    let mut rec = Recorder::new(plan.keys.len(), plan.phases.len());
    live(&plan, phase, user, &mut rec).await;
    plan.hand_over(rec.intervals.take());
    if let Ok(mut done) = plan.finished.lock() {
        done.push(rec);
    }
}

/// How often a user hands its per-second figures over.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// How long after the last user's launch the first request may go out.
/// Goose resets its metrics once every user is launched; its main loop does
/// that within a few hundred microseconds of the launch, and a request
/// before it would vanish from Goose's figures (and show up as a count the
/// engine's check disagrees with).
const AFTER_LAUNCH: Duration = Duration::from_millis(100);

async fn live(plan: &Plan, phase: usize, user: &mut GooseUser, rec: &mut Recorder) {
    let Some(window) = plan.phases.get(phase) else {
        return;
    };
    let Some(flow) = plan
        .scenario
        .phases
        .get(phase)
        .and_then(|p| plan.scenario.flows.get(p.flow))
    else {
        return;
    };
    let nth = window.next.fetch_add(1, Ordering::Relaxed);
    // Past the schedule's numbers only if Goose started more users than
    // planned, which it does not; still unique.
    let seq = window
        .seqs
        .get(nth)
        .copied()
        .unwrap_or(u64::MAX - nth as u64);
    plan.launched_one();
    let Some(t0) = plan.origin().await else {
        return;
    };
    let (start, end) = (t0 + window.start, t0 + window.start + window.duration);
    if !sleep_until(start, &plan.stop).await {
        return;
    }
    let started = Instant::now();
    let delay = started.saturating_duration_since(start);
    // The native dispatcher's lag has no counterpart: Goose's launch is
    // over before the clock starts.
    rec.note_started(
        phase,
        micros(delay),
        delay > plan.late_after,
        micros(started.saturating_duration_since(t0)),
    );
    plan.alive.fetch_add(1, Ordering::Relaxed);
    let iter_seed = crate::schedule::mix(plan.scenario.seed, seq);
    let mut s = Session {
        plan,
        user,
        rec,
        flow,
        phase,
        seq,
        iter_seed,
        rng: Pcg64Mcg::seed_from_u64(iter_seed),
        vars: vec![None; flow.vars.len()],
        t0,
        deadline: end,
        flush_at: started + FLUSH_EVERY,
    };
    // Bounded by the phase's end: every pass checks it before each action.
    while !s.time_is_up() {
        exec(&mut s, &flow.program).await;
        s.vars.iter_mut().for_each(|v| *v = None);
        tokio::task::yield_now().await;
    }
    plan.alive.fetch_sub(1, Ordering::Relaxed);
}

/// Sleep until `when`; false if `stop` came first.
async fn sleep_until(when: Instant, stop: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(when) => true,
        _ = stop.cancelled() => false,
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

struct Session<'a> {
    plan: &'a Plan,
    user: &'a mut GooseUser,
    rec: &'a mut Recorder,
    flow: &'a Flow,
    phase: usize,
    seq: u64,
    iter_seed: u64,
    rng: Pcg64Mcg,
    vars: Vec<Option<String>>,
    /// The run's origin: per-second figures count from it.
    t0: Instant,
    /// The phase's end: the user leaves then.
    deadline: Instant,
    flush_at: Instant,
}

impl Player for Session<'_> {
    fn rng(&mut self) -> &mut Pcg64Mcg {
        &mut self.rng
    }

    fn time_is_up(&self) -> bool {
        Session::time_is_up(self)
    }

    fn play_step(&mut self, step: usize) -> impl std::future::Future<Output = Next> + Send {
        self.request(step)
    }

    fn pause_until(&mut self, when: Instant) -> impl std::future::Future<Output = Next> + Send {
        self.wait_until(when)
    }
}

/// A request rendered from its templates, ready for Goose.
struct Rendered {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Option<Vec<u8>>,
}

/// What a step keeps of an accepted response for its captures.
struct Kept {
    headers: HeaderMap,
    body: bytes::Bytes,
}

impl Session<'_> {
    fn time_is_up(&self) -> bool {
        self.plan.stop.is_cancelled() || Instant::now() >= self.deadline
    }

    /// Sleep until `when`, or less if the user must leave first.
    async fn wait_until(&mut self, when: Instant) -> Next {
        let end = when.min(self.deadline);
        if !sleep_until(end, &self.plan.stop).await || end < when {
            Next::Stop
        } else {
            Next::Go
        }
    }

    /// Keep one request's result; the per-second figures go to the
    /// collector about once a second.
    fn push_result(&mut self, key: usize, outcome: Outcome, latency_us: u64, end: Instant) {
        let second =
            u32::try_from(end.saturating_duration_since(self.t0).as_secs()).unwrap_or(u32::MAX);
        self.rec.record_request(key, outcome, latency_us, second);
        if end >= self.flush_at {
            self.plan.hand_over(self.rec.intervals.take());
            self.flush_at = end + FLUSH_EVERY;
        }
    }

    async fn request(&mut self, step_idx: usize) -> Next {
        let Some(step) = self.flow.steps.get(step_idx) else {
            return Next::Stop;
        };
        // The engine refuses WebSocket steps before the run starts.
        let StepKind::Http(req) = &step.kind else {
            return Next::Stop;
        };
        let key = self.plan.keys.key(self.phase, step_idx, 0);
        let mut attempt: u32 = 1;
        let mut rendered = None;
        let (outcome, kept) = loop {
            // A retry of the same logical operation resends the very request
            // (its idempotency key included); otherwise it is rendered anew.
            let same = attempt > 1 && req.retry.as_ref().is_some_and(|r| r.same_key);
            if !same {
                rendered = Some(self.render(req));
            }
            let (outcome, latency, kept) = match &rendered {
                Some(Ok(r)) => self.exchange(step, req, key, r).await,
                Some(Err(o)) => (*o, 0, None),
                None => (Outcome::Invalid, 0, None),
            };
            self.push_result(key, outcome, latency, Instant::now());
            let Some(retry) = &req.retry else {
                break (outcome, kept);
            };
            if attempt > retry.max || !retryable(&retry.on, outcome) || self.time_is_up() {
                break (outcome, kept);
            }
            let wait = backoff(retry.backoff, attempt, &mut self.rng);
            if Box::pin(self.wait_until(Instant::now() + wait)).await == Next::Stop {
                break (outcome, kept);
            }
            attempt += 1;
        };
        if !outcome.is_ok() {
            // Later steps depend on this one (an order needs its checkout);
            // an unresolved request ends the flow too.
            return Next::Stop;
        }
        if let Some(k) = kept {
            apply_captures(&mut self.vars, &req.captures, &k.body, |name| {
                k.headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| v.trim().to_owned())
            });
        }
        Next::Go
    }

    /// Render the step's templates by the native engine's rules: `Err` says
    /// why nothing can be sent (a variable no earlier step captured, or
    /// text that is not valid HTTP).
    fn render(&mut self, req: &Request) -> Result<Rendered, Outcome> {
        let mut ctx = RenderCtx {
            seq: self.seq,
            iter_seed: self.iter_seed,
            rng: &mut self.rng,
            feeders: &self.plan.scenario.feeders,
            session: &self.vars,
            unresolved: 0,
        };
        let mut path = String::new();
        req.path.render(&mut ctx, &mut path);
        let mut headers = Vec::with_capacity(req.headers.len() + 1);
        let mut valid = !path.is_empty() && path.bytes().all(|b| (0x21..0x7f).contains(&b));
        let mut content_type = false;
        for (name, tmpl) in &req.headers {
            // The body's length and the host are the client's to state.
            if name == http::header::CONTENT_LENGTH || name == http::header::HOST {
                continue;
            }
            content_type |= name == http::header::CONTENT_TYPE;
            let mut text = String::new();
            tmpl.render(&mut ctx, &mut text);
            match HeaderValue::from_str(&text) {
                Ok(v) => headers.push((name.clone(), v)),
                Err(_) => valid = false,
            }
        }
        let body = match &req.body {
            None => None,
            Some(Body::Json(t)) => {
                if !content_type {
                    headers.push((
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/json"),
                    ));
                }
                let mut json = Vec::new();
                t.render(&mut ctx, &mut json);
                Some(json)
            }
            Some(Body::Text(t)) => {
                let mut text = String::new();
                t.render(&mut ctx, &mut text);
                Some(text.into_bytes())
            }
        };
        if ctx.unresolved > 0 {
            return Err(Outcome::Unresolved);
        }
        if !valid {
            return Err(Outcome::Invalid);
        }
        Ok(Rendered {
            url: format!("{}{path}", self.plan.base),
            headers,
            body,
        })
    }

    /// Send one rendered request through Goose and judge the response by
    /// the step's checks. Returns the outcome, Goose's time for it in µs,
    /// and what captures need of an accepted response.
    async fn exchange(
        &mut self,
        step: &Step,
        req: &Request,
        key: usize,
        r: &Rendered,
    ) -> (Outcome, u64, Option<Kept>) {
        let Some(method) = goose_method(&req.method) else {
            return (Outcome::Invalid, 0, None);
        };
        let Ok(mut builder) = self.user.get_request_builder(&method, &r.url) else {
            return (Outcome::Invalid, 0, None);
        };
        builder = builder.timeout(step.timeout);
        for (name, value) in &r.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(body) = &r.body {
            builder = builder.body(body.clone());
        }
        let name = self.plan.names.get(key).map_or("", String::as_str);
        let request = GooseRequest::builder()
            .method(method)
            .name(name)
            .set_request_builder(builder)
            .build();
        let sent = Instant::now();
        let abort = &self.plan.abort;
        let answer = tokio::select! {
            biased;
            a = self.user.request(request) => a,
            _ = abort.cancelled() => return (Outcome::Aborted, micros(sent.elapsed()), None),
        };
        // Goose could not even build the request: nothing was sent.
        let Ok(answer) = answer else {
            return (Outcome::Invalid, 0, None);
        };
        let mut metric = answer.request;
        let latency = metric
            .response_time
            .saturating_mul(1_000)
            .saturating_add(u64::from(metric.response_time_fraction_us));
        let (outcome, kept) = match answer.response {
            Err(e) => (transport_outcome(e.is_timeout(), e.is_connect()), None),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let headers = (!req.captures.is_empty()).then(|| resp.headers().clone());
                // The whole body is read, whatever the checks need, so the
                // connection stays usable for the next request. The
                // request's timeout bounds the read too.
                let body = tokio::select! {
                    biased;
                    b = resp.bytes() => b,
                    _ = abort.cancelled() => return (Outcome::Aborted, latency, None),
                };
                match body {
                    Err(e) => (transport_outcome(e.is_timeout(), e.is_connect()), None),
                    Ok(body) => judge(req, status, headers, body),
                }
            }
        };
        // Goose calls a response good by its own rule (a 2xx status); the
        // step's checks decide, and Goose's counts follow them.
        if outcome.is_ok() != metric.success {
            if outcome.is_ok() {
                let _ = self.user.set_success(&mut metric);
            } else {
                let _ = self
                    .user
                    .set_failure(&failure_tag(outcome), &mut metric, None, None);
            }
        }
        (outcome, latency, kept)
    }
}

/// The outcome of a response by the step's checks.
fn judge(
    req: &Request,
    status: u16,
    headers: Option<HeaderMap>,
    body: bytes::Bytes,
) -> (Outcome, Option<Kept>) {
    if !req.expect.status_ok(status) {
        return (Outcome::BadStatus { status }, None);
    }
    if !req.expect.json.is_empty() {
        let holds = serde_json::from_slice::<serde_json::Value>(&body)
            .map(|v| req.expect.json.iter().all(|c| c.holds(&v)))
            .unwrap_or(false);
        if !holds {
            return (Outcome::CheckFailed { status }, None);
        }
    }
    let kept = headers.map(|headers| Kept { headers, body });
    (Outcome::Ok { status }, kept)
}

/// A request that got no complete response: what the client saw, from
/// the HTTP client's error (Goose hands it over without naming its type).
fn transport_outcome(timed_out: bool, connecting: bool) -> Outcome {
    if timed_out {
        Outcome::Timeout
    } else if connecting {
        Outcome::Connect
    } else {
        Outcome::Io
    }
}

/// Goose's reason for a failure it did not see itself, in its error table.
fn failure_tag(outcome: Outcome) -> String {
    match outcome {
        Outcome::BadStatus { status } => format!("flashcrowd: unexpected status {status}"),
        Outcome::CheckFailed { status } => format!("flashcrowd: JSON check failed ({status})"),
        other => format!("flashcrowd: {other:?}"),
    }
}

fn goose_method(m: &Method) -> Option<GooseMethod> {
    Some(match *m {
        Method::GET => GooseMethod::Get,
        Method::POST => GooseMethod::Post,
        Method::PUT => GooseMethod::Put,
        Method::PATCH => GooseMethod::Patch,
        Method::DELETE => GooseMethod::Delete,
        Method::HEAD => GooseMethod::Head,
        _ => return None,
    })
}
