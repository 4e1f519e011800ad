//! The `email` channel: multipart text + HTML mail through SMTP (lettre) (being written).

use crate::config::{Dur, Text};
use schemars::JsonSchema;
use serde::Deserialize;

/// SMTP delivery.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// SMTP server host name.
    pub host: Text,
    /// SMTP port. Default: 587 (starttls), 465 (implicit), 25 (none).
    pub port: Option<u16>,
    /// `implicit`, `starttls` (default) or `none`.
    #[serde(default)]
    pub tls: EmailTls,
    /// SMTP user name.
    pub username: Option<Text>,
    /// SMTP password (use `${secret:...}`).
    pub password: Option<Text>,
    /// Sender address.
    pub from: Text,
    /// Recipients.
    pub to: Vec<Text>,
    /// Copy recipients.
    #[serde(default)]
    pub cc: Vec<Text>,
    /// Give up one delivery attempt after this long. Default: 30s.
    pub timeout: Option<Dur>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum EmailTls {
    /// TLS from the first byte (port 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// No TLS (only for a relay on localhost).
    None,
}
