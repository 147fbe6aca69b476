//! `flashcrowd report DIR`: write a run's outputs again from its
//! `report.json`, and the output step `run` shares with it.
//!
//! Owns what the terminal shows about written files and how write failures
//! map to exit codes. Must not render anything; `report::write_formats`
//! does.

use std::path::{Path, PathBuf};

use super::exit;
use crate::report::{self, Format, Report, ReportError};

pub(super) fn run(path: &Path, formats: &[Format]) -> u8 {
    let dir = &run_dir(path);
    let report = match report::read(path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return exit::INVALID_INPUT;
        }
    };
    match write_outputs(dir, &report, formats) {
        // Annotations alone were asked for, and printed.
        Ok(written) if written.is_empty() && formats.contains(&Format::Github) => exit::PASS,
        Ok(written) if written.is_empty() => {
            eprintln!("error: none of the requested outputs can be written by this build");
            exit::INVALID_INPUT
        }
        Ok(written) => {
            print_written(dir, &written);
            exit::PASS
        }
        Err(code) => code,
    }
}

/// Write `formats` into `dir` and list them (unless `quiet`); the exit code
/// to stop with when one cannot be written.
pub(super) fn write_and_list(
    dir: &Path,
    report: &Report,
    formats: &[Format],
    quiet: bool,
) -> Result<(), u8> {
    let written = write_outputs(dir, report, formats)?;
    if !quiet {
        print_written(dir, &written);
    }
    Ok(())
}

/// Write each format, `report.json` first. A format this build cannot
/// render is skipped with a warning: the verdict a gate reads must not hang
/// on an optional rendering. Any other failure stops with exit 4.
fn write_outputs(
    dir: &Path,
    report: &Report,
    formats: &[Format],
) -> Result<Vec<(Format, PathBuf)>, u8> {
    let mut wanted = formats.to_vec();
    wanted.sort();
    wanted.dedup();
    let mut written = Vec::new();
    for format in wanted {
        if format == Format::Github {
            // Workflow commands are read from standard output, even when
            // the run is --quiet.
            print!(
                "{}",
                report::github::render(report, &workspace_path(&report.scenario.file))
            );
            continue;
        }
        match report::write_formats(dir, report, &[format]) {
            Ok(paths) => written.extend(paths.into_iter().map(|p| (format, p))),
            Err(e @ ReportError::Unsupported(_)) => eprintln!("warning: {e}; skipped"),
            Err(e) => {
                eprintln!("error: {e}");
                return Err(exit::HARNESS_FAILURE);
            }
        }
    }
    Ok(written)
}

fn print_written(dir: &Path, written: &[(Format, PathBuf)]) {
    for (format, path) in written {
        // `report:` names report.json, as it always has.
        let label = match format {
            Format::Json => "report",
            other => other.name(),
        };
        println!("  {label}: {}", path.display());
    }
    println!("  run directory: {}", dir.display());
}

/// The scenario's path as the repository names it: GitHub places an
/// annotation on a file of the diff only by its path relative to the
/// workspace, so an absolute path inside `GITHUB_WORKSPACE` is cut to that.
fn workspace_path(file: &str) -> String {
    relative_to(file, std::env::var_os("GITHUB_WORKSPACE").as_deref())
}

fn relative_to(file: &str, workspace: Option<&std::ffi::OsStr>) -> String {
    let Some(ws) = workspace else {
        return file.to_owned();
    };
    Path::new(file)
        .strip_prefix(Path::new(ws))
        .map_or_else(|_| file.to_owned(), |p| p.display().to_string())
}

/// The run directory a path names: itself, or the folder of a report file.
pub(super) fn run_dir(path: &Path) -> PathBuf {
    if path.is_file() {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    } else {
        path.to_path_buf()
    }
}

#[cfg(test)]
mod tests {
    use super::relative_to;
    use std::ffi::OsStr;

    #[test]
    fn an_annotation_path_is_made_relative_to_the_workspace_only_inside_it() {
        let ws = Some(OsStr::new("/home/runner/work/shop/shop"));
        assert_eq!(
            relative_to("/home/runner/work/shop/shop/scenarios/gate.yaml", ws),
            "scenarios/gate.yaml"
        );
        assert_eq!(
            relative_to("scenarios/gate.yaml", ws),
            "scenarios/gate.yaml"
        );
        assert_eq!(relative_to("/etc/gate.yaml", ws), "/etc/gate.yaml");
        assert_eq!(relative_to("/x/gate.yaml", None), "/x/gate.yaml");
    }
}
