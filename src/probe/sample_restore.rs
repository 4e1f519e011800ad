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
    /// Items restored and verified per run. Default: 5.
    #[serde(default = "default_count")]
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
/// A manifest larger than this is refused.
const MAX_MANIFEST_BYTES: usize = 64 * 1024 * 1024;

/// One entry of the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct ManifestItem {
    pub path: String,
    /// Lowercase hex.
    pub sha256: String,
    pub size: Option<u64>,
}

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

    async fn verify(
        &mut self,
        ctx: &ProbeContext<'_>,
        manifest: Vec<ManifestItem>,
        format: &'static str,
        started: Instant,
    ) -> Result<ProbeOutput, ProbeError> {
        let total = manifest.len();
        let count = self.probe.count.min(total);
        let digest = paths_digest(&manifest);
        let mut state: Cursor = serde_json::from_value(ctx.state.clone()).unwrap_or_default();
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
        let index: HashMap<&str, usize> = manifest
            .iter()
            .enumerate()
            .map(|(i, m)| (m.path.as_str(), i))
            .collect();
        let in_rotation: HashSet<usize> = rotation.iter().copied().collect();
        let rechecks: Vec<usize> = if self.probe.recheck_failed {
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

        let scratch = tempfile::Builder::new()
            .prefix(&format!("patrol-restore-{}-", ctx.check_id))
            .tempdir_in(&self.scratch_parent)
            .map_err(|e| {
                ProbeError::Failed(format!(
                    "cannot make a scratch directory in {}: {e}",
                    self.scratch_parent.display()
                ))
            })?;

        let mut results: Vec<ItemResult> = Vec::new();
        let mut done_rotation = 0usize;
        let mut incomplete = false;
        let plan = rechecks
            .iter()
            .map(|&i| (i, true))
            .chain(rotation.iter().map(|&i| (i, false)));
        for (n, (i, rechecked)) in plan.enumerate() {
            if Instant::now() >= self.deadline {
                incomplete = true;
                break;
            }
            let dest = scratch.path().join(format!("item-{n}"));
            let result = self.restore_item(&manifest[i], &dest, rechecked).await;
            // Free the space before the next item.
            let _ = tokio::fs::remove_file(&dest).await;
            let timed_out = result.status == "error" && Instant::now() >= self.deadline;
            if timed_out {
                // Not the item's fault: it is tried again in the next run.
                incomplete = true;
                break;
            }
            if !rechecked {
                done_rotation += 1;
            }
            results.push(result);
        }
        let scratch_path = scratch.path().to_path_buf();
        if let Err(e) = scratch.close() {
            tracing::warn!(
                "cannot remove the scratch directory {}: {e}",
                scratch_path.display()
            );
        }

        // The new state.
        let checked: HashSet<&str> = results.iter().map(|r| r.path.as_str()).collect();
        let mut failed: Vec<String> = results
            .iter()
            .filter(|r| r.status != "ok")
            .map(|r| r.path.clone())
            .collect();
        for p in &state.failed {
            if !checked.contains(p.as_str())
                && index.contains_key(p.as_str())
                && !failed.contains(p)
            {
                failed.push(p.clone());
            }
        }
        let cursor = (start + done_rotation) % total;
        let covered = (state.covered + done_rotation).min(total);
        let pass_complete = covered == total && done_rotation > 0;
        let passes = state.passes + u64::from(pass_complete);
        let new_state = Cursor {
            cursor,
            covered,
            passes,
            paths_digest: state.paths_digest.clone(),
            failed,
        };

        let runs_per_pass = total.div_ceil(count);
        let verified = results.iter().filter(|r| r.status == "ok").count();
        let bad: Vec<&ItemResult> = results.iter().filter(|r| r.status != "ok").collect();
        let observation = json!({
            "source": self.source_label,
            "manifest": self.manifest_label,
            "manifest_status": "ok",
            "manifest_error": null,
            "manifest_format": format,
            "total": total,
            "count": count,
            "start": start,
            "cursor": cursor,
            "covered": covered,
            "pass_complete": pass_complete,
            "passes": passes,
            "runs_per_pass": runs_per_pass,
            "items": results,
            "verified": verified,
            "failed": bad.len(),
            "bytes_restored": self.bytes_restored,
            "incomplete": incomplete,
            "scratch_dir": self.scratch_parent.display().to_string(),
            "duration_ms": millis(started.elapsed()),
        });

        let verdict = if bad.is_empty() {
            let mut text = format!(
                "{verified}/{} items verified ({covered}/{total} covered in this pass), full coverage every {runs_per_pass} run{}",
                results.len(),
                if runs_per_pass == 1 { "" } else { "s" }
            );
            if incomplete {
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
        let verdict = verdict
            .with_metric("verified", verified as f64)
            .with_metric("failed", bad.len() as f64)
            .with_metric("total", total as f64)
            .with_metric("covered", covered as f64)
            .with_metric("bytes_restored", self.bytes_restored as f64);
        let state = serde_json::to_value(&new_state)
            .map_err(|e| ProbeError::Failed(format!("cannot keep the cursor: {e}")))?;
        Ok(ProbeOutput {
            observation,
            verdict,
            state: Some(state),
        })
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

/// Parses a manifest: `sha256sum` lines or JSON (see the module documentation). Returns the
/// items in manifest order and the format's name.
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

    #[test]
    fn keys_join_the_prefix() {
        assert_eq!(join_key("", "a/b"), "a/b");
        assert_eq!(join_key("daily", "a"), "daily/a");
        assert_eq!(join_key("daily/", "/a"), "daily/a");
    }
}
