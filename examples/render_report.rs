//! Render a `report.json` as `report.html`, for looking at the page
//! without running a scenario: `cargo run --example render_report --
//! REPORT_JSON OUT_DIR`.

use std::path::PathBuf;

use flashcrowd::report::{html, Report};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args_os().skip(1);
    let (Some(input), Some(out)) = (args.next(), args.next()) else {
        anyhow::bail!("usage: render_report REPORT_JSON OUT_DIR");
    };
    let text = std::fs::read_to_string(&input)?;
    let report: Report = serde_json::from_str(&text)?;
    let path = html::write(&PathBuf::from(out), &report)?;
    println!("{}", path.display());
    Ok(())
}
