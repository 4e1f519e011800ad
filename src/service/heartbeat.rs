//! `self_heartbeat`: the daemon calls a URL after every scheduler cycle whose due checks have
//! all finished, so that a receiver (healthchecks-style dead man's switch, or another
//! patrol) notices when patrol stops.
//!
//! The calls are made by a task of their own, fed by an unbounded queue: the scheduler only
//! queues a beat and goes on, so a slow or unreachable receiver never delays a check. A failed
//! call (connection error, timeout, non-2xx answer) is logged at WARN and retried after
//! `retry_delay`, doubling, up to `retries` times; a retry still waiting when a newer cycle's
//! beat arrives is dropped in favour of the newer beat (a late "I was alive" is worth less
//! than a current one).

use crate::app::App;
use crate::config::{HeartbeatMethod, SelfHeartbeat};
use crate::tls::TlsOptions;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// One finished scheduler cycle, as the receiver sees it (the POST body).
#[derive(Debug, Clone, Serialize)]
pub struct Beat {
    /// Always `patrol`.
    pub service: &'static str,
    /// The host the daemon runs on.
    pub host: String,
    /// The fire time of the cycle (the due time of its checks), RFC 3339 UTC.
    pub due: DateTime<Utc>,
    /// When its last check finished.
    pub finished_at: DateTime<Utc>,
    /// How many checks the cycle ran.
    pub checks: usize,
    /// How many of them were not OK.
    pub not_ok: usize,
    /// When this daemon started.
    pub daemon_started_at: DateTime<Utc>,
}

/// Queues beats for the sender task.
#[derive(Debug, Clone)]
pub struct Heartbeats {
    tx: mpsc::UnboundedSender<Beat>,
}

impl Heartbeats {
    /// Starts the sender task; it follows configuration reloads through `app`.
    pub fn start(app: watch::Receiver<Arc<App>>) -> Heartbeats {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(sender(rx, app));
        Heartbeats { tx }
    }

    /// Queues one beat; never waits.
    pub fn beat(&self, beat: Beat) {
        let _ = self.tx.send(beat);
    }
}

async fn sender(mut rx: mpsc::UnboundedReceiver<Beat>, app: watch::Receiver<Arc<App>>) {
    crate::tls::ensure_crypto_provider();
    // The same trust as every other client of patrol: the system's roots.
    let tls = match TlsOptions::default().client_config(&[b"h2", b"http/1.1"]) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!("self_heartbeat: cannot set up TLS: {e}");
            return;
        }
    };
    let client = match reqwest::Client::builder()
        .user_agent(concat!("patrol/", env!("CARGO_PKG_VERSION")))
        .tls_backend_preconfigured(tls.config)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("self_heartbeat: cannot build the HTTP client: {e}");
            return;
        }
    };
    let mut next: Option<Beat> = None;
    loop {
        let beat = match next.take() {
            Some(b) => b,
            None => match rx.recv().await {
                Some(b) => b,
                None => return,
            },
        };
        let Some(cfg) = app.borrow().config.root.self_heartbeat.clone() else {
            continue;
        };
        let mut delay = cfg.retry_delay.as_duration();
        let mut attempt = 0u32;
        loop {
            match call(&client, &cfg, &beat).await {
                Ok(code) => {
                    tracing::debug!(status = code, due = %beat.due, "self_heartbeat sent");
                    break;
                }
                Err(e) => {
                    attempt += 1;
                    if attempt > cfg.retries {
                        tracing::warn!(
                            attempts = attempt,
                            "self_heartbeat failed, giving up on this beat: {e}"
                        );
                        break;
                    }
                    tracing::warn!(attempt, retry_in = ?delay, "self_heartbeat failed: {e}");
                    // A newer beat supersedes the retry.
                    tokio::select! {
                        b = rx.recv() => match b {
                            Some(b) => { next = Some(b); break; }
                            None => return,
                        },
                        _ = tokio::time::sleep(delay) => {}
                    }
                    delay = (delay * 2).min(Duration::from_secs(600));
                }
            }
        }
    }
}

/// One call; the HTTP status on a 2xx answer.
async fn call(client: &reqwest::Client, cfg: &SelfHeartbeat, beat: &Beat) -> Result<u16, String> {
    let url = cfg.url.value();
    let req = match cfg.method {
        HeartbeatMethod::Post => client.post(url).json(beat),
        HeartbeatMethod::Get => client.get(url),
        HeartbeatMethod::Head => client.head(url),
    };
    // The URL may hold a secret token: errors name the masked form only.
    let shown = cfg.url.display().to_string();
    let mask = |e: reqwest::Error| {
        let text = e.without_url().to_string();
        format!("{shown}: {text}")
    };
    let resp = req
        .timeout(cfg.timeout.as_duration())
        .send()
        .await
        .map_err(mask)?;
    let status = resp.status();
    if status.is_success() {
        Ok(status.as_u16())
    } else {
        Err(format!("{shown}: the receiver answered {status}"))
    }
}
