//! The server-rendered pages: `/` (every check, worst first) and `/checks/ID`.

use super::assets;
use super::chart;
use super::reject::{Path, Query};
use super::view::{self, Filter};
use super::{Shared, auth};
use crate::alert::present;
use crate::app::App;
use crate::probe::ProbeSpec;
use crate::store::{OutboxFilter, Store, StoreError};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};
use minijinja::{Environment, Value, context};
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// How many runs the check page lists and charts.
const PAGE_RUNS: u32 = 50;
const CHART_RUNS: u32 = 200;
/// At most this many metrics get a chart.
const MAX_CHARTS: usize = 12;

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, src) in [
            ("base.html", assets::BASE_HTML),
            ("status.html", assets::STATUS_HTML),
            ("check.html", assets::CHECK_HTML),
        ] {
            if let Err(e) = env.add_template(name, src) {
                tracing::error!("page template {name} does not compile: {e}");
            }
        }
        env.add_filter("when", when);
        env
    })
}

/// `{{ t|when(tz) }}`: a stored time in the configured zone, with how long ago (or until):
/// `2026-12-06 18:40 CST (2h13m ago)`, in the words of `alert::present`.
fn when(v: Value, tz: String) -> String {
    let Some(t) = v
        .as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
    else {
        return "—".into();
    };
    let d = Utc::now() - t;
    let rel = if d.num_seconds() >= 0 {
        format!("{} ago", present::duration(d))
    } else {
        format!("in {}", present::duration(-d))
    };
    format!("{} ({rel})", present::time(t, present::zone(&tz)))
}

tokio::task_local! {
    /// The store fault the page being rendered reports (set for each request by
    /// [`with_store_status`], so that every page shows the banner without each handler
    /// passing it on).
    static STORE_FAULT: Option<crate::store::StoreFault>;
}

/// Middleware: what the store's fault is while the request is served.
pub(crate) async fn with_store_status(
    State(s): State<Shared>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let fault = s.store.fault();
    STORE_FAULT.scope(fault, next.run(req)).await
}

fn render(name: &str, ctx: Value) -> Response {
    let fault = STORE_FAULT.try_with(Clone::clone).ok().flatten();
    let ctx = context! {
        store_fault => fault.map(|f| context! {
            since => f.since.to_rfc3339(),
            error => f.error,
            queued => f.queued,
            dropped => f.dropped,
        }),
        ..ctx
    };
    match env().get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!("page {name} failed to render: {e:#}");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "page failed to render (see the daemon log)",
            )
                .into_response()
        }
    }
}

pub(crate) fn store_error(e: impl std::fmt::Display) -> Response {
    tracing::warn!("web request failed on the store: {e}");
    auth::error(
        StatusCode::SERVICE_UNAVAILABLE,
        &format!("store unavailable: {e}"),
    )
}

fn common(app: &App) -> (String, u64, String) {
    (
        app.config.root.timezone.0.name().to_string(),
        app.config.root.web.refresh.as_duration().as_secs(),
        present::time(Utc::now(), app.config.root.timezone.0),
    )
}

pub(crate) async fn status_page(State(s): State<Shared>, Query(filter): Query<Filter>) -> Response {
    let app = s.app();
    let a = app.clone();
    let rows = match s.blocking(move |store| view::rows(&a, store, true)).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return store_error(e),
        Err(e) => return store_error(e),
    };
    let counts: Vec<Value> = view::counts(&rows)
        .into_iter()
        .map(|(status, n)| context! { status, n })
        .collect();
    let bad = rows
        .iter()
        .filter(|r| matches!(r.status.as_str(), "critical" | "unknown" | "warning"))
        .count();
    let tags: BTreeSet<String> = app
        .config
        .checks
        .iter()
        .flat_map(|c| c.def.tags.clone())
        .collect();
    let consoles: Vec<String> = app.config.root.consoles.keys().cloned().collect();
    let total = rows.len();
    let shown: Vec<&view::CheckRow> = rows.iter().filter(|r| filter.admits(r)).collect();
    let (tz, refresh, generated_at) = common(&app);
    render(
        "status.html",
        context! {
            rows => ser(&shown),
            counts,
            counts_bad => bad,
            total,
            tags,
            consoles,
            statuses => ["critical", "unknown", "warning", "pending", "ok"],
            filter => context! { tag => filter.tag, status => filter.status, console => filter.console },
            tz, refresh, generated_at,
            version => env!("CARGO_PKG_VERSION"),
        },
    )
}

/// What the check page needs from the store.
struct CheckData {
    row: view::CheckRow,
    runs: Vec<crate::store::RunRecord>,
    total_runs: u64,
    briefs: Vec<crate::store::RunBrief>,
    alerts: Vec<crate::store::OutboxRow>,
    silences: Vec<crate::alert::mute::Silence>,
}

