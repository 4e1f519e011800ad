//! The daemon's HTTP server (axum): the status page, the JSON API, `/metrics`, `/healthz`
//! and the heartbeat receiver (`/ping/...`).
//!
//! Everything is read-only without a token. Changes (silences, manual runs) need
//! `Authorization: Bearer TOKEN` with the root `web.token`; without a configured token they
//! are refused. Heartbeat pings are changes too and need the token, unless
//! `web.pings_need_token: false` (a job pings with a plain URL, as with healthchecks.io).
//! Pages and API show only what the store
//! holds, which is redacted when it is written, and pass it through the redactor once more.
//!
//! Manual runs and heartbeat evaluations are not run here: they are sent to the daemon's
//! loop ([`RunRequest`]), which keeps its rules (one run per check at a time, concurrency).

mod api;
mod assets;
mod auth;
mod chart;
pub mod heartbeat;
mod metrics;
mod pages;
mod reject;
mod serve;
mod view;

pub use serve::ConnStats;

use crate::app::App;
use crate::store::{Store, Trigger};
use axum::Router;
use axum::routing::{get, post};
use chrono::{DateTime, Utc};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use tokio::sync::{mpsc, oneshot, watch};

/// The largest request body taken (a ping's output, a silence).
pub(crate) const MAX_BODY_BYTES: usize = 1 << 20;

/// The daemon's answer to a [`RunRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunReply {
    /// The run is queued (it starts when a concurrency slot is free).
    Queued,
    /// A run of this check is going on; another one follows it.
    Busy,
    /// No enabled check has this id.
    Unknown,
}

/// "Run this check now", from the API or the heartbeat receiver to the daemon loop.
#[derive(Debug)]
pub struct RunRequest {
    pub check_id: String,
    pub trigger: Trigger,
    pub reply: Option<oneshot::Sender<RunReply>>,
}

/// Figures the daemon loop keeps for `/metrics` and `/healthz`.
#[derive(Debug)]
pub struct SchedulerStats {
    started_at: DateTime<Utc>,
    /// Unix ms of the loop's latest wake-up.
    last_tick_ms: AtomicI64,
    /// Fire time → start, of the latest scheduled run, in ms.
    lag_ms: AtomicI64,
    skipped: AtomicU64,
}

impl Default for SchedulerStats {
    fn default() -> Self {
        let now = Utc::now();
        SchedulerStats {
            started_at: now,
            last_tick_ms: AtomicI64::new(now.timestamp_millis()),
            lag_ms: AtomicI64::new(0),
            skipped: AtomicU64::new(0),
        }
    }
}

impl SchedulerStats {
    /// The loop woke up.
    pub fn tick(&self) {
        self.last_tick_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
    }
    /// A scheduled run was started `lag` after its fire time.
    pub fn lag(&self, lag: chrono::Duration) {
        self.lag_ms
            .store(lag.num_milliseconds().max(0), Ordering::Relaxed);
    }
    /// An occurrence was skipped because the previous run was still going.
    pub fn skipped(&self) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
    }
    fn last_tick(&self) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(self.last_tick_ms.load(Ordering::Relaxed))
            .unwrap_or(self.started_at)
    }
}

/// What every handler sees.
#[derive(Clone)]
pub(crate) struct Shared {
    app: watch::Receiver<Arc<App>>,
    store: Arc<Store>,
    runs: mpsc::UnboundedSender<RunRequest>,
    stats: Arc<SchedulerStats>,
    /// Wakes the heartbeat evaluator after a ping.
    pinged: Arc<tokio::sync::Notify>,
    /// The web server's connection figures.
    conns: Arc<ConnStats>,
}

impl Shared {
    fn app(&self) -> Arc<App> {
        self.app.borrow().clone()
    }

    /// Asks the daemon to run a check; None when the daemon is gone.
    async fn request_run(&self, check_id: &str, trigger: Trigger) -> Option<RunReply> {
        let (tx, rx) = oneshot::channel();
        self.runs
            .send(RunRequest {
                check_id: check_id.to_string(),
                trigger,
                reply: Some(tx),
            })
            .ok()?;
        rx.await.ok()
    }

    /// Runs blocking store work off the async workers.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> T + Send + 'static,
    ) -> Result<T, tokio::task::JoinError> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store)).await
    }
}

/// The running server; [`WebServer::stop`] ends it.
pub struct WebServer {
    stop: Option<oneshot::Sender<()>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl WebServer {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        for t in self.tasks.drain(..) {
            t.abort();
            let _ = t.await;
        }
    }
}

