//! One check end to end, the single entry point of the daemon (scheduled, manual API and
//! heartbeat runs) and of `patrol run`:
//!
//! `inputs` (history, probe state) → `execute` (probe, then rule, with timeout and
//! retries) → `decide` (hold, policy step, routing to outbox items) → `export` (logs, when
//! an alert fires) → the store: run, probe state, policy state and outbox in one
//! transaction.
//!
//! The walk only goes down: this module uses [`App`], the alert policy and the store; nothing
//! below calls back up here.

mod decide;
mod execute;
mod export;
mod inputs;
mod parents;

pub use decide::{AlertOutcome, dependents};

use crate::app::App;
use crate::config::Check;
use crate::status::Status;
use crate::store::{RunRecord, Store, StoreError, Trigger};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::sync::Arc;

/// Whether a run goes through the alert policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alerting {
    /// Apply the policy and queue notifications with the run (the daemon, and through it the
    /// API's manual runs and heartbeat pings).
    Apply,
    /// Record the run and the probe state only; the policy state is left as it was
    /// (`patrol run`, a try-out from the command line).
    RecordOnly,
}

/// What one run of the pipeline produced, as stored.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The stored run (`id` set).
    pub record: RunRecord,
    /// The policy's decision and the notifications queued; `None` with [`Alerting::RecordOnly`].
    pub alert: Option<AlertOutcome>,
}

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Runs `check` once and stores the result: with [`Alerting::Apply`] the run, the policy
/// state and the notifications in one transaction. Runs of one check never overlap in the
/// process; a bad run of a check with parents is decided once they have judged too (see
/// `parents`).
pub async fn run(
    app: &App,
    store: &Store,
    check: &Arc<Check>,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
    alerting: Alerting,
) -> Result<Outcome, PipelineError> {
    let lock = parents::lock_of(&check.id);
    let _held = lock.lock().await;
    run_locked(app, store, check, trigger, scheduled_at, alerting).await
}

/// [`run`] with the check's lock already held.
fn run_locked<'a>(
    app: &'a App,
    store: &'a Store,
    check: &'a Arc<Check>,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
    alerting: Alerting,
) -> BoxFuture<'a, Result<Outcome, PipelineError>> {
    Box::pin(run_unboxed(
        app,
        store,
        check,
        trigger,
        scheduled_at,
        alerting,
    ))
}

async fn run_unboxed(
    app: &App,
    store: &Store,
    check: &Arc<Check>,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
    alerting: Alerting,
) -> Result<Outcome, PipelineError> {
    let inputs = inputs::load_inputs(app, store, &check.id)?;
    let mut outcome = execute::run_check(app, check, &inputs, trigger, scheduled_at).await;
    if alerting == Alerting::RecordOnly {
        let id = store.record_run(&outcome.record, outcome.probe_state.as_ref())?;
        outcome.record.id = Some(id);
        return Ok(Outcome {
            record: outcome.record,
            alert: None,
        });
    }
    if outcome.record.status != Status::Ok && !check.depends_on.is_empty() {
        parents::refresh(app, store, check, outcome.record.started_at).await;
    }
    let mut alert = decide::decide(app, store, check, &outcome.record)?;
    export::export_logs_on_firing(app, check, &mut outcome.record, &mut alert).await;
    let state = serde_json::to_value(&alert.state).map_err(StoreError::from)?;
    let id = store.record_run_with_alerts(
        &outcome.record,
        outcome.probe_state.as_ref(),
        &state,
        &alert.outbox,
    )?;
    outcome.record.id = Some(id);
    if let Some(n) = &alert.decision.notify {
        tracing::info!(check = %check.id, kind = ?n.kind, severity = %n.severity,
            channels = alert.outbox.len(), reason = %n.reason, "notification queued");
    } else if let Some(h) = &alert.decision.held {
        tracing::info!(check = %check.id, hold = ?h, "notification held back");
    }
    Ok(Outcome {
        record: outcome.record,
        alert: Some(alert),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::policy::EventKind;
    use crate::status::Status;
    use crate::store::OutboxFilter;

    /// A check that always fails (`false` exits 1: warning, by the plugin contract) and
    /// alerts one channel, loaded from real files.
    fn failing_app(dir: &std::path::Path) -> App {
        std::fs::write(
            dir.join("patrol.yaml"),
            "channels:\n  hook:\n    webhook:\n      url: http://127.0.0.1:9/hook\n\
             alerting:\n  channels: [hook]\n",
        )
        .expect("write root");
        std::fs::create_dir_all(dir.join("checks")).expect("mkdir");
        std::fs::write(
            dir.join("checks/fail.yaml"),
            "id: fail\nschedule: every 1h\nprobe:\n  command:\n    argv: [\"false\"]\n",
        )
        .expect("write check");
        let (app, problems) = App::load(&dir.join("patrol.yaml")).expect("config loads");
        assert!(problems.is_empty(), "{problems:?}");
        app
    }

    #[tokio::test]
    async fn record_only_stores_the_run_and_leaves_alerting_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let app = failing_app(dir.path());
        let store = Store::open(&dir.path().join("patrol.db")).expect("store");
        let check = app.config.check("fail").expect("check").clone();

        let tried = run(
            &app,
            &store,
            &check,
            Trigger::Manual,
            None,
            Alerting::RecordOnly,
        )
        .await
        .expect("run");
        assert!(tried.record.id.is_some());
        assert_ne!(tried.record.status, Status::Ok);
        assert!(tried.alert.is_none());
        assert_eq!(
            store.alert_state("fail").expect("state"),
            serde_json::Value::Null
        );
        assert!(
            store
                .outbox(&OutboxFilter::default())
                .expect("outbox")
                .is_empty()
        );

        let applied = run(
            &app,
            &store,
            &check,
            Trigger::Schedule,
            None,
            Alerting::Apply,
        )
        .await
        .expect("run");
        let alert = applied.alert.expect("policy applied");
        assert_eq!(
            alert.decision.notify.as_ref().map(|n| n.kind),
            Some(EventKind::Firing)
        );
        let queued = store.outbox(&OutboxFilter::default()).expect("outbox");
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].channel, "hook");
        assert_ne!(
            store.alert_state("fail").expect("state"),
            serde_json::Value::Null
        );
    }
}
