//! The page's text sections: header with the verdict, the SLO table, run
//! metadata (scenario, generator health, totals, phases, regions) and the
//! chaos tables.
//!
//! Owns their layout only; every figure is the report's. Must not draw
//! charts (see [`super::steps`] and [`super::ws`]).

use std::fmt::Write as _;

use super::{dur, esc, int, num, pct, secs, verdict_word};
use crate::report::{Report, SloReport};
use crate::slo::{Objectives, SloStatus};

/// Title, verdict badge, one line of context and the verdict's reasons.
pub fn header(out: &mut String, r: &Report) {
    let v = verdict_word(r.verdict);
    let _ = write!(
        out,
        r#"<header class="top"><h1>{}</h1><span class="badge {v}" id="verdict">{v}</span>"#,
        esc(&r.scenario.name)
    );
    if r.partial {
        out.push_str(r#"<span class="badge partial" title="the run was stopped before its schedule ended">partial run</span>"#);
    }
    if r.generator.saturated {
        out.push_str(r#"<span class="badge warn" title="the generator could not keep its schedule">generator saturated</span>"#);
    }
    if r.objectives == Objectives::None {
        out.push_str(
            r#"<span class="badge warn" title="slos: [] — measured only">no objectives</span>"#,
        );
    }
    if r.insecure {
        out.push_str(r#"<span class="badge fail" id="insecure" title="TLS certificates were not verified (--insecure)">insecure: TLS not verified</span>"#);
    }
    let _ = write!(
        out,
        r#"<div class="sub">started {} · {} · target <code>{}</code> · seed {} · scale {}</div></header>"#,
        esc(&r.started_at),
        secs(r.duration_s),
        esc(&r.target),
        r.seed,
        num(r.scale)
    );
    if !r.verdict_reasons.is_empty() {
        out.push_str(r#"<ul class="reasons">"#);
        for reason in &r.verdict_reasons {
            let _ = write!(out, "<li>{}</li>", esc(reason));
        }
        out.push_str("</ul>");
    }
}

/// One row per objective: status, expression, observed, threshold.
pub fn slos(out: &mut String, r: &Report) {
    out.push_str(r#"<h2 id="slos">Service-level objectives</h2>"#);
    match r.objectives {
        Objectives::None => {
            out.push_str(r#"<p class="note" id="no-objectives">No objectives: the scenario says <code>slos: []</code>, so the run was measured only and no objective was judged.</p>"#);
            return;
        }
        Objectives::Defaults => out.push_str(r#"<p class="note" id="default-objectives">The scenario has no <code>slos:</code>, so it was judged by flashcrowd's <strong>default objectives</strong> (marked <em>default</em>). Write your own under <code>slos:</code>, or <code>slos: []</code> to only measure.</p>"#),
        Objectives::Written if r.slos.is_empty() => {
            out.push_str(r#"<p class="note">The scenario sets no SLOs.</p>"#);
            return;
        }
        Objectives::Written => {}
    }
    out.push_str(
        r#"<div class="scroll"><table class="slos"><thead><tr><th>status</th><th>objective</th><th class="n">observed</th><th class="n">threshold</th><th>unit</th><th class="n">samples</th></tr></thead><tbody>"#,
    );
    for s in &r.slos {
        let (class, mark) = match s.status {
            _ if s.generator_doubt => ("none", "? not settled"),
            SloStatus::Pass => ("ok", "✓ pass"),
            SloStatus::Fail => ("bad", "✗ fail"),
            SloStatus::NoData => ("none", "? no data"),
        };
        let _ = write!(
            out,
            r#"<tr><td class="{class}">{mark}</td><td><code>{}</code>{}</td><td class="n">{}</td><td class="n">{}</td><td>{}</td><td class="n">{}</td></tr>"#,
            esc(&s.expr),
            if s.default {
                r#" <span class="badge default">default</span>"#
            } else {
                ""
            },
            s.observed.map_or("–".to_owned(), |o| slo_value(s, o)),
            slo_value(s, s.threshold),
            esc(&s.unit),
            int(s.samples)
        );
    }
    out.push_str("</tbody></table></div>");
}

/// One row per business invariant, with the keys that break it.
pub fn invariants(out: &mut String, r: &Report) {
    let Some(inv) = &r.invariants else {
        return;
    };
    out.push_str(r#"<h2 id="invariants">Business invariants</h2>"#);
    let _ = write!(
        out,
        r#"<p class="note">Judged from {} checkout attempts ({} with an unknown outcome), {} tracking polls and {} comments, against the platform's state read {} ms after the load.</p>"#,
        int(inv.attempts),
        int(inv.unknown),
        int(inv.polls),
        int(inv.comments),
        int(inv.settle_ms)
    );
    out.push_str(
        r#"<div class="scroll"><table class="slos"><thead><tr><th>status</th><th>invariant</th><th class="n">checked</th><th class="n">violations</th><th>examples</th></tr></thead><tbody>"#,
    );
    for v in &inv.verdicts {
        let (class, mark) = if v.holds {
            ("ok", "✓ holds")
        } else {
            ("bad", "✗ broken")
        };
        let examples: Vec<String> = v.examples.iter().map(|e| esc(e)).collect();
        let _ = write!(
            out,
            r#"<tr><td class="{class}">{mark}</td><td><code>{}</code></td><td class="n">{} {}</td><td class="n">{}</td><td>{}</td></tr>"#,
            esc(&v.name),
            int(v.checked),
            crate::invariants::counted(&v.name),
            int(v.violations),
            examples.join("<br>")
        );
    }
    for (name, why) in &inv.unread {
        let _ = write!(
            out,
            r#"<tr><td class="none">? not judged</td><td><code>{}</code></td><td class="n">–</td><td class="n">–</td><td>{}</td></tr>"#,
            esc(name),
            esc(why)
        );
    }
    out.push_str("</tbody></table></div>");
}

/// A figure in the SLO's unit; ratios keep their decimals.
fn slo_value(s: &SloReport, v: f64) -> String {
    if s.unit == "%" {
        pct(v)
    } else {
        num(v)
    }
}

/// Scenario, run, generator health, totals, phases and regions.
pub fn metadata(out: &mut String, r: &Report) {
    out.push_str(r#"<h2 id="run">Run</h2><dl class="meta">"#);
    let sha = &r.scenario.sha256;
    let short: String = sha.chars().take(12).collect();
    let rows: Vec<(&str, String)> = vec![
        ("scenario", esc(&r.scenario.name)),
        ("file", format!("<code>{}</code>", esc(&r.scenario.file))),
        (
            "sha256",
            format!(r#"<code title="{}">{}…</code>"#, esc(sha), esc(&short)),
        ),
        ("seed", r.seed.to_string()),
        ("scale", num(r.scale)),
        ("flashcrowd", esc(&r.flashcrowd_version)),
        ("host", esc(&r.host)),
        ("started at", esc(&r.started_at)),
        ("duration", secs(r.duration_s)),
        ("target", format!("<code>{}</code>", esc(&r.target))),
        ("run id", format!("<code>{}</code>", esc(&r.run_id))),
        ("partial", if r.partial { "yes" } else { "no" }.to_owned()),
    ];
    dl_rows(out, &rows);
    out.push_str("</dl>");

    let g = &r.generator;
    out.push_str(r#"<h4>Generator</h4><dl class="meta">"#);
    let cpu = g.cpu_percent.map_or("–".to_owned(), |c| {
        format!("{} % (of {} cores)", num(c), g.cores)
    });
    let saturated = if g.saturated {
        r#"<span class="badge warn">saturated</span>"#.to_owned()
    } else {
        "no".to_owned()
    };
    let mut rows: Vec<(&str, String)> = vec![
        ("connections", int(g.connections as u64)),
        ("lanes", int(g.lanes as u64)),
        (
            "dispatch lag p99",
            format!("{} ms", num(g.dispatch_lag_p99_ms)),
        ),
        (
            "dispatch lag max",
            format!("{} ms", num(g.dispatch_lag_max_ms)),
        ),
        (
            "start delay p99",
            format!("{} ms", num(g.start_delay_p99_ms)),
        ),
        (
            "start delay max",
            format!("{} ms", num(g.start_delay_max_ms)),
        ),
        ("CPU", cpu),
        ("saturated", saturated),
    ];
    if let Some(e) = &g.engine {
        // From report.json, which `flashcrowd report` reads back: escaped.
        rows.insert(
            0,
            (
                "engine",
                esc(&format!(
                    "{} {} (latencies within ±{} % of what it measured; {})",
                    e.name,
                    e.version,
                    num(e.latency_precision * 100.0),
                    e.timing
                )),
            ),
        );
    }
    dl_rows(out, &rows);
    out.push_str("</dl>");

    let t = &r.totals;
    out.push_str(r#"<h4>Totals</h4><dl class="meta">"#);
    let rows: Vec<(&str, String)> = vec![
        ("scheduled", int(t.scheduled)),
        ("started", int(t.started)),
        (
            "late",
            format!(
                "{} <span class=\"muted\">(&gt; {} ms)</span>",
                int(t.late),
                num(g.late_after_ms)
            ),
        ),
        ("dropped", int(t.dropped)),
        ("requests sent", int(t.sent)),
        ("ok", int(t.ok)),
        ("errors", int(t.errors)),
    ];
    dl_rows(out, &rows);
    out.push_str("</dl>");

    if !r.phases.is_empty() {
        out.push_str(
            r#"<h4>Phases</h4><div class="scroll"><table><thead><tr><th>phase</th><th>model</th><th class="n">start</th><th class="n">duration</th><th class="n">scheduled</th><th class="n">started</th><th class="n">late</th><th class="n">dropped</th></tr></thead><tbody>"#,
        );
        for p in &r.phases {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                esc(&p.name),
                esc(&p.model),
                secs(p.start_s),
                secs(p.duration_s),
                int(p.scheduled),
                int(p.started),
                int(p.late),
                int(p.dropped)
            );
        }
        out.push_str("</tbody></table></div>");
    }

    if !r.regions.is_empty() {
        out.push_str(
            r#"<h4>Regions</h4><div class="scroll"><table><thead><tr><th>region</th><th>profile</th><th class="n">base RTT</th><th>share per phase</th><th>route</th></tr></thead><tbody>"#,
        );
        for g in &r.regions {
            let shares: Vec<String> = g
                .shares
                .iter()
                .zip(
                    r.phases
                        .iter()
                        .map(|p| p.name.as_str())
                        .chain(std::iter::repeat("")),
                )
                .map(|(s, phase)| {
                    if phase.is_empty() {
                        format!("{}%", pct(s * 100.0))
                    } else {
                        format!("{} {}%", esc(phase), pct(s * 100.0))
                    }
                })
                .collect();
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td class="n">{} ms</td><td class="small">{}</td><td><code>{}</code></td></tr>"#,
                esc(&g.name),
                g.profile
                    .as_deref()
                    .map_or("<span class=\"muted\">undegraded</span>".to_owned(), esc),
                num(g.base_rtt_ms),
                shares.join(" · "),
                esc(&g.route)
            );
        }
        out.push_str("</tbody></table></div>");
    }
}

/// `<div><dt>…</dt><dd>…</dd></div>` per row; values are already HTML.
fn dl_rows(out: &mut String, rows: &[(&str, String)]) {
    for (k, v) in rows {
        let _ = write!(out, "<div><dt>{k}</dt><dd>{v}</dd></div>");
    }
}

/// The planned events and the log of what happened to them.
pub fn chaos(out: &mut String, r: &Report) {
    let Some(c) = &r.chaos else { return };
    let _ = write!(
        out,
        r#"<h2 id="chaos">Chaos</h2><p class="note">backend: <strong>{}</strong></p>"#,
        esc(&c.backend)
    );
    if !c.events.is_empty() {
        out.push_str(
            r#"<h4>Planned events</h4><div class="scroll"><table class="chaos-events"><thead><tr><th>event</th><th>regions</th><th>action</th><th class="n">at</th><th class="n">until</th><th class="n">ramp</th><th class="n">flap on / off</th></tr></thead><tbody>"#,
        );
        for e in &c.events {
            let _ = write!(
                out,
                r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td><td class="n">{}</td></tr>"#,
                esc(&e.name),
                esc(&e.regions.join(", ")),
                esc(&e.action),
                secs(e.at_s),
                e.until_s.map_or("end of run".to_owned(), secs),
                e.ramp_s.map_or("–".to_owned(), secs),
                e.flap_s.map_or("–".to_owned(), |(on, off)| format!(
                    "{} / {}",
                    secs(on),
                    secs(off)
                )),
            );
        }
        out.push_str("</tbody></table></div>");
    }
    out.push_str(r#"<h4>Transitions</h4>"#);
    if c.transitions.is_empty() {
        out.push_str(r#"<p class="note">No change took effect.</p>"#);
    } else {
        out.push_str(
            r#"<div class="scroll"><table class="chaos-log"><thead><tr><th class="n">time</th><th class="n">planned</th><th>region</th><th>event</th><th>change</th><th>action</th><th>error</th></tr></thead><tbody>"#,
        );
        for t in &c.transitions {
            let _ = write!(
                out,
                r#"<tr><td class="n">{}</td><td class="n">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class="err">{}</td></tr>"#,
                secs(t.at_s),
                secs(t.planned_s),
                esc(&t.region),
                esc(&t.event),
                esc(&t.change),
                esc(&t.action),
                t.error.as_deref().map_or(String::new(), esc)
            );
        }
        out.push_str("</tbody></table></div>");
    }
    match &c.cleanup_error {
        Some(e) => {
            let _ = write!(
                out,
                r#"<p class="note"><span class="badge fail">cleanup failed</span> {}</p>"#,
                esc(e)
            );
        }
        None => out.push_str(
            r#"<p class="note">Everything injected was removed at the end of the run.</p>"#,
        ),
    }
}

/// Latency cells p50, p90, p99, p99.9, max.
pub fn latency_cells(out: &mut String, l: &crate::report::Latency) {
    for v in [l.p50, l.p90, l.p99, l.p99_9, l.max] {
        let _ = write!(out, r#"<td class="n">{}</td>"#, dur(v, l.samples));
    }
}
