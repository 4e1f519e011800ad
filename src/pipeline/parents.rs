//! Parents judge first. A bad run of a check with `depends_on` is decided only once every
//! parent has a result at least as new as that run: a parent whose last result is older runs
//! now (trigger `dependency`), through the same pipeline. So when a console fails, its API
//! check fires (listing the checks it holds) and the console's other checks are held —
//! even when they all came due in the same second as the parent, or before it ever ran.
//!
//! Runs of one check never overlap in the process: each takes the check's lock, and a bad
//! dependent waits on its parent's lock, so twenty dependents that fail together share one
//! run of the parent. The configuration has no dependency cycles (the loader refuses them),
//! so the waits always end.

use super::{Alerting, PipelineError};
use crate::app::App;
use crate::config::Check;
use crate::store::{Store, Trigger};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

type CheckLock = Arc<tokio::sync::Mutex<()>>;

/// One lock per check id, process-wide.
static LOCKS: LazyLock<Mutex<HashMap<String, CheckLock>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The lock a run of `id` holds.
pub(super) fn lock_of(id: &str) -> CheckLock {
    let mut locks = LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    locks.entry(id.to_string()).or_default().clone()
}

/// Makes every enabled parent of `check` judge no earlier than `since` (the start of the
/// dependent's bad run): waits for a parent run in progress, and runs a parent whose last
/// result is older. Errors of a parent's run are logged, not returned: the dependent's own
/// result must be stored whatever happened to its parent.
pub(super) fn refresh<'a>(
    app: &'a App,
    store: &'a Store,
    check: &'a Check,
    since: DateTime<Utc>,
) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        for parent_id in &check.depends_on {
            let Some(parent) = app.config.check(parent_id).filter(|p| p.def.enabled) else {
                continue;
            };
            let lock = lock_of(parent_id);
            let _held = lock.lock().await;
            let fresh = match store.check_state(parent_id) {
                Ok(state) => state.is_some_and(|s| s.last_run >= since),
                Err(e) => {
                    tracing::warn!(check = %check.id, parent = %parent_id, "cannot read the parent's state: {e}");
                    true
                }
            };
            if fresh {
                continue;
            }
            tracing::debug!(check = %check.id, parent = %parent_id, "running the parent first");
            let parent = parent.clone();
            let run: Result<_, PipelineError> = super::run_locked(
                app,
                store,
                &parent,
                Trigger::Dependency,
                None,
                Alerting::Apply,
            )
            .await;
            if let Err(e) = run {
                tracing::warn!(check = %check.id, parent = %parent_id, "the parent's run could not be stored: {e}");
            }
        }
    })
}
