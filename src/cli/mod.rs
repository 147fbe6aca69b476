//! The command line: flags, subcommands and the binary's edge.
//!
//! Owns argument parsing (clap), building the runtime, mapping errors to
//! exit codes and everything written to stdout/stderr. Each subcommand lives
//! in its own file and only wires library modules together; domain rules
//! belong in those modules, not here.

mod compare;
#[cfg(feature = "goose")]
mod crosscheck;
mod demo;
pub mod exit;
mod invariants;
mod k8s;
mod otel;
mod plan;
mod progress;
mod proxy;
mod report;
mod run;
mod validate;
mod values;
mod worker;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::builder::TypedValueParser;
use clap::{Args, Parser, Subcommand};

use crate::shutdown::Interrupts;
use values::{
    parse_addrs, parse_allowed, parse_demo_fault, parse_duration, parse_percent, parse_scale,
    SourceAddrs,
};

const AFTER_HELP: &str = "\
Exit codes:
  0    pass: every SLO held
  1    an SLO failed (compare: a metric regressed)
  2    invalid input (scenario file, flags, an unreadable report)
  3    inconclusive: zero samples, dropped iterations or a saturated generator
  4    the harness itself failed (cannot bind, cannot write the report)
  130  interrupted (Ctrl-C / SIGTERM); the report is written with partial: true

Quick start:
  flashcrowd run scenarios/quickstart.yaml
  flashcrowd plan scenarios/quickstart.yaml --scale 0.01";

const RUN_HELP: &str = "\
How it measures:
  Iterations start at their intended times from the load shape, whatever the
  target does (open model). Latency is measured from the intended start, so a
  stalling target is charged for the queue it causes. Iterations starting more
  than 10 ms late are counted as late; if more are waiting than the backlog
  holds, the rest are dropped and counted.

Verdict (exit 0 pass, 1 fail, 3 inconclusive):
  A scenario without `slos:` is judged by default objectives (per step:
  error_rate < 1% and ok > 0); `slos: []` only measures. An interrupted run,
  dropped arrivals, an SLO without samples, or a failure the generator's own
  lag could explain are inconclusive, never a pass. A lagging generator can
  only make latencies look worse, so objectives that hold despite its lag
  pass, with a warning.

Examples:
  flashcrowd run scenarios/quickstart.yaml
  flashcrowd run scenarios/quickstart.yaml --scale 3           # watch it break
  flashcrowd run gate.yaml --scale 0.01 --out reports/ci       # a CI gate
  flashcrowd run session.yaml --target http://staging:8080 --seed 7";

/// Rehearse the flash crowd before it arrives: replay a live-commerce
/// session's traffic bursts against a target and judge it by its SLOs.
#[derive(Debug, Parser)]
#[command(name = "flashcrowd", version, about, long_about = None, after_help = AFTER_HELP)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a scenario and print a verdict (exit 0 pass, 1 fail, 3 inconclusive).
    #[command(after_help = RUN_HELP)]
    Run(RunArgs),
    /// Check scenario files and report every problem at once (exit 2 if any).
    Validate {
        /// Scenario files (YAML).
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Print the resolved timeline of a scenario; sends nothing.
    Plan(PlanArgs),
    /// Run the embedded demo live-commerce platform until interrupted.
    #[command(after_help = DEMO_HELP)]
    Demo(DemoArgs),
    /// Run a Toxiproxy-compatible TCP chaos proxy until interrupted.
    #[command(after_help = PROXY_HELP)]
    Proxy(ProxyArgs),
    /// Join a distributed run as one worker (exit 0 done, 2 refused, 4 lost).
    Worker(WorkerArgs),
    /// Write a run's outputs again from its report.json; sends nothing.
    #[command(after_help = REPORT_HELP)]
    Report(ReportArgs),
    /// Compare a candidate run with a base run (exit 1 on a regression).
    #[command(after_help = COMPARE_HELP)]
    Compare(CompareArgs),
    /// Run a closed-model scenario with flashcrowd's engine and with Goose,
    /// and check that their latencies agree (exit 1 when they do not).
    #[command(after_help = CROSSCHECK_HELP)]
    Crosscheck(CrosscheckArgs),
    /// Kubernetes manifests for a distributed run (`k8s render`).
    K8s(k8s::K8sArgs),
}

