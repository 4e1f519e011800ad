//! The connection to an S3-compatible object store shared by the `s3_credentials` and
//! `sample_restore` probes: the `s3:` block of a check file, request signing (AWS Signature V4
//! presigned URLs from the `rusty-s3` crate, sent with reqwest) and the classification of
//! what came back (a valid key, an invalid key, a missing bucket, an unreachable endpoint...).

use crate::config::{Dur, Text};
use crate::error_text::{error_chain, root_cause};
use crate::tls::{TlsOptions, ensure_crypto_provider};
use rusty_s3::actions::{GetObject, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::Path;
use std::time::Duration;

/// How to reach and sign requests for one bucket of an S3-compatible object store (AWS S3,
/// MinIO, Ceph RGW, the object storage of the DR cloud...).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Connection {
    /// Endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com` or `http://minio.internal:9000`.
    pub endpoint: Text,
    /// Region the requests are signed for. Default: `us-east-1` (what most S3-compatible
    /// stores expect).
    #[serde(default = "default_region")]
    pub region: Text,
    /// Bucket name.
    pub bucket: Text,
    /// Key prefix inside the bucket (e.g. `hyperbdr/daily/`). The credential check lists under
    /// it (a key may only be allowed a prefix); a sample restore reads the manifest and the
    /// items under it. Default: none (the whole bucket).
    #[serde(default)]
    pub prefix: Option<Text>,
    /// Access key id. Not a secret by itself, but keep it in `${var:...}` or `${secret:...}`.
    pub access_key: Text,
    /// Secret access key. Use `${secret:NAME}`: it is never stored, logged or printed.
    pub secret_key: Text,
    /// Session token of temporary (STS) credentials. Use `${secret:NAME}`.
    #[serde(default)]
    pub session_token: Option<Text>,
    /// Path-style URLs (`ENDPOINT/BUCKET/KEY`) instead of virtual-host style
    /// (`BUCKET.ENDPOINT/KEY`). Default: true, which MinIO, Ceph and most private stores need
    /// and AWS still accepts; set false for stores that only serve virtual-host style.
    #[serde(default = "yes")]
    pub path_style: bool,
    /// Verify the server's certificate. Default: true. `false` is DANGEROUS: the key is then
    /// sent (signed, not in clear) to whoever answers.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// A PEM file of CA certificates to trust INSTEAD OF the system's CA store (a private
    /// CA). A relative path resolves against the folder of `patrol.yaml`.
    #[serde(default)]
    pub ca_file: Option<Text>,
    /// Give up one request (connect, TLS, response and body) after this long. Default and
    /// maximum: just under the check's timeout. 10ms to 24h.
    #[serde(default, deserialize_with = "crate::config::bounds::probe_timeout_opt")]
    pub timeout: Option<Dur>,
}

fn default_region() -> Text {
    Text::literal("us-east-1")
}

fn yes() -> bool {
    true
}

/// How long a presigned URL stays valid: only for the request made right away.
const SIGNATURE_TTL: Duration = Duration::from_secs(300);

/// A client that cannot be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum S3SetupError {
    /// A malformed endpoint or bucket, or an unusable `ca_file`.
    #[error("{0}")]
    Config(String),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

impl From<crate::tls::TlsError> for S3SetupError {
    fn from(e: crate::tls::TlsError) -> S3SetupError {
        S3SetupError::Config(e.to_string())
    }
}

/// A ready-to-use client for one [`S3Connection`].
pub struct S3Client {
    bucket: Bucket,
    credentials: Credentials,
    prefix: String,
    http: reqwest::Client,
    /// The per-request deadline (already capped by the check's timeout).
    pub limit: Duration,
}

/// Why a request got no usable answer.
#[derive(Debug, Clone, PartialEq)]
pub enum S3Failure {
    /// No HTTP answer: DNS, refused connection, timeout, or a TLS failure (`tls: true`).
    Transport { tls: bool, detail: String },
    /// The store answered with an error status.
    Http(S3ErrorReply),
}

/// An S3 error response: status plus the `<Error>` document's fields when there is one.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct S3ErrorReply {
    pub status: u16,
    /// `<Code>` (`InvalidAccessKeyId`, `NoSuchKey`...), empty when the body had none.
    pub code: String,
    /// `<Message>`.
    pub message: String,
    /// `<RequestId>` or the `x-amz-request-id` header.
    pub request_id: String,
}

impl S3ErrorReply {
    /// `NoSuchKey (HTTP 404): The specified key does not exist.`
    pub fn describe(&self) -> String {
        let mut s = if self.code.is_empty() {
            format!("HTTP {}", self.status)
        } else {
            format!("{} (HTTP {})", self.code, self.status)
        };
        if !self.message.is_empty() {
            s.push_str(": ");
            s.push_str(&self.message);
        }
        s
    }

