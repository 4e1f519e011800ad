//! Schedule expressions: cron with seconds (6 fields), classic 5-field cron, `@hourly`,
//! `@daily`, `@weekly`, `@monthly`, `@yearly`, and `every <duration>`.
//!
//! Cron fire times are computed in the check's own time zone on the local wall clock, so a
//! `0 0 9 * * *` check runs at 09:00 local time on both sides of a DST change (its UTC instant
//! moves by an hour).
//!
//! # DST
//!
//! A cron schedule whose hour field names hours (`0 30 2 * * *`, `0 0 9 * * 1-5`,
//! `30 2,14 * * *`, `@daily`) runs at those wall-clock times. When a time does not exist
//! because the clocks spring forward (Europe/Berlin 2026-03-29: 02:00 → 03:00), the run
//! happens once, at the first instant after the gap (03:00 local); it is not skipped. When a
//! time happens twice because the clocks fall back (Europe/Berlin 2026-10-25: 03:00 → 02:00),
//! it runs once, at the first occurrence. A schedule whose hour field is `*` or a step
//! (`*/15 * * * *`, `@hourly`, `0 */2 * * *`) follows real time instead: times inside the gap
//! are skipped (no burst of runs at 03:00), and in the repeated hour it runs on both passes, so
//! the real time between runs stays as written. `every <duration>` ignores time zones
//! altogether: it counts elapsed time, aligned to the Unix epoch (`every 10m` fires at :00,
//! :10, :20 … UTC), so restarts keep the same phase.
//!
//! Why not croner alone: chaining croner 3's `find_next_occurrence` in a DST zone gets the
//! fixed-time case right, but it skips the gap run of an hour list (`30 2,14 * * *`), drops
//! the repeated hour of interval schedules, and, asked from inside the repeated hour, returns
//! the first occurrence although that is already in the past. So croner matches patterns on
//! the naive wall clock (evaluated in UTC, which has no DST) and this module maps wall-clock
//! times to instants itself.

use super::types::Dur;
use chrono::{DateTime, Duration as ChronoDuration, NaiveDateTime, Offset, TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A parsed `schedule:` value.
#[derive(Clone)]
pub struct ScheduleExpr {
    source: String,
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    Cron {
        cron: Box<Cron>,
        /// The hour field names hours (no `*`, no step): DST gaps move the run to the end of
        /// the gap and repeated hours run once. Otherwise the schedule follows real time.
        fixed_hours: bool,
    },
    Every(Duration),
}

/// Upper bound on wall-clock matches examined for one answer. Only a schedule firing every
/// second within the hour around a DST change comes near it.
const MAX_STEPS: usize = 200_000;

impl ScheduleExpr {
    /// `0 0 8 * * *` (a default for daily reports).
    pub fn daily_at_eight() -> ScheduleExpr {
        "0 0 8 * * *".parse().unwrap_or_else(|_| ScheduleExpr {
            source: "every 1d".into(),
            kind: Kind::Every(Duration::from_secs(86_400)),
        })
    }

    /// The expression as written (trimmed).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// For cron schedules: whether the hour field names hours (DST-gap times run at the end
    /// of the gap, repeated times run once) rather than `*` or a step (real time is
    /// followed). None for `every <duration>`.
    pub fn fixed_hours(&self) -> Option<bool> {
        match self.kind {
            Kind::Cron { fixed_hours, .. } => Some(fixed_hours),
            Kind::Every(_) => None,
        }
    }

    /// The period of an `every <duration>` schedule.
    pub fn every(&self) -> Option<Duration> {
        match self.kind {
            Kind::Every(d) => Some(d),
            Kind::Cron { .. } => None,
        }
    }

    /// The first fire time strictly after `after`, evaluated in `tz` (see the DST section of
    /// the module documentation). `None` when the schedule never fires again.
    pub fn next_after<Tz: TimeZone>(&self, after: DateTime<Utc>, tz: &Tz) -> Option<DateTime<Utc>> {
        let next = match &self.kind {
            Kind::Cron { cron, fixed_hours } => cron_next(cron, *fixed_hours, after, tz),
            Kind::Every(every) => {
                // Aligned to the Unix epoch so that restarts keep the same phase.
                let period = i64::try_from(every.as_millis()).ok()?.max(1);
                let now = after.timestamp_millis();
                now.div_euclid(period)
                    .checked_add(1)
                    .and_then(|k| k.checked_mul(period))
                    .and_then(DateTime::from_timestamp_millis)
            }
        };
        // Never a time at or before `after`: a caller chaining fire times must move forward.
        next.filter(|n| *n > after)
    }

    /// The last fire time at or before `at`, evaluated in `tz` (used for misfire catch-up).
    pub fn prev_at_or_before<Tz: TimeZone>(
        &self,
        at: DateTime<Utc>,
        tz: &Tz,
    ) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Cron { cron, fixed_hours } => cron_prev(cron, *fixed_hours, at, tz),
            Kind::Every(every) => {
                let period = i64::try_from(every.as_millis()).ok()?.max(1);
                let now = at.timestamp_millis();
                now.div_euclid(period)
                    .checked_mul(period)
                    .and_then(DateTime::from_timestamp_millis)
                    .filter(|p| *p <= at)
            }
        }
    }

    /// The typical time between two runs (smallest gap among the next few fire times).
    pub fn nominal_period(&self) -> Duration {
        match &self.kind {
            Kind::Every(every) => *every,
            Kind::Cron { .. } => {
                let mut t = reference_time();
                let mut best: Option<Duration> = None;
                for _ in 0..8 {
                    let Some(n) = self.next_after(t, &Utc) else {
                        break;
                    };
                    if let Some(m) = self.next_after(n, &Utc) {
                        let gap = (m - n).to_std().unwrap_or_default();
                        best = Some(best.map_or(gap, |b| b.min(gap)));
                    }
                    t = n;
                }
                best.unwrap_or(Duration::from_secs(86_400))
            }
        }
    }
}

