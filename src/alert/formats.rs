//! The webhook payload formats: one function per format, each turning the events of one
//! delivery into the JSON body a receiver expects. Pure functions (no I/O, no clock), so that
//! `patrol alert test` and the tests can look at exactly what is sent.
//!
//! The chat formats (slack, teams, dingtalk, wecom, feishu) share one human reading of an
//! event ([`View`]): a title such as `[CRITICAL] Backup tasks within RPO — 3 hosts late`, the
//! summary, since when (in the check's time zone and in UTC) and for how long, the reason, the
//! checks held back behind it, and a link to the status page.

use super::event::{AlertEvent, MessageKind};
use crate::status::Status;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

/// Version of the `patrol` payload; bumped on any incompatible change.
pub const PATROL_VERSION: u32 = 1;

/// At most this many events are itemised in one chat message (chat tools limit the size of a
/// message: Slack 50 blocks, WeCom 4096 bytes); the rest are counted.
const CHAT_MAX_EVENTS: usize = 10;

/// How much of a check's description (its runbook) a chat message quotes.
const CHAT_RUNBOOK_CHARS: usize = 400;

/// RFC 3339 in UTC with a `Z`, to the second: `2024-05-01T07:30:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn kind_str(k: MessageKind) -> &'static str {
    match k {
        MessageKind::Firing => "firing",
        MessageKind::Resolved => "resolved",
        MessageKind::Reminder => "reminder",
        MessageKind::Flapping => "flapping",
        MessageKind::Test => "test",
        MessageKind::Report => "report",
    }
}

/// The newest `created_at` of a delivery: its own time, the same on every retry.
pub fn delivery_time(events: &[AlertEvent]) -> Option<DateTime<Utc>> {
    events.iter().map(|e| e.created_at).max()
}

// ---------------------------------------------------------------------------------------------
// patrol (default)
// ---------------------------------------------------------------------------------------------

/// The `patrol` payload: `{"version": 1, "delivery_id", "created_at", "events": [...]}` with
/// one [`patrol_event`] object per event.
pub fn patrol(events: &[AlertEvent], delivery_id: &str) -> Value {
    json!({
        "version": PATROL_VERSION,
        "delivery_id": delivery_id,
        "created_at": delivery_time(events).map(rfc3339),
        "events": events.iter().map(patrol_event).collect::<Vec<_>>(),
    })
}

/// One event of the `patrol` payload. Written out field by field (not derived from
/// [`AlertEvent`]) so that version 1 stays what receivers were promised when the internal
/// model changes.
pub fn patrol_event(e: &AlertEvent) -> Value {
    let r = &e.result;
    json!({
        "event_id": e.event_id,
        "type": kind_str(e.kind),
        "reason": e.reason,
        "fingerprint": e.fingerprint,
        "incident_id": e.incident_id,
        "check": {
            "id": e.check.id,
            "name": e.check.name,
            "description": e.check.description,
            "tags": e.check.tags,
            "schedule": e.check.schedule,
            "timezone": e.check.timezone,
        },
        "state": {
            "current": e.state.current.as_str(),
            "previous": e.state.previous.map(Status::as_str),
            "since": rfc3339(e.state.since),
            "consecutive_failures": e.state.consecutive_failures,
        },
        "result": {
            "summary": r.summary,
            // Non-finite numbers have no JSON form: they become null.
            "metrics": r.metrics,
            "facts": r.facts,
            "output_tail": r.output_tail,
            "started_at": rfc3339(r.started_at),
            "duration_ms": r.duration_ms,
        },
        "suppressed_dependents": e.suppressed_dependents,
        "url": e.url,
        "created_at": rfc3339(e.created_at),
    })
}

// ---------------------------------------------------------------------------------------------
// The human reading shared by the chat formats
// ---------------------------------------------------------------------------------------------

/// How bad an event looks, for labels and colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Critical,
    Warning,
    Unknown,
    Good,
    Flapping,
    Info,
}

/// The status an event is about: the current one, or for a resolve the one it recovered from.
pub fn severity(e: &AlertEvent) -> Status {
    match (e.state.current, e.state.previous) {
        (Status::Ok, Some(prev)) => prev,
        (cur, _) => cur,
    }
}

