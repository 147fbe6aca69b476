//! Where a run's telemetry goes, resolved the ecosystem's way: the
//! `--otlp` flag, else `OTEL_EXPORTER_OTLP_ENDPOINT` (and the per-signal
//! `OTEL_EXPORTER_OTLP_{METRICS,TRACES,LOGS}_ENDPOINT`),
//! `OTEL_EXPORTER_OTLP_PROTOCOL`, `OTEL_EXPORTER_OTLP_HEADERS`,
//! `OTEL_EXPORTER_OTLP_TIMEOUT`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_METRIC_EXPORT_INTERVAL` and `OTEL_SDK_DISABLED`.
//!
//! Owns reading and checking those settings. Variables are read through a
//! function handed in, so tests never touch the process environment. Must
//! not open connections.

use std::time::Duration;

use http::{HeaderName, HeaderValue};

/// How requests travel to the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// Protobuf bodies POSTed to `/v1/metrics`, `/v1/traces`, `/v1/logs`.
    HttpProtobuf,
    /// gRPC over cleartext HTTP/2 (the collector's port 4317).
    Grpc,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::HttpProtobuf => "http/protobuf",
            Protocol::Grpc => "grpc",
        }
    }

    pub fn parse(s: &str) -> Result<Self, ConfigError> {
        match s.trim() {
            "http/protobuf" | "" => Ok(Protocol::HttpProtobuf),
            "grpc" => Ok(Protocol::Grpc),
            "http/json" => Err(ConfigError::Protocol(
                "`http/json` is not supported; use `http/protobuf` (the default) or `grpc`".into(),
            )),
            other => Err(ConfigError::Protocol(format!(
                "`{other}` is not an OTLP protocol; use `http/protobuf` or `grpc`"
            ))),
        }
    }
}

/// One kind of telemetry and its place on the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Metrics,
    Traces,
    Logs,
}

impl Signal {
    pub const ALL: [Signal; 3] = [Signal::Metrics, Signal::Traces, Signal::Logs];

