//! Write-behind during a store fault (the daemon only: see [`Store::keep_writes_on_fault`]).
//!
//! When the store cannot be written — a read-only file or folder, a full disk, a lock that
//! does not clear, a file that cannot be opened at all at start — the daemon does not stop
//! and does not lose results: a run that cannot be stored, with its check state, alert
//! state and notifications, waits in memory, in order, and is written by
//! [`Store::recover`] once the store takes writes again. Meanwhile the reads that the next
//! runs depend on (alert state, check state, probe state, recent runs) see the queued
//! results as if they had been stored, so alerting keeps its count.
//!
//! The queue is bounded: past [`MAX_QUEUED_BYTES`] the oldest queued runs lose their
//! observation (the run, its state and its notifications are kept); past [`MAX_QUEUED`]
//! whole runs are dropped, oldest first, and counted.
//!
//! Once a fault is noticed, every later run is queued behind the ones waiting (never stored
//! ahead of them) until the queue is written out. Notifications are delivered after they are
//! written, as always: nothing is sent that the store could not record.

use super::{CheckState, OutboxItem, RunRecord, Store, StoreError, Trigger};
use crate::status::Status;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Most runs (or report notifications) kept in memory during a fault.
pub const MAX_QUEUED: usize = 10_000;
/// Most bytes of queued observations and events kept in memory during a fault.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;
/// At most one warning about dropped results this often.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// A write waiting for the store.
#[derive(Debug, Clone)]
// Runs are nearly all of the queue, so boxing them would only add an allocation per item.
#[allow(clippy::large_enum_variant)]
pub(super) enum Pending {
    /// A run with its probe state and, when the alert policy ran, its alert state and
    /// notifications (written in one transaction, as always).
    Run {
        run: RunRecord,
        probe_state: Option<serde_json::Value>,
        alert: Option<(serde_json::Value, Vec<OutboxItem>)>,
        bytes: usize,
    },
    /// Notifications no run caused (the periodic report).
    Outbox {
        items: Vec<OutboxItem>,
        bytes: usize,
    },
}

impl Pending {
    pub(super) fn run(
        run: &RunRecord,
        probe_state: Option<&serde_json::Value>,
        alert: Option<(&serde_json::Value, &[OutboxItem])>,
    ) -> Pending {
        let events: usize = alert.map_or(0, |(_, items)| items.iter().map(item_bytes).sum());
        let bytes = json_len(&run.observation) + run.summary.len() + events;
        Pending::Run {
            run: run.clone(),
            probe_state: probe_state.cloned(),
            alert: alert.map(|(s, items)| (s.clone(), items.to_vec())),
            bytes,
        }
    }

    pub(super) fn outbox(items: &[OutboxItem]) -> Pending {
        Pending::Outbox {
            items: items.to_vec(),
            bytes: items.iter().map(item_bytes).sum(),
        }
    }

    fn bytes(&self) -> usize {
        match self {
            Pending::Run { bytes, .. } | Pending::Outbox { bytes, .. } => *bytes,
        }
    }

    fn check_run(&self, check_id: &str) -> Option<&RunRecord> {
        match self {
            Pending::Run { run, .. } if run.check_id == check_id => Some(run),
            _ => None,
        }
    }
}

fn json_len(v: &serde_json::Value) -> usize {
    serde_json::to_string(v).map_or(0, |s| s.len())
}

fn item_bytes(i: &OutboxItem) -> usize {
    json_len(&i.event)
}

/// What `/healthz`, `/metrics` and the status page say about a store fault.
#[derive(Debug, Clone, Serialize)]
pub struct StoreFault {
    /// Since when writes fail.
    pub since: DateTime<Utc>,
    /// The latest error.
    pub error: String,
    /// Runs (and reports) waiting in memory to be written.
    pub queued: usize,
    /// Runs dropped because the queue was full, since the daemon started.
    pub dropped: u64,
}

