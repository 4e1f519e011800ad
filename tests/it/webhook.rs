//! The webhook channel against a real HTTP receiver (axum on 127.0.0.1, plain and TLS) that
//! records every request. Signatures are checked with `standardwebhooks`, the reference Rust
//! implementation of the Standard Webhooks spec (not patrol's signing code); DingTalk and
//! Feishu signatures with the `hmac-sha256` crate.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, TimeDelta, Utc};
use patrol::alert::channel::webhook::{WebhookChannel, WebhookConfig, WebhookFormat, test_event};
use patrol::alert::channel::{Channel, DeliveryError};
use patrol::alert::event::{AlertEvent, CheckInfo, MessageKind, ResultInfo, StateInfo};
use patrol::config::interp::{InterpContext, with_context};
use patrol::status::Status;
use serde_json::{Value, json};
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The Standard Webhooks signing secret used throughout (24 random bytes, base64).
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// A bearer token sent as an extra header.
const TOKEN: &str = "tok-4a1f9c2e7d";
/// The token part of a chat robot URL.
const URL_TOKEN: &str = "robot-9f8e7d6c5b";

// ---------------------------------------------------------------------------------------------
// The receiver
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Recorded {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Recorded {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the body is JSON")
    }
    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().expect("ascii header").to_string())
    }
    fn query_pairs(&self) -> BTreeMap<String, String> {
        let url = reqwest::Url::parse(&format!(
            "http://x/?{}",
            self.query.clone().unwrap_or_default()
        ))
        .expect("query");
        url.query_pairs().into_owned().collect()
    }
}

/// One answer the receiver gives; `echo` puts every request header and the body into it.
#[derive(Debug, Clone)]
struct Reply {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: String,
    echo: bool,
    delay: Duration,
}

impl Reply {
    fn new(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.to_string(),
            echo: false,
            delay: Duration::ZERO,
        }
    }
    fn header(mut self, name: &'static str, value: &str) -> Reply {
        self.headers.push((name, value.to_string()));
        self
    }
    fn echo(mut self) -> Reply {
        self.echo = true;
        self
    }
}

#[derive(Clone, Default)]
struct Receiver {
    requests: Arc<Mutex<Vec<Recorded>>>,
    /// Answers in order; when empty: 200 "ok".
    replies: Arc<Mutex<VecDeque<Reply>>>,
}

impl Receiver {
    fn reply(&self, r: Reply) {
        self.replies.lock().unwrap().push_back(r);
    }
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
    fn last(&self) -> Recorded {
        self.requests().pop().expect("the receiver got a request")
    }
}

async fn record(
    State(rx): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let reply = rx
        .replies
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| Reply::new(200, "ok"));
    let mut text = reply.body.clone();
    if reply.echo {
        for (k, v) in &headers {
            text.push_str(&format!(" {k}: {}", v.to_str().unwrap_or("?")));
        }
        text.push_str(&format!(" {}", String::from_utf8_lossy(&body)));
    }
    rx.requests.lock().unwrap().push(Recorded {
        method,
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        headers,
        body: body.to_vec(),
    });
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut resp = (StatusCode::from_u16(reply.status).unwrap(), text).into_response();
    for (k, v) in reply.headers {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

fn app(rx: &Receiver) -> Router {
    Router::new().fallback(record).with_state(rx.clone())
}

/// An HTTP receiver on 127.0.0.1 (a free port).
async fn start() -> (Receiver, SocketAddr) {
    let rx = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let router = app(&rx);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (rx, addr)
}

// ---------------------------------------------------------------------------------------------
// Events and channels
// ---------------------------------------------------------------------------------------------

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .expect("time")
        .with_timezone(&Utc)
}

const SINCE: &str = "2024-04-30T23:30:00Z";
const LINK: &str = "https://patrol.example:8443/checks/backup-task-delay";

/// A firing CRITICAL event of the backup-delay check, bad for 2h13m.
fn firing(id: &str) -> AlertEvent {
    let since = t(SINCE);
    AlertEvent {
        event_id: id.to_string(),
        kind: MessageKind::Firing,
        reason: "critical for 3 runs in a row (after: 3)".into(),
        incident_id: "backup-task-delay#7".into(),
        fingerprint: "3f2a9c0d1e4b5a67".into(),
        check: CheckInfo {
            id: "backup-task-delay".into(),
            name: "Backup tasks within RPO".into(),
            description: "A host whose last good sync is older than 2x its RPO is late.".into(),
            tags: vec!["backup".into(), "daily".into()],
            schedule: "0 30 7 * * *".into(),
            timezone: "Asia/Shanghai".into(),
            console: None,
        },
        state: StateInfo {
            current: Status::Critical,
            previous: Some(Status::Warning),
            since,
            consecutive_failures: 3,
        },
        result: ResultInfo {
            summary: "3 hosts late (worst: db-01, 9h)".into(),
            metrics: [("late_hosts".to_string(), 3.0)].into(),
            facts: [("late".to_string(), json!(["db-01", "web-02", "app-03"]))].into(),
            output_tail: Some("db-01 last sync 9h ago".into()),
            started_at: since + TimeDelta::minutes(133),
            duration_ms: 842,
        },
        suppressed_dependents: vec!["restore-sample".into()],
        url: Some(LINK.into()),
        created_at: since + TimeDelta::minutes(133),
    }
}

