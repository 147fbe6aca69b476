//! Feeders: tables of test data (users, SKUs, coupons) that templates read
//! one row per iteration, loaded from CSV or from a JSON array of flat
//! objects.
//!
//! Owns turning file bytes into a table and choosing a row for an
//! iteration. Must not know about templates' syntax, files on disk or the
//! engine.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Largest feeder file (CSV or JSON) a feeder may load.
pub const MAX_FEEDER_BYTES: u64 = 64 << 20;
/// Most distinct keys (columns) of a JSON feeder.
const MAX_JSON_COLUMNS: usize = 256;
/// Most values (rows × columns, missing keys included) of a JSON feeder.
const MAX_JSON_CELLS: usize = 16 << 20;

/// How an iteration's row is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedOrder {
    /// Row `seq % rows`: every row in turn.
    Sequential,
    /// A row drawn from the iteration's seed.
    Random,
    /// Row `seq`: every session or iteration its own row, never shared
    /// (one-time coupons, single-use accounts). Past the last row there is
    /// no row, and templates reading it are unresolved.
    Unique,
}

/// A loaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct Feeder {
    pub name: String,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub order: FeedOrder,
}

/// Why a file could not become a feeder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FeederError {
    pub message: String,
    pub hint: Option<String>,
}

fn ferr(message: impl Into<String>, hint: Option<&str>) -> FeederError {
    FeederError {
        message: message.into(),
        hint: hint.map(str::to_owned),
    }
}

impl Feeder {
    /// Parse CSV bytes: the first row names the columns, every other row is
    /// data and must have as many fields.
    pub fn from_csv(name: &str, order: FeedOrder, bytes: &[u8]) -> Result<Feeder, FeederError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ferr(
                "the CSV file is empty",
                Some("the first row names the columns, e.g. `id,name`"),
            ));
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .from_reader(bytes);
        let columns: Vec<String> = reader
            .headers()
            .map_err(|e| csv_error(&e))?
            .iter()
            .map(str::to_owned)
            .collect();
        for (i, c) in columns.iter().enumerate() {
            if c.is_empty() {
                return Err(ferr(format!("column {} has no name", i + 1), None));
            }
            if columns[..i].contains(c) {
                return Err(ferr(format!("column `{c}` appears twice"), None));
            }
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record = record.map_err(|e| csv_error(&e))?;
            rows.push(record.iter().map(str::to_owned).collect());
        }
        if rows.is_empty() {
            return Err(ferr("the CSV file has a header row but no data rows", None));
        }
        Ok(Feeder {
            name: name.to_owned(),
            columns,
            rows,
            order,
        })
    }

    /// Index of a column by name.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The row an iteration reads. `index` is this feeder's position in
    /// [`Scenario::feeders`](super::Scenario::feeders), so two random
    /// feeders do not move in lockstep. Every call with the same arguments
    /// answers the same row. `None` when a `unique` feeder has run out of
    /// rows (`seq` is past the last one).
    pub fn row_for(&self, index: usize, seq: u64, iter_seed: u64) -> Option<&[String]> {
        let n = self.rows.len() as u64;
        if n == 0 {
            return None;
        }
        let i = match self.order {
            FeedOrder::Sequential => seq % n,
            FeedOrder::Random => mix(iter_seed ^ mix(index as u64 + 1)) % n,
            FeedOrder::Unique => seq,
        };
        self.rows.get(usize::try_from(i).ok()?).map(Vec::as_slice)
    }

    /// Parse a JSON array of flat objects: each object is a row; the
    /// columns are every key met, in order of first appearance (the first
    /// object's keys first). Strings are taken as is, numbers and booleans
    /// as their JSON text; `null` and missing keys are empty.
    pub fn from_json(name: &str, order: FeedOrder, bytes: &[u8]) -> Result<Feeder, FeederError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ferr("the JSON file is empty", Some(JSON_HINT)));
        }
        let JsonRows(objects) = serde_json::from_slice(bytes).map_err(|e| json_error(&e))?;
        if objects.is_empty() {
            return Err(ferr("the JSON array has no rows", Some(JSON_HINT)));
        }
        let mut columns: Vec<String> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (r, object) in objects.iter().enumerate() {
            for (key, _) in object {
                if key.is_empty() {
                    return Err(ferr(
                        format!("row {}: a key is empty; keys name the columns", r + 1),
                        None,
                    ));
                }
                if !index.contains_key(key) {
                    if columns.len() == MAX_JSON_COLUMNS {
                        return Err(ferr(
                            format!("the rows have more than {MAX_JSON_COLUMNS} different keys"),
                            Some("each key is a column; keep one table's objects alike"),
                        ));
                    }
                    index.insert(key.clone(), columns.len());
                    columns.push(key.clone());
                }
            }
        }
        let cells = objects.len().saturating_mul(columns.len());
        if cells > MAX_JSON_CELLS {
            return Err(ferr(
                format!(
                    "{} rows × {} columns is more than {MAX_JSON_CELLS} values",
                    objects.len(),
                    columns.len()
                ),
                Some("split the table, or give the rows fewer different keys"),
            ));
        }
        let mut rows = Vec::with_capacity(objects.len());
        // `seen[c] == r + 1`: row `r` has already set column `c`.
        let mut seen = vec![0usize; columns.len()];
        for (r, object) in objects.into_iter().enumerate() {
            let mut row = vec![String::new(); columns.len()];
            for (key, value) in object {
                let Some(&c) = index.get(&key) else { continue };
                if seen[c] == r + 1 {
                    return Err(ferr(
                        format!("row {}: key `{key}` appears twice", r + 1),
                        None,
                    ));
                }
                seen[c] = r + 1;
                row[c] = value;
            }
            rows.push(row);
        }
        Ok(Feeder {
            name: name.to_owned(),
            columns,
            rows,
            order,
        })
    }
}

