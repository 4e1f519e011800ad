//! The periodic report (`report:` in the root config): one message summarising a period —
//! counts by status, every check not OK with its summary, the alerts sent, failed and pending,
//! and the checks that did not run when they should have. It goes out even when all is well,
//! so that its arrival proves that patrol and the mail path are alive.
//!
//! The report is an [`AlertEvent`] of kind [`MessageKind::Report`] about the pseudo-check
//! `patrol-report`, so every channel renders it: the one-line summary is the subject/title,
//! the sections are a text table in `result.output_tail`, the counts are `result.metrics`
//! and the lists are `result.facts` (for webhook receivers).

use super::event::fingerprint;
use super::event::{AlertEvent, CheckInfo, MessageKind, ResultInfo, StateInfo};
use crate::config::{Check, Config};
use crate::status::Status;
use crate::store::{
    CheckState, OutboxFilter, OutboxItem, OutboxRow, OutboxState, Store, StoreError,
};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::time::Duration;

/// The id of the pseudo-check a report is about.
pub const REPORT_CHECK_ID: &str = "patrol-report";

/// The outbox `kind` of a report (its alerts are not counted as alerts by the next report).
pub const REPORT_KIND: &str = "report";

/// A check counts as overdue only once its run is this late beyond its timeout (a run that
/// is going on right now is not a missed one).
const OVERDUE_SLACK: Duration = Duration::from_secs(60);

/// How many failed deliveries the report itemises (the rest are counted).
const MAX_FAILED_LISTED: usize = 20;

/// The zone the report is scheduled and dated in: `report.timezone`, else the root zone.
pub fn report_zone(config: &Config) -> chrono_tz::Tz {
    let root = &config.root;
    root.report
        .as_ref()
        .and_then(|r| r.timezone)
        .map_or(root.timezone.0, |z| z.0)
}

