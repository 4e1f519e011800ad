//! From a run about to be stored to queued notifications: the hold that applies, the
//! policy's step, the routing to channels, and the events — all written in the run's own
//! transaction (by the caller, [`super::run`]).

use crate::alert::event::{AlertEvent, CheckInfo, MessageKind, ResultInfo, StateInfo, fingerprint};
use crate::alert::mute;
use crate::alert::policy::{
    self, AlertState, Decision, Hold, Notification, PolicyConfig, RunInput,
};
use crate::app::App;
use crate::config::{AlertingPolicy, Check, RootConfig};
use crate::status::Status;
use crate::store::{OutboxItem, RunRecord, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// The output tail kept in an alert.
const OUTPUT_TAIL_BYTES: usize = 10 * 1024;

/// What the policy decided for one run, ready to be stored with it.
#[derive(Debug, Clone)]
pub struct AlertOutcome {
    pub state: AlertState,
    pub decision: Decision,
    pub outbox: Vec<OutboxItem>,
}

/// Applies the policy to a run that is about to be stored (reads the previous state).
pub fn decide(
    app: &App,
    store: &Store,
    check: &Check,
    run: &RunRecord,
) -> Result<AlertOutcome, StoreError> {
    let root = &app.config.root;
    let previous: AlertState = match store.alert_state(&check.id)? {
        serde_json::Value::Null => AlertState::default(),
        v => serde_json::from_value(v).unwrap_or_else(|e| {
            tracing::warn!(check = %check.id, error = %e, "unreadable alert state; starting afresh");
            AlertState::default()
        }),
    };
    let hold = hold_for(root, store, check, run.started_at)?;
    let cfg = PolicyConfig::from(&check.alerting);
    let (mut state, decision) = policy::step(
        &cfg,
        &previous,
        &RunInput {
            check_id: &check.id,
            at: run.started_at,
            status: run.status,
            hold,
        },
    );
    let mut outbox = Vec::new();
    if let Some(n) = &decision.notify {
        let prev_state = store.check_state(&check.id)?;
        let consecutive_failures = match &prev_state {
            Some(s) if run.status != Status::Ok => s.consecutive_bad + 1,
            None if run.status != Status::Ok => 1,
            _ => 0,
        };
        let dependents = dependents(app, &check.id);
        let event = build_event(
            root,
            check,
            run,
            n,
            prev_state.map(|s| s.status),
            consecutive_failures,
            dependents,
        );
        let json = serde_json::to_value(&event)?;
        let mut targets = destinations(root, &check.alerting, &check.def.tags, n.severity);
        if n.kind == policy::EventKind::Resolved {
            // Whoever heard of the incident hears that it ended, whatever changed meanwhile.
            targets.append(&mut state.announced_on);
            targets.sort();
            targets.dedup();
        } else {
            state.announced_on.extend(targets.iter().cloned());
            state.announced_on.sort();
            state.announced_on.dedup();
        }
        for channel in targets {
            outbox.push(OutboxItem {
                event_id: event.event_id.clone(),
                channel,
                check_id: Some(check.id.clone()),
                kind: event.kind.as_str().into(),
                severity: n.severity.as_str().into(),
                event: json.clone(),
            });
        }
    }
    if state.incident.is_none() {
        state.announced_on.clear();
    }
    Ok(AlertOutcome {
        state,
        decision,
        outbox,
    })
}

/// The hold on a check's notifications now: maintenance, silence, or a bad dependency.
pub fn hold_for(
    root: &RootConfig,
    store: &Store,
    check: &Check,
    at: DateTime<Utc>,
) -> Result<Option<Hold>, StoreError> {
    let silences = store.silences(at, false)?;
    if let Some(h) = mute::hold_for(
        &check.id,
        &check.def.tags,
        &root.maintenance,
        &silences,
        root.timezone.0,
        at,
    ) {
        return Ok(Some(h));
    }
    for parent in &check.depends_on {
        if let Some(s) = store.check_state(parent)?
            && s.status != Status::Ok
        {
            return Ok(Some(Hold::Dependency(parent.clone())));
        }
    }
    Ok(None)
}

/// Every enabled check that depends on `id`, directly or through others, in id order:
/// the checks whose alerts are held while `id` is bad, whether they have run yet or not.
pub fn dependents(app: &App, id: &str) -> Vec<String> {
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut queue = vec![id.to_string()];
    while let Some(parent) = queue.pop() {
        for c in app
            .config
            .checks
            .iter()
            .filter(|c| c.def.enabled && c.depends_on.contains(&parent) && c.id != id)
        {
            if found.insert(c.id.clone()) {
                queue.push(c.id.clone());
            }
        }
    }
    found.into_iter().collect()
}

/// The channels an alert of `severity` goes to: the check's own (when the severity reaches
/// its `min_severity`) plus every matching route's. Resolves use the incident's severity.
pub fn destinations(
    root: &RootConfig,
    policy: &AlertingPolicy,
    tags: &[String],
    severity: Status,
) -> Vec<String> {
    let mut out = BTreeSet::new();
    if policy.min_severity.admits(severity) {
        out.extend(policy.channels.iter().cloned());
    }
    for r in &root.routes {
        if r.min_severity.admits(severity) && r.tags.iter().any(|t| tags.contains(t)) {
            out.extend(r.channels.iter().cloned());
        }
    }
    out.into_iter().collect()
}

fn build_event(
    root: &RootConfig,
    check: &Check,
    run: &RunRecord,
    n: &Notification,
    previous: Option<Status>,
    consecutive_failures: u32,
    suppressed_dependents: Vec<String>,
) -> AlertEvent {
    let kind = MessageKind::from(n.kind);
    AlertEvent {
        event_id: format!(
            "{}-{}-{}",
            check.id,
            run.started_at.timestamp_micros(),
            kind.as_str()
        ),
        kind,
        reason: n.reason.clone(),
        incident_id: n.incident_id.clone(),
        fingerprint: fingerprint(&check.id),
        check: CheckInfo {
            id: check.id.clone(),
            name: check.name.clone(),
            description: check.def.description.trim().to_string(),
            tags: check.def.tags.clone(),
            schedule: check.def.schedule.to_string(),
            timezone: check.zone.name().to_string(),
            console: check.console.clone(),
        },
        state: StateInfo {
            current: run.status,
            previous,
            since: n.bad_since,
            consecutive_failures,
        },
        result: ResultInfo {
            summary: run.summary.clone(),
            metrics: run.metrics.clone(),
            facts: run.facts.clone(),
            output_tail: output_tail(&run.observation),
            started_at: run.started_at,
            duration_ms: run.duration_ms,
        },
        suppressed_dependents,
        url: root
            .status_page_url
            .as_ref()
            .map(|u| format!("{}/checks/{}", u.trim_end_matches('/'), check.id)),
        created_at: Utc::now(),
    }
}

/// What a person reading the alert wants from the observation: the command's output, or the
/// error the probe met.
fn output_tail(obs: &serde_json::Value) -> Option<String> {
    let mut parts = Vec::new();
    for key in ["stdout_tail", "stderr_tail"] {
        if let Some(s) = obs.get(key).and_then(|v| v.as_str())
            && !s.trim().is_empty()
        {
            parts.push(s.to_string());
        }
    }
    if parts.is_empty()
        && let Some(e) = obs.get("error").and_then(|v| v.as_str())
    {
        parts.push(e.to_string());
    }
    if parts.is_empty() {
        return None;
    }
    let text = parts.join("\n");
    if text.len() <= OUTPUT_TAIL_BYTES {
        return Some(text);
    }
    let mut start = text.len() - OUTPUT_TAIL_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    Some(text[start..].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Route, Severity};

    #[test]
    fn routing_by_severity_and_tag() {
        let mut root = RootConfig::default();
        root.routes.push(Route {
            tags: vec!["backup".into()],
            min_severity: Severity::Critical,
            channels: vec!["pager".into()],
        });
        let policy = AlertingPolicy {
            channels: vec!["mail".into()],
            ..Default::default()
        };
        let tags = vec!["backup".to_string()];
        assert_eq!(
            destinations(&root, &policy, &tags, Status::Warning),
            vec!["mail"]
        );
        assert_eq!(
            destinations(&root, &policy, &tags, Status::Critical),
            vec!["mail", "pager"]
        );
        assert_eq!(
            destinations(&root, &policy, &[], Status::Critical),
            vec!["mail"]
        );
        let strict = AlertingPolicy {
            min_severity: Severity::Critical,
            ..policy
        };
        assert!(destinations(&root, &strict, &[], Status::Warning).is_empty());
    }

    #[test]
    fn output_tail_keeps_the_end() {
        let long = "x".repeat(20_000) + "END";
        let t = output_tail(&serde_json::json!({"stdout_tail": long})).unwrap_or_default();
        assert_eq!(t.len(), OUTPUT_TAIL_BYTES);
        assert!(t.ends_with("END"));
        assert_eq!(
            output_tail(&serde_json::json!({"error": "refused"})).as_deref(),
            Some("refused")
        );
        assert_eq!(output_tail(&serde_json::json!({})), None);
    }
}
