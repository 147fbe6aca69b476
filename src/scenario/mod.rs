//! Scenario files: loading, validation and the typed model.
//!
//! Owns turning a YAML file into a [`Scenario`] or a complete list of
//! [`Diagnostic`]s. Must not send requests or know about the engine.
//!
//! STUB: the loader replaces this file.

pub mod feeder;
pub mod model;
pub mod template;
pub mod units;

pub use model::*;

/// STUB
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("stub")]
    Invalid,
}
/// STUB
pub fn load(_path: &std::path::Path) -> Result<Scenario, LoadError> {
    Err(LoadError::Invalid)
}
