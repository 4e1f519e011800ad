//! Log export: `patrol logs export` collects the logs of every component (console, sync
//! proxies, Linux and Windows hosts, cloud sync gateways) into one verified `.tar.gz` bundle.
//!
//! The root config's `logs:` names the **sources** (by component), each with one or more
//! **collectors**:
//!
//! - `local`: globs on this machine (`/opt/installer/production/logs/**/*.log*`);
//! - `ssh`: files fetched by SFTP from one or more hosts (Linux, or Windows with its OpenSSH
//!   server: `C:\Program Files (x86)\DiskSync-Agent\log\*.log`), host keys checked against a
//!   known_hosts file, key or password authentication from secrets;
//! - `hyperbdr`: the console's own log collection (request, wait while `collecting`, download
//!   when `available`);
//! - `command`: the output of a program (`docker logs`, `journalctl`, `hmctl status`).
//!
//! Every collected file goes through the same steps: a `.gz` file is unpacked; files last
//! modified before the window are left out; lines that start with a timestamp are kept only
//! inside the window (lines without one follow the line before, so stack traces stay whole);
//! secrets are masked; the per-source and per-bundle size caps keep the newest files (a file
//! that does not fit keeps its last lines). The bundle has a folder per source and host and a
//! `manifest.json` with every file's origin, size and SHA-256 and every source that failed and
//! why; it is written to a temporary file and renamed. `patrol logs verify BUNDLE` re-checks it.
//! A source that fails never stops the others.

pub mod bundle;
pub mod command;
pub mod filter;
pub mod hyperbdr;
pub mod local;
pub mod redact;
pub mod ssh;
pub mod verify;

use crate::config::{Config, Dur, Zone};
use chrono::{DateTime, SubsecRound, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use bundle::{ExportReport, JobReport};

/// Log export settings and the log sources (`patrol logs export`).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogsConfig {
    /// Folder bundles are written to, relative to `patrol.yaml`. Default: `log-bundles`.
    #[serde(default = "default_output")]
    pub output: PathBuf,
    /// The window exported when none is given on the command line. Default: 24h; 1m to 366d.
    #[serde(
        default = "default_since",
        deserialize_with = "crate::config::bounds::log_window"
    )]
    pub since: Dur,
    /// Most bytes of log content in one bundle (newest files are kept first). Default:
    /// 1073741824 (1 GiB); 1 to 1099511627776 (1 TiB).
    #[serde(
        default = "default_bundle_bytes",
        deserialize_with = "crate::config::bounds::bundle_bytes"
    )]
    pub max_bundle_bytes: u64,
    /// Most bytes of log content per source, unless the source sets its own. Default:
    /// 268435456 (256 MiB); 1 to 1099511627776 (1 TiB).
    #[serde(
        default = "default_source_bytes",
        deserialize_with = "crate::config::bounds::bundle_bytes"
    )]
    pub max_source_bytes: u64,
    /// How many collectors (each SSH host counts as one) run at the same time. Default: 4;
    /// 1 to 64.
    #[serde(
        default = "default_parallel",
        deserialize_with = "crate::config::bounds::parallel"
    )]
    pub parallel: usize,
    /// known_hosts file the SSH host keys are checked against (OpenSSH format, relative to
    /// `patrol.yaml`). Default: `~/.ssh/known_hosts`. Unknown or changed keys are refused.
    #[serde(default)]
    pub known_hosts: Option<PathBuf>,
    /// Longest time to connect to an SSH host, check its key and log in. Default: 10s;
    /// 100ms to 1h.
    #[serde(
        default = "default_connect_timeout",
        deserialize_with = "crate::config::bounds::call_timeout"
    )]
    pub connect_timeout: Dur,
    /// Longest time to list and download the files of one SSH host, or to wait for one
    /// HyperBDR collection. Default: 5m; 10ms to 24h.
    #[serde(
        default = "default_transfer_timeout",
        deserialize_with = "crate::config::bounds::probe_timeout"
    )]
    pub transfer_timeout: Dur,
    /// Zone of line timestamps that carry no offset. Default: the root config's time zone.
    #[serde(default)]
    pub timezone: Option<Zone>,
    /// Masking of secrets in the exported text.
    #[serde(default)]
    pub redact: RedactConfig,
    /// The log sources by component name (`console`, `sync-proxy`, `linux-host`,
    /// `windows-host`, `cloud-sync-gateway`, or any name).
    #[serde(default)]
    pub sources: BTreeMap<String, LogSource>,
}

