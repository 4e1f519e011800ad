//! Config folders for the tests.

use super::write_tree;
use std::path::{Path, PathBuf};

/// Writes a config folder: `root` as `patrol.yaml` and each `(name, yaml)` of `checks` as
/// `checks/NAME.yaml`. Returns the path of `patrol.yaml`.
pub fn write_config(dir: &Path, root: &str, checks: &[(&str, &str)]) -> PathBuf {
    let files: Vec<(String, &str)> = std::iter::once(("patrol.yaml".to_string(), root))
        .chain(
            checks
                .iter()
                .map(|(name, yaml)| (format!("checks/{name}.yaml"), *yaml)),
        )
        .collect();
    let refs: Vec<(&str, &str)> = files.iter().map(|(p, c)| (p.as_str(), *c)).collect();
    write_tree(dir, &refs);
    dir.join("patrol.yaml")
}