#[derive(Debug, Args)]
struct WorkerArgs {
    /// Scenario file (YAML): the same bytes as the coordinator's.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// The coordinator's address (HOST:PORT).
    #[arg(long, value_name = "ADDR")]
    coordinator: String,
    /// This worker's index, from 0.
    #[arg(long, value_name = "I")]
    index: u32,
    /// How many workers the run has.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workers: u32,
    /// The region this worker runs in (shown in the report).
    #[arg(long, value_name = "NAME")]
    region: Option<String>,
    /// A host off this machine the worker may send to, HOST or HOST:PORT
    /// (repeatable; adds to the scenario's `allow_targets`). The target the
    /// coordinator hands out is checked against them before any request.
    #[arg(long = "allow-target", value_name = "HOST[:PORT]", value_parser = parse_allowed)]
    allow_targets: Vec<crate::safety::Allowed>,
    #[command(flatten)]
    tls: TlsFlags,
    #[command(flatten)]
    otlp: OtlpFlags,
}

/// How https:// and wss:// targets are verified (shared by `run` and
/// `worker`).
#[derive(Debug, Clone, Default, Args)]
struct TlsFlags {
    /// Also trust the CA certificates in this PEM file for https:// and
    /// wss:// targets (besides the bundled Mozilla roots).
    #[arg(long, value_name = "FILE.pem")]
    ca_file: Option<PathBuf>,
    /// Do not verify the target's TLS certificate. For test systems only;
    /// every report of the run says so.
    #[arg(long)]
    insecure: bool,
}

impl TlsFlags {
    fn options(&self) -> crate::engine::tls::TlsOptions {
        crate::engine::tls::TlsOptions {
            ca_file: self.ca_file.clone(),
            insecure: self.insecure,
        }
    }

    /// The same flags for a worker process this one starts (the CA file's
    /// path made absolute, since a worker may run elsewhere).
    fn worker_args(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(ca) = &self.ca_file {
            let ca = std::path::absolute(ca).unwrap_or_else(|_| ca.clone());
            out.push("--ca-file".to_owned());
            out.push(ca.display().to_string());
        }
        if self.insecure {
            out.push("--insecure".to_owned());
        }
        out
    }
}

/// Where OpenTelemetry exports go (shared by `run` and `worker`); the
/// scenario's `telemetry:` block says what is exported.
#[derive(Debug, Args, Clone, Default)]
struct OtlpFlags {
    /// Export metrics, spans and chaos events to this OpenTelemetry
    /// collector (OTLP base URL, e.g. http://localhost:4318); overrides
    /// OTEL_EXPORTER_OTLP_ENDPOINT. An unreachable collector is a warning.
    #[arg(long, value_name = "URL")]
    otlp: Option<String>,
    /// OTLP protocol: http/protobuf (default) or grpc; overrides
    /// OTEL_EXPORTER_OTLP_PROTOCOL.
    #[arg(long, value_name = "PROTO", value_parser = ["http/protobuf", "grpc"])]
    otlp_protocol: Option<String>,
}

const DEMO_HELP: &str = "\
Seeded faults (--fault NAME[=P]; default P in brackets). The first four each
break one business invariant for the checks to catch; the last two none:
  oversell-race       [1]     racing checkouts sell more than the stock
  duplicate-on-retry  [1]     a retry of a key that succeeded orders again
  lose-ack            [0.02]  an acknowledged order is never stored
  tracking-regress    [0.05]  a tracking read reports an earlier status
  error-after-commit  [0.05]  a placed order answers 500 (unknown outcome)
  payment-decline     [0.1]   payment is declined (402), stock given back

