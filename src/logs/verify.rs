//! `patrol logs verify BUNDLE`: re-reads a bundle and checks every file against its manifest.

use super::LogsError;
use super::bundle::{FORMAT, Manifest, hex};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

/// What verification found.
#[derive(Debug, Clone, Default)]
pub struct Verification {
    /// Files whose size and SHA-256 match the manifest.
    pub verified: usize,
    /// One line per problem: a changed, missing or unlisted file.
    pub problems: Vec<String>,
    pub manifest: Option<Manifest>,
}

impl Verification {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.manifest.is_some()
    }
}

/// Reads the whole bundle, hashes every file and compares with `manifest.json`.
pub fn verify(path: &Path) -> Result<Verification, LogsError> {
    let file =
        std::fs::File::open(path).map_err(|e| LogsError::Read(path.into(), e.to_string()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let entries = archive
        .entries()
        .map_err(|e| LogsError::Read(path.into(), e.to_string()))?;
    let mut found: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut manifest_bytes = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| LogsError::Read(path.into(), e.to_string()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let name = entry
            .path()
            .map_err(|e| LogsError::Read(path.into(), e.to_string()))?
            .to_string_lossy()
            .into_owned();
        // Paths in the manifest are relative to the bundle's top folder.
        let rel = name
            .split_once('/')
            .map(|(_, r)| r.to_string())
            .unwrap_or(name);
        let mut data = Vec::new();
        entry
            .read_to_end(&mut data)
            .map_err(|e| LogsError::Read(path.into(), e.to_string()))?;
        if rel == "manifest.json" {
            manifest_bytes = Some(data);
            continue;
        }
        found.insert(rel, (data.len() as u64, hex(&Sha256::digest(&data))));
    }
    let mut v = Verification::default();
    let Some(bytes) = manifest_bytes else {
        v.problems.push("manifest.json is missing".into());
        return Ok(v);
    };
    let manifest: Manifest = match serde_json::from_slice(&bytes) {
        Ok(m) => m,
        Err(e) => {
            v.problems
                .push(format!("manifest.json cannot be read: {e}"));
            return Ok(v);
        }
    };
    if manifest.format != FORMAT {
        v.problems.push(format!(
            "manifest.json: format is `{}`, not `{FORMAT}`",
            manifest.format
        ));
    }
    for f in &manifest.files {
        match found.remove(&f.path) {
            None => v
                .problems
                .push(format!("{}: listed in the manifest but missing", f.path)),
            Some((size, sha)) if sha != f.sha256 || size != f.size => v.problems.push(format!(
                "{}: changed (manifest: {} bytes, sha256 {}; bundle: {size} bytes, sha256 {sha})",
                f.path, f.size, f.sha256
            )),
            Some(_) => v.verified += 1,
        }
    }
    for extra in found.keys() {
        v.problems
            .push(format!("{extra}: in the bundle but not in the manifest"));
    }
    v.manifest = Some(manifest);
    Ok(v)
}