/// A person's reading of one event.
#[derive(Debug, Clone)]
pub struct View<'a> {
    pub event: &'a AlertEvent,
    /// `CRITICAL`, `RESOLVED`, `REMINDER · WARNING`, `FLAPPING`, `TEST`.
    pub label: String,
    /// `[CRITICAL] <check name> — <summary>` (`(bad for 2h13m)` appended to a resolve).
    pub title: String,
    pub tone: Tone,
    /// `2024-05-01 07:30 CST (2024-04-30 23:30 UTC)`.
    pub since: String,
    /// How long the check has been (or was) bad: `2h13m`.
    pub bad_for: String,
    /// Label/value lines shown under the summary.
    pub facts: Vec<(&'static str, String)>,
    /// The check's description, cut to a readable length.
    pub runbook: Option<String>,
}

impl<'a> View<'a> {
    pub fn new(e: &'a AlertEvent) -> View<'a> {
        let sev = severity(e);
        let sev_label = sev.as_str().to_ascii_uppercase();
        let (label, tone) = match e.kind {
            MessageKind::Firing => (sev_label.clone(), status_tone(sev)),
            MessageKind::Reminder => (format!("REMINDER · {sev_label}"), status_tone(sev)),
            MessageKind::Resolved => ("RESOLVED".to_string(), Tone::Good),
            MessageKind::Flapping => ("FLAPPING".to_string(), Tone::Flapping),
            MessageKind::Test => ("TEST".to_string(), Tone::Info),
            MessageKind::Report => ("REPORT".to_string(), Tone::Info),
        };
        let bad_for = human_duration(e.created_at - e.state.since);
        let mut title = format!("[{label}] {} — {}", e.check.name, e.result.summary);
        if e.kind == MessageKind::Resolved {
            title.push_str(&format!(" (bad for {bad_for})"));
        }
        let since = local_and_utc(e.state.since, &e.check.timezone);

        let mut facts: Vec<(&'static str, String)> = Vec::new();
        let status = match (e.kind, e.state.previous) {
            (MessageKind::Resolved, Some(prev)) => format!("OK (was {prev})"),
            (_, Some(prev)) if prev != e.state.current => {
                format!("{} (was {prev})", e.state.current)
            }
            _ => e.state.current.to_string(),
        };
        facts.push(("Status", status));
        if !matches!(e.kind, MessageKind::Test | MessageKind::Report) {
            let since_line = match e.kind {
                MessageKind::Resolved => format!("{since}, bad for {bad_for}"),
                _ => format!("{since}, {bad_for} ago"),
            };
            facts.push(("Since", since_line));
            if e.state.consecutive_failures > 0 {
                facts.push((
                    "Failed runs in a row",
                    e.state.consecutive_failures.to_string(),
                ));
            }
        }
        let mut check = e.check.id.clone();
        if !e.check.tags.is_empty() {
            check.push_str(&format!(" (tags: {})", e.check.tags.join(", ")));
        }
        facts.push(("Check", check));
        if !e.result.metrics.is_empty() {
            let m: Vec<String> = e
                .result
                .metrics
                .iter()
                .take(8)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            facts.push(("Metrics", m.join(", ")));
        }
        if let Some(bundle) = e.result.facts.get("log_bundle").and_then(|b| b.as_str()) {
            facts.push(("Logs", bundle.to_string()));
        }
        if !e.suppressed_dependents.is_empty() {
            facts.push(("Held back", e.suppressed_dependents.join(", ")));
        }
        if !e.reason.is_empty() {
            facts.push(("Why sent", e.reason.clone()));
        }
        let runbook = (!e.check.description.trim().is_empty())
            .then(|| cut_chars(e.check.description.trim(), CHAT_RUNBOOK_CHARS));
        View {
            event: e,
            label,
            title,
            tone,
            since,
            bad_for,
            facts,
            runbook,
        }
    }

    pub fn url(&self) -> Option<&str> {
        self.event.url.as_deref().filter(|u| !u.is_empty())
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

/// The worst tone of a delivery (for a card's colour).
fn worst_tone(views: &[View<'_>]) -> Tone {
    let rank = |t: Tone| match t {
        Tone::Critical => 5,
        Tone::Unknown => 4,
        Tone::Warning => 3,
        Tone::Flapping => 2,
        Tone::Good => 1,
        Tone::Info => 0,
    };
    views
        .iter()
        .map(|v| v.tone)
        .max_by_key(|t| rank(*t))
        .unwrap_or(Tone::Info)
}

/// The title of a whole delivery: the event's own title, or `[patrol] 3 alerts: 2 firing,
/// 1 resolved` for a group.
pub fn delivery_title(views: &[View<'_>]) -> String {
    match views {
        [one] => one.title.clone(),
        many => {
            let mut counts: Vec<(&'static str, usize)> = Vec::new();
            for v in many {
                let k = kind_str(v.event.kind);
                match counts.iter_mut().find(|(n, _)| *n == k) {
                    Some((_, c)) => *c += 1,
                    None => counts.push((k, 1)),
                }
            }
            let parts: Vec<String> = counts.iter().map(|(k, c)| format!("{c} {k}")).collect();
            format!("[patrol] {} alerts: {}", many.len(), parts.join(", "))
        }
    }
}

/// `2h13m`, `45m`, `30s`, `3d4h`.
pub fn human_duration(d: chrono::TimeDelta) -> String {
    let s = d.num_seconds().max(0);
    let (days, hours, mins, secs) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    if days > 0 {
        if hours > 0 {
            format!("{days}d{hours}h")
        } else {
            format!("{days}d")
        }
    } else if hours > 0 {
        format!("{hours}h{mins:02}m")
    } else if mins > 0 {
        format!("{mins}m")
    } else {
        format!("{secs}s")
    }
}

/// `2024-05-01 07:30 CST (2024-04-30 23:30 UTC)`; just the UTC time when the zone is UTC or
/// unknown.
pub fn local_and_utc(t: DateTime<Utc>, zone: &str) -> String {
    let utc = t.format("%Y-%m-%d %H:%M UTC").to_string();
    match zone.parse::<chrono_tz::Tz>() {
        Ok(tz) if tz != chrono_tz::UTC && tz != chrono_tz::Etc::UTC => {
            let local = t.with_timezone(&tz).format("%Y-%m-%d %H:%M %Z");
            format!("{local} ({utc})")
        }
        _ => utc,
    }
}

/// At most `n` characters, with `…` when cut.
fn cut_chars(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut out: String = s.chars().take(n.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

/// At most `n` bytes of UTF-8, cut on a character boundary, with `…` when cut.
fn cut_bytes(s: &str, n: usize) -> String {
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

const FOOTER: &str = "Sent by patrol";

/// A markdown rendering of a delivery (the dialect differences are small: `bold` markers and
/// how a line break is written).
struct Markdown {
    /// Line break inside one event block.
    br: &'static str,
    /// Wraps a label in colour (WeCom's `<font color>`); identity elsewhere.
    colour: fn(Tone, &str) -> String,
}

impl Markdown {
    fn render(&self, views: &[View<'_>]) -> String {
        let mut out = String::new();
        if views.len() > 1 {
            out.push_str(&format!("### {}\n\n", delivery_title(views)));
        }
        for (i, v) in views.iter().take(CHAT_MAX_EVENTS).enumerate() {
            if i > 0 {
                out.push_str("\n\n---\n\n");
            }
            let label = (self.colour)(v.tone, &format!("[{}]", v.label));
            let name = match v.url() {
                Some(u) => format!("[{}]({u})", v.event.check.name),
                None => v.event.check.name.clone(),
            };
            let heading = if views.len() > 1 { "####" } else { "###" };
            out.push_str(&format!("{heading} {label} {name}\n\n"));
            out.push_str(&format!("**{}**", v.event.result.summary));
            for (k, val) in &v.facts {
                out.push_str(self.br);
                out.push_str(&format!("- **{k}:** {val}"));
            }
            if let Some(rb) = &v.runbook {
                out.push_str("\n\n");
                out.push_str(&format!("> {}", rb.replace('\n', " ")));
            }
            if let Some(u) = v.url() {
                out.push_str("\n\n");
                out.push_str(&format!("[Open in patrol]({u})"));
            }
        }
        if views.len() > CHAT_MAX_EVENTS {
            out.push_str(&format!("\n\n…and {} more", views.len() - CHAT_MAX_EVENTS));
        }
        out.push_str(&format!("\n\n{FOOTER}"));
        out
    }
}

/// A plain-text rendering of a delivery (for templates and fallbacks).
pub fn plain_text(events: &[AlertEvent]) -> String {
    let views: Vec<View<'_>> = events.iter().map(View::new).collect();
    let mut out = String::new();
    if views.len() > 1 {
        out.push_str(&delivery_title(&views));
        out.push_str("\n\n");
    }
    for (i, v) in views.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&v.title);
        out.push('\n');
        for (k, val) in &v.facts {
            out.push_str(&format!("  {k}: {val}\n"));
        }
        if let Some(u) = v.url() {
            out.push_str(&format!("  Link: {u}\n"));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// slack
// ---------------------------------------------------------------------------------------------

/// Slack's mrkdwn needs only `&`, `<` and `>` escaped.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack incoming webhook: `text` (the notification and fallback line) plus Block Kit
/// `blocks` (a header, one section per event, a context line).
pub fn slack(events: &[AlertEvent]) -> Value {
    let views: Vec<View<'_>> = events.iter().map(View::new).collect();
    let title = delivery_title(&views);
    let mut blocks = vec![json!({
        "type": "header",
        // Header text is plain text of at most 150 characters.
        "text": {"type": "plain_text", "text": cut_chars(&title, 150), "emoji": true},
    })];
    for v in views.iter().take(CHAT_MAX_EVENTS) {
        let emoji = match v.tone {
            Tone::Critical => ":red_circle:",
            Tone::Warning => ":large_orange_circle:",
            Tone::Unknown => ":white_circle:",
            Tone::Good => ":large_green_circle:",
            Tone::Flapping => ":warning:",
            Tone::Info => ":information_source:",
        };
        let name = slack_escape(&v.event.check.name);
        let name = match v.url() {
            Some(u) => format!("<{}|{name}>", slack_escape(u)),
            None => name,
        };
        let mut text = format!(
            "{emoji} *[{}] {name}*\n{}",
            v.label,
            slack_escape(&v.event.result.summary)
        );
        for (k, val) in &v.facts {
            text.push_str(&format!("\n*{k}:* {}", slack_escape(val)));
        }
        if let Some(rb) = &v.runbook {
            text.push_str(&format!("\n>{}", slack_escape(&rb.replace('\n', " "))));
        }
        // A section's text is limited to 3000 characters.
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut_chars(&text, 3000)},
        }));
    }
    if views.len() > CHAT_MAX_EVENTS {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("…and {} more", views.len() - CHAT_MAX_EVENTS)},
        }));
    }
    blocks.push(json!({
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": FOOTER}],
    }));
    json!({ "text": title, "blocks": blocks })
}

// ---------------------------------------------------------------------------------------------
// teams
// ---------------------------------------------------------------------------------------------

/// Microsoft Teams: a message with one Adaptive Card attachment, the shape accepted by both
/// Teams Workflows ("post to a channel when a webhook request is received") and the older
/// incoming-webhook connectors.
pub fn teams(events: &[AlertEvent]) -> Value {
    let views: Vec<View<'_>> = events.iter().map(View::new).collect();
    let colour = |t: Tone| match t {
        Tone::Critical => "Attention",
        Tone::Warning | Tone::Flapping => "Warning",
        Tone::Good => "Good",
        Tone::Unknown | Tone::Info => "Accent",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": delivery_title(&views),
        "weight": "Bolder",
        "size": "Medium",
        "color": colour(worst_tone(&views)),
        "wrap": true,
    })];
    let mut actions = Vec::new();
    for v in views.iter().take(CHAT_MAX_EVENTS) {
        if views.len() > 1 {
            body.push(json!({
                "type": "TextBlock",
                "text": format!("[{}] {}", v.label, v.event.check.name),
                "weight": "Bolder",
                "color": colour(v.tone),
                "separator": true,
                "wrap": true,
            }));
        }
        body.push(json!({"type": "TextBlock", "text": v.event.result.summary, "wrap": true}));
        let facts: Vec<Value> = v
            .facts
            .iter()
            .map(|(k, val)| json!({"title": k, "value": val}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
        if let Some(rb) = &v.runbook {
            body.push(json!({"type": "TextBlock", "text": rb, "isSubtle": true, "wrap": true}));
        }
        if let Some(u) = v.url() {
            actions.push(json!({
                "type": "Action.OpenUrl",
                "title": format!("Open {}", v.event.check.name),
                "url": u,
            }));
        }
    }
    if views.len() > CHAT_MAX_EVENTS {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("…and {} more", views.len() - CHAT_MAX_EVENTS),
            "wrap": true,
        }));
    }
    body.push(json!({"type": "TextBlock", "text": FOOTER, "isSubtle": true, "size": "Small"}));
    let mut card = json!({
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    });
    if !actions.is_empty() {
        card["actions"] = Value::Array(actions);
    }
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": card,
        }],
    })
}

