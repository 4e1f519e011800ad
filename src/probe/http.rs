//! `http` probe: one HTTP(S) request; reports the status, headers, body (parsed when it is
//! JSON), the response time and the expiry of the server's certificate. A refused connection,
//! a timeout or a TLS failure is an observation (`status: 0`, `error` set), not a probe
//! failure. Proxies come from `HTTPS_PROXY` / `HTTP_PROXY` / `NO_PROXY`, as with curl.
//!
//! ```yaml
//! probe:
//!   http:
//!     url: https://console.internal/api/v2/health
//!     headers: { Authorization: "Bearer ${secret:console_token}" }
//!     expect_status: [2xx]
//!     ca_file: certs/console-ca.pem
//! ```
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `url` | string | the URL as configured (secrets shown as their `${secret:...}` reference) |
//! | `method` | string | `GET`, `POST`, ... |
//! | `status` | int | HTTP status of the (final) response; 0 when there was none |
//! | `status_ok` | bool | `status` matches `expect_status` |
//! | `headers` | map | response headers, names lowercased; repeated headers joined with `, ` |
//! | `body` | any | the body parsed as JSON when it is JSON, else the text (UTF-8, invalid bytes replaced) |
//! | `body_is_json` | bool | `body` holds parsed JSON |
//! | `body_bytes` | int | bytes of body kept (at most `max_body_bytes`) |
//! | `body_truncated` | bool | the body was longer than `max_body_bytes` (a truncated body is never parsed as JSON) |
//! | `response_time_ms` | float | from sending the request to the end of the body (or to the failure) |
//! | `tls` | object or null | the server's certificate; null for plain HTTP |
//! | `tls.cert_not_after` | string | RFC 3339 expiry of the certificate |
//! | `tls.cert_days_left` | float | days until that expiry (negative: expired) |
//! | `tls.subject` | string | subject DN |
//! | `tls.issuer` | string | issuer DN |
//! | `error` | string or null | why the request failed (connect, TLS, timeout, reading the body) |
//!
//! `tls` is filled whenever the server presented a certificate, even when verification
//! rejected it, so an expired certificate shows its expiry next to the error.
//!
//! Default verdict: OK when `status` matches `expect_status`, else CRITICAL
//! (`HTTP 503 from URL (expected 2xx)`); CRITICAL naming the error when the request failed.
//! Metrics: `response_time_ms`, and `cert_days_left` over HTTPS.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput, io_deadline, millis};
use crate::config::{Dur, Json, Text};
use crate::error_text::{error_chain, root_cause};
use crate::status::Verdict;
use crate::tls::{CertSummary, PeerCertSlot, TlsOptions, ensure_crypto_provider};
use futures::future::BoxFuture;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer};
use serde_json::{Value, json};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Configuration of the `http` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpProbe {
    /// The URL to request (`http://` or `https://`).
    pub url: Text,
    /// HTTP method. Default: GET.
    #[serde(default = "default_method", deserialize_with = "de_method")]
    pub method: String,
    /// Request headers, name → value. Values may use `${secret:...}`.
    #[serde(default)]
    pub headers: BTreeMap<String, Text>,
    /// Request body, sent as is. Do not combine with `json`.
    #[serde(default)]
    pub body: Option<Text>,
    /// A value sent as a JSON request body (with `Content-Type: application/json` unless a
    /// header sets another). Do not combine with `body`.
    #[serde(default)]
    pub json: Option<Json>,
    /// Statuses that count as success: codes (`200`), classes (`"2xx"`) or ranges
    /// (`"200-204"`). Default: 200-399.
    #[serde(default)]
    pub expect_status: Option<Vec<StatusRange>>,
    /// Give up the request (connect, TLS, response and body) after this long. Default and
    /// maximum: just under the check's timeout, so that a slow server is reported as a
    /// timed-out request rather than cut off by the runner. 10ms to 24h.
    #[serde(default, deserialize_with = "crate::config::bounds::probe_timeout_opt")]
    pub timeout: Option<Dur>,
    /// Follow redirects (up to 10). Default: true. With false a 3xx is the response.
    #[serde(default = "yes")]
    pub follow_redirects: bool,
    /// Verify the server's certificate. Default: true. `false` is DANGEROUS: any
    /// certificate is accepted, so the response may come from anyone on the path; use it
    /// only for a server whose certificate you cannot verify.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// A PEM file of CA certificates to trust INSTEAD OF the system's CA store (a private
    /// CA). A relative path resolves against the folder of `patrol.yaml`.
    #[serde(default)]
    pub ca_file: Option<Text>,
    /// Keep at most this many bytes of the body; the rest is not read. Default: 1048576
    /// (1 MiB); 0 to 67108864.
    #[serde(
        default = "default_max_body",
        deserialize_with = "crate::config::bounds::body_bytes"
    )]
    pub max_body_bytes: u64,
}