/// A fixed, arbitrary start for questions about a schedule's shape (a Monday).
fn reference_time() -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_862_400, 0).unwrap_or_default() // 2025-01-03 00:00:00Z
}

/// Seconds east of UTC of `tz` at `t`.
fn offset_at<Tz: TimeZone>(tz: &Tz, t: DateTime<Utc>) -> i64 {
    i64::from(
        tz.offset_from_utc_datetime(&t.naive_utc())
            .fix()
            .local_minus_utc(),
    )
}

fn floor_second(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

fn secs(n: i64) -> ChronoDuration {
    ChronoDuration::seconds(n)
}

/// The next wall-clock time matching `cron` strictly after `w` (croner in UTC = naive time).
fn wall_next(cron: &Cron, w: NaiveDateTime) -> Option<NaiveDateTime> {
    cron.find_next_occurrence(&Utc.from_utc_datetime(&w), false)
        .ok()
        .map(|t| t.naive_utc())
}

/// The last wall-clock time matching `cron` before `w` (or at `w` when `inclusive`).
fn wall_prev(cron: &Cron, w: NaiveDateTime, inclusive: bool) -> Option<NaiveDateTime> {
    cron.find_previous_occurrence(&Utc.from_utc_datetime(&w), inclusive)
        .ok()
        .map(|t| t.naive_utc())
}

/// The instants at which a matching wall-clock time `w` fires, and, when `w` lies in a DST
/// gap, the end of that gap (every wall-clock time of the gap maps to the same instant).
fn instants<Tz: TimeZone>(
    w: NaiveDateTime,
    tz: &Tz,
    fixed_hours: bool,
) -> (Vec<DateTime<Utc>>, Option<DateTime<Utc>>) {
    use chrono::LocalResult;
    match tz.from_local_datetime(&w) {
        LocalResult::Single(t) => (vec![t.with_timezone(&Utc)], None),
        LocalResult::Ambiguous(a, b) => {
            let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
            let (first, second) = if a <= b { (a, b) } else { (b, a) };
            if fixed_hours {
                (vec![first], None)
            } else {
                (vec![first, second], None)
            }
        }
        LocalResult::None => {
            let end = gap_end(w, tz);
            match (fixed_hours, end) {
                (true, Some(e)) => (vec![e], Some(e)),
                (_, end) => (Vec::new(), end),
            }
        }
    }
}

/// The first instant whose local wall-clock time is after `w`, a time inside a DST gap.
fn gap_end<Tz: TimeZone>(w: NaiveDateTime, tz: &Tz) -> Option<DateTime<Utc>> {
    let valid = |n: NaiveDateTime| tz.from_local_datetime(&n).earliest();
    // Whole minutes first (real gaps end on a minute), then the seconds before that minute.
    let mut n = w;
    for _ in 0..(48 * 60) {
        n += secs(60);
        if let Some(t) = valid(n) {
            let mut first = t;
            for k in 1..60 {
                let c = n - secs(k);
                if c <= w {
                    break;
                }
                match valid(c) {
                    Some(t) => first = t,
                    None => break,
                }
            }
            return Some(first.with_timezone(&Utc));
        }
    }
    None
}

fn cron_next<Tz: TimeZone>(
    cron: &Cron,
    fixed_hours: bool,
    after: DateTime<Utc>,
    tz: &Tz,
) -> Option<DateTime<Utc>> {
    let after = floor_second(after);
    let off_now = offset_at(tz, after);
    // A fire time shortly after `after` can have an earlier wall-clock time than `after` when
    // the clocks fall back in between: start the search that much earlier.
    let drop = (off_now - offset_at(tz, after + ChronoDuration::days(1))).max(0);
    let margin = (off_now - offset_at(tz, after + secs(drop))).max(0);
    let mut high_off = off_now.max(offset_at(tz, after + ChronoDuration::days(1)));
    let mut w = after.naive_utc() + secs(off_now - margin);
    let mut best: Option<DateTime<Utc>> = None;
    for _ in 0..MAX_STEPS {
        let Some(next) = wall_next(cron, w) else {
            break;
        };
        // Every instant of a later wall-clock time is at least `next - high_off`.
        if let Some(b) = best
            && next - secs(high_off) > b.naive_utc()
        {
            break;
        }
        let (found, gap) = instants(next, tz, fixed_hours);
        for t in found {
            if t > after && best.is_none_or(|b| t < b) {
                best = Some(t);
                high_off = high_off
                    .max(offset_at(tz, t))
                    .max(offset_at(tz, t - ChronoDuration::days(1)));
            }
        }
        w = match gap {
            // All times of the gap fire at its end: continue from the last second before it.
            Some(end) => (end.naive_utc() + secs(offset_at(tz, end)) - secs(1)).max(next),
            None => next,
        };
    }
    best
}

fn cron_prev<Tz: TimeZone>(
    cron: &Cron,
    fixed_hours: bool,
    at: DateTime<Utc>,
    tz: &Tz,
) -> Option<DateTime<Utc>> {
    let at = floor_second(at);
    let off_now = offset_at(tz, at);
    // A fire time shortly before `at` can have a later wall-clock time than `at` when the
    // clocks fell back in between.
    let rise = (offset_at(tz, at - ChronoDuration::days(1)) - off_now).max(0);
    let margin = (offset_at(tz, at - secs(rise)) - off_now).max(0);
    let mut low_off = off_now.min(offset_at(tz, at - ChronoDuration::days(1)));
    let mut w = at.naive_utc() + secs(off_now + margin);
    let mut inclusive = true;
    let mut best: Option<DateTime<Utc>> = None;
    for _ in 0..MAX_STEPS {
        let Some(prev) = wall_prev(cron, w, inclusive) else {
            break;
        };
        inclusive = false;
        // Every instant of an earlier wall-clock time is at most `prev - low_off`.
        if let Some(b) = best
            && prev - secs(low_off) < b.naive_utc()
        {
            break;
        }
        let (found, gap) = instants(prev, tz, fixed_hours);
        for t in found {
            if t <= at && best.is_none_or(|b| t > b) {
                best = Some(t);
                low_off = low_off
                    .min(offset_at(tz, t))
                    .min(offset_at(tz, t + ChronoDuration::days(1)));
            }
        }
        w = match gap {
            // Continue from the first wall-clock second of the gap (exclusive search).
            Some(end) => {
                let before = end - secs(1);
                (before.naive_utc() + secs(offset_at(tz, before)) + secs(1)).min(prev)
            }
            None => prev,
        };
    }
    best
}

impl FromStr for ScheduleExpr {
    type Err = String;
    fn from_str(s: &str) -> Result<ScheduleExpr, String> {
        let t = s.trim();
        if let Some(d) = t.strip_prefix("every") {
            let d = d.trim();
            if d.is_empty() {
                return Err(format!(
                    "schedule {s:?}: `every` needs a duration, e.g. `every 10m`"
                ));
            }
            let every = d
                .parse::<Dur>()
                .map_err(|e| format!("schedule {s:?}: {e}"))?
                .0;
            // Out of range, a period would overflow the epoch arithmetic below (fire times
            // going backwards, a check run in a tight loop).
            let (min, max) = (super::bounds::MIN_EVERY, super::bounds::MAX_EVERY);
            let short = super::bounds::short;
            if every < min {
                return Err(format!(
                    "schedule {s:?}: the period must be at least {} (and at most {})",
                    short(min),
                    short(max)
                ));
            }
            if every > max {
                return Err(format!(
                    "schedule {s:?}: the period must be at most {} (use a cron expression such as @yearly for rarer runs)",
                    short(max)
                ));
            }
            return Ok(ScheduleExpr {
                source: t.to_string(),
                kind: Kind::Every(every),
            });
        }
        let pattern = match t {
            "@yearly" | "@annually" => "0 0 0 1 1 *",
            "@monthly" => "0 0 0 1 * *",
            "@weekly" => "0 0 0 * * 0",
            "@daily" | "@midnight" => "0 0 0 * * *",
            "@hourly" => "0 0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "unknown schedule {s:?}: use @hourly, @daily, @weekly, @monthly, @yearly, cron or `every <duration>`"
                ));
            }
            other => other,
        };
        let fields: Vec<&str> = pattern.split_whitespace().collect();
        if !(5..=6).contains(&fields.len()) {
            return Err(format!(
                "invalid cron {s:?}: expected 5 fields (minute hour day month weekday) or 6 (with seconds first), found {}",
                fields.len()
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| format!("invalid cron {s:?}: {e}"))?;
        let hour = if fields.len() == 6 {
            fields[2]
        } else {
            fields[1]
        };
        let expr = ScheduleExpr {
            source: t.to_string(),
            kind: Kind::Cron {
                cron: Box::new(cron),
                fixed_hours: !hour.contains(['*', '/']),
            },
        };
        if expr.next_after(reference_time(), &Utc).is_none() {
            return Err(format!(
                "invalid cron {s:?}: it never fires (no such date, e.g. 30 February)"
            ));
        }
        Ok(expr)
    }
}

