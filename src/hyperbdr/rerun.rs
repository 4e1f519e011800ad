//! The guarded re-run of failed tasks (X02): which failed tasks may be re-run now, and why
//! the others may not. Pure: the probe does the `POST /api/v2/batchSync` and keeps the
//! attempts in its state.

use super::cause::Cause;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One re-run attempt (kept in the probe state and shown in the observation).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    pub task_id: String,
    pub host_id: String,
    pub cause: String,
    /// RFC 3339 UTC.
    pub at: DateTime<Utc>,
    /// `started`, or `failed: WHY`.
    pub outcome: String,
}

/// A failed task that was not re-run, and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skip {
    pub task_id: String,
    pub host_id: String,
    pub cause: String,
    pub reason: String,
}

/// A task to re-run now.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub task_id: String,
    pub host_id: String,
    pub cause: String,
}

/// What the plan needs to know.
pub struct Guard<'a> {
    pub causes: &'a [Cause],
    pub max_per_task_per_day: u32,
    /// Attempts already made (any age; only the last 24 h count).
    pub history: &'a [Attempt],
    pub now: DateTime<Utc>,
}

const RUNNING: [&str; 10] = [
    "running",
    "doing",
    "processing",
    "pending",
    "queued",
    "progress",
    "creating",
    "initializing",
    "syncing",
    "waiting",
];