/// SplitMix64's finaliser: a fast, well-spread hash of one word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const JSON_HINT: &str =
    "a JSON feeder is an array of flat objects, e.g. `[{\"code\": \"A1\", \"pct\": 10}]`";

/// A JSON feeder file: an array of flat objects, each kept as its entries
/// in file order (already turned into text).
struct JsonRows(Vec<Vec<(String, String)>>);

/// One flat object, in key order.
struct JsonRow(Vec<(String, String)>);

impl<'de> Deserialize<'de> for JsonRows {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Rows;
        impl<'de> Visitor<'de> for Rows {
            type Value = JsonRows;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an array of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<JsonRows, A::Error> {
                let mut rows = Vec::new();
                while let Some(JsonRow(row)) = seq.next_element()? {
                    rows.push(row);
                }
                Ok(JsonRows(rows))
            }
        }
        d.deserialize_seq(Rows)
    }
}

impl<'de> Deserialize<'de> for JsonRow {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Row;
        impl<'de> Visitor<'de> for Row {
            type Value = JsonRow;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object (one row)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonRow, A::Error> {
                let mut row: Vec<(String, String)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
                    let text = match value {
                        serde_json::Value::Null => String::new(),
                        serde_json::Value::String(s) => s,
                        serde_json::Value::Bool(b) => b.to_string(),
                        serde_json::Value::Number(n) => n.to_string(),
                        serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                            return Err(de::Error::custom(format_args!(
                                "the value of `{key}` is a nested array or object; rows must be flat"
                            )));
                        }
                    };
                    row.push((key, text));
                }
                Ok(JsonRow(row))
            }
        }
        d.deserialize_map(Row)
    }
}

fn json_error(e: &serde_json::Error) -> FeederError {
    let text = e.to_string();
    // serde_json appends " at line L column C"; put the line first, as
    // CSV errors do.
    let message = match text.rfind(" at line ") {
        Some(i) if e.line() > 0 => format!("line {}: {}", e.line(), &text[..i]),
        _ => text,
    };
    let hint = matches!(e.classify(), serde_json::error::Category::Data).then_some(JSON_HINT);
    ferr(message, hint)
}

