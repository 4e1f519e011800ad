//! The HyperBDR console simulator: the real `/api/v2/*` and `/hypermotion/v1/*` endpoints
//! patrol reads (paths and field names from the public `hyperbdrctl` client) plus the
//! proposed `/api/v2/om/*` O&M extensions, with data generated relative to the real clock and
//! a set of named fault scenarios switchable at run time.
//!
//! Used three ways: by `patrol demo` (a console with planted faults, in-process), by the
//! runnable example `examples/hyperbdr-sim`, and in-process by the tests:
//!
//! ```ignore
//! use patrol::hyperbdr::sim;
//! let s = sim::Sim::spawn(sim::SimOptions { listen: "127.0.0.1:0".into(), ..Default::default() })?;
//! s.set_scenario("bucket-92");
//! let url = s.url();
//! ```
//!
//! The server runs on its own thread with its own Tokio runtime, so a caller may block its
//! own thread (run the `patrol` binary, say) while the simulator answers.
//!
//! What real consoles do besides the scenarios is set in [`SimOptions`] (and changed at run
//! time with the `Sim::set_*` methods or `PUT /sim/modes`): how time fields are written
//! ([`TimeStyle`]), fields left out (`drop_fields`), a token that dies after N requests,
//! a page size cap, and an account lockout after N failed logins. `GET /sim/stats` counts
//! requests and logins; `POST /sim/reset` unlocks the account and zeroes the counters.
//! [`Fleet`] runs several consoles in one process.
//!
//! This module must not depend on the rest of patrol: it stands in for a console made by
//! someone else, so it shares no code with the client that reads it.

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use chrono::{DateTime, Duration as CDuration, SecondsFormat, Utc};
use chrono_tz::Tz;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

mod world;
use world::{World, rfc};
mod modes;
pub use modes::{FIELDS_MISSING, NO_KEY_DATA, TimeStyle};
mod fleet;
pub use fleet::{ConsoleSpec, Fleet};

/// Every scenario with a one-line description (`GET /sim/scenarios`).
pub const SCENARIOS: &[(&str, &str)] = &[
    ("green", "everything healthy: no check should alert"),
    (
        "container-restarting",
        "console service owl is Restarting, unhealthy_containers 1",
    ),
    (
        "proxy-offline",
        "sync proxy proxy-1 offline, last heartbeat 2 h ago",
    ),
    (
        "task-failed-network",
        "task t-990 (host h-002) failed: dial tcp 100.64.1.9:443: i/o timeout",
    ),
    (
        "task-failed-permission",
        "task t-990 (host h-002) failed: AccessDenied on ebs:PutSnapshotBlock (no error.cause)",
    ),
    (
        "task-failed-storage",
        "task t-990 (host h-002) failed: QuotaExceeded: snapshot quota",
    ),
    (
        "task-failed-source",
        "task t-990 (host h-002) failed: agent offline: VSS snapshot create timeout (no error.cause)",
    ),
    (
        "task-failed-network-running",
        "like task-failed-network, but h-002 is running a new sync task (t-992) right now",
    ),
    (
        "task-stuck",
        "task t-991 on host h-003 running since 30 h ago",
    ),
    (
        "rpo-breach",
        "host h-001 last synced 3.2 x its RPO (3600 s) ago",
    ),
    ("bucket-92", "object storage st-obj-1 at 92 % of its quota"),
    (
        "storage-trend",
        "object storage grows 6 %/simulated day from 70 %: each getStorages request is one day later",
    ),
    (
        "snapshots-127",
        "host h-001 holds 127 snapshots (policy max 128)",
    ),
    (
        "key-old",
        "cloud account ca-1 credential created 120 days ago",
    ),
    (
        "key-expiring",
        "cloud account ca-1 credential expires in 5 days",
    ),
    (
        "account-invalid",
        "cloud account ca-2 invalid (Authentication failed)",
    ),
    ("iam-wildcard", "cloud account ca-1 is granted iam:*"),
    (
        "permission-missing",
        "cloud account ca-1 lacks the required ebs:ListChangedBlocks",
    ),
    (
        "subtunnel-down",
        "tunnel vpn-1: one of its two sub-tunnels DOWN",
    ),
    (
        "latency-high",
        "tunnel vpn-1 (block mode) latency 140 ms (doc minimum < 100 ms)",
    ),
    (
        "link-saturated",
        "proxy-1 transmits at 95 % of its link for 2 h inside a backup window",
    ),
    ("policy-no-full", "policy pol-15m has no full sync"),
    ("drill-overdue", "host h-001 last drilled 200 days ago"),
    (
        "critical-alert",
        "an unprocessed critical \"Sync host\" alert on app02",
    ),
    (
        "relogin-401",
        "the first business request after a login answers 401 (token revoked); the next login works",
    ),
    (
        "error-envelope",
        "business endpoints answer HTTP 200 with code 10010001 \"internal error\", trace_id t-err-1",
    ),
    (
        "http-500",
        "business endpoints answer HTTP 500, Server-Error-Message: database unavailable",
    ),
    ("slow", "every response is delayed (5 s, --slow-ms)"),
    ("paging", "130 hosts and 130 tasks, all green"),
    (
        "log-host-offline",
        "log collection for windows hosts is refused: offline hosts cannot collect logs (400)",
    ),
    (
        "log-collection-failed",
        "log collections end in status failed",
    ),
];

/// Scenarios added for consoles that are not the tidy simulator (issue 11). Kept apart from
/// [`SCENARIOS`], whose order the library's verdict matrix follows; [`all_scenarios`]
/// lists both, and both are accepted everywhere a scenario is named.
pub const MORE_SCENARIOS: &[(&str, &str)] = &[
    (
        "rpo-5x",
        "host h-001 last synced 5 x its RPO (3600 s) ago: critical in every time style",
    ),
    (
        "fields-missing",
        "the fields the library's rules read are left out (FIELDS_MISSING: last_sync_success_at, rpo_target_seconds, credential, used_bytes, ...)",
    ),
    (
        "no-key-data",
        "cloud accounts come without any key data (no credential object)",
    ),
    (
        "demo",
        "the faults `patrol demo` plants, together: rpo-5x, bucket-92 and iam-wildcard",
    ),
];

