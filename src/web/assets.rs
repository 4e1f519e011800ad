//! Everything the pages load, embedded in the binary (the daemon often runs without internet).

use axum::http::header;
use axum::response::IntoResponse;

pub(crate) const STYLE: &str = include_str!("assets/style.css");
pub(crate) const FAVICON: &str = include_str!("assets/favicon.svg");
pub(crate) const BASE_HTML: &str = include_str!("assets/base.html");
pub(crate) const STATUS_HTML: &str = include_str!("assets/status.html");
pub(crate) const CHECK_HTML: &str = include_str!("assets/check.html");

pub(crate) async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        STYLE,
    )
}

pub(crate) async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        FAVICON,
    )
}