// ---------------------------------------------------------------------------------------------
// dingtalk, wecom, feishu
// ---------------------------------------------------------------------------------------------

fn no_colour(_: Tone, s: &str) -> String {
    s.to_string()
}

/// DingTalk custom robot: `{"msgtype": "markdown", "markdown": {"title", "text"}}`. The title
/// is what the notification shows; DingTalk's markdown needs a blank line for a line break.
pub fn dingtalk(events: &[AlertEvent]) -> Value {
    let views: Vec<View<'_>> = events.iter().map(View::new).collect();
    let md = Markdown {
        br: "\n\n",
        colour: no_colour,
    };
    json!({
        "msgtype": "markdown",
        "markdown": {
            "title": cut_chars(&delivery_title(&views), 100),
            "text": cut_bytes(&md.render(&views), 18_000),
        },
    })
}

/// WeCom (企业微信) group robot: `{"msgtype": "markdown", "markdown": {"content"}}`, at most
/// 4096 bytes, labels coloured with WeCom's `<font color>`.
pub fn wecom(events: &[AlertEvent]) -> Value {
    let views: Vec<View<'_>> = events.iter().map(View::new).collect();
    fn colour(t: Tone, s: &str) -> String {
        let c = match t {
            Tone::Critical | Tone::Warning | Tone::Flapping => "warning",
            Tone::Good => "info",
            Tone::Unknown | Tone::Info => "comment",
        };
        format!("<font color=\"{c}\">{s}</font>")
    }
    let md = Markdown { br: "\n", colour };
    json!({
        "msgtype": "markdown",
        "markdown": { "content": cut_bytes(&md.render(&views), 4096) },
    })
}

