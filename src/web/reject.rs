//! Extractors whose every rejection is a JSON `{"error": …, "field": …}` naming what was
//! wrong — a query parameter, a path segment, a body field — instead of axum's plain-text
//! "Failed to deserialize query string…". The handlers use these in place of axum's own
//! `Query`, `Path`, `Json` and `Bytes`; the router's fallbacks answer unknown routes and
//! methods the same way.

use super::auth::error;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

/// A JSON error that names the field it is about.
fn field_error(status: StatusCode, field: &str, msg: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({ "error": msg, "field": field })),
    )
        .into_response()
}

/// The field an error is about: serde_path_to_error's path, or for a missing field (whose
/// path is its parent) the field named in the message; `top` for the whole input.
fn field_name(path: &serde_path_to_error::Path, message: &str, top: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split_once('`'))
        .map(|(name, _)| name.to_string());
    let parent = match path.to_string() {
        // `.`: the top level; `?`: a syntax error, before any field.
        p if p == "." || p == "?" || p.is_empty() => None,
        p => Some(p),
    };
    match (parent, missing) {
        (Some(p), Some(m)) => format!("{p}.{m}"),
        (None, Some(m)) => m,
        (Some(p), None) => p,
        (None, None) => top.to_string(),
    }
}

/// The query string, parsed into `T`.
pub(crate) struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Response> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize(de)
            .map(Query)
            .map_err(|e| {
                let field = field_name(e.path(), &e.inner().to_string(), "query");
                field_error(
                    StatusCode::BAD_REQUEST,
                    &field,
                    &format!("query parameter `{field}`: {}", e.inner()),
                )
            })
    }
}

/// The path parameters, parsed into `T`.
pub(crate) struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        let rejection = match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => return Ok(Path(v)),
            Err(r) => r,
        };
        let PathRejection::FailedToDeserializePathParams(e) = rejection else {
            return Err(error(rejection.status(), &rejection.body_text()));
        };
        // The one parameter of the route, when the error does not name it.
        let only = axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .ok()
            .and_then(|p| {
                let keys: Vec<String> = p.iter().map(|(k, _)| k.to_string()).collect();
                (keys.len() == 1).then(|| keys[0].clone())
            })
            .unwrap_or_else(|| "path".to_string());
        let (field, msg) = match e.into_kind() {
            ErrorKind::ParseErrorAtKey {
                key,
                value,
                expected_type,
            } => (key, not_a(&value, expected_type)),
            ErrorKind::ParseError {
                value,
                expected_type,
            }
            | ErrorKind::ParseErrorAtIndex {
                value,
                expected_type,
                ..
            } => (only, not_a(&value, expected_type)),
            ErrorKind::InvalidUtf8InPathParam { key } => (key, "is not UTF-8".to_string()),
            ErrorKind::DeserializeError { key, message, .. } => (key, message),
            other => (only, format!("{other}")),
        };
        Err(field_error(
            StatusCode::BAD_REQUEST,
            &field,
            &format!("path parameter `{field}` {msg}"),
        ))
    }
}

/// "`../1` is not an integer".
fn not_a(value: &str, expected_type: &str) -> String {
    let what = match expected_type {
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" | "u8" | "u16" | "u32" | "u64" | "u128"
        | "usize" => "an integer".to_string(),
        "f32" | "f64" => "a number".to_string(),
        "bool" => "true or false".to_string(),
        other => format!("a {other}"),
    };
    format!("`{value}` is not {what}")
}

/// The request body, read whole (up to the router's body limit).
pub(crate) struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| match e.status() {
                StatusCode::PAYLOAD_TOO_LARGE => field_error(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body",
                    &format!(
                        "the request body is larger than {} bytes",
                        super::MAX_BODY_BYTES
                    ),
                ),
                status => field_error(status, "body", &format!("body: {}", e.body_text())),
            })
    }
}

/// The body, parsed as JSON into `T` (whatever the Content-Type says).
pub(crate) struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        let Body(bytes) = Body::from_request(req, state).await?;
        let mut de = serde_json::Deserializer::from_slice(&bytes);
        let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let field = field_name(e.path(), &e.inner().to_string(), "body");
            let msg = if field == "body" {
                format!("body: {}", e.inner())
            } else {
                format!("body field `{field}`: {}", e.inner())
            };
            field_error(StatusCode::BAD_REQUEST, &field, &msg)
        })?;
        de.end().map_err(|e| {
            field_error(
                StatusCode::BAD_REQUEST,
                "body",
                &format!("body: {e} (one JSON document expected)"),
            )
        })?;
        Ok(Json(value))
    }
}

/// No route has this path.
pub(crate) async fn not_found(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        &format!("no such page or API route: {method} {}", uri.path()),
    )
}

/// The route exists, the method does not.
pub(crate) async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        &format!("{method} is not allowed on {}", uri.path()),
    )
}
