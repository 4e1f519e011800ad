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

/// `patrol status`: the latest state of every check, worst first.
pub fn status(config: &Path, json: bool) -> anyhow::Result<u8> {
    let (root, store) = super::output::root_and_store(config, false)?;
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
    rows.sort_by(|a, b| {
        let sev = |r: &Row| r.status.map(|s| s.severity() as i8).unwrap_or(-1);
        sev(b)
            .cmp(&sev(a))
            .then_with(|| a.check_id.cmp(&b.check_id))
    });

    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    let zone = zone_of(&root);
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
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
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &[
                "CHECK", "STATUS", "SINCE", "LAST RUN", "NEXT RUN", "SUMMARY"
            ],
            &table_rows
        )
    );
    let count = |s: Status| rows.iter().filter(|r| r.status == Some(s)).count();
    println!(
        "{} checks: {} ok, {} warning, {} critical, {} unknown, {} never run",
        rows.len(),
        count(Status::Ok),
        count(Status::Warning),
        count(Status::Critical),
        count(Status::Unknown),
        rows.iter().filter(|r| r.status.is_none()).count()
    );
    Ok(0)
}

pub fn zone_of(root: &RootConfig) -> chrono_tz::Tz {
    root.timezone.0
}
