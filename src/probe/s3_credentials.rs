//! `s3_credentials` probe: a live check of an access key against an S3-compatible object
//! store (AWS S3, MinIO, Ceph RGW, the DR cloud's object storage). It sends one signed
//! `ListObjectsV2` request for at most one key (under `prefix` when set) and tells a valid key
//! from an invalid one, a key without permission, a missing bucket and an endpoint that cannot
//! be reached. Requests are signed with AWS Signature V4; the secret key never leaves patrol
//! and never appears in the observation, errors or logs.
//!
//! ```yaml
//! probe:
//!   s3_credentials:
//!     endpoint: ${var:s3_endpoint}          # https://s3.eu-west-1.amazonaws.com, http://minio:9000
//!     region: ${var:s3_region}              # default us-east-1
//!     bucket: ${var:s3_bucket}
//!     access_key: ${var:s3_access_key}
//!     secret_key: ${secret:s3_secret_key}
//!     path_style: true                      # default; false for virtual-host style
//! ```
//!
//! The connection (the same fields as the `s3:` of a `sample_restore` probe):
//!
//! | field | meaning |
//! |---|---|
//! | `endpoint` (required) | `http(s)://host[:port]` of the store |
//! | `bucket` (required) | the bucket |
//! | `access_key`, `secret_key` (required) | the key; put the secret in `${secret:NAME}` |
//! | `region` | signing region; default `us-east-1` |
//! | `prefix` | list (or, for `sample_restore`, read) under this key prefix only |
//! | `session_token` | for temporary (STS) credentials |
//! | `path_style` | `ENDPOINT/BUCKET/KEY` URLs (default true); false: `BUCKET.ENDPOINT/KEY` |
//! | `tls_verify`, `ca_file` | certificate checking, as for the `http` probe |
//! | `timeout` | per request; default just under the check's timeout |
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `endpoint` | string | the endpoint as configured |
//! | `bucket` | string | the bucket |
//! | `region` | string | the signing region |
//! | `prefix` | string | the prefix listed (empty: the whole bucket) |
//! | `access_key` | string | the access key id, all but its last 4 characters masked (`****WXYZ`) |
//! | `result` | string | `valid`, `invalid_key` (unknown key id or wrong secret), `expired_token`, `access_denied` (the key works but may not list), `no_such_bucket`, `wrong_region`, `clock_skew` (patrol's clock is off), `unreachable` (DNS, refused, timeout), `tls_error`, or `error` (any other answer) |
//! | `http_status` | int or null | HTTP status of the answer; null when there was none |
//! | `code` | string or null | the S3 error code (`InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`...) |
//! | `detail` | string | what happened, in words (the S3 error message, or the connection error) |
//! | `request_id` | string or null | the store's request id, for its support |
//! | `latency_ms` | float | time from sending the request to the answer (or the failure) |
//!
//! Default verdict: OK when `result` is `valid`, else CRITICAL naming the result and the
//! detail. Metrics: `latency_ms`, `valid` (1 or 0).

use super::{Probe, ProbeContext, ProbeError, ProbeOutput, io_deadline, millis};
use crate::config::{Dur, Text};
use crate::s3::{S3Client, S3Connection, S3Failure, classify};
use crate::status::Verdict;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;
use std::time::Instant;

/// Configuration of the `s3_credentials` probe: the connection to the bucket.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(transparent)]
pub struct S3CredentialsProbe(pub S3Connection);

impl Probe for S3CredentialsProbe {
    fn kind(&self) -> &'static str {
        "s3_credentials"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            let limit = io_deadline(self.0.timeout.map(Dur::as_duration), ctx.timeout);
            let client = S3Client::new(&self.0, ctx.base_dir, limit)?;
            let started = Instant::now();
            let outcome = client.list_one().await;
            let elapsed = started.elapsed();
            Ok(self.output(outcome, millis(elapsed)))
        })
    }
}

/// The access key id with all but its last 4 characters masked.
pub fn masked_key(key: &Text) -> String {
    if key.is_secret() {
        return key.display().to_string();
    }
    let chars: Vec<char> = key.value().chars().collect();
    let shown = chars.len().saturating_sub(4);
    let tail: String = chars[shown..].iter().collect();
    format!("{}{tail}", "*".repeat(shown.min(16)))
}

impl S3CredentialsProbe {
    fn output(&self, outcome: Result<u16, S3Failure>, latency_ms: f64) -> ProbeOutput {
        let conn = &self.0;
        let failure = outcome.as_ref().err();
        let result = classify(failure);
        let (http_status, code, detail, request_id) = match &outcome {
            Ok(status) => (
                Some(*status),
                None,
                format!("listing the bucket succeeded (HTTP {status})"),
                None,
            ),
            Err(S3Failure::Transport { detail, .. }) => (None, None, detail.clone(), None),
            Err(S3Failure::Http(r)) => (
                Some(r.status),
                Some(r.code.clone()).filter(|c| !c.is_empty()),
                r.describe(),
                Some(r.request_id.clone()).filter(|c| !c.is_empty()),
            ),
        };
        let prefix = conn
            .prefix
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let observation = json!({
            "endpoint": conn.endpoint.display(),
            "bucket": conn.bucket.display(),
            "region": conn.region.display(),
            "prefix": prefix,
            "access_key": masked_key(&conn.access_key),
            "result": result,
            "http_status": http_status,
            "code": code,
            "detail": detail,
            "request_id": request_id,
            "latency_ms": latency_ms,
        });
        let target = format!(
            "bucket {} at {}",
            conn.bucket.display(),
            conn.endpoint.display()
        );
        let verdict = if result == "valid" {
            Verdict::ok(format!(
                "key {} is valid for {target} ({latency_ms:.1} ms)",
                masked_key(&conn.access_key)
            ))
        } else {
            Verdict::critical(format!("{result}: {target}: {detail}"))
        };
        let verdict = verdict
            .with_metric("latency_ms", latency_ms)
            .with_metric("valid", if result == "valid" { 1.0 } else { 0.0 });
        ProbeOutput {
            observation,
            verdict,
            state: None,
        }
    }
}
