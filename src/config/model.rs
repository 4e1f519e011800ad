//! The serde model of `patrol.yaml` and of check files. Doc comments here become the JSON
//! Schema (`patrol schema`) and the generated reference (`docs/src/reference`).

use super::bounds;
use super::schedule_expr::ScheduleExpr;
use super::types::{After, Dur, Json, Misfire, Text, TimeOfDay, Zone};
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
    /// How many checks may run at the same time. Default: 8; 1 to 1024.
    #[serde(
        default = "default_concurrency",
        deserialize_with = "bounds::concurrency"
    )]
    pub concurrency: usize,
    /// Check files and folders (read recursively, `*.yaml`/`*.yml`), relative to this file.
    /// Default: `[checks]`.
    #[serde(default = "default_checks")]
    pub checks: Vec<PathBuf>,
    /// Folders holding rules (`NAME.rhai`), relative to this file. Default: `[rules]`.
    #[serde(default = "default_rules")]
    pub rules: Vec<PathBuf>,
    /// HyperBDR consoles by name (`[a-z0-9-]+`), each defined once: url, user, password,
    /// time zone, TLS. `hyperbdr` checks name them (`console: NAME`, a list, or `all`) and
    /// run once per console as `ID@NAME`; for each console patrol adds the checks
    /// `hyperbdr-console-reachable@NAME` and `hyperbdr-console-api@NAME`. Default: none.
    #[serde(default)]
    pub consoles: BTreeMap<String, crate::hyperbdr::console::ConsoleConfig>,
    /// Named values for `${var:name}`.
    #[serde(default)]
    pub vars: BTreeMap<String, String>,
    /// Named secrets for `${secret:name}`. Their values are never stored, logged or printed.
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    /// Rule engine limits.
    #[serde(default)]
    pub rule_limits: RuleLimits,
    /// Limits on what patrol reads while it loads its configuration.
    #[serde(default)]
    pub limits: super::files::ConfigLimits,
    /// How many recent results of a check its rule sees as `history`. Default: 50; 0 to 1000.
    #[serde(default = "default_history", deserialize_with = "bounds::history")]
    pub history: usize,
    /// How long `patrol daemon` waits for running checks on SIGTERM before it exits.
    /// Default: 30s; 0s to 1h.
    #[serde(default = "default_grace", deserialize_with = "bounds::shutdown_grace")]
    pub shutdown_grace: Dur,
    /// Default alerting policy of every check (used by the alerting layer).
    #[serde(default)]
    pub alerting: AlertingPolicy,
    /// Named notification channels that checks and routes refer to.
    #[serde(default)]
    pub channels: BTreeMap<String, ChannelConfig>,
    /// Extra channels by tag and severity.
    #[serde(default)]
    pub routes: Vec<Route>,
    /// Recurring maintenance windows.
    #[serde(default)]
    pub maintenance: Vec<MaintenanceWindow>,
    /// Alerts for the same channel produced within this window go out as one message.
    /// Default: 30s; 0s to 1h.
    #[serde(
        default = "default_group_window",
        deserialize_with = "bounds::group_window"
    )]
    pub group_window: Dur,
    /// Retries of failed deliveries.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// The daily report. Default: none.
    pub report: Option<ReportConfig>,
    /// Base URL of the status page, for links in alerts (`{url}/checks/{id}`).
    pub status_page_url: Option<String>,
    /// The daemon's HTTP server: status page, JSON API, `/metrics`, heartbeat pings.
    #[serde(default)]
    pub web: WebConfig,
    /// Log export: the log sources of every component and how bundles are made
    /// (`patrol logs export`, and checks' `on_failure: export_logs`).
    #[serde(default)]
    pub logs: crate::logs::LogsConfig,
    /// A dead man's switch for patrol itself: a URL the daemon calls after every scheduler
    /// cycle whose due checks have all finished. Default: none.
    pub self_heartbeat: Option<SelfHeartbeat>,
}

