//! The run directory's files: which formats exist, where each goes, reading
//! `report.json` back, and the report layer's error type.
//!
//! Owns the mapping from a [`Format`] to its file name and renderer, and
//! atomic writes (a reader never sees half a file). Must not render anything
//! itself: each format's content comes from its own module.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::Report;

/// What can go wrong reading, writing or comparing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a flashcrowd report: {source}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "{} has report schema version {found}; this flashcrowd reads version {}",
        path.display(),
        super::SCHEMA_VERSION
    )]
    Version { path: PathBuf, found: u32 },
    /// A format this build cannot render.
    #[error("the {0} output is not available in this build")]
    Unsupported(&'static str),
    /// A `--max-regression` list that does not parse.
    #[error("{0}")]
    Threshold(String),
}

/// An output format of a run directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    /// `report.json`: the contract every other format is rendered from.
    Json,
    /// `report.html`: a self-contained page with charts.
    Html,
    /// `junit.xml`: one test case per SLO, for CI systems.
    Junit,
    /// `summary.md`: a compact summary for a pull-request comment.
    Markdown,
    /// GitHub Actions workflow commands (annotations), printed on standard
    /// output rather than written to a file.
    Github,
}

impl Format {
    /// Every format, in the order they are written (`report.json` first, so
    /// the contract is on disk even if a rendering fails).
    pub const ALL: [Format; 4] = [Format::Json, Format::Html, Format::Junit, Format::Markdown];

    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Html => "html",
            Format::Junit => "junit",
            Format::Markdown => "md",
            Format::Github => "github",
        }
    }

    /// The file the format is written to inside the run directory (none
    /// for the annotations, which go to standard output).
    pub fn file_name(self) -> &'static str {
        match self {
            Format::Json => "report.json",
            Format::Html => "report.html",
            Format::Junit => "junit.xml",
            Format::Markdown => "summary.md",
            Format::Github => "",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "html" => Ok(Format::Html),
            "junit" | "xml" => Ok(Format::Junit),
            "md" | "markdown" => Ok(Format::Markdown),
            "github" => Ok(Format::Github),
            other => Err(format!(
                "unknown format `{other}`; choose from json, html, junit, md, github"
            )),
        }
    }
}

/// Write each of `formats` into `dir` (created if needed), `report.json`
/// first, each format once. Stops at the first failure. Returns the paths
/// written, in the order written. [`Format::Github`] has no file: the
/// caller prints [`super::github::render`].
pub fn write_formats(
    dir: &Path,
    report: &Report,
    formats: &[Format],
) -> Result<Vec<PathBuf>, ReportError> {
    let mut wanted = formats.to_vec();
    wanted.sort();
    wanted.dedup();
    let mut written = Vec::with_capacity(wanted.len());
    for format in wanted {
        let path = match format {
            Format::Json => super::json::write(dir, report).map_err(|source| ReportError::Write {
                path: dir.join(Format::Json.file_name()),
                source,
            }),
            Format::Html => super::html::write(dir, report).map_err(|source| ReportError::Write {
                path: dir.join(Format::Html.file_name()),
                source,
            }),
            Format::Junit => write_file(dir, format, super::junit::render(report).as_bytes()),
            Format::Markdown => write_file(dir, format, super::markdown::render(report).as_bytes()),
            Format::Github => continue,
        }?;
        written.push(path);
    }
    Ok(written)
}

/// Read the report a run left in `dir` (or the file itself, when `path`
/// names a file rather than a run directory).
pub fn read(path: &Path) -> Result<Report, ReportError> {
    let file = if path.is_dir() {
        path.join(Format::Json.file_name())
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file).map_err(|source| ReportError::Read {
        path: file.clone(),
        source,
    })?;
    // The version is checked before the whole model so a report from a
    // future flashcrowd says so instead of naming some missing field.
    let probe: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ReportError::Parse {
            path: file.clone(),
            source,
        })?;
    match probe
        .get("schema_version")
        .and_then(serde_json::Value::as_u64)
    {
        Some(v) if v == u64::from(super::SCHEMA_VERSION) => {}
        Some(v) => {
            return Err(ReportError::Version {
                path: file,
                found: u32::try_from(v).unwrap_or(u32::MAX),
            })
        }
        // Left to the full parse below, which names the missing field.
        None => {}
    }
    // Parsed again from the text so an error carries its line and column.
    serde_json::from_str(&text).map_err(|source| ReportError::Parse { path: file, source })
}

/// Write `bytes` to `dir/<format's file>` via a temporary file and a rename.
fn write_file(dir: &Path, format: Format, bytes: &[u8]) -> Result<PathBuf, ReportError> {
    write_atomic(dir, format.file_name(), bytes)
}

/// Write `bytes` to `dir/name` (creating `dir`) via a temporary file and a
/// rename, so a reader never sees half a file.
pub(crate) fn write_atomic(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, ReportError> {
    let path = dir.join(name);
    let tmp = dir.join(format!(".{name}.tmp"));
    let wrap = |source| ReportError::Write {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(wrap)?;
    std::fs::write(&tmp, bytes).map_err(wrap)?;
    std::fs::rename(&tmp, &path).map_err(wrap)?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::Format;
    use crate::report::Report;

    /// A real run's report (see `tests/fixtures/reports/gate.yaml`).
    const GATE: &str = include_str!("../../tests/fixtures/reports/gate/report.json");

    #[test]
    fn a_real_report_reads_back_and_writes_byte_for_byte() {
        let r: Report = serde_json::from_str(GATE).unwrap();
        let mut again = serde_json::to_string_pretty(&r).unwrap();
        again.push('\n');
        assert_eq!(again, GATE);
    }

    #[test]
    fn a_report_without_regions_reads_back() {
        let mut v: serde_json::Value = serde_json::from_str(GATE).unwrap();
        let map = v.as_object_mut().unwrap();
        map.remove("regions");
        map.remove("chaos");
        let r: Report = serde_json::from_value(v).unwrap();
        assert!(r.regions.is_empty() && r.chaos.is_none());
    }

    #[test]
    fn formats_parse_by_their_command_line_names() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert_eq!("Markdown".parse::<Format>(), Ok(Format::Markdown));
        assert_eq!("github".parse::<Format>(), Ok(Format::Github));
        let e = "pdf".parse::<Format>().unwrap_err();
        assert!(e.contains("json, html, junit, md, github"), "{e}");
    }
}
