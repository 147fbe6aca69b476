//! `phases:`: windows on the timeline, each with a load shape and a flow.
//!
//! Owns phase fields, start offsets (an explicit `at`, or the end of the
//! previous phase in file order) and load shapes. Must not check flows'
//! contents; it only resolves flow names.

use std::time::Duration;

use super::super::model::Phase;
use super::super::yaml::{Node, Pos};
use super::cx::{self, Cx, Fields};
use super::flows::FlowInfo;

/// A phase's name and the flow it runs (as an index into the flows), kept
/// even when the phase is invalid so SLOs can still be checked.
pub struct PhaseInfo {
    pub name: String,
    pub flow: Option<usize>,
}

/// Check `phases:`; the phases come back sorted by start (ties keep file
/// order).
pub fn phases(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    flows: &[FlowInfo],
) -> (Vec<PhaseInfo>, Vec<Phase>) {
    let mut infos = Vec::new();
    let mut built = Vec::new();
    let Some(node) = node else {
        return (infos, built);
    };
    let Some(items) = cx::list(cx, node, "phases", "a list of phases") else {
        return (infos, built);
    };
    if items.is_empty() {
        cx.at(
            node,
            "phases",
            "no phases are defined",
            Some("a scenario needs at least one phase".into()),
        );
    }
    let mut seen: Vec<(String, Pos)> = Vec::new();
    let mut previous_end = Duration::ZERO;
    for (i, item) in items.iter().enumerate() {
        let path = cx::index("phases", i);
        let before = cx.problems();
        let Some(mut f) = Fields::of(
            cx,
            item,
            &path,
            "a phase (a map with `name`, `duration`, `load` and `flow`)",
        ) else {
            continue;
        };
        let name = f.required(cx, "name").and_then(|n| {
            let p = f.path("name");
            let t = cx::text(cx, n, &p)?;
            cx::check_name(cx, t, n.start, &p, "phase", false).then(|| {
                cx::unique(cx, &mut seen, t, n.start, &p, "phase");
                t.to_owned()
            })
        });
        let at = match f.get("at") {
            None => Some(previous_end),
            Some(n) => cx::duration(cx, n, &f.path("at"), false),
        };
        let duration = f
            .required(cx, "duration")
            .and_then(|n| cx::duration(cx, n, &f.path("duration"), true));
        let load = f
            .required(cx, "load")
            .and_then(|n| super::load::load(cx, n, &f.path("load"), duration));
        let flow = f.required(cx, "flow").and_then(|n| {
            let p = f.path("flow");
            let t = cx::text(cx, n, &p)?;
            let found = flows.iter().position(|fl| fl.name == t);
            if found.is_none() {
                let hint = cx::name_hint(t, flows.iter().map(|fl| fl.name.as_str()), "flows");
                cx.at(n, &p, format!("unknown flow `{t}`"), hint);
            }
            found
        });
        f.finish(cx);

        let start = at.unwrap_or(previous_end);
        previous_end = start + duration.unwrap_or_default();
        if let Some(name) = &name {
            infos.push(PhaseInfo {
                name: name.clone(),
                flow,
            });
        }
        if let (Some(name), Some(duration), Some(load), Some(flow)) = (name, duration, load, flow) {
            if cx.problems() == before {
                built.push(Phase {
                    name,
                    start,
                    duration,
                    load,
                    flow,
                });
            }
        }
    }
    built.sort_by_key(|p| p.start);
    (infos, built)
}
