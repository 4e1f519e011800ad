//! Running the collector jobs and writing the bundle: `.tar.gz` with a folder per source and
//! host and a `manifest.json`, written to a temporary file and renamed into place.

use super::redact::LogRedactor;
use super::{Collected, CollectorSpec, JobContext, JobOutput, LogsError, Progress, Window, filter};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The format name and version written into every manifest.
pub const FORMAT: &str = "patrol-log-bundle";
pub const VERSION: u32 = 1;

/// One collector on one host.
#[derive(Debug, Clone)]
pub struct Job {
    pub source: String,
    pub kind: &'static str,
    pub host: String,
    pub spec: CollectorSpec,
}

/// Everything an export run needs.
pub struct Plan {
    pub jobs: Vec<Job>,
    pub ctx: JobContext,
    pub redactor: Arc<LogRedactor>,
    pub zones: BTreeMap<String, chrono_tz::Tz>,
    pub caps: BTreeMap<String, u64>,
    pub max_bundle_bytes: u64,
    pub parallel: usize,
    pub output: PathBuf,
    pub progress: Progress,
    pub trigger: Option<String>,
}

/// `manifest.json`: what the bundle holds and what could not be collected.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub version: u32,
    pub patrol_version: String,
    pub created_at: DateTime<Utc>,
    pub window: Window,
    /// The check whose failure asked for this export, if any.
    #[serde(default)]
    pub trigger: Option<String>,
    pub redaction: Redaction,
    pub sources: Vec<SourceSummary>,
    pub collectors: Vec<JobReport>,
    pub files: Vec<FileEntry>,
    #[serde(default)]
    pub skipped: Vec<Skipped>,
    /// Every collector that failed, with the reason.
    pub failed: Vec<Failure>,
}

/// What was masked, by rule.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Redaction {
    pub enabled: bool,
    pub total: u64,
    pub counts: BTreeMap<String, u64>,
}

/// One source's outcome: `ok` (every collector worked), `partial`, or `failed`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SourceSummary {
    pub name: String,
    pub status: String,
    pub files: usize,
    pub bytes: u64,
}

/// One collector job's outcome (a row of the final table).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobReport {
    pub source: String,
    pub collector: String,
    pub host: String,
    pub ok: bool,
    pub files: usize,
    pub bytes: u64,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub warnings: Vec<String>,
}

/// A file in the bundle.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileEntry {
    /// Path inside the bundle's top folder.
    pub path: String,
    pub source: String,
    pub collector: String,
    pub host: String,
    /// Where it came from.
    pub origin: String,
    pub mtime: Option<DateTime<Utc>>,
    pub size: u64,
    pub sha256: String,
    /// Only its last part fitted under a size cap.
    #[serde(default)]
    pub truncated: bool,
    /// Lines left out because their timestamps are outside the window.
    #[serde(default)]
    pub lines_dropped: usize,
    #[serde(default)]
    pub redactions: u64,
}

/// A file found but left out, and why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Skipped {
    pub source: String,
    pub host: String,
    pub origin: String,
    pub reason: String,
}

/// A collector that failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Failure {
    pub source: String,
    pub collector: String,
    pub host: String,
    pub reason: String,
}

/// The result of an export.
#[derive(Debug, Clone)]
pub struct ExportReport {
    pub path: PathBuf,
    pub manifest: Manifest,
}

impl ExportReport {
    /// 0 every collector worked, 1 some failed, 2 all failed.
    pub fn exit_code(&self) -> u8 {
        let jobs = &self.manifest.collectors;
        if jobs.iter().all(|j| j.ok) {
            0
        } else if jobs.iter().any(|j| j.ok) {
            1
        } else {
            2
        }
    }
}

/// Runs every job (at most `parallel` at a time) and writes the bundle.
pub async fn run(plan: Plan) -> Result<ExportReport, LogsError> {
    let bar = progress_bar(plan.progress, plan.jobs.len());
    let ctx = plan.ctx.clone();
    let results: Vec<(usize, Result<JobOutput, String>)> =
        futures::stream::iter(plan.jobs.clone().into_iter().enumerate())
            .map(|(i, job)| {
                let ctx = ctx.clone();
                let bar = bar.clone();
                let progress = plan.progress;
                async move {
                    if let Some(b) = &bar {
                        b.set_message(format!("{} {} {}", job.source, job.kind, job.host));
                    }
                    let res = run_job(&job, &ctx).await;
                    let line = match &res {
                        Ok(o) => format!(
                            "{} {} {}: ok, {} file(s)",
                            job.source,
                            job.kind,
                            job.host,
                            o.files.len()
                        ),
                        Err(e) => format!("{} {} {}: FAILED: {e}", job.source, job.kind, job.host),
                    };
                    match (&bar, progress) {
                        (Some(b), _) => {
                            b.println(line);
                            b.inc(1);
                        }
                        (None, Progress::Lines) => eprintln!("{line}"),
                        _ => {}
                    }
                    (i, res)
                }
            })
            .buffer_unordered(plan.parallel)
            .collect()
            .await;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    let mut ordered: Vec<Option<Result<JobOutput, String>>> = vec![None; plan.jobs.len()];
    for (i, r) in results {
        ordered[i] = Some(r);
    }
    let outputs: Vec<Result<JobOutput, String>> = ordered
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err("did not run".into())))
        .collect();
    tokio::task::spawn_blocking(move || write(&plan, outputs))
        .await
        .map_err(|e| LogsError::Write(PathBuf::new(), std::io::Error::other(e.to_string())))?
}

