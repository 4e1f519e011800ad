//! Conversions between Rust values and their stored text.
//!
//! Times are RFC 3339 UTC with nine fractional digits and a `Z` (fixed width), so text order
//! is time order and a stored time reads back exactly.

use super::{RunRecord, StoreError, Trigger};
use crate::status::Status;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::Row;
use std::collections::BTreeMap;

pub(crate) fn time_text(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(crate) fn parse_time(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| StoreError::BadValue(format!("time {s:?}: {e}")))
}

pub(crate) fn parse_opt_time(s: Option<String>) -> Result<Option<DateTime<Utc>>, StoreError> {
    s.as_deref().map(parse_time).transpose()
}

pub(crate) fn trigger_text(t: Trigger) -> &'static str {
    match t {
        Trigger::Schedule => "schedule",
        Trigger::Misfire => "misfire",
        Trigger::Manual => "manual",
        Trigger::Heartbeat => "heartbeat",
        Trigger::Dependency => "dependency",
    }
}

pub(crate) fn parse_trigger(s: &str) -> Result<Trigger, StoreError> {
    match s {
        "schedule" => Ok(Trigger::Schedule),
        "misfire" => Ok(Trigger::Misfire),
        "manual" => Ok(Trigger::Manual),
        "heartbeat" => Ok(Trigger::Heartbeat),
        "dependency" => Ok(Trigger::Dependency),
        other => Err(StoreError::BadValue(format!("trigger {other:?}"))),
    }
}

pub(crate) fn parse_status(s: &str) -> Result<Status, StoreError> {
    Status::parse(s).ok_or_else(|| StoreError::BadValue(format!("status {s:?}")))
}

/// Metrics as a JSON object. Non-finite numbers are left out: JSON cannot hold them
/// (serde_json would write `null`, which then would not read back as a number).
pub(crate) fn metrics_text(m: &BTreeMap<String, f64>) -> Result<String, StoreError> {
    if m.values().all(|v| v.is_finite()) {
        return Ok(serde_json::to_string(m)?);
    }
    let finite: BTreeMap<&String, f64> = m
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k, *v))
        .collect();
    Ok(serde_json::to_string(&finite)?)
}

/// Reads metrics leniently: anything that is not a number is skipped rather than making the
/// whole run unreadable.
pub(crate) fn parse_metrics(s: &str) -> Result<BTreeMap<String, f64>, StoreError> {
    let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(s)?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| v.as_f64().map(|n| (k, n)))
        .collect())
}

/// The observation as stored: its JSON text, or — when that is longer than `cap` bytes
/// (`cap` 0 = no limit) — a small valid JSON object in its place:
/// `{"truncated": true, "bytes": <original size>, "head": "<start of the original text>"}`.
/// The replacement fits in `cap` unless `cap` is smaller than the object's fixed part.
pub(crate) fn observation_text(obs: &serde_json::Value, cap: usize) -> Result<String, StoreError> {
    let full = serde_json::to_string(obs)?;
    if cap == 0 || full.len() <= cap {
        return Ok(full);
    }
    let bytes = full.len();
    // Escaping can make the head longer than its bytes, so shrink until the whole fits.
    let mut budget = cap.saturating_sub(48);
    loop {
        let head = prefix_at_char_boundary(&full, budget);
        let text = serde_json::to_string(&serde_json::json!({
            "truncated": true,
            "bytes": bytes,
            "head": head,
        }))?;
        if text.len() <= cap || head.is_empty() {
            return Ok(text);
        }
        let excess = text.len() - cap;
        budget = head.len().saturating_sub(excess.max(1));
    }
}

fn prefix_at_char_boundary(s: &str, max: usize) -> &str {
    if max >= s.len() {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The columns [`run_from_row`] expects, in order.
pub(crate) const RUN_COLUMNS: &str = "id, check_id, triggered_by, scheduled_at, started_at, \
     duration_ms, status, summary, metrics, facts, observation, attempts";

pub(crate) fn run_from_row(row: &Row<'_>) -> Result<RunRecord, StoreError> {
    let id: i64 = row.get(0)?;
    let trigger: String = row.get(2)?;
    let scheduled_at: Option<String> = row.get(3)?;
    let started_at: String = row.get(4)?;
    let duration_ms: i64 = row.get(5)?;
    let status: String = row.get(6)?;
    let metrics: String = row.get(8)?;
    let facts: String = row.get(9)?;
    let observation: String = row.get(10)?;
    let attempts: i64 = row.get(11)?;
    Ok(RunRecord {
        id: Some(id),
        check_id: row.get(1)?,
        trigger: parse_trigger(&trigger)?,
        scheduled_at: parse_opt_time(scheduled_at)?,
        started_at: parse_time(&started_at)?,
        duration_ms: u64::try_from(duration_ms).unwrap_or(0),
        status: parse_status(&status)?,
        summary: row.get(7)?,
        metrics: parse_metrics(&metrics)?,
        facts: serde_json::from_str(&facts)?,
        observation: serde_json::from_str(&observation)?,
        attempts: u32::try_from(attempts).unwrap_or(0),
    })
}

/// Saturating conversion for counters and durations going into SQLite's signed integers.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_fixed_width_and_exact() {
        let t = DateTime::parse_from_rfc3339("2025-03-01T02:03:04.5Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        let s = time_text(t);
        assert_eq!(s, "2025-03-01T02:03:04.500000000Z");
        assert_eq!(parse_time(&s).unwrap(), t);
    }

    #[test]
    fn cap_keeps_valid_json_within_limit_with_multibyte_and_escapes() {
        let obs = serde_json::json!({ "body": "é\"\\".repeat(2000) });
        for cap in [60, 100, 500, 1000] {
            let text = observation_text(&obs, cap).unwrap();
            assert!(text.len() <= cap, "cap {cap}: {} bytes", text.len());
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["truncated"], true);
        }
        assert_eq!(
            observation_text(&obs, 0).unwrap(),
            serde_json::to_string(&obs).unwrap()
        );
    }

    #[test]
    fn non_finite_metrics_are_dropped() {
        let m = BTreeMap::from([("a".to_string(), 1.5), ("b".to_string(), f64::NAN)]);
        let back = parse_metrics(&metrics_text(&m).unwrap()).unwrap();
        assert_eq!(back, BTreeMap::from([("a".to_string(), 1.5)]));
    }
}