impl Default for LogsConfig {
    fn default() -> Self {
        LogsConfig {
            output: default_output(),
            since: default_since(),
            max_bundle_bytes: default_bundle_bytes(),
            max_source_bytes: default_source_bytes(),
            parallel: default_parallel(),
            known_hosts: None,
            connect_timeout: default_connect_timeout(),
            transfer_timeout: default_transfer_timeout(),
            timezone: None,
            redact: RedactConfig::default(),
            sources: BTreeMap::new(),
        }
    }
}

fn default_output() -> PathBuf {
    PathBuf::from("log-bundles")
}
fn default_since() -> Dur {
    Dur::secs(24 * 3600)
}
fn default_bundle_bytes() -> u64 {
    1 << 30
}
fn default_source_bytes() -> u64 {
    256 << 20
}
fn default_parallel() -> usize {
    4
}
fn default_connect_timeout() -> Dur {
    Dur::secs(10)
}
fn default_transfer_timeout() -> Dur {
    Dur::secs(300)
}
fn yes() -> bool {
    true
}

/// Masking of secrets in exported logs. Built in: passwords, tokens, access/secret keys
/// (AK/SK), `Authorization` headers, credentials in URLs, private keys, and the values of
/// every configured secret.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    /// Set to false to export the logs as they are, except that the values of configured
    /// secrets (`secrets:`) are always masked. Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Extra patterns; each match is replaced by `***`.
    #[serde(default)]
    pub patterns: Vec<RedactPattern>,
}

impl Default for RedactConfig {
    fn default() -> Self {
        RedactConfig {
            enabled: true,
            patterns: Vec::new(),
        }
    }
}

/// An extra redaction pattern.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedactPattern {
    /// Name counted in the manifest.
    pub name: String,
    /// Regular expression (Rust `regex` syntax); a group named `value` limits the mask to it.
    pub regex: String,
}

fn max_bytes_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    crate::config::bounds::bundle_bytes(d).map(Some)
}

/// One log source (a component): its collectors and its size cap.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogSource {
    /// Where its logs come from: a list of collectors, each one key naming the kind.
    pub collect: Vec<CollectorSpec>,
    /// Most bytes of log content from this source. Default: `logs.max_source_bytes`; 1
    /// to 1099511627776 (1 TiB).
    #[serde(default, deserialize_with = "max_bytes_opt")]
    pub max_bytes: Option<u64>,
    /// Zone of this source's line timestamps that carry no offset. Default: `logs.timezone`.
    #[serde(default)]
    pub timezone: Option<Zone>,
}

/// A collector: one key naming the kind.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum CollectorSpec {
    /// Files on this machine matching globs.
    Local(local::LocalCollector),
    /// Files fetched by SFTP from remote hosts.
    Ssh(ssh::SshCollector),
    /// The HyperBDR console's log collection for one resource.
    Hyperbdr(hyperbdr::HyperbdrCollector),
    /// The output of a program.
    Command(command::CommandCollector),
}

impl CollectorSpec {
    pub fn kind(&self) -> &'static str {
        match self {
            CollectorSpec::Local(_) => "local",
            CollectorSpec::Ssh(_) => "ssh",
            CollectorSpec::Hyperbdr(_) => "hyperbdr",
            CollectorSpec::Command(_) => "command",
        }
    }
}

