//! `patrol schedule next "EXPR"`: when a schedule fires, in local time and UTC, with the DST
//! cases spelled out (see the DST section of `config::schedule_expr`).

use super::output::table;
use crate::config::ScheduleExpr;
use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeZone, Utc};
use chrono_tz::Tz;
use clap::{Args, Subcommand};
use serde::Serialize;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// The next fire times of a schedule expression (cron with seconds, 5-field cron,
    /// @daily..., `every 10m`), local and UTC; DST gaps and repeated times are annotated.
    Next(NextArgs),
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// The schedule, as in a check file: "0 30 7 * * *", "30 7 * * *", "@daily", "every 10m".
    pub expr: String,
    /// Time zone (IANA name). Default: the root config's `timezone` when the config file
    /// exists, else UTC.
    #[arg(long)]
    pub tz: Option<String>,
    /// How many fire times.
    #[arg(long, short = 'n', default_value_t = 10)]
    pub count: usize,
    /// Start after this time: RFC 3339 (`2026-03-29T00:00:00Z`) or a local time in the zone
    /// (`2026-03-29 00:00[:00]`). Default: now.
    #[arg(long)]
    pub from: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// One fire time (JSON shape of `schedule next --json`, items of `fires`).
#[derive(Debug, Serialize)]
pub struct Fire {
    /// Local time with offset, RFC 3339.
    pub local: String,
    /// UTC, RFC 3339.
    pub utc: DateTime<Utc>,
    /// Zone abbreviation at that instant (CET, CEST, EST...).
    pub abbreviation: String,
    /// `gap` (moved to the end of a DST gap), `skipped` (times before it did not exist),
    /// `repeated_first`, `repeated_second`, `repeated_once`; null otherwise.
    pub dst: Option<&'static str>,
    /// The same in words; null otherwise.
    pub note: Option<String>,
}

/// The whole answer (JSON shape of `schedule next --json`).
#[derive(Debug, Serialize)]
pub struct Answer {
    pub expression: String,
    /// `cron` or `every`.
    pub kind: &'static str,
    /// For cron: true when the hour field names hours (wall-clock rule), false when it is
    /// `*` or a step (real-time rule); null for `every`.
    pub fixed_hours: Option<bool>,
    pub timezone: String,
    pub from: DateTime<Utc>,
    pub fires: Vec<Fire>,
}

pub fn schedule(config: &Path, cmd: ScheduleCommand) -> anyhow::Result<u8> {
    match cmd {
        ScheduleCommand::Next(a) => next(config, a),
    }
}

fn next(config: &Path, a: NextArgs) -> anyhow::Result<u8> {
    let expr: ScheduleExpr = a.expr.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    let zone: Tz = match &a.tz {
        Some(name) => name
            .parse()
            .map_err(|_| anyhow::anyhow!("unknown time zone {name:?} (use an IANA name)"))?,
        None if config.exists() => crate::config::load_root_only(config)
            .map(|(root, ..)| root.timezone.0)
            .unwrap_or(chrono_tz::UTC),
        None => chrono_tz::UTC,
    };
    let from = match &a.from {
        Some(s) => parse_from(s, zone)?,
        None => Utc::now(),
    };
    let answer = fires(&expr, zone, from, a.count);
    if a.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
        return Ok(0);
    }
    println!(
        "{:?} in {}, after {}",
        expr.source(),
        zone.name(),
        from.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S %Z")
    );
    println!(
        "{}",
        match answer.fixed_hours {
            Some(true) =>
                "cron, hours named: runs at these wall-clock times; a time a DST gap skips runs at the end of the gap, a time repeated when the clocks go back runs once",
            Some(false) =>
                "cron, every hour or a step of hours: follows real time; times a DST gap skips do not run, repeated times run on both passes",
            None =>
                "every: elapsed time aligned to the Unix epoch; time zones and DST do not move it",
        }
    );
    let rows: Vec<Vec<String>> = answer
        .fires
        .iter()
        .map(|f| {
            let local = f.utc.with_timezone(&zone);
            vec![
                local.format("%Y-%m-%d %H:%M:%S %:z").to_string(),
                f.abbreviation.clone(),
                f.utc.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                f.note.clone().unwrap_or_default(),
            ]
        })
        .collect();
    print!("{}", table(&["LOCAL", "ZONE", "UTC", "NOTE"], &rows));
    if answer.fires.len() < a.count {
        println!("(the schedule never fires again)");
    }
    Ok(0)
}

/// `--from`: RFC 3339, or a local time in `zone`.
fn parse_from(s: &str, zone: Tz) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, fmt) {
            return match zone.from_local_datetime(&n) {
                LocalResult::Single(t) => Ok(t.with_timezone(&Utc)),
                LocalResult::Ambiguous(a, _) => Ok(a.with_timezone(&Utc)),
                LocalResult::None => {
                    anyhow::bail!("{s} does not exist in {} (DST gap)", zone.name())
                }
            };
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return parse_from(&format!("{d} 00:00:00"), zone);
    }
    anyhow::bail!(
        "--from {s:?}: use RFC 3339 (2026-03-29T00:00:00Z) or a local time (2026-03-29 00:00)"
    )
}