    /// The object (or bucket) is not there.
    pub fn is_not_found(&self) -> bool {
        self.status == 404 || matches!(self.code.as_str(), "NoSuchKey" | "NoSuchBucket")
    }
}

impl S3Failure {
    pub fn describe(&self) -> String {
        match self {
            S3Failure::Transport { detail, .. } => detail.clone(),
            S3Failure::Http(r) => r.describe(),
        }
    }
}

/// The result of checking credentials, as the `s3_credentials` probe reports it.
pub fn classify(failure: Option<&S3Failure>) -> &'static str {
    let reply = match failure {
        None => return "valid",
        Some(S3Failure::Transport { tls: true, .. }) => return "tls_error",
        Some(S3Failure::Transport { tls: false, .. }) => return "unreachable",
        Some(S3Failure::Http(r)) => r,
    };
    match reply.code.as_str() {
        // NotSignedUp: what s3s (and AWS, for an account without S3) answers for a key id
        // it does not know.
        "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "InvalidClientTokenId"
        | "UnrecognizedClientException"
        | "InvalidSecurity"
        | "NotSignedUp" => "invalid_key",
        "ExpiredToken" | "InvalidToken" | "TokenRefreshRequired" => "expired_token",
        "AccessDenied" | "AllAccessDisabled" | "AccountProblem" => "access_denied",
        "NoSuchBucket" => "no_such_bucket",
        "PermanentRedirect"
        | "AuthorizationHeaderMalformed"
        | "IllegalLocationConstraintException" => "wrong_region",
        "RequestTimeTooSkewed" => "clock_skew",
        _ => match reply.status {
            301 | 307 => "wrong_region",
            401 => "invalid_key",
            403 => "access_denied",
            404 => "no_such_bucket",
            _ => "error",
        },
    }
}

