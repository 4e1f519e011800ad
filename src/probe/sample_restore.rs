//! `sample_restore` probe: proves that a backup gives back the right bytes. The backup is a
//! local directory or a bucket/prefix of an S3-compatible object store, and holds a checksum
//! manifest. Each run restores `count` items of the manifest (copies the files, or downloads
//! the objects) into a fresh scratch directory, checks their size and SHA-256 against the
//! manifest, reports each one, and deletes the scratch directory.
//!
//! The probe rotates through the manifest: each run starts where the previous one stopped
//! (the cursor is kept in the check's probe state in the store, so it survives restarts), so
//! that every item is verified once every `ceil(total / count)` runs. An item that failed is
//! restored again on every following run (`rechecked: true`) until it verifies, so the check
//! stays bad while the damage is there. When the list of paths in the manifest changes, the
//! coverage count starts again.
//!
//! ```yaml
//! probe:
//!   sample_restore:
//!     dir: /backup/hyperbdr/daily          # a local (or mounted) backup folder, OR:
//!     # s3: { endpoint: ..., bucket: ..., prefix: daily/, access_key: ..., secret_key: ${secret:s3_secret_key} }
//!     manifest: SHA256SUMS                 # relative to the folder or the prefix
//!     count: 5
//! ```
//!
//! Manifest formats (told apart by content):
//! - `sha256sum` output: `HEX  relative/path` (or `HEX *path`), `#` comments; also the BSD
//!   form `SHA256 (path) = HEX`.
//! - JSON: a list `[{"path": "a/b.bin", "sha256": "HEX", "size": 1234}, ...]`, the same list
//!   under `items`, `files` or `objects`, or a map `{"a/b.bin": "HEX"}` /
//!   `{"a/b.bin": {"sha256": "HEX", "size": 1234}}`. `key`/`name` may stand for `path`,
//!   `checksum`/`hash` for `sha256`, `bytes` for `size`. The size is checked when given.
//!
//! Paths are relative to the backup root; a path that is absolute or has `..` is not
//! restored (status `error`).
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `source` | string | `dir:/path` or `s3://bucket/prefix` (plus ` at ENDPOINT`) |
//! | `manifest` | string | the manifest's path or object key |
//! | `manifest_status` | string | `ok`, `missing` (not found), `unreadable` (I/O or network error, access denied), `invalid` (cannot be parsed), `empty` (no items) |
//! | `manifest_error` | string or null | why the manifest is not `ok` |
//! | `manifest_format` | string or null | `sha256sum` or `json` |
//! | `total` | int | items in the manifest |
//! | `count` | int | items restored per run (at most `total`) |
//! | `start` | int | manifest position (0-based) where this run started |
//! | `cursor` | int | manifest position where the next run starts |
//! | `covered` | int | items verified in the current pass over the manifest, this run included |
//! | `pass_complete` | bool | this run completed a pass: every item was verified since the pass began |
//! | `passes` | int | passes completed so far |
//! | `runs_per_pass` | int | `ceil(total / count)`: runs needed to cover every item |
//! | `items` | list | one entry per item restored in this run (rechecked failures first) |
//! | `items[].path` | string | the item's path in the manifest |
//! | `items[].status` | string | `ok`, `corrupted` (SHA-256 differs), `size_mismatch`, `missing` (not in the backup), `error` (could not be restored) |
//! | `items[].expected_sha256`, `items[].actual_sha256` | string / string or null | from the manifest / of the restored copy |
//! | `items[].expected_size`, `items[].size` | int or null | from the manifest (null when it has none) / of the restored copy |
//! | `items[].error` | string or null | why the item could not be restored |
//! | `items[].rechecked` | bool | restored again because it failed in an earlier run |
//! | `verified` | int | items of this run that verified |
//! | `failed` | int | items of this run that did not |
//! | `bytes_restored` | int | bytes written to the scratch directory |
//! | `incomplete` | bool | the check's timeout came before every selected item was restored (the cursor only advances past the ones done) |
//! | `scratch_dir` | string | the folder the scratch directory was made in |
//! | `duration_ms` | float | time the run took |
//!
//! Default verdict: CRITICAL when an item failed (naming each) or the manifest is missing,
//! invalid or empty; UNKNOWN when the manifest could not be read; else OK
//! "5/5 items verified (15/40 covered in this pass), full coverage every 8 runs".
//! Metrics: `verified`, `failed`, `total`, `covered`, `bytes_restored`.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput, io_deadline, millis, resolve_path};
use crate::config::{Dur, Text};
use crate::manifest::{MAX_MANIFEST_BYTES, ManifestItem, parse_manifest};
use crate::s3::{S3Client, S3Connection, S3Failure, check_key, transport_failure};
use crate::status::Verdict;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Configuration of the `sample_restore` probe. Set exactly one of `dir` and `s3`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SampleRestoreProbe {
    /// The backup is this local (or mounted) folder. Relative: against the folder of
    /// `patrol.yaml`.
    #[serde(default)]
    pub dir: Option<Text>,
    /// The backup is in this bucket of an S3-compatible store, under its `prefix` (a prefix
    /// without a trailing `/` gets one).
    #[serde(default)]
    pub s3: Option<S3Connection>,
    /// The checksum manifest, relative to the backup root (the folder, or the prefix). A local
    /// manifest may also be an absolute path. Default: `SHA256SUMS`.
    #[serde(default = "default_manifest")]
    pub manifest: Text,
    /// Items restored and verified per run. Default: 5; 1 to 1000.
    #[serde(
        default = "default_count",
        deserialize_with = "crate::config::bounds::sample_count"
    )]
    pub count: usize,
    /// The folder in which each run makes (and then deletes) its scratch directory. It needs
    /// room for the largest item. Default: the system's temporary folder (`$TMPDIR` or
    /// `/tmp`). Relative: against the folder of `patrol.yaml`.
    #[serde(default)]
    pub scratch_dir: Option<Text>,
    /// Restore items that failed in an earlier run again on every run until they verify (at
    /// most 50 per run). Default: true.
    #[serde(default = "yes")]
    pub recheck_failed: bool,
}

