//! The `email` channel: multipart text + HTML mail through SMTP (lettre). What the mail says
//! is `render.rs` (subject, sections), `text.rs` and `html.rs` (the two bodies); the ids that
//! thread an incident are `thread.rs`.
//!
//! ```yaml
//! channels:
//!   ops-mail:
//!     email:
//!       host: smtp.example.com
//!       tls: starttls            # implicit (465) | starttls (587, default) | none (25)
//!       username: patrol@example.com
//!       password: ${secret:smtp}
//!       from: "patrol <patrol@example.com>"
//!       to: [ops@example.com]
//!       timezone: Asia/Shanghai
//! ```
//!
//! TLS is never opportunistic: `starttls` refuses a server that does not offer STARTTLS, and
//! certificates are always verified: against the system CAs (or the Mozilla roots when the
//! system has none), or against only the CAs of `ca_file` when it is set, as everywhere in
//! patrol (`crate::tls`). A failure says whether retrying can help: connection
//! problems, timeouts, TLS handshakes and SMTP 4xx answers are transient; SMTP 5xx answers
//! (unknown mailbox, bad password) and bad addresses are permanent.

mod html;
pub mod render;
mod text;
pub mod thread;

use super::{Channel, DeliveryError, Receipt};
use crate::alert::event::{AlertEvent, CheckInfo, MessageKind, ResultInfo, StateInfo};
use crate::config::{Dur, Text, Zone};
use crate::redact::Redactor;
use crate::status::Status;
use crate::tls::TlsOptions;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::transport::smtp::response::Response;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use render::{RenderOptions, Rendered, render};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

/// SMTP delivery.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name (also the name its TLS certificate must carry).
    pub host: Text,
    /// SMTP port. Default: 587 (starttls), 465 (implicit), 25 (none).
    pub port: Option<u16>,
    /// `implicit`, `starttls` (default) or `none`.
    #[serde(default)]
    pub tls: EmailTls,
    /// SMTP user name. Set it together with `password`.
    pub username: Option<Text>,
    /// SMTP password (use `${secret:...}`, `${env:...}` or `${file:...}`); never logged.
    /// Not sent without TLS unless the server is on this machine.
    pub password: Option<Text>,
    /// Sender address, e.g. `patrol <patrol@example.com>`.
    pub from: Text,
    /// Recipients (at least one).
    pub to: Vec<Text>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<Text>,
    /// Give up one delivery attempt after this long (it is retried later). Default: 30s;
    /// 100ms to 1h.
    #[serde(default, deserialize_with = "crate::config::bounds::call_timeout_opt")]
    pub timeout: Option<Dur>,
    /// A PEM file of CA certificates to trust INSTEAD OF the system's CA store (a private
    /// CA). A relative path resolves against the folder of `patrol.yaml`. Certificates are
    /// always verified.
    pub ca_file: Option<Text>,
    /// Time zone for times in messages; each time is shown in this zone and in UTC.
    /// Default: the root `timezone`.
    pub timezone: Option<Zone>,
    /// Base URL of the status page; a check's link is `{url}/checks/{id}`. Default: the root
    /// `status_page_url`.
    pub status_page_url: Option<String>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 587); a server without STARTTLS is
    /// refused.
    #[default]
    Starttls,
    /// No TLS (only for a relay on localhost).
    None,
}

impl EmailTls {
    /// The usual port of each mode.
    pub fn default_port(self) -> u16 {
        match self {
            EmailTls::Implicit => 465,
            EmailTls::Starttls => 587,
            EmailTls::None => 25,
        }
    }
}

/// What the rest of the root configuration gives a channel.
#[derive(Debug, Clone, Default)]
pub struct ChannelDefaults {
    /// The folder of the root config file (relative `ca_file` paths start there).
    pub base_dir: std::path::PathBuf,
    /// The root `timezone`.
    pub timezone: Zone,
    /// The root `status_page_url`.
    pub status_page_url: Option<String>,
}

