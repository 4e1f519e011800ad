//! A HyperBDR console client: login, the `X-Auth-Token`/`X-SCENE`/`X-LANG` headers, one
//! re-login on HTTP 401, the `{code, data, error, title, trace_id}` envelope, paging until
//! `total`, and times on the console's clock made explicit. Used by the `hyperbdr` probe and
//! by log export.
//!
//! - **One session per console** ([`super::session`]): the token is cached process-wide per
//!   console (its name and a fingerprint of URL, user, password and scene) and reused by every
//!   client of it until the console answers 401 or the token's JWT `exp` is near. Logins are
//!   single-flight: checks starting together share one login request.
//! - **Login guard**: a refused login (bad credentials: the console's error envelope or HTTP
//!   401/403 on the login endpoint) stops every login to that console for
//!   [`Connection::login_backoff`]; meanwhile calls fail at once with
//!   [`ConsoleError::LoginRefused`] ("login as ops refused at 10:02 CST; not retrying before
//!   10:17 CST so the account is not locked — console error 10010001: …").
//! - **Times**: every string in an answer that is a time without an offset
//!   (`YYYY-MM-DD HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`, optionally with a fraction) is read in
//!   [`Connection::console_timezone`] and rewritten to RFC 3339 with that zone's offset
//!   (`2026-03-01 08:00:02` → `2026-03-01T08:00:02+08:00` in Asia/Shanghai), anywhere in the
//!   JSON.
//!
//! The password never appears in errors, logs or `Debug` output.

use super::session::{self, LoginFailure, Session};
use crate::error_text::root_cause;
use crate::tls::{TlsOptions, ensure_crypto_provider};
use chrono::{DateTime, NaiveDateTime, SecondsFormat, TimeZone, Utc};
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// The login endpoint.
pub const LOGIN_PATH: &str = "/api/v2/loginNoImageCaptcha";

/// Envelope codes that mean success.
pub const SUCCESS_CODES: [&str; 3] = ["", "00000000", "200"];

/// Stop paging after this many pages (a console that never reaches `total`).
const MAX_PAGES: u32 = 1000;

/// Where and how to reach a console.
#[derive(Clone)]
pub struct Connection {
    /// Base URL, e.g. `https://console:10443` (a path prefix is kept).
    pub url: String,
    pub username: String,
    /// Never printed.
    pub password: String,
    /// `X-SCENE`: `dr` or `migration`.
    pub scene: String,
    /// `X-LANG`: `en` or `zh`.
    pub lang: String,
    /// How the console's certificate is checked (default: verified against the system's
    /// roots).
    pub tls: TlsOptions,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Items asked for per page (the console may give fewer).
    pub page_size: u32,
    /// Zone of the console's `YYYY-MM-DD HH:MM:SS` stamps.
    pub console_timezone: chrono_tz::Tz,
    /// The console's name in `patrol.yaml` (`consoles:`); keys its token and login guard.
    pub name: String,
    /// After a refused login, no login to this console for this long (or until the
    /// connection's settings change), so an account-lockout policy never locks the user.
    pub login_backoff: Duration,
    /// A console time further than this in the future is a clock or zone error.
    pub max_clock_skew: Duration,
}

impl Connection {
    /// A connection with the defaults: scene `dr`, lang `en`, TLS verified, 60 s timeout
    /// (as hyperbdrctl), 100 items per page, console zone UTC.
    pub fn new(url: &str, username: &str, password: &str) -> Connection {
        Connection {
            url: url.trim_end_matches('/').to_string(),
            username: username.to_string(),
            password: password.to_string(),
            scene: "dr".into(),
            lang: "en".into(),
            tls: TlsOptions::default(),
            timeout: Duration::from_secs(60),
            page_size: 100,
            console_timezone: chrono_tz::UTC,
            name: String::new(),
            login_backoff: Duration::from_secs(15 * 60),
            max_clock_skew: Duration::from_secs(5 * 60),
        }
    }
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("scene", &self.scene)
            .field("lang", &self.lang)
            .field("tls", &self.tls)
            .field("timeout", &self.timeout)
            .field("page_size", &self.page_size)
            .field("console_timezone", &self.console_timezone)
            .field("login_backoff", &self.login_backoff)
            .field("max_clock_skew", &self.max_clock_skew)
            .finish()
    }
}

