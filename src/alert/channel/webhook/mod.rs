//! The `webhook` channel: one HTTP POST per delivery, signed per the Standard Webhooks spec.
//!
//! # Payload (`format: patrol`, the default)
//!
//! Every delivery, whether it carries one event or a group of them, has the same shape, so a
//! receiver needs one code path:
//!
//! ```json
//! { "version": 1,
//!   "delivery_id": "evt_…",            // = the webhook-id header
//!   "created_at": "2024-05-01T07:30:00Z",
//!   "events": [ { "event_id", "type": "firing|resolved|reminder|flapping|test", "reason",
//!                 "fingerprint", "incident_id",
//!                 "check":  { "id", "name", "description", "tags", "schedule", "timezone",
//!                             "console" (a check of a HyperBDR console only) },
//!                 "state":  { "current", "previous", "since", "consecutive_failures" },
//!                 "result": { "summary", "metrics", "facts", "output_tail", "started_at",
//!                             "duration_ms" },
//!                 "suppressed_dependents", "url", "created_at" } ] }
//! ```
//!
//! All times are RFC 3339 in UTC. `version` changes only on an incompatible change; new
//! fields may appear without one. The other formats are in [`formats`].
//!
//! # Identity and signing (`sign.rs`)
//!
//! The delivery id is the event's own id for a single event, and `grp_` + a hash of the
//! sorted event ids for a group: the same on every retry of the same delivery, so a receiver
//! can drop duplicates. With a `secret`, the request carries `webhook-id`,
//! `webhook-timestamp` (unix seconds, fresh on each attempt) and `webhook-signature:
//! v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` keyed with the base64-decoded
//! `whsec_` secret, as the Standard Webhooks spec says. The `dingtalk` and `feishu` formats
//! use their platform's own signing with their own secret instead (DingTalk: `timestamp` and
//! `sign` query parameters; Feishu: `timestamp` and `sign` in the body).
//!
//! # Outcomes (`answer.rs`)
//!
//! 2xx is delivered (the receipt is `HTTP 200 <first 200 bytes of the body>`), except for a
//! DingTalk/WeCom/Feishu answer whose body carries a non-zero error code. Connection errors,
//! timeouts, 408, 429 and 5xx are transient (with the receiver's `Retry-After`, seconds or an
//! HTTP date); redirects and other 4xx are permanent. Header values, the secret and a secret
//! URL never appear in an error: the receiver's answer is masked before it is quoted.

mod answer;
pub mod formats;
pub mod sign;

use super::{Channel, DeliveryError, Receipt};
use crate::alert::event::{AlertEvent, CheckInfo, MessageKind, ResultInfo, StateInfo};
use crate::config::{Dur, Text};
use crate::error_text::error_chain;
use crate::redact::Redactor;
use crate::status::Status;
use crate::tls::{TlsError, TlsOptions};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use sign::{decode_whsec, delivery_id, dingtalk_sign, feishu_sign, sign};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// Default time one delivery attempt may take.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// HTTP delivery.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Receiver URL (`https://...`; `http://` only inside a trusted network). Chat robot URLs
    /// carry their access token: write them as `${secret:...}`.
    pub url: Text,
    /// Signing secret (use `${secret:...}`). For most formats the Standard Webhooks secret,
    /// `whsec_` followed by base64 (at least 24 random bytes): requests then carry
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature`. For `format: dingtalk` the
    /// robot's signing secret (`SEC...`), for `format: feishu` the bot's signature secret.
    pub secret: Option<Text>,
    /// Payload format: `patrol` (default, versioned JSON), `slack`, `teams`, `dingtalk`,
    /// `wecom`, `feishu`, `alertmanager` (the Alertmanager v4 webhook shape) or `template`.
    #[serde(default)]
    pub format: WebhookFormat,
    /// The body for `format: template`: a MiniJinja (Jinja2) template that sees `version`,
    /// `delivery_id`, `channel`, `count`, `title`, `text` (a plain-text rendering), `events`
    /// (the `patrol` event objects) and `event` (the first one). Use `|tojson` to insert a
    /// value into JSON, e.g. `{"text": {{ text|tojson }}}`.
    pub template: Option<Text>,
    /// Content-Type of a `template` body. Default: `application/json` (the rendered body must
    /// then be valid JSON).
    pub content_type: Option<String>,
    /// Extra request headers, e.g. `Authorization: "Bearer ${secret:token}"`. Their values are
    /// never logged nor shown in errors. `Content-Type`, `Content-Length`, `Host` and the
    /// `webhook-*` signature headers cannot be set here.
    #[serde(default)]
    pub headers: BTreeMap<String, Text>,
    /// Give up one delivery attempt after this long (it is then retried). Default: 10s;
    /// 100ms to 1h.
    #[serde(default, deserialize_with = "crate::config::bounds::call_timeout_opt")]
    pub timeout: Option<Dur>,
    /// A PEM file of CA certificates to trust INSTEAD OF the system's CA store, for an
    /// `https://` receiver with a private CA (like `curl --cacert`). A relative path resolves
    /// against the folder of `patrol.yaml`.
    pub ca_file: Option<Text>,
    /// Verify the receiver's TLS certificate. Default: true. `false` is DANGEROUS: anyone on
    /// the network path can read and change alerts (and see the secret headers); use `ca_file`
    /// for a private CA instead.
    #[serde(default = "yes")]
    pub tls_verify: bool,
}

