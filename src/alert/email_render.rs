//! What an alert email says: subject, plain-text and HTML bodies, and the ids that thread the
//! messages of one incident. Pure functions of the events and a few options, so the layout is
//! unit-tested without SMTP; `email.rs` turns the result into MIME and sends it.
//!
//! Threading: every incident has a deterministic root id `<incident.HEX@patrol>` (a hash of the
//! sender address and the incident id). Every message about the incident — firing, escalation,
//! reminders, flapping, resolve — names that root in `In-Reply-To` and `References`, so mail
//! clients file them as one thread. The root itself is never used as a `Message-ID`: an
//! incident may be announced more than once (escalation, end of a mute), and two messages with
//! one `Message-ID` get silently merged by some clients. Each message's own id is a hash of its
//! event ids instead: unique per notification, and identical when the delivery worker retries
//! the same notification, so a retry the server had in fact accepted shows up once.

use super::event::{AlertEvent, MessageKind};
use crate::status::Status;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use std::fmt::Write as _;

/// The most of a check's output a message shows (its tail).
pub const OUTPUT_TAIL_MAX: usize = 10 * 1024;

/// A group subject names checks until it reaches about this many characters.
const SUBJECT_NAMES_MAX: usize = 120;

/// How the messages of one channel are rendered.
#[derive(Debug, Clone)]
pub struct RenderOptions {
    /// Times are shown in this zone and in UTC.
    pub zone: Tz,
    /// Base URL of the status page: a check's link is `{base}/checks/{id}`.
    pub status_page_url: Option<String>,
    /// Mixed into thread ids so that two installations with the same check ids (say, prod and
    /// staging mailing one team) do not thread into each other. The sender address.
    pub thread_salt: String,
    /// Named in the footer so the team knows which patrol sent it.
    pub sender_host: Option<String>,
}

/// A rendered message, ready to be wrapped in MIME.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
    /// `<...@patrol>`, unique per notification, stable across retries.
    pub message_id: String,
    /// Thread roots of the incidents in the message (none for test messages).
    pub thread_roots: Vec<String>,
    /// `X-Patrol-Check`: the check ids, worst first.
    pub check_ids: String,
    /// `X-Patrol-Status`: the worst current status (`ok` for a resolve).
    pub status: Status,
    /// `X-Patrol-Event`: the kinds of the events (`firing`, `resolved`, ...).
    pub kinds: String,
}

/// The thread root of an incident: `<incident.HEX@patrol>`.
pub fn thread_root(salt: &str, incident_id: &str) -> String {
    let h = sha256_hex(&["patrol-incident", &salt.to_ascii_lowercase(), incident_id]);
    format!("<incident.{}@patrol>", &h[..32])
}

/// The `Message-ID` of a delivery of these events.
pub fn message_id(events: &[AlertEvent]) -> String {
    let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    let mut parts = vec!["patrol-message"];
    parts.extend(ids);
    let h = sha256_hex(&parts);
    format!("<alert.{}@patrol>", &h[..32])
}