/// The HTTP server inside `patrol daemon`. Reading (pages, API GETs, `/metrics`, `/healthz`)
/// needs nothing; changing anything (silences, manual runs) needs `Authorization: Bearer TOKEN`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the status page, API and metrics. Default: true.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// `host:port` to listen on; port 0 picks a free port (the daemon logs the address).
    /// Default: `127.0.0.1:8787`.
    #[serde(default = "default_listen")]
    pub listen: String,
    /// Bearer token that creating/removing silences and starting runs need. Use
    /// `${secret:NAME}`. Default: none, and then every change is refused.
    pub token: Option<super::types::Text>,
    /// Heartbeat pings (`/ping/ID...`) need the token too (a ping changes a check's
    /// state). Default: true; false lets a job ping with a plain URL, as with healthchecks.io.
    #[serde(default = "yes")]
    pub pings_need_token: bool,
    /// A ping's body is kept as the run's output up to this many bytes. Default: 10000;
    /// 0 to 16777216.
    #[serde(default = "default_ping_body", deserialize_with = "bounds::ping_body")]
    pub max_ping_body: usize,
    /// The status page reloads itself this often. Default: 30s; 1s to 1h.
    #[serde(default = "default_refresh", deserialize_with = "bounds::web_refresh")]
    pub refresh: Dur,
    /// Most connections served at a time; a connection over it is closed at once. Whatever
    /// this says, web connections take at most a quarter of the daemon's open-file limit
    /// (which the daemon raises to its hard limit at start), so that checks always have files
    /// and sockets left. Default: 256; 1 to 65536.
    #[serde(
        default = "default_max_connections",
        deserialize_with = "bounds::web_connections"
    )]
    pub max_connections: usize,
    /// A client must send a request's headers within this long, and a keep-alive connection
    /// waiting for its next request is closed after it. Default: 10s; 100ms to 10m.
    #[serde(
        default = "default_header_timeout",
        deserialize_with = "bounds::web_header_timeout"
    )]
    pub header_timeout: Dur,
    /// A connection that neither sends nor receives a byte for this long (a stalled request
    /// body, a client that stopped reading the answer) is closed. Default: 60s; 1s to 1h.
    #[serde(
        default = "default_idle_timeout",
        deserialize_with = "bounds::web_idle_timeout"
    )]
    pub idle_timeout: Dur,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            enabled: true,
            listen: default_listen(),
            token: None,
            pings_need_token: true,
            max_ping_body: default_ping_body(),
            refresh: default_refresh(),
            max_connections: default_max_connections(),
            header_timeout: default_header_timeout(),
            idle_timeout: default_idle_timeout(),
        }
    }
}

fn default_listen() -> String {
    "127.0.0.1:8787".into()
}
fn default_ping_body() -> usize {
    10_000
}
fn default_refresh() -> Dur {
    Dur::secs(30)
}
fn default_max_connections() -> usize {
    256
}
fn default_header_timeout() -> Dur {
    Dur::secs(10)
}
fn default_idle_timeout() -> Dur {
    Dur::secs(60)
}

/// Where the daemon reports that it is alive: a healthchecks-style ping URL or another
/// patrol's heartbeat endpoint. When the calls stop, the receiver raises the alarm. Calls are
/// made beside the scheduler: a slow or unreachable receiver never delays a check. A failed
/// call is logged at WARN and retried; a newer cycle's call replaces a retry still waiting.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelfHeartbeat {
    /// The URL called (may use `${secret:name}`: ping URLs often hold a token).
    pub url: Text,
    /// HTTP method: `POST` sends a small JSON body (the cycle's due time and check counts),
    /// `GET` and `HEAD` send none. Default: POST.
    #[serde(default)]
    pub method: HeartbeatMethod,
    /// Longest one call may take. Default: 10s; 100ms to 1h.
    #[serde(
        default = "default_heartbeat_timeout",
        deserialize_with = "bounds::call_timeout"
    )]
    pub timeout: Dur,
    /// Retries of a failed call (connection error, timeout, non-2xx answer). Default: 3;
    /// 0 to 10.
    #[serde(
        default = "default_heartbeat_retries",
        deserialize_with = "bounds::retries"
    )]
    pub retries: u32,
    /// Wait before the first retry; doubles on each further retry. Default: 5s; 100ms to 1h.
    #[serde(
        default = "default_heartbeat_retry_delay",
        deserialize_with = "bounds::backoff"
    )]
    pub retry_delay: Dur,
}

/// The HTTP method of a self-heartbeat call.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum HeartbeatMethod {
    #[default]
    #[serde(rename = "POST", alias = "post")]
    Post,
    #[serde(rename = "GET", alias = "get")]
    Get,
    #[serde(rename = "HEAD", alias = "head")]
    Head,
}

