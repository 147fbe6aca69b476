//! STUB
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    s.strip_suffix("ms")
        .and_then(|n| n.parse().ok())
        .map(std::time::Duration::from_millis)
        .ok_or_else(|| "bad".into())
}
