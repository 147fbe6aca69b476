//! `flows:`: what virtual users do. A flow is a list of items, each a
//! request step, a `think` pause, a `loop` or a `choose` between branches;
//! loops and branches hold lists of items in turn.
//!
//! Owns the program syntax and its nesting, naming and numbering request
//! steps across the whole program, and giving each flow its session
//! variables. Must not check a request step's own fields (`step` does),
//! phases or SLOs (they only read the names collected here).

use super::super::model::{Action, Flow, Step};
use super::super::template::Scope;
use super::super::yaml::{Kind, Node, Pos};
use super::capture;
use super::cx::{self, Cx, Fields};
use super::dist;
use super::settings::Defaults;
use super::step::{self, STEP_FIELDS};

/// The keys that make an item something other than a request step.
pub const CONTROL: [&str; 3] = ["think", "loop", "choose"];
/// Deepest nesting of loops and branches.
pub const MAX_NESTING: usize = 16;
/// Most rounds of one loop.
const MAX_LOOP_TIMES: u64 = 1_000_000;

const LOOP_HINT: &str = "write `- loop: { times: 6, every: 10s, steps: [ ... ] }`";
const CHOOSE_HINT: &str =
    "write `- choose: [ { weight: 70%, steps: [ ... ] }, { weight: 30%, steps: [ ... ] } ]`";

/// A flow's name and its request steps' names, kept even when steps are
/// invalid so references to them do not cascade into more errors.
pub struct FlowInfo {
    pub name: String,
    pub steps: Vec<String>,
    /// Names of its WebSocket `send` steps (fan-out objectives need one).
    pub sends: Vec<String>,
}

/// Check `flows:`. Flows keep file order.
pub fn flows(
    cx: &mut Cx<'_>,
    node: Option<&Node>,
    scope: &Scope<'_>,
    defaults: &Defaults,
) -> (Vec<FlowInfo>, Vec<Flow>) {
    let mut infos = Vec::new();
    let mut built = Vec::new();
    let Some(node) = node else {
        return (infos, built);
    };
    let Some(entries) = cx::entries(cx, node, "flows", "a map of flow names to lists of steps")
    else {
        return (infos, built);
    };
    if entries.is_empty() {
        cx.at(node, "flows", "no flows are defined", None);
    }
    for e in entries {
        let path = cx::join("flows", &e.key);
        let before = cx.problems();
        cx::check_name(cx, &e.key, e.key_pos, &path, "flow", false);
        let Some(items) = cx::list(cx, &e.value, &path, "a list of steps") else {
            infos.push(FlowInfo {
                name: e.key.to_string(),
                steps: Vec::new(),
                sends: Vec::new(),
            });
            continue;
        };
        if items.is_empty() {
            cx.at(&e.value, &path, "a flow needs at least one step", None);
        }
        let vars = capture::names(items);
        let flow_scope = Scope {
            session: &vars,
            ..*scope
        };
        let mut program = Program {
            flow: &e.key,
            scope: &flow_scope,
            defaults,
            steps: Vec::new(),
            seen: Vec::new(),
            names: Vec::new(),
            sends: Vec::new(),
        };
        let actions = program.items(cx, items, &path, 0);
        if !items.is_empty() && program.steps.is_empty() && cx.problems() == before {
            cx.at(
                &e.value,
                &path,
                "the flow makes no requests",
                Some("add a request step, e.g. `- get: /api/products/sku-1`".into()),
            );
        }
        let clean = cx.problems() == before;
        let Program {
            steps,
            names,
            sends,
            ..
        } = program;
        let steps: Option<Vec<Step>> = steps.into_iter().collect();
        match steps {
            Some(steps) if clean && !steps.is_empty() => built.push(Flow {
                name: e.key.to_string(),
                steps,
                program: actions,
                vars,
            }),
            _ => {}
        }
        infos.push(FlowInfo {
            name: e.key.to_string(),
            steps: names,
            sends,
        });
    }
    (infos, built)
}

