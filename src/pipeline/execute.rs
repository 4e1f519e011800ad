//! One check → one verdict: the probe (with timeout and retries), then the rule (or the
//! probe's own verdict), secrets masked. Nothing is stored here.
//!
//! Masking: everything that leaves the probe and the rule — the summary, every metric name,
//! every fact (keys and values), the observation (every string and key) and the probe's
//! state — passes through the configuration's one [`crate::redact::Redactor`] here, before
//! anything is cut to size, stored, logged, rendered or sent. Probes that keep only part of a
//! text mask before they cut (they get the redactor in their context); a rule's `print` and
//! `debug` output is masked by the rule engine as it is logged.

use super::inputs::RunInputs;
use crate::app::App;
use crate::config::Check;
use crate::probe::{ProbeContext, ProbeOutput};
use crate::rule::{CheckInfo, RuleInput};
use crate::status::{Status, Verdict};
use crate::store::{RunRecord, Trigger};
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
        // A perfdata label or a rule's metric name is text like any other.
        metrics: verdict
            .metrics
            .iter()
            .map(|(k, v)| (redactor.text(k), *v))
            .collect(),
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
        probe_state: probe_state.map(|s| redactor.json(&s)),
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
        // `patrol.yaml` in the current folder has an empty parent; "" is no folder to run in.
        base_dir: crate::config::files::dir_or_dot(&app.config.base_dir),
        redactor: &app.config.redactor,
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
    // A console time without an offset is read in the check's zone when the observation
    // names no console zone (never silently as UTC).
    let zone = check.zone.name().to_string();
    // Rules are CPU work with their own deadline; keep them off the async workers.
    let judged = tokio::task::spawn_blocking(move || {
        engine.evaluate_in_zone(
            &rule,
            &RuleInput {
                observation: &obs,
                params: &params,
                check: &info,
                history: &history,
                now: Utc::now(),
            },
            Some(&zone),
        )
    })
    .await
    .unwrap_or_else(|e| Verdict::unknown(format!("rule evaluation aborted: {e}")));
    (judged, observation, state)
}