fn default_heartbeat_timeout() -> Dur {
    Dur::secs(10)
}
fn default_heartbeat_retries() -> u32 {
    3
}
fn default_heartbeat_retry_delay() -> Dur {
    Dur::secs(5)
}

fn default_group_window() -> Dur {
    Dur::secs(30)
}

/// How failed deliveries are retried: transient failures (connection refused, timeouts, SMTP
/// 4xx, HTTP 5xx/429) again after `first_backoff`, doubling up to `max_backoff` (or when the
/// receiver's Retry-After says), until `max_age`; permanent ones (SMTP 5xx, HTTP 4xx) never.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Wait before the first retry. Default: 10s; 100ms to 1h.
    #[serde(
        default = "default_first_backoff",
        deserialize_with = "bounds::backoff"
    )]
    pub first_backoff: Dur,
    /// Longest wait between retries. Default: 15m; 1s to 24h.
    #[serde(
        default = "default_max_backoff",
        deserialize_with = "bounds::max_backoff"
    )]
    pub max_backoff: Dur,
    /// Give up (and mark the notification failed) after this long. Default: 24h; 1m to 30d.
    #[serde(
        default = "default_delivery_max_age",
        deserialize_with = "bounds::delivery_max_age"
    )]
    pub max_age: Dur,
    /// Longest one delivery attempt may take. Default: 60s; 100ms to 1h.
    #[serde(
        default = "default_send_timeout",
        deserialize_with = "bounds::call_timeout"
    )]
    pub timeout: Dur,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            first_backoff: default_first_backoff(),
            max_backoff: default_max_backoff(),
            max_age: default_delivery_max_age(),
            timeout: default_send_timeout(),
        }
    }
}

fn default_first_backoff() -> Dur {
    Dur::secs(10)
}
fn default_max_backoff() -> Dur {
    Dur::secs(15 * 60)
}
fn default_delivery_max_age() -> Dur {
    Dur::secs(24 * 3600)
}
fn default_send_timeout() -> Dur {
    Dur::secs(60)
}

impl Default for RootConfig {
    fn default() -> Self {
        RootConfig {
            store: StoreConfig::default(),
            timezone: Zone::default(),
            concurrency: default_concurrency(),
            checks: default_checks(),
            rules: default_rules(),
            consoles: BTreeMap::new(),
            vars: BTreeMap::new(),
            secrets: BTreeMap::new(),
            rule_limits: RuleLimits::default(),
            limits: Default::default(),
            history: default_history(),
            shutdown_grace: default_grace(),
            alerting: AlertingPolicy::default(),
            channels: BTreeMap::new(),
            routes: Vec::new(),
            maintenance: Vec::new(),
            group_window: default_group_window(),
            delivery: DeliveryConfig::default(),
            report: None,
            status_page_url: None,
            web: WebConfig::default(),
            logs: crate::logs::LogsConfig::default(),
            self_heartbeat: None,
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
    /// Delete runs older than this. Default: 90d; 1h to 3650d.
    #[serde(
        default = "default_max_age",
        deserialize_with = "bounds::store_max_age"
    )]
    pub max_age: Dur,
    /// Keep at most this many runs per check. Default: 10000; 1 to 10000000.
    #[serde(default = "default_max_runs", deserialize_with = "bounds::max_runs")]
    pub max_runs_per_check: u32,
    /// Observations larger than this (JSON bytes) are stored truncated. Default: 65536;
    /// 1024 to 67108864.
    #[serde(
        default = "default_obs_bytes",
        deserialize_with = "bounds::observation_bytes"
    )]
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

