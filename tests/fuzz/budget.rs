//! The fuzz targets' runner: a proptest run cut into seeded chunks and
//! bounded by a case count and a time budget.
//!
//! Owns reading the budget from the environment and turning a failure into
//! a panic that says how to replay it. Must not know what a target checks.

use std::fmt::Debug;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use proptest::strategy::Strategy;
use proptest::test_runner::{Config, RngAlgorithm, TestCaseError, TestRng, TestRunner};

/// Cases per target when `FLASHCROWD_FUZZ_CASES` is not set.
const DEFAULT_CASES: u32 = 20_000;
/// Time per target when neither variable is set: seven targets run in
/// parallel threads, so a plain `cargo test` spends about a minute of CPU
/// here, and well under that of wall time.
const DEFAULT_SECS: u64 = 8;
/// Upper bound on a run asked for by case count alone, so even a huge
/// `FLASHCROWD_FUZZ_CASES` ends.
const MAX_SECS: u64 = 24 * 60 * 60;
/// Cases per proptest run. Small enough that the time budget is checked
/// often, large enough that starting a runner costs nothing noticeable.
const CHUNK: u32 = 256;

/// How much fuzzing one target does.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub cases: u32,
    pub time: Duration,
    pub seed: u64,
}

impl Budget {
    /// `FLASHCROWD_FUZZ_CASES` (cases per target), `FLASHCROWD_FUZZ_SECS`
    /// (seconds per target) and `FLASHCROWD_FUZZ_SEED` (replays a run).
    /// Naming only a case count lifts the default time budget, so a long
    /// run is not cut short.
    pub fn from_env() -> Budget {
        let cases = env_num("FLASHCROWD_FUZZ_CASES");
        let secs = env_num("FLASHCROWD_FUZZ_SECS");
        let secs = match (cases, secs) {
            (_, Some(s)) => s,
            (Some(_), None) => MAX_SECS,
            (None, None) => DEFAULT_SECS,
        };
        let seed = env_num("FLASHCROWD_FUZZ_SEED").unwrap_or_else(|| {
            // A new seed each run explores new inputs; a failure prints it.
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
        Budget {
            cases: cases.map_or(DEFAULT_CASES, |c| u32::try_from(c).unwrap_or(u32::MAX)),
            time: Duration::from_secs(secs.min(MAX_SECS)),
            seed,
        }
    }
}

fn env_num(name: &str) -> Option<u64> {
    let v = std::env::var(name).ok()?;
    match v.trim().replace('_', "").parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={v:?} is not a whole number"),
    }
}

/// Run `test` on values of `strategy` until the budget's cases or time
/// run out. A failing case is shrunk by proptest, then reported with the
/// seed that replays it. Returns the number of cases run.
pub fn fuzz<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) -> u32
where
    S: Strategy,
    S::Value: Debug,
{
    let budget = Budget::from_env();
    let start = Instant::now();
    let mut done = 0u32;
    let mut chunk = 0u64;
    while done < budget.cases && start.elapsed() < budget.time {
        let cases = CHUNK.min(budget.cases - done);
        let config = Config {
            cases,
            failure_persistence: None,
            // Shrinking a slow case must not outlast the budget by much.
            max_shrink_time: 30_000,
            ..Config::default()
        };
        let mut runner = TestRunner::new_with_rng(config, rng(budget.seed, name, chunk));
        if let Err(e) = runner.run(&strategy, &test) {
            panic!(
                "fuzz target `{name}` failed; replay with FLASHCROWD_FUZZ_SEED={} \
                 (chunk {chunk}): {e}",
                budget.seed
            );
        }
        done += cases;
        chunk += 1;
    }
    eprintln!(
        "fuzz {name}: {done} cases in {:.1?} (FLASHCROWD_FUZZ_SEED={})",
        start.elapsed(),
        budget.seed
    );
    done
}

/// A generator for one chunk of one target: the same seed, target and
/// chunk always give the same inputs.
fn rng(seed: u64, name: &str, chunk: u64) -> TestRng {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    bytes[8..16].copy_from_slice(&chunk.to_le_bytes());
    // FNV-1a of the name keeps the targets' streams apart.
    let h = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    bytes[16..24].copy_from_slice(&h.to_le_bytes());
    TestRng::from_seed(RngAlgorithm::ChaCha, &bytes)
}