impl S3Client {
    /// Builds the client; `limit` is the per-request deadline (the probe caps the
    /// connection's `timeout` by the check's). A malformed endpoint or an unreadable
    /// `ca_file` is a configuration error.
    pub fn new(
        conn: &S3Connection,
        base_dir: &Path,
        limit: Duration,
    ) -> Result<S3Client, S3SetupError> {
        ensure_crypto_provider();
        let endpoint = reqwest::Url::parse(conn.endpoint.value()).map_err(|e| {
            S3SetupError::Config(format!(
                "invalid endpoint {:?}: {e}",
                conn.endpoint.display()
            ))
        })?;
        let style = if conn.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            conn.bucket.value().to_string(),
            conn.region.value().to_string(),
        )
        .map_err(|e| {
            S3SetupError::Config(format!(
                "endpoint {:?} with bucket {:?}: {e}",
                conn.endpoint.display(),
                conn.bucket.display()
            ))
        })?;
        let credentials = match &conn.session_token {
            Some(token) => Credentials::new_with_token(
                conn.access_key.value(),
                conn.secret_key.value(),
                token.value(),
            ),
            None => Credentials::new(conn.access_key.value(), conn.secret_key.value()),
        };
        let tls = TlsOptions::from_config(conn.tls_verify, conn.ca_file.as_ref(), base_dir)
            .client_config(&[b"http/1.1"])?;
        let http = reqwest::Client::builder()
            .timeout(limit)
            // A redirect from S3 means "wrong region or endpoint": report it, do not follow.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("patrol/", env!("CARGO_PKG_VERSION")))
            .tls_backend_preconfigured(tls.config)
            .build()
            .map_err(|e| S3SetupError::Client(e.to_string()))?;
        let prefix = conn
            .prefix
            .as_ref()
            .map(|p| p.value().to_string())
            .unwrap_or_default();
        Ok(S3Client {
            bucket,
            credentials,
            prefix,
            http,
            limit,
        })
    }

    /// The configured key prefix (may be empty).
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `ListObjectsV2` of at most one key under the prefix: the cheapest signed request that
    /// proves the key, the bucket and the list permission. Returns the HTTP status.
    pub async fn list_one(&self) -> Result<u16, S3Failure> {
        let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
        action.with_max_keys(1);
        if !self.prefix.is_empty() {
            action.with_prefix(self.prefix.as_str());
        }
        let url = action.sign(SIGNATURE_TTL);
        let resp = self.send(url).await?;
        Ok(resp.status().as_u16())
    }

    /// `GetObject` of `key` (the full key: the prefix is NOT added). On success the response's
    /// body is the object.
    pub async fn get_object(&self, key: &str) -> Result<reqwest::Response, S3Failure> {
        let action = GetObject::new(&self.bucket, Some(&self.credentials), key);
        self.send(action.sign(SIGNATURE_TTL)).await
    }

    /// Sends a signed GET; any status outside 2xx becomes [`S3Failure::Http`].
    async fn send(&self, url: reqwest::Url) -> Result<reqwest::Response, S3Failure> {
        let resp = match self.http.get(url).send().await {
            Ok(r) => r,
            Err(e) => return Err(transport_failure(e, self.limit)),
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status().as_u16();
        let header_id = resp
            .headers()
            .get("x-amz-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        // Error documents are small; a huge body is not one.
        let body = match resp.bytes().await {
            Ok(b) if b.len() <= 64 * 1024 => String::from_utf8_lossy(&b).into_owned(),
            _ => String::new(),
        };
        let mut reply = parse_error(status, &body);
        if reply.request_id.is_empty() {
            reply.request_id = header_id;
        }
        Err(S3Failure::Http(reply))
    }
}

/// Turns a reqwest error (no response) into a transport failure, telling TLS problems apart.
pub fn transport_failure(e: reqwest::Error, limit: Duration) -> S3Failure {
    let tls = is_tls_error(&e);
    let detail = if e.is_timeout() {
        format!("timed out after {}", Dur(limit))
    } else if e.is_connect() {
        let cause = root_cause(&e);
        if tls {
            format!("TLS handshake failed: {cause}")
        } else {
            format!("cannot connect: {cause}")
        }
    } else {
        // Without the URL: a presigned URL carries the signature.
        error_chain(&e.without_url())
    };
    S3Failure::Transport { tls, detail }
}

/// True when a rustls error is somewhere in the chain (a handshake or certificate failure).
fn is_tls_error(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        // io::Error hides its inner error from `source()`: look at it directly.
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && let Some(inner) = io.get_ref()
            && (inner.downcast_ref::<rustls::Error>().is_some() || is_tls_error(inner))
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Reads `<Code>`, `<Message>` and `<RequestId>` from an S3 `<Error>` document.
pub fn parse_error(status: u16, body: &str) -> S3ErrorReply {
    S3ErrorReply {
        status,
        code: xml_text(body, "Code"),
        message: xml_text(body, "Message"),
        request_id: xml_text(body, "RequestId"),
    }
}

/// The text of the first `<tag>...</tag>` element, entities decoded; empty when absent.
fn xml_text(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let Some(start) = body.find(&open).map(|i| i + open.len()) else {
        return String::new();
    };
    let Some(len) = body[start..].find(&close) else {
        return String::new();
    };
    body[start..start + len]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
        .trim()
        .to_string()
}

/// Refuses object keys that a URL cannot carry safely (`.`/`..` segments are resolved by
/// URL parsing and would address another object, or another bucket).
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err("empty object key".into());
    }
    if key.split('/').any(|seg| seg == "." || seg == "..") {
        return Err(format!("object key {key:?} has a '.' or '..' segment"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, code: &str) -> S3Failure {
        S3Failure::Http(S3ErrorReply {
            status,
            code: code.into(),
            ..Default::default()
        })
    }

    #[test]
    fn error_documents_are_read() {
        let body = r#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match &amp; so on</Message><RequestId>4442587FB7D0A2F9</RequestId></Error>"#;
        let r = parse_error(403, body);
        assert_eq!(r.code, "SignatureDoesNotMatch");
        assert_eq!(
            r.message,
            "The request signature we calculated does not match & so on"
        );
        assert_eq!(r.request_id, "4442587FB7D0A2F9");
        assert_eq!(
            r.describe(),
            "SignatureDoesNotMatch (HTTP 403): The request signature we calculated does not match & so on"
        );
        assert_eq!(parse_error(500, "").describe(), "HTTP 500");
    }

    #[test]
    fn results_are_classified() {
        assert_eq!(classify(None), "valid");
        assert_eq!(
            classify(Some(&reply(403, "InvalidAccessKeyId"))),
            "invalid_key"
        );
        assert_eq!(
            classify(Some(&reply(403, "SignatureDoesNotMatch"))),
            "invalid_key"
        );
        assert_eq!(classify(Some(&reply(403, "NotSignedUp"))), "invalid_key");
        assert_eq!(classify(Some(&reply(403, "AccessDenied"))), "access_denied");
        assert_eq!(
            classify(Some(&reply(404, "NoSuchBucket"))),
            "no_such_bucket"
        );
        assert_eq!(classify(Some(&reply(400, "ExpiredToken"))), "expired_token");
        assert_eq!(
            classify(Some(&reply(403, "RequestTimeTooSkewed"))),
            "clock_skew"
        );
        assert_eq!(classify(Some(&reply(301, ""))), "wrong_region");
        assert_eq!(classify(Some(&reply(503, "SlowDown"))), "error");
        let t = |tls| S3Failure::Transport {
            tls,
            detail: String::new(),
        };
        assert_eq!(classify(Some(&t(false))), "unreachable");
        assert_eq!(classify(Some(&t(true))), "tls_error");
    }

    #[test]
    fn unsafe_keys_are_refused() {
        assert!(check_key("a/b.bin").is_ok());
        assert!(check_key("a/../b").is_err());
        assert!(check_key("./b").is_err());
        assert!(check_key("").is_err());
    }
}