/// A resolve of another check (tunnel bandwidth, was WARNING).
fn resolved(id: &str) -> AlertEvent {
    let mut e = firing(id);
    e.kind = MessageKind::Resolved;
    e.reason = "ok for 2 runs in a row (recover_after: 2)".into();
    e.incident_id = "tunnel-bandwidth#2".into();
    e.fingerprint = "77aa00bb11cc22dd".into();
    e.check.id = "tunnel-bandwidth".into();
    e.check.name = "DR tunnel bandwidth".into();
    e.check.description = String::new();
    e.check.tags = vec!["network".into()];
    e.state.current = Status::Ok;
    e.state.previous = Some(Status::Warning);
    e.state.consecutive_failures = 0;
    e.result.summary = "bandwidth 180 Mbit/s".into();
    e.suppressed_dependents = Vec::new();
    e.url = Some("https://patrol.example:8443/checks/tunnel-bandwidth".into());
    e
}

/// A webhook config parsed from YAML the way patrol.yaml is read, with `${secret:...}`
/// references resolved (so secret values are marked as secret).
fn config(yaml: &str) -> WebhookConfig {
    let ctx = InterpContext {
        secrets: [
            ("hook".to_string(), SECRET.to_string()),
            ("token".to_string(), TOKEN.to_string()),
            ("dingtalk".to_string(), "SECd1n9t4lk5ecr3t".to_string()),
            ("feishu".to_string(), "f3i5hu5ecr3t".to_string()),
        ]
        .into(),
        ..InterpContext::default()
    };
    with_context(&ctx, || serde_saphyr::from_str(yaml)).expect("webhook config parses")
}

fn channel(yaml: &str) -> WebhookChannel {
    WebhookChannel::new("ops", &config(yaml)).expect("channel builds")
}

/// A channel posting to `addr` with `extra` YAML lines.
fn channel_to(addr: SocketAddr, extra: &str) -> WebhookChannel {
    channel(&format!("url: http://{addr}/hook\n{extra}"))
}

async fn send_ok(ch: &WebhookChannel, events: &[AlertEvent]) -> String {
    match ch.send(events).await {
        Ok(r) => r.response,
        Err(e) => panic!("delivery failed: {e}"),
    }
}

async fn send_err(ch: &WebhookChannel, events: &[AlertEvent]) -> DeliveryError {
    match ch.send(events).await {
        Ok(r) => panic!("expected a failure, got {r:?}"),
        Err(e) => e,
    }
}

fn verify(secret: &str, r: &Recorded) -> Result<(), standardwebhooks::WebhookError> {
    standardwebhooks::Webhook::new(secret)
        .expect("secret")
        .verify(&r.body, &r.headers)
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn is_rfc3339_utc(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.ends_with('Z') && DateTime::parse_from_rfc3339(s).is_ok())
}

// ---------------------------------------------------------------------------------------------
// Signing and identity
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn patrol_payload_is_signed_per_standard_webhooks() {
    let (rx, addr) = start().await;
    let ch = channel_to(addr, "secret: ${secret:hook}");
    let receipt = send_ok(&ch, &[firing("evt_1")]).await;
    assert_eq!(receipt, "HTTP 200 ok");

    let r = rx.last();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/hook");
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(r.header("webhook-id").as_deref(), Some("evt_1"));
    let ts: i64 = r.header("webhook-timestamp").unwrap().parse().unwrap();
    assert!((Utc::now().timestamp() - ts).abs() < 120, "fresh timestamp");
    assert!(r.header("webhook-signature").unwrap().starts_with("v1,"));
    verify(SECRET, &r).expect("the reference implementation accepts the signature");
}

#[tokio::test]
async fn a_tampered_body_or_wrong_secret_fails_verification() {
    let (rx, addr) = start().await;
    let ch = channel_to(addr, "secret: ${secret:hook}");
    send_ok(&ch, &[firing("evt_1")]).await;
    let r = rx.last();
    verify(SECRET, &r).expect("untouched: valid");

    let mut tampered = r.clone();
    let text = String::from_utf8(tampered.body).unwrap();
    tampered.body = text.replace("critical", "warning").into_bytes();
    assert!(matches!(
        verify(SECRET, &tampered),
        Err(standardwebhooks::WebhookError::InvalidSignature)
    ));

    let mut other_id = r.clone();
    other_id
        .headers
        .insert("webhook-id", "evt_2".parse().unwrap());
    assert!(verify(SECRET, &other_id).is_err());

    assert!(verify("whsec_dGhpcyBpcyBub3QgdGhlIHJpZ2h0IGtleQ==", &r).is_err());
}

