//! Fuzz targets for the scenario loader: arbitrary bytes, shipped
//! scenarios with random edits, and YAML trees built from the scenario
//! vocabulary.
//!
//! Owns the generators and the check that every diagnostic points inside
//! the text it came from. Must not assert any particular message: the
//! corpus in `tests/validate.rs` does that.

use std::path::Path;
use std::time::{Duration, Instant};

use flashcrowd::scenario::{self, Diagnostic, LoadError, MAX_FILE_BYTES};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::TestCaseError;

/// Where loads pretend the file lives, so relative references resolve to
/// the shipped data below.
const FILE: &str = "scenarios/fuzz.yaml";

/// Longest any generated input may take to load, even in a debug build on
/// a busy machine.
const SLOW: Duration = Duration::from_secs(2);

/// The valid scenarios random edits start from.
const BASES: [&str; 8] = [
    include_str!("../../scenarios/quickstart.yaml"),
    include_str!("../../scenarios/ci-release-gate.yaml"),
    include_str!("../../scenarios/comment-flood.yaml"),
    include_str!("../../scenarios/flash-sale-invariants.yaml"),
    include_str!("../../scenarios/flash-sale-link-drop.yaml"),
    include_str!("../../scenarios/live-mega-session.yaml"),
    include_str!("../../scenarios/sea-crossborder-evening.yaml"),
    include_str!("../../scenarios/tracking-refresh-storm.yaml"),
];

/// Serves referenced files from memory: the shipped buyers list and a tiny
/// JSON feeder; any other path does not exist. Fuzzed text may name any
/// path (`/dev/zero`, a fifo), and none of it may reach the disk.
fn memory_files(path: &Path) -> Result<Vec<u8>, String> {
    match path.to_str() {
        Some("scenarios/data/buyers.csv") => {
            Ok(include_bytes!("../../scenarios/data/buyers.csv").to_vec())
        }
        Some("scenarios/u.csv") => Ok(b"id,name\n1,a\n2,b\n".to_vec()),
        Some("scenarios/c.json") => Ok(br#"[{"code": "x"}, {"code": "y"}]"#.to_vec()),
        _ => Err("no such file".to_owned()),
    }
}

/// Load `text` and check that it either loads or is refused with located
/// diagnostics.
pub fn check_load(text: &str) -> Result<(), TestCaseError> {
    let start = Instant::now();
    let result = scenario::load_with(Path::new(FILE), text, &mut memory_files);
    // Inputs here are a few KiB and load in milliseconds; seconds would be
    // a pathological path (quadratic work, a runaway loop), not noise.
    prop_assert!(start.elapsed() < SLOW, "took {:?}", start.elapsed());
    match result {
        Ok(_) => Ok(()),
        Err(LoadError::Invalid(d)) => {
            prop_assert!(!d.is_empty(), "refused without a diagnostic");
            for diag in &d {
                check_located(text, diag)?;
            }
            Ok(())
        }
        Err(LoadError::TooLarge { .. }) => {
            prop_assert!(text.len() as u64 > MAX_FILE_BYTES);
            Ok(())
        }
        Err(e) => Err(TestCaseError::fail(format!("unexpected load error: {e}"))),
    }
}

/// A diagnostic's line and column lie inside `text`: line 1 to the number
/// of lines, column 1 to one past the line's last character. Lines end as
/// YAML ends them: `\n`, `\r\n` or a lone `\r`.
pub fn check_located(text: &str, d: &Diagnostic) -> Result<(), TestCaseError> {
    prop_assert!(d.line >= 1 && d.col >= 1, "not 1-based: {d}");
    let unix = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = unix.split('\n').collect();
    prop_assert!(d.line <= lines.len(), "line past the end: {d}");
    let width = lines[d.line - 1].chars().count();
    prop_assert!(d.col <= width + 1, "column past the line's end: {d}");
    prop_assert!(!d.message.is_empty(), "empty message: {d}");
    Ok(())
}

/// Fragments that change how YAML and the validator read a file.
const EDITS: &[&str] = &[
    "{{",
    "}}",
    "{{ pick(",
    "uuid()",
    "\n  - ",
    "\n",
    ": ",
    ":",
    "&a ",
    "*a",
    "*b",
    "[",
    "]",
    "{",
    "}",
    ",",
    "'",
    "\"",
    "\\",
    "|\n",
    ">-\n",
    "---\n",
    "...\n",
    "!!str ",
    "!x ",
    "? ",
    "<<: *a\n",
    "10 parsecs",
    "..",
    "/s",
    "/min",
    "%",
    "p99(",
    ")",
    "<",
    ">=",
    "\t",
    "\r",
    "\r\n",
    "é",
    "\u{feff}",
    "\u{2028}",
    "\0",
    "~",
    "-1",
    "0",
    "1e309",
    "-0.0",
    "NaN",
    "99999999999999999999999",
    "#",
    "@",
    "`",
    "users.id",
    "buyers.id",
    "int(1, 0)",
    "ledger: checkout\n",
    "retry: { on: timeout, max: 0 }\n",
    "invariants: [no_oversell]\n",
    "region: nowhere\n",
    "share: 120%\n",
    "profile: ./x.yaml\n",
    "ws: /ws\n",
    "send: {}\n",
    "recv: { type: comment }\n",
    "loop: { times: 0, steps: [] }\n",
    "choose: []\n",
    "think: 2s .. 1s\n",
    "at: link-drop+5s\n",
    "partition: sideways\n",
    "chaos: [{}]\n",
    "feeders: { u: { file: u.csv } }\n",
    "file: /dev/zero",
    "capture: { v: { regex: \"(\" } }",
];

/// Positions snapped to a character boundary, so edits keep text UTF-8.
fn boundary(text: &str, at: usize) -> usize {
    let mut i = at % (text.len() + 1);
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Debug, Clone)]
pub enum Edit {
    Insert(usize, &'static str),
    Delete(usize, usize),
    /// Swap the text at two positions' lines: moves a key to a wrong level.
    DuplicateLine(usize),
}

fn apply(base: &str, edits: &[Edit]) -> String {
    let mut text = base.to_owned();
    for e in edits {
        match *e {
            Edit::Insert(at, frag) => {
                let at = boundary(&text, at);
                text.insert_str(at, frag);
            }
            Edit::Delete(at, len) => {
                let a = boundary(&text, at);
                let b = boundary(&text, a.saturating_add(len % 64).min(text.len()));
                if a <= b {
                    text.replace_range(a..b, "");
                }
            }
            Edit::DuplicateLine(at) => {
                let at = boundary(&text, at);
                let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
                let end = text[at..].find('\n').map_or(text.len(), |i| at + i + 1);
                let line = text[start..end].to_owned();
                text.insert_str(start, &line);
            }
        }
    }
    text
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        4 => (any::<usize>(), select(EDITS)).prop_map(|(a, f)| Edit::Insert(a, f)),
        2 => (any::<usize>(), any::<usize>()).prop_map(|(a, n)| Edit::Delete(a, n)),
        1 => any::<usize>().prop_map(Edit::DuplicateLine),
    ]
}

