//! The daemon's housekeeping on tokio-cron-scheduler: store retention once at start and then
//! hourly. Its jobs run in UTC, where the DST pitfalls that keep checks off it do not matter.

use crate::config::{Dur, StoreConfig};
use crate::store::Store;
use std::sync::{Arc, Mutex};
use tokio_cron_scheduler::{Job, JobScheduler, JobSchedulerError};

/// The retention limits in force (reloads replace them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retention {
    pub max_age: Dur,
    pub max_runs_per_check: u32,
}

impl From<&StoreConfig> for Retention {
    fn from(s: &StoreConfig) -> Self {
        Retention {
            max_age: s.max_age,
            max_runs_per_check: s.max_runs_per_check,
        }
    }
}

pub(crate) type SharedRetention = Arc<Mutex<Retention>>;

/// Deletes old runs now, on a blocking thread, and logs what happened.
pub(crate) async fn apply_retention(store: Arc<Store>, settings: SharedRetention) {
    let r = *settings.lock().unwrap_or_else(|e| e.into_inner());
    let result = tokio::task::spawn_blocking(move || {
        store.apply_retention(r.max_age.as_duration(), r.max_runs_per_check)
    })
    .await;
    match result {
        Ok(Ok(0)) => tracing::debug!("retention: nothing to delete"),
        Ok(Ok(deleted)) => tracing::info!(
            deleted,
            max_age = %r.max_age,
            max_runs_per_check = r.max_runs_per_check,
            "retention: old runs deleted"
        ),
        Ok(Err(e)) => tracing::warn!("retention failed: {e}"),
        Err(e) => tracing::warn!("retention task failed: {e}"),
    }
}

/// Starts the scheduler with the hourly retention job.
pub(crate) async fn start(
    store: Arc<Store>,
    settings: SharedRetention,
) -> Result<JobScheduler, JobSchedulerError> {
    let sched = JobScheduler::new().await?;
    let job = Job::new_async("0 0 * * * *", move |_id, _sched| {
        let (store, settings) = (store.clone(), settings.clone());
        Box::pin(apply_retention(store, settings))
    })?;
    sched.add(job).await?;
    sched.start().await?;
    Ok(sched)
}
