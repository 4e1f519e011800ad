//! What an alert email says: the subject, one section per event (the text body is `text.rs`,
//! the HTML body `html.rs`) and the headers that thread and label it. Pure functions of the events and a few options,
//! so the layout is unit-tested without SMTP; the channel (`super`) turns the result into
//! MIME and sends it. The words (times, lengths, status lines, titles) are
//! [`crate::alert::present`]'s; this file lays them out.

use super::html::html_body;
use super::text::text_body;
use super::thread::{message_id, thread_root};
use crate::alert::event::{AlertEvent, MessageKind};
use crate::alert::present::{self, View, one_line, time_and_utc};
use crate::status::Status;
use chrono_tz::Tz;
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

/// Renders one message for one or more events (a group produced within the grouping window).
pub fn render(events: &[AlertEvent], opts: &RenderOptions) -> Rendered {
    let mut sorted: Vec<&AlertEvent> = events.iter().collect();
    // Worst first; stable, so equal events keep the order the worker gave.
    sorted.sort_by_key(|e| std::cmp::Reverse(rank(e)));

    let views: Vec<View<'_>> = sorted.iter().map(|e| View::new(e, opts.zone)).collect();
    let subject = one_line(&subject(&views), 250);
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
        let k = e.kind.as_str();
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
    let sections: Vec<Section<'_>> = views.into_iter().map(|v| Section::new(v, opts)).collect();
    Rendered {
        text: text_body(&sections, opts),
        html: html_body(&subject, &sections, opts),
        subject,
        message_id: message_id(events),
        thread_roots,
        check_ids: one_line(&ids.join(", "), 900),
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

/// One event: its title. A group: the worst tag (or the kind they all share), how many, and
/// the checks' names as far as they fit.
fn subject(views: &[View<'_>]) -> String {
    match views {
        [] => "[patrol] no alerts".into(),
        [v] => v.title.clone(),
        many => {
            let first = many[0].event.kind;
            let tag = if first != MessageKind::Firing && many.iter().all(|v| v.event.kind == first)
            {
                format!("[{}]", many[0].tag)
            } else {
                let active = many.iter().map(|v| v.event).filter(|e| {
                    !matches!(
                        e.kind,
                        MessageKind::Resolved | MessageKind::Test | MessageKind::Report
                    )
                });
                match active.map(|e| e.state.current).reduce(Status::worst) {
                    Some(worst) => format!("[{worst}]"),
                    None if many.iter().any(|v| v.event.kind == MessageKind::Resolved) => {
                        "[RESOLVED]".into()
                    }
                    None => "[TEST]".into(),
                }
            };
            let mut names = String::new();
            let mut shown = 0;
            for v in many {
                let name = &v.event.check.name;
                if shown > 0 && names.len() + name.len() > SUBJECT_NAMES_MAX {
                    break;
                }
                if shown > 0 {
                    names.push_str(", ");
                }
                names.push_str(name);
                shown += 1;
            }
            if shown < many.len() {
                let _ = write!(names, " and {} more", many.len() - shown);
            }
            format!("{tag} {} alerts: {names}", many.len())
        }
    }
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

/// Everything one event's section shows, computed once for both bodies: the event's
/// [`View`] and the email's own layout of it.
pub(super) struct Section<'a> {
    pub(super) e: &'a AlertEvent,
    /// The title on one line.
    pub(super) headline: String,
    /// The summary again when the headline cannot hold it (several lines, very long).
    pub(super) long_summary: Option<&'a str>,
    pub(super) color: &'static str,
    /// Label and value rows at the top of the section.
    pub(super) rows: Vec<(&'static str, String)>,
    pub(super) facts: Vec<(String, String)>,
    pub(super) metrics: Vec<(String, String)>,
    pub(super) output: Option<(&'a str, bool)>,
    pub(super) link: Option<String>,
}

impl<'a> Section<'a> {
    fn new(v: View<'a>, opts: &RenderOptions) -> Section<'a> {
        let e = v.event;
        let color = match e.kind {
            MessageKind::Resolved | MessageKind::Test => status_color(Status::Ok),
            _ => status_color(e.state.current),
        };
        let mut rows: Vec<(&'static str, String)> = vec![("Status", v.status.clone())];
        rows.extend(v.state.iter().cloned());
        rows.push(("Check", e.check.id.clone()));
        rows.extend(present::console_row(e));
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
                time_and_utc(e.result.started_at, opts.zone),
                present::run_duration(e.result.duration_ms)
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
            .map(|o| present::tail(o, OUTPUT_TAIL_MAX));
        let summary = e.result.summary.trim();
        let long_summary =
            (summary.contains('\n') || summary.chars().count() > 200).then_some(summary);
        Section {
            headline: one_line(&v.title, 400),
            e,
            long_summary,
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
pub(super) fn output_title(e: &AlertEvent) -> &'static str {
    if e.kind == MessageKind::Report {
        "Report"
    } else {
        "Output"
    }
}

pub(super) fn footer_text(views: &[Section<'_>], opts: &RenderOptions) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::event::{CheckInfo, ResultInfo, StateInfo};
    use chrono::{DateTime, TimeZone, Utc};
    use std::collections::BTreeMap;

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
                console: None,
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
