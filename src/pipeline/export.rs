//! Log export on firing: a check with `on_failure: export_logs` exports those sources when
//! its alert fires, before the run and its notifications are stored.

use super::decide::AlertOutcome;
use crate::alert::policy::EventKind;
use crate::app::App;
use crate::config::Check;
use crate::store::RunRecord;

/// A firing alert of a check with `on_failure: export_logs` exports those sources first; the
/// run and the alert carry the bundle path as the fact `log_bundle` (or `log_bundle_error`).
pub async fn export_logs_on_firing(
    app: &App,
    check: &Check,
    run: &mut RunRecord,
    alert: &mut AlertOutcome,
) {
    let firing = matches!(&alert.decision.notify, Some(n) if n.kind == EventKind::Firing);
    if !firing || check.def.on_failure.export_logs.is_empty() {
        return;
    }
    let (key, value) = match crate::logs::export_for_check(&app.config, check, run.started_at).await
    {
        Ok(r) => {
            tracing::info!(check = %check.id, bundle = %r.path.display(), "logs exported");
            ("log_bundle", r.path.display().to_string())
        }
        Err(e) => {
            tracing::warn!(check = %check.id, error = %e, "log export failed");
            ("log_bundle_error", e.to_string())
        }
    };
    run.facts.insert(key.into(), value.clone().into());
    for item in &mut alert.outbox {
        if let Some(facts) = item
            .event
            .pointer_mut("/result/facts")
            .and_then(|f| f.as_object_mut())
        {
            facts.insert(key.into(), value.clone().into());
        }
    }
}