Examples:
  flashcrowd demo
  flashcrowd demo --fault oversell-race --fault lose-ack=0.05 --seed 7";

const REPORT_HELP: &str = "\
Outputs (in the run directory):
  json   report.json   the report itself (re-written byte for byte)
  html   report.html   a self-contained page with charts
  junit  junit.xml     one test case per SLO plus `schedule held`
  md     summary.md    a compact summary for a pull-request comment
  github (stdout)      GitHub Actions annotations: each failed objective
                       on its line of the scenario file in the pull request

Examples:
  flashcrowd report reports/20261122T015103Z-quickstart-3fa9
  flashcrowd report reports/ci --format junit,md";

const COMPARE_HELP: &str = "\
Steps are matched by (phase, step) and region rows by (phase, step, region).
Latency limits are relative rises (p99=10%: more than 10% slower regresses),
the error-rate limit is in absolute percentage points (error_rate=0.1pp:
0.5% to 0.61% regresses), the rps limit is a relative drop (rps=-5%).
Limits not given keep their defaults; `off` stops judging a metric.
  defaults: p50=20%,p99=10%,max=off,error_rate=0.1pp,rps=-5%

Runs of different scenario files (their sha256 differ) are refused with
exit 2: the same step name need not mean the same work. Pass
--allow-different-scenario to compare them anyway.

Exit codes: 0 no regression, 1 a regression, 2 invalid input (unreadable
report, different scenarios, bad --max-regression), 4 cannot write.

Examples:
  flashcrowd compare reports/last-good reports/ci
  flashcrowd compare base/ cand/ --max-regression p99=5%,error_rate=0.05pp";

#[derive(Debug, Args)]
struct ReportArgs {
    /// Run directory holding report.json.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Outputs to write (comma-separated: json, html, junit, md, github).
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = ALL_FORMATS)]
    format: Vec<crate::report::Format>,
}

#[derive(Debug, Args)]
struct CompareArgs {
    /// Run directory (or report.json) of the base run, e.g. the last good one.
    #[arg(value_name = "BASE_DIR")]
    base: PathBuf,
    /// Run directory (or report.json) of the candidate run.
    #[arg(value_name = "CANDIDATE_DIR")]
    candidate: PathBuf,
    /// Largest allowed change per metric, over the defaults
    /// (p50=20%,p99=10%,max=off,error_rate=0.1pp,rps=-5%).
    #[arg(
        long,
        value_name = "LIST",
        value_parser = |s: &str| crate::report::compare::Thresholds::parse(s).map_err(|e| e.to_string())
    )]
    max_regression: Option<crate::report::compare::Thresholds>,
    /// Compare runs of different scenario files (refused by default).
    #[arg(long)]
    allow_different_scenario: bool,
    /// Directory for compare.md and compare.html [default: the candidate's].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Do not print the comparison tables.
    #[arg(long, short)]
    quiet: bool,
}

const CROSSCHECK_HELP: &str = "\
Both engines replay the same closed-model scenario (`load: { users: N }`
phases, HTTP steps) against the same target, one after the other: first
flashcrowd's own, then Goose 0.19 (an embedded target is started afresh for
each, so both meet the same initial state). Per step, p50, p90 and p99 are
set side by side with their relative difference.

Two numbers agree when they differ by at most the tolerance (relative to the
larger of them) plus 0.88% for the precision of the histograms (Goose keeps
its times in buckets within 0.78%, flashcrowd's HDR histograms within 0.1%),
or by at most --floor, below which the two HTTP clients' own costs (tens of
microseconds) dominate. The tolerance stands for run-to-run noise.

Needs a build with the `goose` feature (cargo build --release --features goose).

Exit codes: 0 the engines agree, 1 they disagree, 2 invalid input (or a
scenario Goose cannot run), 3 a step without samples in one of the runs,
4 the harness failed, 130 interrupted.

