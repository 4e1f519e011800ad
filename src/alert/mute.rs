//! Which hold (maintenance window or silence) applies to a check at a given time. Pure.

use super::policy::Hold;
use crate::config::{MaintenanceWindow, Weekday};
use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};

/// A one-off silence (`patrol silence add`); the store keeps it.
pub use crate::store::Silence;

impl Silence {
    /// Whether the silence covers the check (by id or tag) at `at`.
    pub fn matches(&self, check_id: &str, tags: &[String], at: DateTime<Utc>) -> bool {
        let target = match (&self.check, &self.tag) {
            (Some(c), _) => names_check(c, check_id),
            (None, Some(t)) => tags.iter().any(|x| x == t),
            (None, None) => false,
        };
        target && self.starts_at <= at && at < self.ends_at
    }
}

/// Whether `name` (a silence's or window's check) names `check_id`: the id itself, or the
/// id as written in the check file of a per-console check (`hyperbdr-rpo-delay` names
/// `hyperbdr-rpo-delay@main`).
pub fn names_check(name: &str, check_id: &str) -> bool {
    name == check_id
        || check_id
            .split_once('@')
            .is_some_and(|(base, _)| base == name)
}

fn weekday_matches(days: &[Weekday], d: chrono::Weekday) -> bool {
    days.is_empty()
        || days.iter().any(|w| {
            matches!(
                (w, d),
                (Weekday::Mon, chrono::Weekday::Mon)
                    | (Weekday::Tue, chrono::Weekday::Tue)
                    | (Weekday::Wed, chrono::Weekday::Wed)
                    | (Weekday::Thu, chrono::Weekday::Thu)
                    | (Weekday::Fri, chrono::Weekday::Fri)
                    | (Weekday::Sat, chrono::Weekday::Sat)
                    | (Weekday::Sun, chrono::Weekday::Sun)
            )
        })
}

/// Whether the window is open at `at`. Windows are anchored to local wall-clock time in their
/// zone; one that opens in a DST gap opens at the first instant after it.
pub fn window_open(w: &MaintenanceWindow, default_zone: chrono_tz::Tz, at: DateTime<Utc>) -> bool {
    let start = w.start.time();
    let zone = w.timezone.map(|z| z.0).unwrap_or(default_zone);
    let local = at.with_timezone(&zone);
    let length = Duration::from_std(w.duration.as_duration()).unwrap_or_default();
    // A window may have opened on an earlier day and still be open (long or overnight windows).
    let days_back = length.num_days() + 1;
    (0..=days_back).any(|back| {
        let day = local.date_naive() - Duration::days(back);
        if !weekday_matches(&w.days, day.weekday()) {
            return false;
        }
        let naive = day.and_time(start);
        let opened = match zone.from_local_datetime(&naive) {
            chrono::LocalResult::Single(t) => t,
            chrono::LocalResult::Ambiguous(first, _) => first,
            chrono::LocalResult::None => {
                match zone.from_local_datetime(&(naive + Duration::hours(1))) {
                    chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => t,
                    chrono::LocalResult::None => return false,
                }
            }
        }
        .with_timezone(&Utc);
        opened <= at && at < opened + length
    })
}