/// The scenarios the `demo` scenario combines (each fault as its own scenario does it).
pub const DEMO_FAULTS: &[&str] = &["rpo-5x", "bucket-92", "iam-wildcard"];

/// Every scenario: [`SCENARIOS`] then [`MORE_SCENARIOS`].
pub fn all_scenarios() -> impl Iterator<Item = &'static (&'static str, &'static str)> {
    SCENARIOS.iter().chain(MORE_SCENARIOS.iter())
}

/// How to run a simulator.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// Listen address, e.g. `127.0.0.1:10443` (`:0` picks a free port).
    pub listen: String,
    /// Scenario at start.
    pub scenario: String,
    pub username: String,
    pub password: String,
    /// Zone of the `YYYY-MM-DD HH:MM:SS` stamps (task start/end, snapshot creation).
    pub console_timezone: Tz,
    /// Delay of every response in the `slow` scenario.
    pub slow_ms: u64,
    /// Log each request to stderr.
    pub log_requests: bool,
    /// Name of this console (`/sim/stats`, the request log, [`Fleet::get`]).
    pub name: String,
    /// How time fields are written (default [`TimeStyle::Mixed`], as before).
    pub times: TimeStyle,
    /// Fields left out of every API response: `last_sync_success_at` (that key anywhere) or
    /// `credential.expires_at` (key `expires_at` inside `credential`).
    pub drop_fields: Vec<String>,
    /// A token answers 401 after this many API requests with it (None: never), as a console
    /// whose sessions end forces a new login.
    pub token_max_requests: Option<u64>,
    /// Most items in one page, whatever `page_size` asks; `total` stays the true count.
    pub max_page_size: usize,
    /// Lock the account after this many failed logins in a row (None or 0: never). A locked
    /// account refuses even the right password until `POST /sim/reset` or [`Sim::reset`].
    pub lockout_after: Option<u32>,
}

impl Default for SimOptions {
    fn default() -> SimOptions {
        SimOptions {
            listen: "127.0.0.1:10443".into(),
            scenario: "green".into(),
            username: "ops".into(),
            password: "sim-password".into(),
            console_timezone: chrono_tz::Asia::Shanghai,
            slow_ms: 5000,
            log_requests: false,
            name: "main".into(),
            times: TimeStyle::Mixed,
            drop_fields: Vec::new(),
            token_max_requests: None,
            max_page_size: 50,
            lockout_after: None,
        }
    }
}

/// A running simulator. Dropping it stops the server.
pub struct Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct Shared {
    opts: SimOptions,
    inner: Mutex<Inner>,
}

struct Collection {
    id: String,
    resource_type: String,
    resource_id: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    requested_at: DateTime<Utc>,
    started: Instant,
    polls: u32,
    fails: bool,
    /// Name -> content, made when the collection completes.
    files: Option<Vec<(String, Vec<u8>)>>,
}

/// The settings of [`SimOptions`] that may change while the simulator runs.
#[derive(Debug, Clone, Default)]
struct Modes {
    times: TimeStyle,
    drop_fields: Vec<String>,
    token_max_requests: Option<u64>,
    max_page_size: usize,
    lockout_after: Option<u32>,
}

impl Modes {
    fn from_opts(o: &SimOptions) -> Modes {
        Modes {
            times: o.times,
            drop_fields: o.drop_fields.clone(),
            token_max_requests: o.token_max_requests,
            max_page_size: o.max_page_size.max(1),
            // 0 would lock before any failure: read as no policy.
            lockout_after: o.lockout_after.filter(|n| *n >= 1),
        }
    }

    fn json(&self) -> Value {
        json!({
            "times": self.times.as_str(),
            "drop_fields": self.drop_fields,
            "token_max_requests": self.token_max_requests,
            "max_page_size": self.max_page_size,
            "lockout_after": self.lockout_after,
        })
    }
}

/// A token the console handed out.
#[derive(Debug, Clone, Copy, Default)]
struct Token {
    /// relogin-401: revoked at its first use.
    revoke_at_first_use: bool,
    /// API requests made with it.
    uses: u64,
}

/// The counters of `GET /sim/stats` ([`Sim::stats`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Requests to the console API (everything but `/sim/*`), logins included.
    pub requests: u64,
    /// Logins that returned a token.
    pub logins_ok: u64,
    /// Logins refused: bad credentials, and any attempt while the account is locked.
    pub logins_failed: u64,
    /// Of `logins_failed`, those refused because the account was locked.
    pub logins_refused_locked: u64,
    /// Failed logins in a row since the last good one (what the lockout counts).
    pub consecutive_failures: u64,
    /// Whether the account is locked now.
    pub locked: bool,
    /// Times the account was locked.
    pub lockouts: u64,
    /// API requests answered 401 (no, unknown, revoked or expired token).
    pub unauthorized: u64,
    /// Tokens that died after `token_max_requests` requests.
    pub tokens_expired: u64,
}

#[derive(Default)]
struct Inner {
    scenario: String,
    scenario_since: Option<DateTime<Utc>>,
    modes: Modes,
    stats: Stats,
    logins: u64,
    login_failures: u64,
    unauthorized: u64,
    requests: BTreeMap<String, u64>,
    tokens: HashMap<String, Token>,
    /// Set after a relogin-401 revocation: the next token is a good one.
    next_token_good: bool,
    batch_sync: Vec<Value>,
    storage_day: u64,
    collections: Vec<Collection>,
    seq: u64,
    last_scene: Option<String>,
    last_lang: Option<String>,
}

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    // A panic while holding the lock must not take the simulator down with it.
    shared.inner.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn is_scenario(name: &str) -> bool {
    all_scenarios().any(|(n, _)| *n == name)
}