fn sha256_hex(parts: &[&str]) -> String {
    let mut d = Sha256::new();
    for p in parts {
        // A separator that cannot occur inside the parts keeps ("ab","c") ≠ ("a","bc").
        d.update(p.as_bytes());
        d.update([0u8]);
    }
    d.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Renders one message for one or more events (a group produced within the grouping window).
pub fn render(events: &[AlertEvent], opts: &RenderOptions) -> Rendered {
    let mut sorted: Vec<&AlertEvent> = events.iter().collect();
    // Worst first; stable, so equal events keep the order the worker gave.
    sorted.sort_by_key(|e| std::cmp::Reverse(rank(e)));

    let subject = clean_line(&subject(&sorted), 250);
    let mut thread_roots: Vec<String> = Vec::new();
    for e in &sorted {
        if e.kind != MessageKind::Test {
            let root = thread_root(&opts.thread_salt, &e.incident_id);
            if !thread_roots.contains(&root) {
                thread_roots.push(root);
            }
        }
    }
    let status = sorted
        .iter()
        .map(|e| e.state.current)
        .fold(Status::Ok, Status::worst);
    let mut kinds: Vec<&str> = Vec::new();
    for e in &sorted {
        let k = kind_name(e.kind);
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    let mut ids: Vec<&str> = Vec::new();
    for e in &sorted {
        if !ids.contains(&e.check.id.as_str()) {
            ids.push(&e.check.id);
        }
    }
    let views: Vec<View<'_>> = sorted.iter().map(|e| View::new(e, opts)).collect();
    Rendered {
        text: text_body(&views, opts),
        html: html_body(&subject, &views, opts),
        subject,
        message_id: message_id(events),
        thread_roots,
        check_ids: clean_line(&ids.join(", "), 900),
        status,
        kinds: kinds.join(", "),
    }
}

/// Orders events worst first: active alerts by severity, then resolves, then tests.
fn rank(e: &AlertEvent) -> u32 {
    match e.kind {
        MessageKind::Test => 0,
        MessageKind::Resolved => 1,
        // Before any alert: a report is what a person reads first.
        MessageKind::Report => 100,
        k => {
            let kind = match k {
                MessageKind::Firing => 3,
                MessageKind::Flapping => 2,
                _ => 1,
            };
            10 + u32::from(e.state.current.severity()) * 10 + kind
        }
    }
}

fn kind_name(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Firing => "firing",
        MessageKind::Resolved => "resolved",
        MessageKind::Reminder => "reminder",
        MessageKind::Flapping => "flapping",
        MessageKind::Test => "test",
        MessageKind::Report => "report",
    }
}

/// `[CRITICAL]`, `[RESOLVED]`, `[REMINDER]`, `[FLAPPING]`, `[TEST]`.
fn tag(e: &AlertEvent) -> String {
    match e.kind {
        MessageKind::Firing => format!("[{}]", e.state.current),
        MessageKind::Resolved => "[RESOLVED]".into(),
        MessageKind::Reminder => "[REMINDER]".into(),
        MessageKind::Flapping => "[FLAPPING]".into(),
        MessageKind::Test => "[TEST]".into(),
        MessageKind::Report => "[REPORT]".into(),
    }
}

fn subject(sorted: &[&AlertEvent]) -> String {
    match sorted {
        [] => "[patrol] no alerts".into(),
        [e] => {
            let mut s = format!("{} {} — {}", tag(e), e.check.name, e.result.summary);
            match e.kind {
                MessageKind::Resolved => {
                    let _ = write!(s, " (bad for {})", bad_for(e));
                }
                MessageKind::Reminder => {
                    let _ = write!(s, " ({} for {})", e.state.current.as_str(), bad_for(e));
                }
                _ => {}
            }
            s
        }
        many => {
            let first = many[0].kind;
            let tag = if first != MessageKind::Firing && many.iter().all(|e| e.kind == first) {
                tag(many[0])
            } else {
                let active = many.iter().filter(|e| {
                    !matches!(
                        e.kind,
                        MessageKind::Resolved | MessageKind::Test | MessageKind::Report
                    )
                });
                match active.map(|e| e.state.current).reduce(Status::worst) {
                    Some(worst) => format!("[{worst}]"),
                    None if many.iter().any(|e| e.kind == MessageKind::Resolved) => {
                        "[RESOLVED]".into()
                    }
                    None => "[TEST]".into(),
                }
            };
            let mut names = String::new();
            let mut shown = 0;
            for e in many {
                if shown > 0 && names.len() + e.check.name.len() > SUBJECT_NAMES_MAX {
                    break;
                }
                if shown > 0 {
                    names.push_str(", ");
                }
                names.push_str(&e.check.name);
                shown += 1;
            }
            if shown < many.len() {
                let _ = write!(names, " and {} more", many.len() - shown);
            }
            format!("{tag} {} alerts: {names}", many.len())
        }
    }
}

/// One line, no control characters (a newline in a summary must not end a header), at most
/// `max` characters.
fn clean_line(s: &str, max: usize) -> String {
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
        let cut: String = out.chars().take(max.saturating_sub(1)).collect();
        return format!("{cut}…");
    }
    out
}

