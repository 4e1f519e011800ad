//! `hyperbdr` probe: logs in to a HyperBDR console defined once under `consoles:` in
//! `patrol.yaml` (`POST /api/v2/loginNoImageCaptcha`) and fetches the endpoints listed under
//! `fetch`, each into `observation.NAME`. A check with this probe runs once per console it
//! names — `console: NAME`, a list of names, or `all` (omitted: every console) — as
//! `ID@CONSOLE`, named "NAME (CONSOLE)", tagged `console:CONSOLE`, with its own history and
//! alerts, and depending on the console's derived `hyperbdr-console-api@CONSOLE` check.
//! Every call sends `X-Auth-Token`, `X-SCENE` and `X-LANG`; the token is shared by all checks
//! of the process for the same console (name, URL, user, password, scene) until the console
//! answers 401 (then patrol logs in again once and retries) or the token's JWT `exp` is near;
//! checks starting together share one login. A refused login (the console's error envelope or
//! HTTP 401/403 on the login) stops every login to that console for the console's
//! `login_backoff` (default 15 min) or until its URL, user or password change; the refusal
//! is kept next to the store (`patrol.db` → `patrol.login-guard.json`, mode 0600, no
//! password in it) so a `patrol run` started later honours it too;
//! meanwhile every check of the console is UNKNOWN with "login as ops refused at 10:02 CST;
//! not retrying before 10:17 CST so the account is not locked — console error 10010001:
//! invalid credentials". A console that cannot be reached is not a refusal. Lists
//! (`data` with `total` and one array) are fetched page by page until `total` items are in.
//! Every time without an offset (`YYYY-MM-DD HH:MM:SS`, or with a `T`, anywhere in the
//! answer) is read in the console's `timezone` and rewritten to RFC 3339 with that zone's
//! offset, so rules can use `parse_time` and `days_since` on every time.
//!
//! ```yaml
//! probe:
//!   hyperbdr:
//!     console: main                 # a name under `consoles:`, [site-a, site-b], or all
//!     fetch:
//!       hosts: /api/v2/getHosts
//!       tasks: { path: /api/v2/getTasks, query: { page_size: 50 } }
//!     task_steps: true
//!     rerun: { enabled: true, causes: [network], max_per_task_per_day: 3 }
//! ```
//!
//! Fields: `console` (every console), `timeout` (the console's, and just under the check's
//! at most), `fetch` (name → path or `{path, query, paged}`), `task_steps` (false), `rerun`
//! (`enabled` false, `causes` [network], `max_per_task_per_day` 3). The connection (url,
//! username, password, scene, lang, time zone, TLS, page size) is the console's: a check that
//! still writes `url`, `username`, `password`, `console_timezone`, `scene`, `lang`,
//! `ca_file`, `insecure` or `page_size` is refused by `validate` at that key.
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `NAME` | any | the envelope's `data` of the endpoint fetched as `NAME` (all pages of a list, arrays concatenated; `total` as the console gave it) |
//! | `console.name` | string | the console's name under `consoles:` |
//! | `console.url` | string | the console URL |
//! | `console.scene` | string | `dr` or `migration` |
//! | `console.timezone` | string | the zone of the console's clock (IANA name); rules read times without an offset in it |
//! | `console.max_clock_skew_seconds` | number | how far a console time may lie in the future; the default of the rules' `max_clock_skew` param |
//! | `tasks.tasks[].steps` | list | with `task_steps`, on failed tasks: `data.steps` of `/hypermotion/v1/job/steps?task_id=ID` (`id`, `step`, `status`, `message`, `logs[]`) |
//! | `tasks.tasks[].steps_error` | string | why the steps could not be fetched (the task is still classified) |
//! | `tasks.tasks[].cause` | string | patrol's classification: `network`, `permission`, `storage`, `source` or `unknown` |
//! | `tasks.tasks[].cause_evidence` | string | the text that decided the cause (empty for `unknown`) |
//! | `tasks.tasks[].console_cause` | string | the console's own `error.cause`, when it gave one |
//! | `reruns` | list | with `rerun`: attempts made in this run, `{task_id, host_id, cause, at, outcome}`; `outcome` is `started` or `failed: WHY` |
//! | `rerun_skipped` | list | failed tasks not re-run, `{task_id, host_id, cause, reason}` |
//! | `rerun_history` | list | every attempt of this check in the last 24 h (this run's included) |
//!
//! A task is failed when its `status` contains `fail` or `error` or its `display_status` says
//! Failed. The cause comes from, in this order, the steps' messages, their logs'
//! `error_reason` and `detail`, the task's `error.message`, the host's
//! `task_error_description` (when `hosts` is fetched too) and the logs' `traceback`; the
//! first of permission, storage (quota included), source, network whose words appear wins.
//!
//! Re-run (off unless `rerun.enabled`, needs `task_steps`): a failed task whose cause is in
//! `rerun.causes` is re-run with `POST /api/v2/batchSync`
//! `{"batch_sync":[{"migration_id":HOST,"do_snapshot":true}]}` unless its host has a running
//! task, a newer task of the host succeeded, the host is already re-run in this run, or the
//! task had `max_per_task_per_day` attempts in the last 24 h (counted in the check's state).
//!
//! Errors (the check is UNKNOWN, the message names the endpoint): an envelope `code` other
//! than `""`, `00000000` or `200` (`GET /api/v2/getHosts: console error 10010001: internal
//! error (trace_id t-1)`); HTTP 404 (`not available on this console (HTTP 404)`, an O&M
//! extension the console lacks); other HTTP errors with the `Server-Error-Message` header or
//! the JSON `faultstring`/`title`; a refused login (and, until its back-off ends, the login
//! guard's "not retrying before"); a second 401; timeouts. The password
//! never appears in observations, errors or logs.
//!
//! Default verdict: OK naming what was fetched (and the re-runs made). Metrics:
//! `response_time_ms`, `reruns`.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput, io_deadline, millis};
use crate::config::{Dur, Json};
use crate::hyperbdr::cause::Cause;
use crate::hyperbdr::client::{Connection, ConsoleClient, ConsoleError};
use crate::hyperbdr::console::{API_CHECK_PATH, Moved};
pub use crate::hyperbdr::console::{ConsoleSelect, Lang, NamedConsole, Scene};
use crate::hyperbdr::probe::{
    FetchRequest, RerunPolicy, attach_steps, console_info, fetch_all, list_len,
};
use crate::status::Verdict;
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use serde_saphyr::Spanned;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// Configuration of the `hyperbdr` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HyperbdrProbe {
    /// The console(s) to run against: a name under `consoles:` in `patrol.yaml`, a list of
    /// names, or `all`. The check runs once per console, as `ID@CONSOLE`. Default: every
    /// console.
    #[serde(default)]
    #[schemars(with = "Option<ConsoleSelect>")]
    pub console: Option<Spanned<ConsoleSelect>>,
    /// Give up one request after this long. Default: the console's `timeout`; at most just
    /// under the check's timeout.
    #[serde(default)]
    pub timeout: Option<Dur>,
    /// What to fetch: a name (becomes `observation.NAME`) → an endpoint path, or
    /// `{path, query, paged}`.
    #[serde(default)]
    pub fetch: BTreeMap<String, Fetch>,
    /// For every failed task in `observation.tasks.tasks` fetch its steps and classify its
    /// cause (needs a fetch named `tasks`). Default: false.
    #[serde(default)]
    pub task_steps: bool,
    /// Re-run failed tasks (`POST /api/v2/batchSync`). Off unless `enabled: true`.
    #[serde(default)]
    pub rerun: Option<RerunSpec>,

    // Keys that moved to the console (`consoles:` in patrol.yaml): read only so that
    // `validate` can point at them and say what to write instead.
    #[serde(default)]
    #[schemars(skip)]
    pub url: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub username: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub password: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub console_timezone: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub scene: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub lang: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub ca_file: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub insecure: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub page_size: Moved,

    /// The console this instance of the check runs against; set by the loader when it
    /// expands the check per console.
    #[serde(skip)]
    pub target: Option<NamedConsole>,
    /// Set on the derived `hyperbdr-console-api@NAME` check: a failing login or call is
    /// what it measures (CRITICAL), not a failure to observe (UNKNOWN).
    #[serde(skip)]
    pub api_check: bool,
}