/// A shipped scenario with up to eight random edits.
pub fn edited_scenario() -> impl Strategy<Value = String> {
    (0..BASES.len(), prop::collection::vec(edit(), 1..8))
        .prop_map(|(base, edits)| apply(BASES[base], &edits))
}

/// Arbitrary bytes, mostly short, sometimes built from YAML's own
/// punctuation so the parser gets past its first character.
pub fn scenario_bytes() -> impl Strategy<Value = Vec<u8>> {
    let punct = select(&b"-:[]{},&*!|>'\"#%@` \n\t\rab01.?~\\"[..]);
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(punct, 0..512),
    ]
}

// ---- YAML built from the scenario vocabulary ----

const KEYS: &[&str] = &[
    "name",
    "seed",
    "target",
    "vars",
    "feeders",
    "file",
    "order",
    "defaults",
    "demo",
    "stock",
    "payment",
    "slots",
    "latency",
    "phases",
    "at",
    "duration",
    "load",
    "rate",
    "arrivals",
    "users",
    "sessions",
    "join",
    "dwell",
    "mixture",
    "weight",
    "exponential",
    "uniform",
    "fixed",
    "staircase",
    "steps",
    "spike",
    "base",
    "peak",
    "half_life",
    "decay_over",
    "wave",
    "amplitude",
    "period",
    "offset",
    "flow",
    "flows",
    "get",
    "post",
    "put",
    "delete",
    "ws",
    "send",
    "recv",
    "close",
    "headers",
    "json",
    "body",
    "expect",
    "status",
    "capture",
    "regex",
    "group",
    "header",
    "think",
    "loop",
    "times",
    "every",
    "choose",
    "chance",
    "timeout",
    "retry",
    "on",
    "max",
    "same_key",
    "backoff",
    "ledger",
    "op",
    "sku",
    "key_header",
    "invariants",
    "check",
    "settle",
    "inventory",
    "orders",
    "comments",
    "room",
    "tracking_order",
    "track",
    "regions",
    "share",
    "profile",
    "default",
    "upstream",
    "downstream",
    "jitter",
    "loss",
    "bandwidth",
    "degraded",
    "chaos",
    "region",
    "for",
    "partition",
    "degrade",
    "ramp",
    "flap",
    "off",
    "toxic",
    "type",
    "attributes",
    "stream",
    "toxicity",
    "backend",
    "toxiproxy",
    "ttl",
    "events",
    "direction",
    "slos",
    "reconnect",
    "read_delay",
    "about",
    "timout",
    "phase",
    "<<",
    "",
];