/// One flow's program while its items are checked.
struct Program<'a, 's> {
    flow: &'a str,
    /// The scenario's names plus this flow's session variables.
    scope: &'a Scope<'s>,
    defaults: &'a Defaults,
    /// Every request step in file order (its index is its number), `None`
    /// where the step had problems.
    steps: Vec<Option<Step>>,
    /// Step names met so far, to report duplicates.
    seen: Vec<(String, Pos)>,
    /// Names of the request steps, invalid ones included where they have
    /// a valid name.
    names: Vec<String>,
    /// Names of the `send` steps among them.
    sends: Vec<String>,
}

impl Program<'_, '_> {
    /// A list of items; `depth` counts the loops and branches around it.
    fn items(&mut self, cx: &mut Cx<'_>, items: &[Node], path: &str, depth: usize) -> Vec<Action> {
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.extend(self.item(cx, item, &cx::index(path, i), depth));
        }
        out
    }

    fn item(&mut self, cx: &mut Cx<'_>, node: &Node, path: &str, depth: usize) -> Option<Action> {
        let is_control = match &node.kind {
            Kind::Map(entries) => entries.iter().any(|e| CONTROL.contains(&&*e.key)),
            _ => false,
        };
        if !is_control {
            return self.request(cx, node, path);
        }
        let mut f = Fields::of(cx, node, path, "a map")?;
        let given = f.present(&CONTROL);
        let first = given.first().map_or("think", |(k, _)| *k);
        misplaced(cx, &mut f, first, path);
        f.finish(cx);
        match given.as_slice() {
            [("think", n)] => dist::dist(cx, n, &cx::join(path, "think")).map(Action::Think),
            [("loop", n)] => self.repeat(cx, n, &cx::join(path, "loop"), depth),
            [(_, n)] => self.choose(cx, n, &cx::join(path, "choose"), depth),
            [(first, _), (second, n), ..] => {
                cx.at(
                    n,
                    &cx::join(path, second),
                    format!("an item is one of `think`, `loop` or `choose`, found `{first}` and `{second}`"),
                    Some("give each its own list item".into()),
                );
                None
            }
            [] => None,
        }
    }

    /// A request step: numbered in file order across the whole flow.
    fn request(&mut self, cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<Action> {
        let index = self.steps.len();
        let default_name = format!("{}.{index}", self.flow);
        let checked = step::step(cx, node, path, default_name, self.scope, self.defaults);
        if let Some((name, pos)) = &checked.name {
            cx::unique(
                cx,
                &mut self.seen,
                name,
                *pos,
                &cx::join(path, "name"),
                "step",
            );
            self.names.push(name.clone());
            if matches!(&node.kind, Kind::Map(entries) if entries.iter().any(|e| &*e.key == "send"))
            {
                self.sends.push(name.clone());
            }
        }
        self.steps.push(checked.step);
        checked.chance.map(|chance| Action::Request {
            step: index,
            chance,
        })
    }

    /// `loop: { times, every, steps }`.
    fn repeat(&mut self, cx: &mut Cx<'_>, node: &Node, path: &str, depth: usize) -> Option<Action> {
        let mut f = Fields::of(
            cx,
            node,
            path,
            "a map such as `{ times: 6, every: 10s, steps: [...] }`",
        )?;
        let times = match f.get("times") {
            None => Some(None),
            Some(n) => loop_times(cx, n, &f.path("times")).map(Some),
        };
        let every = match f.get("every") {
            None => Some(None),
            Some(n) => cx::duration(cx, n, &f.path("every"), true).map(Some),
        };
        let steps = f.required(cx, "steps");
        let steps_path = f.path("steps");
        f.finish(cx);
        if !nesting_ok(cx, node, path, depth) {
            return None;
        }
        let body = steps.and_then(|n| {
            let items = cx::list(cx, n, &steps_path, "a list of steps")?;
            if items.is_empty() {
                cx.at(
                    n,
                    &steps_path,
                    "a loop needs at least one step",
                    Some(LOOP_HINT.into()),
                );
            }
            Some(self.items(cx, items, &steps_path, depth + 1))
        });
        Some(Action::Loop {
            times: times?,
            every: every?,
            body: body?,
        })
    }

    /// `choose: [ { weight, steps }, ... ]`.
    fn choose(&mut self, cx: &mut Cx<'_>, node: &Node, path: &str, depth: usize) -> Option<Action> {
        let branches = cx::list(
            cx,
            node,
            path,
            "a list of branches such as `{ weight: 70%, steps: [...] }`",
        )?;
        if branches.is_empty() {
            cx.at(
                node,
                path,
                "`choose` needs at least one branch",
                Some(CHOOSE_HINT.into()),
            );
            return None;
        }
        if !nesting_ok(cx, node, path, depth) {
            return None;
        }
        let mut weights = Vec::with_capacity(branches.len());
        let mut bodies = Vec::with_capacity(branches.len());
        for (i, b) in branches.iter().enumerate() {
            let bpath = cx::index(path, i);
            let Some(mut f) = Fields::of(
                cx,
                b,
                &bpath,
                "a branch such as `{ weight: 70%, steps: [...] }`",
            ) else {
                weights.push(None);
                bodies.push(None);
                continue;
            };
            weights.push(
                f.required(cx, "weight")
                    .and_then(|n| cx::share(cx, n, &f.path("weight"))),
            );
            let steps = f.required(cx, "steps");
            let steps_path = f.path("steps");
            f.finish(cx);
            // An empty branch is allowed: "the others do nothing here".
            bodies.push(steps.and_then(|n| {
                let items = cx::list(cx, n, &steps_path, "a list of steps (`[]` for none)")?;
                Some(self.items(cx, items, &steps_path, depth + 1))
            }));
        }
        let weights = dist::normalise(cx, node, path, &weights)?;
        let bodies: Option<Vec<Vec<Action>>> = bodies.into_iter().collect();
        Some(Action::Choose(weights.into_iter().zip(bodies?).collect()))
    }
}

