//! The JSON API, `/api/v1/...`. GETs are open; changes need the bearer token.

use super::auth::{error, require_token};
use super::pages::store_error;
use super::reject::{Path, Query};
use super::view::{self, Filter};
use super::{RunReply, Shared};
use crate::alert::mute::Silence;
use crate::config::Dur;
use crate::store::{OutboxFilter, OutboxState, Trigger};
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

const DEFAULT_PER_PAGE: u32 = 50;
const MAX_PER_PAGE: u32 = 500;

/// A store call off the async workers, with its errors turned into a 503.
macro_rules! blocking {
    ($s:expr, $f:expr) => {
        match $s.blocking($f).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => return store_error(e),
            Err(e) => return store_error(e),
        }
    };
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, what)
}

/// `GET /api/v1/checks[?tag=&status=&console=]`: every configured check, worst first.
pub(crate) async fn checks(State(s): State<Shared>, Query(filter): Query<Filter>) -> Response {
    let app = s.app();
    let rows = blocking!(s, move |store| view::rows(&app, store, false));
    let rows: Vec<_> = rows.into_iter().filter(|r| filter.admits(r)).collect();
    Json(json!({ "checks": rows })).into_response()
}

/// `GET /api/v1/checks/ID`: one check with its configuration and last run.
pub(crate) async fn check(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let app = s.app();
    let Some(check) = app.config.check(&id).cloned() else {
        return not_found(&format!("no check {id}"));
    };
    let key = id.clone();
    let (state, next, last, runs) =
        blocking!(s, move |store| -> Result<_, crate::store::StoreError> {
            Ok((
                store.check_state(&key)?,
                store.next_run(&key)?,
                store.recent_runs(&key, 1)?.into_iter().next(),
                store.count_runs(Some(&key))?,
            ))
        });
    let redactor = &app.config.redactor;
    let mut row = serde_json::to_value(view::row(&check, state.as_ref(), next)).unwrap_or_default();
    if let Some(obj) = row.as_object_mut() {
        obj.insert("description".into(), json!(check.def.description));
        obj.insert("params".into(), redactor.json(&check.def.params.value));
        obj.insert("depends_on".into(), json!(check.depends_on));
        obj.insert("runs".into(), json!(runs));
        obj.insert(
            "consecutive".into(),
            json!(state.as_ref().map(|s| s.consecutive)),
        );
        obj.insert(
            "last_result".into(),
            last.map(|r| redactor.json(&serde_json::to_value(r).unwrap_or_default()))
                .unwrap_or_default(),
        );
    }
    Json(row).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct PageQuery {
    page: Option<u32>,
    per_page: Option<u32>,
}

/// `GET /api/v1/checks/ID/runs?page=1&per_page=50`: runs, newest first.
pub(crate) async fn runs(
    State(s): State<Shared>,
    Path(id): Path<String>,
    Query(q): Query<PageQuery>,
) -> Response {
    let app = s.app();
    if app.config.check(&id).is_none() {
        return not_found(&format!("no check {id}"));
    }
    let page = q.page.unwrap_or(1).max(1);
    let per_page = q
        .per_page
        .unwrap_or(DEFAULT_PER_PAGE)
        .clamp(1, MAX_PER_PAGE);
    let offset = u64::from(page - 1) * u64::from(per_page);
    let key = id.clone();
    let (runs, total) = blocking!(s, move |store| -> Result<_, crate::store::StoreError> {
        Ok((
            store.runs_at_offset(&key, offset, per_page)?,
            store.count_runs(Some(&key))?,
        ))
    });
    let redactor = &app.config.redactor;
    let runs: Vec<serde_json::Value> = runs
        .iter()
        .map(|r| redactor.json(&serde_json::to_value(r).unwrap_or_default()))
        .collect();
    let pages = total.div_ceil(u64::from(per_page));
    Json(json!({
        "check_id": id,
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": pages,
        "runs": runs,
    }))
    .into_response()
}

/// `POST /api/v1/checks/ID/run` (token): queue a run now.
pub(crate) async fn run_now(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let app = s.app();
    if let Err(r) = require_token(&app.config.root.web, &headers) {
        return r.into_response();
    }
    match s.request_run(&id, Trigger::Manual).await {
        Some(RunReply::Queued) => (
            StatusCode::ACCEPTED,
            Json(json!({ "check_id": id, "queued": true })),
        )
            .into_response(),
        Some(RunReply::Busy) => (
            StatusCode::ACCEPTED,
            Json(json!({ "check_id": id, "queued": true, "after_current_run": true })),
        )
            .into_response(),
        Some(RunReply::Unknown) => not_found(&format!("no enabled check {id}")),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping"),
    }
}

#[derive(Debug, Deserialize)]
pub(crate) struct AlertQuery {
    state: Option<String>,
    check: Option<String>,
    since: Option<DateTime<Utc>>,
    limit: Option<u32>,
}

/// `GET /api/v1/alerts[?state=pending|sent|failed&check=&since=&limit=]`: notifications and
/// their delivery state, newest first.
pub(crate) async fn alerts(State(s): State<Shared>, Query(q): Query<AlertQuery>) -> Response {
    let state = match q.state.as_deref() {
        None | Some("") => None,
        Some("pending") => Some(OutboxState::Pending),
        Some("sent") => Some(OutboxState::Sent),
        Some("failed") => Some(OutboxState::Failed),
        Some(other) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("unknown state {other:?}: pending, sent or failed"),
            );
        }
    };
    let filter = OutboxFilter {
        state,
        since: q.since,
        check_id: q.check.filter(|c| !c.is_empty()),
        limit: Some(q.limit.unwrap_or(100).clamp(1, 1000)),
    };
    let rows = blocking!(s, move |store| store.outbox(&filter));
    let redactor = s.app().config.redactor.clone();
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| redactor.json(&serde_json::to_value(r).unwrap_or_default()))
        .collect();
    Json(json!({ "alerts": rows })).into_response()
}

