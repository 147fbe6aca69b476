//! Diagnostics: one problem in a scenario file, located at `file:line:col`
//! with the field path and an optional hint, and the list of all of them.
//!
//! Owns how problems are described and printed. Must not decide what is a
//! problem (the validator does) or print anything itself.

use std::fmt;
use std::path::PathBuf;

/// One problem in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    /// 1-based line of the offending node.
    pub line: usize,
    /// 1-based column (in characters) of the offending node.
    pub col: usize,
    /// Field path such as `phases[1].duration`; empty for problems with the
    /// file as a whole (YAML syntax, size).
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

/// Field path `parent.key`, or `parent["key"]` when the key would be
/// ambiguous.
pub fn join(parent: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':'));
    match (parent.is_empty(), plain) {
        (true, true) => key.to_owned(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// `parent[i]`.
pub fn index(parent: &str, i: usize) -> String {
    format!("{parent}[{i}]")
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.col)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// Every problem found in one file, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a Diagnostics {
    type Item = &'a Diagnostic;
    type IntoIter = std::slice::Iter<'a, Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        match self.0.len() {
            1 => f.write_str("1 problem found"),
            n => write!(f, "{n} problems found"),
        }
    }
}

impl std::error::Error for Diagnostics {}

#[cfg(test)]
mod tests {
    use super::*;

    fn diag(path: &str, hint: Option<&str>) -> Diagnostic {
        Diagnostic {
            file: PathBuf::from("s.yaml"),
            line: 3,
            col: 7,
            path: path.into(),
            message: "bad".into(),
            hint: hint.map(Into::into),
        }
    }

    #[test]
    fn display_is_file_line_col_path_message_then_hint() {
        assert_eq!(
            diag("phases[1].duration", Some("try 10s")).to_string(),
            "s.yaml:3:7: phases[1].duration: bad\n  hint: try 10s"
        );
        assert_eq!(diag("", None).to_string(), "s.yaml:3:7: bad");
    }

    #[test]
    fn field_paths_quote_awkward_keys() {
        assert_eq!(join("", "phases"), "phases");
        assert_eq!(join(&index("phases", 1), "duration"), "phases[1].duration");
        assert_eq!(join("json", "order.id"), "json[\"order.id\"]");
    }

    #[test]
    fn list_ends_with_a_count() {
        let one = Diagnostics(vec![diag("a", None)]);
        assert_eq!(one.to_string(), "s.yaml:3:7: a: bad\n1 problem found");
        let two = Diagnostics(vec![diag("a", None), diag("b", None)]);
        assert!(two.to_string().ends_with("\n2 problems found"));
    }
}
