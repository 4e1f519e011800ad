//! One check → one verdict: the probe (with timeout and retries), then the rule (or the
//! probe's own verdict), secrets masked. [`execute`] adds the store around it.

use crate::app::App;
use crate::config::Check;
use crate::probe::{ProbeContext, ProbeOutput};
use crate::rule::{CheckInfo, HistoryEntry, RuleInput};
use crate::status::{Status, Verdict};
use crate::store::{RunRecord, Store, StoreError, Trigger};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Instant;

/// What one run produced, before it is stored.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub record: RunRecord,
    /// The probe's state to remember for the next run (log offsets...).
    pub probe_state: Option<serde_json::Value>,
}

/// What a run needs from earlier runs.
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    pub probe_state: serde_json::Value,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `check` once: each attempt is the probe bounded by the check's timeout, then its rule.
/// A non-OK attempt is tried again while `retries` allow; the last attempt is the result.
pub async fn run_check(
    app: &App,
    check: &Arc<Check>,
    inputs: &RunInputs,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
) -> RunOutcome {
    let started_at = Utc::now();
    let clock = Instant::now();
    let max_attempts = check.def.retries.saturating_add(1);
    let mut attempts = 0;
    let (verdict, observation, probe_state) = loop {
        attempts += 1;
        let (verdict, observation, state) = attempt(app, check, inputs).await;
        if verdict.status == Status::Ok || attempts >= max_attempts {
            break (verdict, observation, state);
        }
        tracing::debug!(check = %check.id, attempt = attempts, status = %verdict.status, "retrying");
        tokio::time::sleep(check.def.retry_delay.as_duration()).await;
    };
    let redactor = &app.config.redactor;
    let record = RunRecord {
        id: None,
        check_id: check.id.clone(),
        trigger,
        scheduled_at,
        started_at,
        duration_ms: clock.elapsed().as_millis() as u64,
        status: verdict.status,
        summary: redactor.text(&verdict.summary),
        metrics: verdict.metrics,
        facts: verdict
            .facts
            .iter()
            .map(|(k, v)| (redactor.text(k), redactor.json(v)))
            .collect(),
        observation: redactor.json(&observation),
        attempts,
    };
    RunOutcome {
        record,
        probe_state,
    }
}

async fn attempt(
    app: &App,
    check: &Arc<Check>,
    inputs: &RunInputs,
) -> (Verdict, serde_json::Value, Option<serde_json::Value>) {
    let timeout = check.def.timeout.as_duration();
    let ctx = ProbeContext {
        check_id: &check.id,
        timeout,
        state: &inputs.probe_state,
        base_dir: &app.config.base_dir,
    };
    let probe = check.def.probe.as_probe();
    let output = match tokio::time::timeout(timeout, probe.run(&ctx)).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => {
            let v = Verdict::unknown(format!("{} probe failed: {e}", probe.kind()));
            return (v, serde_json::json!({ "error": e.to_string() }), None);
        }
        Err(_) => {
            let v = Verdict::unknown(format!(
                "{} probe timed out after {}",
                probe.kind(),
                check.def.timeout
            ));
            return (v, serde_json::json!({ "error": "timeout" }), None);
        }
    };
    let ProbeOutput {
        observation,
        verdict,
        state,
    } = output;
    let Some(rule) = app.rules.get(&check.id).cloned() else {
        return (verdict, observation, state);
    };
    let engine = app.engine.clone();
    let params = check.def.params.value.clone();
    let info = CheckInfo {
        id: check.id.clone(),
        name: check.name.clone(),
        tags: check.def.tags.clone(),
    };
    let history = inputs.history.clone();
    let obs = observation.clone();
    // Rules are CPU work with their own deadline; keep them off the async workers.
    let judged = tokio::task::spawn_blocking(move || {
        engine.evaluate(
            &rule,
            &RuleInput {
                observation: &obs,
                params: &params,
                check: &info,
                history: &history,
                now: Utc::now(),
            },
        )
    })
    .await
    .unwrap_or_else(|e| Verdict::unknown(format!("rule evaluation aborted: {e}")));
    (judged, observation, state)
}

/// Loads the check's history and probe state, runs it, and stores the result.
pub async fn execute(
    app: &App,
    store: &Store,
    check: &Arc<Check>,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
) -> Result<RunRecord, RunnerError> {
    let inputs = load_inputs(app, store, &check.id)?;
    let mut outcome = run_check(app, check, &inputs, trigger, scheduled_at).await;
    let id = store.record_run(&outcome.record, outcome.probe_state.as_ref())?;
    outcome.record.id = Some(id);
    Ok(outcome.record)
}

/// The probe state and the rule's `history` of one check.
pub fn load_inputs(app: &App, store: &Store, check_id: &str) -> Result<RunInputs, StoreError> {
    let mut history: Vec<HistoryEntry> = store
        .recent_runs(
            check_id,
            u32::try_from(app.config.root.history).unwrap_or(u32::MAX),
        )?
        .into_iter()
        .map(|r| HistoryEntry {
            time: r.started_at,
            status: r.status,
            summary: r.summary,
            metrics: r.metrics,
        })
        .collect();
    history.reverse();
    Ok(RunInputs {
        probe_state: store.probe_state(check_id)?,
        history,
    })
}