#[derive(Debug, Deserialize)]
pub(crate) struct SilenceQuery {
    #[serde(default)]
    all: bool,
}

/// `GET /api/v1/silences[?all=true]`.
pub(crate) async fn silences(State(s): State<Shared>, Query(q): Query<SilenceQuery>) -> Response {
    let list = blocking!(s, move |store| store.silences(Utc::now(), q.all));
    Json(json!({ "silences": list })).into_response()
}

/// The body of `POST /api/v1/silences`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewSilence {
    check: Option<String>,
    tag: Option<String>,
    /// How long, from now (`2h`); or `ends_at`.
    #[serde(rename = "for")]
    duration: Option<String>,
    ends_at: Option<DateTime<Utc>>,
    reason: String,
    created_by: Option<String>,
}

/// `POST /api/v1/silences` (token): `{"check": ID | "tag": TAG, "for": "2h", "reason": ...}`.
pub(crate) async fn add_silence(
    State(s): State<Shared>,
    headers: HeaderMap,
    body: Result<super::reject::Json<NewSilence>, Response>,
) -> Response {
    let app = s.app();
    if let Err(r) = require_token(&app.config.root.web, &headers) {
        return r.into_response();
    }
    let n = match body {
        Ok(super::reject::Json(n)) => n,
        Err(e) => return e,
    };
    if n.check.is_some() == n.tag.is_some() {
        return error(StatusCode::BAD_REQUEST, "give exactly one of check or tag");
    }
    // The id as written of a per-console check silences every console's instance.
    if let Some(c) = &n.check
        && app.config.instances(c).is_empty()
    {
        return not_found(&format!("no check {c}"));
    }
    let now = Utc::now();
    let ends_at = match (&n.duration, n.ends_at) {
        (Some(d), None) => match d.parse::<Dur>() {
            Ok(d) => match chrono::Duration::from_std(d.as_duration()) {
                Ok(d) => now + d,
                Err(_) => return error(StatusCode::BAD_REQUEST, "duration too long"),
            },
            Err(e) => return error(StatusCode::BAD_REQUEST, &format!("for: {e}")),
        },
        (None, Some(t)) => t,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                "give exactly one of for or ends_at",
            );
        }
    };
    if ends_at <= now {
        return error(StatusCode::BAD_REQUEST, "the silence would already be over");
    }
    let mut silence = Silence {
        id: 0,
        check: n.check,
        tag: n.tag,
        starts_at: now,
        ends_at,
        reason: n.reason,
        created_by: n.created_by.unwrap_or_else(|| "api".into()),
    };
    let sil = silence.clone();
    silence.id = blocking!(s, move |store| store.add_silence(&sil));
    tracing::info!(silence = silence.id, check = ?silence.check, tag = ?silence.tag,
        until = %silence.ends_at, by = %silence.created_by, "silence added through the API");
    (StatusCode::CREATED, Json(json!({ "silence": silence }))).into_response()
}

/// `DELETE /api/v1/silences/ID` (token): end a silence now.
pub(crate) async fn remove_silence(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<i64>,
) -> Response {
    if let Err(r) = require_token(&s.app().config.root.web, &headers) {
        return r.into_response();
    }
    if blocking!(s, move |store| store.remove_silence(id)) {
        tracing::info!(silence = id, "silence removed through the API");
        StatusCode::NO_CONTENT.into_response()
    } else {
        not_found(&format!("no active silence {id}"))
    }
}