/// Feishu / Lark custom bot: an interactive card (`msg_type: interactive`) with a coloured
/// header, one `lark_md` block per event and link buttons.
pub fn feishu(events: &[AlertEvent]) -> Value {
    let views: Vec<View<'_>> = events.iter().map(View::new).collect();
    let template = match worst_tone(&views) {
        Tone::Critical => "red",
        Tone::Warning | Tone::Flapping => "orange",
        Tone::Unknown => "grey",
        Tone::Good => "green",
        Tone::Info => "blue",
    };
    let mut elements = Vec::new();
    for (i, v) in views.iter().take(CHAT_MAX_EVENTS).enumerate() {
        if i > 0 {
            elements.push(json!({"tag": "hr"}));
        }
        let mut text = String::new();
        if views.len() > 1 {
            text.push_str(&format!("**[{}] {}**\n", v.label, v.event.check.name));
        }
        text.push_str(&format!("**{}**", v.event.result.summary));
        for (k, val) in &v.facts {
            text.push_str(&format!("\n**{k}:** {val}"));
        }
        if let Some(rb) = &v.runbook {
            text.push_str(&format!("\n{rb}"));
        }
        elements.push(json!({"tag": "div", "text": {"tag": "lark_md", "content": text}}));
        if let Some(u) = v.url() {
            elements.push(json!({
                "tag": "action",
                "actions": [{
                    "tag": "button",
                    "text": {"tag": "plain_text", "content": format!("Open {}", v.event.check.name)},
                    "type": "primary",
                    "url": u,
                }],
            }));
        }
    }
    if views.len() > CHAT_MAX_EVENTS {
        elements.push(json!({
            "tag": "div",
            "text": {"tag": "lark_md", "content": format!("…and {} more", views.len() - CHAT_MAX_EVENTS)},
        }));
    }
    elements.push(json!({"tag": "note", "elements": [{"tag": "plain_text", "content": FOOTER}]}));
    json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {
                "title": {"tag": "plain_text", "content": delivery_title(&views)},
                "template": template,
            },
            "elements": elements,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// alertmanager
// ---------------------------------------------------------------------------------------------

/// Alertmanager's zero time: `endsAt` of an alert that is still firing.
const AM_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The Alertmanager (v4) webhook payload, so that anything that receives Alertmanager
/// notifications (incident tools, bridges) receives patrol's. Per alert: `labels` `alertname`
/// (the check's name), `check` (its id), `severity` (the status it is or was in), `tags`
/// (comma-separated); `annotations` `summary`, `description` (the runbook), `reason`, `type`;
/// `startsAt` since when it is bad, `endsAt` the resolve time (zero time while firing).
/// `groupKey` is stable for the same check (or the same set of incidents) so that receivers
/// can deduplicate; `externalURL` is the origin of the events' status-page links.
pub fn alertmanager(events: &[AlertEvent], receiver: &str) -> Value {
    let alerts: Vec<Map<String, Value>> = events.iter().map(am_alert).collect();
    let firing = events
        .iter()
        .any(|e| !matches!(e.kind, MessageKind::Resolved | MessageKind::Report));

    let common = |field: &str| -> Map<String, Value> {
        let mut it = alerts.iter().filter_map(|a| a.get(field)?.as_object());
        let Some(first) = it.next() else {
            return Map::new();
        };
        let mut common = first.clone();
        for other in it {
            common.retain(|k, v| other.get(k) == Some(v));
        }
        common
    };
    let common_labels = common("labels");
    let common_annotations = common("annotations");

    let mut checks: Vec<&str> = events.iter().map(|e| e.check.id.as_str()).collect();
    checks.sort_unstable();
    checks.dedup();
    let (group_labels, group_key) = match checks.as_slice() {
        [one] => (
            json!({"check": one}),
            format!(
                "{{}}/{{receiver={}}}:{{check={}}}",
                am_quote(receiver),
                am_quote(one)
            ),
        ),
        _ => {
            let mut incidents: Vec<&str> = events.iter().map(|e| e.incident_id.as_str()).collect();
            incidents.sort_unstable();
            incidents.dedup();
            (
                json!({}),
                format!(
                    "{{}}/{{receiver={}}}:{{incidents={}}}",
                    am_quote(receiver),
                    am_quote(&incidents.join(","))
                ),
            )
        }
    };
    let external_url = events
        .iter()
        .filter_map(|e| e.url.as_deref())
        .find_map(origin)
        .unwrap_or_default();

    json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": if firing { "firing" } else { "resolved" },
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "alerts": alerts,
    })
}

