//! Builds the configured channels (once per configuration load), so that a bad channel is a
//! `patrol validate` problem and not a surprise at the first alert.

use super::channel::Channel;
use super::email::{ChannelDefaults, EmailChannel};
use super::webhook::WebhookChannel;
use crate::config::{ChannelConfig, Config, Diagnostic};
use std::collections::HashMap;
use std::sync::Arc;

/// Every channel that could be built, and a problem for each that could not.
pub fn build_channels(config: &Config) -> (HashMap<String, Arc<dyn Channel>>, Vec<Diagnostic>) {
    let defaults = ChannelDefaults {
        base_dir: config.base_dir.clone(),
        timezone: config.root.timezone,
        status_page_url: config.root.status_page_url.clone(),
    };
    let text = std::fs::read_to_string(&config.path).unwrap_or_default();
    let mut channels: HashMap<String, Arc<dyn Channel>> = HashMap::new();
    let mut problems = Vec::new();
    for (name, cfg) in &config.root.channels {
        let built: Result<Arc<dyn Channel>, String> = match cfg {
            ChannelConfig::Email(c) => EmailChannel::new(name, c, &defaults)
                .map(|c| Arc::new(c) as Arc<dyn Channel>)
                .map_err(|e| e.to_string()),
            ChannelConfig::Webhook(c) => WebhookChannel::new_in(name, c, &config.base_dir)
                .map(|c| Arc::new(c) as Arc<dyn Channel>)
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