#[tokio::test]
async fn no_secret_no_signature_headers() {
    let (rx, addr) = start().await;
    send_ok(&channel_to(addr, ""), &[firing("evt_1")]).await;
    let r = rx.last();
    assert!(r.header("webhook-signature").is_none());
    assert!(r.header("webhook-id").is_none());
    assert_eq!(r.json()["delivery_id"], "evt_1");
}

#[tokio::test]
async fn a_retry_reuses_the_delivery_id() {
    let (rx, addr) = start().await;
    let ch = channel_to(addr, "secret: ${secret:hook}");
    let one = [firing("evt_1")];
    send_ok(&ch, &one).await;
    send_ok(&ch, &one).await;
    let group = [firing("evt_2"), resolved("evt_3")];
    send_ok(&ch, &group).await;
    send_ok(&ch, &group).await;
    // The same group in another order is the same delivery.
    send_ok(&ch, &[group[1].clone(), group[0].clone()]).await;

    let reqs = rx.requests();
    assert_eq!(reqs.len(), 5);
    for r in &reqs {
        verify(SECRET, r).expect("every attempt is signed");
        assert_eq!(
            r.json()["delivery_id"].as_str(),
            r.header("webhook-id").as_deref()
        );
    }
    let ids: Vec<String> = reqs
        .iter()
        .map(|r| r.header("webhook-id").unwrap())
        .collect();
    assert_eq!(ids[0], "evt_1");
    assert_eq!(ids[1], "evt_1");
    assert!(ids[2].starts_with("grp_"), "{}", ids[2]);
    assert_eq!(ids[2], ids[3]);
    assert_eq!(ids[2], ids[4]);
    assert_ne!(ids[2], "evt_2");
    // Same delivery, same bytes (only the signature's timestamp moves).
    assert_eq!(reqs[0].body, reqs[1].body);
    assert_eq!(reqs[2].body, reqs[3].body);
}

// ---------------------------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn patrol_format_has_the_versioned_shape() {
    let (rx, addr) = start().await;
    send_ok(
        &channel_to(addr, "format: patrol"),
        &[firing("evt_1"), resolved("evt_2")],
    )
    .await;
    let v = rx.last().json();
    assert_eq!(keys(&v), ["created_at", "delivery_id", "events", "version"]);
    assert_eq!(v["version"], 1);
    assert!(v["delivery_id"].as_str().unwrap().starts_with("grp_"));
    assert!(is_rfc3339_utc(&v["created_at"]));
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);

    let e = &events[0];
    assert_eq!(
        keys(e),
        [
            "check",
            "created_at",
            "event_id",
            "fingerprint",
            "incident_id",
            "reason",
            "result",
            "state",
            "suppressed_dependents",
            "type",
            "url"
        ]
    );
    assert_eq!(e["event_id"], "evt_1");
    assert_eq!(e["type"], "firing");
    assert_eq!(e["reason"], "critical for 3 runs in a row (after: 3)");
    assert_eq!(e["fingerprint"], "3f2a9c0d1e4b5a67");
    assert_eq!(e["incident_id"], "backup-task-delay#7");
    assert_eq!(
        keys(&e["check"]),
        ["description", "id", "name", "schedule", "tags", "timezone"]
    );
    assert_eq!(e["check"]["id"], "backup-task-delay");
    assert_eq!(e["check"]["tags"], json!(["backup", "daily"]));
    assert_eq!(e["check"]["timezone"], "Asia/Shanghai");
    assert_eq!(
        keys(&e["state"]),
        ["consecutive_failures", "current", "previous", "since"]
    );
    assert_eq!(e["state"]["current"], "critical");
    assert_eq!(e["state"]["previous"], "warning");
    assert_eq!(e["state"]["since"], SINCE);
    assert_eq!(e["state"]["consecutive_failures"], 3);
    for k in ["summary", "metrics", "facts", "started_at", "duration_ms"] {
        assert!(e["result"].get(k).is_some(), "result.{k}");
    }
    assert_eq!(e["result"]["summary"], "3 hosts late (worst: db-01, 9h)");
    assert_eq!(e["result"]["metrics"]["late_hosts"], 3.0);
    assert_eq!(e["result"]["facts"]["late"][0], "db-01");
    assert!(is_rfc3339_utc(&e["result"]["started_at"]));
    assert_eq!(e["result"]["duration_ms"], 842);
    assert_eq!(e["suppressed_dependents"], json!(["restore-sample"]));
    assert_eq!(e["url"], LINK);
    assert_eq!(e["created_at"], "2024-05-01T01:43:00Z");

    assert_eq!(events[1]["type"], "resolved");
    assert_eq!(events[1]["state"]["current"], "ok");
}

/// What a person must be able to read in every chat format.
fn assert_readable(text: &str) {
    for needle in [
        "CRITICAL",
        "Backup tasks within RPO",
        "3 hosts late (worst: db-01, 9h)",
        "2024-05-01 07:30 CST",
        "2024-04-30 23:30 UTC",
        "2h13m",
        LINK,
        "restore-sample",
    ] {
        assert!(text.contains(needle), "{needle:?} missing in:\n{text}");
    }
}