fn yes() -> bool {
    true
}

/// The body a webhook channel sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WebhookFormat {
    /// patrol's own versioned JSON (`{"version": 1, "delivery_id", "events": [...]}`).
    #[default]
    Patrol,
    /// Slack incoming webhook (`text` + Block Kit `blocks`).
    Slack,
    /// Microsoft Teams workflow / incoming webhook (an Adaptive Card).
    Teams,
    /// DingTalk custom robot (`msgtype: markdown`).
    Dingtalk,
    /// WeCom group robot (`msgtype: markdown`).
    Wecom,
    /// Feishu / Lark custom bot (`msg_type: interactive` card).
    Feishu,
    /// The Alertmanager v4 webhook payload.
    Alertmanager,
    /// A body rendered from `template`.
    Template,
}

impl WebhookFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookFormat::Patrol => "patrol",
            WebhookFormat::Slack => "slack",
            WebhookFormat::Teams => "teams",
            WebhookFormat::Dingtalk => "dingtalk",
            WebhookFormat::Wecom => "wecom",
            WebhookFormat::Feishu => "feishu",
            WebhookFormat::Alertmanager => "alertmanager",
            WebhookFormat::Template => "template",
        }
    }
}

/// A webhook configuration that cannot work (found when the channel is built, before any
/// alert is due). Messages never contain secret values.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WebhookSetupError {
    #[error("webhook url {url}: {reason}")]
    Url { url: String, reason: String },
    #[error("webhook secret: {0}")]
    Secret(String),
    #[error("webhook template: {0}")]
    Template(String),
    #[error("webhook header `{name}`: {reason}")]
    Header { name: String, reason: String },
    /// `reason` names the file and what is wrong with it.
    #[error("webhook {reason}")]
    CaFile { path: String, reason: String },
    #[error("webhook HTTP client: {0}")]
    Client(String),
}

/// How requests are signed.
enum Signing {
    None,
    /// Standard Webhooks: the decoded `whsec_` key.
    Standard(Vec<u8>),
    /// DingTalk robot signing secret.
    DingTalk(String),
    /// Feishu bot signature secret.
    Feishu(String),
}

/// A ready-to-send webhook channel (one HTTP client, the template compiled once).
pub struct WebhookChannel {
    name: String,
    format: WebhookFormat,
    url: reqwest::Url,
    /// How the URL is named in messages: its origin, or its template when it is secret.
    url_shown: String,
    signing: Signing,
    headers: HeaderMap,
    template: Option<minijinja::Environment<'static>>,
    content_type: String,
    client: reqwest::Client,
    /// Masks header values and secrets in anything quoted from the receiver.
    redactor: Redactor,
}

impl std::fmt::Debug for WebhookChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookChannel")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("url", &self.url_shown)
            .finish_non_exhaustive()
    }
}

