//! `patrol logs`: export the components' logs into one bundle, verify a bundle, list sources.

use crate::config::{Config, Dur};
use crate::logs::{self, ExportRequest, Progress, Window};
use chrono::Utc;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Collect the logs of the configured sources into one `.tar.gz` bundle with a manifest.
    /// Exit 0 when every collector worked, 1 when some failed, 2 when all failed.
    Export(ExportArgs),
    /// Re-check every file of a bundle against its manifest (size and SHA-256).
    /// Exit 0 when all match, 1 otherwise.
    Verify {
        /// The bundle (`.tar.gz`).
        bundle: PathBuf,
    },
    /// List the configured log sources and their collectors.
    Sources {
        /// Print `[{source, collector, what}]`.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Sources to export (names under `logs: sources:`). Default: all.
    pub sources: Vec<String>,
    /// Export the logs of this long before now (`24h`, `90m`, `7d`). Default: `logs.since`.
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub since: Option<Dur>,
    /// Start of the window: RFC 3339, `YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DD` (in the root
    /// config's time zone).
    #[arg(long)]
    pub from: Option<String>,
    /// End of the window (same forms). Default: now.
    #[arg(long)]
    pub to: Option<String>,
    /// Bundle file to write. Default: `logs.output/patrol-logs-<time>.tar.gz`.
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
    /// Print the manifest as JSON instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub async fn logs(config: &Path, command: LogsCommand) -> anyhow::Result<u8> {
    match command {
        LogsCommand::Export(a) => export(config, a).await,
        LogsCommand::Verify { bundle } => verify(&bundle),
        LogsCommand::Sources { json } => sources(config, json),
    }
}

/// The root config alone (log export needs no checks or rules).
fn root_config(path: &Path) -> anyhow::Result<Config> {
    let (root, base_dir, redactor, problems) =
        crate::config::load_root_only(path).map_err(|p| {
            let lines: Vec<String> = p.iter().map(ToString::to_string).collect();
            anyhow::anyhow!("{}", lines.join("\n"))
        })?;
    if !problems.is_empty() {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::bail!("{}", lines.join("\n"));
    }
    Ok(Config {
        root,
        path: path.to_path_buf(),
        base_dir,
        checks: Vec::new(),
        rules: BTreeMap::new(),
        redactor,
    })
}

async fn export(path: &Path, a: ExportArgs) -> anyhow::Result<u8> {
    let config = root_config(path)?;
    let zone = config.root.timezone.0;
    let now = Utc::now();
    let to = match &a.to {
        Some(t) => logs::parse_time(t, zone).map_err(|e| anyhow::anyhow!("--to: {e}"))?,
        None => now,
    };
    let from = match (&a.from, a.since) {
        (Some(f), _) => logs::parse_time(f, zone).map_err(|e| anyhow::anyhow!("--from: {e}"))?,
        (None, since) => {
            let d = since.unwrap_or(config.root.logs.since).as_duration();
            to - chrono::Duration::from_std(d)?
        }
    };
    if from >= to {
        anyhow::bail!("the window is empty: --from must be before --to");
    }
    let progress = if a.json {
        Progress::Quiet
    } else if std::io::stderr().is_terminal() {
        Progress::Bar
    } else {
        Progress::Lines
    };
    let report = logs::export(
        &config,
        ExportRequest {
            sources: a.sources,
            window: Window { from, to },
            output: a.output,
            progress,
            trigger: None,
        },
    )
    .await?;
    let m = &report.manifest;
    if a.json {
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(report.exit_code());
    }
    let rows: Vec<Vec<String>> = m
        .collectors
        .iter()
        .map(|j| {
            let detail = match (&j.error, j.warnings.first()) {
                (Some(e), _) => e.clone(),
                (None, Some(w)) if j.warnings.len() > 1 => {
                    format!("{w} (+{} more warnings)", j.warnings.len() - 1)
                }
                (None, Some(w)) => w.clone(),
                (None, None) => String::new(),
            };
            vec![
                j.source.clone(),
                j.collector.clone(),
                j.host.clone(),
                if j.ok { "ok".into() } else { "FAILED".into() },
                j.files.to_string(),
                j.bytes.to_string(),
                super::output::one_line(&detail, 160),
            ]
        })
        .collect();
    print!(
        "{}",
        super::output::table(
            &[
                "SOURCE",
                "COLLECTOR",
                "HOST",
                "STATUS",
                "FILES",
                "BYTES",
                "DETAIL"
            ],
            &rows
        )
    );
    let total: u64 = m.files.iter().map(|f| f.size).sum();
    println!(
        "bundle: {} ({} files, {} bytes, window {} .. {}, {} redactions{})",
        report.path.display(),
        m.files.len(),
        total,
        m.window.from.to_rfc3339(),
        m.window.to.to_rfc3339(),
        m.redaction.total,
        if m.skipped.is_empty() {
            String::new()
        } else {
            format!(", {} files left out: see manifest.json", m.skipped.len())
        }
    );
    let failed = m.collectors.iter().filter(|j| !j.ok).count();
    if failed > 0 {
        println!("{failed} of {} collectors failed", m.collectors.len());
    }
    Ok(report.exit_code())
}

fn verify(bundle: &Path) -> anyhow::Result<u8> {
    let v = match logs::verify::verify(bundle) {
        Ok(v) => v,
        Err(e) => {
            println!("FAILED: {e}");
            return Ok(1);
        }
    };
    for p in &v.problems {
        println!("FAILED: {p}");
    }
    if v.ok() {
        let failed = v.manifest.as_ref().map(|m| m.failed.len()).unwrap_or(0);
        println!(
            "ok: {} files match the manifest{}",
            v.verified,
            if failed > 0 {
                format!(" ({failed} sources had failed at export; see manifest.json)")
            } else {
                String::new()
            }
        );
        Ok(0)
    } else {
        println!(
            "{} problems; {} files matched",
            v.problems.len(),
            v.verified
        );
        Ok(1)
    }
}

fn sources(path: &Path, json: bool) -> anyhow::Result<u8> {
    let config = root_config(path)?;
    let mut rows = Vec::new();
    for (name, source) in &config.root.logs.sources {
        for c in &source.collect {
            let what = match c {
                logs::CollectorSpec::Local(l) => l.paths.join(", "),
                logs::CollectorSpec::Ssh(s) => {
                    format!("{} on {}", s.paths.join(", "), s.hosts.join(", "))
                }
                logs::CollectorSpec::Hyperbdr(h) => {
                    let console = match &h.console {
                        Some(n) => n.value.clone(),
                        None => config
                            .root
                            .consoles
                            .keys()
                            .next()
                            .cloned()
                            .unwrap_or_default(),
                    };
                    let url = config
                        .root
                        .consoles
                        .get(&console)
                        .map(|c| c.url.display().to_string())
                        .unwrap_or_default();
                    format!(
                        "console {console} ({url}) {:?} {}",
                        h.resource_type, h.resource_id
                    )
                }
                logs::CollectorSpec::Command(c) => c.file_name(),
            };
            rows.push(vec![name.clone(), c.kind().to_string(), what]);
        }
    }
    if json {
        let list: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::json!({"source": r[0], "collector": r[1], "what": r[2]}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&list)?);
    } else {
        print!(
            "{}",
            super::output::table(&["SOURCE", "COLLECTOR", "WHAT"], &rows)
        );
    }
    Ok(0)
}
