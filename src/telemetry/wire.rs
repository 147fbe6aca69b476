//! The OTLP messages' common parts: attributes, the resource that names
//! the run, the instrumentation scope, and encoding a request body.
//!
//! Owns which resource attributes every export carries and in what order
//! they override each other. Must not decide what is exported or when.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;

/// A string attribute.
pub fn kv(key: &str, value: impl Into<String>) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

/// An integer attribute.
pub fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    }
}

/// What names the run in every export.
#[derive(Debug, Clone, Default)]
pub struct RunIdentity {
    pub run_id: String,
    pub scenario: String,
    pub scenario_sha256: String,
    pub seed: u64,
    /// Set on a distributed run's worker: its index and region.
    pub worker: Option<(u32, Option<String>)>,
    /// Set on a distributed run's coordinator: how many workers.
    pub workers: Option<u32>,
}

/// The resource: `OTEL_RESOURCE_ATTRIBUTES` first, then the scenario's
/// `telemetry.attributes`, then flashcrowd's own, each later one
/// replacing an earlier one of the same name (so `service.name` and the
/// run's attributes are always flashcrowd's).
pub fn resource(
    env: &[(String, String)],
    scenario: &[(String, String)],
    run: &RunIdentity,
) -> Resource {
    let mut attrs: Vec<KeyValue> = Vec::new();
    let mut put = |k: KeyValue| {
        attrs.retain(|a| a.key != k.key);
        attrs.push(k);
    };
    for (k, v) in env.iter().chain(scenario) {
        put(kv(k, v.clone()));
    }
    put(kv("service.name", "flashcrowd"));
    put(kv("service.version", env!("CARGO_PKG_VERSION")));
    put(kv("flashcrowd.run_id", run.run_id.clone()));
    put(kv("flashcrowd.scenario.name", run.scenario.clone()));
    put(kv(
        "flashcrowd.scenario.sha256",
        run.scenario_sha256.clone(),
    ));
    // As text: a seed is a u64 and OTLP integers are signed.
    put(kv("flashcrowd.seed", run.seed.to_string()));
    if let Some((index, region)) = &run.worker {
        put(kv_int("flashcrowd.worker.index", i64::from(*index)));
        if let Some(r) = region {
            put(kv("flashcrowd.worker.region", r.clone()));
        }
    }
    if let Some(n) = run.workers {
        put(kv_int("flashcrowd.workers", i64::from(n)));
    }
    Resource {
        attributes: attrs,
        ..Default::default()
    }
}

/// The instrumentation scope of everything flashcrowd exports.
pub fn scope() -> InstrumentationScope {
    InstrumentationScope {
        name: "flashcrowd".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        ..Default::default()
    }
}

/// A message's protobuf bytes.
pub fn encode(m: &impl Message) -> Vec<u8> {
    m.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(r: &Resource, key: &str) -> Option<String> {
        r.attributes.iter().find(|a| a.key == key).and_then(|a| {
            match a.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) => Some(s.clone()),
                any_value::Value::IntValue(i) => Some(i.to_string()),
                _ => None,
            }
        })
    }

    #[test]
    fn flashcrowds_own_attributes_win_and_later_sources_override_earlier() {
        let env = vec![
            ("service.name".to_owned(), "shop".to_owned()),
            ("deployment.environment".to_owned(), "prod".to_owned()),
            ("team".to_owned(), "sre".to_owned()),
        ];
        let scenario = vec![("deployment.environment".to_owned(), "staging".to_owned())];
        let run = RunIdentity {
            run_id: "r1".into(),
            scenario: "quickstart".into(),
            scenario_sha256: "ab".into(),
            seed: u64::MAX,
            worker: Some((3, Some("eu".into()))),
            workers: None,
        };
        let r = resource(&env, &scenario, &run);
        assert_eq!(text(&r, "service.name").as_deref(), Some("flashcrowd"));
        assert_eq!(
            text(&r, "deployment.environment").as_deref(),
            Some("staging")
        );
        assert_eq!(text(&r, "team").as_deref(), Some("sre"));
        assert_eq!(text(&r, "flashcrowd.run_id").as_deref(), Some("r1"));
        assert_eq!(text(&r, "flashcrowd.seed"), Some(u64::MAX.to_string()));
        assert_eq!(text(&r, "flashcrowd.worker.index").as_deref(), Some("3"));
        assert_eq!(text(&r, "flashcrowd.worker.region").as_deref(), Some("eu"));
        let names: Vec<&str> = r.attributes.iter().map(|a| a.key.as_str()).collect();
        let unique: std::collections::BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "{names:?}");
    }
}