const TEMPLATE_NAME: &str = "body";
const RESERVED_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "host",
    "transfer-encoding",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
];

impl WebhookChannel {
    /// Checks the configuration and builds the channel named `name`; a relative `ca_file`
    /// resolves against the current directory.
    pub fn new(name: &str, cfg: &WebhookConfig) -> Result<WebhookChannel, WebhookSetupError> {
        WebhookChannel::new_in(name, cfg, Path::new(""))
    }

    /// [`WebhookChannel::new`] for a configuration read from `base_dir` (the folder of
    /// `patrol.yaml`): a relative `ca_file` resolves against it.
    pub fn new_in(
        name: &str,
        cfg: &WebhookConfig,
        base_dir: &Path,
    ) -> Result<WebhookChannel, WebhookSetupError> {
        let url_shown_for_errors = if cfg.url.is_secret() {
            cfg.url.template().to_string()
        } else {
            cfg.url.value().to_string()
        };
        let url = reqwest::Url::parse(cfg.url.value()).map_err(|e| WebhookSetupError::Url {
            url: url_shown_for_errors.clone(),
            reason: e.to_string(),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(WebhookSetupError::Url {
                url: url_shown_for_errors,
                reason: "only http:// and https:// are supported".into(),
            });
        }
        let url_shown = if cfg.url.is_secret() {
            cfg.url.template().to_string()
        } else {
            url_origin(&url)
        };

        let mut secrets: Vec<String> = Vec::new();
        let signing = match &cfg.secret {
            None => Signing::None,
            Some(s) => {
                secrets.push(s.value().to_string());
                match cfg.format {
                    WebhookFormat::Dingtalk => Signing::DingTalk(s.value().to_string()),
                    WebhookFormat::Feishu => Signing::Feishu(s.value().to_string()),
                    _ => Signing::Standard(decode_whsec(s.value())?),
                }
            }
        };
        if cfg.url.is_secret() {
            secrets.push(cfg.url.value().to_string());
        }

        let mut headers = HeaderMap::new();
        for (name, value) in &cfg.headers {
            let header_err = |reason: &str| WebhookSetupError::Header {
                name: name.clone(),
                reason: reason.to_string(),
            };
            let hn = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| header_err("not a valid header name"))?;
            if RESERVED_HEADERS.contains(&hn.as_str()) {
                return Err(header_err("set by patrol itself; remove it from `headers`"));
            }
            let mut hv = HeaderValue::from_str(value.value())
                .map_err(|_| header_err("the value has characters a header cannot carry"))?;
            // Keeps the value out of any Debug output of the request.
            hv.set_sensitive(true);
            headers.append(hn, hv);
            secrets.push(value.value().to_string());
        }

        let template = match (cfg.format, &cfg.template) {
            (WebhookFormat::Template, Some(t)) => {
                let mut env = minijinja::Environment::new();
                // A misspelt variable printed is an error, not an empty string (`{% if x %}`
                // on a missing value stays allowed).
                env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
                // Bounds a runaway template (the context is finite, but loops can nest).
                env.set_fuel(Some(1_000_000));
                env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
                env.add_template_owned(TEMPLATE_NAME, t.value().to_string())
                    .map_err(|e| WebhookSetupError::Template(template_error(&e)))?;
                if t.is_secret() {
                    secrets.push(t.value().to_string());
                }
                Some(env)
            }
            (WebhookFormat::Template, None) => {
                return Err(WebhookSetupError::Template(
                    "`format: template` needs a `template`".into(),
                ));
            }
            (_, Some(_)) => {
                return Err(WebhookSetupError::Template(
                    "`template` is only used with `format: template`".into(),
                ));
            }
            (_, None) => None,
        };
        if cfg.content_type.is_some() && cfg.format != WebhookFormat::Template {
            return Err(WebhookSetupError::Template(
                "`content_type` is only used with `format: template`".into(),
            ));
        }
        let content_type = cfg
            .content_type
            .clone()
            .unwrap_or_else(|| "application/json".to_string());
        HeaderValue::from_str(&content_type).map_err(|_| WebhookSetupError::Header {
            name: "content_type".into(),
            reason: "not a valid Content-Type".into(),
        })?;

        crate::tls::ensure_crypto_provider();
        let tls = TlsOptions::from_config(cfg.tls_verify, cfg.ca_file.as_ref(), base_dir);
        let client_tls =
            tls.client_config(&[b"h2", b"http/1.1"])
                .map_err(|e| match (&e, &tls.ca_file) {
                    (TlsError::Setup(_), _) | (_, None) => WebhookSetupError::Client(e.to_string()),
                    (_, Some(path)) => WebhookSetupError::CaFile {
                        path: path.display().to_string(),
                        reason: e.to_string(),
                    },
                })?;
        let client = reqwest::Client::builder()
            // A redirected POST turns into a GET on the way: report it instead of following.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(cfg.timeout.map(Dur::as_duration).unwrap_or(DEFAULT_TIMEOUT))
            .user_agent(concat!("patrol/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(client_tls.config)
            .build()
            .map_err(|e| WebhookSetupError::Client(error_chain(&e)))?;

        Ok(WebhookChannel {
            name: name.to_string(),
            format: cfg.format,
            url,
            url_shown,
            signing,
            headers,
            template,
            content_type,
            client,
            redactor: Redactor::new(secrets),
        })
    }

    /// Masks `secrets` too (every configured secret) in anything quoted from the receiver:
    /// a receiver may echo a URL path or a header that holds one.
    pub fn masking(mut self, secrets: &Redactor) -> Self {
        self.redactor = self.redactor.merged(secrets);
        self
    }

    pub fn format(&self) -> WebhookFormat {
        self.format
    }

    /// The Content-Type and body this channel would send for `events` (before any
    /// per-attempt signing). For `patrol alert test` and for tests.
    pub fn render(&self, events: &[AlertEvent]) -> Result<(String, Vec<u8>), DeliveryError> {
        let id = delivery_id(events);
        match self.payload(events, &id)? {
            Payload::Json(v) => Ok(("application/json".into(), json_bytes(&v)?)),
            Payload::Raw(b) => Ok((self.content_type.clone(), b)),
        }
    }

    fn payload(&self, events: &[AlertEvent], id: &str) -> Result<Payload, DeliveryError> {
        Ok(Payload::Json(match self.format {
            WebhookFormat::Patrol => formats::patrol(events, id),
            WebhookFormat::Slack => formats::slack(events),
            WebhookFormat::Teams => formats::teams(events),
            WebhookFormat::Dingtalk => formats::dingtalk(events),
            WebhookFormat::Wecom => formats::wecom(events),
            WebhookFormat::Feishu => formats::feishu(events),
            WebhookFormat::Alertmanager => formats::alertmanager(events, &self.name),
            WebhookFormat::Template => return self.render_template(events, id),
        }))
    }

    fn render_template(&self, events: &[AlertEvent], id: &str) -> Result<Payload, DeliveryError> {
        let permanent = |message: String| DeliveryError::Permanent { message };
        let env = self
            .template
            .as_ref()
            .ok_or_else(|| permanent("no template configured".into()))?;
        let ctx = formats::template_context(events, id, &self.name);
        let body = env
            .get_template(TEMPLATE_NAME)
            .and_then(|t| t.render(minijinja::Value::from(minijinja::value::Serde(&ctx))))
            .map_err(|e| permanent(format!("template: {}", template_error(&e))))?;
        if self.content_type.to_ascii_lowercase().contains("json")
            && let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&body)
        {
            return Err(permanent(format!(
                "template output is not valid JSON ({e}); use `|tojson` for values, or set \
                 content_type"
            )));
        }
        Ok(Payload::Raw(body.into_bytes()))
    }

    async fn deliver(&self, events: &[AlertEvent]) -> Result<Receipt, DeliveryError> {
        if events.is_empty() {
            return Err(DeliveryError::Permanent {
                message: "a delivery without events".into(),
            });
        }
        let id = delivery_id(events);
        let payload = self.payload(events, &id)?;
        let now = Utc::now();
        let mut url = self.url.clone();
        let mut headers = self.headers.clone();

        let (content_type, body) = match payload {
            Payload::Json(mut v) => {
                if let Signing::Feishu(secret) = &self.signing {
                    let ts = now.timestamp().to_string();
                    if let Some(obj) = v.as_object_mut() {
                        obj.insert("timestamp".into(), Value::String(ts.clone()));
                        obj.insert("sign".into(), Value::String(feishu_sign(secret, &ts)));
                    }
                }
                ("application/json".to_string(), json_bytes(&v)?)
            }
            Payload::Raw(b) => (self.content_type.clone(), b),
        };
        match &self.signing {
            Signing::Standard(key) => {
                let ts = now.timestamp();
                let sig = sign(key, &id, ts, &body);
                let hv = |s: &str| {
                    HeaderValue::from_str(s).map_err(|_| DeliveryError::Permanent {
                        message: "the delivery id cannot be sent as a header".into(),
                    })
                };
                headers.insert("webhook-id", hv(&id)?);
                headers.insert("webhook-timestamp", hv(&ts.to_string())?);
                headers.insert("webhook-signature", hv(&sig)?);
            }
            Signing::DingTalk(secret) => {
                let ts = now.timestamp_millis().to_string();
                let sign = dingtalk_sign(secret, &ts);
                url.query_pairs_mut()
                    .append_pair("timestamp", &ts)
                    .append_pair("sign", &sign);
            }
            Signing::Feishu(_) | Signing::None => {}
        }
        if let Ok(ct) = HeaderValue::from_str(&content_type) {
            headers.insert(CONTENT_TYPE, ct);
        }

        let resp = match self
            .client
            .post(url)
            .headers(headers)
            .body(body)
            .send()
            .await
        {
            Ok(r) => r,
            Err(e) => return Err(self.request_error(e)),
        };
        self.outcome(resp).await
    }
}

impl Channel for WebhookChannel {
    fn name(&self) -> &str {
        &self.name
    }
    fn send<'a>(
        &'a self,
        events: &'a [AlertEvent],
    ) -> BoxFuture<'a, Result<Receipt, DeliveryError>> {
        Box::pin(self.deliver(events))
    }
}

