//! `slos:`: objectives such as `p99(checkout) < 250ms`.
//!
//! Owns checking that each expression parses (through `slo::parse`) and
//! that the phases and steps it names exist and run, and which steps the
//! built-in objectives cover when `slos:` is left out (`slos: []` is the
//! way to ask for none). Must not judge objectives, know the grammar or
//! choose the defaults' thresholds.

use super::super::regions::Region;
use super::super::yaml::Node;
use super::cx::{self, Cx};
use super::flows::FlowInfo;
use super::phases::PhaseInfo;
use crate::slo::{self, Objectives, Origin, Selector, Slo};

/// Check `slos:`, a list of expressions. Without the key, the run is
/// judged by the default objectives over every step a phase runs; an empty
/// list means no objectives at all.
pub fn slos(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    phases: &[PhaseInfo],
    flows: &[FlowInfo],
    regions: &[Region],
    phases_complete: bool,
) -> (Objectives, Vec<Slo>) {
    let mut out = Vec::new();
    let Some(node) = node else {
        return (Objectives::Defaults, default_objectives(phases, flows));
    };
    let Some(items) = cx::list(
        cx,
        node,
        "slos",
        "a list of objectives such as `p99(checkout) < 250ms`",
    ) else {
        return (Objectives::Written, out);
    };
    if items.is_empty() {
        return (Objectives::None, out);
    }
    for (i, item) in items.iter().enumerate() {
        let path = cx::index("slos", i);
        let Some(text) = item.as_scalar() else {
            cx.wrong_type(item, &path, "an objective such as `p99(checkout) < 250ms`");
            continue;
        };
        match slo::parse(text) {
            Err(e) => cx.inside(item, e.offset, &path, e.message, e.hint),
            Ok(mut s) => {
                let at = (item.start.line, item.start.col);
                s.origin = Origin::Written {
                    at: Some((clamp(at.0), clamp(at.1))),
                };
                if let Some(r) = &s.region {
                    if !regions.iter().any(|x| x.name == *r) {
                        let at = text.find("region").unwrap_or(0);
                        let hint = if regions.is_empty() {
                            Some("the scenario names no `regions:`".to_owned())
                        } else {
                            cx::name_hint(r, regions.iter().map(|x| x.name.as_str()), "regions")
                        };
                        cx.inside(item, at, &path, format!("no region is named `{r}`"), hint);
                        continue;
                    }
                }
                if s.metric.is_fanout() && !names_a_send(&s.selector, flows) {
                    let (first, _) = selector_offsets(text);
                    cx.inside(
                        item,
                        first,
                        &path,
                        format!("`{}` measures WebSocket deliveries, but `{}` names no `send` step", s.metric_name(), s.selector),
                        Some("fan-out objectives look at steps such as `- name: comment, send: { ... }`".into()),
                    );
                    continue;
                }
                if check_selector(
                    cx,
                    item,
                    text,
                    &path,
                    &s.selector,
                    phases,
                    flows,
                    phases_complete,
                ) {
                    out.push(s);
                }
            }
        }
    }
    (Objectives::Written, out)
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The defaults over every step of every flow some phase runs, in the
/// order phases name their flows.
fn default_objectives(phases: &[PhaseInfo], flows: &[FlowInfo]) -> Vec<Slo> {
    let mut used: Vec<usize> = Vec::new();
    for f in phases.iter().filter_map(|p| p.flow) {
        if !used.contains(&f) {
            used.push(f);
        }
    }
    let steps = used
        .iter()
        .filter_map(|&f| flows.get(f))
        .flat_map(|f| f.steps.iter().map(String::as_str));
    slo::defaults(steps)
}

/// Whether the selector takes in at least one WebSocket `send` step.
fn names_a_send(selector: &Selector, flows: &[FlowInfo]) -> bool {
    match selector {
        Selector::All => flows.iter().any(|f| !f.sends.is_empty()),
        Selector::Step(step) | Selector::PhaseStep(_, step) => {
            flows.iter().any(|f| f.sends.iter().any(|s| s == step))
        }
    }
}

/// Byte offset of the selector's first name inside the expression, and of
/// the step name after `/` for `phase/step`.
fn selector_offsets(text: &str) -> (usize, usize) {
    let open = text.find('(').map_or(0, |i| i + 1);
    let skip = |from: usize| {
        let rest = text.get(from..).unwrap_or("");
        from + rest.len() - rest.trim_start().len()
    };
    let first = skip(open);
    let step = text[first..]
        .find('/')
        .map_or(first, |i| skip(first + i + 1));
    (first, step)
}

#[allow(clippy::too_many_arguments)]
fn check_selector(
    cx: &mut Cx<'_>,
    node: &Node,
    text: &str,
    path: &str,
    selector: &Selector,
    phases: &[PhaseInfo],
    flows: &[FlowInfo],
    phases_complete: bool,
) -> bool {
    let (first, step_at) = selector_offsets(text);
    match selector {
        Selector::All => true,
        Selector::Step(step) => {
            let owners: Vec<usize> = flows
                .iter()
                .enumerate()
                .filter(|(_, f)| f.steps.iter().any(|s| s == step))
                .map(|(i, _)| i)
                .collect();
            if owners.is_empty() {
                let mut all: Vec<&str> = flows
                    .iter()
                    .flat_map(|f| f.steps.iter().map(String::as_str))
                    .collect();
                all.sort_unstable();
                all.dedup();
                let hint = cx::name_hint(step, all.iter().copied(), "steps");
                cx.inside(node, first, path, format!("unknown step `{step}`"), hint);
                return false;
            }
            let runs = phases
                .iter()
                .any(|p| p.flow.is_some_and(|f| owners.contains(&f)));
            if !runs && phases_complete {
                let flow = &flows[owners[0]].name;
                cx.inside(
                    node,
                    first,
                    path,
                    format!("step `{step}` belongs to flow `{flow}`, which no phase runs"),
                    Some(format!(
                        "add a phase with `flow: {flow}`, or remove this objective; it would have no samples"
                    )),
                );
                return false;
            }
            true
        }
        Selector::PhaseStep(phase, step) => {
            let Some(p) = phases.iter().find(|p| p.name == *phase) else {
                let hint = cx::name_hint(phase, phases.iter().map(|p| p.name.as_str()), "phases");
                cx.inside(node, first, path, format!("unknown phase `{phase}`"), hint);
                return false;
            };
            let Some(flow) = p.flow.and_then(|f| flows.get(f)) else {
                // The phase's flow is itself wrong, and reported there.
                return false;
            };
            if flow.steps.iter().any(|s| s == step) {
                return true;
            }
            let hint = cx::name_hint(step, flow.steps.iter().map(String::as_str), "its steps");
            cx.inside(
                node,
                step_at,
                path,
                format!(
                    "phase `{phase}` runs flow `{}`, which has no step `{step}`",
                    flow.name
                ),
                hint,
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_offsets_skip_spaces() {
        assert_eq!(selector_offsets("p99(checkout) < 1s"), (4, 4));
        assert_eq!(selector_offsets("p99( drop / pay ) < 1s"), (5, 12));
    }
}