/// How long the check has been (or was) bad at the time of the event, e.g. `2h13m`.
fn bad_for(e: &AlertEvent) -> String {
    let d = (e.created_at - e.state.since).to_std().unwrap_or_default();
    short_duration(d)
}

/// `45s`, `13m`, `2h13m`, `3d4h`: how people say an outage's length.
pub fn short_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
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

/// `350ms`, `1.2s`, `2m5s`.
fn run_duration(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        let s = ms / 1000;
        format!("{}m{}s", s / 60, s % 60)
    }
}

/// `2026-11-28 16:00:00 Asia/Shanghai (2026-11-28 08:00:00 UTC)`, or only the UTC form when
/// the zone is UTC.
pub fn show_time(t: DateTime<Utc>, zone: Tz) -> String {
    let utc = t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    if zone == chrono_tz::UTC || zone == chrono_tz::Etc::UTC {
        return utc;
    }
    let local = t.with_timezone(&zone).format("%Y-%m-%d %H:%M:%S");
    format!("{local} {} ({utc})", zone.name())
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

/// A check id as one URL path segment.
fn path_segment(id: &str) -> String {
    let mut out = String::new();
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn fact_value(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn status_color(s: Status) -> &'static str {
    match s {
        Status::Ok => "#2e7d32",
        Status::Warning => "#ef6c00",
        Status::Critical => "#c62828",
        Status::Unknown => "#6a1b9a",
    }
}

/// Everything one event's section shows, computed once for both bodies.
struct View<'a> {
    e: &'a AlertEvent,
    headline: String,
    /// The summary again when the headline cannot hold it (several lines, very long).
    long_summary: Option<&'a str>,
    color: &'static str,
    /// Label and value rows at the top of the section.
    rows: Vec<(&'static str, String)>,
    facts: Vec<(String, String)>,
    metrics: Vec<(String, String)>,
    output: Option<(&'a str, bool)>,
    link: Option<String>,
}

impl<'a> View<'a> {
    fn new(e: &'a AlertEvent, opts: &RenderOptions) -> View<'a> {
        let zone = opts.zone;
        let mut rows: Vec<(&'static str, String)> = Vec::new();
        let (status, color) = match e.kind {
            MessageKind::Resolved => {
                let was = e
                    .state
                    .previous
                    .filter(|p| *p != Status::Ok)
                    .map(|p| format!(", was {p}"))
                    .unwrap_or_default();
                (
                    format!("{}{was} for {}", e.state.current, bad_for(e)),
                    status_color(Status::Ok),
                )
            }
            MessageKind::Test => (
                "TEST (no check is affected)".to_string(),
                status_color(Status::Ok),
            ),
            MessageKind::Report => (
                format!("{} (the worst check status)", e.state.current),
                status_color(e.state.current),
            ),
            _ => {
                let was = e
                    .state
                    .previous
                    .filter(|p| *p != e.state.current)
                    .map(|p| format!(" (was {p})"))
                    .unwrap_or_default();
                let flapping = if e.kind == MessageKind::Flapping {
                    ", flapping"
                } else {
                    ""
                };
                (
                    format!("{}{was}{flapping}", e.state.current),
                    status_color(e.state.current),
                )
            }
        };
        rows.push(("Status", status));
        if e.kind == MessageKind::Report {
            rows.push((
                "Period",
                format!(
                    "{} to {}",
                    show_time(e.state.since, zone),
                    show_time(e.created_at, zone)
                ),
            ));
        } else if e.kind != MessageKind::Test {
            let label = if e.kind == MessageKind::Resolved {
                "Bad since"
            } else {
                "Since"
            };
            let since = show_time(e.state.since, zone);
            rows.push((
                label,
                if e.kind == MessageKind::Resolved {
                    since
                } else {
                    format!("{since} (bad for {})", bad_for(e))
                },
            ));
            if e.kind == MessageKind::Resolved {
                rows.push(("Recovered", show_time(e.created_at, zone)));
            } else if e.state.consecutive_failures > 0 {
                rows.push((
                    "Failed runs",
                    format!("{} in a row", e.state.consecutive_failures),
                ));
            }
        }
        rows.push(("Check", e.check.id.clone()));
        if !e.check.tags.is_empty() {
            rows.push(("Tags", e.check.tags.join(", ")));
        }
        if !e.check.schedule.is_empty() {
            let tz = if e.check.timezone.is_empty() {
                String::new()
            } else {
                format!(" (time zone {})", e.check.timezone)
            };
            rows.push(("Schedule", format!("{}{tz}", e.check.schedule)));
        }
        rows.push((
            if e.kind == MessageKind::Report {
                "Generated"
            } else {
                "Last run"
            },
            format!(
                "{}, took {}",
                show_time(e.result.started_at, zone),
                run_duration(e.result.duration_ms)
            ),
        ));
        let link = e.url.clone().or_else(|| {
            opts.status_page_url.as_ref().map(|base| {
                format!(
                    "{}/checks/{}",
                    base.trim_end_matches('/'),
                    path_segment(&e.check.id)
                )
            })
        });
        // A report's facts are its lists as JSON, for webhooks; the text shows them as tables.
        let facts = if e.kind == MessageKind::Report {
            Vec::new()
        } else {
            e.result
                .facts
                .iter()
                .map(|(k, v)| (k.clone(), fact_value(v)))
                .collect()
        };
        let metrics = e
            .result
            .metrics
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        let output = e
            .result
            .output_tail
            .as_deref()
            .filter(|o| !o.trim().is_empty())
            .map(|o| tail(o, OUTPUT_TAIL_MAX));
        let summary = e.result.summary.trim();
        let long_summary =
            (summary.contains('\n') || summary.chars().count() > 200).then_some(summary);
        View {
            e,
            long_summary,
            headline: clean_line(
                &format!("{} {} — {}", tag(e), e.check.name, e.result.summary),
                400,
            ),
            color,
            rows,
            facts,
            metrics,
            output,
            link,
        }
    }
}

/// A report's sections travel in `output_tail`: they are the report, not a command's output.
fn output_title(e: &AlertEvent) -> &'static str {
    if e.kind == MessageKind::Report {
        "Report"
    } else {
        "Output"
    }
}

fn footer_text(views: &[View<'_>], opts: &RenderOptions) -> String {
    let host = opts
        .sender_host
        .as_deref()
        .map(|h| format!(" on {h}"))
        .unwrap_or_default();
    match views {
        [v] => format!(
            "Sent by patrol{host} because {}.\nEvent {} of incident {}. This message was generated automatically.",
            v.e.reason.trim_end_matches('.'),
            v.e.event_id,
            v.e.incident_id
        ),
        _ => format!(
            "Sent by patrol{host}: {} alerts for this channel came within the grouping window; each section says why it was sent.\nThis message was generated automatically.",
            views.len()
        ),
    }
}

fn indent(s: &str, by: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        out.push_str(by);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn text_body(views: &[View<'_>], opts: &RenderOptions) -> String {
    let grouped = views.len() > 1;
    let mut t = String::new();
    if views.len() > 1 {
        let _ = writeln!(t, "{} alerts, worst first:", views.len());
        for v in views {
            let _ = writeln!(t, "  {}", v.headline);
        }
        t.push('\n');
    }
    for (i, v) in views.iter().enumerate() {
        if views.len() > 1 {
            let _ = writeln!(t, "{}", "=".repeat(72));
            let _ = writeln!(t, "{}/{}", i + 1, views.len());
        }
        text_section(&mut t, v, grouped);
        t.push('\n');
    }
    t.push_str("-- \n");
    t.push_str(&footer_text(views, opts));
    t.push('\n');
    t
}

fn text_section(t: &mut String, v: &View<'_>, grouped: bool) {
    let e = v.e;
    let _ = writeln!(t, "{}\n", v.headline);
    if let Some(summary) = v.long_summary {
        let _ = writeln!(t, "{summary}\n");
    }
    let width = v.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    for (label, value) in &v.rows {
        let _ = writeln!(t, "{:<width$} {value}", format!("{label}:"), width = width);
    }
    if let Some(link) = &v.link {
        let _ = writeln!(t, "{:<width$} {link}", "Status page:", width = width);
    }
    for (title, rows) in [("Facts", &v.facts), ("Metrics", &v.metrics)] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(t, "\n{title}:");
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, val) in rows {
            let _ = writeln!(t, "  {k:<w$}  {}", clean_line(val, 2000));
        }
    }
    let _ = writeln!(t, "\nRunbook:");
    if e.check.description.trim().is_empty() {
        let _ = writeln!(t, "  (the check file has no description)");
    } else {
        t.push_str(&indent(e.check.description.trim(), "  "));
    }
    if let Some((out, cut)) = v.output {
        let _ = writeln!(
            t,
            "\n{}{}:",
            output_title(e),
            if cut { " (last 10 KB)" } else { "" }
        );
        t.push_str(&indent(out, "  "));
    }
    if !e.suppressed_dependents.is_empty() {
        let _ = writeln!(
            t,
            "\nHeld back while this check is bad ({}): {}",
            e.suppressed_dependents.len(),
            e.suppressed_dependents.join(", ")
        );
    }
    // A single message says why in its footer.
    if grouped {
        let _ = writeln!(t, "\nWhy this was sent: {}", e.reason);
    }
}

const CELL: &str = "padding:2px 12px 2px 0;vertical-align:top;";

fn html_body(subject: &str, views: &[View<'_>], opts: &RenderOptions) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#222;\">\n",
        escape_html(subject)
    );
    if views.len() > 1 {
        let _ = writeln!(
            h,
            "<p><b>{} alerts</b>, worst first:</p>\n<ul>",
            views.len()
        );
        for v in views {
            let _ = writeln!(
                h,
                "<li><span style=\"color:{}\">{}</span></li>",
                v.color,
                escape_html(&v.headline)
            );
        }
        h.push_str("</ul>\n");
    }
    for v in views {
        if views.len() > 1 {
            h.push_str("<hr>\n");
        }
        html_section(&mut h, v, views.len() > 1);
    }
    let footer = footer_text(views, opts);
    let _ = write!(
        h,
        "<hr>\n<p style=\"color:#666;font-size:12px;\">{}</p>\n</body></html>\n",
        escape_html(&footer).replace('\n', "<br>\n")
    );
    h
}

fn html_table(h: &mut String, rows: &[(String, String)]) {
    h.push_str("<table style=\"border-collapse:collapse;\">\n");
    for (k, v) in rows {
        let _ = writeln!(
            h,
            "<tr><td style=\"{CELL}color:#555;\">{}</td><td style=\"{CELL}\">{}</td></tr>",
            escape_html(k),
            escape_html(v)
        );
    }
    h.push_str("</table>\n");
}

fn html_section(h: &mut String, v: &View<'_>, grouped: bool) {
    let e = v.e;
    let _ = writeln!(
        h,
        "<h2 style=\"color:{};font-size:18px;\">{}</h2>",
        v.color,
        escape_html(&v.headline)
    );
    if let Some(summary) = v.long_summary {
        let _ = writeln!(
            h,
            "<p style=\"white-space:pre-wrap;\"><b>{}</b></p>",
            escape_html(summary)
        );
    }
    let mut rows: Vec<(String, String)> = v
        .rows
        .iter()
        .map(|(l, val)| (l.to_string(), val.clone()))
        .collect();
    let link_row = v.link.as_ref().map(|link| {
        // Only web links become anchors; anything else is shown as text.
        if link.starts_with("https://") || link.starts_with("http://") {
            format!("<a href=\"{0}\">{0}</a>", escape_html(link))
        } else {
            escape_html(link)
        }
    });
    h.push_str("<table style=\"border-collapse:collapse;\">\n");
    for (k, val) in rows.drain(..) {
        let _ = writeln!(
            h,
            "<tr><td style=\"{CELL}color:#555;\">{}</td><td style=\"{CELL}\">{}</td></tr>",
            escape_html(&k),
            escape_html(&val)
        );
    }
    if let Some(link) = link_row {
        let _ = writeln!(
            h,
            "<tr><td style=\"{CELL}color:#555;\">Status page</td><td style=\"{CELL}\">{link}</td></tr>"
        );
    }
    h.push_str("</table>\n");
    for (title, rows) in [("Facts", &v.facts), ("Metrics", &v.metrics)] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(h, "<h3 style=\"font-size:15px;\">{title}</h3>");
        html_table(h, rows);
    }
    h.push_str("<h3 style=\"font-size:15px;\">Runbook</h3>\n");
    if e.check.description.trim().is_empty() {
        h.push_str("<p><i>The check file has no description.</i></p>\n");
    } else {
        let _ = writeln!(
            h,
            "<p style=\"white-space:pre-wrap;\">{}</p>",
            escape_html(e.check.description.trim())
        );
    }
    if let Some((out, cut)) = v.output {
        let _ = writeln!(
            h,
            "<h3 style=\"font-size:15px;\">{}{}</h3>\n<pre style=\"background:#f5f5f5;padding:8px;white-space:pre-wrap;font-size:12px;\">{}</pre>",
            output_title(e),
            if cut { " (last 10 KB)" } else { "" },
            escape_html(out)
        );
    }
    if !e.suppressed_dependents.is_empty() {
        let _ = writeln!(
            h,
            "<p>Held back while this check is bad ({}): {}</p>",
            e.suppressed_dependents.len(),
            escape_html(&e.suppressed_dependents.join(", "))
        );
    }
    if grouped {
        let _ = writeln!(
            h,
            "<p style=\"color:#555;\">Why this was sent: {}</p>",
            escape_html(&e.reason)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::event::{CheckInfo, ResultInfo, StateInfo};
    use chrono::TimeZone;
    use std::collections::BTreeMap;
    use std::time::Duration;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::minutes(min)
    }

    fn event(id: &str, kind: MessageKind, status: Status) -> AlertEvent {
        AlertEvent {
            event_id: format!("ev-{id}-{kind:?}"),
            kind,
            reason: "the check is not OK".into(),
            incident_id: format!("{id}#1"),
            fingerprint: id.into(),
            check: CheckInfo {
                id: id.into(),
                name: id.into(),
                description: "Look at it.".into(),
                tags: vec![],
                schedule: "every 5m".into(),
                timezone: "UTC".into(),
            },
            state: StateInfo {
                current: status,
                previous: None,
                since: t(0),
                consecutive_failures: 1,
            },
            result: ResultInfo {
                summary: format!("{id} is bad"),
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

    fn opts() -> RenderOptions {
        RenderOptions {
            zone: chrono_tz::Asia::Shanghai,
            status_page_url: Some("https://status.example/".into()),
            thread_salt: "patrol@example.com".into(),
            sender_host: Some("ops1".into()),
        }
    }

    #[test]
    fn durations_read_like_people_write_them() {
        let d = |s| short_duration(Duration::from_secs(s));
        assert_eq!(d(45), "45s");
        assert_eq!(d(13 * 60), "13m");
        assert_eq!(d(2 * 3600), "2h");
        assert_eq!(d(2 * 3600 + 13 * 60 + 59), "2h13m");
        assert_eq!(d(3 * 86_400 + 4 * 3600 + 60), "3d4h");
        assert_eq!(run_duration(350), "350ms");
        assert_eq!(run_duration(1200), "1.2s");
        assert_eq!(run_duration(125_000), "2m5s");
    }

    #[test]
    fn times_show_the_zone_and_utc() {
        assert_eq!(
            show_time(t(0), chrono_tz::Asia::Shanghai),
            "2026-11-28 16:00:00 Asia/Shanghai (2026-11-28 08:00:00 UTC)"
        );
        assert_eq!(show_time(t(0), chrono_tz::UTC), "2026-11-28 08:00:00 UTC");
    }

    #[test]
    fn tail_cuts_at_a_char_boundary() {
        let s = "é".repeat(10); // 20 bytes
        let (out, cut) = tail(&s, 5);
        assert!(cut);
        assert_eq!(out, "éé");
        assert_eq!(tail("short", 10), ("short", false));
    }

    #[test]
    fn subjects_per_kind() {
        let o = opts();
        let fire = event("disk", MessageKind::Firing, Status::Critical);
        assert_eq!(
            render(std::slice::from_ref(&fire), &o).subject,
            "[CRITICAL] disk — disk is bad"
        );
        let mut res = event("disk", MessageKind::Resolved, Status::Ok);
        res.state.previous = Some(Status::Critical);
        assert_eq!(
            render(&[res], &o).subject,
            "[RESOLVED] disk — disk is bad (bad for 2h13m)"
        );
        let rem = event("disk", MessageKind::Reminder, Status::Warning);
        assert_eq!(
            render(&[rem], &o).subject,
            "[REMINDER] disk — disk is bad (warning for 2h13m)"
        );
        let flap = event("disk", MessageKind::Flapping, Status::Critical);
        assert_eq!(render(&[flap], &o).subject, "[FLAPPING] disk — disk is bad");
        let mut evil = fire;
        evil.result.summary = "two\r\nBcc: x@y".into();
        assert_eq!(
            render(&[evil], &o).subject,
            "[CRITICAL] disk — two Bcc: x@y"
        );
    }

    #[test]
    fn group_subject_is_worst_first() {
        let o = opts();
        let events = [
            event("load", MessageKind::Firing, Status::Warning),
            event("disk-root", MessageKind::Firing, Status::Critical),
            event("memory", MessageKind::Firing, Status::Unknown),
        ];
        let r = render(&events, &o);
        assert_eq!(r.subject, "[CRITICAL] 3 alerts: disk-root, memory, load");
        assert_eq!(r.check_ids, "disk-root, memory, load");
        assert_eq!(r.status, Status::Critical);
        assert_eq!(r.thread_roots.len(), 3);
        let all_resolved = [
            event("a", MessageKind::Resolved, Status::Ok),
            event("b", MessageKind::Resolved, Status::Ok),
        ];
        assert_eq!(
            render(&all_resolved, &o).subject,
            "[RESOLVED] 2 alerts: a, b"
        );
    }

    #[test]
    fn ids_are_deterministic_and_distinct() {
        let o = opts();
        let fire = event("disk", MessageKind::Firing, Status::Critical);
        let rem = event("disk", MessageKind::Reminder, Status::Critical);
        let a = render(std::slice::from_ref(&fire), &o);
        let b = render(std::slice::from_ref(&fire), &o);
        let c = render(&[rem], &o);
        assert_eq!(a.message_id, b.message_id, "a retry keeps its Message-ID");
        assert_ne!(a.message_id, c.message_id);
        assert_eq!(a.thread_roots, c.thread_roots);
        assert!(
            a.thread_roots[0].starts_with("<incident.") && a.thread_roots[0].ends_with("@patrol>")
        );
        let other_install = RenderOptions {
            thread_salt: "staging@example.com".into(),
            ..o
        };
        assert_ne!(render(&[fire], &other_install).thread_roots, a.thread_roots);
    }

    #[test]
    fn html_escapes_everything_and_links_only_web_urls() {
        let o = opts();
        let mut e = event("disk<1>", MessageKind::Firing, Status::Critical);
        e.check.name = "<b>name</b>".into();
        e.result.summary = "a & b".into();
        e.result
            .facts
            .insert("<k>".into(), serde_json::json!("<v>"));
        e.result.output_tail = Some("<script>alert(1)</script>".into());
        e.check.description = "\"quoted\" 'single'".into();
        let r = render(std::slice::from_ref(&e), &o);
        assert!(!r.html.contains("<script>"));
        assert!(!r.html.contains("<b>name</b>"));
        assert!(r.html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(r.html.contains("&lt;k&gt;") && r.html.contains("&lt;v&gt;"));
        assert!(r.html.contains("&quot;quoted&quot; &#39;single&#39;"));
        assert!(
            r.html
                .contains("href=\"https://status.example/checks/disk%3C1%3E\"")
        );
        e.url = Some("javascript:alert(1)".into());
        let r = render(&[e], &o);
        assert!(!r.html.contains("href=\"javascript"));
    }
}
