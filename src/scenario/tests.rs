//! Unit tests of the loader as a whole: the model it builds, feeders read
//! through an injected reader, and robustness against random input.

use std::path::Path;
use std::time::Duration;

use super::*;

const QUICKSTART: &str = include_str!("../../scenarios/quickstart.yaml");

fn no_files(_: &Path) -> Result<Vec<u8>, String> {
    Err("no such file".into())
}

fn diags(text: &str) -> Vec<Diagnostic> {
    match load_with(Path::new("t.yaml"), text, &mut no_files) {
        Err(LoadError::Invalid(d)) => d.0,
        other => panic!("expected diagnostics, got {other:?}"),
    }
}

#[test]
fn quickstart_builds_the_model() {
    let s = load_with(
        Path::new("scenarios/quickstart.yaml"),
        QUICKSTART,
        &mut no_files,
    )
    .unwrap();
    assert_eq!(s.name, "quickstart");
    assert_eq!(s.target, Target::Embedded);
    assert_eq!(s.seed, 42);
    assert_eq!(s.sha256.len(), 64);
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["browse", "chat", "link-drop"]);
    assert_eq!(s.phases[1].start, Duration::from_secs(5));
    assert_eq!(s.phases[2].start, Duration::from_secs(10));
    assert_eq!(s.timeline_end(), Duration::from_secs(25));
    assert_eq!(
        s.phases[0].load,
        Load::Open {
            shape: RateShape::Ramp {
                from: 50.0,
                to: 400.0
            },
            arrivals: ArrivalProcess::Uniform,
        }
    );
    assert_eq!(s.flows[s.phases[2].flow].name, "checkout");
    let checkout = &s.flows[s.phases[2].flow].steps[0];
    assert_eq!(checkout.http().unwrap().method, http::Method::POST);
    assert_eq!(
        checkout.http().unwrap().path.as_literal(),
        Some("/api/checkout")
    );
    assert_eq!(
        checkout.http().unwrap().expect.status,
        [(201, 201), (409, 409)]
    );
    assert_eq!(checkout.timeout, Duration::from_secs(5));
    let header_names: Vec<&str> = checkout
        .http()
        .unwrap()
        .headers
        .iter()
        .map(|(h, _)| h.as_str())
        .collect();
    assert_eq!(header_names, ["user-agent", "idempotency-key"]);
    assert!(matches!(checkout.http().unwrap().body, Some(Body::Json(_))));
    assert_eq!(s.slos.len(), 4);
    assert_eq!(s.demo.stock[0], ("drop-1".to_owned(), 5000));
    assert_eq!(s.demo.payment_slots, 8);
    assert_eq!(s.demo.payment_latency, Duration::from_millis(2));
}

#[test]
fn feeders_are_read_relative_to_the_scenario() {
    let text = "name: f\nfeeders:\n  users: { file: data/u.csv, order: random }\nphases:\n  - { name: p, duration: 1s, load: { rate: 1/s }, flow: f }\nflows:\n  f:\n    - get: \"/u/{{ users.id }}\"\n";
    let mut asked = Vec::new();
    let s = load_with(Path::new("dir/s.yaml"), text, &mut |p: &Path| {
        asked.push(p.to_path_buf());
        Ok(b"id,name\nu1,Ann\n".to_vec())
    })
    .unwrap();
    assert_eq!(asked, [Path::new("dir/data/u.csv")]);
    assert_eq!(s.feeders[0].order, feeder::FeedOrder::Random);
    assert_eq!(s.flows[0].steps[0].name, "f.0");

    let d = diags(&text.replace("users.id", "users.idd"));
    // The unreadable file is reported; the column is not (nothing to check against).
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!((d[0].line, d[0].col), (3, 18));
    assert_eq!(d[0].path, "feeders.users.file");
}

#[test]
fn every_problem_is_reported_in_file_order() {
    let d = diags("name: x\nphases:\n  - { name: a, duration: 0s, load: { rate: 0/s }, flow: nope }\nflows:\n  f:\n    - { get: nope, expect: 7xx, timeout: 5 }\nextra: 1\n");
    let got: Vec<(usize, usize, &str)> =
        d.iter().map(|d| (d.line, d.col, d.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (3, 26, "phases[0].duration"),
            (3, 44, "phases[0].load.rate"),
            (3, 57, "phases[0].flow"),
            (6, 14, "flows.f[0].get"),
            (6, 28, "flows.f[0].expect"),
            (6, 42, "flows.f[0].timeout"),
            (7, 1, "extra"),
        ]
    );
}