fn default_manifest() -> Text {
    Text::literal("SHA256SUMS")
}

fn default_count() -> usize {
    5
}

fn yes() -> bool {
    true
}

/// At most this many earlier failures are restored again per run.
const MAX_RECHECKS: usize = 50;

/// What the probe remembers between runs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Cursor {
    #[serde(default)]
    cursor: usize,
    #[serde(default)]
    covered: usize,
    #[serde(default)]
    passes: u64,
    /// SHA-256 of the manifest's list of paths: coverage restarts when it changes.
    #[serde(default)]
    paths_digest: String,
    /// Paths that failed and are restored again until they verify.
    #[serde(default)]
    failed: Vec<String>,
}

/// Why the manifest could not be used.
struct ManifestProblem {
    status: &'static str,
    error: String,
}

/// Why one item could not be restored.
struct RestoreFailure {
    missing: bool,
    error: String,
}

/// The result of one item.
#[derive(Debug, Clone, Serialize)]
struct ItemResult {
    path: String,
    status: &'static str,
    expected_sha256: String,
    actual_sha256: Option<String>,
    expected_size: Option<u64>,
    size: Option<u64>,
    error: Option<String>,
    rechecked: bool,
}

enum Source {
    Dir(PathBuf),
    S3(Box<S3Client>),
}

impl Probe for SampleRestoreProbe {
    fn kind(&self) -> &'static str {
        "sample_restore"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(self.restore_sample(ctx))
    }
}