fn am_quote(s: &str) -> String {
    format!("{s:?}")
}

fn am_alert(e: &AlertEvent) -> Map<String, Value> {
    // A report is not an alert: it goes out as an already resolved `PatrolReport` alert, so
    // that receivers that only know Alertmanager still see it (and page nobody for it).
    let report = e.kind == MessageKind::Report;
    let resolved = e.kind == MessageKind::Resolved || report;
    let mut labels = Map::new();
    let alertname = if report {
        "PatrolReport"
    } else {
        &e.check.name
    };
    labels.insert("alertname".into(), json!(alertname));
    labels.insert("check".into(), json!(e.check.id));
    labels.insert("severity".into(), json!(severity(e).as_str()));
    if !e.check.tags.is_empty() {
        labels.insert("tags".into(), json!(e.check.tags.join(",")));
    }
    let mut annotations = Map::new();
    annotations.insert("summary".into(), json!(e.result.summary));
    // Not a label: labels must stay the same from firing to resolved.
    annotations.insert("type".into(), json!(kind_str(e.kind)));
    if !e.check.description.is_empty() {
        annotations.insert("description".into(), json!(e.check.description));
    }
    if !e.reason.is_empty() {
        annotations.insert("reason".into(), json!(e.reason));
    }
    if !e.suppressed_dependents.is_empty() {
        annotations.insert(
            "suppressed_dependents".into(),
            json!(e.suppressed_dependents.join(",")),
        );
    }
    let mut a = Map::new();
    a.insert(
        "status".into(),
        json!(if resolved { "resolved" } else { "firing" }),
    );
    a.insert("labels".into(), Value::Object(labels));
    a.insert("annotations".into(), Value::Object(annotations));
    a.insert("startsAt".into(), json!(rfc3339(e.state.since)));
    a.insert(
        "endsAt".into(),
        json!(if resolved {
            rfc3339(e.created_at)
        } else {
            AM_ZERO_TIME.to_string()
        }),
    );
    a.insert(
        "generatorURL".into(),
        json!(e.url.clone().unwrap_or_default()),
    );
    a.insert("fingerprint".into(), json!(e.fingerprint));
    a
}

