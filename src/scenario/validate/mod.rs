//! Validation: the YAML node tree in, a typed [`Scenario`] or every
//! problem out.
//!
//! Owns the order in which sections are checked and how the pieces come
//! together; each section lives in its own file. Must not read files
//! (feeder bytes come through a reader handed in), stop at the first
//! problem, or let an invalid scenario through.
//!
//! Adding a field: read it from the section's `Fields` (which makes it
//! known, so it is no longer reported as unknown), check it with the
//! readers in `cx`, and put it in the model.

mod capture;
mod chaos;
mod checks;
mod cx;
mod dist;
mod flows;
mod json;
mod ledger;
mod load;
mod phases;
mod profile;
mod regions;
mod settings;
mod slos;
mod step;
mod telemetry;
mod ws;

use std::path::Path;

use super::diagnostic::Diagnostic;
use super::model::Scenario;
use super::template::Scope;
use super::yaml::{self, Document, Pos, Source};
use cx::{Cx, Fields};

pub use profile::profile;

/// Reads a feeder's file: its bytes, or a short reason why not (the
/// validator prefixes the file name).
pub type ReadFile<'a> = dyn FnMut(&Path) -> Result<Vec<u8>, String> + 'a;

/// What the loader knows about the file besides its tree.
pub struct Input<'a> {
    pub file: &'a Path,
    pub src: &'a Source<'a>,
    pub sha256: String,
    /// Directory feeder paths are relative to.
    pub base_dir: &'a Path,
}

/// A diagnostic collector for `file` with the parser's own issues already
/// in it, and the document's root; an empty file is reported (with
/// `empty_hint` saying what the file needs) and has no root.
fn open<'a>(
    file: &'a Path,
    src: &'a Source<'a>,
    doc: Document,
    empty_hint: &str,
) -> (Cx<'a>, Option<yaml::Node>) {
    let mut cx = Cx {
        file,
        src,
        diags: Vec::new(),
        dropped: 0,
    };
    for issue in doc.issues {
        cx.report(issue.pos, &issue.path, issue.message, issue.hint);
    }
    if doc.root.is_none() {
        cx.report(
            Pos { line: 1, col: 1 },
            "",
            "the file is empty",
            Some(empty_hint.into()),
        );
    }
    (cx, doc.root)
}

/// Check a parsed document and build the scenario.
pub fn validate(
    input: Input<'_>,
    doc: Document,
    read: &mut ReadFile<'_>,
) -> Result<Scenario, Vec<Diagnostic>> {
    let (mut cx, root) = open(
        input.file,
        input.src,
        doc,
        "a scenario needs at least `name`, `flows` and `phases`",
    );
    let Some(root) = root else {
        return Err(cx.diags);
    };
    let Some(mut top) = Fields::of(
        &mut cx,
        &root,
        "",
        "a map of scenario fields (`name`, `phases`, `flows`, ...)",
    ) else {
        return Err(cx.diags);
    };

    let name = top.required(&mut cx, "name").and_then(|n| {
        let t = cx::text(&mut cx, n, "name")?;
        if t.trim().is_empty() {
            cx.at(n, "name", "the name is empty", None);
            return None;
        }
        Some(t.to_owned())
    });
    let target = settings::target(&mut cx, top.get("target"));
    let allow_targets = settings::allow_targets(&mut cx, top.get("allow_targets"));
    let seed = match top.get("seed") {
        None => Some(1),
        Some(n) => cx::uint(&mut cx, n, "seed"),
    };

    let vars_node = top.get("vars");
    let vars = settings::vars(&mut cx, vars_node);
    let (feeder_scope, feeders) =
        settings::feeders(&mut cx, top.get("feeders"), input.base_dir, read);
    let scope = Scope {
        vars: &vars,
        feeders: &feeder_scope,
        session: &[],
    };
    settings::check_scope_names(&mut cx, vars_node, &scope);

    let defaults = settings::defaults(&mut cx, top.get("defaults"), &scope);
    let demo = settings::demo(&mut cx, top.get("demo"));
    let flows_node = top.required(&mut cx, "flows");
    let before_flows = cx.problems();
    let (flow_infos, flows) = flows::flows(&mut cx, flows_node, &scope, &defaults);
    let flows_complete = cx.problems() == before_flows;
    let phases_node = top.required(&mut cx, "phases");
    let before = cx.problems();
    let (phase_infos, phases) = phases::phases(&mut cx, phases_node, &flow_infos);
    let phases_complete = cx.problems() == before;
    let regions_node = top.get("regions");
    let regions = regions::regions(&mut cx, regions_node, &phases, input.base_dir, read);
    let chaos = chaos::chaos(&mut cx, top.get("chaos"), &regions, regions_node, &phases);
    let invariants = ledger::invariants(&mut cx, top.get("invariants"), &flows, flows_complete);
    let telemetry = telemetry::telemetry(&mut cx, top.get("telemetry"));
    let (objectives, slos) = slos::slos(
        &mut cx,
        top.get("slos"),
        &phase_infos,
        &flow_infos,
        &regions,
        phases_complete,
    );
    top.finish(&mut cx);

    let mut diags = cx.diags;
    if !diags.is_empty() {
        diags.sort_by_key(|d| (d.line, d.col));
        if cx.dropped > 0 {
            let last = &diags[diags.len() - 1];
            let (line, col) = (last.line, last.col);
            diags.push(Diagnostic {
                file: input.file.to_path_buf(),
                line,
                col,
                path: String::new(),
                message: format!(
                    "stopped after {} problems; {} more are not shown",
                    cx::MAX_DIAGNOSTICS,
                    cx.dropped
                ),
                hint: Some("fix these first".into()),
            });
        }
        return Err(diags);
    }
    match (name, target, seed) {
        (Some(name), Some(target), Some(seed)) => Ok(Scenario {
            name,
            file: input.file.to_path_buf(),
            sha256: input.sha256,
            target,
            seed,
            phases,
            flows,
            feeders,
            slos,
            objectives,
            demo,
            regions,
            chaos,
            invariants,
            allow_targets,
            telemetry,
        }),
        // Every `None` above comes with a diagnostic; this is a safety net.
        _ => Err(vec![Diagnostic {
            file: input.file.to_path_buf(),
            line: 1,
            col: 1,
            path: String::new(),
            message: "the scenario is incomplete".into(),
            hint: None,
        }]),
    }
}