#[tokio::test]
async fn slack_format() {
    let (rx, addr) = start().await;
    send_ok(&channel_to(addr, "format: slack"), &[firing("evt_1")]).await;
    let v = rx.last().json();
    assert!(
        v["text"]
            .as_str()
            .unwrap()
            .starts_with("[CRITICAL] Backup tasks within RPO")
    );
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    let section = &blocks[1];
    assert_eq!(section["type"], "section");
    assert_eq!(section["text"]["type"], "mrkdwn");
    let text = section["text"]["text"].as_str().unwrap();
    assert_readable(text);
    assert!(text.contains(&format!("<{LINK}|Backup tasks within RPO>")));
    assert_eq!(blocks.last().unwrap()["type"], "context");
}

#[tokio::test]
async fn teams_format() {
    let (rx, addr) = start().await;
    send_ok(&channel_to(addr, "format: teams"), &[firing("evt_1")]).await;
    let v = rx.last().json();
    assert_eq!(v["type"], "message");
    let att = &v["attachments"][0];
    assert_eq!(
        att["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &att["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert!(card["version"].is_string());
    let body = card["body"].as_array().unwrap();
    assert!(body.iter().all(|b| b["type"].is_string()));
    assert!(body.iter().any(|b| b["type"] == "FactSet"));
    assert_eq!(body[0]["color"], "Attention");
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["url"], LINK);
    assert_readable(&card.to_string());
}

#[tokio::test]
async fn dingtalk_format() {
    let (rx, addr) = start().await;
    send_ok(&channel_to(addr, "format: dingtalk"), &[firing("evt_1")]).await;
    let v = rx.last().json();
    assert_eq!(v["msgtype"], "markdown");
    assert!(
        v["markdown"]["title"]
            .as_str()
            .unwrap()
            .contains("[CRITICAL]")
    );
    let text = v["markdown"]["text"].as_str().unwrap();
    assert_readable(text);
    assert!(text.contains(&format!("[Open in patrol]({LINK})")));
}

#[tokio::test]
async fn wecom_format() {
    let (rx, addr) = start().await;
    send_ok(&channel_to(addr, "format: wecom"), &[firing("evt_1")]).await;
    let v = rx.last().json();
    assert_eq!(v["msgtype"], "markdown");
    let content = v["markdown"]["content"].as_str().unwrap();
    assert_readable(content);
    assert!(content.contains("<font color=\"warning\">[CRITICAL]</font>"));
    assert!(content.len() <= 4096);
}

#[tokio::test]
async fn feishu_format() {
    let (rx, addr) = start().await;
    send_ok(&channel_to(addr, "format: feishu"), &[firing("evt_1")]).await;
    let v = rx.last().json();
    assert_eq!(v["msg_type"], "interactive");
    let card = &v["card"];
    assert_eq!(card["header"]["template"], "red");
    assert!(
        card["header"]["title"]["content"]
            .as_str()
            .unwrap()
            .starts_with("[CRITICAL]")
    );
    let elements = card["elements"].as_array().unwrap();
    assert!(elements.iter().all(|e| e["tag"].is_string()));
    assert_eq!(elements[0]["text"]["tag"], "lark_md");
    assert_eq!(elements[1]["actions"][0]["url"], LINK);
    assert_readable(&card.to_string());
}

#[tokio::test]
async fn chat_formats_list_every_event_of_a_group() {
    let (rx, addr) = start().await;
    let group = [firing("evt_1"), resolved("evt_2")];
    for f in ["slack", "teams", "dingtalk", "wecom", "feishu"] {
        send_ok(&channel_to(addr, &format!("format: {f}")), &group).await;
        let body = String::from_utf8(rx.last().body).unwrap();
        for needle in [
            "2 alerts: 1 firing, 1 resolved",
            "Backup tasks within RPO",
            "DR tunnel bandwidth",
            "RESOLVED",
            "bandwidth 180 Mbit/s",
        ] {
            assert!(body.contains(needle), "{f}: {needle:?} missing in {body}");
        }
    }
}

#[tokio::test]
async fn alertmanager_format_is_the_v4_shape() {
    let (rx, addr) = start().await;
    let ch = channel_to(addr, "format: alertmanager");
    send_ok(&ch, &[firing("evt_1"), resolved("evt_2")]).await;
    let v = rx.last().json();
    assert_eq!(
        keys(&v),
        [
            "alerts",
            "commonAnnotations",
            "commonLabels",
            "externalURL",
            "groupKey",
            "groupLabels",
            "receiver",
            "status",
            "truncatedAlerts",
            "version"
        ]
    );
    assert_eq!(v["version"], "4");
    assert!(v["groupKey"].is_string());
    assert_eq!(v["truncatedAlerts"], 0);
    assert_eq!(v["status"], "firing", "firing while any alert fires");
    assert_eq!(v["receiver"], "ops");
    assert_eq!(v["groupLabels"], json!({}));
    assert_eq!(v["externalURL"], "https://patrol.example:8443");
    // Both were warning-or-worse checks with different names: only the shared labels.
    assert_eq!(v["commonLabels"], json!({}));
    assert!(v["commonAnnotations"].is_object());

    let alerts = v["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 2);
    let a = &alerts[0];
    assert_eq!(
        keys(a),
        [
            "annotations",
            "endsAt",
            "fingerprint",
            "generatorURL",
            "labels",
            "startsAt",
            "status"
        ]
    );
    assert_eq!(a["status"], "firing");
    assert_eq!(a["labels"]["alertname"], "Backup tasks within RPO");
    assert_eq!(a["labels"]["check"], "backup-task-delay");
    assert_eq!(a["labels"]["severity"], "critical");
    assert_eq!(a["labels"]["tags"], "backup,daily");
    assert!(
        a["labels"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string)
    );
    assert_eq!(
        a["annotations"]["summary"],
        "3 hosts late (worst: db-01, 9h)"
    );
    assert_eq!(
        a["annotations"]["description"],
        "A host whose last good sync is older than 2x its RPO is late."
    );
    assert!(
        a["annotations"]
            .as_object()
            .unwrap()
            .values()
            .all(Value::is_string)
    );
    assert_eq!(a["startsAt"], SINCE);
    assert_eq!(a["endsAt"], "0001-01-01T00:00:00Z");
    assert_eq!(a["generatorURL"], LINK);
    assert_eq!(a["fingerprint"], "3f2a9c0d1e4b5a67");

    let b = &alerts[1];
    assert_eq!(b["status"], "resolved");
    assert_eq!(
        b["labels"]["severity"], "warning",
        "the severity it recovered from"
    );
    assert_eq!(b["endsAt"], "2024-05-01T01:43:00Z");

    // One check: grouped by it, and resolved when all its alerts are.
    send_ok(&ch, &[resolved("evt_3")]).await;
    let v = rx.last().json();
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["groupLabels"], json!({"check": "tunnel-bandwidth"}));
    assert_eq!(v["commonLabels"]["check"], "tunnel-bandwidth");
    assert_eq!(v["commonAnnotations"]["summary"], "bandwidth 180 Mbit/s");
    // The group key is stable for the check (so receivers can match resolve to firing).
    let mut firing_again = resolved("evt_4");
    firing_again.kind = MessageKind::Firing;
    send_ok(&ch, &[firing_again]).await;
    let again = rx.last().json();
    assert_eq!(again["groupKey"], v["groupKey"]);
    // Same alert, same labels, whatever the notification type (receivers match on them).
    assert_eq!(again["alerts"][0]["labels"], v["alerts"][0]["labels"]);
    assert_eq!(again["alerts"][0]["annotations"]["type"], "firing");
    assert_eq!(v["alerts"][0]["annotations"]["type"], "resolved");
}

#[tokio::test]
async fn template_format_renders_the_events() {
    let (rx, addr) = start().await;
    let ch = channel_to(
        addr,
        r#"format: template
template: |
  {"title": {{ title|tojson }}, "channel": {{ channel|tojson }},
   "ids": [{% for e in events %}{{ e.event_id|tojson }}{% if not loop.last %}, {% endif %}{% endfor %}],
   "first": {{ event.check.name|tojson }}, "since": {{ event.state.since|tojson }}, "n": {{ count }}}
"#,
    );
    send_ok(&ch, &[firing("evt_1"), resolved("evt_2")]).await;
    let r = rx.last();
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(
        r.json(),
        json!({
            "title": "[patrol] 2 alerts: 1 firing, 1 resolved",
            "channel": "ops",
            "ids": ["evt_1", "evt_2"],
            "first": "Backup tasks within RPO",
            "since": SINCE,
            "n": 2,
        })
    );

    // Any content type; `text` is a plain rendering a person can read.
    let ch = channel_to(
        addr,
        "format: template\ncontent_type: text/plain; charset=utf-8\ntemplate: \"{{ text }}\"",
    );
    send_ok(&ch, &[firing("evt_1")]).await;
    let r = rx.last();
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    let body = String::from_utf8(r.body).unwrap();
    assert!(
        body.starts_with("[CRITICAL] Backup tasks within RPO — 3 hosts late"),
        "{body}"
    );
    assert!(body.contains(LINK));
}

#[tokio::test]
async fn template_mistakes_are_reported_not_sent() {
    let (rx, addr) = start().await;
    // Not JSON although the content type says so: permanent, nothing sent.
    let ch = channel_to(addr, "format: template\ntemplate: 'text={{ title }}'");
    let e = send_err(&ch, &[firing("evt_1")]).await;
    assert!(
        matches!(&e, DeliveryError::Permanent { message } if message.contains("not valid JSON")),
        "{e:?}"
    );
    // A misspelt variable is an error, not an empty string.
    let ch = channel_to(
        addr,
        "format: template\ntemplate: '{\"a\": \"{{ evnt.name }}\"}'",
    );
    let e = send_err(&ch, &[firing("evt_1")]).await;
    assert!(
        matches!(&e, DeliveryError::Permanent { message } if message.contains("undefined")),
        "{e:?}"
    );
    assert!(rx.requests().is_empty());

    // Caught when the channel is built.
    let bad = |yaml: &str| {
        WebhookChannel::new("ops", &config(&format!("url: http://{addr}/\n{yaml}")))
            .expect_err(yaml)
            .to_string()
    };
    assert!(bad("format: template\ntemplate: '{% for %}'").contains("template"));
    assert!(bad("format: template").contains("needs a `template`"));
    assert!(bad("template: '{}'").contains("only used with `format: template`"));
}

#[test]
fn unknown_formats_and_fields_are_rejected() {
    let ctx = InterpContext::default();
    let parse = |yaml: &str| {
        with_context(&ctx, || serde_saphyr::from_str::<WebhookConfig>(yaml)).map(|c| c.format)
    };
    assert_eq!(
        parse("url: http://x/").unwrap(),
        WebhookFormat::Patrol,
        "patrol is the default"
    );
    assert_eq!(
        parse("url: http://x/\nformat: alertmanager").unwrap(),
        WebhookFormat::Alertmanager
    );
    let e = parse("url: http://x/\nformat: pagerduty")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("pagerduty") || e.contains("unknown variant"),
        "{e}"
    );
    assert!(parse("url: http://x/\nmethod: PUT").is_err());
}

