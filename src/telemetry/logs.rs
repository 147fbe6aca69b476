//! The harness's own log lines (`tracing` events) as OTLP log records:
//! a `tracing` layer that is always installed and stays idle until a run
//! with `telemetry: { logs: true }` connects its exporter to the tap.
//!
//! Owns turning an event into a [`LogLine`]. Never waits: a line that
//! does not fit the exporter's queue is dropped. Must not log itself, and
//! skips the exporter's own events so a failing collector cannot feed on
//! its own warnings.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

use super::signals::LogLine;

/// Where log lines go while a run exports them.
#[derive(Clone, Default)]
pub struct LogTap(Arc<Mutex<Option<mpsc::Sender<LogLine>>>>);

impl LogTap {
    /// Send log lines to `tx` from now on.
    pub fn connect(&self, tx: mpsc::Sender<LogLine>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
    }

    /// Stop sending log lines.
    pub fn disconnect(&self) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = None;
    }
}

/// The process's tap, shared by the layer and the run.
pub fn tap() -> &'static LogTap {
    static TAP: OnceLock<LogTap> = OnceLock::new();
    TAP.get_or_init(LogTap::default)
}

/// The layer to add to the process's subscriber.
pub fn layer() -> OtlpLogLayer {
    OtlpLogLayer { tap: tap().clone() }
}

pub struct OtlpLogLayer {
    tap: LogTap,
}

impl<S: Subscriber> Layer<S> for OtlpLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if meta.target().starts_with(super::LOG_TARGET) {
            return;
        }
        let guard = self.tap.0.lock().unwrap_or_else(|p| p.into_inner());
        let Some(tx) = guard.as_ref() else {
            return;
        };
        let mut v = Fields::default();
        event.record(&mut v);
        let line = LogLine {
            time_unix_nano: SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            level: meta.level().as_str(),
            target: meta.target().to_owned(),
            message: v.message,
            fields: v.fields,
        };
        // Full or gone: the line is dropped, the program goes on.
        let _ = tx.try_send(line);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    fields: Vec<(String, String)>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.fields
                .push((field.name().to_owned(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.fields
                .push((field.name().to_owned(), format!("{value:?}")));
        }
    }
}

#[cfg(test)]
mod tests {
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[test]
    fn events_reach_a_connected_tap_and_the_exporters_own_do_not() {
        let t = LogTap::default();
        let subscriber = tracing_subscriber::registry().with(OtlpLogLayer { tap: t.clone() });
        let (tx, mut rx) = mpsc::channel(8);
        tracing::subscriber::with_default(subscriber, || {
            // Events from this module would be the exporter's own: these
            // name another target.
            tracing::warn!(target: "flashcrowd::dist", "before anyone listens");
            t.connect(tx);
            tracing::warn!(target: "flashcrowd::dist", worker = 3, "worker lost; its slice is not replayed");
            tracing::warn!(target: "flashcrowd::telemetry", "export failed");
            t.disconnect();
            tracing::warn!(target: "flashcrowd::dist", "after");
        });
        let line = rx.try_recv().unwrap();
        assert_eq!(line.level, "WARN");
        assert_eq!(line.message, "worker lost; its slice is not replayed");
        assert_eq!(line.fields, [("worker".to_owned(), "3".to_owned())]);
        assert!(rx.try_recv().is_err());
    }
}