#[test]
fn demo_ws_settings_reach_the_model_and_bad_ones_are_located() {
    let base = "name: w\nphases:\n  - { name: p, duration: 1s, load: { rate: 1/s }, flow: f }\nflows:\n  f:\n    - get: /api/health\n";
    let s = load_with(Path::new("w.yaml"), base, &mut no_files).unwrap();
    assert_eq!(s.demo, DemoSettings::default());
    assert_eq!(
        (
            s.demo.ws_queue,
            s.demo.ws_slow_policy,
            s.demo.ws_max_viewers
        ),
        (1024, SlowViewers::Lag, 100_000)
    );
    let good =
        format!("{base}demo:\n  ws: {{ queue: 8, slow_policy: disconnect, max_viewers: 3 }}\n");
    let s = load_with(Path::new("w.yaml"), &good, &mut no_files).unwrap();
    assert_eq!(
        (
            s.demo.ws_queue,
            s.demo.ws_slow_policy,
            s.demo.ws_max_viewers
        ),
        (8, SlowViewers::Disconnect, 3)
    );
    let bad =
        format!("{base}demo:\n  ws: {{ queue: 0, slow_policy: drop, max_viewers: 0, size: 1 }}\n");
    let d = diags(&bad);
    let got: Vec<(usize, usize, &str)> =
        d.iter().map(|d| (d.line, d.col, d.path.as_str())).collect();
    assert_eq!(
        got,
        [
            (8, 16, "demo.ws.queue"),
            (8, 32, "demo.ws.slow_policy"),
            (8, 51, "demo.ws.max_viewers"),
            (8, 54, "demo.ws.size"),
        ]
    );
    assert_eq!(d[0].hint.as_deref(), Some("use 1 to 65536 messages"));
    assert_eq!(d[1].message, "unknown slow-viewer policy `drop`");
}

#[test]
fn unknown_fields_suggest_the_closest_known_one() {
    let d = diags("name: x\nphases: []\nflows: {}\nslo: []\n");
    let unknown = d.iter().find(|d| d.path == "slo").unwrap();
    assert_eq!(unknown.message, "unknown field `slo`");
    assert_eq!(unknown.hint.as_deref(), Some("did you mean `slos`?"));
    assert_eq!((unknown.line, unknown.col), (4, 1));
}

#[test]
fn a_flood_of_problems_is_cut_short_and_says_so() {
    let mut text = String::from("name: x\nphases: []\nflows: {}\n");
    for i in 0..150 {
        text.push_str(&format!("extra{i}: 1\n"));
    }
    let d = diags(&text);
    assert_eq!(d.len(), 101);
    assert_eq!(
        d[100].message,
        "stopped after 100 problems; 52 more are not shown"
    );
}

#[test]
fn too_large_text_is_refused_with_its_size() {
    let text = " ".repeat(MAX_FILE_BYTES as usize + 1);
    let err = load_str(Path::new("big.yaml"), &text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "big.yaml:1:1: the file is 4194305 bytes, and scenario files are limited to 4 MiB"
    );
}

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Mutate a byte string: flip, insert, delete, duplicate or splice.
fn mutate(g: &mut Gen, base: &[u8], tokens: &[&[u8]]) -> Vec<u8> {
    let mut v = base.to_vec();
    for _ in 0..1 + g.below(8) {
        if v.is_empty() {
            v.extend_from_slice(tokens[g.below(tokens.len())]);
            continue;
        }
        let at = g.below(v.len());
        match g.below(6) {
            0 => v[at] = g.next() as u8,
            1 => {
                let t = tokens[g.below(tokens.len())];
                v.splice(at..at, t.iter().copied());
            }
            2 => {
                let end = (at + g.below(40)).min(v.len());
                v.drain(at..end);
            }
            3 => {
                let end = (at + g.below(200)).min(v.len());
                let chunk = v[at..end].to_vec();
                let to = g.below(v.len());
                v.splice(to..to, chunk);
            }
            4 => v.truncate(at),
            _ => {
                let other = g.below(v.len());
                v.swap(at, other);
            }
        }
    }
    v
}