fn text(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn lower(v: &Value, key: &str) -> String {
    text(v, key).to_lowercase()
}

/// A task (or host) state that means "failed": status contains fail or error, or the
/// display status says Failed.
pub fn is_failed(task: &Value) -> bool {
    let s = lower(task, "status");
    s.contains("fail") || s.contains("error") || lower(task, "display_status").contains("fail")
}

pub fn is_running(task: &Value) -> bool {
    let s = lower(task, "status");
    RUNNING.iter().any(|w| s.contains(w))
}

fn is_success(task: &Value) -> bool {
    let s = lower(task, "status");
    ["success", "done", "completed", "finished"]
        .iter()
        .any(|w| s.contains(w))
}

fn started(task: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&text(task, "start_at"))
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Attempts at `task_id` within the 24 h before `now`.
pub fn recent(history: &[Attempt], task_id: &str, now: DateTime<Utc>) -> usize {
    history
        .iter()
        .filter(|a| a.task_id == task_id && a.at > now - Duration::hours(24))
        .count()
}

/// Splits the failed, classified tasks into the ones to re-run now and the skipped ones.
/// `tasks` are the console's tasks (with `cause` set on the failed ones), `hosts` its hosts
/// (may be empty).
pub fn plan(tasks: &[Value], hosts: &[Value], guard: &Guard<'_>) -> (Vec<Candidate>, Vec<Skip>) {
    let mut go: Vec<Candidate> = Vec::new();
    let mut skipped = Vec::new();
    for task in tasks.iter().filter(|t| is_failed(t)) {
        let task_id = text(task, "id");
        let host_id = text(task, "source_id");
        let cause = text(task, "cause");
        let skip = |reason: String| Skip {
            task_id: task_id.clone(),
            host_id: host_id.clone(),
            cause: cause.clone(),
            reason,
        };
        if !guard.causes.iter().any(|c| c.as_str() == cause) {
            let allowed: Vec<&str> = guard.causes.iter().map(|c| c.as_str()).collect();
            skipped.push(skip(format!(
                "cause {cause} is not in rerun.causes [{}]",
                allowed.join(", ")
            )));
            continue;
        }
        if host_id.is_empty() {
            skipped.push(skip("the task names no host (source_id)".into()));
            continue;
        }
        let same_host = |t: &&Value| text(t, "source_id") == host_id && text(t, "id") != task_id;
        if let Some(r) = tasks.iter().filter(same_host).find(|t| is_running(t)) {
            skipped.push(skip(format!(
                "host {host_id} has a running task {}",
                text(r, "id")
            )));
            continue;
        }
        if let Some(h) = hosts.iter().find(|h| text(h, "id") == host_id)
            && is_running(h)
        {
            skipped.push(skip(format!(
                "host {host_id} is {} (a task is running)",
                text(h, "status")
            )));
            continue;
        }
        let mine = started(task);
        if let Some(newer) = tasks
            .iter()
            .filter(same_host)
            .find(|t| is_success(t) && matches!((started(t), mine), (Some(a), Some(b)) if a > b))
        {
            skipped.push(skip(format!(
                "a newer task {} of host {host_id} succeeded",
                text(newer, "id")
            )));
            continue;
        }
        let n = recent(guard.history, &task_id, guard.now);
        if n >= guard.max_per_task_per_day as usize {
            skipped.push(skip(format!(
                "{n} attempts in the last 24 h (rerun.max_per_task_per_day {})",
                guard.max_per_task_per_day
            )));
            continue;
        }
        if let Some(other) = go.iter().find(|c| c.host_id == host_id) {
            skipped.push(skip(format!(
                "host {host_id} is re-run for task {} in this run",
                other.task_id
            )));
            continue;
        }
        go.push(Candidate {
            task_id,
            host_id,
            cause,
        });
    }
    (go, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        "2026-03-01T12:00:00Z".parse().unwrap()
    }

    fn failed(id: &str, host: &str, cause: &str) -> Value {
        json!({"id": id, "source_id": host, "status": "failed", "cause": cause,
               "start_at": "2026-03-01T11:00:00Z"})
    }

    fn guard(history: &[Attempt]) -> Guard<'_> {
        Guard {
            causes: &[Cause::Network],
            max_per_task_per_day: 2,
            history,
            now: now(),
        }
    }

    #[test]
    fn only_allowed_causes_on_idle_hosts_within_the_budget() {
        let tasks = vec![
            failed("t-1", "h-1", "network"),
            failed("t-2", "h-2", "permission"),
            failed("t-3", "h-3", "network"),
            json!({"id": "t-4", "source_id": "h-3", "status": "running"}),
            failed("t-5", "h-4", "network"),
            failed("t-6", "h-1", "network"),
        ];
        let old = |h: i64| Attempt {
            task_id: "t-5".into(),
            host_id: "h-4".into(),
            cause: "network".into(),
            at: now() - Duration::hours(h),
            outcome: "started".into(),
        };
        let history = [old(1), old(2), old(30)];
        let (go, skipped) = plan(&tasks, &[], &guard(&history));
        assert_eq!(go.len(), 1);
        assert_eq!(
            (go[0].task_id.as_str(), go[0].host_id.as_str()),
            ("t-1", "h-1")
        );
        let reasons: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.task_id.as_str(), s.reason.as_str()))
            .collect();
        assert_eq!(
            reasons,
            [
                ("t-2", "cause permission is not in rerun.causes [network]"),
                ("t-3", "host h-3 has a running task t-4"),
                (
                    "t-5",
                    "2 attempts in the last 24 h (rerun.max_per_task_per_day 2)"
                ),
                ("t-6", "host h-1 is re-run for task t-1 in this run"),
            ]
        );
    }

    #[test]
    fn a_newer_success_or_a_busy_host_blocks_the_rerun() {
        let tasks = vec![
            failed("t-1", "h-1", "network"),
            json!({"id": "t-2", "source_id": "h-1", "status": "success",
                   "start_at": "2026-03-01T11:30:00Z"}),
            failed("t-3", "h-2", "network"),
        ];
        let hosts = vec![json!({"id": "h-2", "status": "sync_doing"})];
        let (go, skipped) = plan(&tasks, &hosts, &guard(&[]));
        assert!(go.is_empty());
        assert_eq!(skipped[0].reason, "a newer task t-2 of host h-1 succeeded");
        assert_eq!(
            skipped[1].reason,
            "host h-2 is sync_doing (a task is running)"
        );
    }
}
