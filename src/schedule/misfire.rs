//! Misfire catch-up: which run, if any, was missed while the daemon was down.

use crate::config::{Misfire, ScheduleExpr};
use chrono::{DateTime, TimeZone, Utc};

/// The scheduled time of the run to catch up at start-up, if any.
///
/// `last_scheduled` is the scheduled time of the check's latest stored scheduled (or
/// catch-up) run. A check that never ran on schedule has missed nothing: it waits for its
/// first fire time. Otherwise, when the schedule's latest due time at or before `now` is later
/// than that run, the check missed at least one run, and it is run once, for the latest
/// missed time, however many were missed.
pub fn missed_run<Tz: TimeZone>(
    last_scheduled: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    schedule: &ScheduleExpr,
    zone: &Tz,
    policy: Misfire,
) -> Option<DateTime<Utc>> {
    if policy == Misfire::Skip {
        return None;
    }
    let last = last_scheduled?;
    let due = schedule.prev_at_or_before(now, zone)?;
    (due > last).then_some(due)
}
