//! `regions:`: named regions, each with a share of the traffic (one share,
//! or one per phase) and a network profile (a shipped profile's name, a
//! profile file, or a profile written inline).
//!
//! Owns the region syntax, resolving profile references and the rule that
//! every phase's shares add up to 100%. Must not read files itself (profile
//! files come through the loader's reader) or know about chaos events.

use std::path::Path;

use super::super::diagnostic::Diagnostic;
use super::super::model::Phase;
use super::super::profile::{self, Profile};
use super::super::regions::Region;
use super::super::yaml::{Kind, Node, Pos};
use super::cx::{self, Cx, Fields};
use super::ReadFile;

/// Most regions a scenario may name: each one is a proxy and a split of
/// every histogram.
pub const MAX_REGIONS: usize = 16;

/// How far a phase's shares may be from 100% (rounding in the file).
const SHARE_SLACK: f64 = 1e-3;

/// Check `regions:` against the (sorted) phases.
pub fn regions(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    phases: &[Phase],
    base_dir: &Path,
    read: &mut ReadFile<'_>,
) -> Vec<Region> {
    let mut out = Vec::new();
    let Some(node) = node else { return out };
    let Some(entries) = cx::entries(cx, node, "regions", "a map of region names to regions") else {
        return out;
    };
    if entries.is_empty() {
        cx.at(node, "regions", "no regions are defined", None);
        return out;
    }
    if entries.len() > MAX_REGIONS {
        cx.at(
            node,
            "regions",
            format!(
                "{} regions are defined; at most {MAX_REGIONS} are allowed",
                entries.len()
            ),
            None,
        );
        return out;
    }
    let before = cx.problems();
    let mut share_nodes = Vec::new();
    for e in entries {
        let path = cx::join("regions", &e.key);
        cx::check_name(cx, &e.key, e.key_pos, &path, "region", false);
        let Some(mut f) = Fields::of(
            cx,
            &e.value,
            &path,
            "a region (a map with `share` and `profile`)",
        ) else {
            continue;
        };
        let share_node = f.required(cx, "share");
        let shares = share_node.and_then(|n| shares(cx, n, &f.path("share"), phases));
        let profile = f
            .get("profile")
            .and_then(|n| profile_ref(cx, n, &f.path("profile"), &e.key, base_dir, read));
        f.finish(cx);
        if let (Some(shares), Some(n)) = (shares, share_node) {
            share_nodes.push(n.start);
            out.push(Region {
                name: e.key.to_string(),
                shares,
                profile,
            });
        }
    }
    if cx.problems() == before {
        check_sums(cx, node.start, &out, phases);
    }
    out
}

/// `share: 30%` for every phase, or `share: { default: 30%, sale: 50% }`.
fn shares(cx: &mut Cx<'_>, node: &Node, path: &str, phases: &[Phase]) -> Option<Vec<f64>> {
    if let Kind::Scalar { .. } = node.kind {
        let s = share_or_zero(cx, node, path)?;
        return Some(vec![s; phases.len()]);
    }
    let entries = cx::entries(
        cx,
        node,
        path,
        "a share such as `30%`, or a map of phase names (and `default`) to shares",
    )?;
    let before = cx.problems();
    let mut default = None;
    let mut by_phase: Vec<Option<f64>> = vec![None; phases.len()];
    for e in entries {
        let p = cx::join(path, &e.key);
        let value = share_or_zero(cx, &e.value, &p);
        if &*e.key == "default" {
            default = value;
            continue;
        }
        match phases.iter().position(|ph| ph.name == *e.key) {
            Some(i) => by_phase[i] = value,
            None => cx.report(
                e.key_pos,
                &p,
                format!("no phase is named `{}`", e.key),
                cx::name_hint(
                    &e.key,
                    phases.iter().map(|ph| ph.name.as_str()).chain(["default"]),
                    "phases",
                ),
            ),
        }
    }
    (cx.problems() == before).then(|| {
        by_phase
            .iter()
            .map(|s| s.or(default).unwrap_or(0.0))
            .collect()
    })
}

/// A share, where `0` and `0%` are allowed (a region absent from a phase).
fn share_or_zero(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<f64> {
    let t = cx::text(cx, node, path)?.trim();
    if matches!(t, "0" | "0%" | "0.0" | "0.0%") {
        return Some(0.0);
    }
    cx::share(cx, node, path)
}

fn check_sums(cx: &mut Cx<'_>, at: Pos, regions: &[Region], phases: &[Phase]) {
    for (i, phase) in phases.iter().enumerate() {
        let sum: f64 = regions
            .iter()
            .map(|r| r.shares.get(i).copied().unwrap_or(0.0))
            .sum();
        if (sum - 1.0).abs() > SHARE_SLACK {
            cx.report(
                at,
                "regions",
                format!(
                    "in phase `{}` the regions' shares add up to {}%, not 100%",
                    phase.name,
                    (sum * 1000.0).round() / 10.0
                ),
                Some(
                    "every arrival belongs to one region: make each phase's shares add up to 100%"
                        .into(),
                ),
            );
        }
    }
}

/// `profile: eu-longhaul` (shipped), `profile: ./paths/mine.yaml` (a file
/// next to the scenario) or an inline map.
fn profile_ref(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    region: &str,
    base_dir: &Path,
    read: &mut ReadFile<'_>,
) -> Option<Profile> {
    if !matches!(node.kind, Kind::Scalar { .. }) {
        return super::profile::inline(cx, node, path, region);
    }
    let name = cx::text(cx, node, path)?.trim();
    let is_file = name.ends_with(".yaml") || name.ends_with(".yml") || name.contains('/');
    if !is_file {
        let Some(text) = profile::builtin(name) else {
            cx.at(
                node,
                path,
                format!("there is no shipped profile named `{name}`"),
                cx::name_hint(
                    name,
                    profile::BUILTIN.iter().map(|(n, _)| *n),
                    "shipped profiles",
                )
                .map(|h| format!("{h}; or give a file path ending in .yaml")),
            );
            return None;
        };
        return nested(cx, node, path, &format!("profiles/{name}.yaml"), text);
    }
    let file = base_dir.join(name);
    let bytes = match read(&file) {
        Ok(b) => b,
        Err(why) => {
            cx.at(node, path, format!("profile `{name}`: {why}"), None);
            return None;
        }
    };
    if bytes.len() > profile::MAX_PROFILE_BYTES {
        cx.at(
            node,
            path,
            format!(
                "profile `{name}` is {} bytes; profiles are limited to {} KiB",
                bytes.len(),
                profile::MAX_PROFILE_BYTES >> 10
            ),
            None,
        );
        return None;
    }
    match String::from_utf8(bytes) {
        Ok(text) => nested(cx, node, path, &file.display().to_string(), &text),
        Err(_) => {
            cx.at(
                node,
                path,
                format!("profile `{name}` is not valid UTF-8"),
                None,
            );
            None
        }
    }
}

/// Load a referenced profile; its own problems are reported in its own
/// file, plus one line here saying which reference failed.
fn nested(cx: &mut Cx<'_>, node: &Node, path: &str, file: &str, text: &str) -> Option<Profile> {
    match profile::load_profile_str(Path::new(file), text) {
        Ok(p) => Some(p),
        Err(e) => {
            let inner: Vec<Diagnostic> = match e {
                super::super::LoadError::Invalid(d) => d.0,
                other => {
                    cx.at(node, path, other.to_string(), None);
                    return None;
                }
            };
            cx.at(
                node,
                path,
                format!("profile `{file}` is invalid ({} problems)", inner.len()),
                None,
            );
            cx.diags.extend(inner);
            None
        }
    }
}
