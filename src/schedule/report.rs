//! When the periodic report (root `report:`) is built and queued: the daemon's report loop.
//! What the report says is [`crate::alert::report`]'s.

use crate::alert::report::{build_report, outbox_items, report_zone};
use crate::app::App;
use crate::store::Store;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The daemon's report loop: at every fire time of `report.schedule` (in [`report_zone`]),
/// builds the report of the period since the previous one (at start-up: one period back)
/// and queues it for every report channel; the delivery worker sends it. Follows reloads
/// through `app`; ends when its sender is dropped.
pub async fn run_reports(store: Arc<Store>, mut app: watch::Receiver<Arc<App>>) {
    // The end of the period of the previous report; kept across reloads.
    let mut last: Option<DateTime<Utc>> = None;
    loop {
        let current = app.borrow_and_update().clone();
        let Some(cfg) = current.config.root.report.clone() else {
            // No report configured: wait for a reload that may add one.
            if app.changed().await.is_err() {
                return;
            }
            continue;
        };
        let zone = report_zone(&current.config);
        let Some(at) = cfg.schedule.next_after(Utc::now(), &zone) else {
            tracing::warn!(schedule = %cfg.schedule, "the report schedule never fires again");
            if app.changed().await.is_err() {
                return;
            }
            continue;
        };
        // In steps of at most a minute, re-reading the wall clock (as the check scheduler).
        let wait = (at - Utc::now()).to_std().unwrap_or_default();
        tokio::select! {
            changed = app.changed() => {
                if changed.is_err() {
                    return;
                }
                continue;
            }
            _ = tokio::time::sleep(wait.min(Duration::from_secs(60))) => {}
        }
        let now = Utc::now();
        if now < at {
            continue;
        }
        let period = chrono::Duration::from_std(cfg.schedule.nominal_period()).unwrap_or_default();
        let since = last.unwrap_or(now - period);
        let (a, s) = (current.clone(), store.clone());
        let queued = tokio::task::spawn_blocking(move || -> Result<(String, usize), String> {
            let event = build_report(&a.config, &s, since, now).map_err(|e| e.to_string())?;
            let items = outbox_items(&a.config, &event).map_err(|e| e.to_string())?;
            s.enqueue(&items).map_err(|e| e.to_string())?;
            Ok((event.result.summary, items.len()))
        })
        .await
        .map_err(|e| e.to_string())
        .and_then(|r| r);
        match queued {
            Ok((summary, channels)) => {
                tracing::info!(channels, %summary, "report queued");
                last = Some(now);
            }
            Err(e) => tracing::error!(error = %e, "the report could not be built or queued"),
        }
    }
}