/// Limits that keep a rule from hurting the daemon. Every limit has a range: none can be
/// turned off.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleLimits {
    /// Maximum Rhai operations per evaluation. Default: 1000000; 1000 to 1000000000.
    #[serde(default = "default_ops", deserialize_with = "bounds::rule_operations")]
    pub max_operations: u64,
    /// Wall-clock limit of one evaluation. Default: 1s; 10ms to 1m.
    #[serde(
        default = "default_rule_timeout",
        deserialize_with = "bounds::rule_timeout"
    )]
    pub timeout: Dur,
    /// Maximum length of any string a rule builds. Default: 1048576; 1024 to 67108864.
    #[serde(
        default = "default_max_string",
        deserialize_with = "bounds::rule_string"
    )]
    pub max_string_size: usize,
    /// Maximum size of arrays and maps a rule builds. Default: 100000; 16 to 10000000.
    #[serde(
        default = "default_max_collection",
        deserialize_with = "bounds::rule_collection"
    )]
    pub max_collection_size: usize,
    /// Maximum function call depth. Default: 64; 1 to 1000 (rules run on threads whose
    /// stack fits the deepest).
    #[serde(
        default = "default_call_levels",
        deserialize_with = "bounds::rule_call_levels"
    )]
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
    /// Open an incident after this many non-OK runs in a row (`3`), or among the last runs
    /// (`"3 of 5"`). Default: 1.
    #[serde(default)]
    pub after: After,
    /// Close the incident after this many OK runs in a row. Default: 1; 1 to 1000.
    #[serde(default = "one", deserialize_with = "bounds::recover_after")]
    pub recover_after: u32,
    /// Remind every this long while the check stays bad. Default: never; 1s to 366d.
    #[serde(default, deserialize_with = "bounds::repeat_opt")]
    pub repeat: Option<Dur>,
    /// Notify when an announced incident closes. Default: true.
    #[serde(default = "yes")]
    pub send_resolved: bool,
    /// Channels (names under `channels:`) that receive this check's alerts.
    #[serde(default)]
    pub channels: Vec<String>,
    /// Only notify the channels above for incidents at least this severe. Default: warning.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Flap detection. Default: on, over the last 20 runs.
    #[serde(default)]
    pub flapping: Flapping,
}

impl Default for AlertingPolicy {
    fn default() -> Self {
        AlertingPolicy {
            after: After::default(),
            recover_after: 1,
            repeat: None,
            send_resolved: true,
            channels: Vec::new(),
            min_severity: default_min_severity(),
            flapping: Flapping::default(),
        }
    }
}

fn one() -> u32 {
    1
}
fn yes() -> bool {
    true
}
fn default_min_severity() -> Severity {
    Severity::Warning
}

/// A severity an alert must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Unknown,
    Critical,
}

impl Severity {
    /// Whether `status` is at least this severe (ok never is).
    pub fn admits(self, status: crate::status::Status) -> bool {
        use crate::status::Status;
        let floor = match self {
            Severity::Warning => Status::Warning,
            Severity::Unknown => Status::Unknown,
            Severity::Critical => Status::Critical,
        };
        status != Status::Ok && status.severity() >= floor.severity()
    }
}

/// Flap detection: a check that changes state too often sends one "flapping" notice instead
/// of a storm.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flapping {
    /// Turn flap detection off. Default: on.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// How many recent runs are looked at. Default: 20; 2 to 1000.
    #[serde(
        default = "default_flap_window",
        deserialize_with = "bounds::flap_window"
    )]
    pub window: usize,
    /// Share of state changes (0..1) that starts flapping. Default: 0.5.
    #[serde(default = "default_flap_high", deserialize_with = "bounds::share")]
    pub high: f64,
    /// Share of state changes at or below which flapping ends. Default: 0.25.
    #[serde(default = "default_flap_low", deserialize_with = "bounds::share")]
    pub low: f64,
}

impl Default for Flapping {
    fn default() -> Self {
        Flapping {
            enabled: true,
            window: default_flap_window(),
            high: default_flap_high(),
            low: default_flap_low(),
        }
    }
}

fn default_flap_window() -> usize {
    20
}
fn default_flap_high() -> f64 {
    0.5
}
fn default_flap_low() -> f64 {
    0.25
}

