//! `patrol explain CHECK`: everything patrol knows about one check — its resolved
//! configuration (secrets masked), its next runs, its rule's source, and the last observation
//! its rule saw.

use super::schedule::{Fire, fires};
use crate::app::App;
use crate::config::RuleRef;
use crate::store::{RunRecord, Store};
use clap::Args;
use serde::Serialize;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The check id.
    pub check: String,
    /// How many next runs to show.
    #[arg(long, short = 'n', default_value_t = 5)]
    pub count: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Which rule judges the check (JSON `rule`).
#[derive(Debug, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RuleInfo {
    /// A rule file.
    Named { name: String, path: Option<PathBuf> },
    /// A script in the check file.
    Inline { file: PathBuf, line: usize },
    /// No rule: the probe's own verdict.
    None,
}

/// The last stored run (JSON `last_run`).
#[derive(Debug, Serialize)]
struct LastRun {
    id: Option<i64>,
    started_at: chrono::DateTime<chrono::Utc>,
    status: crate::status::Status,
    summary: String,
    /// What the probe observed: the `probe` value the rule saw (stored redacted).
    observation: serde_json::Value,
}

/// JSON shape of `patrol explain --json`.
#[derive(Debug, Serialize)]
struct Explained {
    id: String,
    name: String,
    description: String,
    tags: Vec<String>,
    file: PathBuf,
    line: usize,
    enabled: bool,
    schedule: String,
    timezone: String,
    misfire: crate::config::Misfire,
    timeout: crate::config::Dur,
    retries: u32,
    retry_delay: crate::config::Dur,
    next_runs: Vec<Fire>,
    rule: RuleInfo,
    params: serde_json::Value,
    alerting: crate::config::AlertingPolicy,
    depends_on: Vec<String>,
    /// The `probe:` section as written in the check file (`${...}` references unexpanded,
    /// so secrets stay references).
    probe: serde_json::Value,
    /// The resolved probe settings (defaults filled in, `${...}` expanded, secrets masked),
    /// as text.
    probe_resolved: String,
    last_run: Option<LastRun>,
}