impl SampleRestoreProbe {
    fn source(&self, ctx: &ProbeContext<'_>) -> Result<Source, ProbeError> {
        match (&self.dir, &self.s3) {
            (Some(dir), None) => Ok(Source::Dir(resolve_path(ctx.base_dir, dir.value()))),
            (None, Some(conn)) => {
                let limit = io_deadline(conn.timeout.map(Dur::as_duration), ctx.timeout);
                Ok(Source::S3(Box::new(S3Client::new(
                    conn,
                    ctx.base_dir,
                    limit,
                )?)))
            }
            _ => Err(ProbeError::Config(
                "sample_restore: set exactly one of `dir` and `s3`".into(),
            )),
        }
    }

    /// `dir:/path`, or `s3://bucket/prefix at ENDPOINT`.
    fn source_label(&self, source: &Source) -> String {
        match source {
            Source::Dir(dir) => format!("dir:{}", dir.display()),
            Source::S3(client) => {
                let (bucket, endpoint) = self
                    .s3
                    .as_ref()
                    .map(|c| (c.bucket.display(), c.endpoint.display()))
                    .unwrap_or_default();
                format!("s3://{bucket}/{} at {endpoint}", client.prefix())
            }
        }
    }

    async fn restore_sample(&self, ctx: &ProbeContext<'_>) -> Result<ProbeOutput, ProbeError> {
        if self.count == 0 {
            return Err(ProbeError::Config(
                "sample_restore: count must be at least 1".into(),
            ));
        }
        let started = Instant::now();
        let deadline = started + io_deadline(None, ctx.timeout);
        let source = self.source(ctx)?;
        let scratch_parent = match &self.scratch_dir {
            Some(d) => resolve_path(ctx.base_dir, d.value()),
            None => std::env::temp_dir(),
        };
        let mut run = Run {
            probe: self,
            source_label: self.source_label(&source),
            manifest_label: manifest_location(&source, self.manifest.value()),
            source,
            scratch_parent,
            deadline,
            bytes_restored: 0,
        };

        match run.read_manifest().await {
            Ok((items, format)) => run.verify(ctx, items, format, started).await,
            Err(problem) => Ok(run.manifest_output(problem, started)),
        }
    }
}

/// Where the manifest is: the path or object key.
fn manifest_location(source: &Source, manifest: &str) -> String {
    match source {
        Source::Dir(dir) => resolve_path(dir, manifest).display().to_string(),
        Source::S3(client) => join_key(client.prefix(), manifest),
    }
}

/// `prefix` + `/` + `rel` (no doubled or leading slash).
fn join_key(prefix: &str, rel: &str) -> String {
    let rel = rel.trim_start_matches('/');
    if prefix.is_empty() {
        rel.to_string()
    } else if prefix.ends_with('/') {
        format!("{prefix}{rel}")
    } else {
        format!("{prefix}/{rel}")
    }
}

/// Which manifest items a run restores: `count` from the cursor on (the rotation), plus
/// earlier failures that are not in the rotation (the rechecks).
#[derive(Debug)]
struct Plan {
    /// The stored cursor, with coverage restarted when the list of paths changed or a pass
    /// was complete.
    state: Cursor,
    total: usize,
    count: usize,
    /// Manifest position where this run starts.
    start: usize,
    rotation: Vec<usize>,
    rechecks: Vec<usize>,
}

/// What a run restored.
#[derive(Debug, Default)]
struct Restored {
    results: Vec<ItemResult>,
    /// Items of the rotation that were restored (the cursor advances past them only).
    done_rotation: usize,
    /// The deadline came before every planned item was restored.
    incomplete: bool,
}

impl Plan {
    /// `manifest` is not empty (an empty manifest is reported before).
    fn new(mut state: Cursor, manifest: &[ManifestItem], count: usize, recheck: bool) -> Plan {
        let total = manifest.len();
        let count = count.min(total);
        let digest = paths_digest(manifest);
        if state.paths_digest != digest {
            // A different list of items: start a new pass (from the same position).
            state.covered = 0;
            state.paths_digest = digest;
        }
        if state.covered >= total {
            state.covered = 0;
        }
        let start = state.cursor % total;
        let rotation: Vec<usize> = (0..count).map(|i| (start + i) % total).collect();
        let rechecks = if recheck {
            let index: HashMap<&str, usize> = manifest
                .iter()
                .enumerate()
                .map(|(i, m)| (m.path.as_str(), i))
                .collect();
            let in_rotation: HashSet<usize> = rotation.iter().copied().collect();
            state
                .failed
                .iter()
                .filter_map(|p| index.get(p.as_str()).copied())
                .filter(|i| !in_rotation.contains(i))
                .take(MAX_RECHECKS)
                .collect()
        } else {
            Vec::new()
        };
        Plan {
            state,
            total,
            count,
            start,
            rotation,
            rechecks,
        }
    }