#[test]
fn random_and_mutated_input_never_panics() {
    let tokens: &[&[u8]] = &[
        b"{{",
        b"}}",
        b"{{ pick(",
        b"uuid()",
        b"\n  - ",
        b": ",
        b"&a ",
        b"*a",
        b"[",
        b"]",
        b"{",
        b"}",
        b"'",
        b"\"",
        b"\\",
        b"|\n",
        b">-\n",
        b"---\n",
        b"!!str ",
        b"? ",
        b"10 parsecs",
        b"..",
        b"/s",
        b"p99(",
        b"\t",
        b"\xc3\xa9",
        b"\xff",
        b"~",
        b"-1",
        b"99999999999999999999999",
        b"<<: *a\n",
        b"users.id",
        b"#",
        b"%",
        b"{ loop: { times: 2, steps: [",
        b"{ choose: [ { weight: 50%, steps: [",
        b"- think: ",
        b"{ mixture: [ { weight: 60%, exponential: 90s }",
        b"capture: { v: { regex: \"(a\" } }",
        b"{{ v }}",
    ];
    let bases: [&[u8]; 4] = [
        QUICKSTART.as_bytes(),
        b"name: f\nfeeders:\n  users: { file: u.csv }\nphases:\n  - { name: p, duration: 1s, load: { rate: 1/s }, flow: f }\nflows:\n  f:\n    - get: \"/u/{{ users.id }}\"\n      json: { a: [1, {b: \"{{ seq() }}\"}], c: ~ }\n      expect: { status: 2xx, json: { a[0]: 1, c: { exists: true } } }\nslos: [\"p99(f.0) < 1s\", \"error_rate(p/f.0) < 1%\"]\n",
        b"",
        br#"name: s
feeders:
  c: { file: c.json, order: unique }
phases:
  - { name: p, duration: 1m, load: { sessions: { join: { spike: { base: 1/s, peak: 9/s, half_life: 5s } }, arrivals: poisson, dwell: { mixture: [ { weight: 60%, exponential: 90s }, { weight: 0.4, uniform: [10m, 20m] } ] } } }, flow: f }
  - { name: q, duration: 1m, load: { users: 4 }, flow: f }
flows:
  f:
    - { name: view, get: /a, chance: 50% }
    - think: 2s .. 5s
    - { post: /b, capture: { v: { json: "a.b[0]" }, h: { header: Location }, r: { regex: 'o-(\d+)', group: 1 } } }
    - loop: { times: 6, every: 10s, steps: [ { get: "/o/{{ v }}/{{ r }}" }, { think: { exponential: 1s } } ] }
    - choose: [ { weight: 70%, steps: [ { get: "/c/{{ c.code }}" } ] }, { weight: 30%, steps: [] } ]
"#,
    ];
    let mut g = Gen(0x5EED_F00D_u64);
    let mut reader = |p: &Path| -> Result<Vec<u8>, String> {
        Ok(if p.extension().is_some_and(|e| e == "json") {
            br#"[{"code": "A"}, {"code": 2}]"#.to_vec()
        } else {
            b"id\n1\n2\n".to_vec()
        })
    };
    // The newest syntax is a base too; it must load as written.
    let newest = String::from_utf8_lossy(bases[3]);
    if let Err(e) = load_with(Path::new("fuzz.yaml"), &newest, &mut reader) {
        panic!("the base does not load:\n{e}");
    }
    for i in 0..4000 {
        let bytes = if i % 4 == 0 {
            // Pure noise from the token alphabet.
            let mut v = Vec::new();
            for _ in 0..g.below(60) {
                v.extend_from_slice(tokens[g.below(tokens.len())]);
                if g.below(3) == 0 {
                    v.push(b"ab1:- \n"[g.below(7)]);
                }
            }
            v
        } else {
            let base = bases[g.below(bases.len())];
            mutate(&mut g, base, tokens)
        };
        let text = String::from_utf8_lossy(&bytes);
        // Either outcome is fine; a panic fails the test.
        let _ = load_with(Path::new("fuzz.yaml"), &text, &mut reader);
    }
}

#[test]
fn every_load_shape_and_arrival_process_reaches_the_model() {
    let text = r#"
name: shapes
phases:
  - { name: ramp, duration: 10s, load: { rate: 50/s .. 400/s, arrivals: poisson }, flow: f }
  - { name: stairs, duration: 40s, load: { staircase: { from: 100/s, to: 400/s, steps: 4 } }, flow: f }
  - { name: spike, duration: 60s, load: { spike: { base: 100/s, peak: 2000/s, half_life: 10s } }, flow: f }
  - { name: fall, duration: 60s, load: { spike: { base: 100/s, peak: 900/s, decay_over: 30s } }, flow: f }
  - { name: day, duration: 24h, load: { wave: { mean: 300/min, amplitude: 200/min, period: 24h, offset: 6h } }, flow: f }
flows:
  f:
    - get: /a
"#;
    let s = load_with(Path::new("t.yaml"), text, &mut no_files).unwrap();
    let loads: Vec<&Load> = s.phases.iter().map(|p| &p.load).collect();
    let open = |shape, arrivals| Load::Open { shape, arrivals };
    use ArrivalProcess::{Poisson, Uniform};
    assert_eq!(
        *loads[0],
        open(
            RateShape::Ramp {
                from: 50.0,
                to: 400.0
            },
            Poisson
        )
    );
    assert_eq!(
        *loads[1],
        open(
            RateShape::Staircase {
                from: 100.0,
                to: 400.0,
                steps: 4
            },
            Uniform
        )
    );
    assert_eq!(
        *loads[2],
        open(
            RateShape::Spike {
                base: 100.0,
                peak: 2000.0,
                decay: Decay::Exponential {
                    half_life: Duration::from_secs(10)
                }
            },
            Uniform
        )
    );
    assert_eq!(
        *loads[3],
        open(
            RateShape::Spike {
                base: 100.0,
                peak: 900.0,
                decay: Decay::Linear {
                    over: Duration::from_secs(30)
                }
            },
            Uniform
        )
    );
    assert_eq!(
        *loads[4],
        open(
            RateShape::Wave {
                mean: 5.0,
                amplitude: 200.0 / 60.0,
                period: Duration::from_secs(86_400),
                offset: Duration::from_secs(21_600)
            },
            Uniform
        )
    );
}
