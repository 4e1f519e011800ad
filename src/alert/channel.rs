//! The interface between the outbox and a delivery channel (one file per channel).

use super::event::AlertEvent;
use futures::future::BoxFuture;
use std::time::Duration;

/// How a delivery attempt failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeliveryError {
    /// Worth retrying later (connection refused, timeout, SMTP 4xx, HTTP 5xx/429).
    #[error("transient failure: {message}")]
    Transient {
        message: String,
        /// The receiver's own wish (HTTP Retry-After).
        retry_after: Option<Duration>,
    },
    /// Will fail again (SMTP 5xx, HTTP 4xx, bad configuration).
    #[error("permanent failure: {message}")]
    Permanent { message: String },
}

/// What the receiver answered to a successful delivery (shown by `patrol alert test`).
#[derive(Debug, Clone, PartialEq)]
pub struct Receipt {
    pub response: String,
}

/// A named destination. A delivery carries one or more events produced within the grouping
/// window; a channel sends them as ONE message.
pub trait Channel: Send + Sync {
    fn name(&self) -> &str;
    fn send<'a>(
        &'a self,
        events: &'a [AlertEvent],
    ) -> BoxFuture<'a, Result<Receipt, DeliveryError>>;
}