fn yes() -> bool {
    true
}

fn default_method() -> String {
    "GET".into()
}

fn default_max_body() -> u64 {
    1024 * 1024
}

fn de_method<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let m = String::deserialize(d)?.trim().to_ascii_uppercase();
    reqwest::Method::from_bytes(m.as_bytes())
        .map_err(|_| serde::de::Error::custom(format!("invalid HTTP method {m:?}")))?;
    Ok(m)
}

/// One accepted status: a code, a class (`2xx`) or an inclusive range (`200-299`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusRange {
    pub lo: u16,
    pub hi: u16,
}

impl StatusRange {
    pub fn contains(&self, status: u16) -> bool {
        (self.lo..=self.hi).contains(&status)
    }
}

const DEFAULT_EXPECT: [StatusRange; 1] = [StatusRange { lo: 200, hi: 399 }];

impl FromStr for StatusRange {
    type Err = String;
    fn from_str(s: &str) -> Result<StatusRange, String> {
        let t = s.trim().to_ascii_lowercase();
        let code = |x: &str| -> Result<u16, String> {
            match x.trim().parse::<u16>() {
                Ok(n) if (100..=599).contains(&n) => Ok(n),
                _ => Err(format!(
                    "invalid status {s:?}: write a code (200), a class (\"2xx\") or a range (\"200-299\")"
                )),
            }
        };
        if let Some(class) = t.strip_suffix("xx") {
            let lo = code(&format!("{class}00"))?;
            return Ok(StatusRange { lo, hi: lo + 99 });
        }
        if let Some((a, b)) = t.split_once('-') {
            let (lo, hi) = (code(a)?, code(b)?);
            if lo > hi {
                return Err(format!("invalid status range {s:?}: {lo} is above {hi}"));
            }
            return Ok(StatusRange { lo, hi });
        }
        let n = code(&t)?;
        Ok(StatusRange { lo: n, hi: n })
    }
}

impl fmt::Display for StatusRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else if self.lo.is_multiple_of(100) && self.hi == self.lo + 99 {
            write!(f, "{}xx", self.lo / 100)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

impl<'de> Deserialize<'de> for StatusRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::config::types::number_or_text(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for StatusRange {
    fn schema_name() -> Cow<'static, str> {
        "HttpStatusRange".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An HTTP status code (200), class (\"2xx\") or range (\"200-299\").",
            "anyOf": [
                {"type": "integer", "minimum": 100, "maximum": 599},
                {"type": "string", "pattern": "^\\s*([1-5][0-9xX]{2}|[1-5][0-9]{2}\\s*-\\s*[1-5][0-9]{2})\\s*$"}
            ]
        })
    }
}

/// What one request saw.
struct Seen {
    status: u16,
    headers: serde_json::Map<String, Value>,
    body: Vec<u8>,
    content_type: Option<String>,
    truncated: bool,
    cert: Option<CertSummary>,
    error: Option<String>,
}

impl Probe for HttpProbe {
    fn kind(&self) -> &'static str {
        "http"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            ensure_crypto_provider();
            let limit = io_deadline(self.timeout.map(Dur::as_duration), ctx.timeout);
            let (client, peer_cert) = self.client(ctx, limit)?;
            let request = self.request(&client)?;

            let started = Instant::now();
            let mut seen = self.send(&client, request, limit).await;
            let elapsed = started.elapsed();
            if seen.cert.is_none() {
                // The handshake may have failed after the certificate was seen.
                seen.cert = peer_cert.get().and_then(|d| CertSummary::from_der(&d).ok());
            }
            Ok(self.output(seen, elapsed, ctx.redactor))
        })
    }
}