    /// `ceil(total / count)`.
    fn runs_per_pass(&self) -> usize {
        self.total.div_ceil(self.count)
    }

    /// The state the next run starts from: the cursor past the rotation items done, the
    /// coverage grown by them, and the paths that still fail (this run's failures first,
    /// then earlier ones not checked in this run that are still in the manifest).
    fn next_cursor(&self, manifest: &[ManifestItem], restored: &Restored) -> Cursor {
        let results = &restored.results;
        let checked: HashSet<&str> = results.iter().map(|r| r.path.as_str()).collect();
        let listed: HashSet<&str> = manifest.iter().map(|m| m.path.as_str()).collect();
        let mut failed: Vec<String> = results
            .iter()
            .filter(|r| r.status != "ok")
            .map(|r| r.path.clone())
            .collect();
        for p in &self.state.failed {
            if !checked.contains(p.as_str()) && listed.contains(p.as_str()) && !failed.contains(p) {
                failed.push(p.clone());
            }
        }
        let covered = (self.state.covered + restored.done_rotation).min(self.total);
        let pass_complete = covered == self.total && restored.done_rotation > 0;
        Cursor {
            cursor: (self.start + restored.done_rotation) % self.total,
            covered,
            passes: self.state.passes + u64::from(pass_complete),
            paths_digest: self.state.paths_digest.clone(),
            failed,
        }
    }

    /// This run completed a pass over the manifest.
    fn pass_complete(&self, next: &Cursor, restored: &Restored) -> bool {
        next.covered == self.total && restored.done_rotation > 0
    }
}

/// Deletes the scratch directory (a failure is logged: the results stand).
fn remove_scratch(scratch: tempfile::TempDir) {
    let path = scratch.path().to_path_buf();
    if let Err(e) = scratch.close() {
        tracing::warn!(
            "cannot remove the scratch directory {}: {e}",
            path.display()
        );
    }
}

/// One run of the probe.
struct Run<'p> {
    probe: &'p SampleRestoreProbe,
    source: Source,
    source_label: String,
    manifest_label: String,
    scratch_parent: PathBuf,
    deadline: Instant,
    bytes_restored: u64,
}