Examples:
  flashcrowd crosscheck scenarios/crosscheck.yaml
  flashcrowd crosscheck shop.yaml --target http://staging:8080 --tolerance 5%";

#[derive(Debug, Args)]
struct CrosscheckArgs {
    /// Scenario file (YAML) with closed-model phases only.
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Send to this base URL instead of the scenario's target.
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    #[command(flatten)]
    reshape: Reshape,
    /// Directory for both runs' reports and crosscheck.md [default:
    /// reports/<run-id>/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Most connections of flashcrowd's engine (each Goose user has its own).
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// Run-to-run noise allowed at p50 and p90, relative to the larger value.
    #[arg(long, value_name = "PCT", default_value = "10%", value_parser = parse_percent)]
    tolerance: f64,
    /// Run-to-run noise allowed at p99: a p99 rests on 1% of the samples,
    /// so a few hiccups of the target in one run move it far.
    #[arg(long, value_name = "PCT", default_value = "50%", value_parser = parse_percent)]
    tail_tolerance: f64,
    /// Differences up to this always agree.
    #[arg(long, value_name = "D", default_value = "1ms", value_parser = parse_duration)]
    floor: Duration,
    /// Print only the comparison.
    #[arg(long, short)]
    quiet: bool,
    /// A host off this machine both runs may send to (repeatable; as for
    /// `run`).
    #[arg(long = "allow-target", value_name = "HOST[:PORT]", value_parser = parse_allowed)]
    allow_targets: Vec<crate::safety::Allowed>,
}

/// Which engine sends a run's requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
enum Engine {
    /// flashcrowd's own: open and closed models, WebSocket, regions,
    /// distributed runs.
    #[default]
    Flashcrowd,
    /// Goose 0.19: closed-model HTTP flows only, to cross-check
    /// flashcrowd's numbers (needs a build with the `goose` feature).
    Goose,
}

#[cfg(feature = "goose")]
impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Flashcrowd => "flashcrowd",
            Engine::Goose => "goose",
        }
    }
}

/// Every output format, the default of `run` and `report`.
const ALL_FORMATS: &str = "json,html,junit,md";

const PROXY_HELP: &str = "\
Any Toxiproxy v2 client can drive it (the API is the same). A non-loopback
--listen requires a token (--token or FLASHCROWD_PROXY_TOKEN), then sent as
`Authorization: Bearer TOKEN` on every request.

Examples:
  flashcrowd proxy
  flashcrowd proxy --config proxies.json --seed 7
  curl -X POST localhost:8474/proxies/shop/toxics \\
       -d '{\"type\":\"latency\",\"attributes\":{\"latency\":200}}'";

#[derive(Debug, Args)]
struct ProxyArgs {
    /// Address of the control API.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8474")]
    listen: std::net::SocketAddr,
    /// Seed of every random draw (toxicity, jitter, slice sizes): the same
    /// seed and traffic give the same faults.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// Bearer token every API request must carry (required off loopback).
    #[arg(long, value_name = "TOKEN")]
    token: Option<String>,
    /// Only these upstreams may be proxied (comma-separated HOST:PORT).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    allow_upstream: Option<Vec<String>>,
    /// Proxies to create at start: a JSON list as sent to /populate.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Threads moving bytes. One is cheapest per byte and plenty for most
    /// rehearsals; raise it when the proxy itself saturates a CPU.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 1,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1024)
    )]
    threads: usize,
}