/// Why a console call failed. Every message names the method and path.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConsoleError {
    /// HTTP 404: the endpoint does not exist on this console (an O&M extension, say).
    #[error("{method} {path}: not available on this console (HTTP 404)")]
    NotAvailable { method: String, path: String },
    /// The envelope's `code` is not a success code.
    #[error("{method} {path}: console error {code}: {message}{}", trace(.trace_id))]
    Api {
        method: String,
        path: String,
        code: String,
        message: String,
        trace_id: Option<String>,
    },
    /// Another HTTP error status (a second 401 included).
    #[error("{method} {path}: HTTP {status}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
    },
    /// No usable response: connect, TLS, timeout, a body that is not JSON.
    #[error("{method} {path}: {message}")]
    Transport {
        method: String,
        path: String,
        message: String,
    },
    /// The login failed without a refusal of the credentials (console down, 5xx, no token).
    #[error("POST {LOGIN_PATH}: login as {username} failed: {reason}")]
    Login { username: String, reason: String },
    /// The console refused the credentials at `at`; no login to it before `until` (times
    /// shown in `zone`), so an account-lockout policy does not lock the user.
    #[error("POST {LOGIN_PATH}: {}", refused_text(.username, .at, .until, .zone, .reason))]
    LoginRefused {
        username: String,
        at: DateTime<Utc>,
        until: DateTime<Utc>,
        zone: chrono_tz::Tz,
        reason: String,
    },
    #[error("invalid console connection: {0}")]
    Config(String),
}

/// "login as ops refused at 10:02 CST; not retrying before 10:17 CST so the account is not
/// locked — console error 10010001: invalid credentials". A time not on today's date (in
/// `zone`) carries its date.
fn refused_text(
    username: &str,
    at: &DateTime<Utc>,
    until: &DateTime<Utc>,
    zone: &chrono_tz::Tz,
    reason: &str,
) -> String {
    let today = Utc::now().with_timezone(zone).date_naive();
    let clock = |t: &DateTime<Utc>| {
        let local = t.with_timezone(zone);
        if local.date_naive() == today {
            local.format("%H:%M %Z").to_string()
        } else {
            crate::alert::present::time(*t, *zone)
        }
    };
    format!(
        "login as {username} refused at {}; not retrying before {} so the account is not locked — {reason}",
        clock(at),
        clock(until)
    )
}

fn trace(t: &Option<String>) -> String {
    match t {
        Some(t) if !t.is_empty() => format!(" (trace_id {t})"),
        _ => String::new(),
    }
}

impl ConsoleError {
    /// True for HTTP 404 ("not available on this console").
    pub fn is_not_available(&self) -> bool {
        matches!(self, ConsoleError::NotAvailable { .. })
    }

    /// True when the login guard holds logins back after a refused login.
    pub fn is_login_refused(&self) -> bool {
        matches!(self, ConsoleError::LoginRefused { .. })
    }
}

/// Seconds since the epoch at which a JWT expires, when the token is one.
fn jwt_exp(token: &str) -> Option<i64> {
    use base64::Engine as _;
    let mut parts = token.split('.');
    let (_, payload, _) = (parts.next()?, parts.next()?, parts.next()?);
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_i64()
}

fn usable(token: &str) -> bool {
    jwt_exp(token).is_none_or(|exp| exp > Utc::now().timestamp() + 30)
}

/// One response, before the envelope is looked at.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

/// A client of one console. Cheap to create; the token and the login guard live in the
/// console's process-wide session.
pub struct ConsoleClient {
    conn: Connection,
    http: reqwest::Client,
    session: Arc<Session>,
}

