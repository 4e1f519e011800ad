//! The one wording of an alert: how patrol says a time, a length of time, what kind of
//! message this is, the status and state of a check, and how text is made safe for HTML.
//! Every channel (email, every webhook format), the periodic report, the service statistics
//! and the web pages take their words from here; a channel only lays them out.
//!
//! - **Times** are minutes in the zone the reader configured, named by its abbreviation:
//!   `2026-12-06 18:40 CST`. In a message (an email, a chat card, the report) the UTC time
//!   follows in parentheses, `2026-12-06 18:40 CST (2026-12-06 10:40 UTC)`, because an
//!   abbreviation can be ambiguous (CST is also US Central) and teams span zones; a time
//!   already in UTC is shown once. Machine-read fields (webhook JSON, the API) stay RFC 3339
//!   in UTC ([`rfc3339`]).
//! - **Lengths of time** are how people say an outage's length: `45s`, `13m`, `2h`, `2h13m`,
//!   `3d`, `3d4h` ([`duration`]); a run's own length is `350ms`, `1.2s`, `2m5s`
//!   ([`run_duration`]).
//! - **Kinds** are [`MessageKind::as_str`] (`firing`, `resolved`, ...); a message's tag is
//!   the status for a firing and the kind otherwise (`CRITICAL`, `RESOLVED`, `REMINDER`).
//! - **One event** reads the same everywhere through [`View`]: its title, status line and
//!   state rows.

use super::event::{AlertEvent, MessageKind};
use crate::status::Status;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use chrono_tz::Tz;

// ---------------------------------------------------------------------------------------------
// Times and lengths of time
// ---------------------------------------------------------------------------------------------

/// RFC 3339 in UTC with a `Z`, to the second: `2024-05-01T07:30:00Z` (for machines).
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// The zone an IANA name stands for; UTC when the name is empty or unknown.
pub fn zone(name: &str) -> Tz {
    name.parse().unwrap_or(chrono_tz::UTC)
}

/// `2026-12-06 18:40 CST`: a time in `zone`, to the minute, with the zone's abbreviation.
pub fn time(t: DateTime<Utc>, zone: Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M %Z")
        .to_string()
}

/// `2026-12-06 18:40 CST (2026-12-06 10:40 UTC)`, or only `2026-12-06 10:40 UTC` when the
/// zone is UTC: how a message dates things.
pub fn time_and_utc(t: DateTime<Utc>, zone: Tz) -> String {
    let utc = time(t, chrono_tz::UTC);
    let local = time(t, zone);
    if local == utc {
        utc
    } else {
        format!("{local} ({utc})")
    }
}

/// `45s`, `13m`, `2h`, `2h13m`, `3d`, `3d4h`: how long something has been (or was) going on.
/// A negative length (clocks disagree) reads as `0s`.
pub fn duration(d: TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    match (days, hours, mins) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, m) => format!("{m}m"),
        (0, h, 0) => format!("{h}h"),
        (0, h, m) => format!("{h}h{m}m"),
        (d, 0, _) => format!("{d}d"),
        (d, h, _) => format!("{d}d{h}h"),
    }
}

/// `350ms`, `1.2s`, `2m5s`: how long one run took.
pub fn run_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        let s = ms / 1000;
        format!("{}m{}s", s / 60, s % 60)
    }
}

// ---------------------------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------------------------

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One line, no control characters (a newline in a summary must not end a mail header), runs
/// of white space as one space, at most `max` characters (`…` when cut).
pub fn one_line(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max));
    let mut space = false;
    for c in s.chars() {
        if c.is_control() || c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.push(c);
    }
    if out.chars().count() > max {
        return cut_chars(&out, max);
    }
    out
}