fn progress_bar(progress: Progress, len: usize) -> Option<indicatif::ProgressBar> {
    if progress != Progress::Bar {
        return None;
    }
    let bar = indicatif::ProgressBar::new(len as u64);
    if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    Some(bar)
}

async fn run_job(job: &Job, ctx: &JobContext) -> Result<JobOutput, String> {
    let guard = super::ssh::job_deadline(ctx);
    let work = async {
        match &job.spec {
            CollectorSpec::Local(c) => super::local::collect(c, ctx).await,
            CollectorSpec::Ssh(c) => super::ssh::collect(c, &job.host, ctx).await,
            CollectorSpec::Hyperbdr(c) => super::hyperbdr::collect(c, ctx).await,
            CollectorSpec::Command(c) => super::command::collect(c, ctx).await,
        }
    };
    match tokio::time::timeout(guard, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "gave up after {}",
            humantime::format_duration(guard)
        )),
    }
}

/// A name safe as one folder of the bundle.
fn folder(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.@".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() || s == "." || s == ".." {
        "_".into()
    } else {
        s
    }
}

/// A relative path without `..`, `.` or empty parts.
fn clean_rel(rel: &str) -> String {
    rel.split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .collect::<Vec<_>>()
        .join("/")
}

/// The bundle's top folder: the file name without `.tar.gz`.
fn top_folder(output: &Path) -> String {
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "patrol-logs".into());
    let stem = name
        .strip_suffix(".tar.gz")
        .or_else(|| name.strip_suffix(".tgz"))
        .unwrap_or(&name);
    folder(stem)
}

struct Ready {
    entry: FileEntry,
    content: Vec<u8>,
}

