//! The chat formats (slack, teams, dingtalk, wecom, feishu) and the plain-text rendering a
//! `template` sees. They lay out one [`Card`] per event: the event's [`View`] (title, status,
//! since when and for how long, in the check's time zone and in UTC), the facts under it (the
//! check, metrics, log bundle, the checks held back behind it, why it was sent), the runbook,
//! and a link to the status page.

use crate::alert::event::AlertEvent;
use crate::alert::present::{self, Tone, View, cut_bytes, cut_chars};
use serde_json::{Value, json};

/// At most this many events are itemised in one chat message (chat tools limit the size of a
/// message: Slack 50 blocks, WeCom 4096 bytes); the rest are counted.
const CHAT_MAX_EVENTS: usize = 10;

/// How much of a check's description (its runbook) a chat message quotes.
const CHAT_RUNBOOK_CHARS: usize = 400;

/// One event as a chat message shows it.
#[derive(Debug, Clone)]
pub struct Card<'a> {
    pub view: View<'a>,
    /// Label/value lines shown under the summary: the view's status and state, then the
    /// check, metrics, log bundle, held-back checks and why it was sent.
    pub facts: Vec<(&'static str, String)>,
    /// The check's description, cut to a readable length.
    pub runbook: Option<String>,
}

impl<'a> Card<'a> {
    /// Dates things in the check's own time zone (and UTC).
    pub fn new(e: &'a AlertEvent) -> Card<'a> {
        let view = View::new(e, present::zone(&e.check.timezone));
        let mut facts: Vec<(&'static str, String)> = vec![("Status", view.status.clone())];
        facts.extend(view.state.iter().cloned());
        let mut check = e.check.id.clone();
        if !e.check.tags.is_empty() {
            check.push_str(&format!(" (tags: {})", e.check.tags.join(", ")));
        }
        facts.push(("Check", check));
        facts.extend(present::console_row(e));
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
        Card {
            view,
            facts,
            runbook,
        }
    }
}

/// The worst tone of a delivery (for a card's colour).
fn worst_tone(cards: &[Card<'_>]) -> Tone {
    cards
        .iter()
        .map(|c| c.view.tone)
        .max_by_key(|t| t.rank())
        .unwrap_or(Tone::Info)
}

/// The title of a whole delivery: the event's own title, or `[patrol] 3 alerts: 2 firing,
/// 1 resolved` for a group.
pub fn delivery_title(cards: &[Card<'_>]) -> String {
    match cards {
        [one] => one.view.title.clone(),
        many => {
            let mut counts: Vec<(&'static str, usize)> = Vec::new();
            for c in many {
                let k = c.view.event.kind.as_str();
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
    fn render(&self, cards: &[Card<'_>]) -> String {
        let mut out = String::new();
        if cards.len() > 1 {
            out.push_str(&format!("### {}\n\n", delivery_title(cards)));
        }
        for (i, c) in cards.iter().take(CHAT_MAX_EVENTS).enumerate() {
            if i > 0 {
                out.push_str("\n\n---\n\n");
            }
            let label = (self.colour)(c.view.tone, &format!("[{}]", c.view.tag));
            let name = match c.view.url() {
                Some(u) => format!("[{}]({u})", c.view.event.check.name),
                None => c.view.event.check.name.clone(),
            };
            let heading = if cards.len() > 1 { "####" } else { "###" };
            out.push_str(&format!("{heading} {label} {name}\n\n"));
            out.push_str(&format!("**{}**", c.view.event.result.summary));
            for (k, val) in &c.facts {
                out.push_str(self.br);
                out.push_str(&format!("- **{k}:** {val}"));
            }
            if let Some(rb) = &c.runbook {
                out.push_str("\n\n");
                out.push_str(&format!("> {}", rb.replace('\n', " ")));
            }
            if let Some(u) = c.view.url() {
                out.push_str("\n\n");
                out.push_str(&format!("[Open in patrol]({u})"));
            }
        }
        if cards.len() > CHAT_MAX_EVENTS {
            out.push_str(&format!("\n\n…and {} more", cards.len() - CHAT_MAX_EVENTS));
        }
        out.push_str(&format!("\n\n{FOOTER}"));
        out
    }
}

/// A plain-text rendering of a delivery (for templates and fallbacks).
pub fn plain_text(events: &[AlertEvent]) -> String {
    let cards: Vec<Card<'_>> = events.iter().map(Card::new).collect();
    let mut out = String::new();
    if cards.len() > 1 {
        out.push_str(&delivery_title(&cards));
        out.push_str("\n\n");
    }
    for (i, c) in cards.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&c.view.title);
        out.push('\n');
        for (k, val) in &c.facts {
            out.push_str(&format!("  {k}: {val}\n"));
        }
        if let Some(u) = c.view.url() {
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
    let cards: Vec<Card<'_>> = events.iter().map(Card::new).collect();
    let title = delivery_title(&cards);
    let mut blocks = vec![json!({
        "type": "header",
        // Header text is plain text of at most 150 characters.
        "text": {"type": "plain_text", "text": cut_chars(&title, 150), "emoji": true},
    })];
    for c in cards.iter().take(CHAT_MAX_EVENTS) {
        let emoji = match c.view.tone {
            Tone::Critical => ":red_circle:",
            Tone::Warning => ":large_orange_circle:",
            Tone::Unknown => ":white_circle:",
            Tone::Good => ":large_green_circle:",
            Tone::Flapping => ":warning:",
            Tone::Info => ":information_source:",
        };
        let name = slack_escape(&c.view.event.check.name);
        let name = match c.view.url() {
            Some(u) => format!("<{}|{name}>", slack_escape(u)),
            None => name,
        };
        let mut text = format!(
            "{emoji} *[{}] {name}*\n{}",
            c.view.tag,
            slack_escape(&c.view.event.result.summary)
        );
        for (k, val) in &c.facts {
            text.push_str(&format!("\n*{k}:* {}", slack_escape(val)));
        }
        if let Some(rb) = &c.runbook {
            text.push_str(&format!("\n>{}", slack_escape(&rb.replace('\n', " "))));
        }
        // A section's text is limited to 3000 characters.
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut_chars(&text, 3000)},
        }));
    }
    if cards.len() > CHAT_MAX_EVENTS {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": format!("…and {} more", cards.len() - CHAT_MAX_EVENTS)},
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
    let cards: Vec<Card<'_>> = events.iter().map(Card::new).collect();
    let colour = |t: Tone| match t {
        Tone::Critical => "Attention",
        Tone::Warning | Tone::Flapping => "Warning",
        Tone::Good => "Good",
        Tone::Unknown | Tone::Info => "Accent",
    };
    let mut body = vec![json!({
        "type": "TextBlock",
        "text": delivery_title(&cards),
        "weight": "Bolder",
        "size": "Medium",
        "color": colour(worst_tone(&cards)),
        "wrap": true,
    })];
    let mut actions = Vec::new();
    for c in cards.iter().take(CHAT_MAX_EVENTS) {
        if cards.len() > 1 {
            body.push(json!({
                "type": "TextBlock",
                "text": format!("[{}] {}", c.view.tag, c.view.event.check.name),
                "weight": "Bolder",
                "color": colour(c.view.tone),
                "separator": true,
                "wrap": true,
            }));
        }
        body.push(json!({"type": "TextBlock", "text": c.view.event.result.summary, "wrap": true}));
        let facts: Vec<Value> = c
            .facts
            .iter()
            .map(|(k, val)| json!({"title": k, "value": val}))
            .collect();
        body.push(json!({"type": "FactSet", "facts": facts}));
        if let Some(rb) = &c.runbook {
            body.push(json!({"type": "TextBlock", "text": rb, "isSubtle": true, "wrap": true}));
        }
        if let Some(u) = c.view.url() {
            actions.push(json!({
                "type": "Action.OpenUrl",
                "title": format!("Open {}", c.view.event.check.name),
                "url": u,
            }));
        }
    }
    if cards.len() > CHAT_MAX_EVENTS {
        body.push(json!({
            "type": "TextBlock",
            "text": format!("…and {} more", cards.len() - CHAT_MAX_EVENTS),
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
    let cards: Vec<Card<'_>> = events.iter().map(Card::new).collect();
    let md = Markdown {
        br: "\n\n",
        colour: no_colour,
    };
    json!({
        "msgtype": "markdown",
        "markdown": {
            "title": cut_chars(&delivery_title(&cards), 100),
            "text": cut_bytes(&md.render(&cards), 18_000),
        },
    })
}

/// WeCom (企业微信) group robot: `{"msgtype": "markdown", "markdown": {"content"}}`, at most
/// 4096 bytes, labels coloured with WeCom's `<font color>`.
pub fn wecom(events: &[AlertEvent]) -> Value {
    let cards: Vec<Card<'_>> = events.iter().map(Card::new).collect();
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
        "markdown": { "content": cut_bytes(&md.render(&cards), 4096) },
    })
}

/// Feishu / Lark custom bot: an interactive card (`msg_type: interactive`) with a coloured
/// header, one `lark_md` block per event and link buttons.
pub fn feishu(events: &[AlertEvent]) -> Value {
    let cards: Vec<Card<'_>> = events.iter().map(Card::new).collect();
    let template = match worst_tone(&cards) {
        Tone::Critical => "red",
        Tone::Warning | Tone::Flapping => "orange",
        Tone::Unknown => "grey",
        Tone::Good => "green",
        Tone::Info => "blue",
    };
    let mut elements = Vec::new();
    for (i, c) in cards.iter().take(CHAT_MAX_EVENTS).enumerate() {
        if i > 0 {
            elements.push(json!({"tag": "hr"}));
        }
        let mut text = String::new();
        if cards.len() > 1 {
            text.push_str(&format!(
                "**[{}] {}**\n",
                c.view.tag, c.view.event.check.name
            ));
        }
        text.push_str(&format!("**{}**", c.view.event.result.summary));
        for (k, val) in &c.facts {
            text.push_str(&format!("\n**{k}:** {val}"));
        }
        if let Some(rb) = &c.runbook {
            text.push_str(&format!("\n{rb}"));
        }
        elements.push(json!({"tag": "div", "text": {"tag": "lark_md", "content": text}}));
        if let Some(u) = c.view.url() {
            elements.push(json!({
                "tag": "action",
                "actions": [{
                    "tag": "button",
                    "text": {"tag": "plain_text", "content": format!("Open {}", c.view.event.check.name)},
                    "type": "primary",
                    "url": u,
                }],
            }));
        }
    }
    if cards.len() > CHAT_MAX_EVENTS {
        elements.push(json!({
            "tag": "div",
            "text": {"tag": "lark_md", "content": format!("…and {} more", cards.len() - CHAT_MAX_EVENTS)},
        }));
    }
    elements.push(json!({"tag": "note", "elements": [{"tag": "plain_text", "content": FOOTER}]}));
    json!({
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": true},
            "header": {
                "title": {"tag": "plain_text", "content": delivery_title(&cards)},
                "template": template,
            },
            "elements": elements,
        },
    })
}
