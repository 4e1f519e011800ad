//! The delivery worker: sends what the outbox holds, one message per channel for the alerts
//! produced within the grouping window, retries transient failures with exponential backoff
//! (or the receiver's Retry-After), gives up after `max_age`, and marks permanent failures.
//! Rows are only marked after the channel answered, so a crash mid-send retries the same
//! event (same event id) rather than losing it.

use super::channel::{Channel, DeliveryError};
use super::event::AlertEvent;
use crate::store::{OutboxRow, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// How the worker paces itself.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// Alerts for one channel produced within this window go out as one message.
    pub group_window: Duration,
    /// A notification still failing after this long is marked failed.
    pub max_age: Duration,
    /// First retry delay; doubles with every attempt up to `max_backoff`.
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// Most alerts in one message.
    pub max_group: usize,
    /// Longest a single send may take.
    pub send_timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            group_window: Duration::from_secs(30),
            max_age: Duration::from_secs(24 * 3600),
            first_backoff: Duration::from_secs(10),
            max_backoff: Duration::from_secs(15 * 60),
            max_group: 50,
            send_timeout: Duration::from_secs(60),
        }
    }
}

impl DeliveryOptions {
    /// The options a root configuration asks for.
    pub fn from_config(root: &crate::config::RootConfig) -> DeliveryOptions {
        DeliveryOptions {
            group_window: root.group_window.as_duration(),
            max_age: root.delivery.max_age.as_duration(),
            first_backoff: root.delivery.first_backoff.as_duration(),
            max_backoff: root.delivery.max_backoff.as_duration(),
            send_timeout: root.delivery.timeout.as_duration(),
            ..DeliveryOptions::default()
        }
    }
}

/// What one pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PassReport {
    pub sent: usize,
    pub retried: usize,
    pub failed: usize,
}

type Channels = HashMap<String, Arc<dyn Channel>>;

pub struct Deliverer {
    store: Arc<Store>,
    // Replaced on reload; a pass works on the map it started with.
    channels: std::sync::RwLock<Arc<Channels>>,
    opts: std::sync::RwLock<DeliveryOptions>,
}

impl Deliverer {
    pub fn new(store: Arc<Store>, channels: Channels, opts: DeliveryOptions) -> Self {
        Deliverer {
            store,
            channels: std::sync::RwLock::new(Arc::new(channels)),
            opts: std::sync::RwLock::new(opts),
        }
    }

    /// Uses a reloaded configuration's channels and options from the next pass on.
    pub fn reconfigure(&self, channels: Channels, opts: DeliveryOptions) {
        *self
            .channels
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(channels);
        *self
            .opts
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = opts;
    }