fn write(plan: &Plan, outputs: Vec<Result<JobOutput, String>>) -> Result<ExportReport, LogsError> {
    let window = plan.ctx.window;
    let mut reports = Vec::new();
    let mut failed = Vec::new();
    let mut skipped = Vec::new();
    let mut redaction = Redaction {
        enabled: true,
        ..Default::default()
    };
    // Per source: the files after unpacking, filtering and redaction, before the caps.
    let mut by_source: BTreeMap<String, Vec<(usize, Collected, Ready)>> = BTreeMap::new();
    for (i, (job, out)) in plan.jobs.iter().zip(outputs).enumerate() {
        let mut report = JobReport {
            source: job.source.clone(),
            collector: job.kind.to_string(),
            host: job.host.clone(),
            ok: true,
            files: 0,
            bytes: 0,
            error: None,
            warnings: Vec::new(),
        };
        match out {
            Err(e) => {
                report.ok = false;
                report.error = Some(e.clone());
                failed.push(Failure {
                    source: job.source.clone(),
                    collector: job.kind.to_string(),
                    host: job.host.clone(),
                    reason: e,
                });
            }
            Ok(output) => {
                report.warnings = output.warnings;
                let zone = plan
                    .zones
                    .get(&job.source)
                    .copied()
                    .unwrap_or(chrono_tz::UTC);
                for mut file in output.files {
                    // Origins are text too (a command line may hold a token).
                    file.origin = String::from_utf8_lossy(
                        &plan.redactor.apply(file.origin.clone().into_bytes()).0,
                    )
                    .into_owned();
                    let skip = |reason: String| Skipped {
                        source: job.source.clone(),
                        host: job.host.clone(),
                        origin: file.origin.clone(),
                        reason,
                    };
                    let (rel, content) = match filter::unpack(&file.rel, file.content.clone()) {
                        Ok(x) => x,
                        Err(e) => {
                            skipped.push(skip(e));
                            continue;
                        }
                    };
                    let filtered = filter::filter_lines(&content, &window, zone);
                    if filtered.timestamped && filtered.content.is_empty() {
                        skipped.push(skip("no lines inside the window".into()));
                        continue;
                    }
                    let (content, counts) = plan.redactor.apply(filtered.content);
                    let n: u64 = counts.values().sum();
                    for (k, v) in counts {
                        *redaction.counts.entry(k).or_insert(0) += v;
                    }
                    redaction.total += n;
                    let path = format!(
                        "{}/{}/{}",
                        folder(&job.source),
                        folder(&job.host),
                        clean_rel(&rel)
                    );
                    let entry = FileEntry {
                        path,
                        source: job.source.clone(),
                        collector: job.kind.to_string(),
                        host: job.host.clone(),
                        origin: file.origin.clone(),
                        mtime: file.mtime,
                        size: 0,
                        sha256: String::new(),
                        truncated: false,
                        lines_dropped: filtered.lines_dropped,
                        redactions: n,
                    };
                    let ready = Ready { entry, content };
                    by_source
                        .entry(job.source.clone())
                        .or_default()
                        .push((i, file, ready));
                }
            }
        }
        reports.push(report);
    }
    if plan.redactor.is_off() {
        redaction.enabled = false;
    }

    // The caps keep the newest files; a file that does not fit keeps its last lines.
    let mut bundle_left = plan.max_bundle_bytes;
    let mut kept: Vec<(usize, Ready)> = Vec::new();
    let mut sources = Vec::new();
    let mut seen = HashSet::new();
    let source_names: Vec<String> = {
        let mut v: Vec<String> = plan.jobs.iter().map(|j| j.source.clone()).collect();
        v.dedup();
        v
    };
    for name in &source_names {
        let mut files = by_source.remove(name).unwrap_or_default();
        files.sort_by_key(|f| std::cmp::Reverse(f.1.mtime));
        let mut source_left = plan.caps.get(name).copied().unwrap_or(u64::MAX);
        let (mut count, mut bytes) = (0usize, 0u64);
        for (i, file, mut ready) in files {
            let room = source_left.min(bundle_left);
            if room == 0 {
                skipped.push(Skipped {
                    source: name.clone(),
                    host: plan.jobs[i].host.clone(),
                    origin: file.origin.clone(),
                    reason: cap_reason(
                        source_left,
                        plan.caps.get(name).copied(),
                        plan.max_bundle_bytes,
                    ),
                });
                continue;
            }
            if ready.content.len() as u64 > room {
                ready.content = filter::tail(&ready.content, room as usize);
                ready.entry.truncated = true;
            }
            let mut path = ready.entry.path.clone();
            let mut n = 1;
            while !seen.insert(path.clone()) {
                path = format!("{}.{n}", ready.entry.path);
                n += 1;
            }
            ready.entry.path = path;
            ready.entry.size = ready.content.len() as u64;
            ready.entry.sha256 = hex(&Sha256::digest(&ready.content));
            source_left -= ready.entry.size;
            bundle_left -= ready.entry.size;
            count += 1;
            bytes += ready.entry.size;
            reports[i].files += 1;
            reports[i].bytes += ready.entry.size;
            kept.push((i, ready));
        }
        let jobs: Vec<&JobReport> = reports.iter().filter(|r| &r.source == name).collect();
        let status = if jobs.iter().all(|r| r.ok) {
            "ok"
        } else if jobs.iter().any(|r| r.ok) {
            "partial"
        } else {
            "failed"
        };
        sources.push(SourceSummary {
            name: name.clone(),
            status: status.into(),
            files: count,
            bytes,
        });
    }
    kept.sort_by(|a, b| a.1.entry.path.cmp(&b.1.entry.path));

    let manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        patrol_version: env!("CARGO_PKG_VERSION").into(),
        created_at: Utc::now(),
        window,
        trigger: plan.trigger.clone(),
        redaction,
        sources,
        collectors: reports,
        files: kept.iter().map(|(_, r)| r.entry.clone()).collect(),
        skipped,
        failed,
    };
    write_atomically(&plan.output, &manifest, &kept)
        .map_err(|e| LogsError::Write(plan.output.clone(), e))?;
    Ok(ExportReport {
        path: plan.output.clone(),
        manifest,
    })
}

fn cap_reason(source_left: u64, source_cap: Option<u64>, bundle_cap: u64) -> String {
    match source_cap {
        Some(cap) if source_left == 0 => format!("source size cap of {cap} bytes reached"),
        _ => format!("bundle size cap of {bundle_cap} bytes reached"),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn write_atomically(
    output: &Path,
    manifest: &Manifest,
    files: &[(usize, Ready)],
) -> std::io::Result<()> {
    let dir = output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = output
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "bundle.tar.gz".into());
    let tmp = dir.join(format!(".{name}.partial-{}", std::process::id()));
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let top = top_folder(output);
        let json = serde_json::to_vec_pretty(manifest).map_err(std::io::Error::other)?;
        append(
            &mut tar,
            &format!("{top}/manifest.json"),
            &json,
            manifest.created_at,
        )?;
        for (_, r) in files {
            let mtime = r.entry.mtime.unwrap_or(manifest.created_at);
            append(
                &mut tar,
                &format!("{top}/{}", r.entry.path),
                &r.content,
                mtime,
            )?;
        }
        let gz = tar.into_inner()?;
        let mut file = gz.finish()?;
        file.flush()?;
        file.sync_all()?;
        std::fs::rename(&tmp, output)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    data: &[u8],
    mtime: DateTime<Utc>,
) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o644);
    // A time in the future (a console's clock ahead of ours) makes `tar` complain.
    let mtime = mtime.min(Utc::now());
    header.set_mtime(u64::try_from(mtime.timestamp()).unwrap_or(0));
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data)
}