impl Run<'_> {
    async fn read_manifest(&self) -> Result<(Vec<ManifestItem>, &'static str), ManifestProblem> {
        let bytes = match &self.source {
            Source::Dir(_) => {
                let path = PathBuf::from(&self.manifest_label);
                match tokio::fs::metadata(&path).await {
                    Ok(m) if m.len() > MAX_MANIFEST_BYTES as u64 => {
                        return Err(ManifestProblem {
                            status: "invalid",
                            error: format!("larger than {MAX_MANIFEST_BYTES} bytes"),
                        });
                    }
                    _ => {}
                }
                tokio::fs::read(&path).await.map_err(|e| ManifestProblem {
                    status: if e.kind() == std::io::ErrorKind::NotFound {
                        "missing"
                    } else {
                        "unreadable"
                    },
                    error: e.to_string(),
                })?
            }
            Source::S3(client) => self.download_manifest(client).await?,
        };
        let (items, format) = parse_manifest(&bytes).map_err(|error| ManifestProblem {
            status: "invalid",
            error,
        })?;
        if items.is_empty() {
            return Err(ManifestProblem {
                status: "empty",
                error: "the manifest lists no items".into(),
            });
        }
        Ok((items, format))
    }

    async fn download_manifest(&self, client: &S3Client) -> Result<Vec<u8>, ManifestProblem> {
        let unreadable = |error: String| ManifestProblem {
            status: "unreadable",
            error,
        };
        let key = &self.manifest_label;
        check_key(key).map_err(unreadable)?;
        let fetch = async {
            let mut resp = client.get_object(key).await?;
            let mut body = Vec::new();
            while let Some(chunk) = resp
                .chunk()
                .await
                .map_err(|e| transport_failure(e, client.limit))?
            {
                body.extend_from_slice(&chunk);
                if body.len() > MAX_MANIFEST_BYTES {
                    return Ok(None);
                }
            }
            Ok::<_, S3Failure>(Some(body))
        };
        match tokio::time::timeout_at(self.deadline.into(), fetch).await {
            Err(_) => Err(unreadable("timed out".into())),
            Ok(Ok(Some(body))) => Ok(body),
            Ok(Ok(None)) => Err(ManifestProblem {
                status: "invalid",
                error: format!("larger than {MAX_MANIFEST_BYTES} bytes"),
            }),
            Ok(Err(S3Failure::Http(r))) if r.is_not_found() => Err(ManifestProblem {
                status: "missing",
                error: r.describe(),
            }),
            Ok(Err(f)) => Err(unreadable(f.describe())),
        }
    }

    fn manifest_output(&self, problem: ManifestProblem, started: Instant) -> ProbeOutput {
        let observation = json!({
            "source": self.source_label,
            "manifest": self.manifest_label,
            "manifest_status": problem.status,
            "manifest_error": problem.error,
            "manifest_format": null,
            "total": 0,
            "count": 0,
            "start": 0,
            "cursor": 0,
            "covered": 0,
            "pass_complete": false,
            "passes": 0,
            "runs_per_pass": 0,
            "items": [],
            "verified": 0,
            "failed": 0,
            "bytes_restored": 0,
            "incomplete": false,
            "scratch_dir": self.scratch_parent.display().to_string(),
            "duration_ms": millis(started.elapsed()),
        });
        let text = format!(
            "manifest {} is {}: {}",
            self.manifest_label, problem.status, problem.error
        );
        let verdict = if problem.status == "unreadable" {
            Verdict::unknown(text)
        } else {
            Verdict::critical(text)
        };
        ProbeOutput {
            observation,
            verdict,
            // Keep the cursor for when the manifest is back.
            state: None,
        }
    }

    /// Restores and verifies this run's items, then reports them and moves the cursor.
    async fn verify(
        &mut self,
        ctx: &ProbeContext<'_>,
        manifest: Vec<ManifestItem>,
        format: &'static str,
        started: Instant,
    ) -> Result<ProbeOutput, ProbeError> {
        let state: Cursor = serde_json::from_value(ctx.state.clone()).unwrap_or_default();
        let plan = Plan::new(
            state,
            &manifest,
            self.probe.count,
            self.probe.recheck_failed,
        );
        let scratch = self.make_scratch(ctx.check_id)?;
        let restored = self.restore_planned(&manifest, &plan, scratch.path()).await;
        remove_scratch(scratch);
        let next = plan.next_cursor(&manifest, &restored);
        let observation = self.observation(&plan, &next, &restored, format, started);
        let verdict = self.verdict(&plan, &next, &restored);
        let state = serde_json::to_value(&next)
            .map_err(|e| ProbeError::Failed(format!("cannot keep the cursor: {e}")))?;
        Ok(ProbeOutput {
            observation,
            verdict,
            state: Some(state),
        })
    }

    /// A fresh scratch directory for this run, in `scratch_dir`.
    fn make_scratch(&self, check_id: &str) -> Result<tempfile::TempDir, ProbeError> {
        tempfile::Builder::new()
            .prefix(&format!("patrol-restore-{check_id}-"))
            .tempdir_in(&self.scratch_parent)
            .map_err(|e| {
                ProbeError::Failed(format!(
                    "cannot make a scratch directory in {}: {e}",
                    self.scratch_parent.display()
                ))
            })
    }

    /// Restores the earlier failures, then the rotation, one item at a time, until the
    /// deadline.
    async fn restore_planned(
        &mut self,
        manifest: &[ManifestItem],
        plan: &Plan,
        scratch: &Path,
    ) -> Restored {
        let mut restored = Restored::default();
        let items = plan
            .rechecks
            .iter()
            .map(|&i| (i, true))
            .chain(plan.rotation.iter().map(|&i| (i, false)));
        for (n, (i, rechecked)) in items.enumerate() {
            if Instant::now() >= self.deadline {
                restored.incomplete = true;
                break;
            }
            let dest = scratch.join(format!("item-{n}"));
            let result = self.restore_item(&manifest[i], &dest, rechecked).await;
            // Free the space before the next item.
            let _ = tokio::fs::remove_file(&dest).await;
            let timed_out = result.status == "error" && Instant::now() >= self.deadline;
            if timed_out {
                // Not the item's fault: it is tried again in the next run.
                restored.incomplete = true;
                break;
            }
            if !rechecked {
                restored.done_rotation += 1;
            }
            restored.results.push(result);
        }
        restored
    }

    /// The observation of a run that read the manifest.
    fn observation(
        &self,
        plan: &Plan,
        next: &Cursor,
        restored: &Restored,
        format: &'static str,
        started: Instant,
    ) -> Value {
        let results = &restored.results;
        let verified = results.iter().filter(|r| r.status == "ok").count();
        json!({
            "source": self.source_label,
            "manifest": self.manifest_label,
            "manifest_status": "ok",
            "manifest_error": null,
            "manifest_format": format,
            "total": plan.total,
            "count": plan.count,
            "start": plan.start,
            "cursor": next.cursor,
            "covered": next.covered,
            "pass_complete": plan.pass_complete(next, restored),
            "passes": next.passes,
            "runs_per_pass": plan.runs_per_pass(),
            "items": results,
            "verified": verified,
            "failed": results.len() - verified,
            "bytes_restored": self.bytes_restored,
            "incomplete": restored.incomplete,
            "scratch_dir": self.scratch_parent.display().to_string(),
            "duration_ms": millis(started.elapsed()),
        })
    }

    /// CRITICAL naming every item that failed, else OK with the coverage.
    fn verdict(&self, plan: &Plan, next: &Cursor, restored: &Restored) -> Verdict {
        let results = &restored.results;
        let verified = results.iter().filter(|r| r.status == "ok").count();
        let bad: Vec<&ItemResult> = results.iter().filter(|r| r.status != "ok").collect();
        let verdict = if bad.is_empty() {
            let runs_per_pass = plan.runs_per_pass();
            let mut text = format!(
                "{verified}/{} items verified ({}/{} covered in this pass), full coverage every {runs_per_pass} run{}",
                results.len(),
                next.covered,
                plan.total,
                if runs_per_pass == 1 { "" } else { "s" }
            );
            if restored.incomplete {
                text.push_str("; the timeout cut this run short");
            }
            Verdict::ok(text)
        } else {
            let list = bad
                .iter()
                .map(|r| describe_failure(r))
                .collect::<Vec<_>>()
                .join("; ");
            Verdict::critical(format!(
                "{} of {} restored items failed verification: {list}",
                bad.len(),
                results.len()
            ))
        };
        verdict
            .with_metric("verified", verified as f64)
            .with_metric("failed", bad.len() as f64)
            .with_metric("total", plan.total as f64)
            .with_metric("covered", next.covered as f64)
            .with_metric("bytes_restored", self.bytes_restored as f64)
    }

    /// Restores one item to `dest` and verifies it.
    async fn restore_item(
        &mut self,
        item: &ManifestItem,
        dest: &Path,
        rechecked: bool,
    ) -> ItemResult {
        let mut result = ItemResult {
            path: item.path.clone(),
            status: "error",
            expected_sha256: item.sha256.clone(),
            actual_sha256: None,
            expected_size: item.size,
            size: None,
            error: None,
            rechecked,
        };
        // Restoring and hashing both count against the deadline.
        let restored = async {
            self.copy_out(&item.path, dest).await?;
            sha256_file(dest).await.map_err(|e| RestoreFailure {
                missing: false,
                error: format!("reading the restored copy: {e}"),
            })
        };
        let (sha, size) = match tokio::time::timeout_at(self.deadline.into(), restored).await {
            Ok(Ok(done)) => done,
            Ok(Err(f)) => {
                result.status = if f.missing { "missing" } else { "error" };
                result.error = Some(f.error);
                return result;
            }
            Err(_) => {
                result.error = Some("timed out".into());
                return result;
            }
        };
        self.bytes_restored += size;
        result.status = if item.size.is_some_and(|s| s != size) {
            "size_mismatch"
        } else if sha != item.sha256 {
            "corrupted"
        } else {
            "ok"
        };
        result.actual_sha256 = Some(sha);
        result.size = Some(size);
        result
    }

    /// Copies (or downloads) the item at `rel` to `dest`.
    async fn copy_out(&self, rel: &str, dest: &Path) -> Result<(), RestoreFailure> {
        let refuse = |error: String| RestoreFailure {
            missing: false,
            error,
        };
        match &self.source {
            Source::Dir(dir) => {
                let safe = Path::new(rel)
                    .components()
                    .all(|c| matches!(c, Component::Normal(_) | Component::CurDir));
                if !safe || rel.is_empty() {
                    return Err(refuse(format!(
                        "path {rel:?} is not inside the backup (absolute or with '..')"
                    )));
                }
                let src = dir.join(rel);
                match tokio::fs::metadata(&src).await {
                    Ok(m) if !m.is_file() => return Err(refuse("not a regular file".into())),
                    _ => {}
                }
                tokio::fs::copy(&src, dest)
                    .await
                    .map(|_| ())
                    .map_err(|e| RestoreFailure {
                        missing: e.kind() == std::io::ErrorKind::NotFound,
                        error: e.to_string(),
                    })
            }
            Source::S3(client) => {
                let key = join_key(client.prefix(), rel);
                check_key(&key).map_err(refuse)?;
                let mut resp = client.get_object(&key).await.map_err(|f| RestoreFailure {
                    missing: matches!(&f, S3Failure::Http(r) if r.is_not_found()),
                    error: f.describe(),
                })?;
                let mut file = tokio::fs::File::create(dest)
                    .await
                    .map_err(|e| refuse(format!("cannot write the scratch copy: {e}")))?;
                loop {
                    match resp.chunk().await {
                        Ok(Some(chunk)) => file
                            .write_all(&chunk)
                            .await
                            .map_err(|e| refuse(format!("cannot write the scratch copy: {e}")))?,
                        Ok(None) => break,
                        Err(e) => {
                            return Err(refuse(format!(
                                "download broke off: {}",
                                transport_failure(e, client.limit).describe()
                            )));
                        }
                    }
                }
                file.flush()
                    .await
                    .map_err(|e| refuse(format!("cannot write the scratch copy: {e}")))
            }
        }
    }
}

