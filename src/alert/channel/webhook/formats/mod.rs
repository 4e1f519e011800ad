//! The webhook payload formats: one function per format, each turning the events of one
//! delivery into the JSON body a receiver expects. Pure functions (no I/O, no clock), so that
//! `patrol alert test` and the tests can look at exactly what is sent.
//!
//! Here: `patrol` (the default) and `template`; the chat formats (slack, teams, dingtalk,
//! wecom, feishu) are in `chat.rs`, `alertmanager` in `alertmanager.rs`. Every human word in
//! them comes from [`crate::alert::present`]; all times in JSON fields are RFC 3339 in UTC.

mod alertmanager;
mod chat;

pub use alertmanager::alertmanager;
pub use chat::{Card, delivery_title, dingtalk, feishu, plain_text, slack, teams, wecom};

use crate::alert::event::AlertEvent;
use crate::alert::present::rfc3339;
use crate::status::Status;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

/// Version of the `patrol` payload; bumped on any incompatible change.
pub const PATROL_VERSION: u32 = 1;

/// The newest `created_at` of a delivery: its own time, the same on every retry.
pub fn delivery_time(events: &[AlertEvent]) -> Option<DateTime<Utc>> {
    events.iter().map(|e| e.created_at).max()
}

// ---------------------------------------------------------------------------------------------
// patrol (default)
// ---------------------------------------------------------------------------------------------

/// The `patrol` payload: `{"version": 1, "delivery_id", "created_at", "events": [...]}` with
/// one [`patrol_event`] object per event.
pub fn patrol(events: &[AlertEvent], delivery_id: &str) -> Value {
    json!({
        "version": PATROL_VERSION,
        "delivery_id": delivery_id,
        "created_at": delivery_time(events).map(rfc3339),
        "events": events.iter().map(patrol_event).collect::<Vec<_>>(),
    })
}

/// One event of the `patrol` payload. Written out field by field (not derived from
/// [`AlertEvent`]) so that version 1 stays what receivers were promised when the internal
/// model changes.
pub fn patrol_event(e: &AlertEvent) -> Value {
    let r = &e.result;
    let mut v = json!({
        "event_id": e.event_id,
        "type": e.kind.as_str(),
        "reason": e.reason,
        "fingerprint": e.fingerprint,
        "incident_id": e.incident_id,
        "check": {
            "id": e.check.id,
            "name": e.check.name,
            "description": e.check.description,
            "tags": e.check.tags,
            "schedule": e.check.schedule,
            "timezone": e.check.timezone,
        },
        "state": {
            "current": e.state.current.as_str(),
            "previous": e.state.previous.map(Status::as_str),
            "since": rfc3339(e.state.since),
            "consecutive_failures": e.state.consecutive_failures,
        },
        "result": {
            "summary": r.summary,
            // Non-finite numbers have no JSON form: they become null.
            "metrics": r.metrics,
            "facts": r.facts,
            "output_tail": r.output_tail,
            "started_at": rfc3339(r.started_at),
            "duration_ms": r.duration_ms,
        },
        "suppressed_dependents": e.suppressed_dependents,
        "url": e.url,
        "created_at": rfc3339(e.created_at),
    });
    // Only checks that run against a HyperBDR console have one (a new field in version 1).
    if let Some(c) = &e.check.console {
        v["check"]["console"] = json!(c);
    }
    v
}

// ---------------------------------------------------------------------------------------------
// template
// ---------------------------------------------------------------------------------------------

/// What a `template` body sees: `version`, `delivery_id`, `channel`, `count`, `title` (one
/// line for the delivery), `text` (a plain-text rendering of all events), `events` (the
/// [`patrol_event`] objects) and `event` (the first of them).
pub fn template_context(events: &[AlertEvent], delivery_id: &str, channel: &str) -> Value {
    let cards: Vec<Card<'_>> = events.iter().map(Card::new).collect();
    let objs: Vec<Value> = events.iter().map(patrol_event).collect();
    json!({
        "version": PATROL_VERSION,
        "delivery_id": delivery_id,
        "channel": channel,
        "count": events.len(),
        "title": delivery_title(&cards),
        "text": plain_text(events),
        "event": objs.first().cloned().unwrap_or(Value::Null),
        "events": objs,
    })
}