/// One endpoint to fetch: a path, or a path with query parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Fetch {
    /// The path, e.g. `/api/v2/getHosts`.
    Path(String),
    /// The path with options.
    Full(FetchFull),
}

/// An endpoint with query parameters.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FetchFull {
    /// The path, e.g. `/api/v2/getTasks`.
    pub path: String,
    /// Query parameters (name → text or number). `page_size` here overrides the probe's.
    #[serde(default)]
    pub query: BTreeMap<String, Json>,
    /// Fetch every page of a list. Default: true.
    #[serde(default = "yes")]
    pub paged: bool,
}

fn yes() -> bool {
    true
}

/// The guarded re-run of failed tasks.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RerunSpec {
    /// Re-run failed tasks. Default: false.
    #[serde(default)]
    pub enabled: bool,
    /// Causes that may be re-run (`network`, `permission`, `storage`, `source`, `unknown`).
    /// Default: [network].
    #[serde(default = "default_causes")]
    pub causes: Vec<Cause>,
    /// At most this many attempts per task in any 24 hours. Default: 3 (HyperBDR's default
    /// retry count).
    #[serde(default = "default_max")]
    pub max_per_task_per_day: u32,
}

fn default_causes() -> Vec<Cause> {
    vec![Cause::Network]
}

fn default_max() -> u32 {
    3
}

