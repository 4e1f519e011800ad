//! What the `hyperbdr` probe does with a console: fetch endpoints into an observation, attach
//! the steps and the classified cause of every failed task, and make the guarded re-runs.
//! The probe's configuration, observation and documentation are in `src/probe/hyperbdr.rs`.

use super::cause::{self, Cause};
use super::client::{Connection, ConsoleClient, ConsoleError};
use super::rerun::{self, Attempt, Guard};
use chrono::{Duration as CDuration, SubsecRound, Utc};
use futures::StreamExt;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

/// One endpoint to fetch into `observation.NAME`.
#[derive(Debug, Clone)]
pub struct FetchRequest {
    pub name: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Fetch every page of a list.
    pub paged: bool,
}

/// Fetches every endpoint (concurrently) into an observation, times without an offset
/// rewritten to RFC 3339 in the console's zone (by the client); the first failure (in the
/// order given) is the result.
pub async fn fetch_all(
    client: &ConsoleClient,
    fetches: &[FetchRequest],
) -> Result<Map<String, Value>, ConsoleError> {
    let calls = fetches.iter().map(|f| async move {
        let data = if f.paged {
            client.get_all_pages(&f.path, &f.query).await
        } else {
            client.get_data(&f.path, &f.query).await
        };
        data.map(|d| (f.name.clone(), d))
    });
    let mut observation = Map::new();
    for r in futures::future::join_all(calls).await {
        let (name, data) = r?;
        observation.insert(name, data);
    }
    Ok(observation)
}

/// `observation.console`: which console answered and on which clock its times are, so rules
/// read times without an offset in its zone (`console.timezone`) and allow its clock skew
/// (`console.max_clock_skew_seconds`, the default of the rules' `max_clock_skew` param).
pub fn console_info(conn: &Connection, url: &str, scene: &str) -> Value {
    json!({
        "name": conn.name,
        "url": url,
        "scene": scene,
        "timezone": conn.console_timezone.name(),
        "max_clock_skew_seconds": conn.max_clock_skew.as_secs(),
    })
}

/// Which failed tasks may be re-run: causes allowed and the attempts allowed per task.
#[derive(Debug, Clone, Copy)]
pub struct RerunPolicy<'a> {
    pub causes: &'a [Cause],
    pub max_per_task_per_day: u32,
}

/// Re-run attempts made by this process, per check and console: a retried run sees them
/// even though the runner hands it the state of the previous run.
static ATTEMPTS: LazyLock<Mutex<HashMap<String, Vec<Attempt>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The items of the list fetched as `name` (`observation.NAME.NAME`), empty when absent.
fn list_items(observation: &Map<String, Value>, name: &str) -> Vec<Value> {
    observation
        .get(name)
        .and_then(|v| v.get(name))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The number of items of a fetched list.
pub fn list_len(data: &Value) -> Option<usize> {
    let obj = data.as_object()?;
    obj.get("total")?;
    obj.values().find_map(|v| v.as_array().map(Vec::len))
}

fn task_list(observation: &mut Map<String, Value>) -> Option<&mut Vec<Value>> {
    observation
        .get_mut("tasks")?
        .get_mut("tasks")?
        .as_array_mut()
}

/// Fetches the steps of every failed task and classifies its cause.
pub async fn attach_steps(client: &ConsoleClient, observation: &mut Map<String, Value>) {
    let hosts: Vec<Value> = list_items(observation, "hosts");
    let Some(tasks) = task_list(observation) else {
        return;
    };
    let failed: Vec<(usize, String)> = tasks
        .iter()
        .enumerate()
        .filter(|(_, t)| rerun::is_failed(t))
        .map(|(i, t)| (i, t.get("id").map(id_text).unwrap_or_default()))
        .collect();
    let steps: Vec<(usize, Result<Value, ConsoleError>)> = futures::stream::iter(failed)
        .map(|(i, id)| async move {
            let q = [("task_id".to_string(), id)];
            (i, client.get_data("/hypermotion/v1/job/steps", &q).await)
        })
        .buffered(4)
        .collect()
        .await;
    for (i, result) in steps {
        let task = &mut tasks[i];
        let steps = match result {
            Ok(data) => {
                let s = data.get("steps").cloned().unwrap_or(Value::Array(vec![]));
                task["steps"] = s.clone();
                Some(s)
            }
            Err(e) => {
                task["steps"] = Value::Null;
                task["steps_error"] = json!(e.to_string());
                None
            }
        };
        let host_id = task.get("source_id").map(id_text).unwrap_or_default();
        let host = hosts
            .iter()
            .find(|h| h.get("id").map(id_text).as_deref() == Some(&host_id));
        let texts = cause::evidence_texts(task, steps.as_ref(), host);
        let (c, evidence) = cause::classify(&texts);
        let evidence = evidence.map(|e| clip(e, 500)).unwrap_or_default();
        if let Some(console_cause) = task.get("error").and_then(|e| e.get("cause")).cloned() {
            task["console_cause"] = console_cause;
        }
        task["cause"] = json!(c.as_str());
        task["cause_evidence"] = json!(evidence);
    }
}

fn id_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(max).collect();
        out.push('…');
        out
    }
}