#[tokio::test]
async fn extra_headers_are_sent() {
    let (rx, addr) = start().await;
    let ch = channel_to(
        addr,
        "headers:\n  Authorization: Bearer ${secret:token}\n  X-Team: ops",
    );
    send_ok(&ch, &[firing("evt_1")]).await;
    let r = rx.last();
    assert_eq!(r.header("authorization"), Some(format!("Bearer {TOKEN}")));
    assert_eq!(r.header("x-team").as_deref(), Some("ops"));
    assert!(r.header("user-agent").unwrap().starts_with("patrol/"));

    let e = WebhookChannel::new(
        "ops",
        &config(&format!(
            "url: http://{addr}/\nheaders:\n  webhook-signature: v1,forged"
        )),
    )
    .expect_err("reserved header");
    assert!(e.to_string().contains("webhook-signature"));
}

#[tokio::test]
async fn test_event_is_a_test_delivery() {
    let (rx, addr) = start().await;
    let ch = channel_to(addr, "secret: ${secret:hook}");
    let ev = test_event("ops", Utc::now(), Some("https://patrol.example:8443/"));
    send_ok(&ch, std::slice::from_ref(&ev)).await;
    let r = rx.last();
    verify(SECRET, &r).expect("signed");
    let v = r.json();
    assert_eq!(v["events"][0]["type"], "test");
    assert_eq!(r.header("webhook-id").unwrap(), ev.event_id);

    send_ok(&channel_to(addr, "format: slack"), &[ev]).await;
    let text = rx.last().json()["text"].as_str().unwrap().to_string();
    assert!(text.starts_with("[TEST] patrol test message"), "{text}");
}