/// At most `n` characters, with `…` when cut.
pub fn cut_chars(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// At most `n` bytes of UTF-8, cut on a character boundary, with `…` when cut.
pub fn cut_bytes(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_string();
    }
    let budget = n.saturating_sub('…'.len_utf8());
    let mut end = budget.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

/// The last `max` bytes of `s` (cut at a character boundary), and whether anything was cut.
pub fn tail(s: &str, max: usize) -> (&str, bool) {
    if s.len() <= max {
        return (s, false);
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    (&s[start..], true)
}

// ---------------------------------------------------------------------------------------------
// One event
// ---------------------------------------------------------------------------------------------

/// How bad an event looks, for colours and emoji.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Critical,
    Warning,
    Unknown,
    Good,
    Flapping,
    Info,
}

impl Tone {
    /// Orders tones for the colour of a whole delivery: the worst wins.
    pub fn rank(self) -> u8 {
        match self {
            Tone::Critical => 5,
            Tone::Unknown => 4,
            Tone::Warning => 3,
            Tone::Flapping => 2,
            Tone::Good => 1,
            Tone::Info => 0,
        }
    }
}

/// The status an event is about: the current one, or for a resolve the one it recovered from.
pub fn severity(e: &AlertEvent) -> Status {
    match (e.state.current, e.state.previous) {
        (Status::Ok, Some(prev)) => prev,
        (cur, _) => cur,
    }
}

fn status_tone(s: Status) -> Tone {
    match s {
        Status::Critical => Tone::Critical,
        Status::Warning => Tone::Warning,
        Status::Unknown => Tone::Unknown,
        Status::Ok => Tone::Good,
    }
}

/// `CRITICAL` (a firing: its status), `RESOLVED`, `REMINDER`, `FLAPPING`, `TEST`, `REPORT`.
pub fn tag(e: &AlertEvent) -> String {
    match e.kind {
        MessageKind::Firing => e.state.current.to_string(),
        k => k.as_str().to_ascii_uppercase(),
    }
}

/// The row that names the HyperBDR console a check runs against (`Console`, `main`), for
/// the lines that describe the check; none for a check without a console.
pub fn console_row(e: &AlertEvent) -> Option<(&'static str, String)> {
    e.check
        .console
        .as_ref()
        .filter(|c| !c.is_empty())
        .map(|c| ("Console", c.clone()))
}

/// A person's reading of one event, the same in every channel.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub event: &'a AlertEvent,
    /// See [`tag`]; shown in brackets: `[CRITICAL]`.
    pub tag: String,
    pub tone: Tone,
    /// `[CRITICAL] <check name> — <summary>`; a resolve adds `(bad for 2h13m)`, a reminder
    /// `(critical for 2h13m)`. May hold line breaks from the summary: channels cut it.
    pub title: String,
    /// How long the check has been (or was) bad: `2h13m`.
    pub bad_for: String,
    /// `CRITICAL (was WARNING)`, `CRITICAL, flapping`, `OK, was CRITICAL for 2h13m`,
    /// `TEST (no check is affected)`, `CRITICAL (the worst check status)` (a report).
    pub status: String,
    /// When it went bad and how it stands, as label/value rows: `Since`, `Failed runs` (an
    /// active alert); `Bad since`, `Recovered` (a resolve); `Period` (a report); none for a
    /// test.
    pub state: Vec<(&'static str, String)>,
}

impl<'a> View<'a> {
    /// Reads `e`, dating things in `zone` (and UTC).
    pub fn new(e: &'a AlertEvent, zone: Tz) -> View<'a> {
        let tag = tag(e);
        let tone = match e.kind {
            MessageKind::Firing | MessageKind::Reminder => status_tone(severity(e)),
            MessageKind::Resolved => Tone::Good,
            MessageKind::Flapping => Tone::Flapping,
            MessageKind::Test | MessageKind::Report => Tone::Info,
        };
        let bad_for = duration(e.created_at - e.state.since);
        let mut title = format!("[{tag}] {} — {}", e.check.name, e.result.summary);
        match e.kind {
            MessageKind::Resolved => title.push_str(&format!(" (bad for {bad_for})")),
            MessageKind::Reminder => {
                title.push_str(&format!(" ({} for {bad_for})", e.state.current.as_str()));
            }
            _ => {}
        }
        let current = e.state.current;
        let status = match e.kind {
            MessageKind::Resolved => {
                let was = e
                    .state
                    .previous
                    .filter(|p| *p != Status::Ok)
                    .map(|p| format!(", was {p}"))
                    .unwrap_or_default();
                format!("{current}{was} for {bad_for}")
            }
            MessageKind::Test => "TEST (no check is affected)".to_string(),
            MessageKind::Report => format!("{current} (the worst check status)"),
            _ => {
                let was = e
                    .state
                    .previous
                    .filter(|p| *p != current)
                    .map(|p| format!(" (was {p})"))
                    .unwrap_or_default();
                let flapping = if e.kind == MessageKind::Flapping {
                    ", flapping"
                } else {
                    ""
                };
                format!("{current}{was}{flapping}")
            }
        };
        let since = time_and_utc(e.state.since, zone);
        let state = match e.kind {
            MessageKind::Test => Vec::new(),
            MessageKind::Report => vec![(
                "Period",
                format!("{since} to {}", time_and_utc(e.created_at, zone)),
            )],
            MessageKind::Resolved => vec![
                ("Bad since", since),
                ("Recovered", time_and_utc(e.created_at, zone)),
            ],
            _ => {
                let mut rows = vec![("Since", format!("{since} (bad for {bad_for})"))];
                if e.state.consecutive_failures > 0 {
                    rows.push((
                        "Failed runs",
                        format!("{} in a row", e.state.consecutive_failures),
                    ));
                }
                rows
            }
        };
        View {
            event: e,
            tag,
            tone,
            title,
            bad_for,
            status,
            state,
        }
    }

    /// The event's link to the status page, if it has one.
    pub fn url(&self) -> Option<&str> {
        self.event.url.as_deref().filter(|u| !u.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::event::{CheckInfo, ResultInfo, StateInfo};
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0)
            .single()
            .expect("time")
            + TimeDelta::minutes(min)
    }

    fn event(kind: MessageKind, current: Status, previous: Option<Status>) -> AlertEvent {
        AlertEvent {
            event_id: "ev".into(),
            kind,
            reason: "why".into(),
            incident_id: "disk#1".into(),
            fingerprint: "disk".into(),
            check: CheckInfo {
                id: "disk".into(),
                name: "Disk".into(),
                description: String::new(),
                tags: vec![],
                schedule: "every 5m".into(),
                timezone: "Asia/Shanghai".into(),
                console: None,
            },
            state: StateInfo {
                current,
                previous,
                since: t(0),
                consecutive_failures: 3,
            },
            result: ResultInfo {
                summary: "full".into(),
                metrics: BTreeMap::new(),
                facts: BTreeMap::new(),
                output_tail: None,
                started_at: t(133),
                duration_ms: 1200,
            },
            suppressed_dependents: vec![],
            url: None,
            created_at: t(133),
        }
    }

    #[test]
    fn durations_read_like_people_write_them() {
        let d = |s| duration(TimeDelta::seconds(s));
        assert_eq!(d(45), "45s");
        assert_eq!(d(13 * 60), "13m");
        assert_eq!(d(2 * 3600), "2h");
        assert_eq!(d(2 * 3600 + 5 * 60), "2h5m");
        assert_eq!(d(2 * 3600 + 13 * 60 + 59), "2h13m");
        assert_eq!(d(3 * 86_400), "3d");
        assert_eq!(d(3 * 86_400 + 4 * 3600 + 60), "3d4h");
        assert_eq!(d(-5), "0s");
        assert_eq!(run_duration(350), "350ms");
        assert_eq!(run_duration(1200), "1.2s");
        assert_eq!(run_duration(125_000), "2m5s");
    }

    #[test]
    fn times_show_the_zone_abbreviation_and_utc() {
        let shanghai = chrono_tz::Asia::Shanghai;
        assert_eq!(time(t(0), shanghai), "2026-11-28 16:00 CST");
        assert_eq!(
            time_and_utc(t(0), shanghai),
            "2026-11-28 16:00 CST (2026-11-28 08:00 UTC)"
        );
        assert_eq!(time_and_utc(t(0), chrono_tz::UTC), "2026-11-28 08:00 UTC");
        assert_eq!(
            time_and_utc(t(0), chrono_tz::Etc::UTC),
            "2026-11-28 08:00 UTC"
        );
        assert_eq!(zone("Not/AZone"), chrono_tz::UTC);
        assert_eq!(zone(""), chrono_tz::UTC);
    }

    #[test]
    fn kind_names_are_the_json_names() {
        for k in [
            MessageKind::Firing,
            MessageKind::Resolved,
            MessageKind::Reminder,
            MessageKind::Flapping,
            MessageKind::Test,
            MessageKind::Report,
        ] {
            assert_eq!(serde_json::json!(k), k.as_str());
        }
    }

    #[test]
    fn text_is_escaped_and_cut_on_character_boundaries() {
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(one_line(" two\r\n  lines ", 100), "two lines");
        assert_eq!(one_line("abcdef", 4), "abc…");
        assert_eq!(cut_bytes("ab", 10), "ab");
        let s = "é".repeat(100);
        let c = cut_bytes(&s, 11);
        assert!(c.len() <= 11 && c.ends_with('…'));
        assert_eq!(cut_chars("abcdef", 4), "abc…");
        let s = "é".repeat(10); // 20 bytes
        assert_eq!(tail(&s, 5), ("éé", true));
        assert_eq!(tail("short", 10), ("short", false));
    }

    #[test]
    fn one_event_reads_the_same_everywhere() {
        let z = chrono_tz::Asia::Shanghai;
        let fire = event(MessageKind::Firing, Status::Critical, Some(Status::Warning));
        let v = View::new(&fire, z);
        assert_eq!(v.title, "[CRITICAL] Disk — full");
        assert_eq!(v.status, "CRITICAL (was WARNING)");
        assert_eq!(v.tone, Tone::Critical);
        assert_eq!(
            v.state,
            vec![
                (
                    "Since",
                    "2026-11-28 16:00 CST (2026-11-28 08:00 UTC) (bad for 2h13m)".to_string()
                ),
                ("Failed runs", "3 in a row".to_string()),
            ]
        );

        let rem = event(
            MessageKind::Reminder,
            Status::Warning,
            Some(Status::Warning),
        );
        let v = View::new(&rem, z);
        assert_eq!(v.title, "[REMINDER] Disk — full (warning for 2h13m)");
        assert_eq!(v.status, "WARNING");

        let res = event(MessageKind::Resolved, Status::Ok, Some(Status::Critical));
        let v = View::new(&res, z);
        assert_eq!(v.title, "[RESOLVED] Disk — full (bad for 2h13m)");
        assert_eq!(v.status, "OK, was CRITICAL for 2h13m");
        assert_eq!(v.tone, Tone::Good);
        assert_eq!(v.state[1].0, "Recovered");

        let flap = event(MessageKind::Flapping, Status::Critical, None);
        assert_eq!(View::new(&flap, z).status, "CRITICAL, flapping");
        let test = event(MessageKind::Test, Status::Ok, None);
        let v = View::new(&test, z);
        assert_eq!(v.status, "TEST (no check is affected)");
        assert!(v.state.is_empty());
    }

    #[test]
    fn a_console_check_names_its_console() {
        let mut e = event(MessageKind::Firing, Status::Critical, None);
        assert_eq!(console_row(&e), None);
        e.check.console = Some("site-a".into());
        assert_eq!(console_row(&e), Some(("Console", "site-a".to_string())));
        let json = serde_json::to_value(&e).expect("json");
        assert_eq!(json["check"]["console"], "site-a");
    }
}