/// The queue and the fault, behind the store's `backlog` mutex.
#[derive(Debug, Default)]
pub(super) struct Backlog {
    /// Write-behind is on (the daemon); off, writes fail as they always did.
    pub enabled: bool,
    pub items: VecDeque<Pending>,
    bytes: usize,
    /// Since when, and the latest error.
    pub fault: Option<(DateTime<Utc>, String)>,
    pub dropped: u64,
    warned_drop: Option<Instant>,
}

impl Backlog {
    /// New writes go to the queue: a fault is known, or earlier writes still wait.
    pub fn holding(&self) -> bool {
        self.enabled && (self.fault.is_some() || !self.items.is_empty())
    }

    /// Notes a failed write.
    pub fn fail(&mut self, e: &StoreError) {
        let error = e.to_string();
        match &mut self.fault {
            Some((_, latest)) => *latest = error,
            None => {
                tracing::error!(
                    error = %error,
                    "the store cannot be written: checks keep running, results and their \
                     notifications are kept in memory (up to {MAX_QUEUED}) and written when \
                     it can be written again"
                );
                self.fault = Some((Utc::now(), error));
            }
        }
    }

    pub fn push(&mut self, p: Pending) {
        self.bytes += p.bytes();
        self.items.push_back(p);
        let mut dropped = 0u64;
        while self.items.len() > MAX_QUEUED {
            if let Some(old) = self.items.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.bytes());
                dropped += 1;
            }
        }
        // Over the byte budget: the oldest observations go first; runs and notifications stay.
        let mut i = 0;
        while self.bytes > MAX_QUEUED_BYTES && i < self.items.len() {
            if let Pending::Run { run, bytes, .. } = &mut self.items[i]
                && !run.observation.is_null()
            {
                let freed = json_len(&run.observation);
                run.observation = serde_json::json!({
                    "dropped": "the store could not be written; the observation was not kept"
                });
                self.bytes = self.bytes.saturating_sub(freed);
                *bytes = bytes.saturating_sub(freed);
            }
            i += 1;
        }
        if dropped > 0 {
            self.dropped += dropped;
            let now = Instant::now();
            if self
                .warned_drop
                .is_none_or(|t| now.duration_since(t) >= WARN_EVERY)
            {
                self.warned_drop = Some(now);
                tracing::error!(
                    dropped_total = self.dropped,
                    "the store is still not writable and {MAX_QUEUED} results wait in memory: \
                     dropping the oldest"
                );
            }
        }
    }

    /// The first write waiting, taken out (put back with [`Backlog::unpop`] when it fails).
    pub fn pop(&mut self) -> Option<Pending> {
        let p = self.items.pop_front()?;
        self.bytes = self.bytes.saturating_sub(p.bytes());
        Some(p)
    }

    pub fn unpop(&mut self, p: Pending) {
        self.bytes += p.bytes();
        self.items.push_front(p);
    }

    pub fn fault(&self) -> Option<StoreFault> {
        let (since, error) = self.fault.clone()?;
        Some(StoreFault {
            since,
            error,
            queued: self.items.len(),
            dropped: self.dropped,
        })
    }

    /// The queued runs of a check, newest first.
    pub fn runs_of(&self, check_id: &str) -> Vec<RunRecord> {
        self.items
            .iter()
            .rev()
            .filter_map(|p| p.check_run(check_id).cloned())
            .collect()
    }

    /// The alert state the newest queued run of the check left.
    pub fn alert_state(&self, check_id: &str) -> Option<serde_json::Value> {
        self.items.iter().rev().find_map(|p| match p {
            Pending::Run {
                run,
                alert: Some((state, _)),
                ..
            } if run.check_id == check_id => Some(state.clone()),
            _ => None,
        })
    }

    /// The probe state the newest queued run of the check left (when one replaced it).
    pub fn probe_state(&self, check_id: &str) -> Option<serde_json::Value> {
        self.items.iter().rev().find_map(|p| match p {
            Pending::Run {
                run,
                probe_state: Some(state),
                ..
            } if run.check_id == check_id => Some(state.clone()),
            _ => None,
        })
    }

    /// `stored` with the queued runs of its check folded in, oldest first.
    pub fn fold_state(&self, check_id: &str, stored: Option<CheckState>) -> Option<CheckState> {
        self.items
            .iter()
            .filter_map(|p| p.check_run(check_id))
            .fold(stored, |prev, run| Some(fold(prev, run)))
    }

    /// Checks with queued runs.
    pub fn checks(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .items
            .iter()
            .filter_map(|p| match p {
                Pending::Run { run, .. } => Some(run.check_id.clone()),
                Pending::Outbox { .. } => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// One run folded into a check's state, as `state::PendingState::apply` does in the store.
fn fold(prev: Option<CheckState>, run: &RunRecord) -> CheckState {
    let mut s = prev.unwrap_or_else(|| CheckState {
        check_id: run.check_id.clone(),
        status: run.status,
        since: run.started_at,
        consecutive: 0,
        consecutive_bad: 0,
        consecutive_ok: 0,
        last_run: run.started_at,
        last_duration_ms: 0,
        summary: String::new(),
        next_run: None,
        last_scheduled_at: None,
    });
    if s.status == run.status && s.consecutive > 0 {
        s.consecutive = s.consecutive.saturating_add(1);
    } else {
        s.status = run.status;
        s.since = run.started_at;
        s.consecutive = 1;
    }
    if run.status == Status::Ok {
        s.consecutive_bad = 0;
        s.consecutive_ok = s.consecutive_ok.saturating_add(1);
    } else {
        s.consecutive_bad = s.consecutive_bad.saturating_add(1);
        s.consecutive_ok = 0;
    }
    s.last_run = run.started_at;
    s.last_duration_ms = run.duration_ms;
    s.summary.clone_from(&run.summary);
    if let (Trigger::Schedule | Trigger::Misfire, Some(at)) = (run.trigger, run.scheduled_at)
        && s.last_scheduled_at.is_none_or(|prev| prev < at)
    {
        s.last_scheduled_at = Some(at);
    }
    s
}

/// Whether an error means "the store cannot be written now" (worth waiting out), rather
/// than a bad value or a bug.
pub(super) fn is_fault(e: &StoreError) -> bool {
    use rusqlite::ErrorCode;
    let code = match e {
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
        | StoreError::Open {
            source: rusqlite::Error::SqliteFailure(f, _),
            ..
        } => f.code,
        StoreError::CreateDir { .. } | StoreError::Open { .. } | StoreError::Unavailable(_) => {
            return true;
        }
        _ => return false,
    };
    matches!(
        code,
        ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::SystemIoFailure
            | ErrorCode::DiskFull
            | ErrorCode::PermissionDenied
            | ErrorCode::DatabaseBusy
            | ErrorCode::DatabaseLocked
            | ErrorCode::FileLockingProtocolFailed
    )
}

impl Store {
    /// Turns write-behind on (the daemon): from now on a write that fails because the store
    /// cannot be written is kept in memory and written by [`Store::recover`].
    pub fn keep_writes_on_fault(&self) {
        self.backlog().enabled = true;
    }

    /// The fault writes are waiting out, if any.
    pub fn fault(&self) -> Option<StoreFault> {
        self.backlog().fault()
    }

    pub fn is_faulted(&self) -> bool {
        self.backlog().fault.is_some()
    }

    /// Notes `result`'s error as a store fault (with write-behind on), and passes it on.
    pub(super) fn noted<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(e) = &result
            && is_fault(e)
        {
            let mut b = self.backlog();
            if b.enabled {
                b.fail(e);
            }
        }
        result
    }

    /// Runs `write` now, or queues `pending` when the store is faulted (or earlier writes
    /// still wait, or `write` fails with a fault). Returns `write`'s value, or `queued`.
    pub(super) fn write_or_queue<T>(
        &self,
        pending: impl FnOnce() -> Pending,
        queued: T,
        write: impl FnOnce() -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut b = self.backlog();
        if b.holding() {
            b.push(pending());
            return Ok(queued);
        }
        match write() {
            Err(e) if b.enabled && is_fault(&e) => {
                b.fail(&e);
                b.push(pending());
                Ok(queued)
            }
            other => other,
        }
    }

    /// Opens the store afresh (a connection opened while the file was read-only stays
    /// read-only) and writes everything that waits, in order. Returns how many writes were
    /// made; the fault is over when this returns Ok.
    pub fn recover(&self) -> Result<usize, StoreError> {
        let mut b = self.backlog();
        if b.fault.is_none() && b.items.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.reconnect() {
            b.fail(&e);
            return Err(e);
        }
        let mut written = 0;
        while let Some(p) = b.pop() {
            let result = match &p {
                Pending::Run {
                    run,
                    probe_state,
                    alert: Some((state, outbox)),
                    ..
                } => self
                    .write_run_with_alerts(run, probe_state.as_ref(), state, outbox)
                    .map(|_| ()),
                Pending::Run {
                    run,
                    probe_state,
                    alert: None,
                    ..
                } => self.write_run(run, probe_state.as_ref()).map(|_| ()),
                Pending::Outbox { items, .. } => self.write_outbox(items),
            };
            if let Err(e) = result {
                if is_fault(&e) {
                    b.unpop(p);
                    b.fail(&e);
                    return Err(e);
                }
                // A write that can never succeed (a bad value) must not block the others.
                tracing::error!("dropping a queued result the store refuses: {e}");
                b.dropped += 1;
                continue;
            }
            written += 1;
        }
        if let Some((since, _)) = b.fault.take() {
            tracing::info!(
                since = %since,
                written,
                "the store can be written again: the results kept in memory are stored"
            );
        }
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{at, run};
    use super::*;

    #[test]
    fn states_fold_like_the_store_does() {
        let mut b = Backlog {
            enabled: true,
            ..Backlog::default()
        };
        for (i, status) in [Status::Ok, Status::Critical, Status::Critical]
            .into_iter()
            .enumerate()
        {
            b.push(Pending::run(&run("c", status, at(i as i64)), None, None));
        }
        let s = b.fold_state("c", None).expect("state");
        assert_eq!(s.status, Status::Critical);
        assert_eq!(
            (s.consecutive, s.consecutive_bad, s.consecutive_ok),
            (2, 2, 0)
        );
        assert_eq!(s.since, at(1));
        assert_eq!(s.last_scheduled_at, Some(at(2)));
        assert_eq!(b.runs_of("c")[0].started_at, at(2));
        assert!(b.fold_state("other", None).is_none());
    }

    #[test]
    fn the_queue_is_bounded_and_counts_what_it_drops() {
        let mut b = Backlog::default();
        for i in 0..(MAX_QUEUED + 5) {
            b.push(Pending::run(
                &run("c", Status::Ok, at(i as i64)),
                None,
                None,
            ));
        }
        assert_eq!(b.items.len(), MAX_QUEUED);
        assert_eq!(b.dropped, 5);
        // The oldest went first.
        assert_eq!(b.runs_of("c").last().map(|r| r.started_at), Some(at(5)));
    }

    #[test]
    fn big_observations_go_before_runs() {
        let mut b = Backlog::default();
        let mut big = run("c", Status::Ok, at(0));
        big.observation = serde_json::json!({"body": "x".repeat(MAX_QUEUED_BYTES / 2 + 10)});
        b.push(Pending::run(&big, None, None));
        b.push(Pending::run(&big, None, None));
        assert_eq!(b.items.len(), 2);
        assert!(b.bytes <= MAX_QUEUED_BYTES);
        let first = b.runs_of("c").pop().expect("run");
        assert!(first.observation.get("dropped").is_some());
    }
}