/// Builds the report of the period `since`..`now`.
pub fn build_report(
    config: &Config,
    store: &Store,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<AlertEvent, StoreError> {
    let states: HashMap<String, CheckState> = store
        .check_states()?
        .into_iter()
        .map(|s| (s.check_id.clone(), s))
        .collect();
    let checks: Vec<&Check> = config
        .checks
        .iter()
        .map(AsRef::as_ref)
        .filter(|c| c.def.enabled)
        .collect();

    let mut counts: HashMap<Status, usize> = HashMap::new();
    let mut never_run: Vec<&str> = Vec::new();
    let mut not_ok: Vec<(&Check, &CheckState)> = Vec::new();
    let mut overdue: Vec<(&Check, String)> = Vec::new();
    let mut worst = Status::Ok;
    for check in &checks {
        let state = states.get(&check.id);
        match state {
            Some(s) => {
                *counts.entry(s.status).or_default() += 1;
                worst = worst.worst(s.status);
                if s.status != Status::Ok {
                    not_ok.push((check, s));
                }
            }
            None => never_run.push(&check.id),
        }
        if let Some(why) = overdue_reason(check, state, since, now) {
            overdue.push((check, why));
        }
    }
    // Worst first, then by id.
    not_ok.sort_by(|a, b| {
        b.1.status
            .severity()
            .cmp(&a.1.status.severity())
            .then_with(|| a.0.id.cmp(&b.0.id))
    });
    if !overdue.is_empty() {
        // A check that should have run and did not hides whatever it watches.
        worst = worst.worst(Status::Warning);
    }

    let alerts: Vec<OutboxRow> = store
        .outbox(&OutboxFilter {
            since: Some(since),
            limit: Some(100_000),
            ..Default::default()
        })?
        .into_iter()
        .filter(|r| r.kind != REPORT_KIND && r.created_at <= now)
        .collect();
    let by_state = |s: OutboxState| alerts.iter().filter(|r| r.state == s).count();
    let (sent, failed, pending) = (
        by_state(OutboxState::Sent),
        by_state(OutboxState::Failed),
        by_state(OutboxState::Pending),
    );
    let failed_rows: Vec<&OutboxRow> = alerts
        .iter()
        .filter(|r| r.state == OutboxState::Failed)
        .collect();

    let count = |s: Status| counts.get(&s).copied().unwrap_or(0);
    let summary = summary_line(
        checks.len(),
        &counts,
        never_run.len(),
        (sent, failed, pending),
        overdue.len(),
    );

    let zone = report_zone(config);
    let redactor = &config.redactor;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Period: {} to {}",
        super::email_render::show_time(since, zone),
        super::email_render::show_time(now, zone)
    );
    let _ = writeln!(text, "\nChecks ({} enabled):", checks.len());
    for s in [
        Status::Ok,
        Status::Warning,
        Status::Critical,
        Status::Unknown,
    ] {
        let _ = writeln!(text, "  {:<10} {}", s.as_str(), count(s));
    }
    let _ = writeln!(text, "  {:<10} {}", "never run", never_run.len());
    let _ = writeln!(text, "\nNot OK ({}):", not_ok.len());
    if not_ok.is_empty() {
        let _ = writeln!(text, "  none");
    }
    for (check, s) in &not_ok {
        let _ = writeln!(
            text,
            "  {:<8} {} — {} (since {})",
            s.status.to_string(),
            check.id,
            one_line(&s.summary),
            super::email_render::show_time(s.since, zone)
        );
    }
    let _ = writeln!(
        text,
        "\nAlerts queued in the period: {sent} sent, {failed} failed, {pending} pending"
    );
    for r in failed_rows.iter().take(MAX_FAILED_LISTED) {
        let _ = writeln!(
            text,
            "  FAILED   {} via {} ({}): {}",
            r.check_id.as_deref().unwrap_or("-"),
            r.channel,
            r.kind,
            one_line(r.last_error.as_deref().unwrap_or("no error recorded"))
        );
    }
    if failed_rows.len() > MAX_FAILED_LISTED {
        let _ = writeln!(
            text,
            "  ... and {} more",
            failed_rows.len() - MAX_FAILED_LISTED
        );
    }
    let _ = writeln!(
        text,
        "\nDid not run when they should have ({}):",
        overdue.len()
    );
    if overdue.is_empty() {
        let _ = writeln!(text, "  none");
    }
    for (check, why) in &overdue {
        let _ = writeln!(text, "  {} — {why}", check.id);
    }
    // patrol's own figures (when it started, runs made and missed): see `crate::service`.
    let daemon = crate::service::stats::daemon_facts(store)?;
    text.push_str(&crate::service::stats::report_section(
        daemon.as_ref(),
        zone,
    ));

    let mut metrics = BTreeMap::new();
    metrics.insert("checks".to_string(), checks.len() as f64);
    for s in [
        Status::Ok,
        Status::Warning,
        Status::Critical,
        Status::Unknown,
    ] {
        metrics.insert(s.as_str().to_string(), count(s) as f64);
    }
    metrics.insert("never_run".into(), never_run.len() as f64);
    metrics.insert("alerts_sent".into(), sent as f64);
    metrics.insert("alerts_failed".into(), failed as f64);
    metrics.insert("alerts_pending".into(), pending as f64);
    metrics.insert("overdue".into(), overdue.len() as f64);
    if let Some(d) = &daemon {
        metrics.insert("daemon_runs".into(), d.runs as f64);
        metrics.insert("daemon_runs_missed".into(), d.missed as f64);
    }

    let mut facts = BTreeMap::new();
    facts.insert(
        "not_ok".to_string(),
        json!(
            not_ok
                .iter()
                .map(|(c, s)| json!({
                    "id": c.id,
                    "name": c.name,
                    "status": s.status.as_str(),
                    "summary": redactor.text(&s.summary),
                    "since": crate::alert::formats::rfc3339(s.since),
                }))
                .collect::<Vec<_>>()
        ),
    );
    facts.insert(
        "overdue".to_string(),
        json!(
            overdue
                .iter()
                .map(|(c, why)| json!({"id": c.id, "reason": why}))
                .collect::<Vec<_>>()
        ),
    );
    facts.insert("never_run".to_string(), json!(never_run));
    facts.insert("daemon".to_string(), json!(daemon));
    facts.insert(
        "failed_alerts".to_string(),
        json!(
            failed_rows
                .iter()
                .take(MAX_FAILED_LISTED)
                .map(|r| json!({
                    "check_id": r.check_id,
                    "channel": r.channel,
                    "kind": r.kind,
                    "error": r.last_error.as_deref().map(|e| redactor.text(e)),
                }))
                .collect::<Vec<_>>()
        ),
    );

    let root = &config.root;
    let period = humantime::format_duration(Duration::from_secs(
        (now - since).to_std().unwrap_or_default().as_secs(),
    ));
    Ok(AlertEvent {
        event_id: format!("{REPORT_CHECK_ID}-{}", now.timestamp_micros()),
        kind: MessageKind::Report,
        reason: format!("it is the periodic report of the last {period}"),
        incident_id: format!(
            "{REPORT_CHECK_ID}-{}",
            now.with_timezone(&zone).format("%Y-%m-%d")
        ),
        fingerprint: fingerprint(REPORT_CHECK_ID),
        check: CheckInfo {
            id: REPORT_CHECK_ID.into(),
            name: "patrol report".into(),
            description: "The periodic report of patrol: checks by status, the checks not OK, \
                          the alerts sent and failed, the checks that did not run when they \
                          should have. When it stops arriving, patrol or this channel is down."
                .into(),
            tags: Vec::new(),
            schedule: root
                .report
                .as_ref()
                .map(|r| r.schedule.to_string())
                .unwrap_or_default(),
            timezone: zone.name().to_string(),
        },
        state: StateInfo {
            current: worst,
            previous: None,
            since,
            consecutive_failures: 0,
        },
        result: ResultInfo {
            summary: redactor.text(&summary),
            metrics,
            facts,
            output_tail: Some(redactor.text(&text)),
            started_at: now,
            duration_ms: 0,
        },
        suppressed_dependents: Vec::new(),
        url: root.status_page_url.clone(),
        created_at: now,
    })
}

