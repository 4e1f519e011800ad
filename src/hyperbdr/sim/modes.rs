//! What real consoles do differently from the tidy default: how they write times and which
//! fields they leave out. Both are applied to a response as a last pass over its JSON, so
//! every endpoint and every time field is covered without touching the generators.

use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use chrono_tz::Tz;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;

/// The console's own stamp format, in its zone and without an offset.
const LOCAL_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// How the simulator writes time fields. The instants never change, only their rendering,
/// so a reader that knows the console's zone gets the same values in every style.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeStyle {
    /// As before: RFC 3339 UTC (`2026-03-01T00:14:40Z`), except the stamps the console
    /// writes itself (task `start_at`/`end_at`, snapshot `created_at`), which are local
    /// `YYYY-MM-DD HH:MM:SS` in the console's zone.
    #[default]
    Mixed,
    /// Every time field RFC 3339 UTC, the console's own stamps too.
    Utc,
    /// Every time field local `YYYY-MM-DD HH:MM:SS` in the console's zone (what a console
    /// set to Asia/Shanghai sends everywhere).
    Console,
}

impl TimeStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            TimeStyle::Mixed => "mixed",
            TimeStyle::Utc => "utc",
            TimeStyle::Console => "console",
        }
    }
}

impl fmt::Display for TimeStyle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TimeStyle {
    type Err = String;
    fn from_str(s: &str) -> Result<TimeStyle, String> {
        match s {
            "mixed" => Ok(TimeStyle::Mixed),
            "utc" => Ok(TimeStyle::Utc),
            "console" | "console-zone" | "local" => Ok(TimeStyle::Console),
            other => Err(format!(
                "unknown time style {other:?}; known: mixed, utc, console"
            )),
        }
    }
}

/// Fields the `fields-missing` scenario leaves out: what the library's rules read. A name
/// matches that key anywhere; `a.b` matches key `b` inside key `a` (array levels skipped).
pub const FIELDS_MISSING: &[&str] = &[
    // hosts (rpo-delay, snapshot-cap, drill-recency, strategy-review)
    "hosts.last_sync_success_at",
    "hosts.rpo_target_seconds",
    "hosts.snapshot_count",
    "hosts.last_drill_at",
    // tasks (stuck-tasks, failed-tasks)
    "tasks.start_at",
    // cloud accounts (key-expiry, key-age, cloud-accounts, permissions-*)
    "cloud_accounts.credential",
    "cloud_accounts.last_validated_at",
    "cloud_accounts.permissions",
    // storages (storage-space, storage-forecast)
    "storages.used_bytes",
    "storages.stats_as_of",
    // modules (modules, console-services, module-load, module-disks, rabbitmq)
    "modules.last_heartbeat_at",
    "modules.services",
    "modules.cpu",
    "modules.memory",
    "modules.disks",
    "modules.unhealthy_containers",
    "modules.rabbitmq_queue_messages",
    // licenses, tunnels, link quality
    "licenses.expires_at",
    "tunnels.status",
    "tunnels.sub_tunnels",
    "tunnels.latency_ms",
    // alerts, events, policies, drills, throughput
    "alerts.severity",
    "events.result",
    "policies.retention",
    "policies.last_reviewed_at",
    "drills.validation",
    "series.points",
];

/// Fields the `no-key-data` scenario leaves out: every key detail of the cloud accounts.
pub const NO_KEY_DATA: &[&str] = &["cloud_accounts.credential"];

/// The fields a scenario drops on its own (on top of the configured `drop_fields`).
pub fn scenario_drops(scenario: &str) -> &'static [&'static str] {
    match scenario {
        "fields-missing" => FIELDS_MISSING,
        "no-key-data" => NO_KEY_DATA,
        _ => &[],
    }
}

/// Re-renders every time string of `v` in `style` and removes the keys named by `drops`.
pub fn apply(v: &mut Value, style: TimeStyle, tz: Tz, drops: &[Vec<String>]) {
    let mut path = Vec::new();
    walk(v, style, tz, drops, &mut path);
}

/// `a.b.c` -> `["a", "b", "c"]`; empty parts ignored.
pub fn split_drop(spec: &str) -> Vec<String> {
    spec.split('.')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect()
}

fn walk(v: &mut Value, style: TimeStyle, tz: Tz, drops: &[Vec<String>], path: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if !drops.is_empty() {
                map.retain(|k, _| !drops.iter().any(|d| matches(path, k, d)));
            }
            for (k, child) in map.iter_mut() {
                path.push(k.clone());
                walk(child, style, tz, drops, path);
                path.pop();
            }
        }
        Value::Array(items) => {
            for item in items {
                walk(item, style, tz, drops, path);
            }
        }
        Value::String(s) => {
            if let Some(r) = restyle(s, style, tz) {
                *s = r;
            }
        }
        _ => {}
    }
}

/// Whether key `k` under `path` ends with the parts of `drop`.
fn matches(path: &[String], k: &str, drop: &[String]) -> bool {
    let Some((last, parents)) = drop.split_last() else {
        return false;
    };
    if last != k || parents.len() > path.len() {
        return false;
    }
    path[path.len() - parents.len()..] == *parents
}

/// The string rendered in `style`, when it is a time the style writes differently.
fn restyle(s: &str, style: TimeStyle, tz: Tz) -> Option<String> {
    match style {
        TimeStyle::Mixed => None,
        TimeStyle::Console => {
            let t = parse_rfc3339_stamp(s)?;
            Some(t.with_timezone(&tz).format(LOCAL_FORMAT).to_string())
        }
        TimeStyle::Utc => {
            let t = parse_local(s, tz)?;
            Some(t.to_rfc3339_opts(SecondsFormat::Secs, true))
        }
    }
}

/// An RFC 3339 stamp standing alone (`2026-03-01T00:14:40Z`, `...+08:00`).
fn parse_rfc3339_stamp(s: &str) -> Option<DateTime<Utc>> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// A local `YYYY-MM-DD HH:MM:SS` stamp read in `tz` (the earlier instant in a DST fold).
pub fn parse_local(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    if s.len() != 19 {
        return None;
    }
    let naive = NaiveDateTime::parse_from_str(s, LOCAL_FORMAT).ok()?;
    tz.from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// A time the caller sent: RFC 3339, or the console's local form in `tz`.
pub fn parse_time(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    parse_rfc3339_stamp(s).or_else(|| parse_local(s, tz))
}
