//! `disk` probe: size, use and inodes of the file systems that hold the given paths
//! (`statvfs`, like `df`).
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `paths` | list | one entry per configured path, in order |
//! | `paths[].path` | string | the path as configured |
//! | `paths[].total_bytes` | int | size of the file system |
//! | `paths[].used_bytes` | int | total minus free |
//! | `paths[].free_bytes` | int | free, including blocks reserved for root |
//! | `paths[].available_bytes` | int | free for unprivileged users |
//! | `paths[].used_percent` | float | like `df`: used / (used + available) × 100 |
//! | `paths[].inodes_total` | int | inodes of the file system (0 on file systems without a fixed count) |
//! | `paths[].inodes_used` | int | inodes in use |
//! | `paths[].inodes_free` | int | free inodes |
//! | `paths[].inodes_used_percent` | float | inodes_used / inodes_total × 100 (0 when there is no count) |
//!
//! Default verdict: OK, with the metrics `<path>.used_percent` and
//! `<path>.inodes_used_percent`. A path that does not exist is a probe error.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use crate::config::Text;
use crate::status::Verdict;
use futures::future::BoxFuture;
use nix::sys::statvfs::statvfs;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Configuration of the `disk` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskProbe {
    /// Mount points, or any path on the file systems to measure (relative: against the
    /// folder of `patrol.yaml`).
    #[serde(default = "default_paths")]
    pub paths: Vec<Text>,
}

fn default_paths() -> Vec<Text> {
    vec![Text::literal("/")]
}

/// Space and inodes of the file system holding one path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DiskUsage {
    pub path: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub free_bytes: u64,
    pub available_bytes: u64,
    pub used_percent: f64,
    pub inodes_total: u64,
    pub inodes_used: u64,
    pub inodes_free: u64,
    pub inodes_used_percent: f64,
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 * 100.0 / whole as f64
    }
}

/// `statvfs` of one path, in bytes.
pub fn usage(shown: &str, path: &std::path::Path) -> Result<DiskUsage, ProbeError> {
    let st = statvfs(path)
        .map_err(|e| ProbeError::Failed(format!("cannot stat file system of {shown}: {e}")))?;
    // Block counts are in units of the fragment size (f_frsize), as df uses them.
    let unit = st.fragment_size() as u64;
    let total = (st.blocks() as u64).saturating_mul(unit);
    let free = (st.blocks_free() as u64).saturating_mul(unit);
    let available = (st.blocks_available() as u64).saturating_mul(unit);
    let used = total.saturating_sub(free);
    let inodes_total = st.files() as u64;
    let inodes_free = st.files_free() as u64;
    let inodes_used = inodes_total.saturating_sub(inodes_free);
    Ok(DiskUsage {
        path: shown.to_string(),
        total_bytes: total,
        used_bytes: used,
        free_bytes: free,
        available_bytes: available,
        used_percent: percent(used, used.saturating_add(available)),
        inodes_total,
        inodes_used,
        inodes_free,
        inodes_used_percent: percent(inodes_used, inodes_total),
    })
}

impl Probe for DiskProbe {
    fn kind(&self) -> &'static str {
        "disk"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            if self.paths.is_empty() {
                return Err(ProbeError::Config("`paths` is empty".into()));
            }
            let targets: Vec<(String, PathBuf)> = self
                .paths
                .iter()
                .map(|p| (p.display().to_string(), ctx.base_dir.join(p.value())))
                .collect();
            // statvfs on a hung network mount blocks in the kernel: keep it off the async
            // threads and give up at the timeout (the blocked thread ends when the mount does).
            let work = tokio::task::spawn_blocking(move || {
                targets
                    .iter()
                    .map(|(shown, path)| usage(shown, path))
                    .collect::<Result<Vec<_>, _>>()
            });
            let usages = match tokio::time::timeout(ctx.timeout, work).await {
                Ok(Ok(r)) => r?,
                Ok(Err(e)) => return Err(ProbeError::Failed(format!("internal error: {e}"))),
                Err(_) => {
                    return Err(ProbeError::Failed(format!(
                        "statvfs did not answer within {} (hung mount?)",
                        humantime::format_duration(ctx.timeout)
                    )));
                }
            };

            let mut verdict = Verdict::ok(
                usages
                    .iter()
                    .map(|u| format!("{} {:.1}% used", u.path, u.used_percent))
                    .collect::<Vec<_>>()
                    .join(", "),
            );
            for u in &usages {
                verdict
                    .metrics
                    .insert(format!("{}.used_percent", u.path), u.used_percent);
                verdict.metrics.insert(
                    format!("{}.inodes_used_percent", u.path),
                    u.inodes_used_percent,
                );
            }
            let observation = serde_json::json!({ "paths": usages });
            Ok(ProbeOutput {
                observation,
                verdict,
                state: None,
            })
        })
    }
}