impl HttpProbe {
    fn client(
        &self,
        ctx: &ProbeContext<'_>,
        limit: Duration,
    ) -> Result<(reqwest::Client, PeerCertSlot), ProbeError> {
        let tls = TlsOptions::from_config(self.tls_verify, self.ca_file.as_ref(), ctx.base_dir)
            .client_config(&[b"h2", b"http/1.1"])?;
        let redirect = if self.follow_redirects {
            reqwest::redirect::Policy::limited(10)
        } else {
            reqwest::redirect::Policy::none()
        };
        let client = reqwest::Client::builder()
            .timeout(limit)
            .redirect(redirect)
            .user_agent(concat!("patrol/", env!("CARGO_PKG_VERSION")))
            .tls_info(true)
            .tls_backend_preconfigured(tls.config)
            .build()
            .map_err(|e| ProbeError::Failed(format!("cannot build the HTTP client: {e}")))?;
        Ok((client, tls.peer_cert))
    }

    fn request(&self, client: &reqwest::Client) -> Result<reqwest::Request, ProbeError> {
        let url = reqwest::Url::parse(self.url.value()).map_err(|e| {
            ProbeError::Config(format!("invalid url {:?}: {e}", self.url.display()))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ProbeError::Config(format!(
                "url {:?} must start with http:// or https://",
                self.url.display()
            )));
        }
        let method = reqwest::Method::from_bytes(self.method.as_bytes())
            .map_err(|_| ProbeError::Config(format!("invalid HTTP method {:?}", self.method)))?;
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| ProbeError::Config(format!("invalid header name {name:?}")))?;
            let mut v = HeaderValue::from_str(value.value()).map_err(|_| {
                ProbeError::Config(format!(
                    "invalid value for header {name}: {:?}",
                    value.display()
                ))
            })?;
            v.set_sensitive(value.is_secret());
            headers.append(n, v);
        }
        let mut req = client.request(method, url).headers(headers);
        match (&self.body, &self.json) {
            (Some(_), Some(_)) => {
                return Err(ProbeError::Config(
                    "http: set either `body` or `json`, not both".into(),
                ));
            }
            (Some(body), None) => req = req.body(body.value().to_string()),
            (None, Some(j)) => req = req.json(&j.value),
            (None, None) => {}
        }
        req.build().map_err(|e| {
            ProbeError::Config(format!("cannot build the request: {}", e.without_url()))
        })
    }

    async fn send(&self, client: &reqwest::Client, req: reqwest::Request, limit: Duration) -> Seen {
        let mut seen = Seen {
            status: 0,
            headers: serde_json::Map::new(),
            body: Vec::new(),
            content_type: None,
            truncated: false,
            cert: None,
            error: None,
        };
        let describe = |e: reqwest::Error| {
            if e.is_timeout() {
                format!("timed out after {}", Dur(limit))
            } else if e.is_connect() {
                // TCP, DNS and TLS failures: the innermost error names the cause.
                format!("cannot connect: {}", root_cause(&e))
            } else {
                error_chain(&e.without_url())
            }
        };
        let mut resp = match client.execute(req).await {
            Ok(r) => r,
            Err(e) => {
                seen.error = Some(describe(e));
                return seen;
            }
        };
        seen.status = resp.status().as_u16();
        for (name, value) in resp.headers() {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            match seen.headers.get_mut(name.as_str()) {
                Some(Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(&v);
                }
                _ => {
                    seen.headers
                        .insert(name.as_str().to_string(), Value::String(v));
                }
            }
        }
        seen.content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        seen.cert = resp
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|i| i.peer_certificate())
            .and_then(|d| CertSummary::from_der(d).ok());

        let max = usize::try_from(self.max_body_bytes).unwrap_or(usize::MAX);
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    let room = max.saturating_sub(seen.body.len());
                    if chunk.len() > room {
                        seen.body.extend_from_slice(&chunk[..room]);
                        // Stop reading: a huge (or endless) body must not eat memory or time.
                        seen.truncated = true;
                        break;
                    }
                    seen.body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    seen.error = Some(format!("reading the body: {}", describe(e)));
                    break;
                }
            }
        }
        seen
    }

    fn output(
        &self,
        seen: Seen,
        elapsed: Duration,
        redactor: &crate::redact::Redactor,
    ) -> ProbeOutput {
        let now = chrono::Utc::now();
        let url = self.url.display();
        let expect: &[StatusRange] = self.expect_status.as_deref().unwrap_or(&DEFAULT_EXPECT);
        let status_ok = seen.status != 0 && expect.iter().any(|r| r.contains(seen.status));
        let (mut body, body_is_json) =
            parse_body(&seen.body, seen.content_type.as_deref(), seen.truncated);
        // A body cut at `max_body_bytes` may end inside a secret: mask that piece too.
        if let (Value::String(text), true) = (&mut body, seen.truncated) {
            *text = redactor.cut_end(text);
        }
        let response_time_ms = millis(elapsed);
        let tls = seen.cert.as_ref().map(|c| Value::Object(c.peer_json(now)));
        let observation = json!({
            "url": url,
            "method": self.method,
            "status": seen.status,
            "status_ok": status_ok,
            "headers": seen.headers,
            "body": body,
            "body_is_json": body_is_json,
            "body_bytes": seen.body.len(),
            "body_truncated": seen.truncated,
            "response_time_ms": response_time_ms,
            "tls": tls,
            "error": seen.error,
        });

        let expected = expect
            .iter()
            .map(|r| r.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let mut verdict = match (&seen.error, seen.status) {
            (Some(e), 0) => Verdict::critical(format!("{} {url} failed: {e}", self.method)),
            (Some(e), s) => Verdict::critical(format!("HTTP {s} from {url}, then {e}")),
            (None, s) if !status_ok => {
                Verdict::critical(format!("HTTP {s} from {url} (expected {expected})"))
            }
            (None, s) => Verdict::ok(format!("HTTP {s} from {url} in {response_time_ms:.1} ms")),
        };
        verdict = verdict.with_metric("response_time_ms", response_time_ms);
        if let Some(c) = &seen.cert {
            verdict = verdict.with_metric("cert_days_left", c.days_left(now));
        }
        ProbeOutput {
            observation,
            verdict,
            state: None,
        }
    }
}