/// A check's overrides of the root alerting policy; unset fields inherit.
#[derive(Debug, Clone, Default, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertingOverride {
    /// Open an incident after this many non-OK runs (`3` or `"3 of 5"`).
    pub after: Option<After>,
    /// Close the incident after this many OK runs in a row (1 to 1000).
    #[serde(default, deserialize_with = "recover_after_opt")]
    pub recover_after: Option<u32>,
    /// Remind every this long while the check stays bad (1s to 366d).
    #[serde(default, deserialize_with = "bounds::repeat_opt")]
    pub repeat: Option<Dur>,
    /// Notify when an announced incident closes.
    pub send_resolved: Option<bool>,
    /// Channels that receive this check's alerts (replaces the default list).
    pub channels: Option<Vec<String>>,
    /// Only notify for incidents at least this severe.
    pub min_severity: Option<Severity>,
    /// Flap detection settings (replace the default).
    pub flapping: Option<Flapping>,
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
            min_severity: o.min_severity.unwrap_or(self.min_severity),
            flapping: o.flapping.clone().unwrap_or_else(|| self.flapping.clone()),
        }
    }
}

/// Extra channels for checks with certain tags (alerts go to the check's own channels AND to
/// every matching route's).
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    /// The route matches a check carrying any of these tags.
    pub tags: Vec<String>,
    /// Only incidents at least this severe use the route. Default: warning.
    #[serde(default = "default_min_severity")]
    pub min_severity: Severity,
    /// Channels the route sends to.
    pub channels: Vec<String>,
}

/// A recurring maintenance window: notifications of the matching checks are held back while
/// it is open (results are still recorded).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceWindow {
    /// Name shown in logs and messages.
    pub name: String,
    /// Days it opens on: mon, tue, wed, thu, fri, sat, sun. Default: every day.
    #[serde(default)]
    pub days: Vec<Weekday>,
    /// Local opening time, `HH:MM`.
    pub start: TimeOfDay,
    /// How long it stays open (1m to 31d).
    #[serde(deserialize_with = "bounds::maintenance")]
    pub duration: Dur,
    /// Zone of `days` and `start`. Default: the root config's.
    pub timezone: Option<Zone>,
    /// Checks it applies to (ids). Default, with `tags` also empty: every check.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Checks it applies to (any of these tags).
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A day of the week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// The daily report: one message summarising the last period.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// When it is sent (cron or @daily...). Default: 08:00 every day.
    #[serde(default = "default_report_schedule")]
    pub schedule: ScheduleExpr,
    /// Zone of the schedule. Default: the root config's.
    pub timezone: Option<Zone>,
    /// Channels that receive it.
    pub channels: Vec<String>,
}

fn default_report_schedule() -> ScheduleExpr {
    ScheduleExpr::daily_at_eight()
}

/// A notification channel. Parsed now; delivery is the alerting layer's.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub enum ChannelConfig {
    /// Email through an SMTP server.
    Email(crate::alert::channel::email::EmailConfig),
    /// JSON POSTed to a URL.
    Webhook(crate::alert::channel::webhook::WebhookConfig),
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
    /// Give up a probe attempt after this long: the run is UNKNOWN ("timed out"). Default: 30s;
    /// 1s to 24h.
    #[serde(
        default = "default_timeout",
        deserialize_with = "bounds::check_timeout"
    )]
    pub timeout: Dur,
    /// Try again this many times while the result is not OK (probe error, timeout, or a
    /// non-OK verdict); the last attempt is the result. Default: 0; 0 to 10.
    #[serde(default, deserialize_with = "bounds::retries")]
    pub retries: u32,
    /// Wait between retries. Default: 2s; 0s to 1h.
    #[serde(
        default = "default_retry_delay",
        deserialize_with = "bounds::retry_delay"
    )]
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
    /// What patrol does when this check's alert fires.
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// Actions taken when a check's alert fires.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OnFailure {
    /// Log sources (names under `logs: sources:`) exported into one bundle when the alert
    /// fires; the alert names the bundle (`log_bundle` fact). Default: none.
    #[serde(default)]
    pub export_logs: Vec<String>,
    /// The exported window starts this long before the failing run and ends when the export
    /// starts. Default: 1h; 1m to 366d.
    #[serde(
        default = "default_failure_window",
        deserialize_with = "bounds::log_window"
    )]
    pub window: Dur,
}

impl Default for OnFailure {
    fn default() -> Self {
        OnFailure {
            export_logs: Vec::new(),
            window: default_failure_window(),
        }
    }
}

fn default_failure_window() -> Dur {
    Dur::secs(3600)
}

fn default_timeout() -> Dur {
    Dur::secs(30)
}
fn default_retry_delay() -> Dur {
    Dur::secs(2)
}

fn recover_after_opt<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    bounds::recover_after(d).map(Some)
}
