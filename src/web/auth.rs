//! The bearer token that changes need.

use crate::config::WebConfig;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Why a change was refused; its response is 403 or 401 with a JSON error.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Denied(StatusCode, &'static str);

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let mut r = error(self.0, self.1);
        if self.0 == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"patrol\""),
            );
        }
        r
    }
}

/// Ok when the request carries the configured token; else why not (403 when no token is
/// configured, 401 when it is missing or wrong).
pub(crate) fn require_token(cfg: &WebConfig, headers: &HeaderMap) -> Result<(), Denied> {
    let Some(token) = cfg
        .token
        .as_ref()
        .map(|t| t.value())
        .filter(|t| !t.is_empty())
    else {
        return Err(Denied(
            StatusCode::FORBIDDEN,
            "changes are disabled: set web.token in patrol.yaml",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    match given {
        Some(g) if same(g.as_bytes(), token.as_bytes()) => Ok(()),
        Some(_) => Err(Denied(StatusCode::UNAUTHORIZED, "wrong token")),
        None => Err(Denied(
            StatusCode::UNAUTHORIZED,
            "this needs Authorization: Bearer TOKEN (web.token)",
        )),
    }
}

/// A JSON error body `{"error": msg}`.
pub(crate) fn error(status: StatusCode, msg: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": msg }))).into_response()
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