/// A configuration the channel cannot work with.
#[derive(Debug, thiserror::Error)]
pub enum EmailConfigError {
    #[error("channel `{channel}`: invalid {field} address {value:?}: {reason}")]
    Address {
        channel: String,
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("channel `{channel}`: {message}")]
    Invalid { channel: String, message: String },
    /// `message` names the file and what is wrong with it.
    #[error("channel `{channel}`: {message}")]
    CaFile {
        channel: String,
        path: String,
        message: String,
    },
}

/// The `email` channel, built once from its configuration.
pub struct EmailChannel {
    name: String,
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    cc: Vec<Mailbox>,
    timeout: Duration,
    render: RenderOptions,
    /// Masks the password in every error text.
    redactor: Redactor,
    /// `host:port (tls)`, for messages.
    server: String,
}

impl std::fmt::Debug for EmailChannel {
    // The transport holds the credentials: show only what is safe.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmailChannel")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("from", &self.from.to_string())
            .finish_non_exhaustive()
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl EmailChannel {
    /// Checks the configuration and prepares the SMTP client (no connection is made yet).
    pub fn new(
        name: &str,
        cfg: &EmailConfig,
        defaults: &ChannelDefaults,
    ) -> Result<EmailChannel, EmailConfigError> {
        crate::tls::ensure_crypto_provider();
        let invalid = |message: String| EmailConfigError::Invalid {
            channel: name.to_string(),
            message,
        };
        let mailbox = |field: &'static str, t: &Text| {
            t.value()
                .trim()
                .parse::<Mailbox>()
                .map_err(|e| EmailConfigError::Address {
                    channel: name.to_string(),
                    field,
                    value: t.display().to_string(),
                    reason: e.to_string(),
                })
        };
        let from = mailbox("from", &cfg.from)?;
        let to = cfg
            .to
            .iter()
            .map(|t| mailbox("to", t))
            .collect::<Result<Vec<_>, _>>()?;
        let cc = cfg
            .cc
            .iter()
            .map(|t| mailbox("cc", t))
            .collect::<Result<Vec<_>, _>>()?;
        if to.is_empty() {
            return Err(invalid("`to` needs at least one recipient".into()));
        }
        let host = cfg.host.value().trim().to_string();
        if host.is_empty() {
            return Err(invalid("`host` is empty".into()));
        }
        let port = cfg.port.unwrap_or_else(|| cfg.tls.default_port());
        let timeout = cfg
            .timeout
            .map_or(Duration::from_secs(30), Dur::as_duration);
        if timeout.is_zero() {
            return Err(invalid("`timeout` must be more than 0s".into()));
        }

        let credentials = match (&cfg.username, &cfg.password) {
            (Some(u), Some(p)) => Some(Credentials::new(
                u.value().to_string(),
                p.value().to_string(),
            )),
            (None, None) => None,
            _ => {
                return Err(invalid(
                    "`username` and `password` go together: set both or neither".into(),
                ));
            }
        };
        if credentials.is_some() && cfg.tls == EmailTls::None && !is_loopback(&host) {
            return Err(invalid(format!(
                "refusing to send the SMTP password to {host} without TLS: use `tls: starttls` or `tls: implicit`"
            )));
        }

        let tls = match cfg.tls {
            EmailTls::None => Tls::None,
            mode => {
                let options =
                    TlsOptions::from_config(true, cfg.ca_file.as_ref(), &defaults.base_dir);
                let roots = options
                    .root_certificates()
                    .map_err(|e| EmailConfigError::CaFile {
                        channel: name.to_string(),
                        path: options
                            .ca_file
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default(),
                        message: e.to_string(),
                    })?;
                // Only these roots; none at all means the Mozilla roots compiled into patrol.
                let (store, roots) = match roots {
                    Some(certs) => (CertificateStore::None, certs),
                    None => (CertificateStore::WebpkiRoots, Vec::new()),
                };
                let mut params = TlsParameters::builder(host.clone()).certificate_store(store);
                for der in roots {
                    let cert = Certificate::from_der(der.to_vec())
                        .map_err(|e| invalid(format!("cannot use a CA certificate: {e}")))?;
                    params = params.add_root_certificate(cert);
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| invalid(format!("cannot set up TLS: {e}")))?;
                if mode == EmailTls::Implicit {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };

        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(timeout));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }

        let status_page_url = match &cfg.status_page_url {
            Some(u) => Some(u.trim().to_string()),
            None => defaults.status_page_url.clone(),
        }
        .filter(|u| !u.is_empty());
        if let Some(u) = &status_page_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(invalid(format!(
                "`status_page_url` {u:?} must start with http:// or https://"
            )));
        }

