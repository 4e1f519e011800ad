//! `/metrics` (Prometheus text format 0.0.4) and `/healthz`.
//!
//! Counters count since the daemon started (they reset with it, as Prometheus expects of a
//! restarted target) and are read from the store, so they include runs and notifications
//! written by anything sharing the store file.

use super::Shared;
use super::pages::store_error;
use crate::app::App;
use crate::store::{Store, StoreError};
use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::Ordering;

/// The scheduler loop wakes at least once a minute; three missed wake-ups mean it is stuck.
const STUCK_AFTER_SECS: i64 = 180;

fn label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn secs(t: DateTime<Utc>) -> String {
    float(t.timestamp_millis() as f64 / 1000.0)
}

/// One metric family being written.
struct Out(String);

impl Out {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }
    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: String) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", label(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }
}

fn render(
    app: &App,
    store: &Store,
    stats: &super::SchedulerStats,
    conns: &super::ConnStats,
) -> Result<String, StoreError> {
    let since = stats.started_at;
    let states: BTreeMap<String, crate::store::CheckState> = store
        .check_states()?
        .into_iter()
        .map(|s| (s.check_id.clone(), s))
        .collect();
    let mut checks: Vec<&std::sync::Arc<crate::config::Check>> = app.config.checks.iter().collect();
    checks.sort_by(|a, b| a.id.cmp(&b.id));
    let mut o = Out(String::new());

    type StateValue = fn(&crate::store::CheckState) -> String;
    let per_state: [(&str, &str, StateValue); 5] = [
        (
            "patrol_check_status",
            "Latest status of each check: 0 ok, 1 warning, 2 critical, 3 unknown (absent before the first run).",
            |s| s.status.exit_code().to_string(),
        ),
        (
            "patrol_check_up",
            "1 when the check's latest status is ok, else 0.",
            |s| i32::from(s.status == crate::status::Status::Ok).to_string(),
        ),
        (
            "patrol_check_last_run_timestamp_seconds",
            "When the check's latest run started (Unix time).",
            |s| secs(s.last_run),
        ),
        (
            "patrol_check_status_since_timestamp_seconds",
            "Since when the check has had its current status (Unix time).",
            |s| secs(s.since),
        ),
        (
            "patrol_check_duration_seconds",
            "How long the check's latest run took.",
            |s| float(s.last_duration_ms as f64 / 1000.0),
        ),
    ];
    for (name, help, value) in per_state {
        o.family(name, "gauge", help);
        for c in &checks {
            if let Some(s) = states.get(&c.id) {
                o.sample(name, &[("check", &c.id)], value(s));
            }
        }
    }
    o.family(
        "patrol_check_next_run_timestamp_seconds",
        "gauge",
        "When the scheduler runs the check next (Unix time).",
    );
    for c in &checks {
        if let Some(t) = store.next_run(&c.id)? {
            o.sample(
                "patrol_check_next_run_timestamp_seconds",
                &[("check", &c.id)],
                secs(t),
            );
        }
    }
    o.family(
        "patrol_check_metric",
        "gauge",
        "The numbers the check's latest run recorded (rule metric(name, value)).",
    );
    for c in &checks {
        if let Some(run) = store.run_briefs(&c.id, 1)?.into_iter().next() {
            for (k, v) in &run.metrics {
                o.sample(
                    "patrol_check_metric",
                    &[("check", &c.id), ("metric", k)],
                    float(*v),
                );
            }
        }
    }
    o.family(
        "patrol_check_runs_total",
        "counter",
        "Runs stored since the daemon started, by check and status.",
    );
    for c in &checks {
        let counts: BTreeMap<&str, u64> = store
            .run_counts_since(&c.id, since)?
            .into_iter()
            .map(|(s, n)| (s.as_str(), n))
            .collect();
        for status in ["ok", "warning", "critical", "unknown"] {
            o.sample(
                "patrol_check_runs_total",
                &[("check", &c.id), ("status", status)],
                counts.get(status).copied().unwrap_or(0).to_string(),
            );
        }
    }
    let outbox = store.outbox_counts_since(since)?;
    o.family(
        "patrol_alerts_total",
        "counter",
        "Notifications queued since the daemon started, by channel and kind (firing, resolved, reminder...).",
    );
    let mut by_kind: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut failed: BTreeMap<&str, u64> = BTreeMap::new();
    let mut pending: BTreeMap<&str, u64> = BTreeMap::new();
    let mut sent: BTreeMap<&str, u64> = BTreeMap::new();
    for row in &outbox {
        *by_kind.entry((&row.channel, &row.kind)).or_default() += row.count;
        let target = match row.state.as_str() {
            "failed" => &mut failed,
            "sent" => &mut sent,
            _ => &mut pending,
        };
        *target.entry(&row.channel).or_default() += row.count;
    }
    let channels: Vec<&str> = app.channels.keys().map(String::as_str).collect();
    for ((channel, kind), n) in &by_kind {
        o.sample(
            "patrol_alerts_total",
            &[("channel", channel), ("kind", kind)],
            n.to_string(),
        );
    }
    for (name, help, map) in [
        (
            "patrol_alert_deliveries_sent_total",
            "Notifications delivered, of those queued since the daemon started.",
            &sent,
        ),
        (
            "patrol_alert_delivery_failures_total",
            "Notifications given up on (permanent failure or too old), of those queued since the daemon started.",
            &failed,
        ),
    ] {
        o.family(name, "counter", help);
        let mut names: Vec<&str> = channels.clone();
        names.extend(map.keys().copied());
        names.sort();
        names.dedup();
        for ch in names {
            o.sample(
                name,
                &[("channel", ch)],
                map.get(ch).copied().unwrap_or(0).to_string(),
            );
        }
    }
    o.family(
        "patrol_alert_deliveries_pending",
        "gauge",
        "Notifications of this daemon's lifetime waiting for (another) delivery attempt.",
    );
    for ch in &channels {
        o.sample(
            "patrol_alert_deliveries_pending",
            &[("channel", ch)],
            pending.get(ch).copied().unwrap_or(0).to_string(),
        );
    }
    o.family(
        "patrol_scheduler_lag_seconds",
        "gauge",
        "How late the latest scheduled run started after its fire time.",
    );
    o.sample(
        "patrol_scheduler_lag_seconds",
        &[],
        float(stats.lag_ms.load(Ordering::Relaxed) as f64 / 1000.0),
    );
    o.family(
        "patrol_scheduler_skipped_runs_total",
        "counter",
        "Scheduled runs skipped because the previous run of the check was still going.",
    );
    o.sample(
        "patrol_scheduler_skipped_runs_total",
        &[],
        stats.skipped.load(Ordering::Relaxed).to_string(),
    );
    o.family(
        "patrol_scheduler_last_tick_timestamp_seconds",
        "gauge",
        "When the scheduler loop last woke up (it does at least once a minute).",
    );
    o.sample(
        "patrol_scheduler_last_tick_timestamp_seconds",
        &[],
        secs(stats.last_tick()),
    );
    for (name, kind, help, value) in [
        (
            "patrol_web_connections_open",
            "gauge",
            "Connections the web server holds now.",
            &conns.open,
        ),
        (
            "patrol_web_connections_max",
            "gauge",
            "The most connections the web server holds (web.max_connections, at most a quarter of the open-file limit).",
            &conns.max,
        ),
        (
            "patrol_web_connections_refused_total",
            "counter",
            "Connections closed at once because the web server held its maximum.",
            &conns.refused,
        ),
        (
            "patrol_web_connections_timed_out_total",
            "counter",
            "Connections closed because headers did not arrive in web.header_timeout or nothing moved for web.idle_timeout.",
            &conns.timed_out,
        ),
    ] {
        o.family(name, kind, help);
        o.sample(name, &[], value.load(Ordering::Relaxed).to_string());
    }
    let fault = store.fault();
    for (name, kind, help, value) in [
        (
            "patrol_store_writable",
            "gauge",
            "1 when the store takes writes, 0 during a fault (results then wait in memory).",
            u64::from(fault.is_none()),
        ),
        (
            "patrol_store_queued_results",
            "gauge",
            "Results (with their notifications) waiting in memory for the store to take writes.",
            fault.as_ref().map_or(0, |f| f.queued as u64),
        ),
        (
            "patrol_store_dropped_results_total",
            "counter",
            "Results dropped because too many waited in memory during a store fault.",
            fault.as_ref().map_or(0, |f| f.dropped),
        ),
    ] {
        o.family(name, kind, help);
        o.sample(name, &[], value.to_string());
    }
    o.family(
        "patrol_checks_configured",
        "gauge",
        "Checks in the configuration, by enabled state.",
    );
    let enabled = checks.iter().filter(|c| c.def.enabled).count();
    o.sample(
        "patrol_checks_configured",
        &[("enabled", "true")],
        enabled.to_string(),
    );
    o.sample(
        "patrol_checks_configured",
        &[("enabled", "false")],
        (checks.len() - enabled).to_string(),
    );
    o.family(
        "patrol_start_time_seconds",
        "gauge",
        "When the daemon started (Unix time).",
    );
    o.sample("patrol_start_time_seconds", &[], secs(since));
    o.family(
        "patrol_build_info",
        "gauge",
        "The patrol version; always 1.",
    );
    o.sample(
        "patrol_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        "1".into(),
    );
    Ok(o.0)
}

