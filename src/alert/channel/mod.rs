//! The delivery channels, one folder each (`email/`, `webhook/`): the interface between the
//! outbox and a channel, and the building of the configured channels (once per configuration
//! load), so that a bad channel is a `patrol validate` problem and not a surprise at the first
//! alert. What a message says comes from [`crate::alert::present`]; a channel only lays it out.

pub mod email;
pub mod webhook;

use crate::alert::event::AlertEvent;
use crate::config::{ChannelConfig, Config, Diagnostic};
use email::{ChannelDefaults, EmailChannel};
use futures::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use webhook::WebhookChannel;

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

/// Every channel that could be built, and a problem for each that could not.
pub fn build_channels(config: &Config) -> (HashMap<String, Arc<dyn Channel>>, Vec<Diagnostic>) {
    let defaults = ChannelDefaults {
        base_dir: config.base_dir.clone(),
        timezone: config.root.timezone,
        status_page_url: config.root.status_page_url.clone(),
    };
    let text =
        crate::config::files::read_text(&config.path, crate::config::files::MAX_CONFIG_FILE_BYTES)
            .unwrap_or_default();
    let mut channels: HashMap<String, Arc<dyn Channel>> = HashMap::new();
    let mut problems = Vec::new();
    for (name, cfg) in &config.root.channels {
        let built: Result<Arc<dyn Channel>, String> = match cfg {
            // Anything a channel quotes from its receiver is masked with every secret.
            ChannelConfig::Email(c) => EmailChannel::new(name, c, &defaults)
                .map(|c| Arc::new(c.masking(&config.redactor)) as Arc<dyn Channel>)
                .map_err(|e| e.to_string()),
            ChannelConfig::Webhook(c) => WebhookChannel::new_in(name, c, &config.base_dir)
                .map(|c| Arc::new(c.masking(&config.redactor)) as Arc<dyn Channel>)
                .map_err(|e| e.to_string()),
        };
        match built {
            Ok(c) => {
                channels.insert(name.clone(), c);
            }
            Err(msg) => {
                // The channel's own key in patrol.yaml.
                let line = text
                    .lines()
                    .position(|l| l.trim_start().starts_with(&format!("{name}:")))
                    .map(|i| i + 1)
                    .unwrap_or(1);
                problems.push(Diagnostic::new(&config.path, line, 1, msg));
            }
        }
    }
    (channels, problems)
}
