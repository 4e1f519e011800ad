//! The heartbeat receiver (`/ping/ID[/start|/fail|/EXIT_CODE]`) and the evaluator that
//! judges heartbeat checks exactly when a deadline passes. The rules themselves are in
//! [`crate::probe::heartbeat`].

use super::auth::{error, require_token};
use super::reject::{Body, Path};
use super::{RunReply, Shared};
use crate::app::App;
use crate::probe::ProbeSpec;
use crate::probe::heartbeat::{HeartbeatProbe, HeartbeatState, PingKind};
use crate::store::Trigger;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// The evaluator re-reads everything at least this often.
const MAX_SLEEP: Duration = Duration::from_secs(60);

fn heartbeat_probe(app: &App, id: &str) -> Option<HeartbeatProbe> {
    match &app.config.check(id)?.def.probe {
        ProbeSpec::Heartbeat(p) => Some(p.clone()),
        _ => None,
    }
}

pub(crate) async fn ping(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Body, Response>,
) -> Response {
    let Body(body) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    receive(s, headers, id, PingKind::Success, None, body).await
}

pub(crate) async fn ping_what(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path((id, what)): Path<(String, String)>,
    body: Result<Body, Response>,
) -> Response {
    let Body(body) = match body {
        Ok(b) => b,
        Err(e) => return e,
    };
    let (kind, code) = match what.as_str() {
        "start" => (PingKind::Start, None),
        "fail" => (PingKind::Fail, None),
        n => match n.parse::<u8>() {
            Ok(0) => (PingKind::Success, Some(0)),
            Ok(c) => (PingKind::Fail, Some(i32::from(c))),
            Err(_) => {
                return error(
                    StatusCode::NOT_FOUND,
                    "use /ping/ID, /ping/ID/start, /ping/ID/fail or /ping/ID/EXIT_CODE (0-255)",
                );
            }
        },
    };
    receive(s, headers, id, kind, code, body).await
}

/// The body as text, secrets masked, then cut at `max` bytes (on a character boundary), so
/// that the cut never leaves part of a secret; None when empty.
fn body_text(body: &[u8], max: usize, redactor: &crate::redact::Redactor) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    match redactor.head(&text, max) {
        (text, false) => Some(text),
        (text, true) => Some(format!("{text}\n[… cut at {max} bytes]")),
    }
}

async fn receive(
    s: Shared,
    headers: HeaderMap,
    id: String,
    kind: PingKind,
    exit_code: Option<i32>,
    body: axum::body::Bytes,
) -> Response {
    let app = s.app();
    let cfg = &app.config.root.web;
    if cfg.pings_need_token
        && let Err(r) = require_token(cfg, &headers)
    {
        return r.into_response();
    }
    if heartbeat_probe(&app, &id).is_none() {
        return error(StatusCode::NOT_FOUND, &format!("no heartbeat check {id}"));
    }
    let at = Utc::now();
    // Job output may carry secrets like any other output: masked before it is stored.
    let output = body_text(&body, cfg.max_ping_body, &app.config.redactor);
    let key = id.clone();
    let stored = s
        .blocking(move |store| {
            store.update_probe_state(&key, |old| {
                let mut st = HeartbeatState::from_value(old);
                st.armed_at.get_or_insert(at);
                st.apply(kind, exit_code, at, output);
                serde_json::to_value(&st).unwrap_or_default()
            })
        })
        .await;
    match stored {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => return super::pages::store_error(e),
        Err(e) => return super::pages::store_error(e),
    }
    tracing::info!(check = %id, kind = ?kind, exit_code = ?exit_code, "heartbeat ping");
    s.pinged.notify_one();
    match s.request_run(&id, Trigger::Heartbeat).await {
        Some(RunReply::Queued | RunReply::Busy) => (StatusCode::OK, "OK\n").into_response(),
        // Disabled: the ping is recorded, nothing judges it.
        Some(RunReply::Unknown) => (StatusCode::OK, "OK (check disabled)\n").into_response(),
        None => error(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping"),
    }
}

/// Judges every enabled heartbeat check when one of its deadlines passes, and arms new
/// checks (the clock before their first ping starts when the daemon first sees them).
pub(crate) async fn evaluate_loop(s: Shared) {
    let mut app_rx = s.app.clone();
    // The deadline each check was waiting for.
    let mut waiting: HashMap<String, DateTime<Utc>> = HashMap::new();
    loop {
        let app = s.app();
        let now = Utc::now();
        let checks: Vec<(String, HeartbeatProbe)> = app
            .config
            .checks
            .iter()
            .filter(|c| c.def.enabled)
            .filter_map(|c| match &c.def.probe {
                ProbeSpec::Heartbeat(p) => Some((c.id.clone(), p.clone())),
                _ => None,
            })
            .collect();
        let ids: Vec<String> = checks.iter().map(|(id, _)| id.clone()).collect();
        let states = s
            .blocking(move |store| {
                ids.iter()
                    .map(|id| {
                        let old = store.probe_state(id)?;
                        if HeartbeatState::from_value(&old).armed_at.is_some() {
                            return Ok(old);
                        }
                        store.update_probe_state(id, |old| {
                            let mut st = HeartbeatState::from_value(old);
                            st.armed_at.get_or_insert(now);
                            serde_json::to_value(&st).unwrap_or_default()
                        })
                    })
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
        let mut next: HashMap<String, DateTime<Utc>> = HashMap::new();
        for ((id, probe), state) in checks.iter().zip(states) {
            let state = match state {
                Ok(v) => HeartbeatState::from_value(&v),
                Err(e) => {
                    tracing::warn!(check = %id, "cannot read the heartbeat state: {e}");
                    continue;
                }
            };
            if waiting.get(id).is_some_and(|d| *d <= now) {
                tracing::debug!(check = %id, "heartbeat deadline passed: judging");
                if s.request_run(id, Trigger::Heartbeat).await.is_none() {
                    return;
                }
            }
            if let Some(d) = state.next_deadline(probe, now) {
                next.insert(id.clone(), d);
            }
        }
        waiting = next;
        let sleep = waiting
            .values()
            .min()
            .map(|d| (*d - now).to_std().unwrap_or(Duration::ZERO) + Duration::from_millis(5))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = s.pinged.notified() => {}
            changed = app_rx.changed() => if changed.is_err() { return },
        }
    }
}
