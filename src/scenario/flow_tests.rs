//! Unit tests of the newer scenario syntax, through the whole loader:
//! closed-model loads, time distributions, flow programs (funnels, think,
//! loops, branches), captures and session variables.

use std::path::Path;
use std::time::Duration;

use rand::SeedableRng;
use rand_pcg::Pcg64Mcg;

use super::template::RenderCtx;
use super::*;

fn no_files(_: &Path) -> Result<Vec<u8>, String> {
    Err("no such file".into())
}

fn load(text: &str) -> Scenario {
    match load_with(Path::new("t.yaml"), text, &mut no_files) {
        Ok(s) => s,
        Err(e) => panic!("expected a scenario, got:\n{e}"),
    }
}

fn diags(text: &str) -> Vec<Diagnostic> {
    match load_with(Path::new("t.yaml"), text, &mut no_files) {
        Err(LoadError::Invalid(d)) => d.0,
        other => panic!("expected diagnostics, got {other:?}"),
    }
}

/// (line, col, path, message) of each diagnostic, for exact comparisons.
fn located(d: &[Diagnostic]) -> Vec<(usize, usize, &str, &str)> {
    d.iter()
        .map(|d| (d.line, d.col, d.path.as_str(), d.message.as_str()))
        .collect()
}

/// A scenario with one phase of `load` running flow `f` made of `items`
/// (YAML list items, indented by four).
fn with_load(load: &str) -> String {
    format!("name: t\nphases:\n  - name: p\n    duration: 1m\n    load: {load}\n    flow: f\nflows:\n  f:\n    - get: /a\n")
}