fn csv_error(e: &csv::Error) -> FeederError {
    let line = e.position().map(csv::Position::line);
    let at = line.map(|l| format!("line {l}: ")).unwrap_or_default();
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => ferr(
            format!("{at}the row has {len} fields but the header has {expected_len}"),
            Some("every row needs one value per column; quote values that contain commas"),
        ),
        csv::ErrorKind::Utf8 { .. } => ferr(format!("{at}the CSV file is not valid UTF-8"), None),
        _ => ferr(format!("{at}{e}"), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_header_and_rows() {
        let f = Feeder::from_csv(
            "users",
            FeedOrder::Sequential,
            b"id,name\nu1,Ann\nu2,\"B, b\"\n",
        )
        .unwrap();
        assert_eq!(f.columns, ["id", "name"]);
        assert_eq!(f.rows[1], ["u2", "B, b"]);
        assert_eq!(f.column("name"), Some(1));
    }

    #[test]
    fn refuses_empty_headerless_and_ragged_files() {
        let e = Feeder::from_csv("u", FeedOrder::Sequential, b"").unwrap_err();
        assert!(e.message.contains("empty"));
        let e = Feeder::from_csv("u", FeedOrder::Sequential, b"id,name\n").unwrap_err();
        assert!(e.message.contains("no data rows"));
        let e = Feeder::from_csv("u", FeedOrder::Sequential, b"id,name\na,b\nc\n").unwrap_err();
        assert_eq!(
            e.message,
            "line 3: the row has 1 fields but the header has 2"
        );
        let e = Feeder::from_csv("u", FeedOrder::Sequential, b"id,id\na,b\n").unwrap_err();
        assert!(e.message.contains("twice"));
    }

    #[test]
    fn json_rows_become_a_table_with_every_key_as_a_column() {
        let f = Feeder::from_json(
            "coupons",
            FeedOrder::Unique,
            br#"[{"code": "A1", "pct": 10, "vip": true},
                 {"pct": 15.5, "code": "B2", "note": "x"},
                 {"code": "C3", "vip": null}]"#,
        )
        .unwrap();
        assert_eq!(f.columns, ["code", "pct", "vip", "note"]);
        assert_eq!(f.rows[0], ["A1", "10", "true", ""]);
        assert_eq!(f.rows[1], ["B2", "15.5", "", "x"]);
        assert_eq!(f.rows[2], ["C3", "", "", ""]);
        assert_eq!(f.order, FeedOrder::Unique);
    }

    #[test]
    fn json_feeders_refuse_what_is_not_a_flat_table() {
        let msg = |bytes: &[u8]| Feeder::from_json("c", FeedOrder::Sequential, bytes).unwrap_err();
        assert!(msg(b"  ").message.contains("empty"));
        assert!(msg(b"[]").message.contains("no rows"));
        let e = msg(b"{\"code\": 1}");
        assert_eq!(
            e.message,
            "line 1: invalid type: map, expected an array of objects"
        );
        assert!(e.hint.is_some());
        let e = msg(b"[{\"a\": 1},\n {\"a\": [1]}]");
        assert!(e.message.starts_with("line 2"), "{}", e.message);
        assert!(
            e.message.contains("`a` is a nested array or object"),
            "{}",
            e.message
        );
        assert!(msg(b"[1, 2]").message.contains("an object"));
        assert!(msg(b"[{\"a\": 1, \"a\": 2}]")
            .message
            .contains("appears twice"));
        assert!(msg(b"[{\"\": 1}]").message.contains("empty"));
        assert!(msg(b"[{\"a\": 1}").message.contains("EOF"));
    }

    #[test]
    fn unique_rows_are_used_once_then_run_out() {
        let f = Feeder::from_csv("u", FeedOrder::Unique, b"id\n0\n1\n").unwrap();
        assert_eq!(f.row_for(0, 0, 9).unwrap()[0], "0");
        assert_eq!(f.row_for(0, 1, 9).unwrap()[0], "1");
        assert_eq!(f.row_for(0, 2, 9), None);
        assert_eq!(f.row_for(0, u64::MAX, 9), None);
    }

    #[test]
    fn sequential_rows_cycle_and_random_rows_are_stable_per_seed() {
        let mut f = Feeder::from_csv("u", FeedOrder::Sequential, b"id\n0\n1\n2\n").unwrap();
        assert_eq!(f.row_for(0, 4, 99).unwrap()[0], "1");
        f.order = FeedOrder::Random;
        let a = f.row_for(0, 0, 12345).unwrap();
        assert_eq!(a, f.row_for(0, 7, 12345).unwrap());
        let hits: std::collections::HashSet<_> = (0..200)
            .map(|s| f.row_for(0, 0, s).unwrap()[0].clone())
            .collect();
        assert_eq!(hits.len(), 3);
    }
}