/// The time window of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

/// A file as a collector found it, before the window, redaction and caps are applied.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Path inside the source/host folder of the bundle (`/` separated, no leading `/`).
    pub rel: String,
    /// Where it came from (a path, `ssh://user@host/path`, a command line, a URL).
    pub origin: String,
    pub mtime: Option<DateTime<Utc>>,
    pub content: Vec<u8>,
}

/// What one collector job (one collector, one host) produced.
#[derive(Debug, Clone, Default)]
pub struct JobOutput {
    pub files: Vec<Collected>,
    /// Files or parts that could not be read while others could (the job still succeeded).
    pub warnings: Vec<String>,
}

/// Everything a collector job needs besides its own config.
#[derive(Clone)]
pub struct JobContext {
    pub window: Window,
    pub base_dir: PathBuf,
    pub known_hosts: PathBuf,
    pub connect_timeout: std::time::Duration,
    pub transfer_timeout: std::time::Duration,
    /// The consoles of `patrol.yaml`, for `hyperbdr` collectors.
    pub consoles: Arc<BTreeMap<String, crate::hyperbdr::console::ConsoleConfig>>,
}

/// What to export: which sources, which window, where to.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// Source names; empty = every configured source.
    pub sources: Vec<String>,
    pub window: Window,
    /// Bundle file; default: `logs.output/patrol-logs-<time>.tar.gz`.
    pub output: Option<PathBuf>,
    /// Show a progress bar (on a terminal) or plain progress lines.
    pub progress: Progress,
    /// What asked for it (a check id), recorded in the manifest.
    pub trigger: Option<String>,
}

/// How progress is shown while exporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    Bar,
    Lines,
    Quiet,
}

/// Errors that stop an export as a whole (a failing source never does).
#[derive(Debug, thiserror::Error)]
pub enum LogsError {
    #[error("unknown log source `{0}` (known: {1})")]
    UnknownSource(String, String),
    #[error("no log sources are configured (add `logs: sources:` to patrol.yaml)")]
    NoSources,
    #[error("bad redaction pattern `{0}`: {1}")]
    Pattern(String, String),
    #[error("cannot write the bundle {0}: {1}")]
    Write(PathBuf, std::io::Error),
    #[error("cannot read the bundle {0}: {1}")]
    Read(PathBuf, String),
}

