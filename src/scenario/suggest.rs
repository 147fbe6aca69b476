//! "Did you mean `x`?" suggestions for misspelt names.
//!
//! Owns the closeness rule. Must not format whole messages.

/// The candidate closest to `word`, if it is close enough to be a likely
/// typo.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word_lc = word.to_ascii_lowercase();
    let limit = (word.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .map(|c| {
            let d = strsim::damerau_levenshtein(&word_lc, &c.to_ascii_lowercase());
            (d, c)
        })
        .filter(|&(d, c)| d <= limit.max(c.chars().count() / 3) && d < c.chars().count())
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// `did you mean `x`?` for the closest candidate, if any.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    closest(word, candidates).map(|c| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_near_misses_only() {
        let fields = ["name", "duration", "flow", "load", "at"];
        assert_eq!(closest("duraton", fields), Some("duration"));
        assert_eq!(closest("flwo", fields), Some("flow"));
        assert_eq!(closest("Name", fields), Some("name"));
        assert_eq!(closest("colour", fields), None);
        assert_eq!(closest("x", ["at"]), None);
    }
}