// ---------------------------------------------------------------------------------------------
// Outcomes
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn receipt_quotes_the_first_200_bytes_of_the_answer() {
    let (rx, addr) = start().await;
    rx.reply(Reply::new(
        202,
        &format!("{}{}", "a".repeat(200), "b".repeat(800)),
    ));
    let receipt = send_ok(&channel_to(addr, ""), &[firing("evt_1")]).await;
    assert_eq!(receipt, format!("HTTP 202 {}", "a".repeat(200)));
}

#[tokio::test]
async fn http_500_is_transient() {
    let (rx, addr) = start().await;
    rx.reply(Reply::new(500, "database is down"));
    let ch = channel_to(addr, "");
    match send_err(&ch, &[firing("evt_1")]).await {
        DeliveryError::Transient {
            message,
            retry_after,
        } => {
            assert!(message.contains("HTTP 500"), "{message}");
            assert!(message.contains("database is down"), "{message}");
            assert_eq!(retry_after, None);
        }
        other => panic!("{other:?}"),
    }
    // The next attempt succeeds: the receiver is up again.
    assert_eq!(send_ok(&ch, &[firing("evt_1")]).await, "HTTP 200 ok");
}

#[tokio::test]
async fn http_429_with_retry_after_seconds() {
    let (rx, addr) = start().await;
    rx.reply(Reply::new(429, "slow down").header("retry-after", "7"));
    let e = send_err(&channel_to(addr, ""), &[firing("evt_1")]).await;
    assert!(
        matches!(&e, DeliveryError::Transient { retry_after: Some(d), .. } if *d == Duration::from_secs(7)),
        "{e:?}"
    );
}

