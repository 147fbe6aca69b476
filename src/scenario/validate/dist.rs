//! Time distributions as written in scenario files: think times between
//! steps and sessions' dwell times. Also the weights shared by mixtures and
//! `choose`.
//!
//! Owns the syntax: `2s` (fixed), `2s .. 5s` (uniform), `{ fixed: 2s }`,
//! `{ uniform: [1s, 3s] }`, `{ exponential: 90s }` and
//! `{ mixture: [ { weight: 60%, exponential: 90s }, ... ] }`. Must not draw
//! from distributions or know where they are used.

use std::time::Duration;

use super::super::model::Dist;
use super::super::units;
use super::super::yaml::{Kind, Node};
use super::cx::{self, Cx, Fields};

/// How far weights may miss 100% (rounding in hand-written shares).
const WEIGHT_TOLERANCE: f64 = 0.001;

const FORMS: [&str; 3] = ["fixed", "uniform", "exponential"];
const DIST_HINT: &str = "write a duration `2s`, a range `2s .. 5s`, `{ exponential: 90s }`, \
`{ uniform: [1s, 3s] }` or `{ mixture: [ { weight: 60%, exponential: 90s }, ... ] }`";
const COMPONENT_HINT: &str = "write e.g. `{ weight: 60%, exponential: 90s }`; a component is \
`fixed`, `uniform` or `exponential` with its `weight`";