fn unknown_scenario(name: &str) -> String {
    let names: Vec<&str> = all_scenarios().map(|(n, _)| *n).collect();
    format!("unknown scenario {name:?}; known: {}", names.join(", "))
}

impl Sim {
    /// Starts a simulator on `addr` (use port 0 for a free one) in `scenario`, with the
    /// default user `ops` / `sim-password` and console zone Asia/Shanghai.
    pub async fn start(addr: &str, scenario: &str) -> std::io::Result<Sim> {
        Sim::spawn(SimOptions {
            listen: addr.into(),
            scenario: scenario.into(),
            ..SimOptions::default()
        })
    }

    /// Starts a simulator on its own thread; returns once it listens.
    pub fn spawn(opts: SimOptions) -> std::io::Result<Sim> {
        if !is_scenario(&opts.scenario) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                unknown_scenario(&opts.scenario),
            ));
        }
        let std_listener = std::net::TcpListener::bind(&opts.listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                scenario: opts.scenario.clone(),
                scenario_since: Some(Utc::now()),
                modes: Modes::from_opts(&opts),
                ..Inner::default()
            }),
            opts,
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let thread = std::thread::Builder::new()
            .name("hyperbdr-sim".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("hyperbdr-sim: cannot start a runtime: {e}");
                        return;
                    }
                };
                rt.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(std_listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("hyperbdr-sim: {e}");
                            return;
                        }
                    };
                    let server = axum::serve(listener, app).with_graceful_shutdown(async {
                        let _ = rx.await;
                    });
                    if let Err(e) = server.await {
                        eprintln!("hyperbdr-sim: server error: {e}");
                    }
                });
                // Do not wait for requests still sleeping in the `slow` scenario.
                rt.shutdown_timeout(Duration::from_millis(100));
            })?;
        Ok(Sim {
            addr,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        })
    }

    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn username(&self) -> &str {
        &self.shared.opts.username
    }

    pub fn password(&self) -> &str {
        &self.shared.opts.password
    }

    /// The console's name (`SimOptions::name`).
    pub fn name(&self) -> &str {
        &self.shared.opts.name
    }

    /// The console's time zone.
    pub fn console_timezone(&self) -> Tz {
        self.shared.opts.console_timezone
    }

    /// The counters of `GET /sim/stats`.
    pub fn stats(&self) -> Stats {
        lock(&self.shared).stats.clone()
    }

    /// Unlocks the account and zeroes the counters of [`Sim::stats`] (`POST /sim/reset`).
    /// Tokens stay valid; [`Sim::logins`] and `/sim/state` keep counting.
    pub fn reset(&self) {
        reset(&self.shared);
    }

    /// Switches how time fields are written.
    pub fn set_times(&self, times: TimeStyle) {
        lock(&self.shared).modes.times = times;
    }

    /// Replaces the fields left out of every response.
    pub fn set_drop_fields(&self, fields: &[&str]) {
        lock(&self.shared).modes.drop_fields = fields.iter().map(|f| f.to_string()).collect();
    }

    /// Tokens answer 401 after `n` requests (None: never); applies to tokens in use too.
    pub fn set_token_max_requests(&self, n: Option<u64>) {
        lock(&self.shared).modes.token_max_requests = n;
    }

    /// Most items per page (at least 1).
    pub fn set_max_page_size(&self, n: usize) {
        lock(&self.shared).modes.max_page_size = n.max(1);
    }

    /// Lock the account after `n` failed logins in a row (None or 0: never).
    pub fn set_lockout_after(&self, n: Option<u32>) {
        lock(&self.shared).modes.lockout_after = n.filter(|n| *n >= 1);
    }

    /// Switches the scenario. Panics on an unknown name (a test mistake); see
    /// [`Sim::try_set_scenario`].
    pub fn set_scenario(&self, name: &str) {
        if let Err(e) = self.try_set_scenario(name) {
            panic!("{e}");
        }
    }

    pub fn try_set_scenario(&self, name: &str) -> Result<(), String> {
        set_scenario(&self.shared, name)
    }

    pub fn scenario(&self) -> String {
        lock(&self.shared).scenario.clone()
    }

    /// Successful logins so far.
    pub fn logins(&self) -> u64 {
        lock(&self.shared).logins
    }

    /// Requests received for `path` (without the query), `/sim/*` not counted.
    pub fn requests(&self, path: &str) -> u64 {
        lock(&self.shared).requests.get(path).copied().unwrap_or(0)
    }

    /// Bodies of the `POST /api/v2/batchSync` calls received.
    pub fn batch_sync_bodies(&self) -> Vec<Value> {
        lock(&self.shared).batch_sync.clone()
    }

    /// The same JSON as `GET /sim/state`.
    pub fn state(&self) -> Value {
        state_json(&self.shared)
    }

    /// Blocks until the server stops (used by `main`).
    pub fn wait(mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn reset(shared: &Shared) {
    let mut inner = lock(shared);
    inner.stats = Stats::default();
}

fn set_scenario(shared: &Shared, name: &str) -> Result<(), String> {
    if !is_scenario(name) {
        return Err(unknown_scenario(name));
    }
    let mut inner = lock(shared);
    inner.scenario = name.to_string();
    inner.scenario_since = Some(Utc::now());
    inner.storage_day = 0;
    inner.next_token_good = false;
    Ok(())
}

fn state_json(shared: &Shared) -> Value {
    let inner = lock(shared);
    json!({
        "scenario": inner.scenario,
        "logins": inner.logins,
        "login_failures": inner.login_failures,
        "unauthorized": inner.unauthorized,
        "requests": inner.requests,
        "batch_sync_calls": inner.batch_sync.len(),
        "batch_sync": inner.batch_sync,
        "log_collections": inner.collections.len(),
        "storage_day": inner.storage_day,
        "last_headers": {"x_scene": inner.last_scene, "x_lang": inner.last_lang},
    })
}

// ---------------------------------------------------------------------------------------
// HTTP plumbing

struct Reply {
    status: StatusCode,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
    body: Vec<u8>,
}

impl Reply {
    fn json(status: StatusCode, v: Value) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content_type: "application/json",
            body: v.to_string().into_bytes(),
        }
    }
}