/// The hold that applies to a check now: a maintenance window first, then a silence.
pub fn hold_for(
    check_id: &str,
    tags: &[String],
    windows: &[MaintenanceWindow],
    silences: &[Silence],
    default_zone: chrono_tz::Tz,
    at: DateTime<Utc>,
) -> Option<Hold> {
    for w in windows {
        let applies = (w.checks.is_empty() && w.tags.is_empty())
            || w.checks.iter().any(|c| names_check(c, check_id))
            || w.tags.iter().any(|t| tags.contains(t));
        if applies && window_open(w, default_zone, at) {
            return Some(Hold::Maintenance(w.name.clone()));
        }
    }
    silences
        .iter()
        .find(|s| s.matches(check_id, tags, at))
        .map(|s| Hold::Silence(format!("#{} {}", s.id, s.reason)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Dur;

    #[test]
    fn a_base_id_names_every_console_instance() {
        assert!(names_check("hyperbdr-rpo-delay", "hyperbdr-rpo-delay"));
        assert!(names_check("hyperbdr-rpo-delay", "hyperbdr-rpo-delay@main"));
        assert!(names_check(
            "hyperbdr-rpo-delay@main",
            "hyperbdr-rpo-delay@main"
        ));
        assert!(!names_check(
            "hyperbdr-rpo-delay@main",
            "hyperbdr-rpo-delay@site-b"
        ));
        assert!(!names_check("hyperbdr-rpo", "hyperbdr-rpo-delay@main"));
    }

    fn window(days: Vec<Weekday>, start: &str, hours: u64, zone: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            name: "patching".into(),
            days,
            start: start.parse().expect("start"),
            duration: Dur::secs(hours * 3600),
            timezone: Some(crate::config::Zone(zone.parse().expect("zone"))),
            checks: vec![],
            tags: vec!["backup".into()],
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .with_timezone(&Utc)
    }

    #[test]
    fn weekly_window_in_its_zone() {
        // Sunday 02:00-04:00 Shanghai = Saturday 18:00-20:00 UTC.
        let w = window(vec![Weekday::Sun], "02:00", 2, "Asia/Shanghai");
        assert!(!window_open(
            &w,
            chrono_tz::UTC,
            utc("2026-11-28T17:59:59Z")
        ));
        assert!(window_open(&w, chrono_tz::UTC, utc("2026-11-28T18:00:00Z")));
        assert!(window_open(&w, chrono_tz::UTC, utc("2026-11-28T19:59:59Z")));
        assert!(!window_open(
            &w,
            chrono_tz::UTC,
            utc("2026-11-28T20:00:00Z")
        ));
        assert!(
            !window_open(&w, chrono_tz::UTC, utc("2026-11-29T18:30:00Z")),
            "Monday is not Sunday"
        );
    }

    #[test]
    fn overnight_window_spans_midnight() {
        let w = window(vec![Weekday::Fri], "22:00", 4, "UTC");
        assert!(
            window_open(&w, chrono_tz::UTC, utc("2026-11-28T01:00:00Z")),
            "Saturday 01:00 is in Friday's window"
        );
        assert!(!window_open(
            &w,
            chrono_tz::UTC,
            utc("2026-11-28T02:00:00Z")
        ));
    }

    #[test]
    fn window_opening_in_a_dst_gap_opens_after_it() {
        // Europe/Berlin skips 02:00-03:00 on 2026-03-29.
        let w = window(vec![], "02:30", 1, "Europe/Berlin");
        assert!(
            window_open(&w, chrono_tz::UTC, utc("2026-03-29T01:45:00Z")),
            "03:45 CEST"
        );
        assert!(!window_open(
            &w,
            chrono_tz::UTC,
            utc("2026-03-29T00:45:00Z")
        ));
    }

    #[test]
    fn holds_by_tag_check_and_silence() {
        let w = window(vec![], "00:00", 1, "UTC");
        let at = utc("2026-11-28T00:30:00Z");
        let tags = vec!["backup".to_string()];
        assert_eq!(
            hold_for(
                "x",
                &tags,
                std::slice::from_ref(&w),
                &[],
                chrono_tz::UTC,
                at
            ),
            Some(Hold::Maintenance("patching".into()))
        );
        assert_eq!(
            hold_for("x", &[], std::slice::from_ref(&w), &[], chrono_tz::UTC, at),
            None,
            "tag does not match"
        );
        let s = Silence {
            id: 7,
            check: Some("x".into()),
            tag: None,
            starts_at: utc("2026-11-28T00:00:00Z"),
            ends_at: utc("2026-11-28T02:00:00Z"),
            reason: "replacing disk".into(),
            created_by: "ops".into(),
        };
        assert_eq!(
            hold_for("x", &[], &[], std::slice::from_ref(&s), chrono_tz::UTC, at),
            Some(Hold::Silence("#7 replacing disk".into()))
        );
        assert_eq!(
            hold_for(
                "x",
                &[],
                &[],
                std::slice::from_ref(&s),
                chrono_tz::UTC,
                utc("2026-11-28T02:00:00Z")
            ),
            None,
            "expired"
        );
    }
}