        let secrets = cfg
            .password
            .iter()
            .map(|p| p.value().to_string())
            .collect::<Vec<_>>();
        let mode = match cfg.tls {
            EmailTls::Implicit => "implicit TLS",
            EmailTls::Starttls => "STARTTLS",
            EmailTls::None => "no TLS",
        };
        Ok(EmailChannel {
            name: name.to_string(),
            transport: builder.build(),
            render: RenderOptions {
                zone: cfg.timezone.unwrap_or(defaults.timezone).0,
                status_page_url,
                thread_salt: from.email.to_string(),
                sender_host: local_host_name(),
            },
            from,
            to,
            cc,
            timeout,
            redactor: Redactor::new(secrets),
            server: format!("{host}:{port} ({mode})"),
        })
    }

    /// Masks `secrets` too (every configured secret) in anything quoted from the server.
    pub fn masking(mut self, secrets: &Redactor) -> Self {
        self.redactor = self.redactor.merged(secrets);
        self
    }

    /// The MIME message that `send` delivers for these events, with what it was rendered
    /// from (for previews and tests).
    pub fn message(&self, events: &[AlertEvent]) -> Result<(Message, Rendered), DeliveryError> {
        let r = render(events, &self.render);
        let mut b = Message::builder()
            .from(self.from.clone())
            .subject(r.subject.clone())
            .message_id(Some(r.message_id.clone()));
        for m in &self.to {
            b = b.to(m.clone());
        }
        for m in &self.cc {
            b = b.cc(m.clone());
        }
        if !r.thread_roots.is_empty() {
            let roots = r.thread_roots.join(" ");
            b = b.in_reply_to(roots.clone()).references(roots);
        }
        let headers = [
            // RFC 3834: tells vacation responders and ticket systems not to answer.
            ("Auto-Submitted", "auto-generated".to_string()),
            ("X-Auto-Response-Suppress", "All".to_string()),
            ("X-Patrol-Check", r.check_ids.clone()),
            ("X-Patrol-Status", r.status.as_str().to_string()),
            ("X-Patrol-Event", r.kinds.clone()),
        ];
        for (name, value) in headers {
            let name = HeaderName::new_from_ascii(name.to_string()).map_err(|e| {
                DeliveryError::Permanent {
                    message: format!("bad header name {name}: {e}"),
                }
            })?;
            b = b.raw_header(HeaderValue::new(name, value));
        }
        let msg = b
            .multipart(MultiPart::alternative_plain_html(
                r.text.clone(),
                r.html.clone(),
            ))
            .map_err(|e| DeliveryError::Permanent {
                message: format!("cannot build the message: {e}"),
            })?;
        Ok((msg, r))
    }

    /// Sends one message and returns the server's final reply.
    async fn deliver(&self, events: &[AlertEvent]) -> Result<Receipt, DeliveryError> {
        if events.is_empty() {
            return Err(DeliveryError::Permanent {
                message: "nothing to send".into(),
            });
        }
        let (msg, rendered) = self.message(events)?;
        // lettre's timeout covers each socket operation; this one bounds the whole attempt.
        let sent = tokio::time::timeout(self.timeout, self.transport.send(msg)).await;
        match sent {
            Err(_) => Err(DeliveryError::Transient {
                message: format!(
                    "SMTP {}: no answer within {}",
                    self.server,
                    humantime::format_duration(self.timeout)
                ),
                retry_after: None,
            }),
            Ok(Err(e)) => {
                let err = classify(&e, &self.server, &self.redactor);
                tracing::debug!(channel = %self.name, error = %err, "email not sent");
                Err(err)
            }
            Ok(Ok(resp)) => {
                let response = self.redactor.text(&final_line(&resp));
                tracing::debug!(
                    channel = %self.name,
                    message_id = %rendered.message_id,
                    %response,
                    "email sent"
                );
                Ok(Receipt { response })
            }
        }
    }
}