/// `a.bin corrupted (sha256 9f86d081… expected 2c26b46b…)`.
fn describe_failure(r: &ItemResult) -> String {
    let short = |s: &str| s.chars().take(12).collect::<String>();
    match r.status {
        "corrupted" => format!(
            "{} corrupted (sha256 {}… expected {}…)",
            r.path,
            short(r.actual_sha256.as_deref().unwrap_or("")),
            short(&r.expected_sha256)
        ),
        "size_mismatch" => format!(
            "{} size {} bytes, expected {}",
            r.path,
            r.size.unwrap_or(0),
            r.expected_size.unwrap_or(0)
        ),
        "missing" => format!("{} missing", r.path),
        _ => format!(
            "{} not restored: {}",
            r.path,
            r.error.as_deref().unwrap_or("unknown error")
        ),
    }
}

/// SHA-256 (lowercase hex) and size of a file.
async fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex(&hasher.finalize()), size))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn paths_digest(items: &[ManifestItem]) -> String {
    let mut h = Sha256::new();
    for i in items {
        h.update(i.path.as_bytes());
        h.update([0u8]);
    }
    hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(n: usize) -> Vec<ManifestItem> {
        (0..n)
            .map(|i| ManifestItem {
                path: format!("f{i}"),
                sha256: "0".repeat(64),
                size: None,
            })
            .collect()
    }

    fn result(path: &str, status: &'static str, rechecked: bool) -> ItemResult {
        ItemResult {
            path: path.into(),
            status,
            expected_sha256: "0".repeat(64),
            actual_sha256: None,
            expected_size: None,
            size: None,
            error: None,
            rechecked,
        }
    }

    #[test]
    fn a_plan_rotates_from_the_cursor_and_rechecks_earlier_failures() {
        let items = manifest(5);
        let state = Cursor {
            cursor: 3,
            covered: 1,
            passes: 0,
            paths_digest: paths_digest(&items),
            failed: vec!["f0".into(), "f4".into(), "gone".into()],
        };
        let plan = Plan::new(state, &items, 2, true);
        assert_eq!((plan.start, plan.count, plan.total), (3, 2, 5));
        assert_eq!(plan.rotation, vec![3, 4]);
        // f4 is in the rotation anyway; `gone` is no longer in the manifest.
        assert_eq!(plan.rechecks, vec![0]);
        assert_eq!(plan.runs_per_pass(), 3);
        assert!(
            Plan::new(Cursor::default(), &items, 2, false)
                .rechecks
                .is_empty()
        );
    }

    #[test]
    fn a_changed_manifest_restarts_the_coverage() {
        let items = manifest(4);
        let state = Cursor {
            cursor: 2,
            covered: 3,
            paths_digest: "something else".into(),
            ..Cursor::default()
        };
        let plan = Plan::new(state, &items, 10, true);
        assert_eq!(plan.state.covered, 0);
        assert_eq!(plan.state.paths_digest, paths_digest(&items));
        assert_eq!(plan.count, 4);
        assert_eq!(plan.rotation, vec![2, 3, 0, 1]);
    }

    #[test]
    fn the_next_cursor_moves_past_what_was_done_and_keeps_failures() {
        let items = manifest(4);
        let state = Cursor {
            cursor: 2,
            covered: 2,
            passes: 1,
            paths_digest: paths_digest(&items),
            failed: vec!["f0".into(), "f1".into()],
        };
        let plan = Plan::new(state, &items, 2, true);
        let restored = Restored {
            results: vec![
                result("f0", "ok", true),
                result("f1", "corrupted", true),
                result("f2", "missing", false),
                result("f3", "ok", false),
            ],
            done_rotation: 2,
            incomplete: false,
        };
        let next = plan.next_cursor(&items, &restored);
        assert_eq!(next.cursor, 0);
        assert_eq!(next.covered, 4);
        assert!(plan.pass_complete(&next, &restored));
        assert_eq!(next.passes, 2);
        assert_eq!(next.failed, vec!["f1".to_string(), "f2".to_string()]);

        // Cut short by the timeout: only what was done counts.
        let short = Restored {
            results: vec![result("f2", "ok", false)],
            done_rotation: 1,
            incomplete: true,
        };
        let next = plan.next_cursor(&items, &short);
        assert_eq!((next.cursor, next.covered, next.passes), (3, 3, 1));
        assert!(!plan.pass_complete(&next, &short));
        assert_eq!(next.failed, vec!["f0".to_string(), "f1".to_string()]);
    }

    #[test]
    fn keys_join_the_prefix() {
        assert_eq!(join_key("", "a/b"), "a/b");
        assert_eq!(join_key("daily", "a"), "daily/a");
        assert_eq!(join_key("daily/", "/a"), "daily/a");
    }
}
