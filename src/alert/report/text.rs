//! The words of a report: its one-line summary and its sections as a text table (which every
//! channel shows: the email as the "Report" block, chat formats and webhooks in the event).
//! Times and lengths are [`crate::alert::present`]'s.

use super::facts::{Lateness, ReportFacts};
use crate::alert::present::{one_line, time_and_utc};
use crate::service::stats::DaemonFacts;
use crate::status::Status;
use chrono_tz::Tz;
use std::fmt::Write as _;

/// How many failed deliveries the report itemises (the rest are counted).
pub const MAX_FAILED_LISTED: usize = 20;

/// `12 checks: 10 ok, 1 warning, 1 critical; 3 alerts sent, 0 failed; 1 check overdue`.
pub fn summary_line(f: &ReportFacts) -> String {
    let plural = |n: usize, one: &str, many: &str| {
        if n == 1 {
            format!("{n} {one}")
        } else {
            format!("{n} {many}")
        }
    };
    let mut parts = vec![format!("{} ok", f.count(Status::Ok))];
    for s in [Status::Warning, Status::Critical, Status::Unknown] {
        let n = f.count(s);
        if n > 0 {
            parts.push(format!("{n} {}", s.as_str()));
        }
    }
    if !f.never_run.is_empty() {
        parts.push(format!("{} never run", f.never_run.len()));
    }
    let mut alerts = format!(
        "{} sent, {} failed",
        plural(f.sent, "alert", "alerts"),
        f.failed
    );
    if f.pending > 0 {
        let _ = write!(alerts, ", {} pending", f.pending);
    }
    format!(
        "{}: {}; {alerts}; {} overdue",
        plural(f.checks, "check", "checks"),
        parts.join(", "),
        plural(f.overdue.len(), "check", "checks")
    )
}

/// Why a check is late: `due at …, last ran at …`, `due at …, never ran`, `next run planned
/// for … has not happened`.
pub fn lateness(late: &Lateness, zone: Tz) -> String {
    match *late {
        Lateness::Due {
            due,
            last_run: Some(t),
        } => format!(
            "due at {}, last ran at {}",
            time_and_utc(due, zone),
            time_and_utc(t, zone)
        ),
        Lateness::Due {
            due,
            last_run: None,
        } => format!("due at {}, never ran", time_and_utc(due, zone)),
        Lateness::Stuck { next } => format!(
            "next run planned for {} has not happened",
            time_and_utc(next, zone)
        ),
    }
}

/// The report's sections, dated in `zone` (not redacted yet).
pub fn sections(f: &ReportFacts, zone: Tz) -> String {
    let line = |s: &str| one_line(s, usize::MAX);
    let mut text = String::new();
    let _ = writeln!(
        text,
        "Period: {} to {}",
        time_and_utc(f.since, zone),
        time_and_utc(f.now, zone)
    );
    let _ = writeln!(text, "\nChecks ({} enabled):", f.checks);
    for s in [
        Status::Ok,
        Status::Warning,
        Status::Critical,
        Status::Unknown,
    ] {
        let _ = writeln!(text, "  {:<10} {}", s.as_str(), f.count(s));
    }
    let _ = writeln!(text, "  {:<10} {}", "never run", f.never_run.len());
    let _ = writeln!(text, "\nNot OK ({}):", f.not_ok.len());
    if f.not_ok.is_empty() {
        let _ = writeln!(text, "  none");
    }
    for c in &f.not_ok {
        let _ = writeln!(
            text,
            "  {:<8} {} — {} (since {})",
            c.status.to_string(),
            c.id,
            line(&c.summary),
            time_and_utc(c.since, zone)
        );
    }
    let _ = writeln!(
        text,
        "\nAlerts queued in the period: {} sent, {} failed, {} pending",
        f.sent, f.failed, f.pending
    );
    for a in f.failed_alerts.iter().take(MAX_FAILED_LISTED) {
        let _ = writeln!(
            text,
            "  FAILED   {} via {} ({}): {}",
            a.check_id.as_deref().unwrap_or("-"),
            a.channel,
            a.kind,
            line(a.error.as_deref().unwrap_or("no error recorded"))
        );
    }
    if f.failed_alerts.len() > MAX_FAILED_LISTED {
        let _ = writeln!(
            text,
            "  ... and {} more",
            f.failed_alerts.len() - MAX_FAILED_LISTED
        );
    }
    let _ = writeln!(
        text,
        "\nDid not run when they should have ({}):",
        f.overdue.len()
    );
    if f.overdue.is_empty() {
        let _ = writeln!(text, "  none");
    }
    for o in &f.overdue {
        let _ = writeln!(text, "  {} — {}", o.id, lateness(&o.late, zone));
    }
    text.push_str(&daemon_section(f.daemon.as_ref(), zone));
    text
}

/// The "patrol itself" section (see `crate::service::stats`): when the daemon started, how
/// many runs it made and missed (or that no daemon has used this store).
fn daemon_section(facts: Option<&DaemonFacts>, zone: Tz) -> String {
    let Some(f) = facts else {
        return "\npatrol itself: no daemon has run on this store yet\n".to_string();
    };
    let mut s = format!(
        "\npatrol itself: daemon started {}",
        time_and_utc(f.started_at, zone)
    );
    match f.stopped_at {
        Some(t) => s.push_str(&format!(", stopped {}", time_and_utc(t, zone))),
        None => s.push_str(", running"),
    }
    s.push_str(&format!(
        "\n  {} scheduled runs made since then, {} missed\n",
        f.runs, f.missed
    ));
    s
}