impl Channel for EmailChannel {
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

fn local_host_name() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// `250 2.0.0 Ok: queued as 4F2B1`: the code and the last line of the reply.
fn final_line(resp: &Response) -> String {
    let last = resp.message().last().unwrap_or("");
    format!("{} {last}", resp.code()).trim_end().to_string()
}

/// Whether retrying can help, with a message that names the server and the cause (never the
/// password).
fn classify(
    e: &lettre::transport::smtp::Error,
    server: &str,
    redactor: &Redactor,
) -> DeliveryError {
    // lettre's Display shows the first cause; deeper causes (the io::Error behind a TLS
    // failure, rustls' certificate verdict) are added when they say something new.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    // lettre nests its own errors ("Connection error: Connection error: ..."): say it once.
    let mut parts: Vec<&str> = Vec::new();
    for p in text.split(": ") {
        if parts.last() != Some(&p) {
            parts.push(p);
        }
    }
    let mut text = parts.join(": ");
    if text.contains("UnknownIssuer") {
        text.push_str(" (set `ca_file` to the CA that signed the server's certificate)");
    }
    let message = redactor.text(&format!("SMTP {server}: {text}"));
    // 4xx: try again later; 5xx: the server has decided.
    if e.is_transient() {
        return DeliveryError::Transient {
            message,
            retry_after: None,
        };
    }
    if e.is_permanent() {
        return DeliveryError::Permanent { message };
    }
    if e.is_client() {
        // The server lacks what the configuration requires (STARTTLS, a common AUTH
        // mechanism), or an address was refused before sending: retrying changes nothing.
        return DeliveryError::Permanent { message };
    }
    // Connection refused or reset, timeouts, TLS handshakes (an expired or replaced server
    // certificate gets fixed on the server side), garbled replies: worth another attempt.
    DeliveryError::Transient {
        message,
        retry_after: None,
    }
}

/// A `[TEST]` event for `patrol alert test CHANNEL`: it exercises the whole path (rendering,
/// SMTP, the receiver's filters) without touching any check's state.
pub fn test_event(channel: &str, now: DateTime<Utc>) -> AlertEvent {
    let nanos = now.timestamp_nanos_opt().unwrap_or_default();
    let mut facts = BTreeMap::new();
    facts.insert("channel".to_string(), serde_json::json!(channel));
    facts.insert(
        "patrol version".to_string(),
        serde_json::json!(env!("CARGO_PKG_VERSION")),
    );
    AlertEvent {
        event_id: format!("test-{channel}-{nanos}-{}", std::process::id()),
        kind: MessageKind::Test,
        reason: format!("`patrol alert test {channel}` was run"),
        incident_id: format!("test-{channel}-{nanos}"),
        fingerprint: format!("test-{channel}"),
        check: CheckInfo {
            id: "patrol-test".into(),
            name: "patrol test message".into(),
            description: "This is a test of the alert channel. If you read it, patrol's alerts reach you through this channel; nothing needs to be done.".into(),
            tags: vec![],
            schedule: String::new(),
            timezone: String::new(),
            console: None,
        },
        state: StateInfo {
            current: Status::Ok,
            previous: None,
            since: now,
            consecutive_failures: 0,
        },
        result: ResultInfo {
            summary: format!("test message for channel {channel}"),
            metrics: BTreeMap::new(),
            facts,
            output_tail: None,
            started_at: now,
            duration_ms: 0,
        },
        suppressed_dependents: vec![],
        url: None,
        created_at: now,
    }
}