fn trace_id(inner: &mut Inner) -> String {
    inner.seq += 1;
    format!("t-{:08x}", 0x5eed_0000_u64 + inner.seq)
}

fn ok(inner: &mut Inner, data: Value) -> Reply {
    let t = trace_id(inner);
    Reply::json(
        StatusCode::OK,
        json!({"code": "00000000", "data": data, "error": null, "title": "", "trace_id": t}),
    )
}

fn fail(inner: &mut Inner, status: StatusCode, code: &str, title: &str) -> Reply {
    let t = trace_id(inner);
    Reply::json(
        status,
        json!({"code": code, "data": null, "error": title, "title": title, "trace_id": t}),
    )
}

fn not_found() -> Reply {
    Reply::json(
        StatusCode::NOT_FOUND,
        json!({"faultstring": "The resource could not be found."}),
    )
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 4 << 20)
        .await
        .unwrap_or_default();
    let slow = lock(&shared).scenario == "slow" && !uri.path().starts_with("/sim/");
    if slow {
        tokio::time::sleep(Duration::from_millis(shared.opts.slow_ms)).await;
    }
    let mut reply = route(&shared, &method, &uri, &headers, &body);
    if !uri.path().starts_with("/sim/") {
        restyle(&shared, &mut reply);
    }
    if shared.opts.log_requests {
        eprintln!(
            "{} [{}] {} {} -> {}",
            Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
            shared.opts.name,
            method,
            uri,
            reply.status.as_u16()
        );
    }
    let mut resp = Response::new(Body::from(reply.body));
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(reply.content_type),
    );
    for (name, value) in reply.headers {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(name, v);
        }
    }
    resp
}

/// Writes the times of a JSON reply in the current style and leaves out the dropped fields
/// (configured ones and the scenario's own).
fn restyle(shared: &Shared, reply: &mut Reply) {
    let (style, mut drops) = {
        let inner = lock(shared);
        let scn = modes::scenario_drops(&inner.scenario);
        let drops: Vec<Vec<String>> = inner
            .modes
            .drop_fields
            .iter()
            .map(String::as_str)
            .chain(scn.iter().copied())
            .map(modes::split_drop)
            .collect();
        (inner.modes.times, drops)
    };
    drops.retain(|d| !d.is_empty());
    if (style == TimeStyle::Mixed && drops.is_empty()) || reply.content_type != "application/json" {
        return;
    }
    let Ok(mut v) = serde_json::from_slice::<Value>(&reply.body) else {
        return;
    };
    modes::apply(&mut v, style, shared.opts.console_timezone, &drops);
    reply.body = v.to_string().into_bytes();
}

