//! The `webhook` channel: JSON POSTed to a URL, signed per Standard Webhooks (being written).

use crate::config::{Dur, Text};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

/// HTTP delivery.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Receiver URL.
    pub url: Text,
    /// Standard Webhooks signing secret (`whsec_...`; use `${secret:...}`).
    pub secret: Option<Text>,
    /// Payload format: patrol (default), slack, teams, dingtalk, wecom, feishu, alertmanager.
    pub format: Option<String>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, Text>,
    /// Give up one delivery attempt after this long. Default: 10s.
    pub timeout: Option<Dur>,
}