/// Starts the heartbeat evaluator and (unless `web.enabled` is false) the HTTP server.
/// A port that cannot be bound is logged at ERROR; the daemon keeps running its checks.
pub async fn start(
    app: watch::Receiver<Arc<App>>,
    store: Arc<Store>,
    runs: mpsc::UnboundedSender<RunRequest>,
    stats: Arc<SchedulerStats>,
) -> WebServer {
    let shared = Shared {
        app,
        store,
        runs,
        stats,
        pinged: Arc::new(tokio::sync::Notify::new()),
        conns: Arc::new(ConnStats::default()),
    };
    let mut tasks = vec![tokio::spawn(heartbeat::evaluate_loop(shared.clone()))];
    let cfg = shared.app().config.root.web.clone();
    if !cfg.enabled {
        return WebServer { stop: None, tasks };
    }
    let listener = match tokio::net::TcpListener::bind(&cfg.listen).await {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(
                listen = %cfg.listen,
                "status page, API and pings not served: cannot listen: {e}"
            );
            return WebServer { stop: None, tasks };
        }
    };
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| cfg.listen.clone());
    let open_files = crate::service::open_file_limit();
    let limits = serve::Limits {
        max_connections: serve::effective_cap(cfg.max_connections, open_files),
        header_timeout: cfg.header_timeout.as_duration(),
        idle_timeout: cfg.idle_timeout.as_duration(),
    };
    if limits.max_connections < cfg.max_connections {
        tracing::warn!(
            max_connections = cfg.max_connections,
            open_file_limit = open_files,
            using = limits.max_connections,
            "web.max_connections lowered to a quarter of the open-file limit, so that checks keep the rest"
        );
    }
    tracing::info!(
        address = %addr,
        max_connections = limits.max_connections,
        "web server listening (status page, API, metrics, pings)"
    );
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let conns = shared.conns.clone();
    let app = router(shared);
    tasks.push(tokio::spawn(serve::serve(
        listener, app, limits, conns, stop_rx,
    )));
    WebServer {
        stop: Some(stop_tx),
        tasks,
    }
}

/// Serves the status page, API and metrics of a store on a listener the caller bound, with
/// no daemon behind it (`patrol demo`): nothing runs on a schedule, and manual runs and
/// heartbeat pings are answered as with a daemon that has stopped.
pub fn serve(listener: tokio::net::TcpListener, app: Arc<App>, store: Arc<Store>) -> WebServer {
    // The receiving ends are dropped: a run request finds no daemon.
    let (runs, _) = mpsc::unbounded_channel();
    let (_, app) = watch::channel(app);
    let shared = Shared {
        app,
        store,
        runs,
        stats: Arc::new(SchedulerStats::default()),
        pinged: Arc::new(tokio::sync::Notify::new()),
        conns: Arc::new(ConnStats::default()),
    };
    // The same limits as the daemon's server (header and idle timeouts, connection cap).
    let cfg = shared.app().config.root.web.clone();
    let limits = serve::Limits {
        max_connections: serve::effective_cap(
            cfg.max_connections,
            crate::service::open_file_limit(),
        ),
        header_timeout: cfg.header_timeout.as_duration(),
        idle_timeout: cfg.idle_timeout.as_duration(),
    };
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let conns = shared.conns.clone();
    let app = router(shared);
    let task = tokio::spawn(serve::serve(listener, app, limits, conns, stop_rx));
    WebServer {
        stop: Some(stop_tx),
        tasks: vec![task],
    }
}

fn router(shared: Shared) -> Router {
    Router::new()
        .route("/", get(pages::status_page))
        .route("/checks/{id}", get(pages::check_page))
        .route("/assets/style.css", get(assets::style))
        .route("/favicon.svg", get(assets::favicon))
        .route("/healthz", get(metrics::healthz))
        .route("/metrics", get(metrics::metrics))
        .route("/api/v1/checks", get(api::checks))
        .route("/api/v1/checks/{id}", get(api::check))
        .route("/api/v1/checks/{id}/runs", get(api::runs))
        .route("/api/v1/checks/{id}/run", post(api::run_now))
        .route("/api/v1/alerts", get(api::alerts))
        .route(
            "/api/v1/silences",
            get(api::silences).post(api::add_silence),
        )
        .route(
            "/api/v1/silences/{id}",
            axum::routing::delete(api::remove_silence),
        )
        .route("/ping/{id}", get(heartbeat::ping).post(heartbeat::ping))
        .route(
            "/ping/{id}/{what}",
            get(heartbeat::ping_what).post(heartbeat::ping_what),
        )
        .fallback(reject::not_found)
        .method_not_allowed_fallback(reject::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            pages::with_store_status,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(shared)
}
