//! What a run needs from earlier runs of its check: the probe's remembered state and the
//! rule's `history`.

use crate::app::App;
use crate::rule::HistoryEntry;
use crate::store::{Store, StoreError};

/// What a run needs from earlier runs.
#[derive(Debug, Clone, Default)]
pub struct RunInputs {
    pub probe_state: serde_json::Value,
    /// Oldest first.
    pub history: Vec<HistoryEntry>,
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