#[tokio::test]
async fn http_503_with_retry_after_date() {
    let (rx, addr) = start().await;
    let at = std::time::SystemTime::now() + Duration::from_secs(120);
    rx.reply(Reply::new(503, "").header("retry-after", &httpdate::fmt_http_date(at)));
    match send_err(&channel_to(addr, ""), &[firing("evt_1")]).await {
        DeliveryError::Transient {
            retry_after: Some(d),
            ..
        } => assert!(
            d > Duration::from_secs(60) && d <= Duration::from_secs(120),
            "{d:?}"
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn http_400_and_redirects_are_permanent() {
    let (rx, addr) = start().await;
    rx.reply(Reply::new(400, "invalid_payload"));
    match send_err(&channel_to(addr, ""), &[firing("evt_1")]).await {
        DeliveryError::Permanent { message } => {
            assert!(message.contains("HTTP 400"), "{message}");
            assert!(message.contains("invalid_payload"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    rx.reply(Reply::new(308, "").header("location", "http://127.0.0.1:1/elsewhere"));
    let e = send_err(&channel_to(addr, ""), &[firing("evt_1")]).await;
    assert!(
        matches!(&e, DeliveryError::Permanent { message } if message.contains("redirect")),
        "{e:?}"
    );
    assert_eq!(rx.requests().len(), 2, "the redirect was not followed");
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    // Bind and drop: the port is (almost certainly) closed now.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    match send_err(&channel_to(addr, ""), &[firing("evt_1")]).await {
        DeliveryError::Transient { message, .. } => {
            assert!(message.contains("cannot connect"), "{message}");
            assert!(message.contains(&format!("http://{addr}")), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_slow_receiver_times_out_transiently() {
    let (rx, addr) = start().await;
    let mut slow = Reply::new(200, "too late");
    slow.delay = Duration::from_secs(30);
    rx.reply(slow);
    let started = std::time::Instant::now();
    match send_err(&channel_to(addr, "timeout: 1s"), &[firing("evt_1")]).await {
        DeliveryError::Transient { message, .. } => {
            assert!(message.contains("timed out"), "{message}")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the timeout applied"
    );
}

#[tokio::test]
async fn chat_platform_error_codes_in_a_200_are_failures() {
    let (rx, addr) = start().await;
    let cases = [
        (
            "dingtalk",
            r#"{"errcode":310000,"errmsg":"keywords not in content"}"#,
            false,
        ),
        (
            "dingtalk",
            r#"{"errcode":130101,"errmsg":"send too fast"}"#,
            true,
        ),
        (
            "wecom",
            r#"{"errcode":93000,"errmsg":"invalid webhook url"}"#,
            false,
        ),
        (
            "wecom",
            r#"{"errcode":45009,"errmsg":"api freq out of limit"}"#,
            true,
        ),
        (
            "feishu",
            r#"{"code":19024,"msg":"Key Words Not Found"}"#,
            false,
        ),
    ];
    for (format, answer, transient) in cases {
        rx.reply(Reply::new(200, answer));
        let e = send_err(
            &channel_to(addr, &format!("format: {format}")),
            &[firing("e")],
        )
        .await;
        match (&e, transient) {
            (DeliveryError::Transient { message, .. }, true)
            | (DeliveryError::Permanent { message }, false) => {
                assert!(message.contains("answered error"), "{message}")
            }
            _ => panic!("{format} {answer}: {e:?}"),
        }
    }
    rx.reply(Reply::new(200, r#"{"errcode":0,"errmsg":"ok"}"#));
    send_ok(&channel_to(addr, "format: dingtalk"), &[firing("e")]).await;
    rx.reply(Reply::new(200, r#"{"code":0,"msg":"success","data":{}}"#));
    send_ok(&channel_to(addr, "format: feishu"), &[firing("e")]).await;
}

#[tokio::test]
async fn dingtalk_and_feishu_use_their_own_signatures() {
    let (rx, addr) = start().await;
    let hmac_b64 = |key: &[u8], msg: &[u8]| BASE64.encode(hmac_sha256::HMAC::mac(msg, key));

    // DingTalk: timestamp (ms) and sign as query parameters, the access token kept.
    let ch = channel(&format!(
        "url: http://{addr}/robot/send?access_token=abc\nformat: dingtalk\nsecret: ${{secret:dingtalk}}"
    ));
    send_ok(&ch, &[firing("evt_1")]).await;
    let r = rx.last();
    let q = r.query_pairs();
    assert_eq!(q["access_token"], "abc");
    let ts = &q["timestamp"];
    let ms: i64 = ts.parse().unwrap();
    assert!((Utc::now().timestamp_millis() - ms).abs() < 120_000);
    let secret = "SECd1n9t4lk5ecr3t";
    assert_eq!(
        q["sign"],
        hmac_b64(secret.as_bytes(), format!("{ts}\n{secret}").as_bytes())
    );
    assert!(r.header("webhook-signature").is_none());

    // Feishu: timestamp (s) and sign in the body.
    let ch = channel(&format!(
        "url: http://{addr}/open-apis/bot/v2/hook/x\nformat: feishu\nsecret: ${{secret:feishu}}"
    ));
    send_ok(&ch, &[firing("evt_1")]).await;
    let v = rx.last().json();
    let ts = v["timestamp"].as_str().unwrap();
    let secret = "f3i5hu5ecr3t";
    assert_eq!(
        v["sign"].as_str().unwrap(),
        hmac_b64(format!("{ts}\n{secret}").as_bytes(), b"")
    );
    assert_eq!(v["msg_type"], "interactive");
}

#[tokio::test]
async fn secrets_never_appear_in_errors() {
    let (rx, addr) = start().await;
    let ctx = InterpContext {
        secrets: [
            ("hook".to_string(), SECRET.to_string()),
            ("token".to_string(), TOKEN.to_string()),
            (
                "robot".to_string(),
                format!("http://{addr}/robot/{URL_TOKEN}"),
            ),
        ]
        .into(),
        ..InterpContext::default()
    };
    let cfg: WebhookConfig = with_context(&ctx, || {
        serde_saphyr::from_str(
            "url: ${secret:robot}\nsecret: ${secret:hook}\nheaders:\n  Authorization: Bearer ${secret:token}\n",
        )
    })
    .unwrap();
    let ch = WebhookChannel::new("ops", &cfg).unwrap();
    let leaks = |msg: &str| {
        let key = SECRET.trim_start_matches("whsec_");
        for s in [TOKEN, key, URL_TOKEN] {
            assert!(!msg.contains(s), "{s} leaked in {msg}");
        }
    };
    // Receivers that echo the request (headers, body) back in their error.
    for status in [400, 500] {
        rx.reply(Reply::new(status, "you sent:").echo());
        let e = send_err(&ch, &[firing("evt_1")]).await;
        leaks(&e.to_string());
        leaks(&format!("{e:?}"));
        assert!(e.to_string().contains("${secret:robot}"), "{e}");
    }
    // The echo really carried the token: the receiver saw it.
    assert!(
        rx.last()
            .header("authorization")
            .is_some_and(|h| h.contains(TOKEN))
    );
    rx.reply(Reply::new(200, "you sent:").echo());
    leaks(&send_ok(&ch, &[firing("evt_1")]).await);

    // Connection errors name the URL by its template.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let ctx = InterpContext {
        secrets: [(
            "robot".to_string(),
            format!("http://{closed}/robot/{URL_TOKEN}"),
        )]
        .into(),
        ..InterpContext::default()
    };
    let cfg: WebhookConfig =
        with_context(&ctx, || serde_saphyr::from_str("url: ${secret:robot}\n")).unwrap();
    let e = send_err(&WebhookChannel::new("ops", &cfg).unwrap(), &[firing("e")]).await;
    leaks(&e.to_string());
    assert!(e.to_string().contains("${secret:robot}"), "{e}");

    // A malformed secret is not repeated in the setup error.
    let bad = "whsec_!!not-base64-".to_string() + URL_TOKEN;
    let ctx = InterpContext {
        secrets: [("hook".to_string(), bad.clone())].into(),
        ..InterpContext::default()
    };
    let cfg: WebhookConfig = with_context(&ctx, || {
        serde_saphyr::from_str("url: http://127.0.0.1:1/\nsecret: ${secret:hook}\n")
    })
    .unwrap();
    let e = WebhookChannel::new("ops", &cfg).unwrap_err().to_string();
    assert!(!e.contains(URL_TOKEN), "{e}");
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// A TLS listener for axum: TCP accept, then the handshake (failed handshakes are skipped).
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }
    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// An HTTPS receiver with a certificate from a fresh test CA; returns the CA's PEM.
async fn start_tls() -> (Receiver, SocketAddr, String) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "patrol test CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls_pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let mut server = server;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = TlsListener {
        tcp,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(server)),
    };
    let rx = Receiver::default();
    let router = app(&rx);
    tokio::spawn(async move { axum::serve(listener, router).await });
    (rx, addr, ca.pem())
}

#[tokio::test]
async fn https_with_a_private_ca() {
    let (rx, addr, ca_pem) = start_tls().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();
    let url = format!("url: https://localhost:{}/hook\n", addr.port());

    // Trusted through ca_file.
    let ch = channel(&format!(
        "{url}ca_file: {}\nsecret: ${{secret:hook}}",
        ca_file.display()
    ));
    assert_eq!(send_ok(&ch, &[firing("evt_1")]).await, "HTTP 200 ok");
    verify(SECRET, &rx.last()).expect("signed over TLS too");

    // Not trusted without it: the certificate is checked.
    let e = send_err(&channel(&url), &[firing("evt_1")]).await;
    assert!(matches!(e, DeliveryError::Transient { .. }), "{e:?}");
    assert!(e.to_string().to_lowercase().contains("certificate"), "{e}");

    // tls_verify: false accepts it (dangerous, but possible).
    send_ok(
        &channel(&format!("{url}tls_verify: false")),
        &[firing("evt_1")],
    )
    .await;
    assert_eq!(rx.requests().len(), 2);

    // A missing CA file is a setup error naming it.
    let e = WebhookChannel::new(
        "ops",
        &config(&format!(
            "{url}ca_file: {}/missing.pem",
            dir.path().display()
        )),
    )
    .unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
}
