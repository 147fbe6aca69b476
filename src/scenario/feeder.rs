//! CSV feeders: tables of test data (users, SKUs, tokens) that templates
//! read one row per iteration.
//!
//! Owns loading a CSV file into memory and choosing a row for an iteration.
//! Must not know about templates' syntax or the engine.
//!
//! STUB: interface only; the implementation replaces this file.

/// How an iteration's row is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOrder {
    /// Row `seq % rows`: every row in turn.
    Sequential,
    /// A row drawn from the iteration's seed.
    Random,
}

/// A loaded CSV table.
#[derive(Debug, Clone, PartialEq)]
pub struct Feeder {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub order: FeedOrder,
}