fn with_flow(items: &str) -> String {
    format!("name: t\nvars:\n  room: main\nphases:\n  - {{ name: p, duration: 1m, load: {{ rate: 1/s }}, flow: f }}\nflows:\n  f:\n{items}")
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn req(step: usize, chance: f64) -> Action {
    Action::Request { step, chance }
}

#[test]
fn users_and_sessions_loads_reach_the_model() {
    let s = load(&with_load("{ users: 64 }"));
    assert_eq!(s.phases[0].load, Load::Users { count: 64 });

    let s = load(&with_load("{ sessions: { join: 50/s, dwell: 5m } }"));
    assert_eq!(
        s.phases[0].load,
        Load::Sessions {
            join: RateShape::Constant { per_sec: 50.0 },
            arrivals: ArrivalProcess::Uniform,
            dwell: Some(Dist::Fixed(secs(300))),
        }
    );

    let s = load(&with_load(
        "{ sessions: { join: 10/s .. 200/s, arrivals: poisson } }",
    ));
    assert_eq!(
        s.phases[0].load,
        Load::Sessions {
            join: RateShape::Ramp {
                from: 10.0,
                to: 200.0
            },
            arrivals: ArrivalProcess::Poisson,
            dwell: None,
        }
    );

    let s = load(&with_load(
        "{ sessions: { join: { spike: { base: 50/s, peak: 500/s, half_life: 20s } }, dwell: { exponential: 90s } } }",
    ));
    assert_eq!(
        s.phases[0].load,
        Load::Sessions {
            join: RateShape::Spike {
                base: 50.0,
                peak: 500.0,
                decay: Decay::Exponential {
                    half_life: secs(20)
                }
            },
            arrivals: ArrivalProcess::Uniform,
            dwell: Some(Dist::Exponential { mean: secs(90) }),
        }
    );

    for join in [
        "{ staircase: { from: 10/s, to: 40/s, steps: 4 } }",
        "{ wave: { mean: 30/s, amplitude: 10/s, period: 1m } }",
        "{ rate: 5/s }",
    ] {
        let s = load(&with_load(&format!("{{ sessions: {{ join: {join} }} }}")));
        assert!(
            matches!(s.phases[0].load, Load::Sessions { dwell: None, .. }),
            "{join}"
        );
    }
}

#[test]
fn closed_load_mistakes_are_reported_where_they_are() {
    let d = diags(&with_load("{ users: 0 }"));
    assert_eq!(
        d[0].message,
        "a population has between 1 and 1000000 users, found 0"
    );
    assert_eq!(
        (d[0].line, d[0].col, d[0].path.as_str()),
        (5, 20, "phases[0].load.users")
    );

    let d = diags(&with_load("{ users: 2000000 }"));
    assert_eq!(d.len(), 1);

    let d = diags(&with_load("{ rate: 5/s, users: 3 }"));
    assert_eq!(d[0].message, "a load has one shape, found rate and users");
    assert!(d[0].hint.as_deref().unwrap().contains("sessions: { join"));

    let d = diags(&with_load("{ users: 3, arrivals: poisson }"));
    assert!(d[0].message.contains("no meaning for `users`"), "{d:?}");

    let d = diags(&with_load("{ sessions: { join: 5/s }, arrivals: poisson }"));
    assert_eq!(d[0].path, "phases[0].load.arrivals");
    assert!(d[0].message.contains("inside `sessions:`"));

    let d = diags(&with_load("{ sessions: { dwell: 5m } }"));
    assert_eq!(d[0].message, "missing required field `join`");

    let d = diags(&with_load("{ sessions: { join: 0/s } }"));
    assert_eq!(d[0].path, "phases[0].load.sessions.join");
    assert!(d[0].message.contains("no session would ever join"));

    let d = diags(&with_load("{ sessions: { join: 5/s, dwell: 0s } }"));
    assert!(d[0].message.contains("dwell time of zero"));

    let d = diags(&with_load(
        "{ sessions: { join: { rate: 5/s, spike: { base: 1/s, peak: 2/s, half_life: 1s } } } }",
    ));
    assert_eq!(d[0].path, "phases[0].load.sessions.join.spike");
    assert_eq!(
        d[0].message,
        "a join rate has one curve, found rate and spike"
    );
}

/// The distribution a `think` item builds.
fn think(dist: &str) -> Dist {
    let s = load(&with_flow(&format!("    - get: /a\n    - think: {dist}\n")));
    match &s.flows[0].program[1] {
        Action::Think(d) => d.clone(),
        other => panic!("expected think, got {other:?}"),
    }
}

#[test]
fn every_distribution_form_builds_its_dist() {
    assert_eq!(think("2s"), Dist::Fixed(secs(2)));
    assert_eq!(
        think("2s .. 5s"),
        Dist::Uniform {
            min: secs(2),
            max: secs(5)
        }
    );
    assert_eq!(think("{ fixed: 1m }"), Dist::Fixed(secs(60)));
    assert_eq!(
        think("{ uniform: [1s, 3s] }"),
        Dist::Uniform {
            min: secs(1),
            max: secs(3)
        }
    );
    assert_eq!(
        think("{ uniform: 500ms .. 1s }"),
        Dist::Uniform {
            min: Duration::from_millis(500),
            max: secs(1)
        }
    );
    assert_eq!(
        think("{ exponential: 90s }"),
        Dist::Exponential { mean: secs(90) }
    );
    assert_eq!(
        think(
            "{ mixture: [ { weight: 60%, exponential: 90s }, { weight: 40%, exponential: 15m } ] }"
        ),
        Dist::Mixture(vec![
            (0.6, Dist::Exponential { mean: secs(90) }),
            (0.4, Dist::Exponential { mean: secs(900) }),
        ])
    );
    assert_eq!(
        think("{ mixture: [ { weight: 0.6, fixed: 1s }, { weight: 0.4, uniform: [10m, 20m] } ] }"),
        Dist::Mixture(vec![
            (0.6, Dist::Fixed(secs(1))),
            (
                0.4,
                Dist::Uniform {
                    min: secs(600),
                    max: secs(1200)
                }
            ),
        ])
    );
}

#[test]
fn mixture_weights_within_a_tenth_of_a_percent_are_normalised() {
    let Dist::Mixture(parts) = think(
        "{ mixture: [ { weight: 33.3%, fixed: 1s }, { weight: 33.3%, fixed: 2s }, { weight: 33.35%, fixed: 3s } ] }",
    ) else {
        panic!("expected a mixture");
    };
    let sum: f64 = parts.iter().map(|(w, _)| w).sum();
    assert!((sum - 1.0).abs() < 1e-12, "{sum}");
    assert!((parts[0].0 - 0.333 / 0.9995).abs() < 1e-12);
}

#[test]
fn distribution_mistakes_are_explained() {
    let cases = [
        (
            "5s .. 2s",
            "flows.f[1].think",
            "the range `5s .. 2s` runs backwards",
        ),
        (
            "2s .. 5 parsecs",
            "flows.f[1].think",
            "unknown duration unit \"parsecs\"",
        ),
        (
            "{ exponential: 0s }",
            "flows.f[1].think.exponential",
            "must be longer than zero",
        ),
        (
            "{ uniform: [1s] }",
            "flows.f[1].think.uniform",
            "a uniform range has two ends, found 1 values",
        ),
        (
            "{ gaussian: 2s }",
            "flows.f[1].think.gaussian",
            "unknown field `gaussian`",
        ),
        (
            "{ fixed: 1s, exponential: 2s }",
            "flows.f[1].think.exponential",
            "a distribution has one form, found `fixed` and `exponential`",
        ),
        (
            "{ mixture: [ { weight: 60%, fixed: 1s }, { weight: 30%, fixed: 2s } ] }",
            "flows.f[1].think.mixture",
            "the weights add up to 90%, not 100%",
        ),
        (
            "{ mixture: [ { weight: 60%, fixed: 1s }, { weight: 40%, mixture: [] } ] }",
            "flows.f[1].think.mixture[1].mixture",
            "a mixture component can't be a mixture itself",
        ),
        (
            "{ mixture: [ { fixed: 1s } ] }",
            "flows.f[1].think.mixture[0].weight",
            "missing required field `weight`",
        ),
        (
            "{ mixture: [ { weight: 140%, fixed: 1s } ] }",
            "flows.f[1].think.mixture[0].weight",
            "`140%` is more than 100%",
        ),
        (
            "[1s, 2s]",
            "flows.f[1].think",
            "expected a duration or a distribution, found a list",
        ),
    ];
    for (dist, path, message) in cases {
        let d = diags(&with_flow(&format!("    - get: /a\n    - think: {dist}\n")));
        assert_eq!(d.len(), 1, "{dist}: {d:?}");
        assert_eq!(
            (d[0].path.as_str(), d[0].message.as_str()),
            (path, message),
            "{dist}"
        );
    }
    // Inside the range, the bad end is pointed at.
    let d = diags(&with_flow("    - get: /a\n    - think: 2s .. 5 parsecs\n"));
    assert_eq!((d[0].line, d[0].col), (9, 22));
}

const FUNNEL: &str = r#"    - { name: view, get: /api/products/sku-1 }
    - think: 2s .. 5s
    - { name: cart, chance: 15%, post: /api/cart, json: { sku: sku-1, qty: 1, user: u1 } }
    - name: checkout
      chance: 0.39
      post: /api/checkout
      json: { sku: sku-1, qty: 1, user: u1 }
      capture: { order_id: { json: order_id }, where: { header: Location } }
    - loop:
        times: 6
        every: 10s
        steps:
          - get: "/api/orders/{{ order_id }}/tracking"
          - think: { exponential: 1s }
    - choose:
        - { weight: 70%, steps: [ { name: again, get: "/api/orders/{{ order_id }}" } ] }
        - { weight: 30%, steps: [] }
    - loop: { steps: [ { get: "/api/orders?after={{ where }}", capture: { order_id: { regex: 'o-\d+' } } } ] }
"#;

#[test]
fn a_flow_program_keeps_its_structure_and_numbers_steps_in_file_order() {
    let s = load(&with_flow(FUNNEL));
    let f = &s.flows[0];
    let names: Vec<&str> = f.steps.iter().map(|s| s.name.as_str()).collect();
    // Default names count request steps only, wherever they are.
    assert_eq!(names, ["view", "cart", "checkout", "f.3", "again", "f.5"]);
    assert_eq!(f.vars, ["order_id", "where"]);
    assert_eq!(
        f.program,
        vec![
            req(0, 1.0),
            Action::Think(Dist::Uniform {
                min: secs(2),
                max: secs(5)
            }),
            req(1, 0.15),
            req(2, 0.39),
            Action::Loop {
                times: Some(6),
                every: Some(secs(10)),
                body: vec![
                    req(3, 1.0),
                    Action::Think(Dist::Exponential { mean: secs(1) })
                ],
            },
            Action::Choose(vec![(0.7, vec![req(4, 1.0)]), (0.3, vec![])]),
            Action::Loop {
                times: None,
                every: None,
                body: vec![req(5, 1.0)],
            },
        ]
    );
    let checkout = &f.steps[2];
    assert_eq!(checkout.http().unwrap().captures.len(), 2);
    assert_eq!(checkout.http().unwrap().captures[0].var, 0);
    assert!(matches!(
        &checkout.http().unwrap().captures[0].from,
        CaptureFrom::Json(p) if *p == [JsonPathSeg::Key("order_id".into())]
    ));
    assert_eq!(checkout.http().unwrap().captures[1].var, 1);
    assert!(matches!(
        &checkout.http().unwrap().captures[1].from,
        CaptureFrom::Header(h) if h == "location"
    ));
    // The same variable, captured again later; no group → the whole match.
    let last = &f.steps[5].http().unwrap().captures[0];
    assert_eq!(last.var, 0);
    assert!(matches!(&last.from, CaptureFrom::Regex { group: 0, .. }));
    // Templates read the session slots they name.
    assert_eq!(
        f.steps[3]
            .http()
            .unwrap()
            .path
            .session_slots()
            .collect::<Vec<_>>(),
        [0]
    );
    assert_eq!(
        f.steps[5]
            .http()
            .unwrap()
            .path
            .session_slots()
            .collect::<Vec<_>>(),
        [1]
    );
}

#[test]
fn captured_values_render_and_missing_ones_are_counted() {
    let s = load(&with_flow(FUNNEL));
    let tracking = &s.flows[0].steps[3].http().unwrap().path;
    let mut rng = Pcg64Mcg::seed_from_u64(1);
    let session = [Some("o-17".to_owned()), None];
    let mut ctx = RenderCtx {
        seq: 0,
        iter_seed: 1,
        rng: &mut rng,
        feeders: &s.feeders,
        session: &session,
        unresolved: 0,
    };
    let mut out = String::new();
    tracking.render(&mut ctx, &mut out);
    assert_eq!(out, "/api/orders/o-17/tracking");
    assert_eq!(ctx.unresolved, 0);
    out.clear();
    s.flows[0].steps[5]
        .http()
        .unwrap()
        .path
        .render(&mut ctx, &mut out);
    assert_eq!((out.as_str(), ctx.unresolved), ("/api/orders?after=", 1));
}

#[test]
fn regex_groups_default_to_the_first_and_can_be_named() {
    let s = load(&with_flow(
        r#"    - post: /a
      capture:
        a: { regex: 'o-(\d+)' }
        b: { regex: '(?P<num>\d+)-(?P<rest>.*)', group: rest }
        c: { regex: '(\d+)-(\d+)', group: 2 }
"#,
    ));
    let groups: Vec<usize> = s.flows[0].steps[0]
        .http()
        .unwrap()
        .captures
        .iter()
        .map(|c| match &c.from {
            CaptureFrom::Regex { group, .. } => *group,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(groups, [1, 2, 2]);
    assert_eq!(s.flows[0].vars, ["a", "b", "c"]);
}

#[test]
fn capture_and_session_variable_mistakes_are_reported() {
    let text = with_flow(
        r#"    - post: /a
      capture:
        room: { json: id }
        bad: { regex: "o-(\\d+" }
        grp: { regex: 'o-(\d+)', group: 2 }
        two: { json: id, header: Location }
        hdr: { header: "Bad Header" }
        path: { json: "a..b" }
        g: { json: id, group: 1 }
    - get: "/api/orders/{{ order_idd }}/{{ grp }}"
"#,
    );
    let d = diags(&text);
    let got = located(&d);
    assert_eq!(
        got,
        [
            (
                10,
                9,
                "flows.f[0].capture.room",
                "`room` is both a scenario variable and a capture"
            ),
            (
                11,
                26,
                "flows.f[0].capture.bad.regex",
                "invalid regular expression: unclosed group"
            ),
            (
                12,
                41,
                "flows.f[0].capture.grp.group",
                "the pattern has no group `2`"
            ),
            (
                13,
                34,
                "flows.f[0].capture.two.header",
                "a capture has one source, found `json` and `header`"
            ),
            (
                14,
                24,
                "flows.f[0].capture.hdr.header",
                "`Bad Header` is not a valid header name"
            ),
            (
                15,
                23,
                "flows.f[0].capture.path.json",
                "`a..b` has an empty segment"
            ),
            (
                16,
                31,
                "flows.f[0].capture.g.group",
                "`group` goes with `regex`"
            ),
            (17, 28, "flows.f[1].get", "unknown variable `order_idd`"),
        ]
    );
    assert_eq!(
        d[2].hint.as_deref(),
        Some("the pattern has one group: 1 (0 is the whole match)")
    );
    assert_eq!(
        d[7].hint.as_deref(),
        Some("define it under `vars:`, or take it from a response with a step's `capture:`")
    );

    // A session variable nobody captures is unknown; a near miss is suggested.
    let d = diags(&with_flow(
        "    - { post: /a, capture: { order_id: { json: id } } }\n    - get: \"/o/{{ order_ud }}\"\n",
    ));
    assert_eq!(d[0].message, "unknown variable `order_ud`");
    assert_eq!(d[0].hint.as_deref(), Some("did you mean `order_id`?"));
    // Session variables belong to their flow.
    let d = diags("name: t\nphases:\n  - { name: p, duration: 1s, load: { rate: 1/s }, flow: g }\nflows:\n  f:\n    - { post: /a, capture: { id: { json: id } } }\n  g:\n    - get: \"/o/{{ id }}\"\n");
    assert_eq!(d[0].path, "flows.g[0].get");
    assert_eq!(d[0].message, "unknown variable `id`");
}

#[test]
fn program_mistakes_carry_nested_paths() {
    let text = with_flow(
        r#"    - get: /a
    - loop:
        times: 0
        steps:
          - { gett: /b }
    - choose:
        - { weight: 70%, steps: [ { get: /c, chance: 0% } ] }
        - { weight: 20%, steps: [] }
    - { think: 1s, get: /d }
    - loop: { every: 10s }
      steps: []
    - { loop: { steps: [] }, choose: [] }
"#,
    );
    let d = diags(&text);
    let got = located(&d);
    assert_eq!(
        got,
        [
            (
                10,
                16,
                "flows.f[1].loop.times",
                "a loop runs between 1 and 1000000 times, found 0"
            ),
            (
                12,
                13,
                "flows.f[1].loop.steps[0]",
                "a step needs a method and a path"
            ),
            (
                12,
                15,
                "flows.f[1].loop.steps[0].gett",
                "unknown field `gett`"
            ),
            (
                14,
                9,
                "flows.f[2].choose",
                "the weights add up to 90%, not 100%"
            ),
            (
                14,
                54,
                "flows.f[2].choose[0].steps[0].chance",
                "`0%` is not above zero"
            ),
            (
                16,
                20,
                "flows.f[3].get",
                "`get` belongs to a request step, not to a `think` item"
            ),
            (
                17,
                13,
                "flows.f[4].loop.steps",
                "missing required field `steps`"
            ),
            (18, 7, "flows.f[4].steps", "`steps` goes inside `loop:`"),
            (
                19,
                38,
                "flows.f[5].choose",
                "an item is one of `think`, `loop` or `choose`, found `loop` and `choose`"
            ),
        ]
    );
    assert_eq!(d[2].hint.as_deref(), Some("did you mean `get`?"));
}

#[test]
fn nesting_is_capped() {
    let mut items = String::from("    - get: /a\n");
    let mut value = String::from("[ { get: /deep } ]");
    for _ in 0..17 {
        value = format!("[ {{ loop: {{ times: 2, steps: {value} }} }} ]");
    }
    items.push_str(&format!("    - loop: {{ times: 2, steps: {value} }}\n"));
    let d = diags(&with_flow(&items));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].message, "loops and choices nest at most 16 deep");
    // Sixteen levels are fine.
    let mut value = String::from("[ { get: /deep } ]");
    for _ in 0..15 {
        value = format!("[ {{ loop: {{ times: 2, steps: {value} }} }} ]");
    }
    let s = load(&with_flow(&format!(
        "    - loop: {{ times: 2, steps: {value} }}\n"
    )));
    assert_eq!(s.flows[0].steps.len(), 1);
}

#[test]
fn a_flow_without_requests_is_refused() {
    let d = diags(&with_flow("    - think: 2s\n"));
    assert_eq!(d[0].message, "the flow makes no requests");
    assert_eq!(d[0].path, "flows.f");
}

#[test]
fn duplicate_step_names_are_found_inside_loops_and_branches() {
    let d = diags(&with_flow(
        "    - { name: x, get: /a }\n    - loop: { times: 2, steps: [ { name: x, get: /b } ] }\n",
    ));
    assert_eq!(d[0].path, "flows.f[1].loop.steps[0].name");
    assert_eq!(d[0].message, "duplicate step name `x`");
}

#[test]
fn json_feeders_are_chosen_by_extension_and_unique_order_is_read() {
    let text = "name: f\nfeeders:\n  coupons: { file: data/coupons.JSON, order: unique }\n  buyers: { file: data/b.csv }\nphases:\n  - { name: p, duration: 1s, load: { rate: 1/s }, flow: f }\nflows:\n  f:\n    - get: \"/c/{{ coupons.code }}/{{ buyers.id }}\"\n";
    let s = load_with(Path::new("s.yaml"), text, &mut |p: &Path| {
        Ok(if p.ends_with("coupons.JSON") {
            br#"[{"code": "A1", "pct": 10}, {"code": "B2"}]"#.to_vec()
        } else {
            b"id\nb1\n".to_vec()
        })
    })
    .unwrap();
    assert_eq!(s.feeders[0].order, feeder::FeedOrder::Unique);
    assert_eq!(s.feeders[0].columns, ["code", "pct"]);
    assert_eq!(s.feeders[0].rows[1], ["B2", ""]);
    assert_eq!(s.feeders[1].columns, ["id"]);

    let d = match load_with(
        Path::new("s.yaml"),
        &text.replace("unique", "once"),
        &mut |_: &Path| Ok(b"[]".to_vec()),
    ) {
        Err(LoadError::Invalid(d)) => d.0,
        other => panic!("{other:?}"),
    };
    assert_eq!(d[0].message, "unknown order `once`");
    assert!(d[0].hint.as_deref().unwrap().contains("`unique`"));
    // The same bytes read as CSV: `[]` is a header row.
    assert_eq!(
        d[1].message,
        "data/b.csv: the CSV file has a header row but no data rows"
    );
}
