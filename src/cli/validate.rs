//! `flashcrowd validate`: load each file and print every diagnostic.
//!
//! Owns how load problems reach the terminal. Must not validate anything
//! itself; the `scenario` module does.

use std::path::{Path, PathBuf};

use super::exit;
use crate::scenario::{self, Scenario};
use crate::slo::Objectives;

pub(super) fn run(files: &[PathBuf]) -> u8 {
    let mut ok = true;
    for f in files {
        match load_or_report(f) {
            Some(s) => {
                let slos = match s.objectives {
                    Objectives::Written => format!("{} SLOs", s.slos.len()),
                    Objectives::Defaults => {
                        format!("no `slos:`, so {} default objectives", s.slos.len())
                    }
                    Objectives::None => "no objectives (`slos: []`)".to_owned(),
                };
                println!(
                    "{}: ok ({} phases, {} flows, {slos})",
                    f.display(),
                    s.phases.len(),
                    s.flows.len(),
                );
                if s.objectives == Objectives::Defaults {
                    for slo in &s.slos {
                        println!("  default: {}", slo.expr);
                    }
                }
            }
            None => ok = false,
        }
    }
    if ok {
        exit::PASS
    } else {
        exit::INVALID_INPUT
    }
}

/// Load a scenario, or print why not (to stderr) and return `None`.
pub(super) fn load_or_report(path: &Path) -> Option<Scenario> {
    match scenario::load(path) {
        Ok(s) => Some(s),
        Err(e) => {
            eprintln!("{e}");
            None
        }
    }
}
