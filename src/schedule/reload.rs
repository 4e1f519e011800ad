//! Loading the configuration off the async workers, and watching its files for changes.

use crate::app::App;
use crate::config::{Config, Diagnostic};
use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use tokio::sync::mpsc;

/// How long file events must be quiet before a reload: editors write a file in several
/// steps, and `git checkout` touches many files at once.
pub(crate) const DEBOUNCE: std::time::Duration = std::time::Duration::from_millis(500);

/// [`App::load`] on a blocking thread (it reads files and compiles rules).
pub(crate) async fn load(path: &Path) -> Result<(App, Vec<Diagnostic>), Vec<Diagnostic>> {
    let p = path.to_path_buf();
    match tokio::task::spawn_blocking(move || App::load(&p)).await {
        Ok(result) => result,
        Err(e) => Err(vec![Diagnostic::new(
            path,
            1,
            1,
            format!("loading the configuration failed: {e}"),
        )]),
    }
}

/// Logs each problem at ERROR as `file:line:col: message`.
pub(crate) fn log_problems(problems: &[Diagnostic]) {
    for p in problems {
        tracing::error!(
            file = %p.file.display(),
            line = p.line,
            column = p.column,
            "{p}"
        );
    }
}

/// Which changed paths matter: the root config, and check and rule files under the
/// configured folders (never the SQLite files beside `patrol.yaml`).
#[derive(Debug, Clone)]
struct Interest {
    config_file: PathBuf,
    /// Check folders and explicitly listed check files.
    checks: Vec<PathBuf>,
    rules: Vec<PathBuf>,
}

impl Interest {
    fn matches(&self, p: &Path) -> bool {
        if p == self.config_file {
            return true;
        }
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        let under = |roots: &[PathBuf]| roots.iter().any(|r| p.starts_with(r));
        // A folder itself (created, removed, renamed) has no extension.
        let is_folder_event = ext.is_empty()
            && (self.checks.contains(&p.to_path_buf()) || self.rules.contains(&p.to_path_buf()));
        (under(&self.checks) && matches!(ext, "yaml" | "yml"))
            || (under(&self.rules) && ext == "rhai")
            || is_folder_event
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

/// Watches the files of `config`; each relevant change sends `()` on `tx`.
pub(crate) fn watch(
    config: &Config,
    tx: mpsc::UnboundedSender<()>,
) -> notify::Result<RecommendedWatcher> {
    let config_file = absolute(&config.path);
    let base = absolute(&config.base_dir);
    let checks: Vec<PathBuf> = config
        .root
        .checks
        .iter()
        .map(|c| absolute(&base.join(c)))
        .collect();
    let rules: Vec<PathBuf> = config
        .root
        .rules
        .iter()
        .map(|r| absolute(&base.join(r)))
        .collect();
    let interest = Interest {
        config_file: config_file.clone(),
        checks: checks.clone(),
        rules: rules.clone(),
    };
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        let Ok(event) = res else { return };
        if matches!(event.kind, EventKind::Access(_)) {
            return;
        }
        if event.paths.iter().any(|p| interest.matches(p)) {
            let _ = tx.send(());
        }
    })?;
    // The folder of patrol.yaml, not the file: editors replace files by renaming, which a
    // watch on the file itself would lose.
    let mut dirs: Vec<(PathBuf, RecursiveMode)> = Vec::new();
    if let Some(dir) = config_file.parent() {
        dirs.push((dir.to_path_buf(), RecursiveMode::NonRecursive));
    }
    for p in checks.iter().chain(&rules) {
        if p.is_dir() {
            dirs.push((p.clone(), RecursiveMode::Recursive));
        } else if let Some(dir) = p.parent() {
            dirs.push((dir.to_path_buf(), RecursiveMode::NonRecursive));
        }
    }
    dirs.sort();
    dirs.dedup();
    for (dir, mode) in dirs {
        if dir.is_dir()
            && let Err(e) = watcher.watch(&dir, mode)
        {
            tracing::warn!(path = %dir.display(), "cannot watch for changes: {e}");
        }
    }
    Ok(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_config_check_and_rule_files_matter() {
        let i = Interest {
            config_file: PathBuf::from("/etc/patrol/patrol.yaml"),
            checks: vec![PathBuf::from("/etc/patrol/checks")],
            rules: vec![PathBuf::from("/etc/patrol/rules")],
        };
        assert!(i.matches(Path::new("/etc/patrol/patrol.yaml")));
        assert!(i.matches(Path::new("/etc/patrol/checks/a/b.yaml")));
        assert!(i.matches(Path::new("/etc/patrol/checks/b.yml")));
        assert!(i.matches(Path::new("/etc/patrol/rules/x.rhai")));
        assert!(i.matches(Path::new("/etc/patrol/checks")));
        assert!(!i.matches(Path::new("/etc/patrol/patrol.db-wal")));
        assert!(!i.matches(Path::new("/etc/patrol/checks/.b.yaml.swp")));
        assert!(!i.matches(Path::new("/etc/patrol/rules/x.yaml")));
        assert!(!i.matches(Path::new("/etc/patrol/other.yaml")));
    }
}
