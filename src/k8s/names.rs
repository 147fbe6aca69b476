//! Kubernetes naming and value rules: DNS-1123 names derived from scenario
//! and region names, label keys and values, resource quantities, and
//! quoting for the `sh -c` wrappers.
//!
//! Owns these syntax checks only, as the API server applies them, so a
//! rendered manifest is refused here rather than by `kubectl apply`. Must
//! not build objects.

/// Longest DNS-1123 label (namespaces, Services, label values).
pub const MAX_LABEL: usize = 63;

/// Turn any text into a DNS-1123 label of at most `max` characters:
/// lower case, runs of anything but `[a-z0-9]` become one `-`, no `-` at
/// either end. `None` when nothing usable is left.
pub fn slug(text: &str, max: usize) -> Option<String> {
    let mut out = String::new();
    for c in text.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(max);
    let out = out.trim_end_matches('-').to_owned();
    (!out.is_empty()).then_some(out)
}

/// Why `name` is not a DNS-1123 label, if it is not.
pub fn check_dns_label(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_LABEL {
        return Err(format!("must be 1 to {MAX_LABEL} characters"));
    }
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !ok_chars || name.starts_with('-') || name.ends_with('-') {
        return Err(
            "must be lower-case letters, digits and `-`, starting and ending \
                    with a letter or digit"
                .into(),
        );
    }
    Ok(())
}

/// Why `value` is not a valid label value, if it is not (at most 63
/// characters of `[A-Za-z0-9_.-]`, alphanumeric at both ends).
pub fn check_label_value(value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Ok(());
    }
    check_label_name(value)
}

/// Why `key` is not a qualified label key (`[prefix/]name`), if it is not.
pub fn check_label_key(key: &str) -> Result<(), String> {
    let name = match key.split_once('/') {
        Some((prefix, name)) => {
            check_dns_subdomain(prefix).map_err(|why| format!("its prefix {why}"))?;
            name
        }
        None => key,
    };
    if name.is_empty() {
        return Err("needs a name".into());
    }
    check_label_name(name)
}

fn check_label_name(name: &str) -> Result<(), String> {
    let alnum_ends = name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if name.len() > MAX_LABEL || !alnum_ends || !ok_chars {
        return Err(format!(
            "must be at most {MAX_LABEL} characters of letters, digits, `-`, `_` and \
             `.`, starting and ending with a letter or digit"
        ));
    }
    Ok(())
}

fn check_dns_subdomain(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err("must be at most 253 characters".into());
    }
    name.split('.').try_for_each(check_dns_label)
}

/// Why `q` is not a positive Kubernetes quantity (`2`, `500m`, `1.5`,
/// `2Gi`, `512M`, `1e3`), if it is not.
pub fn check_quantity(q: &str) -> Result<(), String> {
    const HINT: &str = "use a number with an optional suffix, e.g. 2, 500m, 2Gi or 512M";
    let body = q.strip_prefix('+').unwrap_or(q);
    let digits_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(digits_end);
    let well_formed_number = !number.is_empty()
        && number != "."
        && number.matches('.').count() <= 1
        && number.chars().any(|c| c.is_ascii_digit());
    let known_suffix = matches!(
        suffix,
        "" | "m" | "k" | "M" | "G" | "T" | "P" | "E" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|exp| exp.strip_prefix(['+', '-']).unwrap_or(exp))
        .is_some_and(|exp| !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit()));
    if !well_formed_number || !known_suffix {
        return Err(format!("`{q}` is not a quantity; {HINT}"));
    }
    if !number.chars().any(|c| c.is_ascii_digit() && c != '0') {
        return Err(format!("`{q}` is zero; it must be more than nothing"));
    }
    Ok(())
}

/// Quote `s` for a POSIX shell when it holds anything beyond a safe set,
/// so values from the scenario can never be read as shell syntax.
pub fn sh_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,".contains(c));
    if safe {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_dns_labels() {
        assert_eq!(
            slug("Flash Sale: 11.11!", 30).as_deref(),
            Some("flash-sale-11-11")
        );
        assert_eq!(slug("--eu_west--", 30).as_deref(), Some("eu-west"));
        assert_eq!(slug("abcdef", 3).as_deref(), Some("abc"));
        assert_eq!(slug("ab-cd", 3).as_deref(), Some("ab"));
        assert_eq!(slug("日本", 30), None);
        for s in ["Flash Sale: 11.11!", "--eu_west--", "x"] {
            check_dns_label(&slug(s, 63).unwrap()).unwrap();
        }
    }

    #[test]
    fn dns_labels_refuse_upper_case_and_edges() {
        assert!(check_dns_label("flashcrowd").is_ok());
        assert!(check_dns_label("Flash").is_err());
        assert!(check_dns_label("-a").is_err());
        assert!(check_dns_label("a_b").is_err());
        assert!(check_dns_label("").is_err());
        assert!(check_dns_label(&"a".repeat(64)).is_err());
    }

    #[test]
    fn label_keys_may_have_a_dns_prefix() {
        assert!(check_label_key("topology.kubernetes.io/region").is_ok());
        assert!(check_label_key("region").is_ok());
        assert!(check_label_key("Bad Prefix/region").is_err());
        assert!(check_label_key("example.com/").is_err());
        assert!(check_label_key("a/b/c").is_err());
        assert!(check_label_value("eu-west-1").is_ok());
        assert!(check_label_value("eu:west").is_err());
    }

    #[test]
    fn quantities_take_kubernetes_suffixes_and_refuse_zero() {
        for ok in ["2", "500m", "1.5", "2Gi", "512M", "1e3", "+4", "0.5"] {
            assert!(check_quantity(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "0", "0m", "two", "2 Gi", "2GB", "1.2.3", ".", "1e", "-1",
        ] {
            assert!(check_quantity(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn shell_quoting_leaves_safe_words_alone() {
        assert_eq!(sh_quote("/scenario/a.yaml"), "/scenario/a.yaml");
        assert_eq!(sh_quote("it's $x"), r"'it'\''s $x'");
        assert_eq!(sh_quote(""), "''");
    }
}