/// Flags that reshape a scenario's timeline (shared by `run` and `plan`).
#[derive(Debug, Args, Clone)]
struct Reshape {
    /// Multiply every rate by F (e.g. 0.01 for a CI gate, 1 for the event).
    #[arg(long, value_name = "F", default_value_t = 1.0, value_parser = parse_scale)]
    scale: f64,
    /// Cut the whole timeline at D (e.g. 30s, 5m).
    #[arg(long, value_name = "D", value_parser = parse_duration)]
    duration: Option<Duration>,
    /// Replace the scenario's seed.
    #[arg(long, value_name = "N")]
    seed: Option<u64>,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// Scenario file (YAML).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    /// Send to this base URL instead of the scenario's target
    /// (e.g. http://staging.internal:8080).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    #[command(flatten)]
    reshape: Reshape,
    /// Directory for the outputs [default: reports/<run-id>/].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Outputs to write (comma-separated: json, html, junit, md, github;
    /// see `flashcrowd help report`).
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = ALL_FORMATS)]
    format: Vec<crate::report::Format>,
    /// Most connections (and requests in flight) at once.
    #[arg(long, value_name = "N", default_value_t = 256, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    connections: u32,
    /// Arrivals that may wait for a free connection; beyond that, new
    /// arrivals are dropped and counted (and the run is inconclusive).
    #[arg(long, value_name = "N", default_value_t = 100_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    backlog: u32,
    /// Local addresses WebSocket connections bind to, round-robin: a list
    /// (127.0.0.1,127.0.0.2) or an IPv4 range (127.0.0.1-127.0.0.8). Each
    /// address has its own ~28,000 ephemeral ports, so tens of thousands of
    /// viewers against one target need several.
    #[arg(long, value_name = "ADDRS", value_parser = parse_addrs)]
    source_addrs: Option<SourceAddrs>,
    /// Do not print the summary table.
    #[arg(long, short)]
    quiet: bool,
    /// Split the run over N worker processes (started here unless
    /// --remote-workers); one merged report.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    workers: Option<u32>,
    /// Where the coordinator listens for workers [default: 127.0.0.1:0 for
    /// local workers].
    #[arg(long, value_name = "ADDR")]
    coordinator_listen: Option<std::net::SocketAddr>,
    /// Do not start the workers: they join from elsewhere (`flashcrowd
    /// worker`, e.g. pods of a Kubernetes Indexed Job).
    #[arg(long, requires = "workers")]
    remote_workers: bool,
    /// The workers must all register within D, or the run aborts with
    /// nothing sent.
    #[arg(long, value_name = "D", default_value = "30s", value_parser = parse_duration)]
    barrier_timeout: Duration,
    /// Judge a run that lost workers by its SLOs instead of calling it
    /// inconclusive.
    #[arg(long)]
    allow_partial: bool,
    /// Run against an embedded demo platform with a seeded bug, NAME or
    /// NAME=P (repeatable), to watch the invariant checks catch it; the
    /// faults' dice follow the run's seed. Names: `flashcrowd help demo`.
    #[arg(long = "demo-fault", value_name = "NAME[=P]", value_parser = parse_demo_fault)]
    demo_faults: Vec<(crate::demo::FaultName, f64)>,
    /// A host off this machine the run may send to, HOST or HOST:PORT
    /// (repeatable; adds to the scenario's `allow_targets`). Anything not
    /// loopback and not allowed is refused before a socket opens.
    #[arg(long = "allow-target", value_name = "HOST[:PORT]", value_parser = parse_allowed)]
    allow_targets: Vec<crate::safety::Allowed>,
    /// Print the resolved plan (targets, rates, regions, chaos, invariants)
    /// and send nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    tls: TlsFlags,
    /// Engine that sends the requests: `flashcrowd` (its own) or `goose`
    /// (Goose 0.19, for closed-model HTTP flows: a second opinion on the
    /// same scenario; needs a build with the `goose` feature).
    #[arg(long, value_enum, value_name = "ENGINE", default_value_t = Engine::Flashcrowd)]
    engine: Engine,
    #[command(flatten)]
    otlp: OtlpFlags,
}

