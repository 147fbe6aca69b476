//! CSV feeders: tables of test data (users, SKUs, tokens) that templates
//! read one row per iteration.
//!
//! Owns turning CSV bytes into a table and choosing a row for an iteration.
//! Must not know about templates' syntax, files on disk or the engine.

/// Largest CSV file a feeder may load.
pub const MAX_FEEDER_BYTES: u64 = 64 << 20;

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

/// Why a CSV file could not become a feeder.
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
    /// answers the same row.
    pub fn row_for(&self, index: usize, seq: u64, iter_seed: u64) -> Option<&[String]> {
        let n = self.rows.len() as u64;
        if n == 0 {
            return None;
        }
        let i = match self.order {
            FeedOrder::Sequential => seq % n,
            FeedOrder::Random => mix(iter_seed ^ mix(index as u64 + 1)) % n,
        };
        self.rows.get(i as usize).map(Vec::as_slice)
    }
}

/// SplitMix64's finaliser: a fast, well-spread hash of one word.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
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