impl fmt::Debug for ScheduleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source())
    }
}

impl fmt::Display for ScheduleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source())
    }
}

impl PartialEq for ScheduleExpr {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl<'de> Deserialize<'de> for ScheduleExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for ScheduleExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.source())
    }
}

impl JsonSchema for ScheduleExpr {
    fn schema_name() -> Cow<'static, str> {
        "Schedule".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Cron with seconds (`0 30 7 * * *`), 5-field cron (`30 7 * * *`), @hourly/@daily/@weekly/@monthly/@yearly, or `every 10m`."
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("test timestamp")
    }

    #[test]
    fn gap_end_is_the_first_instant_after_the_gap() {
        let w = NaiveDateTime::parse_from_str("2026-03-29 02:30:00", "%Y-%m-%d %H:%M:%S")
            .expect("naive");
        assert_eq!(gap_end(w, &Berlin), Some(utc("2026-03-29T01:00:00Z")));
    }

    #[test]
    fn sub_second_inputs_are_floored() {
        let s: ScheduleExpr = "* * * * * *".parse().expect("parse");
        let t = utc("2026-01-01T00:00:00.700Z");
        assert_eq!(s.next_after(t, &Utc), Some(utc("2026-01-01T00:00:01Z")));
        assert_eq!(
            s.prev_at_or_before(t, &Utc),
            Some(utc("2026-01-01T00:00:00Z"))
        );
    }

    #[test]
    fn hour_lists_count_as_fixed_hours_and_steps_do_not() {
        let fixed = |s: &str| match s.parse::<ScheduleExpr>().expect("parse").kind {
            Kind::Cron { fixed_hours, .. } => fixed_hours,
            Kind::Every(_) => panic!("not cron"),
        };
        assert!(fixed("0 30 2 * * *"));
        assert!(fixed("30 2,14 * * *"));
        assert!(fixed("@daily"));
        assert!(!fixed("@hourly"));
        assert!(!fixed("*/15 * * * *"));
        assert!(!fixed("0 0 */2 * * *"));
    }
}
