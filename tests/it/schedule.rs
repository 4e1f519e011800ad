//! Schedule expressions and the misfire decision: pure, fast, no daemon.

use chrono::{DateTime, Duration, TimeZone, Utc};
use chrono_tz::America::New_York;
use chrono_tz::Europe::Berlin;
use chrono_tz::Tz;
use patrol::config::{Misfire, ScheduleExpr};
use patrol::schedule::missed_run;

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().expect("test timestamp")
}

fn sched(s: &str) -> ScheduleExpr {
    s.parse()
        .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
}

fn local(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .earliest()
        .expect("local time exists")
        .with_timezone(&Utc)
}

/// The next `n` fire times after `from`.
fn fires(s: &ScheduleExpr, from: DateTime<Utc>, tz: &Tz, n: usize) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut t = from;
    for _ in 0..n {
        t = s.next_after(t, tz).expect("fires again");
        out.push(t);
    }
    out
}

// --- DST: Europe/Berlin, clocks go 02:00 -> 03:00 on 2026-03-29 and 03:00 -> 02:00 on 2026-10-25.

#[test]
fn berlin_spring_gap_daily_0230_runs_once_at_0300() {
    let s = sched("0 30 2 * * *");
    let got = fires(&s, local(Berlin, 2026, 3, 27, 12, 0), &Berlin, 3);
    assert_eq!(
        got,
        vec![
            utc("2026-03-28T01:30:00Z"), // 02:30 CET
            utc("2026-03-29T01:00:00Z"), // 02:30 does not exist: 03:00 CEST
            utc("2026-03-30T00:30:00Z"), // 02:30 CEST
        ]
    );
}

#[test]
fn berlin_autumn_overlap_daily_0230_runs_once_at_the_first_occurrence() {
    let s = sched("0 30 2 * * *");
    let got = fires(&s, local(Berlin, 2026, 10, 24, 12, 0), &Berlin, 2);
    assert_eq!(
        got,
        vec![
            utc("2026-10-25T00:30:00Z"), // 02:30 CEST, the first of the two
            utc("2026-10-26T01:30:00Z"), // 02:30 CET the next day
        ]
    );
    // Asked from inside the repeated hour (02:10 CET, after the first 02:30 has passed): the
    // answer is tomorrow, never a time in the past and never the second 02:30.
    let inside = utc("2026-10-25T01:10:00Z");
    assert_eq!(
        s.next_after(inside, &Berlin),
        Some(utc("2026-10-26T01:30:00Z"))
    );
    // From the first pass before 02:30 CEST: today's first occurrence.
    let first_pass = utc("2026-10-25T00:10:00Z");
    assert_eq!(
        s.next_after(first_pass, &Berlin),
        Some(utc("2026-10-25T00:30:00Z"))
    );
}

#[test]
fn nine_oclock_stays_at_nine_local_across_both_changes() {
    let s = sched("0 0 9 * * *");
    let spring = fires(&s, local(Berlin, 2026, 3, 27, 12, 0), &Berlin, 2);
    assert_eq!(
        spring,
        vec![utc("2026-03-28T08:00:00Z"), utc("2026-03-29T07:00:00Z")]
    );
    let autumn = fires(&s, local(Berlin, 2026, 10, 23, 12, 0), &Berlin, 2);
    assert_eq!(
        autumn,
        vec![utc("2026-10-24T07:00:00Z"), utc("2026-10-25T08:00:00Z")]
    );
    for t in spring.iter().chain(&autumn) {
        assert_eq!(
            t.with_timezone(&Berlin).format("%H:%M").to_string(),
            "09:00"
        );
    }
}

// --- DST: America/New_York, 02:00 -> 03:00 on 2026-03-08, 02:00 -> 01:00 on 2026-11-01.

