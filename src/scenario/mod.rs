//! Scenario files: loading, validation and the typed model.
//!
//! Owns turning a YAML file into a [`Scenario`] or a complete list of
//! [`Diagnostic`]s: size cap, hashing, the marked YAML tree (`yaml`),
//! validation (`validate`), units, templates and feeders. Must not send
//! requests or know about the engine.

mod diagnostic;
pub mod dist;
pub mod feeder;
mod flow_guard;
mod ledger;
pub mod model;
pub mod profile;
mod regions;
pub mod secrets;
mod shape;
mod suggest;
mod telemetry;
pub mod template;
pub mod units;
mod validate;
mod yaml;

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use diagnostic::{Diagnostic, Diagnostics};
pub use model::*;
pub use validate::ReadFile;

/// Largest scenario file accepted; bigger files are refused before parsing.
pub const MAX_FILE_BYTES: u64 = 4 << 20;

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    // A whole-file problem, placed at 1:1 so tools that read
    // `file:line:col` (editors, CI annotations) still pick it up.
    #[error(
        "{}:1:1: the file is {size} bytes, and scenario files are limited to {} MiB",
        path.display(),
        limit >> 20
    )]
    TooLarge {
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Read, hash, parse and validate a scenario file; CSV feeders are read
/// relative to the file's directory.
pub fn load(path: &Path) -> Result<Scenario, LoadError> {
    let text = read_scenario_text(path)?;
    load_str(path, &text)
}

/// The bytes a scenario was built from, for shipping it elsewhere (a
/// Kubernetes ConfigMap): the file's text and every file it referenced.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    pub text: String,
    /// Feeder and profile files, as read: path (the scenario's folder
    /// joined with the reference) and bytes. A file referenced twice is
    /// listed twice.
    pub files: Vec<(PathBuf, Vec<u8>)>,
}

/// [`load`], also returning the [`Sources`] it read.
pub fn load_with_sources(path: &Path) -> Result<(Scenario, Sources), LoadError> {
    let text = read_scenario_text(path)?;
    let mut files = Vec::new();
    let mut record = |p: &Path| {
        let read = read_feeder_file(p);
        if let Ok(bytes) = &read {
            files.push((p.to_path_buf(), bytes.clone()));
        }
        read
    };
    let scenario = load_with(path, &text, &mut record)?;
    Ok((scenario, Sources { text, files }))
}

/// The file's text, size-capped and checked to be UTF-8.
fn read_scenario_text(path: &Path) -> Result<String, LoadError> {
    let bytes = read_capped(path, MAX_FILE_BYTES).map_err(|e| match e {
        Capped::Io(source) => LoadError::Io {
            path: path.to_path_buf(),
            source,
        },
        Capped::TooLarge(size) => LoadError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        },
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => Ok(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let pos = yaml::Source::pos_of_byte(e.as_bytes(), at);
            Err(LoadError::Invalid(Diagnostics(vec![Diagnostic {
                file: path.to_path_buf(),
                line: pos.line,
                col: pos.col,
                path: String::new(),
                message: "the file is not valid UTF-8".into(),
                hint: Some("save it as UTF-8".into()),
            }])))
        }
    }
}

/// Like [`load`], with the text already in hand; `file` names it in
/// diagnostics and locates feeder files.
pub fn load_str(file: &Path, text: &str) -> Result<Scenario, LoadError> {
    load_with(file, text, &mut read_feeder_file)
}

/// [`load_str`] with a chosen way of reading the files a scenario refers
/// to (feeders, profile files): `read` gets the path joined to `file`'s
/// folder and answers the bytes or why not. Lets tests and fuzzing serve
/// those files from memory, so hostile text never reaches the disk.
pub fn load_with(
    file: &Path,
    text: &str,
    read: &mut validate::ReadFile<'_>,
) -> Result<Scenario, LoadError> {
    let size = text.len() as u64;
    if size > MAX_FILE_BYTES {
        return Err(LoadError::TooLarge {
            path: file.to_path_buf(),
            size,
            limit: MAX_FILE_BYTES,
        });
    }
    let sha256 = hex::encode(Sha256::digest(text.as_bytes()));
    let src = yaml::Source::new(text);
    let doc = match yaml::parse(text) {
        Ok(doc) => doc,
        Err(issue) => {
            return Err(LoadError::Invalid(Diagnostics(vec![Diagnostic {
                file: file.to_path_buf(),
                line: issue.pos.line,
                col: issue.pos.col,
                path: issue.path,
                message: issue.message,
                hint: issue.hint,
            }])))
        }
    };
    let base_dir = file.parent().unwrap_or(Path::new(""));
    let input = validate::Input {
        file,
        src: &src,
        sha256,
        base_dir,
    };
    validate::validate(input, doc, read).map_err(|d| LoadError::Invalid(Diagnostics(d)))
}

enum Capped {
    Io(io::Error),
    TooLarge(u64),
}

/// Read a whole file, refusing files larger than `limit` without reading
/// them (and files that grow past it while being read).
fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, Capped> {
    let file = File::open(path).map_err(Capped::Io)?;
    let len = file.metadata().map_err(Capped::Io)?.len();
    if len > limit {
        return Err(Capped::TooLarge(len));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Capped::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Capped::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

fn read_feeder_file(path: &Path) -> Result<Vec<u8>, String> {
    read_capped(path, feeder::MAX_FEEDER_BYTES).map_err(|e| match e {
        Capped::Io(e) if e.kind() == io::ErrorKind::NotFound => "no such file".to_owned(),
        Capped::Io(e) => format!("cannot read it: {e}"),
        Capped::TooLarge(size) => format!(
            "the file is {size} bytes, and feeder files are limited to {} MiB",
            feeder::MAX_FEEDER_BYTES >> 20
        ),
    })
}

#[cfg(test)]
mod flow_tests;
#[cfg(test)]
mod ledger_tests;
#[cfg(test)]
mod regions_tests;
#[cfg(test)]
mod telemetry_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod ws_tests;