/// The body as JSON when it is JSON (by content type, or by its first character when the
/// server does not say), else as text.
fn parse_body(bytes: &[u8], content_type: Option<&str>, truncated: bool) -> (Value, bool) {
    let text = String::from_utf8_lossy(bytes);
    let declared_json = content_type.is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
    let looks_json = matches!(text.trim_start().chars().next(), Some('{' | '['));
    if !truncated
        && (declared_json || looks_json)
        && let Ok(v) = serde_json::from_slice::<Value>(bytes)
    {
        return (v, true);
    }
    (Value::String(text.into_owned()), false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_ranges_parse_and_print() {
        let r = |s: &str| s.parse::<StatusRange>().unwrap();
        assert_eq!(r("2xx"), StatusRange { lo: 200, hi: 299 });
        assert_eq!(r(" 200 - 204 "), StatusRange { lo: 200, hi: 204 });
        assert_eq!(r("404"), StatusRange { lo: 404, hi: 404 });
        assert_eq!(r("5XX").to_string(), "5xx");
        assert_eq!(r("200-204").to_string(), "200-204");
        assert_eq!(DEFAULT_EXPECT[0].to_string(), "200-399");
        for bad in ["9xx", "abc", "300-200", "42", "2x"] {
            assert!(bad.parse::<StatusRange>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn json_bodies_are_parsed_and_text_is_kept() {
        assert_eq!(
            parse_body(br#"{"a":1}"#, Some("application/json"), false),
            (json!({"a": 1}), true)
        );
        assert_eq!(parse_body(b"[1]", None, false), (json!([1]), true));
        assert_eq!(
            parse_body(b"123", Some("text/plain"), false),
            (json!("123"), false)
        );
        assert_eq!(
            parse_body(b"{broken", Some("application/json"), false),
            (json!("{broken"), false)
        );
        assert_eq!(
            parse_body(br#"{"a":1}"#, None, true),
            (json!(r#"{"a":1}"#), false)
        );
    }
}
