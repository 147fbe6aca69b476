//! The files a scenario ships with in its ConfigMap: the scenario itself
//! and every feeder and profile file it read, at the same paths relative to
//! the mount as to the scenario's folder, so the scenario loads in the pod
//! exactly as it did here.
//!
//! Owns the key and path of each file and the size limit. Must not read
//! files: the loader already did, and what it read is what ships.

use std::collections::BTreeSet;
use std::path::{Component, Path};

use super::K8sError;
use crate::scenario::Sources;

/// Most bytes of file content in one ConfigMap. The API server refuses
/// objects over 1 MiB; the rest is left for metadata.
pub const MAX_BUNDLE_BYTES: usize = 1_000_000;

/// One file of the ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// ConfigMap key: `[-._a-zA-Z0-9]`, unique.
    pub key: String,
    /// Path under the mount, relative, `/`-separated.
    pub path: String,
    pub bytes: Vec<u8>,
}

/// The scenario first, then the files it read in the order it read them,
/// each once.
pub fn bundle(scenario_file: &Path, sources: &Sources) -> Result<Vec<Entry>, K8sError> {
    let base_dir = scenario_file.parent().unwrap_or(Path::new(""));
    let name = scenario_file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| K8sError::Unshippable {
            path: scenario_file.to_path_buf(),
            why: "it has no file name".into(),
        })?;
    let mut files = vec![(name, sources.text.as_bytes().to_vec())];
    for (path, bytes) in &sources.files {
        let rel = path.strip_prefix(base_dir).unwrap_or(path);
        files.push((relative(rel, path)?, bytes.clone()));
    }
    let mut keys = BTreeSet::new();
    let mut paths = BTreeSet::new();
    let mut out = Vec::new();
    for (path, bytes) in files {
        if !paths.insert(path.clone()) {
            continue;
        }
        let key = unique_key(&path, &keys);
        keys.insert(key.clone());
        out.push(Entry { key, path, bytes });
    }
    let size: usize = out.iter().map(|e| e.bytes.len()).sum();
    if size > MAX_BUNDLE_BYTES {
        return Err(K8sError::TooLarge {
            bytes: size,
            limit: MAX_BUNDLE_BYTES,
        });
    }
    Ok(out)
}

/// `rel` as a plain relative path below the mount; `..`, absolute paths
/// and anything not UTF-8 cannot be mapped into a ConfigMap volume.
fn relative(rel: &Path, shown: &Path) -> Result<String, K8sError> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(p) => match p.to_str() {
                Some(p) => parts.push(p),
                None => {
                    return Err(K8sError::Unshippable {
                        path: shown.to_path_buf(),
                        why: "its name is not UTF-8".into(),
                    })
                }
            },
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(K8sError::Unshippable {
                    path: shown.to_path_buf(),
                    why: "it lies outside the scenario's folder; move it next to the \
                          scenario (or below it) and refer to it from there"
                        .into(),
                })
            }
        }
    }
    if parts.is_empty() {
        return Err(K8sError::Unshippable {
            path: shown.to_path_buf(),
            why: "it names no file".into(),
        });
    }
    Ok(parts.join("/"))
}

/// A valid ConfigMap key for `path`, different from every key in `taken`.
fn unique_key(path: &str, taken: &BTreeSet<String>) -> String {
    let mut key: String = path
        .chars()
        .map(|c| match c {
            '/' => '.',
            c if c.is_ascii_alphanumeric() || "-._".contains(c) => c,
            _ => '_',
        })
        .collect();
    key.truncate(240);
    if key.chars().all(|c| c == '.') {
        key = "file".into();
    }
    let mut candidate = key.clone();
    let mut n = 2;
    while taken.contains(&candidate) {
        candidate = format!("{key}-{n}");
        n += 1;
    }
    candidate
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn sources(files: &[(&str, &str)]) -> Sources {
        Sources {
            text: "name: x\n".into(),
            files: files
                .iter()
                .map(|(p, b)| (PathBuf::from(p), b.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn files_keep_their_paths_relative_to_the_scenario() {
        let s = sources(&[
            ("dir/data/buyers.csv", "id\n"),
            ("dir/./eu.yaml", "name: eu\n"),
            ("dir/data/buyers.csv", "id\n"),
        ]);
        let b = bundle(Path::new("dir/sale.yaml"), &s).unwrap();
        let got: Vec<(&str, &str)> = b
            .iter()
            .map(|e| (e.key.as_str(), e.path.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("sale.yaml", "sale.yaml"),
                ("data.buyers.csv", "data/buyers.csv"),
                ("eu.yaml", "eu.yaml")
            ]
        );
        assert_eq!(b[0].bytes, b"name: x\n");
    }

    #[test]
    fn clashing_keys_get_a_number() {
        let s = sources(&[("data/a.csv", "1"), ("data.a.csv", "2")]);
        let b = bundle(Path::new("s.yaml"), &s).unwrap();
        let keys: Vec<&str> = b.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["s.yaml", "data.a.csv", "data.a.csv-2"]);
    }

    #[test]
    fn files_outside_the_folder_are_refused() {
        for p in ["dir/../x.csv", "/etc/x.csv"] {
            let err = bundle(Path::new("dir/s.yaml"), &sources(&[(p, "1")])).unwrap_err();
            assert!(matches!(err, K8sError::Unshippable { .. }), "{p}: {err}");
        }
    }

    #[test]
    fn a_bundle_over_the_configmap_limit_is_refused() {
        let big = "x".repeat(MAX_BUNDLE_BYTES);
        let err = bundle(Path::new("s.yaml"), &sources(&[("big.csv", &big)])).unwrap_err();
        assert!(matches!(err, K8sError::TooLarge { .. }));
    }
}