    /// Path under an HTTP base endpoint.
    fn http_path(self) -> &'static str {
        match self {
            Signal::Metrics => "v1/metrics",
            Signal::Traces => "v1/traces",
            Signal::Logs => "v1/logs",
        }
    }

    /// The gRPC method's path.
    fn grpc_path(self) -> &'static str {
        match self {
            Signal::Metrics => "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
            Signal::Traces => "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            Signal::Logs => "/opentelemetry.proto.collector.logs.v1.LogsService/Export",
        }
    }

    fn env_suffix(self) -> &'static str {
        match self {
            Signal::Metrics => "METRICS",
            Signal::Traces => "TRACES",
            Signal::Logs => "LOGS",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

/// The collector and how to talk to it.
#[derive(Debug, Clone)]
pub struct OtlpConfig {
    pub protocol: Protocol,
    /// Full URL of each signal, by [`Signal::index`].
    pub urls: [url::Url; 3],
    /// Sent with every export (API keys, tenant ids).
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// Longest one export may take.
    pub timeout: Duration,
    /// From `OTEL_RESOURCE_ATTRIBUTES`.
    pub resource: Vec<(String, String)>,
    /// From `OTEL_METRIC_EXPORT_INTERVAL`.
    pub interval: Option<Duration>,
}

impl OtlpConfig {
    pub fn url(&self, s: Signal) -> &url::Url {
        &self.urls[s.index()]
    }

    /// What the warnings and the report call the collector.
    pub fn label(&self) -> String {
        let u = self.url(Signal::Metrics);
        format!(
            "{}://{}{} ({})",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port().map_or(String::new(), |p| format!(":{p}")),
            self.protocol.name()
        )
    }
}

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: `{value}` is not a usable endpoint: {why}")]
    Endpoint {
        var: &'static str,
        value: String,
        why: String,
    },
    #[error("OTLP protocol: {0}")]
    Protocol(String),
    #[error("OTEL_EXPORTER_OTLP_HEADERS: {0}")]
    Headers(String),
    #[error("OTEL_RESOURCE_ATTRIBUTES: {0}")]
    Resource(String),
    #[error("{var}: `{value}` is not a whole number of milliseconds")]
    Millis { var: &'static str, value: String },
}

/// Export timeout when `OTEL_EXPORTER_OTLP_TIMEOUT` says nothing: the
/// specification's default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The run's collector, if any: `flag` (`--otlp`) first, then the
/// variables `env` reads. `None` when nothing asks for an export or
/// `OTEL_SDK_DISABLED=true` (a flag still wins over that).
pub fn resolve(
    flag: Option<&str>,
    protocol_flag: Option<&str>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<OtlpConfig>, ConfigError> {
    let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let base = match flag {
        Some(f) => Some(("--otlp", f.to_owned())),
        None if disabled => return Ok(None),
        None => var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|v| ("OTEL_EXPORTER_OTLP_ENDPOINT", v)),
    };
    let per_signal: Vec<Option<String>> = Signal::ALL
        .iter()
        .map(|s| {
            if flag.is_some() {
                None
            } else {
                var(&format!("OTEL_EXPORTER_OTLP_{}_ENDPOINT", s.env_suffix()))
            }
        })
        .collect();
    if base.is_none() && per_signal.iter().all(Option::is_none) {
        return Ok(None);
    }
    let protocol = match protocol_flag {
        Some(p) => Protocol::parse(p)?,
        None => Protocol::parse(&var("OTEL_EXPORTER_OTLP_PROTOCOL").unwrap_or_default())?,
    };
    let default_base = match protocol {
        Protocol::HttpProtobuf => "http://localhost:4318",
        Protocol::Grpc => "http://localhost:4317",
    };
    let (base_var, base_value) =
        base.unwrap_or(("OTEL_EXPORTER_OTLP_ENDPOINT", default_base.into()));
    let base_url = endpoint(base_var, &base_value, protocol)?;
    let mut urls = Vec::with_capacity(3);
    for (s, own) in Signal::ALL.iter().zip(per_signal) {
        let url = match (own, protocol) {
            // A signal's own endpoint is used as it is (HTTP), or as the
            // server to call the signal's method on (gRPC).
            (Some(v), Protocol::HttpProtobuf) => endpoint(signal_var(*s), &v, protocol)?,
            (Some(v), Protocol::Grpc) => {
                with_path(&endpoint(signal_var(*s), &v, protocol)?, s.grpc_path())
            }
            (None, Protocol::HttpProtobuf) => {
                let mut u = base_url.clone();
                let path = u.path().trim_end_matches('/').to_owned();
                u.set_path(&format!("{path}/{}", s.http_path()));
                u
            }
            (None, Protocol::Grpc) => with_path(&base_url, s.grpc_path()),
        };
        urls.push(url);
    }
    let urls: [url::Url; 3] = urls
        .try_into()
        .map_err(|_| ConfigError::Protocol("internal: three signals".into()))?;
    let headers = match var("OTEL_EXPORTER_OTLP_HEADERS") {
        Some(h) => headers(&h)?,
        None => Vec::new(),
    };
    let resource = match var("OTEL_RESOURCE_ATTRIBUTES") {
        Some(r) => resource(&r)?,
        None => Vec::new(),
    };
    let timeout = millis(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        var("OTEL_EXPORTER_OTLP_TIMEOUT"),
    )?
    .unwrap_or(DEFAULT_TIMEOUT);
    let interval = millis(
        "OTEL_METRIC_EXPORT_INTERVAL",
        var("OTEL_METRIC_EXPORT_INTERVAL"),
    )?;
    Ok(Some(OtlpConfig {
        protocol,
        urls,
        headers,
        timeout,
        resource,
        interval,
    }))
}

fn signal_var(s: Signal) -> &'static str {
    match s {
        Signal::Metrics => "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        Signal::Traces => "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        Signal::Logs => "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
    }
}

fn with_path(u: &url::Url, path: &str) -> url::Url {
    let mut u = u.clone();
    u.set_path(path);
    u
}