/// One outbox item per report channel.
pub fn outbox_items(
    config: &Config,
    event: &AlertEvent,
) -> Result<Vec<OutboxItem>, serde_json::Error> {
    let json = serde_json::to_value(event)?;
    Ok(config
        .root
        .report
        .iter()
        .flat_map(|r| r.channels.iter())
        .map(|channel| OutboxItem {
            event_id: event.event_id.clone(),
            channel: channel.clone(),
            check_id: None,
            kind: REPORT_KIND.into(),
            severity: event.state.current.as_str().into(),
            event: json.clone(),
        })
        .collect())
}

/// Why a check did not run when it should have, if so: its schedule wanted a run (after its
/// last one, or in the period when it never ran) more than its timeout plus a minute ago, or
/// the daemon's planned next run is more than a period in the past.
fn overdue_reason(
    check: &Check,
    state: Option<&CheckState>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<String> {
    let schedule = &check.def.schedule;
    let late_after = chrono::Duration::from_std(check.def.timeout.as_duration() + OVERDUE_SLACK)
        .unwrap_or_default();
    let last_run = state.map(|s| s.last_run);
    let from = match last_run {
        Some(t) if t >= since => t,
        _ => since,
    };
    if let Some(due) = schedule.next_after(from, &check.zone)
        && due + late_after < now
    {
        return Some(match last_run {
            Some(t) => format!(
                "due at {}, last ran at {}",
                crate::alert::formats::rfc3339(due),
                crate::alert::formats::rfc3339(t)
            ),
            None => format!("due at {}, never ran", crate::alert::formats::rfc3339(due)),
        });
    }
    let period = chrono::Duration::from_std(schedule.nominal_period()).unwrap_or_default();
    if let Some(next) = state.and_then(|s| s.next_run)
        && next + period < now
    {
        return Some(format!(
            "next run planned for {} has not happened",
            crate::alert::formats::rfc3339(next)
        ));
    }
    None
}

/// `12 checks: 10 ok, 1 warning, 1 critical; 3 alerts sent, 0 failed; 1 check overdue`.
fn summary_line(
    total: usize,
    counts: &HashMap<Status, usize>,
    never_run: usize,
    (sent, failed, pending): (usize, usize, usize),
    overdue: usize,
) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut parts = vec![format!(
        "{} ok",
        counts.get(&Status::Ok).copied().unwrap_or(0)
    )];
    for s in [Status::Warning, Status::Critical, Status::Unknown] {
        if let Some(n) = counts.get(&s).filter(|n| **n > 0) {
            parts.push(format!("{n} {}", s.as_str()));
        }
    }
    if never_run > 0 {
        parts.push(format!("{never_run} never run"));
    }
    let mut alerts = format!("{} sent, {failed} failed", plural(sent, "alert", "alerts"));
    if pending > 0 {
        let _ = write!(alerts, ", {pending} pending");
    }
    format!(
        "{}: {}; {alerts}; {} overdue",
        plural(total, "check", "checks"),
        parts.join(", "),
        plural(overdue, "check", "checks")
    )
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{RunRecord, Trigger};
    use std::path::Path;

    fn write(dir: &Path, rel: &str, content: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(p, content).expect("write");
    }

    fn check(id: &str, schedule: &str, extra: &str) -> String {
        format!(
            "id: {id}\nschedule: \"{schedule}\"\n{extra}probe:\n  command:\n    argv: [\"true\"]\n"
        )
    }

    fn app(dir: &Path) -> Config {
        write(
            dir,
            "patrol.yaml",
            "store: { path: patrol.db }\nchannels:\n  hook:\n    webhook:\n      url: http://127.0.0.1:9/hook\nreport:\n  schedule: \"every 1h\"\n  channels: [hook]\n",
        );
        let checks = [
            check("disk", "every 1h", ""),
            check("backup", "every 1h", ""),
            check("load", "every 1h", ""),
            // Never ran, and its schedule did not come due in the period.
            check("idle", "0 0 3 1 1 *", ""),
            // Runs every minute, but last ran two hours ago.
            check("stale", "every 1m", ""),
            // Ran, but the daemon's planned next run is long past.
            check("stuck", "every 1h", ""),
            check("off", "every 1m", "enabled: false\n"),
        ]
        .join("---\n");
        write(dir, "checks/all.yaml", &checks);
        let loaded = crate::config::load(&dir.join("patrol.yaml")).expect("config loads");
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        loaded.config
    }

    fn run(id: &str, at: DateTime<Utc>, status: Status, summary: &str) -> RunRecord {
        RunRecord {
            id: None,
            check_id: id.into(),
            trigger: Trigger::Schedule,
            scheduled_at: Some(at),
            started_at: at,
            duration_ms: 5,
            status,
            summary: summary.into(),
            metrics: BTreeMap::new(),
            facts: BTreeMap::new(),
            observation: json!({}),
            attempts: 1,
        }
    }

    fn item(event_id: &str, kind: &str) -> OutboxItem {
        OutboxItem {
            event_id: event_id.into(),
            channel: "hook".into(),
            check_id: Some("backup".into()),
            kind: kind.into(),
            severity: "critical".into(),
            event: json!({}),
        }
    }

    #[test]
    fn report_counts_lists_and_finds_overdue_checks() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app(dir.path());
        let store = Store::open(&dir.path().join("patrol.db")).expect("store");
        let start = Utc::now();
        let recent = start - chrono::Duration::seconds(30);
        for (id, at, status, summary) in [
            ("disk", recent, Status::Ok, "DISK OK"),
            ("backup", recent, Status::Critical, "3 hosts\nlate"),
            ("load", recent, Status::Warning, "load 7.5"),
            (
                "stale",
                start - chrono::Duration::hours(2),
                Status::Ok,
                "fine",
            ),
            ("stuck", recent, Status::Ok, "fine"),
            ("off", recent, Status::Critical, "not counted"),
        ] {
            store
                .record_run(&run(id, at, status, summary), None)
                .expect("record");
        }
        store
            .set_next_run("stuck", Some(start - chrono::Duration::hours(3)))
            .expect("next run");
        store
            .enqueue(&[
                item("a", "firing"),
                item("b", "firing"),
                item("c", "resolved"),
                item("r", REPORT_KIND),
            ])
            .expect("enqueue");
        let rows = store.outbox(&OutboxFilter::default()).expect("outbox");
        let id_of = |e: &str| rows.iter().find(|r| r.event_id == e).map(|r| r.id);
        store
            .mark_sent(&[id_of("a").expect("a")], "d1", "200 OK", Utc::now())
            .expect("sent");
        store
            .mark_failed(&[id_of("b").expect("b")], "HTTP 404 Not Found")
            .expect("failed");
        store
            .mark_sent(&[id_of("r").expect("r")], "d2", "200 OK", Utc::now())
            .expect("sent");

        let now = Utc::now();
        let since = start - chrono::Duration::hours(1);
        let e = build_report(&app, &store, since, now).expect("report");
        assert_eq!(
            e.result.summary,
            "6 checks: 3 ok, 1 warning, 1 critical, 1 never run; \
             1 alert sent, 1 failed, 1 pending; 2 checks overdue"
        );
        assert_eq!(e.kind, MessageKind::Report);
        assert_eq!(e.state.current, Status::Critical);
        assert_eq!(e.check.id, REPORT_CHECK_ID);
        assert_eq!(
            e.incident_id,
            format!("patrol-report-{}", now.format("%Y-%m-%d"))
        );
        assert!(e.event_id.contains(&now.timestamp_micros().to_string()));
        assert_eq!(e.result.metrics["critical"], 1.0);
        assert_eq!(e.result.metrics["never_run"], 1.0);
        assert_eq!(e.result.metrics["alerts_failed"], 1.0);

        let not_ok: Vec<&str> = e.result.facts["not_ok"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|v| v["id"].as_str())
            .collect();
        assert_eq!(not_ok, ["backup", "load"], "worst first, disabled left out");
        let overdue: Vec<&str> = e.result.facts["overdue"]
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|v| v["id"].as_str())
            .collect();
        assert_eq!(overdue, ["stale", "stuck"]);
        assert_eq!(e.result.facts["never_run"], json!(["idle"]));

        let text = e.result.output_tail.as_deref().unwrap_or_default();
        assert!(text.contains("CRITICAL backup — 3 hosts late"), "{text}");
        assert!(text.contains("WARNING  load — load 7.5"), "{text}");
        assert!(text.contains("HTTP 404 Not Found"), "{text}");
        assert!(text.contains("stale — due at"), "{text}");
        assert!(text.contains("stuck — next run planned"), "{text}");

        let items = outbox_items(&app, &e).expect("items");
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].kind, "report");
        assert_eq!(items[0].severity, "critical");
        assert_eq!(items[0].channel, "hook");
    }

    #[test]
    fn all_well_report_is_ok() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "patrol.yaml", "store: { path: patrol.db }\n");
        write(dir.path(), "checks/a.yaml", &check("a", "every 1h", ""));
        let app = crate::config::load(&dir.path().join("patrol.yaml"))
            .expect("config loads")
            .config;
        let store = Store::open(&dir.path().join("patrol.db")).expect("store");
        let now = Utc::now();
        store
            .record_run(&run("a", now, Status::Ok, "fine"), None)
            .expect("record");
        let e = build_report(&app, &store, now - chrono::Duration::hours(1), now).expect("report");
        assert_eq!(
            e.result.summary,
            "1 check: 1 ok; 0 alerts sent, 0 failed; 0 checks overdue"
        );
        assert_eq!(e.state.current, Status::Ok);
    }

    #[test]
    fn every_channel_renders_a_report() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = app(dir.path());
        let store = Store::open(&dir.path().join("patrol.db")).expect("store");
        let now = Utc::now();
        store
            .record_run(&run("backup", now, Status::Critical, "3 hosts late"), None)
            .expect("record");
        let e = build_report(&app, &store, now - chrono::Duration::hours(1), now).expect("report");
        let opts = crate::alert::email_render::RenderOptions {
            zone: chrono_tz::UTC,
            status_page_url: None,
            thread_salt: "patrol@example.com".into(),
            sender_host: None,
        };
        let mail = crate::alert::email_render::render(std::slice::from_ref(&e), &opts);
        assert_eq!(
            mail.subject,
            format!("[REPORT] patrol report — {}", e.result.summary)
        );
        assert!(mail.text.contains("Report:"), "{}", mail.text);
        assert!(
            mail.text.contains("CRITICAL backup — 3 hosts late"),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("Period:"), "{}", mail.text);
        assert_eq!(mail.kinds, "report");

        let hook = crate::alert::formats::patrol(std::slice::from_ref(&e), "d1");
        assert_eq!(hook["events"][0]["type"], "report");

        let chat = crate::alert::formats::View::new(&e);
        assert_eq!(
            chat.title,
            format!("[REPORT] patrol report — {}", e.result.summary)
        );

        let am = crate::alert::formats::alertmanager(std::slice::from_ref(&e), "am");
        assert_eq!(am["status"], "resolved");
        assert_eq!(am["alerts"][0]["labels"]["alertname"], "PatrolReport");
        assert_eq!(am["alerts"][0]["status"], "resolved");
        assert_eq!(am["alerts"][0]["annotations"]["type"], "report");
    }
}
