//! What a notification says: the model every channel renders (email, webhook formats); how
//! it is worded is `alert::present`.

use super::policy::EventKind;
use crate::status::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Why a message is sent. `Test` is `patrol alert test CHANNEL`; `Report` is the periodic
/// report of the root config's `report:` (see `alert::report`), about patrol itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Firing,
    Resolved,
    Reminder,
    Flapping,
    Test,
    Report,
}

impl MessageKind {
    /// `firing`, `resolved`, `reminder`, `flapping`, `test`, `report`: the name in payloads,
    /// the outbox, headers and event ids (the same as its JSON form).
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Firing => "firing",
            MessageKind::Resolved => "resolved",
            MessageKind::Reminder => "reminder",
            MessageKind::Flapping => "flapping",
            MessageKind::Test => "test",
            MessageKind::Report => "report",
        }
    }
}

impl From<EventKind> for MessageKind {
    fn from(k: EventKind) -> Self {
        match k {
            EventKind::Firing => MessageKind::Firing,
            EventKind::Resolved => MessageKind::Resolved,
            EventKind::Reminder => MessageKind::Reminder,
            EventKind::Flapping => MessageKind::Flapping,
        }
    }
}

/// The check an alert is about, as shown to people.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckInfo {
    pub id: String,
    pub name: String,
    /// The runbook: what the check means and what to do.
    pub description: String,
    pub tags: Vec<String>,
    pub schedule: String,
    /// IANA zone of the schedule; times are shown in it and in UTC.
    pub timezone: String,
    /// The HyperBDR console the check runs against (`consoles:` in patrol.yaml), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
}

/// The state of the check when the alert was decided.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateInfo {
    pub current: Status,
    pub previous: Option<Status>,
    /// Since when the check has been bad (for resolves: how long it was bad).
    pub since: DateTime<Utc>,
    pub consecutive_failures: u32,
}

/// The run that caused the alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultInfo {
    pub summary: String,
    pub metrics: BTreeMap<String, f64>,
    pub facts: BTreeMap<String, serde_json::Value>,
    /// The tail of the probe's output (≤ 10 KB), secrets masked.
    pub output_tail: Option<String>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
}

/// One alert about one check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Unique per notification and reused on every retry of it.
    pub event_id: String,
    pub kind: MessageKind,
    /// Why it was sent (the policy's reason).
    pub reason: String,
    /// The same for every notification of one incident (threads emails, groups webhooks).
    pub incident_id: String,
    /// Stable per check and severity-independent (Alertmanager-style fingerprint).
    pub fingerprint: String,
    pub check: CheckInfo,
    pub state: StateInfo,
    pub result: ResultInfo,
    /// Checks whose alerts were held back because this check (their dependency) is bad.
    #[serde(default)]
    pub suppressed_dependents: Vec<String>,
    /// Link to the check on the status page, when one is configured.
    pub url: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// A stable, short id of a check (FNV-1a, hex): the same across restarts and versions.
pub fn fingerprint(check_id: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in check_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