fn query(uri: &Uri) -> HashMap<String, String> {
    axum::extract::Query::<HashMap<String, String>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// The business endpoints: (method, path).
fn known_endpoint(method: &Method, path: &str) -> bool {
    const GETS: &[&str] = &[
        "/api/v2/getHosts",
        "/api/v2/getHostDetail",
        "/api/v2/getTasks",
        "/hypermotion/v1/job/steps",
        "/api/v2/getStorages",
        "/api/v2/getCloudAccounts",
        "/api/v2/getLicenses",
        "/api/v2/om/modules",
        "/api/v2/om/alerts",
        "/api/v2/om/events",
        "/api/v2/om/tunnels",
        "/api/v2/om/network/throughput",
        "/api/v2/om/policies",
        "/api/v2/om/drills",
        "/api/v2/om/log-collections",
    ];
    if *method == Method::GET {
        GETS.contains(&path) || collection_path(path).is_some()
    } else if *method == Method::POST {
        path == "/api/v2/batchSync" || path == "/api/v2/om/log-collections"
    } else {
        false
    }
}

/// `/api/v2/om/log-collections/{id}` or `.../{id}/files/{name}`.
fn collection_path(path: &str) -> Option<(&str, Option<&str>)> {
    let rest = path.strip_prefix("/api/v2/om/log-collections/")?;
    match rest.split_once("/files/") {
        Some((id, name)) if !id.is_empty() && !name.is_empty() && !name.contains('/') => {
            Some((id, Some(name)))
        }
        Some(_) => None,
        None if !rest.is_empty() && !rest.contains('/') => Some((rest, None)),
        None => None,
    }
}

fn route(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Reply {
    let path = uri.path();
    if path.starts_with("/sim/") {
        return sim_control(shared, method, path, body);
    }
    let mut inner = lock(shared);
    *inner.requests.entry(path.to_string()).or_insert(0) += 1;
    inner.stats.requests += 1;
    let header = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if path == "/api/v2/loginNoImageCaptcha" {
        if *method != Method::POST {
            return Reply::json(
                StatusCode::METHOD_NOT_ALLOWED,
                json!({"faultstring": "method not allowed"}),
            );
        }
        return login(shared, &mut inner, body);
    }
    if !known_endpoint(method, path) {
        return not_found();
    }
    inner.last_scene = header("x-scene");
    inner.last_lang = header("x-lang");
    let token = header("x-auth-token").unwrap_or_default();
    let max_uses = inner.modes.token_max_requests;
    match inner.tokens.get(&token).copied() {
        None => {
            inner.unauthorized += 1;
            inner.stats.unauthorized += 1;
            return fail(
                &mut inner,
                StatusCode::UNAUTHORIZED,
                "10010401",
                "token is invalid or expired, please log in again",
            );
        }
        Some(t) if t.revoke_at_first_use => {
            // relogin-401: this token is revoked at its first use.
            inner.tokens.remove(&token);
            inner.unauthorized += 1;
            inner.stats.unauthorized += 1;
            inner.next_token_good = true;
            return fail(
                &mut inner,
                StatusCode::UNAUTHORIZED,
                "10010401",
                "token has been revoked",
            );
        }
        Some(t) if max_uses.is_some_and(|n| t.uses >= n) => {
            // The session ended: the request after the last allowed one is refused.
            inner.tokens.remove(&token);
            inner.unauthorized += 1;
            inner.stats.unauthorized += 1;
            inner.stats.tokens_expired += 1;
            return fail(
                &mut inner,
                StatusCode::UNAUTHORIZED,
                "10010401",
                "token is invalid or expired, please log in again",
            );
        }
        Some(_) => {
            if let Some(t) = inner.tokens.get_mut(&token) {
                t.uses += 1;
            }
        }
    }
    let scenario = inner.scenario.clone();
    match scenario.as_str() {
        "error-envelope" => {
            return Reply::json(
                StatusCode::OK,
                json!({"code": "10010001", "data": null, "error": "internal error",
                       "title": "internal error", "trace_id": "t-err-1"}),
            );
        }
        "http-500" => {
            let mut r = Reply::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"faultstring": "database unavailable"}),
            );
            r.headers
                .push(("server-error-message", "database unavailable".into()));
            return r;
        }
        _ => {}
    }
    let q = query(uri);
    let cap = inner.modes.max_page_size;
    let now = Utc::now();
    let w = World {
        scn: &scenario,
        now,
        tz: shared.opts.console_timezone,
    };
    match (method.clone(), path) {
        (Method::GET, "/api/v2/getHosts") => {
            let mut hosts = w.hosts();
            if let Some(kw) = q.get("kw").filter(|s| !s.is_empty()) {
                hosts.retain(|h| h["name"].as_str().is_some_and(|n| n.contains(kw.as_str())));
            }
            if let Some(ids) = q.get("ids").filter(|s| !s.is_empty()) {
                let ids: Vec<&str> = ids.split(',').collect();
                hosts.retain(|h| h["id"].as_str().is_some_and(|i| ids.contains(&i)));
            }
            let data = list(&q, cap, "hosts", hosts, &["status"]);
            ok(&mut inner, data)
        }
        (Method::GET, "/api/v2/getHostDetail") => {
            let id = q.get("host_id").cloned().unwrap_or_default();
            let Some(host) = w.hosts().into_iter().find(|h| h["id"] == id.as_str()) else {
                let msg = format!("host {id} not found");
                return fail(&mut inner, StatusCode::BAD_REQUEST, "10040004", &msg);
            };
            if q.get("sheet").map(String::as_str) == Some("snapshot") {
                let data = list(&q, cap, "snapshots", w.snapshots(&host), &["status"]);
                ok(&mut inner, data)
            } else {
                ok(&mut inner, host)
            }
        }
        (Method::GET, "/hypermotion/v1/job/steps") => {
            let id = q.get("task_id").cloned().unwrap_or_default();
            match w.tasks().into_iter().find(|t| t["id"] == id.as_str()) {
                Some(task) => {
                    let steps = w.steps(&task);
                    ok(&mut inner, json!({"steps": steps}))
                }
                None => {
                    let msg = format!("task {id} not found");
                    fail(&mut inner, StatusCode::BAD_REQUEST, "10040004", &msg)
                }
            }
        }
        (Method::POST, "/api/v2/batchSync") => batch_sync(&mut inner, &w, body),
        (Method::GET, "/api/v2/getStorages") => {
            let day = inner.storage_day;
            if scenario == "storage-trend" {
                inner.storage_day += 1;
            }
            let since = inner.scenario_since.unwrap_or(now);
            let data = list(&q, cap, "storages", w.storages(day, since), &["type"]);
            ok(&mut inner, data)
        }
        (Method::GET, "/api/v2/om/network/throughput") => {
            let from = q.get("from").and_then(|s| modes::parse_time(s, w.tz));
            let to = q.get("to").and_then(|s| modes::parse_time(s, w.tz));
            let series = w.throughput(from, to);
            match q.get("resource_id").filter(|s| !s.is_empty()) {
                None => ok(&mut inner, json!({"series": series})),
                Some(id) => match series.into_iter().find(|s| s["resource_id"] == id.as_str()) {
                    Some(s) => ok(&mut inner, s),
                    None => {
                        let msg = format!("no throughput samples for resource {id}");
                        fail(&mut inner, StatusCode::BAD_REQUEST, "10040004", &msg)
                    }
                },
            }
        }
        (Method::GET, "/api/v2/om/log-collections") => {
            let items = collections_json(&mut inner, &w, true);
            let data = paged(&q, cap, "log_collections", items);
            ok(&mut inner, data)
        }
        (Method::POST, "/api/v2/om/log-collections") => new_collection(&mut inner, &w, body),
        (Method::GET, p) if simple_list_key(p).is_some() => {
            let (key, items, filters) = simple_list(&w, p);
            let data = list(&q, cap, key, items, filters);
            ok(&mut inner, data)
        }
        (Method::GET, p) => match collection_path(p) {
            Some((id, None)) => {
                let id = id.to_string();
                let items = collections_json(&mut inner, &w, true);
                match items.into_iter().find(|c| c["id"] == id.as_str()) {
                    Some(c) => ok(&mut inner, c),
                    None => fail(
                        &mut inner,
                        StatusCode::BAD_REQUEST,
                        "10040004",
                        &format!("log collection {id} not found"),
                    ),
                }
            }
            Some((id, Some(name))) => collection_file(&mut inner, &w, id, name),
            None => not_found(),
        },
        _ => not_found(),
    }
}