/// A distribution of durations.
pub fn dist(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Dist> {
    match &node.kind {
        Kind::Scalar { text, .. } => scalar(cx, node, text, path),
        Kind::Seq(_) => {
            cx.at(
                node,
                path,
                format!(
                    "expected a duration or a distribution, found {}",
                    node.describe()
                ),
                Some(DIST_HINT.into()),
            );
            None
        }
        Kind::Map(_) => {
            let mut f = Fields::of(cx, node, path, "a distribution")?;
            let given = f.present(&["fixed", "uniform", "exponential", "mixture"]);
            let before = cx.problems();
            f.finish(cx);
            let unknown = cx.problems() > before;
            match given.as_slice() {
                // An unknown field was reported with a suggestion; that says it.
                [] if unknown => None,
                [] => {
                    cx.at(
                        node,
                        path,
                        "a distribution needs one of `fixed`, `uniform`, `exponential` or `mixture`",
                        Some(DIST_HINT.into()),
                    );
                    None
                }
                [("mixture", n)] => mixture(cx, n, &cx::join(path, "mixture")),
                [(key, n)] => form(cx, key, n, &cx::join(path, key)),
                [(first, _), (second, n), ..] => {
                    cx.at(
                        n,
                        &cx::join(path, second),
                        format!("a distribution has one form, found `{first}` and `{second}`"),
                        Some("to combine several, use `mixture`".into()),
                    );
                    None
                }
            }
        }
    }
}

/// `2s` or `2s .. 5s`.
fn scalar(cx: &mut Cx<'_>, node: &Node, text: &str, path: &str) -> Option<Dist> {
    match text.find("..") {
        None => {
            let d = parse_at(cx, node, text, 0, path)?;
            Some(Dist::Fixed(d))
        }
        Some(i) => range(cx, node, text, i, path),
    }
}

/// `MIN .. MAX`, the `..` at byte `dots`.
fn range(cx: &mut Cx<'_>, node: &Node, text: &str, dots: usize, path: &str) -> Option<Dist> {
    let min = parse_at(cx, node, &text[..dots], 0, path);
    let max = parse_at(cx, node, &text[dots + 2..], dots + 2, path);
    let (min, max) = (min?, max?);
    if min > max {
        cx.at(
            node,
            path,
            format!("the range `{}` runs backwards", text.trim()),
            Some("write the shorter time first, e.g. `2s .. 5s`".into()),
        );
        return None;
    }
    Some(Dist::Uniform { min, max })
}

/// A duration that starts at byte `offset` of the node's text.
fn parse_at(
    cx: &mut Cx<'_>,
    node: &Node,
    text: &str,
    offset: usize,
    path: &str,
) -> Option<Duration> {
    match units::parse_duration(text) {
        Ok(d) => Some(d),
        Err(e) => {
            cx.inside(node, offset + e.offset, path, e.message, e.hint);
            None
        }
    }
}

/// The value of `fixed`, `uniform` or `exponential`.
fn form(cx: &mut Cx<'_>, key: &str, node: &Node, path: &str) -> Option<Dist> {
    match key {
        "fixed" => cx::duration(cx, node, path, false).map(Dist::Fixed),
        "exponential" => cx::duration(cx, node, path, true).map(|mean| Dist::Exponential { mean }),
        _ => uniform(cx, node, path),
    }
}

/// `[1s, 3s]` or `1s .. 3s`.
fn uniform(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Dist> {
    match &node.kind {
        Kind::Seq(items) => {
            let [lo, hi] = &items[..] else {
                cx.at(
                    node,
                    path,
                    format!("a uniform range has two ends, found {} values", items.len()),
                    Some("write `uniform: [1s, 3s]`".into()),
                );
                return None;
            };
            let min = cx::duration(cx, lo, &cx::index(path, 0), false);
            let max = cx::duration(cx, hi, &cx::index(path, 1), false);
            let (min, max) = (min?, max?);
            if min > max {
                cx.at(
                    node,
                    path,
                    "the range runs backwards",
                    Some("write the shorter time first, e.g. `[1s, 3s]`".into()),
                );
                return None;
            }
            Some(Dist::Uniform { min, max })
        }
        Kind::Scalar { text, .. } if text.contains("..") => {
            let dots = text.find("..").unwrap_or_default();
            range(cx, node, text, dots, path)
        }
        _ => {
            cx.at(
                node,
                path,
                format!("expected two durations, found {}", node.describe()),
                Some("write `uniform: [1s, 3s]`".into()),
            );
            None
        }
    }
}

/// `[ { weight: 60%, exponential: 90s }, ... ]`.
fn mixture(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Dist> {
    let items = cx::list(
        cx,
        node,
        path,
        "a list of components such as `{ weight: 60%, exponential: 90s }`",
    )?;
    if items.is_empty() {
        cx.at(
            node,
            path,
            "a mixture needs at least one component",
            Some(COMPONENT_HINT.into()),
        );
        return None;
    }
    let mut weights = Vec::with_capacity(items.len());
    let mut dists = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let (w, d) = component(cx, item, &cx::index(path, i));
        weights.push(w);
        dists.push(d);
    }
    let weights = normalise(cx, node, path, &weights)?;
    let dists: Option<Vec<Dist>> = dists.into_iter().collect();
    Some(Dist::Mixture(weights.into_iter().zip(dists?).collect()))
}

/// One mixture component: its weight and its distribution, each `None`
/// if it was wrong.
fn component(cx: &mut Cx<'_>, node: &Node, path: &str) -> (Option<f64>, Option<Dist>) {
    let Some(mut f) = Fields::of(
        cx,
        node,
        path,
        "a component such as `{ weight: 60%, exponential: 90s }`",
    ) else {
        return (None, None);
    };
    let weight = f
        .required(cx, "weight")
        .and_then(|n| cx::share(cx, n, &f.path("weight")));
    let given = f.present(&FORMS);
    let nested = f.entry("mixture");
    f.finish(cx);
    if let Some(e) = nested {
        cx.report(
            e.key_pos,
            &cx::join(path, "mixture"),
            "a mixture component can't be a mixture itself",
            Some("list all the components in one mixture; weights multiply out".into()),
        );
        return (weight, None);
    }
    let dist = match given.as_slice() {
        [] => {
            cx.at(
                node,
                path,
                "the component needs `fixed`, `uniform` or `exponential`",
                Some(COMPONENT_HINT.into()),
            );
            None
        }
        [(key, n)] => form(cx, key, n, &cx::join(path, key)),
        [(first, _), (second, n), ..] => {
            cx.at(
                n,
                &cx::join(path, second),
                format!("a component has one form, found `{first}` and `{second}`"),
                Some("give each its own component with its own weight".into()),
            );
            None
        }
    };
    (weight, dist)
}

/// Check that `weights` (those that were valid; `None` for the others) add
/// up to 100% and scale them to sum to exactly 1. A sum that is off is
/// reported at `node`; nothing is reported when a weight was already wrong.
pub fn normalise(
    cx: &mut Cx<'_>,
    node: &Node,
    path: &str,
    weights: &[Option<f64>],
) -> Option<Vec<f64>> {
    let weights: Vec<f64> = weights.iter().copied().collect::<Option<_>>()?;
    let sum: f64 = weights.iter().sum();
    if (sum - 1.0).abs() > WEIGHT_TOLERANCE {
        cx.at(
            node,
            path,
            format!("the weights add up to {}, not 100%", percent(sum)),
            Some("weights are shares of the whole: make them add up to 100%".into()),
        );
        return None;
    }
    Some(weights.iter().map(|w| w / sum).collect())
}

/// `0.9` → `90%`, `0.333` → `33.3%`.
fn percent(share: f64) -> String {
    let text = format!("{:.2}", share * 100.0);
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_drop_needless_decimals() {
        assert_eq!(percent(0.9), "90%");
        assert_eq!(percent(1.05), "105%");
        assert_eq!(percent(0.3333), "33.33%");
        assert_eq!(percent(0.125), "12.5%");
    }
}