/// The next `count` fire times after `from`, annotated.
pub fn fires(expr: &ScheduleExpr, zone: Tz, from: DateTime<Utc>, count: usize) -> Answer {
    let fixed = expr.fixed_hours();
    let mut out = Vec::with_capacity(count);
    let mut prev = from;
    let mut t = from;
    while out.len() < count {
        let Some(n) = expr.next_after(t, &zone) else {
            break;
        };
        let (dst, note) = match fixed {
            Some(fixed) => annotate(expr, zone, fixed, prev, n),
            None => (None, None),
        };
        let local = n.with_timezone(&zone);
        out.push(Fire {
            local: local.to_rfc3339(),
            utc: n,
            abbreviation: local.format("%Z").to_string(),
            dst,
            note,
        });
        prev = n;
        t = n;
    }
    Answer {
        expression: expr.source().to_string(),
        kind: if fixed.is_some() { "cron" } else { "every" },
        fixed_hours: fixed,
        timezone: zone.name().to_string(),
        from,
        fires: out,
    }
}

fn offset(zone: Tz, t: DateTime<Utc>) -> i32 {
    zone.offset_from_utc_datetime(&t.naive_utc())
        .fix()
        .local_minus_utc()
}

/// Whether the wall-clock time `w` matches the cron pattern (evaluated in UTC, which has no
/// DST, as `schedule_expr` does).
fn matches_wall(expr: &ScheduleExpr, w: NaiveDateTime) -> bool {
    let t = Utc.from_utc_datetime(&w);
    expr.next_after(t - chrono::Duration::seconds(1), &Utc) == Some(t)
}

/// Pattern matches in the wall-clock range `[start, end)`, as `HH:MM[:SS]`, at most 6.
fn wall_matches(expr: &ScheduleExpr, start: NaiveDateTime, end: NaiveDateTime) -> Vec<String> {
    let mut out = Vec::new();
    let mut t = Utc.from_utc_datetime(&start) - chrono::Duration::seconds(1);
    let end = Utc.from_utc_datetime(&end);
    while out.len() < 7 {
        match expr.next_after(t, &Utc) {
            Some(n) if n < end => {
                out.push(short(n.naive_utc()));
                t = n;
            }
            _ => break,
        }
    }
    if out.len() == 7 {
        out[6] = "…".into();
    }
    out
}

fn short(w: NaiveDateTime) -> String {
    if w.format("%S").to_string() == "00" {
        w.format("%H:%M").to_string()
    } else {
        w.format("%H:%M:%S").to_string()
    }
}

/// The instant the offset changes between `a` (old offset) and `b` (new offset).
fn transition(zone: Tz, mut a: DateTime<Utc>, mut b: DateTime<Utc>) -> DateTime<Utc> {
    let old = offset(zone, a);
    while (b - a).num_seconds() > 1 {
        let mid = a + (b - a) / 2;
        if offset(zone, mid) == old {
            a = mid;
        } else {
            b = mid;
        }
    }
    b
}

fn annotate(
    expr: &ScheduleExpr,
    zone: Tz,
    fixed: bool,
    prev: DateTime<Utc>,
    t: DateTime<Utc>,
) -> (Option<&'static str>, Option<String>) {
    let w = t.with_timezone(&zone).naive_local();
    if let LocalResult::Ambiguous(a, b) = zone.from_local_datetime(&w) {
        let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
        let second = a.max(b);
        let hm = short(w);
        return if t == second {
            (
                Some("repeated_second"),
                Some(format!(
                    "DST: {hm} happens twice (clocks go back); second pass"
                )),
            )
        } else if !fixed {
            (
                Some("repeated_first"),
                Some(format!(
                    "DST: {hm} happens twice (clocks go back); first pass, runs again at the second"
                )),
            )
        } else {
            (
                Some("repeated_once"),
                Some(format!(
                    "DST: {hm} happens twice (clocks go back); runs once, at the first pass"
                )),
            )
        };
    }
    if offset(zone, prev) < offset(zone, t) {
        // The clocks sprang forward between the previous fire time and this one.
        let at = transition(zone, prev, t);
        let before = at - chrono::Duration::seconds(1);
        let gap_start = before.with_timezone(&zone).naive_local() + chrono::Duration::seconds(1);
        let gap_end = at.with_timezone(&zone).naive_local();
        let lost = wall_matches(expr, gap_start, gap_end);
        if !lost.is_empty() {
            let jump = format!("clocks jump {} → {}", short(gap_start), short(gap_end));
            if fixed && t == at && !matches_wall(expr, w) {
                return (
                    Some("gap"),
                    Some(format!(
                        "DST: {} does not exist ({jump}); runs at the end of the gap",
                        lost.join(", ")
                    )),
                );
            }
            if !fixed {
                return (
                    Some("skipped"),
                    Some(format!(
                        "DST: skipped {} (does not exist: {jump})",
                        lost.join(", ")
                    )),
                );
            }
        }
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Europe::Berlin;

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn spring_gap_and_autumn_repeat_are_annotated() {
        let fixed: ScheduleExpr = "30 2 * * *".parse().expect("parse");
        let a = fires(&fixed, Berlin, utc("2026-03-28T12:00:00Z"), 2);
        assert_eq!(a.fires[0].utc, utc("2026-03-29T01:00:00Z"));
        assert_eq!(a.fires[0].dst, Some("gap"));
        assert_eq!(a.fires[1].dst, None);
        let a = fires(&fixed, Berlin, utc("2026-10-24T12:00:00Z"), 2);
        assert_eq!(a.fires[0].dst, Some("repeated_once"));

        let hourly: ScheduleExpr = "0 * * * *".parse().expect("parse");
        let a = fires(&hourly, Berlin, utc("2026-03-29T00:30:00Z"), 1);
        assert_eq!(a.fires[0].dst, Some("skipped"), "{a:?}");
        let a = fires(&hourly, Berlin, utc("2026-10-24T23:30:00Z"), 2);
        assert_eq!(
            (a.fires[0].dst, a.fires[1].dst),
            (Some("repeated_first"), Some("repeated_second"))
        );
    }
}