#[derive(Debug, Args)]
struct PlanArgs {
    /// Scenario file (YAML).
    #[arg(value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    reshape: Reshape,
    /// Also list the first N arrivals of every phase with their exact
    /// intended times and sequence numbers (same seed, same list).
    #[arg(long, value_name = "N", num_args = 0..=1, default_missing_value = "5")]
    explain: Option<usize>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
    /// Concurrent payment authorisations (checkout capacity ≈ slots / latency).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    payment_slots: usize,
    /// Time one payment authorisation takes.
    #[arg(long, value_name = "D", default_value = "2ms", value_parser = parse_duration)]
    payment_latency: Duration,
    /// Messages a live-room WebSocket viewer may fall behind before the
    /// slow-viewer policy applies (rounded up to a power of two).
    #[arg(
        long,
        value_name = "N",
        default_value_t = crate::demo::DEFAULT_WS_QUEUE,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new()
            .range(1..=crate::demo::MAX_WS_QUEUE as u64)
    )]
    ws_queue: usize,
    /// What happens to a live-room viewer that falls further behind: `lag`
    /// skips the oldest messages and tells it how many, `disconnect` closes
    /// its socket with code 1008.
    #[arg(
        long,
        value_name = "POLICY",
        default_value = "lag",
        value_parser = clap::builder::PossibleValuesParser::new(["lag", "disconnect"])
            .map(|s| crate::demo::SlowPolicy::parse(&s).unwrap_or_default())
    )]
    ws_slow_policy: crate::demo::SlowPolicy,
    /// WebSocket viewers the platform holds at once; one more is refused
    /// with 503.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..)
    )]
    ws_max_viewers: usize,
    /// Switch on a seeded fault so invariant checks have something to
    /// catch: NAME or NAME=P with P a probability (repeatable; the last
    /// value for a name wins). See `flashcrowd help demo` for the names.
    #[arg(long = "fault", value_name = "NAME[=P]", value_parser = parse_demo_fault)]
    faults: Vec<(crate::demo::FaultName, f64)>,
    /// Seed of the fault dice: the same seed and traffic fire the same
    /// faults.
    #[arg(long, value_name = "N", default_value_t = 0)]
    seed: u64,
    /// How long each order tracking status lasts before the next.
    #[arg(long, value_name = "D", default_value = "2s", value_parser = parse_duration)]
    tracking_step: Duration,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            // clap uses 2 for usage errors and 0 for --help/--version.
            return exit::code(if e.use_stderr() {
                exit::INVALID_INPUT
            } else {
                exit::PASS
            });
        }
    };
    init_tracing();
    // Every viewer session holds a connection; the usual soft limit of 1024
    // descriptors would cap a rehearsal long before the machine does.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => tracing::debug!(limit = n, "open file limit"),
        Err(e) => tracing::warn!("cannot raise the open file limit: {e}"),
    }
    match &cli.command {
        Command::Validate { files } => return exit::code(validate::run(files)),
        Command::Report(args) => return exit::code(report::run(&args.dir, &args.format)),
        Command::Compare(args) => return exit::code(compare::run(args)),
        _ => {}
    }
    let mut builder = match &cli.command {
        Command::Proxy(args) => proxy::runtime(args.threads),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return exit::code(exit::HARNESS_FAILURE);
        }
    };
    let code = runtime.block_on(async move {
        let interrupts = Interrupts::listen();
        let force = interrupts.force.clone();
        let work = async move {
            match cli.command {
                Command::Run(args) => run::run(args, interrupts).await,
                Command::Plan(args) => plan::run(&args),
                Command::Demo(args) => demo::run(args, interrupts).await,
                Command::Proxy(args) => proxy::run(args, interrupts).await,
                Command::Worker(args) => worker::run(args, interrupts).await,
                Command::K8s(args) => k8s::run(&args),
                #[cfg(feature = "goose")]
                Command::Crosscheck(args) => crosscheck::run(args, interrupts).await,
                #[cfg(not(feature = "goose"))]
                Command::Crosscheck(_) => {
                    eprintln!("error: crosscheck: {}", WITHOUT_GOOSE);
                    exit::INVALID_INPUT
                }
                Command::Validate { .. } | Command::Report(_) | Command::Compare(_) => exit::PASS,
            }
        };
        tokio::select! {
            code = work => code,
            _ = force.cancelled() => {
                eprintln!("\nflashcrowd: second interrupt, exiting now");
                exit::INTERRUPTED
            }
        }
    });
    // Whatever is still running after a forced exit is abandoned, not awaited.
    runtime.shutdown_timeout(Duration::from_millis(100));
    exit::code(code)
}