/// `https://host:port` of a URL.
fn origin(u: &str) -> Option<String> {
    let url = reqwest::Url::parse(u).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

// ---------------------------------------------------------------------------------------------
// template
// ---------------------------------------------------------------------------------------------

/// What a `template` body sees: `version`, `delivery_id`, `channel`, `count`, `title` (one
/// line for the delivery), `text` (a plain-text rendering of all events), `events` (the
/// [`patrol_event`] objects) and `event` (the first of them).
pub fn template_context(events: &[AlertEvent], delivery_id: &str, channel: &str) -> Value {
    let views: Vec<View<'_>> = events.iter().map(View::new).collect();
    let objs: Vec<Value> = events.iter().map(patrol_event).collect();
    json!({
        "version": PATROL_VERSION,
        "delivery_id": delivery_id,
        "channel": channel,
        "count": events.len(),
        "title": delivery_title(&views),
        "text": plain_text(events),
        "event": objs.first().cloned().unwrap_or(Value::Null),
        "events": objs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(human_duration(TimeDelta::seconds(30)), "30s");
        assert_eq!(human_duration(TimeDelta::seconds(45 * 60)), "45m");
        assert_eq!(
            human_duration(TimeDelta::seconds(2 * 3600 + 13 * 60)),
            "2h13m"
        );
        assert_eq!(
            human_duration(TimeDelta::seconds(3 * 86_400 + 4 * 3600)),
            "3d4h"
        );
        assert_eq!(human_duration(TimeDelta::seconds(-5)), "0s");
    }

    #[test]
    fn times_show_the_zone_and_utc() {
        let t = DateTime::parse_from_rfc3339("2024-04-30T23:30:00Z")
            .map(|t| t.with_timezone(&Utc))
            .unwrap();
        assert_eq!(
            local_and_utc(t, "Asia/Shanghai"),
            "2024-05-01 07:30 CST (2024-04-30 23:30 UTC)"
        );
        assert_eq!(local_and_utc(t, "UTC"), "2024-04-30 23:30 UTC");
        assert_eq!(local_and_utc(t, "Not/AZone"), "2024-04-30 23:30 UTC");
    }

    #[test]
    fn cuts_on_character_boundaries() {
        assert_eq!(cut_bytes("ab", 10), "ab");
        let s = "é".repeat(100);
        let c = cut_bytes(&s, 11);
        assert!(c.len() <= 11 && c.ends_with('…'));
        assert_eq!(cut_chars("abcdef", 4), "abc…");
    }

    #[test]
    fn origin_of_a_link() {
        assert_eq!(
            origin("https://patrol.example:8443/checks/x?y=1").as_deref(),
            Some("https://patrol.example:8443")
        );
        assert_eq!(origin("not a url"), None);
    }
}