enum Payload {
    Json(Value),
    Raw(Vec<u8>),
}

fn json_bytes(v: &Value) -> Result<Vec<u8>, DeliveryError> {
    serde_json::to_vec(v).map_err(|e| DeliveryError::Permanent {
        message: format!("cannot encode the payload: {e}"),
    })
}

fn template_error(e: &minijinja::Error) -> String {
    match e.line() {
        Some(line) => format!("line {line}: {e}"),
        None => e.to_string(),
    }
}

fn url_origin(url: &reqwest::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(h), Some(p)) => format!("{}://{h}:{p}", url.scheme()),
        (Some(h), None) => format!("{}://{h}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

/// A `type: test` event for `patrol alert test CHANNEL`: it says plainly that it is a test
/// and that no check is failing. Its id is unique per call (from `now`).
pub fn test_event(channel: &str, now: DateTime<Utc>, status_url: Option<&str>) -> AlertEvent {
    let stamp = now.format("%Y%m%dT%H%M%S%.9fZ");
    AlertEvent {
        event_id: format!("test_{stamp}"),
        kind: MessageKind::Test,
        reason: format!("`patrol alert test {channel}` was run"),
        incident_id: format!("test_{stamp}"),
        fingerprint: "patrol-test".into(),
        check: CheckInfo {
            id: "patrol-test".into(),
            name: "patrol test message".into(),
            description: format!(
                "A test message for the channel `{channel}`. No check is failing; if you can \
                 read this, the channel works."
            ),
            tags: vec!["test".into()],
            schedule: "manual".into(),
            timezone: "UTC".into(),
            console: None,
        },
        state: StateInfo {
            current: Status::Ok,
            previous: None,
            since: now,
            consecutive_failures: 0,
        },
        result: ResultInfo {
            summary: format!("Test message for channel {channel}"),
            metrics: BTreeMap::new(),
            facts: BTreeMap::new(),
            output_tail: None,
            started_at: now,
            duration_ms: 0,
        },
        suppressed_dependents: Vec::new(),
        url: status_url.map(str::to_string),
        created_at: now,
    }
}