fn sim_control(shared: &Shared, method: &Method, path: &str, body: &Bytes) -> Reply {
    match (method.clone(), path) {
        (Method::PUT | Method::POST, "/sim/scenario") => {
            let name = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
                v.get("scenario")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            });
            let Some(name) = name else {
                return Reply::json(
                    StatusCode::BAD_REQUEST,
                    json!({"error": "body must be {\"scenario\":\"NAME\"}"}),
                );
            };
            match set_scenario(shared, &name) {
                Ok(()) => Reply::json(StatusCode::OK, json!({"scenario": name})),
                Err(e) => Reply::json(StatusCode::BAD_REQUEST, json!({"error": e})),
            }
        }
        (Method::GET, "/sim/scenarios") => {
            let list: Vec<Value> = all_scenarios()
                .map(|(n, d)| json!({"name": n, "description": d}))
                .collect();
            Reply::json(StatusCode::OK, json!({"scenarios": list}))
        }
        (Method::GET, "/sim/state") => Reply::json(StatusCode::OK, state_json(shared)),
        (Method::GET, "/sim/stats") => Reply::json(StatusCode::OK, stats_json(shared)),
        (Method::POST, "/sim/reset") => {
            reset(shared);
            Reply::json(StatusCode::OK, stats_json(shared))
        }
        (Method::GET, "/sim/modes") => Reply::json(StatusCode::OK, lock(shared).modes.json()),
        (Method::PUT | Method::POST, "/sim/modes") => match set_modes(shared, body) {
            Ok(v) => Reply::json(StatusCode::OK, v),
            Err(e) => Reply::json(StatusCode::BAD_REQUEST, json!({"error": e})),
        },
        _ => not_found(),
    }
}

/// `GET /sim/stats`: the counters plus what this console is.
fn stats_json(shared: &Shared) -> Value {
    let inner = lock(shared);
    let mut v = serde_json::to_value(&inner.stats).unwrap_or_else(|_| json!({}));
    v["console"] = json!(shared.opts.name);
    v["scenario"] = json!(inner.scenario);
    v["console_timezone"] = json!(shared.opts.console_timezone.name());
    v["modes"] = inner.modes.json();
    v["requests_by_path"] = json!(inner.requests);
    v
}

/// `PUT /sim/modes` with any of `times`, `drop_fields`, `token_max_requests`,
/// `max_page_size`, `lockout_after` (null turns `token_max_requests` and `lockout_after`
/// off); answers the modes now in force. Keys not given keep their value.
fn set_modes(shared: &Shared, body: &Bytes) -> Result<Value, String> {
    let v = serde_json::from_slice::<Value>(body).map_err(|e| format!("body: {e}"))?;
    let obj = v.as_object().ok_or("body must be a JSON object")?;
    let mut m = lock(shared).modes.clone();
    for (k, val) in obj {
        match k.as_str() {
            "times" => {
                m.times = val
                    .as_str()
                    .ok_or("times must be mixed, utc or console")?
                    .parse()?;
            }
            "drop_fields" => {
                let list = val.as_array().ok_or("drop_fields must be a list")?;
                m.drop_fields = list
                    .iter()
                    .map(|f| f.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or("drop_fields must be a list of strings")?;
            }
            "token_max_requests" => {
                m.token_max_requests = match val {
                    Value::Null => None,
                    v => Some(v.as_u64().ok_or("token_max_requests must be a count")?),
                };
            }
            "max_page_size" => {
                let n = val.as_u64().filter(|n| *n >= 1);
                m.max_page_size = n.ok_or("max_page_size must be at least 1")? as usize;
            }
            "lockout_after" => {
                m.lockout_after = match val {
                    Value::Null => None,
                    v => Some(
                        v.as_u64()
                            .and_then(|n| u32::try_from(n).ok())
                            .filter(|n| *n >= 1)
                            .ok_or("lockout_after must be a count of at least 1")?,
                    ),
                };
            }
            other => return Err(format!("unknown mode {other:?}")),
        }
    }
    let json = m.json();
    lock(shared).modes = m;
    Ok(json)
}

fn login(shared: &Shared, inner: &mut Inner, body: &Bytes) -> Reply {
    let creds = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let user = creds.get("username").and_then(Value::as_str);
    let pass = creds.get("password").and_then(Value::as_str);
    if inner.stats.locked {
        inner.stats.logins_failed += 1;
        inner.stats.logins_refused_locked += 1;
        let msg = format!(
            "account {} is locked after too many failed logins; ask an administrator to unlock it",
            shared.opts.username
        );
        return fail(inner, StatusCode::OK, "10010006", &msg);
    }
    if user != Some(shared.opts.username.as_str()) || pass != Some(shared.opts.password.as_str()) {
        inner.login_failures += 1;
        inner.stats.logins_failed += 1;
        inner.stats.consecutive_failures += 1;
        if inner
            .modes
            .lockout_after
            .is_some_and(|n| inner.stats.consecutive_failures >= u64::from(n))
        {
            inner.stats.locked = true;
            inner.stats.lockouts += 1;
        }
        return fail(inner, StatusCode::OK, "10010001", "invalid credentials");
    }
    inner.logins += 1;
    inner.stats.logins_ok += 1;
    inner.stats.consecutive_failures = 0;
    let now = Utc::now().timestamp();
    let header = B64URL.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = B64URL.encode(
        json!({"uid": 7, "username": shared.opts.username, "roles": "admin", "ent_id": 1,
               "iat": now, "exp": now + 604_800, "jti": inner.logins})
        .to_string(),
    );
    let signature = B64URL.encode(format!("sim-signature-{}-{now}", inner.logins));
    let token = format!("{header}.{payload}.{signature}");
    let revoke = inner.scenario == "relogin-401" && !inner.next_token_good;
    inner.next_token_good = false;
    inner.tokens.insert(
        token.clone(),
        Token {
            revoke_at_first_use: revoke,
            uses: 0,
        },
    );
    let refresh = B64URL.encode(format!("refresh-{}-{now}", inner.logins));
    ok(
        inner,
        json!({"token": token, "refresh_token": refresh, "roles": "admin"}),
    )
}

fn batch_sync(inner: &mut Inner, w: &World<'_>, body: &Bytes) -> Reply {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return fail(
            inner,
            StatusCode::BAD_REQUEST,
            "10040001",
            "request body is not JSON",
        );
    };
    let Some(items) = v.get("batch_sync").and_then(Value::as_array) else {
        return fail(
            inner,
            StatusCode::BAD_REQUEST,
            "10040001",
            "batch_sync is required",
        );
    };
    let hosts = w.hosts();
    let mut started = Vec::new();
    for item in items {
        let id = item
            .get("migration_id")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !hosts.iter().any(|h| h["id"] == id) {
            return fail(
                inner,
                StatusCode::BAD_REQUEST,
                "10040004",
                &format!("host {id} not found"),
            );
        }
        started.push(
            json!({"migration_id": id, "task_id": format!("t-r{}", inner.batch_sync.len() + 1)}),
        );
    }
    inner.batch_sync.push(v.clone());
    ok(inner, json!({"batch_sync": started}))
}