/// Whether a loop or choice at `depth` may hold another level.
fn nesting_ok(cx: &mut Cx<'_>, node: &Node, path: &str, depth: usize) -> bool {
    if depth < MAX_NESTING {
        return true;
    }
    cx.at(
        node,
        path,
        format!("loops and choices nest at most {MAX_NESTING} deep"),
        Some("flatten the flow, or split it into several flows run by overlapping phases".into()),
    );
    false
}

/// `times: 6`.
fn loop_times(cx: &mut Cx<'_>, node: &Node, path: &str) -> Option<u32> {
    let n = cx::uint(cx, node, path)?;
    match u32::try_from(n) {
        Ok(t @ 1..) if u64::from(t) <= MAX_LOOP_TIMES => Some(t),
        _ => {
            cx.at(
                node,
                path,
                format!("a loop runs between 1 and {MAX_LOOP_TIMES} times, found {n}"),
                Some("leave `times` out to loop until the session ends".into()),
            );
            None
        }
    }
}

/// Report fields of a `control` item that belong elsewhere: a request
/// step's fields, or a loop's or branch's fields written next to `loop:` or
/// `choose:` instead of inside.
fn misplaced(cx: &mut Cx<'_>, f: &mut Fields<'_>, control: &str, path: &str) {
    for key in STEP_FIELDS {
        if let Some(e) = f.consume(key) {
            cx.report(
                e.key_pos,
                &cx::join(path, key),
                format!("`{key}` belongs to a request step, not to a `{control}` item"),
                Some(format!(
                    "a `{control}` item stands alone; put the request in its own list item"
                )),
            );
        }
    }
    let inner: &[&str] = match control {
        "loop" => &["times", "every", "steps"],
        "choose" => &["weight", "steps"],
        _ => &[],
    };
    for &key in inner {
        if let Some(e) = f.consume(key) {
            let (place, hint) = if control == "loop" {
                ("inside `loop:`", LOOP_HINT)
            } else {
                ("inside each branch of `choose:`", CHOOSE_HINT)
            };
            cx.report(
                e.key_pos,
                &cx::join(path, key),
                format!("`{key}` goes {place}"),
                Some(hint.into()),
            );
        }
    }
}