impl ConsoleClient {
    pub fn new(conn: &Connection) -> Result<ConsoleClient, ConsoleError> {
        ensure_crypto_provider();
        let url = conn.url.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&url)
            .map_err(|e| ConsoleError::Config(format!("invalid url {url:?}: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(ConsoleError::Config(format!(
                "url {url:?} must start with http:// or https://"
            )));
        }
        // A placeholder left from `patrol init` is named, never looked up or logged in with.
        if let Some(msg) = crate::config::placeholder::console_problem(
            &conn.name,
            &conn.url,
            &conn.username,
            &conn.password,
        ) {
            return Err(ConsoleError::Config(msg));
        }
        let tls = conn
            .tls
            .client_config(&[b"http/1.1"])
            .map_err(|e| ConsoleError::Config(e.to_string()))?;
        let http = reqwest::Client::builder()
            .timeout(conn.timeout)
            .user_agent(concat!("patrol/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls.config)
            .build()
            .map_err(|e| ConsoleError::Config(format!("cannot build the HTTP client: {e}")))?;
        let mut conn = conn.clone();
        conn.url = url;
        let session = session::session(&conn);
        Ok(ConsoleClient {
            conn,
            http,
            session,
        })
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// `GET path?query` and the envelope's `data`, times made explicit
    /// ([`normalise_times`] in the console's zone).
    pub async fn get_data(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Value, ConsoleError> {
        let raw = self.call(Method::GET, path, query, None).await?;
        let mut data = unwrap_envelope("GET", path, raw)?;
        normalise_times(&mut data, self.conn.console_timezone);
        Ok(data)
    }

    /// `POST path` with a JSON body, and the envelope's `data` (times made explicit).
    pub async fn post_data(&self, path: &str, body: &Value) -> Result<Value, ConsoleError> {
        let raw = self.call(Method::POST, path, &[], Some(body)).await?;
        let mut data = unwrap_envelope("POST", path, raw)?;
        normalise_times(&mut data, self.conn.console_timezone);
        Ok(data)
    }

    /// `GET path` and the raw body (a log file, say), for any 2xx status.
    pub async fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ConsoleError> {
        let raw = self.call(Method::GET, path, &[], None).await?;
        if raw.status.is_success() {
            Ok(raw.body)
        } else {
            Err(http_error("GET", path, &raw))
        }
    }

    /// `GET path` page after page until `total` items are collected. A list answer is an
    /// object with a numeric `total` and one array field; the arrays are concatenated into
    /// the first page's object. Anything else is returned as the first page gave it.
    /// `page_size` in `query` overrides the connection's.
    pub async fn get_all_pages(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Value, ConsoleError> {
        let size = query
            .iter()
            .find(|(k, _)| k == "page_size")
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| self.conn.page_size.max(1).to_string());
        let base: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "page" && k != "page_size")
            .cloned()
            .chain([("page_size".to_string(), size)])
            .collect();
        let page_query = |page: u32| {
            let mut q = base.clone();
            q.push(("page".into(), page.to_string()));
            q
        };
        let mut first = self.get_data(path, &page_query(1)).await?;
        let Some((total, field)) = list_shape(&first) else {
            return Ok(first);
        };
        let mut items: Vec<Value> = first[&field].as_array().cloned().unwrap_or_default();
        let mut page = 1;
        while (items.len() as u64) < total {
            page += 1;
            if page > MAX_PAGES {
                return Err(ConsoleError::Transport {
                    method: "GET".into(),
                    path: path.into(),
                    message: format!(
                        "gave up after {MAX_PAGES} pages ({} of {total} items)",
                        items.len()
                    ),
                });
            }
            let next = self.get_data(path, &page_query(page)).await?;
            let got = next
                .get(&field)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            if got.is_empty() {
                return Err(ConsoleError::Transport {
                    method: "GET".into(),
                    path: path.into(),
                    message: format!(
                        "page {page} was empty after {} of {total} items",
                        items.len()
                    ),
                });
            }
            items.extend(got);
        }
        first[&field] = Value::Array(items);
        Ok(first)
    }

    /// A token: the cached one, the outcome of the login in flight, or a new login (unless
    /// the login guard holds logins back). `stale` is a token the console just refused.
    async fn token(&self, stale: Option<&str>) -> Result<String, ConsoleError> {
        self.session
            .token(&self.conn, stale, usable, || self.login())
            .await
    }

    /// One login request. Refused credentials (an error envelope, HTTP 401 or 403) are told
    /// apart from a console that cannot answer.
    async fn login(&self) -> Result<String, LoginFailure> {
        let body = json!({"username": self.conn.username, "password": self.conn.password});
        let other = |e: ConsoleError| {
            LoginFailure::Other(ConsoleError::Login {
                username: self.conn.username.clone(),
                reason: strip_prefix(&e.to_string(), LOGIN_PATH),
            })
        };
        let raw = self
            .send(Method::POST, LOGIN_PATH, &[], Some(&body), None)
            .await
            .map_err(other)?;
        let refused = matches!(raw.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN);
        let data = match unwrap_envelope("POST", LOGIN_PATH, raw) {
            Ok(data) => data,
            Err(e @ ConsoleError::Api { .. }) => {
                return Err(LoginFailure::Refused(strip_prefix(
                    &e.to_string(),
                    LOGIN_PATH,
                )));
            }
            Err(e) if refused => {
                return Err(LoginFailure::Refused(strip_prefix(
                    &e.to_string(),
                    LOGIN_PATH,
                )));
            }
            Err(e) => return Err(other(e)),
        };
        match data.get("token").and_then(Value::as_str) {
            Some(t) if !t.is_empty() => {
                tracing::debug!(url = %self.conn.url, user = %self.conn.username, "logged in to the HyperBDR console");
                Ok(t.to_string())
            }
            _ => Err(LoginFailure::Other(ConsoleError::Login {
                username: self.conn.username.clone(),
                reason: "the answer has no data.token".into(),
            })),
        }
    }

    /// One authenticated call; on 401 logs in again and retries once.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Result<Raw, ConsoleError> {
        if !path.starts_with('/') {
            return Err(ConsoleError::Config(format!(
                "path {path:?} must start with /"
            )));
        }
        let token = self.token(None).await?;
        let raw = self
            .send(method.clone(), path, query, body, Some(&token))
            .await?;
        if raw.status != StatusCode::UNAUTHORIZED {
            return Ok(raw);
        }
        tracing::debug!(url = %self.conn.url, path, "HTTP 401: logging in again");
        let token = self.token(Some(&token)).await?;
        let raw = self
            .send(method.clone(), path, query, body, Some(&token))
            .await?;
        if raw.status == StatusCode::UNAUTHORIZED {
            let mut e = http_error(method.as_str(), path, &raw);
            if let ConsoleError::Http { message, .. } = &mut e {
                message.push_str(" (again after logging in again)");
            }
            return Err(e);
        }
        Ok(raw)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        token: Option<&str>,
    ) -> Result<Raw, ConsoleError> {
        let mut url = reqwest::Url::parse(&format!("{}{path}", self.conn.url))
            .map_err(|e| ConsoleError::Config(format!("invalid path {path:?}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut req = self
            .http
            .request(method.clone(), url)
            .header("X-SCENE", &self.conn.scene)
            .header("X-LANG", &self.conn.lang)
            .header("Accept", "application/json");
        if let Some(t) = token {
            let mut v = HeaderValue::from_str(t).map_err(|_| ConsoleError::Transport {
                method: method.to_string(),
                path: path.into(),
                message: "the console's token is not a valid header value".into(),
            })?;
            v.set_sensitive(true);
            req = req.header("X-Auth-Token", v);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let transport = |e: reqwest::Error| ConsoleError::Transport {
            method: method.to_string(),
            path: path.into(),
            message: if e.is_timeout() {
                format!(
                    "timed out after {}",
                    humantime::format_duration(self.conn.timeout)
                )
            } else if e.is_connect() {
                format!("cannot connect to {}: {}", self.conn.url, root_cause(&e))
            } else {
                root_cause(&e.without_url())
            },
        };
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = resp.bytes().await.map_err(transport)?.to_vec();
        Ok(Raw {
            status,
            headers,
            body,
        })
    }
}

fn strip_prefix(message: &str, path: &str) -> String {
    message
        .strip_prefix(&format!("POST {path}: "))
        .unwrap_or(message)
        .to_string()
}

/// The `code` of an envelope as text (`""` when absent).
fn code_of(v: &Value) -> String {
    match v.get("code") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn text_field(v: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| match v.get(*n) {
        Some(Value::String(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Value::Object(o)) => o.get("message").and_then(Value::as_str).map(str::to_string),
        _ => None,
    })
}

fn http_error(method: &str, path: &str, raw: &Raw) -> ConsoleError {
    if raw.status == StatusCode::NOT_FOUND {
        return ConsoleError::NotAvailable {
            method: method.into(),
            path: path.into(),
        };
    }
    let header = raw
        .headers
        .get("server-error-message")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let json = serde_json::from_slice::<Value>(&raw.body).unwrap_or(Value::Null);
    let mut message = header
        .or_else(|| text_field(&json, &["faultstring", "title", "error", "message"]))
        .unwrap_or_else(|| {
            raw.status
                .canonical_reason()
                .unwrap_or("no message")
                .to_string()
        });
    let code = code_of(&json);
    let trace_id = json.get("trace_id").and_then(Value::as_str).unwrap_or("");
    match (code.is_empty(), trace_id.is_empty()) {
        (true, true) => {}
        (false, true) => message.push_str(&format!(" (code {code})")),
        (true, false) => message.push_str(&format!(" (trace_id {trace_id})")),
        (false, false) => message.push_str(&format!(" (code {code}, trace_id {trace_id})")),
    }
    ConsoleError::Http {
        method: method.into(),
        path: path.into(),
        status: raw.status.as_u16(),
        message,
    }
}

/// The envelope's `data` of a 2xx answer with a success code, else the error.
fn unwrap_envelope(method: &str, path: &str, raw: Raw) -> Result<Value, ConsoleError> {
    if !raw.status.is_success() {
        return Err(http_error(method, path, &raw));
    }
    let v: Value = serde_json::from_slice(&raw.body).map_err(|e| ConsoleError::Transport {
        method: method.into(),
        path: path.into(),
        message: format!("HTTP {}: the answer is not JSON: {e}", raw.status.as_u16()),
    })?;
    let code = code_of(&v);
    if !SUCCESS_CODES.contains(&code.as_str()) {
        return Err(ConsoleError::Api {
            method: method.into(),
            path: path.into(),
            code,
            message: text_field(&v, &["title", "error", "message"])
                .unwrap_or_else(|| "no message".into()),
            trace_id: v
                .get("trace_id")
                .and_then(Value::as_str)
                .map(str::to_string),
        });
    }
    Ok(v.get("data").cloned().unwrap_or(Value::Null))
}

/// `(total, array field)` when `data` is one page of a list.
fn list_shape(data: &Value) -> Option<(u64, String)> {
    let obj = data.as_object()?;
    let total = obj.get("total")?.as_u64()?;
    let mut arrays = obj.iter().filter(|(_, v)| v.is_array());
    let (name, _) = arrays.next()?;
    if arrays.next().is_some() {
        return None;
    }
    Some((total, name.clone()))
}

/// Rewrites every string inside `v` that is a time without an offset (`YYYY-MM-DD
/// HH:MM:SS` or `YYYY-MM-DDTHH:MM:SS`, optionally with `.fraction`) to RFC 3339, reading it
/// in `tz` and writing `tz`'s offset (`Z` for UTC): `2026-03-01 08:00:02` in Asia/Shanghai
/// becomes `2026-03-01T08:00:02+08:00`. Other strings (RFC 3339 with an offset included)
/// stay as they are, so the rewrite may be applied twice.
pub fn normalise_times(v: &mut Value, tz: chrono_tz::Tz) {
    match v {
        Value::String(s) => {
            if let Some(t) = console_time(s, tz) {
                *s = t;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| normalise_times(i, tz)),
        Value::Object(map) => map.values_mut().for_each(|i| normalise_times(i, tz)),
        _ => {}
    }
}

fn console_time(s: &str, tz: chrono_tz::Tz) -> Option<String> {
    let b = s.as_bytes();
    let shape = b.len() >= 19
        && b[..19].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b' ' || *c == b'T',
            13 | 16 => *c == b':',
            _ => c.is_ascii_digit(),
        })
        && (b.len() == 19
            || (b[19] == b'.' && b.len() > 20 && b[20..].iter().all(u8::is_ascii_digit)));
    if !shape {
        return None;
    }
    let naive =
        NaiveDateTime::parse_from_str(&s.replacen('T', " ", 1), "%Y-%m-%d %H:%M:%S%.f").ok()?;
    // In a DST fold take the earlier instant; a time in a DST gap is left as written (the
    // rules read it in the console's zone, `console.timezone`).
    let local = tz.from_local_datetime(&naive).earliest()?;
    let secs = if naive.and_utc().timestamp_subsec_nanos() == 0 {
        SecondsFormat::Secs
    } else {
        SecondsFormat::AutoSi
    };
    Some(local.to_rfc3339_opts(secs, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_stamps_get_the_console_offset_and_rfc3339_stays() {
        let mut v = json!({
            "start_at": "2026-03-01 08:00:02",
            "nested": [{"end_at": "2026-03-01 08:14:40.250", "deep": {"t": "2026-03-01T08:00:02"}}],
            "rfc": "2026-03-01T00:00:02Z",
            "offset": "2026-03-01T09:00:02+09:00",
            "text": "2026-03-01 08:00:02 was when it broke",
            "date": "2026-03-01",
            "n": 3
        });
        normalise_times(&mut v, chrono_tz::Asia::Shanghai);
        assert_eq!(v["start_at"], "2026-03-01T08:00:02+08:00");
        assert_eq!(v["nested"][0]["end_at"], "2026-03-01T08:14:40.250+08:00");
        assert_eq!(v["nested"][0]["deep"]["t"], "2026-03-01T08:00:02+08:00");
        assert_eq!(v["rfc"], "2026-03-01T00:00:02Z");
        assert_eq!(v["offset"], "2026-03-01T09:00:02+09:00");
        assert_eq!(v["text"], "2026-03-01 08:00:02 was when it broke");
        assert_eq!(v["date"], "2026-03-01");
        let same = chrono::DateTime::parse_from_rfc3339(v["start_at"].as_str().unwrap()).unwrap();
        assert_eq!(same.to_utc().to_rfc3339(), "2026-03-01T00:00:02+00:00");
        // Twice is the same as once.
        let once = v.clone();
        normalise_times(&mut v, chrono_tz::Asia::Shanghai);
        assert_eq!(v, once);
        let mut u = json!("2026-03-01 08:00:02");
        normalise_times(&mut u, chrono_tz::UTC);
        assert_eq!(u, "2026-03-01T08:00:02Z");
        // Daylight saving: the offset of the day.
        let mut d = json!(["2026-01-15 12:00:00", "2026-07-15 12:00:00"]);
        normalise_times(&mut d, chrono_tz::Europe::Berlin);
        assert_eq!(
            d,
            json!(["2026-01-15T12:00:00+01:00", "2026-07-15T12:00:00+02:00"])
        );
    }

    #[test]
    fn a_refusal_says_when_and_until_when_in_the_console_zone() {
        let now = Utc::now();
        let e = ConsoleError::LoginRefused {
            username: "ops".into(),
            at: now,
            until: now + chrono::Duration::minutes(15),
            zone: chrono_tz::Asia::Shanghai,
            reason: "console error 10010001: invalid credentials".into(),
        };
        let local = |t: DateTime<Utc>| {
            let l = t.with_timezone(&chrono_tz::Asia::Shanghai);
            if l.date_naive() == now.with_timezone(&chrono_tz::Asia::Shanghai).date_naive() {
                l.format("%H:%M CST").to_string()
            } else {
                l.format("%Y-%m-%d %H:%M CST").to_string()
            }
        };
        assert_eq!(
            e.to_string(),
            format!(
                "POST /api/v2/loginNoImageCaptcha: login as ops refused at {}; not retrying before {} so the account is not locked — console error 10010001: invalid credentials",
                local(now),
                local(now + chrono::Duration::minutes(15))
            )
        );
        assert!(e.is_login_refused());
    }

    #[test]
    fn envelopes_unwrap_or_name_the_error() {
        let raw = |status: u16, body: &str| Raw {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: body.as_bytes().to_vec(),
        };
        for code in [r#""""#, r#""00000000""#, r#""200""#, "200"] {
            let body = format!(r#"{{"code":{code},"data":{{"a":1}}}}"#);
            assert_eq!(
                unwrap_envelope("GET", "/x", raw(200, &body)).unwrap(),
                json!({"a": 1})
            );
        }
        let e = unwrap_envelope(
            "GET",
            "/api/v2/getHosts",
            raw(
                200,
                r#"{"code":"10010001","error":"boom","title":"","trace_id":"t-9"}"#,
            ),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "GET /api/v2/getHosts: console error 10010001: boom (trace_id t-9)"
        );
        let e = unwrap_envelope("GET", "/api/v2/om/tunnels", raw(404, "")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "GET /api/v2/om/tunnels: not available on this console (HTTP 404)"
        );
        let e =
            unwrap_envelope("GET", "/x", raw(503, r#"{"faultstring":"maintenance"}"#)).unwrap_err();
        assert_eq!(e.to_string(), "GET /x: HTTP 503: maintenance");
    }

    #[test]
    fn list_pages_are_recognised() {
        assert_eq!(
            list_shape(&json!({"total": 3, "hosts": []})),
            Some((3, "hosts".to_string()))
        );
        assert_eq!(list_shape(&json!({"steps": []})), None);
        assert_eq!(list_shape(&json!({"total": 3, "a": [], "b": []})), None);
    }

    #[test]
    fn jwt_expiry_is_read() {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let t = format!("{}.{}.sig", b.encode("{}"), b.encode(r#"{"exp":1000}"#));
        assert_eq!(jwt_exp(&t), Some(1000));
        assert!(!usable(&t));
        assert!(usable("opaque-token"));
    }

    #[test]
    fn debug_output_hides_the_password() {
        let c = Connection::new("http://x", "ops", "hunter2-secret");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
