//! What the Goose engine can run, and the diagnostics for what it cannot.
//!
//! Owns the list of scenario features Goose 0.19 has no counterpart for:
//! open-model arrival rates, sessions joining at a rate, WebSocket steps,
//! regions with their network chaos, and what only flashcrowd's own engine
//! records (ledger steps, business invariants). Pure: it reads a validated
//! scenario and never runs anything.

use std::fmt;

use http::Method;

use crate::scenario::{Load, Scenario, StepKind};

/// One thing in a scenario the Goose engine cannot do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// Where it is, e.g. "phase `browse`" or "flow `chat`, step `join`".
    pub place: String,
    /// The feature, with the scenario keywords that ask for it.
    pub feature: String,
    /// Why Goose cannot, and what to do instead.
    pub why: String,
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.place, self.feature, self.why)
    }
}

/// HTTP methods a Goose user can send.
const GOOSE_METHODS: [Method; 6] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
    Method::HEAD,
];

/// Everything in `scenario` the Goose engine cannot run; empty when it can
/// run all of it. Only flows some phase runs are looked at.
pub fn unsupported(scenario: &Scenario) -> Vec<Unsupported> {
    let mut out = Vec::new();
    let own_engine = "run it with flashcrowd's own engine (without `--engine goose`)";
    for phase in &scenario.phases {
        let place = format!("phase `{}`", phase.name);
        match &phase.load {
            Load::Users { .. } => {}
            Load::Open { .. } => out.push(Unsupported {
                place,
                feature: "open-model arrival rate (`rate`, `staircase`, `spike`, `wave`)".into(),
                why: format!(
                    "Goose has no arrival-rate executor, only a fixed number of users; \
                     use `load: {{ users: N }}` or {own_engine}"
                ),
            }),
            Load::Sessions { .. } => out.push(Unsupported {
                place,
                feature: "viewer sessions joining at a rate (`sessions`)".into(),
                why: format!(
                    "Goose starts a fixed number of users and has no join rate or dwell \
                     time; use `load: {{ users: N }}` or {own_engine}"
                ),
            }),
        }
    }
    let mut used: Vec<usize> = scenario.phases.iter().map(|p| p.flow).collect();
    used.sort_unstable();
    used.dedup();
    for flow in used.iter().filter_map(|&i| scenario.flows.get(i)) {
        for step in &flow.steps {
            let place = format!("flow `{}`, step `{}`", flow.name, step.name);
            let req = match &step.kind {
                StepKind::Http(req) => req,
                StepKind::Ws(_) => {
                    out.push(Unsupported {
                        place,
                        feature: "WebSocket step (`ws`, `send`, `await`, `close`)".into(),
                        why: format!("Goose has no WebSocket client; {own_engine}"),
                    });
                    continue;
                }
            };
            if !GOOSE_METHODS.contains(&req.method) {
                out.push(Unsupported {
                    place: place.clone(),
                    feature: format!("HTTP method {}", req.method),
                    why: "a Goose user sends only GET, POST, PUT, PATCH, DELETE and HEAD".into(),
                });
            }
            if req.ledger.is_some() {
                out.push(Unsupported {
                    place,
                    feature: "ledger step (`ledger`)".into(),
                    why: format!(
                        "the run's history of attempts is recorded by flashcrowd's own engine \
                         only; {own_engine}"
                    ),
                });
            }
        }
    }
    if !scenario.regions.is_empty() || !scenario.chaos.events.is_empty() {
        out.push(Unsupported {
            place: "the scenario".into(),
            feature: "regions and their network chaos (`regions`, `chaos`)".into(),
            why: format!(
                "each region's traffic goes through its own chaos proxy, which only \
                 flashcrowd's own engine routes requests through; {own_engine}"
            ),
        });
    }
    if scenario.invariants.declared() {
        out.push(Unsupported {
            place: "the scenario".into(),
            feature: "business invariants (`invariants`)".into(),
            why: format!(
                "they are checked against the history of attempts flashcrowd's own engine \
                 records; {own_engine}"
            ),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn load(yaml: &str) -> Scenario {
        match crate::scenario::load_str(Path::new("t.yaml"), yaml) {
            Ok(s) => s,
            Err(e) => panic!("{e:?}"),
        }
    }

    const CLOSED: &str = "
name: t
target: http://127.0.0.1:9
phases:
  - { name: shop, duration: 2s, load: { users: 4 }, flow: buy }
flows:
  buy:
    - { name: product, get: /api/products/sku-1 }
    - { name: checkout, post: /api/checkout, json: { sku: sku-1, qty: 1 }, expect: [201, 409] }
";

    #[test]
    fn a_closed_model_http_scenario_is_supported() {
        assert_eq!(unsupported(&load(CLOSED)), Vec::new());
    }

    #[test]
    fn an_open_model_phase_is_refused_naming_the_arrival_rate() {
        let s = load(&CLOSED.replace("load: { users: 4 }", "load: { rate: 20/s }"));
        let found = unsupported(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].place, "phase `shop`");
        assert!(found[0].feature.contains("open-model arrival rate"));
        assert!(found[0].to_string().contains("`load: { users: N }`"));
    }

    #[test]
    fn a_websocket_step_is_refused_naming_the_websocket() {
        let s = load(&CLOSED.replace(
            "    - { name: product, get: /api/products/sku-1 }",
            "    - { name: join, ws: /ws/live/main }",
        ));
        let found = unsupported(&s);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].place, "flow `buy`, step `join`");
        assert!(found[0].feature.starts_with("WebSocket step"));
    }
}
