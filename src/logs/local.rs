//! `local` collector: files on this machine matching globs.
//!
//! ```yaml
//! logs:
//!   sources:
//!     console:
//!       collect:
//!         - local:
//!             paths:
//!               - /opt/installer/production/logs/**/*.log*
//!               - /var/log/installer/*
//! ```
//!
//! Rotated files (`x.log.1`, `x.log.2.gz`) are included when a glob matches them and they were
//! modified inside the window. In the bundle a file keeps its absolute path under
//! `SOURCE/HOST/`.

use super::{Collected, JobContext, JobOutput, filter};
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the `local` collector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LocalCollector {
    /// Glob patterns (`*`, `?`, `[..]`, `**` for any folders), relative ones against the
    /// folder of `patrol.yaml`.
    pub paths: Vec<String>,
}

/// Reads every matching file modified inside the window. A pattern that matches nothing is a
/// warning; a job where nothing could be read at all is an error.
pub async fn collect(cfg: &LocalCollector, ctx: &JobContext) -> Result<JobOutput, String> {
    let cfg = cfg.clone();
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || collect_blocking(&cfg, &ctx))
        .await
        .map_err(|e| format!("collector task failed: {e}"))?
}

fn collect_blocking(cfg: &LocalCollector, ctx: &JobContext) -> Result<JobOutput, String> {
    let mut out = JobOutput::default();
    let mut errors = Vec::new();
    for pattern in &cfg.paths {
        let full = ctx.base_dir.join(pattern);
        let full = full.to_string_lossy();
        let paths = match glob::glob(&full) {
            Ok(p) => p,
            Err(e) => {
                errors.push(format!("bad pattern {pattern}: {e}"));
                continue;
            }
        };
        let mut matched = 0;
        for entry in paths {
            let path = match entry {
                Ok(p) => p,
                Err(e) => {
                    out.warnings.push(e.to_string());
                    continue;
                }
            };
            let meta = match std::fs::metadata(&path) {
                Ok(m) if m.is_file() => m,
                Ok(_) => continue,
                Err(e) => {
                    out.warnings.push(format!("{}: {e}", path.display()));
                    continue;
                }
            };
            matched += 1;
            let mtime = meta.modified().ok().map(DateTime::<Utc>::from);
            if !filter::file_in_window(mtime, &ctx.window) {
                continue;
            }
            match std::fs::read(&path) {
                Ok(content) => {
                    let abs = std::path::absolute(&path).unwrap_or(path.clone());
                    out.files.push(Collected {
                        rel: abs.to_string_lossy().trim_start_matches('/').to_string(),
                        origin: abs.to_string_lossy().into_owned(),
                        mtime,
                        content,
                    })
                }
                Err(e) => out.warnings.push(format!("{}: {e}", path.display())),
            }
        }
        if matched == 0 {
            out.warnings.push(format!("{pattern}: no files match"));
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    if out.files.is_empty() && out.warnings.iter().any(|w| !w.ends_with("no files match")) {
        return Err(out.warnings.join("; "));
    }
    Ok(out)
}