fn check_data(app: &App, store: &Store, id: &str) -> Result<Option<CheckData>, StoreError> {
    let Some(check) = app.config.check(id) else {
        return Ok(None);
    };
    let state = store.check_state(id)?;
    let mut row = view::row(check, state.as_ref(), store.next_run(id)?);
    row.summary = app.config.redactor.text(&row.summary);
    let now = Utc::now();
    let silences: Vec<_> = store
        .silences(now, false)?
        .into_iter()
        .filter(|s| {
            s.matches(id, &check.def.tags, now)
                || (s.starts_at > now && s.check.as_deref() == Some(id))
        })
        .collect();
    row.silenced = !silences.is_empty();
    let mut briefs = store.run_briefs(id, CHART_RUNS)?;
    briefs.reverse();
    Ok(Some(CheckData {
        row,
        runs: store.recent_runs(id, PAGE_RUNS)?,
        total_runs: store.count_runs(Some(id))?,
        briefs,
        alerts: store.outbox(&OutboxFilter {
            check_id: Some(id.to_string()),
            limit: Some(50),
            ..Default::default()
        })?,
        silences,
    }))
}

pub(crate) async fn check_page(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let app = s.app();
    let a = app.clone();
    let key = id.clone();
    let data = match s.blocking(move |store| check_data(&a, store, &key)).await {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => {
            return (StatusCode::NOT_FOUND, Html(format!(
                "<!doctype html><title>not found</title><p>No check {}. <a href=\"/\">All checks</a></p>",
                present::escape_html(&id)
            )))
                .into_response();
        }
        Ok(Err(e)) => return store_error(e),
        Err(e) => return store_error(e),
    };
    let Some(check) = app.config.check(&id) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let redactor = &app.config.redactor;
    let params = redactor.json(&check.def.params.value);
    let last_facts = data
        .runs
        .first()
        .map(|r| serde_json::to_value(&r.facts).unwrap_or_default())
        .unwrap_or_default();
    // Metrics of the charted runs, in first-seen order, at most MAX_CHARTS.
    let mut names: Vec<&String> = Vec::new();
    for b in data.briefs.iter().rev() {
        for k in b.metrics.keys() {
            if !names.contains(&k) {
                names.push(k);
            }
        }
    }
    names.sort();
    let charts: Vec<Value> = names
        .into_iter()
        .take(MAX_CHARTS)
        .filter_map(|m| {
            let th = chart::thresholds_for(m, &[&params, &last_facts]);
            let svg = chart::svg(m, &data.briefs, &th, app.config.root.timezone.0)?;
            let last = data
                .briefs
                .iter()
                .rev()
                .find_map(|b| b.metrics.get(m))
                .map(|v| format!("{v}"))
                .unwrap_or_default();
            Some(context! { metric => m, svg, last })
        })
        .collect();
    let observation = data
        .runs
        .first()
        .map(|r| serde_json::to_string_pretty(&redactor.json(&r.observation)).unwrap_or_default());
    let runs: Vec<Value> = data
        .runs
        .iter()
        .map(|r| {
            context! {
                started_at => ser(r.started_at),
                status => r.status.as_str(),
                trigger => ser(r.trigger),
                duration_ms => r.duration_ms,
                summary => redactor.text(&r.summary),
                facts => ser(redactor.json(&serde_json::to_value(&r.facts).unwrap_or_default())),
            }
        })
        .collect();
    let heartbeat = match &check.def.probe {
        ProbeSpec::Heartbeat(h) => Some(context! {
            period => h.period.to_string(),
            grace => h.grace.to_string(),
        }),
        _ => None,
    };
    let rule = check.rule.as_ref().map(|r| match r {
        crate::config::RuleRef::Named(n) => n.clone(),
        crate::config::RuleRef::Inline { .. } => "inline".to_string(),
    });
    let (tz, refresh, generated_at) = common(&app);
    render(
        "check.html",
        context! {
            row => ser(&data.row),
            description => check.def.description.trim(),
            rule,
            params => if params.as_object().is_some_and(|m| !m.is_empty()) { serde_json::to_string(&params).ok() } else { None },
            depends_on => ser(&check.depends_on),
            heartbeat,
            charts,
            runs,
            total_runs => data.total_runs,
            observation,
            alerts => ser(&data.alerts),
            silences => ser(&data.silences),
            tz, refresh, generated_at,
            version => env!("CARGO_PKG_VERSION"),
        },
    )
}

fn ser<T: serde::Serialize>(v: T) -> Value {
    Value::from(minijinja::value::Serde(v))
}
