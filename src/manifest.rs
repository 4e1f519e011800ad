//! Checksum manifests of a backup, as the `sample_restore` probe reads them: `sha256sum`
//! output (GNU and BSD forms) or JSON in a few common shapes. The formats are documented with
//! the probe (`src/probe/sample_restore.rs`).

use serde_json::Value;
use std::collections::HashSet;

/// A manifest larger than this is refused.
pub const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;

/// One entry of the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestItem {
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: Option<u64>,
}

/// Parses a manifest: `sha256sum` lines or JSON (the formats the `sample_restore` probe
/// documents). Returns the items in manifest order and the format's name.
pub fn parse_manifest(bytes: &[u8]) -> Result<(Vec<ManifestItem>, &'static str), String> {
    let text = std::str::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))?;
    let text = text.trim_start_matches('\u{feff}');
    let items = if matches!(text.trim_start().chars().next(), Some('[' | '{')) {
        (parse_json_manifest(text)?, "json")
    } else {
        (parse_sums(text)?, "sha256sum")
    };
    let mut seen = HashSet::new();
    for item in &items.0 {
        if !seen.insert(item.path.as_str()) {
            return Err(format!("{:?} is listed twice", item.path));
        }
    }
    Ok(items)
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn parse_sums(text: &str) -> Result<Vec<ManifestItem>, String> {
    let mut items = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let bad = || {
            format!(
                "line {}: expected `SHA256  path` or `SHA256 (path) = HEX`, found {:?}",
                n + 1,
                line.chars().take(80).collect::<String>()
            )
        };
        // BSD style: SHA256 (path) = hex
        if let Some(rest) = line.strip_prefix("SHA256 (") {
            let (path, hash) = rest.rsplit_once(") = ").ok_or_else(bad)?;
            if !is_sha256(hash.trim()) || path.is_empty() {
                return Err(bad());
            }
            items.push(ManifestItem {
                path: path.to_string(),
                sha256: hash.trim().to_ascii_lowercase(),
                size: None,
            });
            continue;
        }
        // GNU style; a leading backslash means the name is escaped (\\ and \n).
        let (escaped, line) = match line.strip_prefix('\\') {
            Some(rest) => (true, rest),
            None => (false, line),
        };
        if line.len() < 66 || !line.is_char_boundary(64) {
            return Err(bad());
        }
        let (hash, rest) = line.split_at(64);
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(bad)?;
        if !is_sha256(hash) || path.is_empty() {
            return Err(bad());
        }
        let path = if escaped {
            path.replace("\\n", "\n").replace("\\\\", "\\")
        } else {
            path.to_string()
        };
        items.push(ManifestItem {
            path,
            sha256: hash.to_ascii_lowercase(),
            size: None,
        });
    }
    Ok(items)
}

fn parse_json_manifest(text: &str) -> Result<Vec<ManifestItem>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let list = match &v {
        Value::Array(a) => Some(a),
        Value::Object(m) => ["items", "files", "objects"]
            .iter()
            .find_map(|k| m.get(*k).and_then(Value::as_array)),
        _ => None,
    };
    if let Some(list) = list {
        return list
            .iter()
            .enumerate()
            .map(|(i, entry)| json_item(None, entry).map_err(|e| format!("item {}: {e}", i + 1)))
            .collect();
    }
    match v {
        Value::Object(m) => m
            .iter()
            .map(|(path, entry)| json_item(Some(path), entry).map_err(|e| format!("{path:?}: {e}")))
            .collect(),
        _ => Err("expected a list of items or an object".into()),
    }
}

fn json_item(path: Option<&str>, entry: &Value) -> Result<ManifestItem, String> {
    let field = |names: &[&str]| names.iter().find_map(|n| entry.get(*n));
    let (path, hash, size) = match (path, entry) {
        (Some(p), Value::String(h)) => (p.to_string(), h.clone(), None),
        (p, Value::Object(_)) => {
            let path = match p {
                Some(p) => p.to_string(),
                None => field(&["path", "key", "name", "file"])
                    .and_then(Value::as_str)
                    .ok_or("no `path`")?
                    .to_string(),
            };
            let hash = field(&["sha256", "checksum", "hash"])
                .and_then(Value::as_str)
                .ok_or("no `sha256`")?
                .to_string();
            let size = match field(&["size", "bytes"]) {
                None | Some(Value::Null) => None,
                Some(s) => Some(s.as_u64().ok_or("`size` is not a whole number of bytes")?),
            };
            (path, hash, size)
        }
        _ => return Err("expected an object with `path` and `sha256`".into()),
    };
    let hash = hash
        .trim()
        .trim_start_matches("sha256:")
        .to_ascii_lowercase();
    if !is_sha256(&hash) {
        return Err(format!("{hash:?} is not a SHA-256 in hex"));
    }
    if path.is_empty() {
        return Err("empty path".into());
    }
    Ok(ManifestItem {
        path,
        sha256: hash,
        size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    const H2: &str = "2C26B46B68FFC68FF99B453C1D30413413422D706483BFA0F98A5E886266E7AE";

    #[test]
    fn sha256sum_lines_are_read() {
        let text = format!(
            "# made by sha256sum\n{H1}  dir/a b.bin\n{H2} *b.bin\n\nSHA256 (c.txt) = {H1}\n\\{H1}  new\\nline\n"
        );
        let (items, format) = parse_manifest(text.as_bytes()).unwrap();
        assert_eq!(format, "sha256sum");
        let paths: Vec<_> = items.iter().map(|i| i.path.as_str()).collect();
        assert_eq!(paths, ["dir/a b.bin", "b.bin", "c.txt", "new\nline"]);
        assert_eq!(items[1].sha256, H2.to_ascii_lowercase());
        assert_eq!(items[0].size, None);
    }

    #[test]
    fn bad_sha256sum_lines_name_the_line() {
        let err = parse_manifest(format!("{H1}  a\nnot a line\n").as_bytes()).unwrap_err();
        assert!(err.starts_with("line 2:"), "{err}");
        let err = parse_manifest(format!("{H1}  a\n{H1}  a\n").as_bytes()).unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn json_manifests_in_every_shape() {
        let list = format!(r#"[{{"path":"a","sha256":"{H1}","size":4}}]"#);
        let wrapped = format!(r#"{{"files":[{{"key":"a","checksum":"sha256:{H1}","bytes":4}}]}}"#);
        let map = format!(r#"{{"a":{{"sha256":"{H1}","size":4}}}}"#);
        for text in [list, wrapped, map] {
            let (items, format) = parse_manifest(text.as_bytes()).unwrap();
            assert_eq!(format, "json");
            assert_eq!(
                items,
                vec![ManifestItem {
                    path: "a".into(),
                    sha256: H1.into(),
                    size: Some(4)
                }],
                "{text}"
            );
        }
        let (items, _) = parse_manifest(format!(r#"{{"a":"{H1}"}}"#).as_bytes()).unwrap();
        assert_eq!(items[0].size, None);
        let err = parse_manifest(br#"[{"path":"a","sha256":"xyz"}]"#).unwrap_err();
        assert!(err.contains("item 1"), "{err}");
    }
}
