//! The serde model of `patrol.yaml` and of check files. Doc comments here become the JSON
//! Schema (`patrol schema`) and the README reference.

use super::schedule_expr::ScheduleExpr;
use super::types::{Dur, Json, Misfire, Zone};
use crate::probe::ProbeSpec;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// The root configuration, `patrol.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RootConfig {
    /// Where results are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// Time zone of checks that do not name one (IANA name). Default: UTC.
    #[serde(default)]
    pub timezone: Zone,
    /// How many checks may run at the same time. Default: 8.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Check files and folders (read recursively, `*.yaml`/`*.yml`), relative to this file.
    /// Default: `[checks]`.
    #[serde(default = "default_checks")]
    pub checks: Vec<PathBuf>,
    /// Folders holding rules (`NAME.rhai`), relative to this file. Default: `[rules]`.
    #[serde(default = "default_rules")]
    pub rules: Vec<PathBuf>,
    /// Named values for `${var:name}`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Named secrets for `${secret:name}`. Their values are never stored, logged or printed.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    /// Rule engine limits.
    #[serde(default)]
    pub rule_limits: RuleLimits,
    /// How many recent results of a check its rule sees as `history`. Default: 50.
    #[serde(default = "default_history")]
    pub history: usize,
    /// How long `patrol daemon` waits for running checks on SIGTERM before it exits.
    /// Default: 30s.
    #[serde(default = "default_grace")]
    pub shutdown_grace: Dur,
    /// Default alerting policy of every check (used by the alerting layer).
    #[serde(default)]
    pub alerting: AlertingPolicy,
    /// Named notification channels that checks and routes refer to.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
}

impl Default for RootConfig {
    fn default() -> Self {
        RootConfig {
            store: StoreConfig::default(),
            timezone: Zone::default(),
            concurrency: default_concurrency(),
            checks: default_checks(),
            rules: default_rules(),
            vars: BTreeMap::new(),
            secrets: BTreeMap::new(),
            rule_limits: RuleLimits::default(),
            history: default_history(),
            shutdown_grace: default_grace(),
            alerting: AlertingPolicy::default(),
            channels: BTreeMap::new(),
        }
    }
}

fn default_concurrency() -> usize {
    8
}
fn default_checks() -> Vec<PathBuf> {
    vec![PathBuf::from("checks")]
}
fn default_rules() -> Vec<PathBuf> {
    vec![PathBuf::from("rules")]
}
fn default_history() -> usize {
    50
}
fn default_grace() -> Dur {
    Dur::secs(30)
}

/// The SQLite store.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// SQLite file, relative to `patrol.yaml`. Default: `patrol.db`.
    #[serde(default = "default_store_path")]
    pub path: PathBuf,
    /// Delete runs older than this. Default: 90d.
    #[serde(default = "default_max_age")]
    pub max_age: Dur,
    /// Keep at most this many runs per check. Default: 10000.
    #[serde(default = "default_max_runs")]
    pub max_runs_per_check: u32,
    /// Observations larger than this (JSON bytes) are stored truncated. Default: 65536.
    #[serde(default = "default_obs_bytes")]
    pub max_observation_bytes: usize,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            path: default_store_path(),
            max_age: default_max_age(),
            max_runs_per_check: default_max_runs(),
            max_observation_bytes: default_obs_bytes(),
        }
    }
}

fn default_store_path() -> PathBuf {
    PathBuf::from("patrol.db")
}
fn default_max_age() -> Dur {
    Dur::secs(90 * 86_400)
}
fn default_max_runs() -> u32 {
    10_000
}
fn default_obs_bytes() -> usize {
    65_536
}

/// Where a secret's value comes from. Exactly one of `env`, `file`, `value`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum SecretSource {
    /// An environment variable.
    Env(String),
    /// A file (trailing newline removed), relative to `patrol.yaml`.
    File(PathBuf),
    /// A literal value (for tests; prefer env or file).
    Value(String),
}

/// Limits that keep a rule from hurting the daemon.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleLimits {
    /// Maximum Rhai operations per evaluation. Default: 1000000.
    #[serde(default = "default_ops")]
    pub max_operations: u64,
    /// Wall-clock limit of one evaluation. Default: 1s.
    #[serde(default = "default_rule_timeout")]
    pub timeout: Dur,
    /// Maximum length of any string a rule builds. Default: 1048576.
    #[serde(default = "default_max_string")]
    pub max_string_size: usize,
    /// Maximum size of arrays and maps a rule builds. Default: 100000.
    #[serde(default = "default_max_collection")]
    pub max_collection_size: usize,
    /// Maximum function call depth. Default: 64.
    #[serde(default = "default_call_levels")]
    pub max_call_levels: usize,
}

impl Default for RuleLimits {
    fn default() -> Self {
        RuleLimits {
            max_operations: default_ops(),
            timeout: default_rule_timeout(),
            max_string_size: default_max_string(),
            max_collection_size: default_max_collection(),
            max_call_levels: default_call_levels(),
        }
    }
}