/// Why Goose is not there, and how to get it.
#[cfg(not(feature = "goose"))]
const WITHOUT_GOOSE: &str = "this flashcrowd was built without the Goose engine; \
    rebuild it with `cargo build --release --features goose`";

/// The harness's own log lines: to stderr, and to the OpenTelemetry
/// layer, which passes them on only while a run exports logs
/// (`telemetry: { logs: true }`).
fn init_tracing() {
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // Goose warns about every failed request on its own; the report counts
    // them, so only its errors are shown.
    let filter = tracing_subscriber::EnvFilter::try_from_env("FLASHCROWD_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,goose=error"));
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                // Colour codes only where a person reads them, not in CI logs.
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .with(crate::telemetry::logs::layer())
        .try_init();
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{Cli, Command};

    fn demo(args: &[&str]) -> Result<super::DemoArgs, clap::Error> {
        let argv = ["flashcrowd", "demo"].iter().chain(args);
        match Cli::try_parse_from(argv)?.command {
            Command::Demo(args) => Ok(args),
            other => panic!("not a demo: {other:?}"),
        }
    }

    #[test]
    fn demo_fault_flags_take_names_probabilities_seed_and_step() {
        use crate::demo::FaultName;
        let args = demo(&[
            "--fault",
            "oversell-race",
            "--fault",
            "lose-ack=0.5",
            "--seed",
            "7",
            "--tracking-step",
            "250ms",
        ])
        .unwrap();
        assert_eq!(
            args.faults,
            [(FaultName::OversellRace, 1.0), (FaultName::LoseAck, 0.5)]
        );
        assert_eq!(args.seed, 7);
        assert_eq!(args.tracking_step, std::time::Duration::from_millis(250));
        let plain = demo(&[]).unwrap();
        assert!(plain.faults.is_empty());
        assert_eq!(plain.seed, 0);
        assert_eq!(plain.tracking_step, std::time::Duration::from_secs(2));
    }

    #[test]
    fn demo_refuses_bad_fault_specs_with_usage_errors_naming_the_faults() {
        for bad in ["lost-ack", "lose-ack=2", "lose-ack=x", "=0.5"] {
            let err = demo(&["--fault", bad]).unwrap_err();
            assert!(err.use_stderr(), "{bad}");
            assert_eq!(err.kind(), clap::error::ErrorKind::ValueValidation);
            let shown = err.to_string();
            assert!(shown.contains(bad), "{shown}");
            if !bad.starts_with("lose-ack") {
                assert!(shown.contains(&crate::demo::fault_names()), "{shown}");
            }
        }
        assert!(demo(&["--tracking-step", "0s"]).is_err());
    }

    #[test]
    fn demo_help_lists_every_fault_with_its_default_probability() {
        for fault in crate::demo::FaultName::ALL {
            let p = format!("[{}]", fault.default_probability());
            let listed = super::DEMO_HELP
                .lines()
                .any(|l| l.trim_start().starts_with(fault.name()) && l.contains(&p));
            assert!(listed, "{fault} {p}");
        }
    }

    #[test]
    fn run_takes_source_addresses_as_one_value() {
        let cli = Cli::try_parse_from([
            "flashcrowd",
            "run",
            "x.yaml",
            "--source-addrs",
            "127.0.0.1-127.0.0.2",
        ])
        .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not a run");
        };
        assert_eq!(args.source_addrs.map(|a| a.0.len()), Some(2));
    }
}