const RESERVED: [&str; 4] = ["console", "reruns", "rerun_skipped", "rerun_history"];

impl HyperbdrProbe {
    /// Problems found when the check file is read.
    pub fn validate(&self) -> Result<(), String> {
        for (name, f) in &self.fetch {
            if RESERVED.contains(&name.as_str()) {
                return Err(format!(
                    "fetch name {name:?} is reserved (console, reruns, rerun_skipped, rerun_history)"
                ));
            }
            if !f.path().starts_with('/') {
                return Err(format!(
                    "fetch {name}: path {:?} must start with /",
                    f.path()
                ));
            }
            if let Fetch::Full(full) = f {
                for (k, v) in &full.query {
                    query_value(&v.value).map_err(|e| format!("fetch {name}: query {k}: {e}"))?;
                }
            }
        }
        if self.task_steps && !self.fetch.contains_key("tasks") {
            return Err(
                "task_steps needs a fetch named `tasks` (e.g. tasks: /api/v2/getTasks)".into(),
            );
        }
        if let Some(r) = &self.rerun
            && r.enabled
            && !self.task_steps
        {
            return Err("rerun needs task_steps: true (the cause decides what is re-run)".into());
        }
        Ok(())
    }

    /// The connection to the console this instance runs against; `ca_file` resolves
    /// against `base_dir`, and the request timeout stays under `check_timeout`. Without a
    /// console (a check not expanded by the loader) the connection has no url and the client
    /// refuses it.
    pub fn connection(&self, base_dir: &Path, check_timeout: Duration) -> Connection {
        let cap = io_deadline(None, check_timeout);
        match &self.target {
            Some(t) => {
                t.config
                    .connection(&t.name, base_dir, self.timeout.map(Dur::as_duration), cap)
            }
            None => Connection::new("", "", ""),
        }
    }

    /// The keys written here that belong to the console now, with where they are.
    pub fn moved_keys(&self) -> Vec<(&'static str, serde_saphyr::Location)> {
        let keys: [(&'static str, &Moved); 9] = [
            ("url", &self.url),
            ("username", &self.username),
            ("password", &self.password),
            ("console_timezone", &self.console_timezone),
            ("scene", &self.scene),
            ("lang", &self.lang),
            ("ca_file", &self.ca_file),
            ("insecure", &self.insecure),
            ("page_size", &self.page_size),
        ];
        keys.into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|s| (k, s.referenced)))
            .collect()
    }

    /// The probe of the derived `hyperbdr-console-api@NAME` check: log in and fetch one
    /// host, the cheapest call every console answers.
    pub fn api_check(target: NamedConsole) -> HyperbdrProbe {
        let query = [("page", 1), ("page_size", 1)]
            .into_iter()
            .map(|(k, v)| {
                (
                    k.to_string(),
                    Json {
                        value: json!(v),
                        uses_secret: false,
                    },
                )
            })
            .collect();
        let fetch = BTreeMap::from([(
            "hosts".to_string(),
            Fetch::Full(FetchFull {
                path: API_CHECK_PATH.into(),
                query,
                paged: false,
            }),
        )]);
        HyperbdrProbe {
            console: None,
            timeout: None,
            fetch,
            task_steps: false,
            rerun: None,
            url: None,
            username: None,
            password: None,
            console_timezone: None,
            scene: None,
            lang: None,
            ca_file: None,
            insecure: None,
            page_size: None,
            target: Some(target),
            api_check: true,
        }
    }

    /// The endpoints to fetch, query values as text.
    fn fetch_requests(&self) -> Result<Vec<FetchRequest>, ProbeError> {
        self.fetch
            .iter()
            .map(|(name, f)| {
                let (path, query, paged) = match f {
                    Fetch::Path(p) => (p.clone(), Vec::new(), true),
                    Fetch::Full(full) => {
                        let mut q = Vec::new();
                        for (k, v) in &full.query {
                            q.push((
                                k.clone(),
                                query_value(&v.value).map_err(ProbeError::Config)?,
                            ));
                        }
                        (full.path.clone(), q, full.paged)
                    }
                };
                Ok(FetchRequest {
                    name: name.clone(),
                    path,
                    query,
                    paged,
                })
            })
            .collect()
    }
}

