//! The page's trace section: the slowest sampled requests of every step
//! by trace id (to paste into the target's tracing backend), and what the
//! run exported over OpenTelemetry.
//!
//! Owns its layout only. Must not compute anything.

use std::fmt::Write as _;

use super::{dur, esc, int, pct};
use crate::report::Report;

pub fn section(out: &mut String, r: &Report) {
    let Some(t) = &r.telemetry else {
        return;
    };
    out.push_str(r#"<h2 id="traces">Traces and OpenTelemetry</h2>"#);
    let mut note = if t.trace_sample > 0.0 {
        format!(
            "{}% of requests carried W3C <code>traceparent</code>; each id below opens the request in the target's tracing backend.",
            pct(t.trace_sample * 100.0)
        )
    } else {
        "No request carried trace context.".to_owned()
    };
    match &t.export {
        Some(e) => {
            let _ = write!(
                note,
                " Exported to {}: {} exports accepted, {} failed, {} dropped; {} spans.",
                esc(&e.endpoint),
                int(e.sent),
                int(e.failed),
                int(e.dropped),
                int(e.spans)
            );
            if let Some(err) = &e.last_error {
                let _ = write!(note, " Last error: {}.", esc(err));
            }
        }
        None => note.push_str(" Nothing was exported over OpenTelemetry."),
    }
    let _ = write!(out, r#"<p class="note">{note}</p>"#);
    let rows: Vec<_> = r
        .steps
        .iter()
        .flat_map(|s| s.traces.iter().map(move |t| (s, t)))
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push_str(
        r#"<div class="scroll"><table class="slos"><thead><tr><th>step</th><th>region</th><th class="n">latency</th><th>answer</th><th>trace id</th><th>span id</th></tr></thead><tbody>"#,
    );
    for (s, t) in rows {
        let answer = match (t.status, &t.error) {
            (Some(st), Some(e)) => format!("{st} ({e})"),
            (Some(st), None) => st.to_string(),
            (None, Some(e)) => e.clone(),
            (None, None) => "–".to_owned(),
        };
        let attempt = if t.attempt > 1 {
            format!(", attempt {}", t.attempt)
        } else {
            String::new()
        };
        let _ = write!(
            out,
            r#"<tr><td>{} / {}</td><td>{}</td><td class="n">{}</td><td>{}{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>"#,
            esc(&s.phase),
            esc(&s.step),
            esc(t.region.as_deref().unwrap_or("–")),
            dur(t.latency_us, 1),
            esc(&answer),
            esc(&attempt),
            esc(&t.trace_id),
            esc(&t.span_id)
        );
    }
    out.push_str("</tbody></table></div>");
}