const SCALARS: &[&str] = &[
    "x",
    "checkout",
    "browse",
    "main",
    "eu",
    "sea",
    "all",
    "embedded",
    "0",
    "1",
    "-1",
    "42",
    "3.5",
    "1e309",
    "99999999999999999999",
    "true",
    "false",
    "~",
    "null",
    "''",
    "\"\"",
    "10s",
    "1m30s",
    "500ms",
    "1.5s",
    "0s",
    "-5s",
    "10",
    "10 parsecs",
    "2h 30m",
    "100/s",
    "0/s",
    "50/s .. 400/s",
    "400/s .. 50/s",
    "1200/min",
    "300",
    "fast",
    "70%",
    "0%",
    "100%",
    "120%",
    "-5%",
    "0.4",
    "2xx",
    "201",
    "999",
    "poisson",
    "bursty",
    "random",
    "unique",
    "sequential",
    "refuse",
    "blackhole",
    "half-open",
    "sideways",
    "timeout",
    "connect",
    "5xx",
    "no_oversell",
    "accounting",
    "idempotent",
    "no_lost_ack",
    "monotonic_tracking",
    "exactly_once_comments",
    "\"/api/products/{{ pick(skus) }}\"",
    "\"/p/{{ seq() }}\"",
    "\"{{ uid() }}\"",
    "\"{{ int(5, 1) }}\"",
    "\"{{\"",
    "\"{{ }}\"",
    "\"{{ u.id }}\"",
    "\"{{ v }}\"",
    "\"p99(checkout) < 250ms\"",
    "\"p99(x) <\"",
    "\"error_rate(*) < 1%\"",
    "\"fanout_p99(comment) < 2s\"",
    "\"p99(checkout, region=eu) < 1s\"",
    "u.csv",
    "c.json",
    "missing.csv",
    "sea-mobile",
    "./x.yaml",
    "link-drop+5s",
    "flash-sale",
    "\"(a\"",
    "'o-(\\d+)'",
    "*a",
    "&a x",
    "!!int 3",
    "[]",
    "{}",
    "[1, 2",
    "{a: 1",
];

/// A YAML node to render.
#[derive(Debug, Clone)]
pub enum Y {
    Scalar(&'static str),
    Seq(Vec<Y>, bool),
    Map(Vec<(&'static str, Y)>, bool),
}

fn node() -> impl Strategy<Value = Y> {
    let leaf = select(SCALARS).prop_map(Y::Scalar);
    leaf.prop_recursive(6, 96, 6, |inner| {
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..5), any::<bool>())
                .prop_map(|(v, f)| Y::Seq(v, f)),
            (
                prop::collection::vec((select(KEYS), inner), 0..6),
                any::<bool>()
            )
                .prop_map(|(v, f)| Y::Map(v, f)),
        ]
    })
}

/// A document whose top level is a map of scenario keys.
pub fn vocabulary_yaml() -> impl Strategy<Value = String> {
    prop::collection::vec((select(KEYS), node()), 0..10).prop_map(|top| {
        let mut out = String::new();
        render(&Y::Map(top, false), 0, &mut out);
        out
    })
}

fn render(y: &Y, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match y {
        Y::Scalar(s) => {
            out.push_str(&pad);
            out.push_str(s);
            out.push('\n');
        }
        Y::Seq(_, true) | Y::Map(_, true) if flow_ok(y) => {
            out.push_str(&pad);
            render_flow(y, out);
            out.push('\n');
        }
        Y::Seq(items, _) => {
            if items.is_empty() {
                out.push_str(&pad);
                out.push_str("[]\n");
            }
            for item in items {
                out.push_str(&pad);
                out.push('-');
                match item {
                    Y::Scalar(s) => {
                        out.push(' ');
                        out.push_str(s);
                        out.push('\n');
                    }
                    _ => {
                        out.push('\n');
                        render(item, indent + 2, out);
                    }
                }
            }
        }
        Y::Map(entries, _) => {
            if entries.is_empty() {
                out.push_str(&pad);
                out.push_str("{}\n");
            }
            for (k, v) in entries {
                out.push_str(&pad);
                out.push_str(k);
                out.push(':');
                match v {
                    Y::Scalar(s) => {
                        out.push(' ');
                        out.push_str(s);
                        out.push('\n');
                    }
                    _ => {
                        out.push('\n');
                        render(v, indent + 2, out);
                    }
                }
            }
        }
    }
}

/// Flow style only where the node is small enough to read on one line.
fn flow_ok(y: &Y) -> bool {
    match y {
        Y::Scalar(_) => true,
        Y::Seq(v, _) => v.len() <= 4 && v.iter().all(flow_ok),
        Y::Map(v, _) => v.len() <= 4 && v.iter().all(|(_, n)| flow_ok(n)),
    }
}

fn render_flow(y: &Y, out: &mut String) {
    match y {
        Y::Scalar(s) => out.push_str(s),
        Y::Seq(items, _) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                render_flow(item, out);
            }
            out.push(']');
        }
        Y::Map(entries, _) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(k);
                out.push_str(": ");
                render_flow(v, out);
            }
            out.push('}');
        }
    }
}
