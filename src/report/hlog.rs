//! `latency.hlog`: the run's latency as an HdrHistogram interval log
//! (format 1.3, V2 compressed histograms, base64), one histogram per second
//! and tag, written while the run goes so memory stays flat; readable by
//! HdrHistogram's own tools (`HistogramLogProcessor`, `hdrhistogram`'s
//! interval-log reader, HdrHistogramVisualizer).
//!
//! Tags are `phase/step`, or `phase/step@region` when the scenario names
//! regions. Values are microseconds, so a tool printing milliseconds wants
//! an output value unit ratio of 1000; the `Interval_Max` column is already
//! in milliseconds. Timestamps are seconds since `BaseTime`, the run's
//! start.
//!
//! Owns the file's layout and its writer task. Must not merge or choose
//! intervals (the engine's collector does).

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use tokio::sync::mpsc;

use crate::engine::StepKeys;
use crate::metrics::interval::Closed;
use crate::scenario::Scenario;

/// File name inside the run directory.
pub const FILE: &str = "latency.hlog";

/// The tag of every step key, in key order.
pub fn tags(scenario: &Scenario, keys: &StepKeys) -> Vec<String> {
    (0..keys.len())
        .map(|k| {
            let (pi, si, ri) = keys.triple(k);
            let phase = scenario.phases.get(pi);
            let step = phase
                .and_then(|p| scenario.flows.get(p.flow))
                .and_then(|f| f.steps.get(si));
            let mut tag = format!(
                "{}/{}",
                phase.map_or("?", |p| p.name.as_str()),
                step.map_or("?", |s| s.name.as_str())
            );
            if let Some(r) = scenario.regions.get(ri) {
                tag.push('@');
                tag.push_str(&r.name);
            }
            tag
        })
        .collect()
}

/// A writer running on the blocking pool: send it closed seconds; drop
/// the sender and await the handle for the result.
pub struct LogWriter {
    pub sink: mpsc::UnboundedSender<Closed>,
    pub done: tokio::task::JoinHandle<io::Result<PathBuf>>,
}

/// Create `dir/latency.hlog` and write into it. `start` brings the
/// wall-clock time of the run's origin, known only once the run starts
/// (after a distributed run's barrier); the header waits for it.
pub fn spawn(
    dir: &Path,
    tags: Vec<String>,
    start: std::sync::mpsc::Receiver<SystemTime>,
) -> io::Result<LogWriter> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(FILE);
    let file = std::fs::File::create(&path)?;
    let (sink, mut rx) = mpsc::unbounded_channel::<Closed>();
    let done = tokio::task::spawn_blocking(move || {
        let mut out = BufWriter::new(file);
        // A run that never started still gets a valid (empty) log.
        let start = start.recv().unwrap_or_else(|_| SystemTime::now());
        header(&mut out, start)?;
        let mut serializer = V2DeflateSerializer::new();
        let mut log = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1_000.0)
            .begin_log_with(&mut out, &mut serializer)?;
        while let Some(closed) = rx.blocking_recv() {
            let at = Duration::from_secs(u64::from(closed.second));
            for p in closed.parts.iter().filter(|p| !p.latency.is_empty()) {
                let tag = tags.get(p.key).and_then(|t| Tag::new(t));
                log.write_histogram(&p.latency, at, Duration::from_secs(1), tag)
                    .map_err(|e| io::Error::other(format!("{e:?}")))?;
            }
        }
        drop(log);
        out.flush()?;
        Ok(path)
    });
    Ok(LogWriter { sink, done })
}

/// The lines HdrHistogram's own writers put first.
fn header(out: &mut impl Write, start: SystemTime) -> io::Result<()> {
    let secs = start
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64();
    writeln!(
        out,
        "#[Logged with flashcrowd {}; values in microseconds]",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "#[Histogram log format version 1.3]")?;
    writeln!(out, "#[StartTime: {secs:.3} (seconds since epoch)]")?;
    writeln!(out, "#[BaseTime: {secs:.3} (seconds since epoch)]")?;
    writeln!(
        out,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )
}