fn paged(q: &HashMap<String, String>, cap: usize, key: &str, items: Vec<Value>) -> Value {
    let total = items.len();
    let page = q
        .get("page")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(1);
    let size = q
        .get("page_size")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n >= 1)
        .unwrap_or(20)
        .min(cap.max(1));
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    let mut m = serde_json::Map::new();
    m.insert("total".into(), json!(total));
    m.insert(key.into(), Value::Array(slice));
    Value::Object(m)
}

/// The list endpoints without special handling: their array key and the query parameters
/// that filter on the item field of the same name.
fn simple_list_key(path: &str) -> Option<(&'static str, &'static [&'static str])> {
    Some(match path {
        "/api/v2/getTasks" => ("tasks", &["source_id", "status"]),
        "/api/v2/getCloudAccounts" => ("cloud_accounts", &["storage_type"]),
        "/api/v2/getLicenses" => ("licenses", &[]),
        "/api/v2/om/modules" => ("modules", &["kind"]),
        "/api/v2/om/alerts" => ("alerts", &["status", "severity"]),
        "/api/v2/om/events" => ("events", &["result"]),
        "/api/v2/om/tunnels" => ("tunnels", &[]),
        "/api/v2/om/policies" => ("policies", &[]),
        "/api/v2/om/drills" => ("drills", &["host_id"]),
        _ => return None,
    })
}

fn simple_list(w: &World<'_>, path: &str) -> (&'static str, Vec<Value>, &'static [&'static str]) {
    let Some((key, filters)) = simple_list_key(path) else {
        return ("items", Vec::new(), &[]);
    };
    let items = match key {
        "tasks" => w.tasks(),
        "cloud_accounts" => w.cloud_accounts(),
        "licenses" => w.licenses(),
        "modules" => w.modules(),
        "alerts" => w.alerts(),
        "events" => w.events(),
        "tunnels" => w.tunnels(),
        "policies" => w.policies(),
        _ => w.drills(),
    };
    (key, items, filters)
}

/// `items` filtered by the query parameters named in `filters`, then one page of them.
fn list(
    q: &HashMap<String, String>,
    cap: usize,
    key: &str,
    mut items: Vec<Value>,
    filters: &[&str],
) -> Value {
    for f in filters {
        if let Some(want) = q.get(*f).filter(|s| !s.is_empty()) {
            items.retain(|i| i[*f] == want.as_str());
        }
    }
    paged(q, cap, key, items)
}

fn parse_rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

// ---------------------------------------------------------------------------------------
// Log collections

const RESOURCE_TYPES: &[&str] = &[
    "console",
    "sync_proxy",
    "linux_host",
    "windows_host",
    "cloud_sync_gateway",
];

fn collectable(w: &World<'_>, resource_type: &str, id: &str) -> Option<String> {
    // (resource id, name) pairs per type.
    let rows: Vec<(String, String)> = match resource_type {
        "console" => vec![("console-1".into(), "hyperbdr-console".into())],
        "sync_proxy" => vec![("proxy-1".into(), "ubuntu-ova".into())],
        "cloud_sync_gateway" => vec![("gw-1".into(), "hypergate-01".into())],
        "linux_host" | "windows_host" => {
            let os = if resource_type == "linux_host" {
                "linux"
            } else {
                "windows"
            };
            w.hosts()
                .iter()
                .filter(|h| h["os_type"] == os)
                .map(|h| (s(&h["id"]), s(&h["name"])))
                .collect()
        }
        _ => vec![],
    };
    rows.into_iter().find(|(i, _)| i == id).map(|(_, n)| n)
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

fn new_collection(inner: &mut Inner, w: &World<'_>, body: &Bytes) -> Reply {
    let v = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let rt = v.get("resource_type").and_then(Value::as_str).unwrap_or("");
    let rid = v.get("resource_id").and_then(Value::as_str).unwrap_or("");
    if !RESOURCE_TYPES.contains(&rt) {
        return fail(
            inner,
            StatusCode::BAD_REQUEST,
            "10040001",
            &format!("resource_type must be one of {}", RESOURCE_TYPES.join(", ")),
        );
    }
    if collectable(w, rt, rid).is_none() {
        return fail(
            inner,
            StatusCode::BAD_REQUEST,
            "10040004",
            &format!("{rt} {rid:?} not found"),
        );
    }
    let offline = (w.scn == "log-host-offline" && rt == "windows_host")
        || (w.scn == "proxy-offline" && rt == "sync_proxy");
    if offline {
        return fail(
            inner,
            StatusCode::BAD_REQUEST,
            "10040002",
            "offline hosts cannot collect logs",
        );
    }
    let time = |k: &str| -> Result<Option<DateTime<Utc>>, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(t)) => modes::parse_time(t, w.tz)
                .map(Some)
                .ok_or_else(|| format!("{k} must be an RFC 3339 time, got {t:?}")),
            Some(other) => Err(format!("{k} must be an RFC 3339 time, got {other}")),
        }
    };
    let (from, to) = match (time("from"), time("to")) {
        (Ok(f), Ok(t)) => (
            f.unwrap_or(w.now - CDuration::hours(24)),
            t.unwrap_or(w.now),
        ),
        (Err(e), _) | (_, Err(e)) => {
            return fail(inner, StatusCode::BAD_REQUEST, "10040001", &e);
        }
    };
    if from >= to {
        return fail(
            inner,
            StatusCode::BAD_REQUEST,
            "10040001",
            "from must be before to",
        );
    }
    let id = format!("lc-{}", inner.collections.len() + 1);
    inner.collections.push(Collection {
        id: id.clone(),
        resource_type: rt.into(),
        resource_id: rid.into(),
        from,
        to,
        requested_at: w.now,
        started: Instant::now(),
        polls: 0,
        fails: w.scn == "log-collection-failed",
        files: None,
    });
    ok(inner, json!({"id": id, "status": "collecting"}))
}