    fn options(&self) -> DeliveryOptions {
        self.opts
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Sends every due group once. Nothing is sent while the store cannot be written: a
    /// delivery it cannot record would be sent again and again.
    pub async fn deliver_due(&self, now: DateTime<Utc>) -> Result<PassReport, StoreError> {
        if self.store.is_faulted() {
            return Ok(PassReport::default());
        }
        let rows = self.store.due_outbox(now, 1000)?;
        let mut by_channel: BTreeMap<String, Vec<OutboxRow>> = BTreeMap::new();
        for row in rows {
            by_channel.entry(row.channel.clone()).or_default().push(row);
        }
        let opts = self.options();
        let channels = self
            .channels
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        let window = chrono::Duration::from_std(opts.group_window).unwrap_or_default();
        let mut report = PassReport::default();
        for (name, rows) in by_channel {
            // First attempts wait until the window since the oldest alert has passed, so
            // that alerts produced together go out together.
            let eligible: Vec<OutboxRow> = rows
                .into_iter()
                .filter(|r| r.attempts > 0 || r.created_at + window <= now)
                .collect();
            for group in eligible.chunks(opts.max_group.max(1)) {
                self.deliver_group(&channels, &opts, &name, group, now, &mut report)
                    .await?;
            }
        }
        Ok(report)
    }

    async fn deliver_group(
        &self,
        channels: &Channels,
        opts: &DeliveryOptions,
        name: &str,
        group: &[OutboxRow],
        now: DateTime<Utc>,
        report: &mut PassReport,
    ) -> Result<(), StoreError> {
        let ids: Vec<i64> = group.iter().map(|r| r.id).collect();
        let Some(channel) = channels.get(name) else {
            self.store
                .mark_failed(&ids, &format!("channel `{name}` is not configured"))?;
            report.failed += ids.len();
            return Ok(());
        };
        let mut events = Vec::with_capacity(group.len());
        for row in group {
            match serde_json::from_value::<AlertEvent>(row.event.clone()) {
                Ok(e) => events.push(e),
                Err(e) => {
                    self.store
                        .mark_failed(&[row.id], &format!("unreadable event: {e}"))?;
                    report.failed += 1;
                }
            }
        }
        let ids: Vec<i64> = group
            .iter()
            .filter(|r| events.iter().any(|e| e.event_id == r.event_id))
            .map(|r| r.id)
            .collect();
        if events.is_empty() {
            return Ok(());
        }
        let result = match tokio::time::timeout(opts.send_timeout, channel.send(&events)).await {
            Ok(r) => r,
            Err(_) => Err(DeliveryError::Transient {
                message: format!("no answer within {}s", opts.send_timeout.as_secs()),
                retry_after: None,
            }),
        };
        let delivery_id = group_id(&events);
        match result {
            Ok(receipt) => {
                tracing::info!(channel = name, alerts = ids.len(), response = %receipt.response, "delivered");
                self.store
                    .mark_sent(&ids, &delivery_id, &receipt.response, Utc::now())?;
                report.sent += ids.len();
            }
            Err(DeliveryError::Permanent { message }) => {
                tracing::error!(channel = name, alerts = ids.len(), error = %message, "delivery failed permanently");
                self.store.mark_failed(&ids, &message)?;
                report.failed += ids.len();
            }
            Err(DeliveryError::Transient {
                message,
                retry_after,
            }) => {
                let oldest = group.iter().map(|r| r.created_at).min().unwrap_or(now);
                let age = (now - oldest).to_std().unwrap_or_default();
                let attempts = group.iter().map(|r| r.attempts).max().unwrap_or(0);
                if age >= opts.max_age {
                    let msg = format!(
                        "gave up after {} attempts over {}: {message}",
                        attempts + 1,
                        humantime::format_duration(Duration::from_secs(age.as_secs()))
                    );
                    tracing::error!(channel = name, alerts = ids.len(), error = %msg, "delivery abandoned");
                    self.store.mark_failed(&ids, &msg)?;
                    report.failed += ids.len();
                } else {
                    let delay = backoff(opts, attempts, retry_after);
                    tracing::warn!(channel = name, alerts = ids.len(), error = %message,
                        retry_in = %humantime::format_duration(delay), "delivery failed; will retry");
                    let next = now + chrono::Duration::from_std(delay).unwrap_or_default();
                    self.store.mark_retry(&ids, &message, next)?;
                    report.retried += ids.len();
                }
            }
        }
        Ok(())
    }

    /// Delivers until `shutdown` resolves, waking at least every second.
    pub async fn run(&self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        loop {
            if *shutdown.borrow() {
                return;
            }
            if let Err(e) = self.deliver_due(Utc::now()).await {
                tracing::error!(error = %e, "outbox pass failed");
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// The delay before attempt `attempts + 1`: doubling from `first_backoff`, capped, or the
/// receiver's wish when it said (capped at one hour).
pub fn backoff(opts: &DeliveryOptions, attempts: u32, retry_after: Option<Duration>) -> Duration {
    if let Some(r) = retry_after {
        return r.min(Duration::from_secs(3600));
    }
    let factor = 2u32.saturating_pow(attempts.min(20));
    opts.first_backoff
        .saturating_mul(factor)
        .min(opts.max_backoff)
}

/// A stable id for a group of events (reused when the same group is retried).
pub fn group_id(events: &[AlertEvent]) -> String {
    if let [one] = events {
        return one.event_id.clone();
    }
    let mut ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    ids.sort_unstable();
    format!("group-{}", super::event::fingerprint(&ids.join(",")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps_and_honours_retry_after() {
        let o = DeliveryOptions::default();
        assert_eq!(backoff(&o, 0, None), Duration::from_secs(10));
        assert_eq!(backoff(&o, 1, None), Duration::from_secs(20));
        assert_eq!(backoff(&o, 3, None), Duration::from_secs(80));
        assert_eq!(backoff(&o, 30, None), Duration::from_secs(900));
        assert_eq!(
            backoff(&o, 5, Some(Duration::from_secs(7))),
            Duration::from_secs(7)
        );
    }
}
