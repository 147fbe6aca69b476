//! Writing `report.json` into the run directory.
//!
//! Owns file naming and atomic writes (a reader never sees half a report).
//! Must not change the report's content.

use std::io;
use std::path::{Path, PathBuf};

use super::Report;

/// Write `DIR/report.json` (creating `DIR`), via a temporary file and a
/// rename. Returns the path written.
pub fn write(dir: &Path, report: &Report) -> io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join("report.json");
    let tmp = dir.join(".report.json.tmp");
    let mut bytes = serde_json::to_vec_pretty(report).map_err(io::Error::other)?;
    bytes.push(b'\n');
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, &path)?;
    Ok(path)
}