#[test]
fn new_york_spring_gap_and_autumn_overlap() {
    let s = sched("0 30 2 * * *");
    let got = fires(&s, local(New_York, 2026, 3, 7, 12, 0), &New_York, 2);
    assert_eq!(
        got,
        vec![utc("2026-03-08T07:00:00Z"), utc("2026-03-09T06:30:00Z")] // 03:00 EDT, 02:30 EDT
    );
    // In New York the repeated hour is 01:00-02:00.
    let s = sched("0 30 1 * * *");
    let got = fires(&s, local(New_York, 2026, 10, 31, 12, 0), &New_York, 2);
    assert_eq!(
        got,
        vec![utc("2026-11-01T05:30:00Z"), utc("2026-11-02T06:30:00Z")] // 01:30 EDT once, then EST
    );
    let nine = sched("0 9 * * *");
    let got = fires(&nine, local(New_York, 2026, 10, 31, 12, 0), &New_York, 2);
    assert_eq!(
        got,
        vec![utc("2026-11-01T14:00:00Z"), utc("2026-11-02T14:00:00Z")]
    );
    let got = fires(&nine, local(New_York, 2026, 3, 7, 0, 0), &New_York, 2);
    assert_eq!(
        got,
        vec![utc("2026-03-07T14:00:00Z"), utc("2026-03-08T13:00:00Z")]
    );
}

#[test]
fn hour_lists_run_their_gap_time_at_the_end_of_the_gap() {
    let s = sched("30 2,14 * * *");
    let got = fires(&s, local(Berlin, 2026, 3, 29, 0, 0), &Berlin, 3);
    assert_eq!(
        got,
        vec![
            utc("2026-03-29T01:00:00Z"),
            utc("2026-03-29T12:30:00Z"),
            utc("2026-03-30T00:30:00Z")
        ]
    );
}

#[test]
fn interval_schedules_follow_real_time_through_dst() {
    // Autumn: `*/30 * * * *` keeps firing every 30 real minutes through the repeated hour.
    let s = sched("*/30 * * * *");
    let got = fires(&s, utc("2026-10-24T23:00:00Z"), &Berlin, 8);
    let want: Vec<_> = (1..=8)
        .map(|k| utc("2026-10-24T23:00:00Z") + Duration::minutes(30 * k))
        .collect();
    assert_eq!(got, want);
    // Spring: the times inside the gap are skipped, the rest keep their real 30-minute spacing.
    let got = fires(&s, utc("2026-03-29T00:00:00Z"), &Berlin, 3); // 01:00 CET
    assert_eq!(
        got,
        vec![
            utc("2026-03-29T00:30:00Z"), // 01:30 CET
            utc("2026-03-29T01:00:00Z"), // 03:00 CEST
            utc("2026-03-29T01:30:00Z"), // 03:30 CEST
        ]
    );
    // @hourly fires on both passes of the repeated hour: once per real hour.
    let hourly = sched("@hourly");
    let got = fires(&hourly, utc("2026-10-24T23:30:00Z"), &Berlin, 4);
    assert_eq!(
        got,
        vec![
            utc("2026-10-25T00:00:00Z"), // 02:00 CEST
            utc("2026-10-25T01:00:00Z"), // 02:00 CET
            utc("2026-10-25T02:00:00Z"), // 03:00 CET
            utc("2026-10-25T03:00:00Z"),
        ]
    );
}

