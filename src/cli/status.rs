use super::output::{one_line, opt_time, table, time};
use crate::app::App;
use crate::config::RootConfig;
use crate::status::Status;
use serde::Serialize;
use std::path::Path;

#[derive(Serialize)]
struct Row {
    check_id: String,
    name: String,
    /// The HyperBDR console the check runs against (only for such checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    console: Option<String>,
    /// None: never run.
    status: Option<Status>,
    since: Option<chrono::DateTime<chrono::Utc>>,
    consecutive: u32,
    last_run: Option<chrono::DateTime<chrono::Utc>>,
    last_duration_ms: Option<u64>,
    next_run: Option<chrono::DateTime<chrono::Utc>>,
    summary: String,
    /// False when the check is in the store but no longer in the configuration.
    configured: bool,
    enabled: bool,
}

/// `patrol status`: the latest state of every check, grouped by console (checks without
/// one first), worst first in each group; `console` keeps one console's checks only.
pub fn status(config: &Path, json: bool, console: Option<&str>) -> anyhow::Result<u8> {
    let (root, store) = super::output::root_and_store(config, false)?;
    if let Some(name) = console
        && !root.consoles.contains_key(name)
    {
        let known: Vec<&str> = root.consoles.keys().map(String::as_str).collect();
        anyhow::bail!(
            "no console `{name}` ({})",
            if known.is_empty() {
                "patrol.yaml defines no console".to_string()
            } else {
                format!("defined: {}", known.join(", "))
            }
        );
    }
    let states = store.check_states()?;
    // The configuration adds names and the checks that never ran; problems are `validate`'s.
    let checks = App::load(config)
        .map(|(app, _)| app.config.checks)
        .unwrap_or_default();

    let mut rows: Vec<Row> = Vec::new();
    for s in &states {
        let c = checks.iter().find(|c| c.id == s.check_id);
        rows.push(Row {
            check_id: s.check_id.clone(),
            // A check no longer configured still names its console in its id.
            console: match c {
                Some(c) => c.console.clone(),
                None => s.check_id.split_once('@').map(|(_, c)| c.to_string()),
            },
            name: c
                .map(|c| c.name.clone())
                .unwrap_or_else(|| s.check_id.clone()),
            status: Some(s.status),
            since: Some(s.since),
            consecutive: s.consecutive,
            last_run: Some(s.last_run),
            last_duration_ms: Some(s.last_duration_ms),
            next_run: s.next_run,
            summary: s.summary.clone(),
            configured: c.is_some(),
            enabled: c.is_some_and(|c| c.def.enabled),
        });
    }
    for c in &checks {
        if !states.iter().any(|s| s.check_id == c.id) {
            rows.push(Row {
                check_id: c.id.clone(),
                console: c.console.clone(),
                name: c.name.clone(),
                status: None,
                since: None,
                consecutive: 0,
                last_run: None,
                last_duration_ms: None,
                next_run: None,
                summary: String::new(),
                configured: true,
                enabled: c.def.enabled,
            });
        }
    }
    if let Some(name) = console {
        rows.retain(|r| r.console.as_deref() == Some(name));
    }
    rows.sort_by(|a, b| {
        let sev = |r: &Row| r.status.map(|s| s.severity() as i8).unwrap_or(-1);
        a.console
            .cmp(&b.console)
            .then_with(|| sev(b).cmp(&sev(a)))
            .then_with(|| a.check_id.cmp(&b.check_id))
    });

    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    let zone = zone_of(&root);
    let consoles = rows.iter().any(|r| r.console.is_some());
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut row = vec![
                r.check_id.clone(),
                match (r.status, r.configured, r.enabled) {
                    (_, false, _) => format!(
                        "{} (removed)",
                        r.status.map(|s| s.to_string()).unwrap_or_default()
                    ),
                    (None, _, false) => "DISABLED".into(),
                    (None, _, true) => "PENDING".into(),
                    (Some(s), _, _) => s.to_string(),
                },
                r.since.map(|t| time(t, zone)).unwrap_or_else(|| "-".into()),
                opt_time(r.last_run, zone),
                opt_time(r.next_run, zone),
                one_line(&r.summary, 120),
            ];
            if consoles {
                row.insert(1, r.console.clone().unwrap_or_else(|| "-".into()));
            }
            row
        })
        .collect();
    let mut header = vec![
        "CHECK", "STATUS", "SINCE", "LAST RUN", "NEXT RUN", "SUMMARY",
    ];
    if consoles {
        header.insert(1, "CONSOLE");
    }
    print!("{}", table(&header, &table_rows));
    println!("{}", counts(&rows, "checks"));
    if consoles {
        let mut names: Vec<&str> = rows.iter().filter_map(|r| r.console.as_deref()).collect();
        names.dedup();
        for name in names {
            let of: Vec<&Row> = rows
                .iter()
                .filter(|r| r.console.as_deref() == Some(name))
                .collect();
            println!("  console {name}: {}", counts(&of, "checks"));
        }
    }
    Ok(0)
}

/// `27 checks: 25 ok, 0 warning, 1 critical, 1 unknown, 0 never run`.
fn counts<R: std::borrow::Borrow<Row>>(rows: &[R], what: &str) -> String {
    let count = |s: Status| rows.iter().filter(|r| r.borrow().status == Some(s)).count();
    format!(
        "{} {what}: {} ok, {} warning, {} critical, {} unknown, {} never run",
        rows.len(),
        count(Status::Ok),
        count(Status::Warning),
        count(Status::Critical),
        count(Status::Unknown),
        rows.iter().filter(|r| r.borrow().status.is_none()).count()
    )
}

pub fn zone_of(root: &RootConfig) -> chrono_tz::Tz {
    root.timezone.0
}