fn default_ops() -> u64 {
    1_000_000
}
fn default_rule_timeout() -> Dur {
    Dur::secs(1)
}
fn default_max_string() -> usize {
    1 << 20
}
fn default_max_collection() -> usize {
    100_000
}
fn default_call_levels() -> usize {
    64
}

/// When and where a check's alerts go. Root defaults; a check may override any field.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertingPolicy {
    /// Fire after this many consecutive non-OK runs. Default: 1.
    #[serde(default = "one")]
    pub after: u32,
    /// Recover after this many consecutive OK runs. Default: 1.
    #[serde(default = "one")]
    pub recover_after: u32,
    /// Remind every this long while the check stays bad. Default: none.
    #[serde(default)]
    pub repeat: Option<Dur>,
    /// Send a notification when the check recovers. Default: true.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Channels (names under `channels:`) that receive this check's alerts.
    #[serde(default)]
    pub channels: Vec<String>,
}

impl Default for AlertingPolicy {
    fn default() -> Self {
        AlertingPolicy {
            after: 1,
            recover_after: 1,
            repeat: None,
            send_resolved: true,
            channels: Vec::new(),
        }
    }
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}

/// A check's overrides of the root alerting policy; unset fields inherit.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertingOverride {
    /// Fire after this many consecutive non-OK runs.
    pub after: Option<u32>,
    /// Recover after this many consecutive OK runs.
    pub recover_after: Option<u32>,
    /// Remind every this long while the check stays bad.
    pub repeat: Option<Dur>,
    /// Send a notification when the check recovers.
    pub send_resolved: Option<bool>,
    /// Channels that receive this check's alerts (replaces the default list).
    pub channels: Option<Vec<String>>,
}

impl AlertingPolicy {
    /// The root policy with a check's overrides applied.
    pub fn with(&self, o: &AlertingOverride) -> AlertingPolicy {
        AlertingPolicy {
            after: o.after.unwrap_or(self.after),
            recover_after: o.recover_after.unwrap_or(self.recover_after),
            repeat: o.repeat.or(self.repeat),
            send_resolved: o.send_resolved.unwrap_or(self.send_resolved),
            channels: o.channels.clone().unwrap_or_else(|| self.channels.clone()),
        }
    }
}

/// A notification channel. Parsed now; delivery is the alerting layer's.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ChannelConfig {
    /// Email through an SMTP server.
    Email(crate::alert::email::EmailConfig),
    /// JSON POSTed to a URL.
    Webhook(crate::alert::webhook::WebhookConfig),
}

/// One check: one YAML document of a check file.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckDef {
    /// Unique id (letters, digits, `-`, `_`, `.`); used on the command line and in the store.
    #[schemars(with = "String")]
    pub id: Spanned<String>,
    /// Human name shown in tables and alerts. Default: the id.
    pub name: Option<String>,
    /// What the check means and what to do when it fails (the runbook shown in alerts).
    #[serde(default)]
    pub description: String,
    /// Labels for `--tag` selection and alert routing.
    #[serde(default)]
    pub tags: Vec<String>,
    /// When the daemon runs it: `0 30 7 * * *`, `30 7 * * *`, `@daily`, `every 10m`.
    pub schedule: ScheduleExpr,
    /// Time zone of the schedule. Default: the root config's.
    pub timezone: Option<Zone>,
    /// A run missed while the daemon was down: `run_once` at start-up or `skip`.
    /// Default: `run_once` for schedules of a day or longer, `skip` otherwise.
    pub misfire: Option<Misfire>,
    /// Give up a run (probe and rule) after this long: the run is UNKNOWN. Default: 30s.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Run the probe again this many times when it fails or times out. Default: 0.
    #[serde(default)]
    pub retries: u32,
    /// Wait between retries. Default: 2s.
    #[serde(default = "default_retry_delay")]
    pub retry_delay: Dur,
    /// What to observe: one key naming the probe kind.
    pub probe: ProbeSpec,
    /// A rule name (`rules/NAME.rhai`) or an inline Rhai script. Default: the probe's own verdict.
    #[schemars(with = "Option<String>")]
    pub rule: Option<Spanned<String>>,
    /// Values the rule reads as `params` (thresholds and the like).
    #[serde(default)]
    pub params: Json,
    /// Overrides of the root alerting policy.
    #[serde(default)]
    pub alerting: AlertingOverride,
    /// Ids of checks this one depends on: while one of them is bad, this check's alerts are held.
    #[serde(default)]
    #[schemars(with = "Vec<String>")]
    pub depends_on: Vec<Spanned<String>>,
    /// Set to false to keep the check in the file without running it. Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
}

fn default_timeout() -> Dur {
    Dur::secs(30)
}
fn default_retry_delay() -> Dur {
    Dur::secs(2)
}