/// next_after and prev_at_or_before agree on the same set of fire times, which strictly
/// increase, around both changes, in both zones, for fixed-hour and interval schedules.
#[test]
fn next_and_prev_are_consistent_around_transitions() {
    let cases: [(Tz, &str); 4] = [
        (Berlin, "2026-03-28T20:00:00Z"),
        (Berlin, "2026-10-24T20:00:00Z"),
        (New_York, "2026-03-08T00:00:00Z"),
        (New_York, "2026-10-31T20:00:00Z"),
    ];
    let exprs = [
        "0 30 2 * * *",
        "0 0 9 * * *",
        "*/20 * * * *",
        "@hourly",
        "15 1,2,3 * * *",
        "0 */7 * * * *",
        "30 * 2 * * *",
    ];
    for (tz, start) in cases {
        for e in exprs {
            let s = sched(e);
            let times = fires(&s, utc(start), &tz, 40);
            for pair in times.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                assert!(a < b, "{e} in {tz}: {a} !< {b}");
                assert_eq!(s.next_after(a, &tz), Some(b), "{e} in {tz} after {a}");
                assert_eq!(s.prev_at_or_before(b, &tz), Some(b), "{e} in {tz} at {b}");
                assert_eq!(
                    s.prev_at_or_before(b - Duration::seconds(1), &tz),
                    Some(a),
                    "{e} in {tz} before {b}"
                );
                // From any instant strictly between them, next is b and prev is a.
                let mid = a + (b - a) / 2;
                if mid > a {
                    assert_eq!(s.next_after(mid, &tz), Some(b), "{e} in {tz} from {mid}");
                    assert_eq!(
                        s.prev_at_or_before(mid, &tz),
                        Some(a),
                        "{e} in {tz} at {mid}"
                    );
                }
            }
        }
    }
}

// --- Syntax.

#[test]
fn five_field_cron_equals_six_field_with_zero_seconds() {
    for (five, six) in [
        ("30 7 * * *", "0 30 7 * * *"),
        ("*/5 * * * *", "0 */5 * * * *"),
        ("0 9 * * 1-5", "0 0 9 * * 1-5"),
        ("15 3 1 * *", "0 15 3 1 * *"),
    ] {
        let (a, b) = (sched(five), sched(six));
        let from = utc("2026-03-20T00:00:00Z");
        assert_eq!(
            fires(&a, from, &Berlin, 60),
            fires(&b, from, &Berlin, 60),
            "{five} vs {six}"
        );
    }
}

#[test]
fn macros_mean_what_they_say() {
    let from = utc("2026-05-13T10:20:30Z"); // a Wednesday
    let next = |s: &str| sched(s).next_after(from, &Utc);
    assert_eq!(next("@hourly"), Some(utc("2026-05-13T11:00:00Z")));
    assert_eq!(next("@daily"), Some(utc("2026-05-14T00:00:00Z")));
    assert_eq!(next("@midnight"), next("0 0 * * *"));
    assert_eq!(next("@weekly"), Some(utc("2026-05-17T00:00:00Z"))); // Sunday
    assert_eq!(next("@monthly"), Some(utc("2026-06-01T00:00:00Z")));
    assert_eq!(next("@yearly"), Some(utc("2027-01-01T00:00:00Z")));
    assert_eq!(next("@annually"), next("@yearly"));
    // In a zone, @daily is local midnight.
    assert_eq!(
        sched("@daily").next_after(from, &Berlin),
        Some(utc("2026-05-13T22:00:00Z"))
    );
}

#[test]
fn every_is_aligned_to_the_epoch_and_ignores_zones() {
    let s = sched("every 10m");
    assert_eq!(s.every(), Some(std::time::Duration::from_secs(600)));
    let t = utc("2026-05-13T12:03:17Z");
    assert_eq!(s.next_after(t, &Utc), Some(utc("2026-05-13T12:10:00Z")));
    assert_eq!(s.next_after(t, &Berlin), Some(utc("2026-05-13T12:10:00Z")));
    assert_eq!(
        s.next_after(utc("2026-05-13T12:10:00Z"), &Utc),
        Some(utc("2026-05-13T12:20:00Z"))
    );
    assert_eq!(
        s.prev_at_or_before(utc("2026-05-13T12:10:00Z"), &Utc),
        Some(utc("2026-05-13T12:10:00Z"))
    );
    assert_eq!(
        s.prev_at_or_before(t, &Utc),
        Some(utc("2026-05-13T12:00:00Z"))
    );
    // Across the autumn change in Berlin, `every 1h` stays one real hour apart.
    let h = sched("every 1h");
    let got = fires(&h, utc("2026-10-24T22:30:00Z"), &Berlin, 5);
    for pair in got.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::hours(1));
    }
    assert_eq!(
        sched("every 90s").every(),
        Some(std::time::Duration::from_secs(90))
    );
}