pub(crate) async fn metrics(State(s): State<Shared>) -> Response {
    let app = s.app();
    let stats = s.stats.clone();
    let conns = s.conns.clone();
    match s
        .blocking(move |store| render(&app, store, &stats, &conns))
        .await
    {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => store_error(e),
        Err(e) => store_error(e),
    }
}

/// `/healthz`: 200 when the scheduler loop woke up recently and the store takes a write;
/// 503 otherwise, with what is wrong.
pub(crate) async fn healthz(State(s): State<Shared>) -> Response {
    let now = Utc::now();
    let tick = s.stats.last_tick();
    let scheduler_ok = (now - tick).num_seconds() < STUCK_AFTER_SECS;
    let store = s.blocking(move |store| store.touch(now)).await;
    let store_err = match store {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(e.to_string()),
    };
    let fault = s.store.fault();
    let ok = scheduler_ok && store_err.is_none();
    let body = json!({
        "status": if ok { "ok" } else { "failing" },
        "scheduler": {
            "ok": scheduler_ok,
            "last_tick": tick,
        },
        "store": {
            "ok": store_err.is_none(),
            "error": store_err,
            // During a fault: since when, and what waits in memory to be written.
            "since": fault.as_ref().map(|f| f.since),
            "queued": fault.as_ref().map_or(0, |f| f.queued),
            "dropped": fault.as_ref().map_or(0, |f| f.dropped),
        },
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}
