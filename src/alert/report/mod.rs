//! The periodic report (`report:` in the root config): one message summarising a period —
//! counts by status, every check not OK with its summary, the alerts sent, failed and pending,
//! and the checks that did not run when they should have. It goes out even when all is well,
//! so that its arrival proves that patrol and the mail path are alive.
//!
//! The report is an [`AlertEvent`] of kind [`MessageKind::Report`] about the pseudo-check
//! `patrol-report`, so every channel renders it: the one-line summary is the subject/title,
//! the sections are a text table in `result.output_tail`, the counts are `result.metrics`
//! and the lists are `result.facts` (for webhook receivers).
//!
//! What the report says is read first as data (`facts.rs`, [`ReportFacts`]); `text.rs` words
//! it; this file turns both into the event, queues it and runs the schedule.

mod facts;
mod text;

pub use facts::{FailedAlert, Lateness, NotOk, Overdue, ReportFacts};

use super::event::fingerprint;
use super::event::{AlertEvent, CheckInfo, MessageKind, ResultInfo, StateInfo};
use super::present::rfc3339;
use crate::config::Config;
use crate::store::{OutboxItem, Store, StoreError};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

/// The id of the pseudo-check a report is about.
pub const REPORT_CHECK_ID: &str = "patrol-report";

/// The outbox `kind` of a report (its alerts are not counted as alerts by the next report).
pub const REPORT_KIND: &str = "report";

/// The zone the report is scheduled and dated in: `report.timezone`, else the root zone.
pub fn report_zone(config: &Config) -> chrono_tz::Tz {
    let root = &config.root;
    root.report
        .as_ref()
        .and_then(|r| r.timezone)
        .map_or(root.timezone.0, |z| z.0)
}

/// Builds the report of the period `since`..`now`: the facts read from the store
/// ([`ReportFacts`]), worded by `text.rs`, as the event every channel renders.
pub fn build_report(
    config: &Config,
    store: &Store,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<AlertEvent, StoreError> {
    let f = ReportFacts::gather(config, store, since, now)?;
    let zone = report_zone(config);
    let redactor = &config.redactor;

    // The lists again as JSON, for webhook receivers.
    let mut facts = BTreeMap::new();
    facts.insert(
        "not_ok".to_string(),
        json!(
            f.not_ok
                .iter()
                .map(|c| json!({
                    "id": c.id,
                    "name": c.name,
                    "status": c.status.as_str(),
                    "summary": redactor.text(&c.summary),
                    "since": rfc3339(c.since),
                }))
                .collect::<Vec<_>>()
        ),
    );
    facts.insert(
        "overdue".to_string(),
        json!(
            f.overdue
                .iter()
                .map(|o| json!({"id": o.id, "reason": text::lateness(&o.late, zone)}))
                .collect::<Vec<_>>()
        ),
    );
    facts.insert("never_run".to_string(), json!(f.never_run));
    facts.insert("daemon".to_string(), json!(f.daemon));
    facts.insert(
        "failed_alerts".to_string(),
        json!(
            f.failed_alerts
                .iter()
                .take(text::MAX_FAILED_LISTED)
                .map(|a| json!({
                    "check_id": a.check_id,
                    "channel": a.channel,
                    "kind": a.kind,
                    "error": a.error.as_deref().map(|e| redactor.text(e)),
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
            console: None,
        },
        state: StateInfo {
            current: f.worst,
            previous: None,
            since,
            consecutive_failures: 0,
        },
        result: ResultInfo {
            summary: redactor.text(&text::summary_line(&f)),
            metrics: f.metrics(),
            facts,
            output_tail: Some(redactor.text(&text::sections(&f, zone))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;
    use crate::store::{OutboxFilter, RunRecord, Trigger};
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
        let opts = crate::alert::channel::email::render::RenderOptions {
            zone: chrono_tz::UTC,
            status_page_url: None,
            thread_salt: "patrol@example.com".into(),
            sender_host: None,
        };
        let mail = crate::alert::channel::email::render::render(std::slice::from_ref(&e), &opts);
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

        let hook = crate::alert::channel::webhook::formats::patrol(std::slice::from_ref(&e), "d1");
        assert_eq!(hook["events"][0]["type"], "report");

        let chat = crate::alert::present::View::new(&e, chrono_tz::UTC);
        assert_eq!(
            chat.title,
            format!("[REPORT] patrol report — {}", e.result.summary)
        );

        let am =
            crate::alert::channel::webhook::formats::alertmanager(std::slice::from_ref(&e), "am");
        assert_eq!(am["status"], "resolved");
        assert_eq!(am["alerts"][0]["labels"]["alertname"], "PatrolReport");
        assert_eq!(am["alerts"][0]["status"], "resolved");
        assert_eq!(am["alerts"][0]["annotations"]["type"], "report");
    }
}