fn endpoint(var: &'static str, value: &str, protocol: Protocol) -> Result<url::Url, ConfigError> {
    let bad = |why: &str| ConfigError::Endpoint {
        var,
        value: value.to_owned(),
        why: why.to_owned(),
    };
    let u = url::Url::parse(value.trim()).map_err(|e| bad(&e.to_string()))?;
    if u.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    match (u.scheme(), protocol) {
        ("http", _) | ("https", Protocol::HttpProtobuf) => Ok(u),
        ("https", Protocol::Grpc) => Err(bad(
            "gRPC is spoken over cleartext HTTP/2 only; use `http/protobuf` for a TLS endpoint",
        )),
        _ => Err(bad("use an http:// or https:// URL")),
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (W3C baggage
/// syntax, as the specification asks).
fn pairs(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let Some((k, v)) = item.split_once('=') else {
            return Err(format!("`{item}` is not `key=value`"));
        };
        let k = k.trim();
        if k.is_empty() {
            return Err(format!("`{item}` has no key"));
        }
        let v =
            percent_decode(v.trim()).ok_or_else(|| format!("`{item}`: bad percent-encoding"))?;
        out.push((k.to_owned(), v));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn headers(text: &str) -> Result<Vec<(HeaderName, HeaderValue)>, ConfigError> {
    pairs(text)
        .map_err(ConfigError::Headers)?
        .into_iter()
        .map(|(k, v)| {
            let name = HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| ConfigError::Headers(format!("`{k}` is not a header name")))?;
            let value = HeaderValue::from_str(&v).map_err(|_| {
                ConfigError::Headers(format!("the value of `{k}` is not a header value"))
            })?;
            Ok((name, value))
        })
        .collect()
}

fn resource(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    pairs(text).map_err(ConfigError::Resource)
}

fn millis(var: &'static str, v: Option<String>) -> Result<Option<Duration>, ConfigError> {
    let Some(v) = v else {
        return Ok(None);
    };
    match v.trim().parse::<u64>() {
        Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
        _ => Err(ConfigError::Millis { var, value: v }),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn nothing_configured_exports_nothing() {
        assert!(resolve(None, None, &with(&[])).unwrap().is_none());
        let off = with(&[
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
        ]);
        assert!(resolve(None, None, &off).unwrap().is_none());
        // The flag is an explicit request and wins.
        assert!(resolve(Some("http://c:4318"), None, &off)
            .unwrap()
            .is_some());
    }

    #[test]
    fn an_http_base_endpoint_gets_each_signals_path() {
        let c = resolve(
            None,
            None,
            &with(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/otlp/"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "https://traces.example/v1/spans",
                ),
                (
                    "OTEL_EXPORTER_OTLP_HEADERS",
                    "x-api-key=abc%3D%3D, x-tenant = team-1",
                ),
                (
                    "OTEL_RESOURCE_ATTRIBUTES",
                    "deployment.environment=staging,k8s.pod.name=gen%2D1",
                ),
                ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
                ("OTEL_METRIC_EXPORT_INTERVAL", "3000"),
            ]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.protocol, Protocol::HttpProtobuf);
        assert_eq!(
            c.url(Signal::Metrics).as_str(),
            "http://collector:4318/otlp/v1/metrics"
        );
        assert_eq!(
            c.url(Signal::Logs).as_str(),
            "http://collector:4318/otlp/v1/logs"
        );
        assert_eq!(
            c.url(Signal::Traces).as_str(),
            "https://traces.example/v1/spans"
        );
        assert_eq!(c.headers[0].0.as_str(), "x-api-key");
        assert_eq!(c.headers[0].1, "abc==");
        assert_eq!(c.headers[1].1, "team-1");
        assert_eq!(
            c.resource,
            [
                ("deployment.environment", "staging"),
                ("k8s.pod.name", "gen-1")
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .to_vec()
        );
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!(c.interval, Some(Duration::from_secs(3)));
        assert_eq!(c.label(), "http://collector:4318 (http/protobuf)");
    }

    #[test]
    fn grpc_calls_each_services_export_method() {
        let c = resolve(Some("http://collector:4317"), Some("grpc"), &with(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            c.url(Signal::Metrics).as_str(),
            "http://collector:4317/opentelemetry.proto.collector.metrics.v1.MetricsService/Export"
        );
        let env = with(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_LOGS_ENDPOINT", "http://l:4317"),
        ]);
        let c = resolve(None, None, &env).unwrap().unwrap();
        assert_eq!(
            c.url(Signal::Logs).as_str(),
            "http://l:4317/opentelemetry.proto.collector.logs.v1.LogsService/Export"
        );
        // Only logs were given a place; the rest go to the default.
        assert_eq!(c.url(Signal::Metrics).host_str(), Some("localhost"));
    }

    #[test]
    fn unusable_settings_name_their_variable() {
        let cases: [(&[(&str, &str)], &str); 5] = [
            (
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")],
                "OTEL_EXPORTER_OTLP_ENDPOINT",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                    ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
                ],
                "http/json",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                    ("OTEL_EXPORTER_OTLP_HEADERS", "novalue"),
                ],
                "OTEL_EXPORTER_OTLP_HEADERS",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                    ("OTEL_RESOURCE_ATTRIBUTES", "a=%zz"),
                ],
                "OTEL_RESOURCE_ATTRIBUTES",
            ),
            (
                &[
                    ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"),
                    ("OTEL_EXPORTER_OTLP_TIMEOUT", "10s"),
                ],
                "OTEL_EXPORTER_OTLP_TIMEOUT",
            ),
        ];
        for (vars, needle) in cases {
            let e = resolve(None, None, &with(vars)).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
        let e = resolve(Some("https://c:4317"), Some("grpc"), &with(&[])).unwrap_err();
        assert!(e.to_string().contains("cleartext"), "{e}");
    }
}