fn collections_json(inner: &mut Inner, w: &World<'_>, poll: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for c in inner.collections.iter_mut().rev() {
        if poll {
            c.polls += 1;
        }
        let done = c.polls > 2 || c.started.elapsed() >= Duration::from_secs(1);
        let completed_at = c.requested_at + CDuration::seconds(1);
        let mut item = json!({
            "id": c.id,
            "resource_type": c.resource_type,
            "resource_id": c.resource_id,
            "resource_name": collectable(w, &c.resource_type, &c.resource_id),
            "host_status": "online",
            "from": rfc(c.from),
            "to": rfc(c.to),
            "requested_at": rfc(c.requested_at),
            "status": "collecting",
            "files": [],
            "completed_at": null,
        });
        if done && c.fails {
            item["status"] = json!("failed");
            item["error"] = json!(format!(
                "collector on {} did not answer within 600 s",
                c.resource_id
            ));
            item["completed_at"] = json!(rfc(completed_at));
        } else if done {
            let files = c.files.get_or_insert_with(|| {
                log_files(w, &c.resource_type, &c.resource_id, c.from, c.to)
            });
            item["status"] = json!("available");
            item["completed_at"] = json!(rfc(completed_at));
            item["files"] = Value::Array(
                files
                    .iter()
                    .map(|(name, bytes)| {
                        json!({"name": name, "size_bytes": bytes.len(),
                               "url": format!("/api/v2/om/log-collections/{}/files/{name}", c.id)})
                    })
                    .collect(),
            );
        }
        out.push(item);
    }
    out
}

fn collection_file(inner: &mut Inner, w: &World<'_>, id: &str, name: &str) -> Reply {
    // Reading the list also completes collections that are due.
    collections_json(inner, w, false);
    let Some(c) = inner.collections.iter().find(|c| c.id == id) else {
        return fail(
            inner,
            StatusCode::BAD_REQUEST,
            "10040004",
            &format!("log collection {id} not found"),
        );
    };
    let Some(files) = &c.files else {
        let msg = format!("log collection {id} is not available");
        return fail(inner, StatusCode::CONFLICT, "10040009", &msg);
    };
    match files.iter().find(|(n, _)| n == name) {
        Some((_, bytes)) => Reply {
            status: StatusCode::OK,
            headers: vec![(
                "content-disposition",
                format!("attachment; filename=\"{name}\""),
            )],
            content_type: "application/octet-stream",
            body: bytes.clone(),
        },
        None => {
            let msg = format!("log collection {id} has no file {name}");
            fail(inner, StatusCode::BAD_REQUEST, "10040004", &msg)
        }
    }
}

fn log_files(
    w: &World<'_>,
    resource_type: &str,
    resource_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<(String, Vec<u8>)> {
    let day = to.with_timezone(&w.tz).format("%Y%m%d").to_string();
    let names: Vec<(String, &str)> = match resource_type {
        "console" => vec![
            ("porter.log".into(), "porter"),
            ("owl.log".into(), "owl"),
            ("oneway.log".into(), "oneway"),
        ],
        "sync_proxy" => vec![
            ("hamal-period.log".into(), "hamal.period"),
            ("hamal-period-subprocess.log".into(), "hamal.subprocess"),
        ],
        "linux_host" => vec![
            ("agent-syncer.log".into(), "agent-syncer"),
            ("linux_agent.log".into(), "linux_agent"),
        ],
        "windows_host" => vec![("DiskSync-Agent.log".into(), "DiskSync")],
        _ => vec![
            (format!("s3block_{day}.log"), "s3block"),
            (format!("watchman_{day}.log"), "watchman"),
        ],
    };
    let failure = w.failure();
    names
        .into_iter()
        .map(|(name, component)| {
            let mut text = String::new();
            // One line every 10 minutes over the range, at most 600 lines.
            let span = (to - from).num_seconds().max(1);
            let step = (span / 600).max(600);
            let mut t = from;
            let mut i = 0u64;
            while t <= to {
                let stamp = t.with_timezone(&w.tz).format("%Y-%m-%d %H:%M:%S");
                let ms = (i * 137) % 1000;
                let line = if i % 17 == 5 {
                    format!("{stamp},{ms:03} WARNING [{component}] heartbeat to console took 2.3 s (resource {resource_id})")
                } else {
                    format!("{stamp},{ms:03} INFO [{component}] sync round {i} finished: 0 errors (resource {resource_id})")
                };
                text.push_str(&line);
                text.push('\n');
                t += CDuration::seconds(step);
                i += 1;
            }
            if let Some(f) = &failure {
                let stamp = to.with_timezone(&w.tz).format("%Y-%m-%d %H:%M:%S");
                text.push_str(&format!(
                    "{stamp},000 ERROR [{component}] task t-990 host h-002: {}\n",
                    f.message
                ));
            }
            (name, text.into_bytes())
        })
        .collect()
}