impl Fetch {
    fn path(&self) -> &str {
        match self {
            Fetch::Path(p) => p,
            Fetch::Full(f) => &f.path,
        }
    }
}

fn query_value(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err("must be a text, a number or true/false".into()),
    }
}

fn failed(e: ConsoleError) -> ProbeError {
    match e {
        ConsoleError::Config(m) => ProbeError::Config(m),
        other => ProbeError::Failed(other.to_string()),
    }
}

impl Probe for HyperbdrProbe {
    fn kind(&self) -> &'static str {
        "hyperbdr"
    }

    fn validate(&self) -> Result<(), String> {
        HyperbdrProbe::validate(self)
    }

    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            self.validate().map_err(ProbeError::Config)?;
            let Some(target) = &self.target else {
                return Err(ProbeError::Config(
                    "no console: define one under `consoles:` in patrol.yaml".into(),
                ));
            };
            let fetches = self.fetch_requests()?;
            let conn = self.connection(ctx.base_dir, ctx.timeout);
            let client = ConsoleClient::new(&conn).map_err(failed)?;
            let started = Instant::now();
            let url = target.config.url.display();
            let console = console_info(&conn, url, &conn.scene);

            let mut observation = match fetch_all(&client, &fetches).await {
                Ok(o) => o,
                Err(e) if self.api_check && !matches!(e, ConsoleError::Config(_)) => {
                    return Ok(api_failure(&target.name, url, console, &e));
                }
                Err(e) => return Err(failed(e)),
            };
            observation.insert("console".into(), console);
            if self.api_check {
                return Ok(api_success(
                    &target.name,
                    url,
                    &conn.username,
                    observation,
                    millis(started.elapsed()),
                ));
            }
            if self.task_steps {
                attach_steps(&client, &mut observation).await;
            }
            let mut state = None;
            let mut made = 0usize;
            if let Some(r) = self.rerun.as_ref().filter(|r| r.enabled) {
                let key = format!("{}|{url}", ctx.check_id);
                let policy = RerunPolicy {
                    causes: &r.causes,
                    max_per_task_per_day: r.max_per_task_per_day,
                };
                let (attempts, history) = crate::hyperbdr::probe::rerun_failed(
                    &client,
                    policy,
                    &mut observation,
                    ctx.state,
                    &key,
                )
                .await;
                made = attempts;
                state = Some(json!({ "rerun_attempts": history }));
            }

            let elapsed = millis(started.elapsed());
            let mut parts: Vec<String> = self
                .fetch
                .keys()
                .map(|name| match observation.get(name).and_then(list_len) {
                    Some(n) => format!("{name} ({n})"),
                    None => name.clone(),
                })
                .collect();
            if parts.is_empty() {
                parts.push("nothing (logged in)".into());
            }
            let mut summary = format!(
                "HyperBDR {} ({url}): fetched {}",
                target.name,
                parts.join(", ")
            );
            if made > 0 {
                summary.push_str(&format!("; re-ran {made} failed task(s)"));
            }
            let verdict = Verdict::ok(summary)
                .with_metric("response_time_ms", elapsed)
                .with_metric("reruns", made as f64);
            Ok(ProbeOutput {
                observation: Value::Object(observation),
                verdict,
                state,
            })
        })
    }
}

/// The API check's verdict when the console answered: it logged in and the call worked.
fn api_success(
    name: &str,
    url: &str,
    username: &str,
    observation: serde_json::Map<String, Value>,
    elapsed_ms: f64,
) -> ProbeOutput {
    let total = observation
        .get("hosts")
        .and_then(|h| h.get("total"))
        .and_then(Value::as_u64);
    let hosts = match total {
        Some(n) => format!(" ({n} hosts)"),
        None => String::new(),
    };
    let verdict = Verdict::ok(format!(
        "console {name} ({url}) answers: logged in as {username}, GET {API_CHECK_PATH} worked{hosts}"
    ))
    .with_metric("response_time_ms", elapsed_ms);
    ProbeOutput {
        observation: Value::Object(observation),
        verdict,
        state: None,
    }
}

/// The API check's verdict when the login or the call failed: the API does not work.
fn api_failure(name: &str, url: &str, console: Value, e: &ConsoleError) -> ProbeOutput {
    ProbeOutput {
        observation: json!({ "console": console, "error": e.to_string() }),
        verdict: Verdict::critical(format!("console {name} ({url}): the API fails: {e}")),
        state: None,
    }
}