/// Plans and makes the re-runs; returns the attempts made and the 24 h history to keep.
/// `key` names the check and console whose attempts count together.
pub async fn rerun_failed(
    client: &ConsoleClient,
    spec: RerunPolicy<'_>,
    observation: &mut Map<String, Value>,
    state: &Value,
    key: &str,
) -> (usize, Vec<Attempt>) {
    let now = Utc::now();
    let keep_after = now - CDuration::hours(24);
    let mut history: Vec<Attempt> = state
        .get("rerun_attempts")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok())
        .unwrap_or_default();
    {
        let memory = ATTEMPTS.lock().unwrap_or_else(|p| p.into_inner());
        for a in memory.get(key).into_iter().flatten() {
            if !history.contains(a) {
                history.push(a.clone());
            }
        }
    }
    history.retain(|a| a.at > keep_after);

    let tasks: Vec<Value> = list_items(observation, "tasks");
    let hosts: Vec<Value> = list_items(observation, "hosts");
    let guard = Guard {
        causes: spec.causes,
        max_per_task_per_day: spec.max_per_task_per_day,
        history: &history,
        now,
    };
    let (go, skipped) = rerun::plan(&tasks, &hosts, &guard);

    let mut made = Vec::new();
    for c in go {
        let body = json!({"batch_sync": [{"migration_id": c.host_id, "do_snapshot": true}]});
        let outcome = match client.post_data("/api/v2/batchSync", &body).await {
            Ok(_) => "started".to_string(),
            Err(e) => format!("failed: {e}"),
        };
        tracing::info!(task = %c.task_id, host = %c.host_id, cause = %c.cause, %outcome, "re-ran a failed HyperBDR task");
        made.push(Attempt {
            task_id: c.task_id,
            host_id: c.host_id,
            cause: c.cause,
            at: Utc::now().trunc_subsecs(0),
            outcome,
        });
    }
    history.extend(made.iter().cloned());
    {
        let mut memory = ATTEMPTS.lock().unwrap_or_else(|p| p.into_inner());
        let entry = memory.entry(key.to_string()).or_default();
        entry.extend(made.iter().cloned());
        entry.retain(|a| a.at > keep_after);
    }
    let to_json = |v: &[Attempt]| serde_json::to_value(v).unwrap_or(Value::Array(vec![]));
    observation.insert("reruns".into(), to_json(&made));
    observation.insert(
        "rerun_skipped".into(),
        serde_json::to_value(&skipped).unwrap_or(Value::Array(vec![])),
    );
    observation.insert("rerun_history".into(), to_json(&history));
    (made.len(), history)
}