#[test]
fn bad_expressions_are_rejected_with_a_clear_message() {
    for (bad, hint) in [
        ("61 * * * *", "invalid cron \"61 * * * *\""),
        ("* * *", "expected 5 fields"),
        ("0 0 * * * * 2026", "found 7"),
        ("*/0 * * * *", "Step cannot be zero"),
        ("0 0 0 30 2 *", "never fires"),
        ("@often", "use @hourly, @daily"),
        ("every", "`every` needs a duration"),
        ("every soon", "invalid duration"),
        ("every 500ms", "at least 1s"),
        ("", "expected 5 fields"),
    ] {
        match bad.parse::<ScheduleExpr>() {
            Ok(_) => panic!("{bad:?} was accepted"),
            Err(msg) => assert!(msg.contains(hint), "{bad:?}: {msg:?} lacks {hint:?}"),
        }
    }
}

#[test]
fn nominal_period_drives_the_misfire_default() {
    let p = |s: &str| sched(s).nominal_period().as_secs();
    assert_eq!(p("every 10m"), 600);
    assert_eq!(p("*/5 * * * *"), 300);
    assert_eq!(p("@daily"), 86_400);
    assert_eq!(p("0 9 * * 1-5"), 86_400);
    assert_eq!(p("@weekly"), 7 * 86_400);
}

// --- Misfire decision.

#[test]
fn misfire_runs_the_latest_missed_time_once() {
    let tz = chrono_tz::Asia::Shanghai;
    let s = sched("0 30 7 * * *");
    let yesterday = local(tz, 2026, 5, 12, 7, 30);
    let today = local(tz, 2026, 5, 13, 7, 30);
    let now = local(tz, 2026, 5, 13, 9, 0);
    assert_eq!(
        missed_run(Some(yesterday), now, &s, &tz, Misfire::RunOnce),
        Some(today)
    );
    // Many missed runs: still one, the latest.
    let long_ago = local(tz, 2026, 5, 1, 7, 30);
    assert_eq!(
        missed_run(Some(long_ago), now, &s, &tz, Misfire::RunOnce),
        Some(today)
    );
    // Today's run is not due yet and yesterday's happened: nothing missed.
    let early = local(tz, 2026, 5, 13, 7, 0);
    assert_eq!(
        missed_run(Some(yesterday), early, &s, &tz, Misfire::RunOnce),
        None
    );
    // Today's run happened: nothing missed.
    assert_eq!(
        missed_run(Some(today), now, &s, &tz, Misfire::RunOnce),
        None
    );
    // `skip` never catches up; a check that never ran on schedule has missed nothing.
    assert_eq!(
        missed_run(Some(long_ago), now, &s, &tz, Misfire::Skip),
        None
    );
    assert_eq!(missed_run(None, now, &s, &tz, Misfire::RunOnce), None);
    // Started exactly at the due time: that time is the missed one (the daemon's own timer
    // only fires strictly after start-up, so it is not run twice).
    assert_eq!(
        missed_run(Some(yesterday), today, &s, &tz, Misfire::RunOnce),
        Some(today)
    );
}

#[test]
fn misfire_across_dst() {
    let s = sched("0 30 2 * * *");
    // Down over the spring change: the catch-up is for the 03:00 CEST run.
    let last = utc("2026-03-28T01:30:00Z");
    let now = local(Berlin, 2026, 3, 29, 10, 0);
    assert_eq!(
        missed_run(Some(last), now, &s, &Berlin, Misfire::RunOnce),
        Some(utc("2026-03-29T01:00:00Z"))
    );
    // Restarted during the repeated hour after the first 02:30 ran: no second run.
    let last = utc("2026-10-25T00:30:00Z");
    let now = utc("2026-10-25T01:45:00Z"); // 02:45 CET
    assert_eq!(
        missed_run(Some(last), now, &s, &Berlin, Misfire::RunOnce),
        None
    );
}