pub fn explain(config: &Path, a: ExplainArgs) -> anyhow::Result<u8> {
    let (app, problems) = App::load(config).map_err(|p| {
        let lines: Vec<String> = p.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;
    // The id as written of a check that runs on one console names that console's instance.
    let found = app.config.instances(&a.check);
    let only = match found.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    };
    let Some(check) = only else {
        for p in &problems {
            eprintln!("{p}");
        }
        if found.len() > 1 {
            let ids: Vec<&str> = found.iter().map(|c| c.id.as_str()).collect();
            anyhow::bail!(
                "{:?} runs on several consoles: name one of {}",
                a.check,
                ids.join(", ")
            );
        }
        let known: Vec<&str> = app.config.checks.iter().map(|c| c.id.as_str()).collect();
        anyhow::bail!(
            "unknown check {:?}; configured: {}",
            a.check,
            known.join(", ")
        );
    };
    let redactor = &app.config.redactor;
    let rule = match &check.rule {
        Some(RuleRef::Named(name)) => RuleInfo::Named {
            name: name.clone(),
            path: app.config.rules.get(name).map(|r| r.path.clone()),
        },
        Some(RuleRef::Inline {
            file, line_offset, ..
        }) => RuleInfo::Inline {
            file: file.clone(),
            line: *line_offset + 1,
        },
        None => RuleInfo::None,
    };
    let last_run = match Store::open_read_only(&app.config.store_path()) {
        Ok(store) => store
            .recent_runs(&check.id, 1)?
            .into_iter()
            .next()
            .map(|r: RunRecord| LastRun {
                id: r.id,
                started_at: r.started_at,
                status: r.status,
                summary: r.summary,
                observation: r.observation,
            }),
        Err(_) => None,
    };
    let next = if check.def.enabled {
        fires(&check.def.schedule, check.zone, chrono::Utc::now(), a.count).fires
    } else {
        Vec::new()
    };
    let e = Explained {
        id: check.id.clone(),
        name: check.name.clone(),
        description: check.def.description.clone(),
        tags: check.def.tags.clone(),
        file: check.file.clone(),
        line: check.line,
        enabled: check.def.enabled,
        schedule: check.def.schedule.to_string(),
        timezone: check.zone.name().to_string(),
        misfire: check.misfire,
        timeout: check.def.timeout,
        retries: check.def.retries,
        retry_delay: check.def.retry_delay,
        next_runs: next,
        rule,
        params: redactor.json(&check.def.params.value),
        alerting: check.alerting.clone(),
        depends_on: check.depends_on.clone(),
        probe: redactor.json(&probe_as_written(&check.file, &check.base_id)),
        probe_resolved: redactor.text(&format!("{:#?}", check.def.probe)),
        last_run,
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(0);
    }
    print_text(&e, check.zone);
    Ok(0)
}

fn print_text(e: &Explained, zone: chrono_tz::Tz) {
    println!("check {} — {}", e.id, e.name);
    println!("  defined in {}:{}", e.file.display(), e.line);
    if !e.description.is_empty() {
        println!("  {}", e.description.trim());
    }
    if !e.tags.is_empty() {
        println!("  tags: {}", e.tags.join(", "));
    }
    println!(
        "schedule: {:?} in {}; misfire: {}; timeout {}; retries {} (every {})",
        e.schedule,
        e.timezone,
        serde_json::to_value(e.misfire)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        e.timeout,
        e.retries,
        e.retry_delay
    );
    if e.enabled {
        println!("next runs:");
        for f in &e.next_runs {
            let local = f.utc.with_timezone(&zone);
            println!(
                "  {}  ({}){}",
                local.format("%Y-%m-%d %H:%M:%S %Z"),
                f.utc.format("%Y-%m-%d %H:%M:%SZ"),
                f.note
                    .as_ref()
                    .map(|n| format!("  {n}"))
                    .unwrap_or_default()
            );
        }
    } else {
        println!("next runs: none (enabled: false)");
    }
    match &e.rule {
        RuleInfo::Named { name, path } => println!(
            "rule: {name} — {}",
            path.as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "not found".into())
        ),
        RuleInfo::Inline { file, line } => {
            println!("rule: inline script at {}:{line}", file.display())
        }
        RuleInfo::None => println!("rule: none — the probe's own verdict"),
    }
    let pretty = |v: &serde_json::Value| serde_json::to_string_pretty(v).unwrap_or_default();
    if !e.params.is_null() {
        println!("params: {}", pretty(&e.params));
    }
    if !e.depends_on.is_empty() {
        println!("depends on: {}", e.depends_on.join(", "));
    }
    println!(
        "alerting: {}",
        serde_json::to_string(&e.alerting).unwrap_or_default()
    );
    println!(
        "probe (resolved, secrets masked):\n{}",
        indent(&e.probe_resolved)
    );
    match &e.last_run {
        Some(r) => {
            println!(
                "last observation its rule saw: run #{} at {}, {} — {}",
                r.id.map(|i| i.to_string()).unwrap_or_default(),
                r.started_at
                    .with_timezone(&zone)
                    .format("%Y-%m-%d %H:%M:%S %Z"),
                r.status,
                super::output::one_line(&r.summary, 120)
            );
            println!("{}", indent(&pretty(&r.observation)));
        }
        None => println!("last observation its rule saw: none (the check has not run yet)"),
    }
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The `probe:` value of the check's document, as written (Null when it cannot be read).
fn probe_as_written(file: &Path, id: &str) -> serde_json::Value {
    let limit = crate::config::files::MAX_CONFIG_FILE_BYTES;
    let Ok(text) = crate::config::files::read_text(file, limit) else {
        return serde_json::Value::Null;
    };
    crate::config::split_documents(&text)
        .into_iter()
        .filter_map(|(_, doc)| serde_saphyr::from_str::<serde_json::Value>(&doc).ok())
        .find(|v| v["id"] == id)
        .map(|v| v["probe"].clone())
        .unwrap_or(serde_json::Value::Null)
}
