//! What the daemon tells about itself: when it started, how many scheduled runs it made and
//! how many it missed. Kept in the store's `store_meta` table (no schema change), so the
//! daily report and `patrol report` read it from any process (the report words it:
//! `alert::report`).
//!
//! A run counts as *missed* when a fire time of an enabled check passed without a run:
//! the previous run of the same check was still going (overlap), the daemon was too late to
//! run it (a suspended machine, a clock step: it runs once, not once per passed time), or the
//! daemon was down then (counted at start-up; a `misfire: run_once` catch-up run makes up
//! for one of them).

use crate::config::ScheduleExpr;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;

/// `store_meta` keys.
pub const STARTED_AT: &str = "daemon_started_at";
pub const STOPPED_AT: &str = "daemon_stopped_at";
pub const RUNS_MISSED: &str = "daemon_runs_missed";

/// Counting missed fire times stops here (an `every 1s` check down for a month).
const COUNT_CAP: u64 = 1_000_000;

/// The daemon's own figures, as the report shows them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DaemonFacts {
    /// When the current (or latest) daemon started.
    pub started_at: DateTime<Utc>,
    /// When it stopped; None while it runs (or when it was killed).
    pub stopped_at: Option<DateTime<Utc>>,
    /// Scheduled runs (triggers `schedule` and `misfire`) started since it started.
    pub runs: u64,
    /// Fire times that passed without a run since it started (see the module docs).
    pub missed: u64,
}

/// Reads the daemon's figures; None when no daemon ever used this store.
pub fn daemon_facts(store: &Store) -> Result<Option<DaemonFacts>, StoreError> {
    let Some(started_at) = store.meta_time(STARTED_AT)? else {
        return Ok(None);
    };
    let stopped_at = match store.meta_text(STOPPED_AT)?.filter(|s| !s.is_empty()) {
        Some(_) => store.meta_time(STOPPED_AT)?,
        None => None,
    };
    let missed = store
        .meta_text(RUNS_MISSED)?
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok(Some(DaemonFacts {
        started_at,
        stopped_at,
        runs: store.count_scheduled_runs_since(started_at)?,
        missed,
    }))
}

/// Records a daemon start: the start time, no stop time, no missed run yet.
pub fn record_start(store: &Store, at: DateTime<Utc>) -> Result<(), StoreError> {
    store.set_meta_time(STARTED_AT, at)?;
    store.set_meta_text(STOPPED_AT, "")?;
    store.set_meta_text(RUNS_MISSED, "0")
}

/// Records a clean stop.
pub fn record_stop(store: &Store, at: DateTime<Utc>) -> Result<(), StoreError> {
    store.set_meta_time(STOPPED_AT, at)
}

/// Records the missed-run count.
pub fn record_missed(store: &Store, missed: u64) -> Result<(), StoreError> {
    store.set_meta_text(RUNS_MISSED, &missed.to_string())
}

/// How many fire times of `schedule` lie in `(after, until]`.
pub fn fire_times_between<Tz: chrono::TimeZone>(
    schedule: &ScheduleExpr,
    zone: &Tz,
    after: DateTime<Utc>,
    until: DateTime<Utc>,
) -> u64 {
    if until <= after {
        return 0;
    }
    if let Some(every) = schedule.every() {
        // Epoch-aligned multiples of the period.
        let p = i64::try_from(every.as_millis().max(1)).unwrap_or(i64::MAX);
        let n = until.timestamp_millis().div_euclid(p) - after.timestamp_millis().div_euclid(p);
        return u64::try_from(n).unwrap_or(0).min(COUNT_CAP);
    }
    let mut n = 0;
    let mut t = after;
    while n < COUNT_CAP {
        match schedule.next_after(t, zone) {
            Some(next) if next <= until => {
                n += 1;
                t = next;
            }
            _ => break,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn fire_times_are_counted_in_the_half_open_interval() {
        let every: ScheduleExpr = "every 10m".parse().expect("parse");
        let cron: ScheduleExpr = "*/10 * * * *".parse().expect("parse");
        let (a, b) = (t("2026-01-01T00:00:00Z"), t("2026-01-01T01:00:00Z"));
        assert_eq!(fire_times_between(&every, &Utc, a, b), 6);
        assert_eq!(fire_times_between(&cron, &Utc, a, b), 6);
        assert_eq!(fire_times_between(&cron, &Utc, b, a), 0);
    }

    #[test]
    fn start_stop_and_missed_runs_round_trip_through_store_meta() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("p.db")).expect("open");
        assert_eq!(daemon_facts(&store).expect("read"), None);
        let start = t("2026-01-01T00:00:00Z");
        record_start(&store, start).expect("start");
        record_missed(&store, 3).expect("missed");
        let f = daemon_facts(&store).expect("read").expect("facts");
        assert_eq!(
            (f.started_at, f.stopped_at, f.runs, f.missed),
            (start, None, 0, 3)
        );
        record_stop(&store, t("2026-01-02T00:00:00Z")).expect("stop");
        let f = daemon_facts(&store).expect("read").expect("facts");
        assert_eq!(f.stopped_at, Some(t("2026-01-02T00:00:00Z")));
    }
}