/// Exports the requested sources into one bundle. Failing sources are recorded in the
/// manifest and the report; only an unusable request or an unwritable bundle is an error.
pub async fn export(config: &Config, req: ExportRequest) -> Result<ExportReport, LogsError> {
    let logs = &config.root.logs;
    if logs.sources.is_empty() {
        return Err(LogsError::NoSources);
    }
    let names: Vec<String> = if req.sources.is_empty() {
        logs.sources.keys().cloned().collect()
    } else {
        for s in &req.sources {
            if !logs.sources.contains_key(s) {
                let known: Vec<&str> = logs.sources.keys().map(String::as_str).collect();
                return Err(LogsError::UnknownSource(s.clone(), known.join(", ")));
            }
        }
        req.sources.clone()
    };
    let redactor = redact::LogRedactor::new(&logs.redact, &config.redactor)?;
    // Whole seconds, widened: consoles take and give times in seconds.
    let mut req = req;
    req.window = Window {
        from: req.window.from.trunc_subsecs(0),
        to: {
            let t = req.window.to.trunc_subsecs(0);
            if t < req.window.to {
                t + chrono::Duration::seconds(1)
            } else {
                t
            }
        },
    };
    let known_hosts = match &logs.known_hosts {
        Some(p) => config.base_dir.join(p),
        None => std::env::home_dir()
            .unwrap_or_default()
            .join(".ssh/known_hosts"),
    };
    let ctx = JobContext {
        window: req.window,
        base_dir: config.base_dir.clone(),
        known_hosts,
        connect_timeout: logs.connect_timeout.as_duration(),
        transfer_timeout: logs.transfer_timeout.as_duration(),
        consoles: Arc::new(config.root.consoles.clone()),
    };
    let default_zone = logs.timezone.unwrap_or(config.root.timezone).0;
    let mut jobs = Vec::new();
    for name in &names {
        let source = &logs.sources[name];
        for spec in &source.collect {
            for host in job_hosts(spec) {
                jobs.push(bundle::Job {
                    source: name.clone(),
                    kind: spec.kind(),
                    host,
                    spec: spec.clone(),
                });
            }
        }
    }
    let output = match &req.output {
        Some(p) => p.clone(),
        None => {
            let stem = match &req.trigger {
                Some(check) => format!(
                    "patrol-logs-{check}-{}",
                    req.window.to.format("%Y%m%dT%H%M%SZ")
                ),
                None => format!("patrol-logs-{}", Utc::now().format("%Y%m%dT%H%M%SZ")),
            };
            config
                .base_dir
                .join(&logs.output)
                .join(format!("{stem}.tar.gz"))
        }
    };
    let zones: BTreeMap<String, chrono_tz::Tz> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                logs.sources[n]
                    .timezone
                    .map(|z| z.0)
                    .unwrap_or(default_zone),
            )
        })
        .collect();
    let caps: BTreeMap<String, u64> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                logs.sources[n].max_bytes.unwrap_or(logs.max_source_bytes),
            )
        })
        .collect();
    let plan = bundle::Plan {
        jobs,
        ctx,
        redactor: Arc::new(redactor),
        zones,
        caps,
        max_bundle_bytes: logs.max_bundle_bytes,
        parallel: logs.parallel.max(1),
        output,
        progress: req.progress,
        trigger: req.trigger,
    };
    bundle::run(plan).await
}

/// The hosts one collector runs on: one job per SSH host, one job for anything else.
fn job_hosts(spec: &CollectorSpec) -> Vec<String> {
    match spec {
        CollectorSpec::Ssh(s) => s.hosts.clone(),
        CollectorSpec::Hyperbdr(h) => vec![h.resource_id.clone()],
        CollectorSpec::Local(_) | CollectorSpec::Command(_) => vec![local_host_name()],
    }
}

/// This machine's name, for the bundle folder of local files and commands.
pub fn local_host_name() -> String {
    sysinfo::System::host_name()
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The export a firing check asks for (`on_failure: export_logs`): the window from
/// `on_failure.window` before the failure to now. Returns the bundle path.
pub async fn export_for_check(
    config: &Config,
    check: &crate::config::Check,
    failed_at: DateTime<Utc>,
) -> Result<ExportReport, LogsError> {
    let of = &check.def.on_failure;
    let window = Window {
        from: failed_at - chrono::Duration::from_std(of.window.as_duration()).unwrap_or_default(),
        to: Utc::now().max(failed_at),
    };
    export(
        config,
        ExportRequest {
            sources: of.export_logs.clone(),
            window,
            output: None,
            progress: Progress::Quiet,
            trigger: Some(check.id.clone()),
        },
    )
    .await
}

/// Parses a point in time: RFC 3339, `YYYY-MM-DD HH:MM[:SS]` or `YYYY-MM-DD` (in `zone`).
pub fn parse_time(text: &str, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    let t = text.trim();
    if let Ok(d) = DateTime::parse_from_rfc3339(t) {
        return Ok(d.with_timezone(&Utc));
    }
    use chrono::{NaiveDate, NaiveDateTime, TimeZone};
    let naive = NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S")
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M"))
        .or_else(|_| {
            NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| {
            format!("`{t}` is not a time: use RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD`")
        })?;
    zone.from_local_datetime(&naive)
        .earliest()
        .map(|d| d.with_timezone(&Utc))
        .ok_or_else(|| format!("`{t}` does not exist in {zone}"))
}
