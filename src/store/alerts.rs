//! Alerting tables: the policy's state per check, the outbox of notifications, silences.

use super::codec::{parse_opt_time, parse_time, time_text};
use super::{RunRecord, Store, StoreError, insert_runs};
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use std::sync::atomic::Ordering;

/// A one-off silence (`patrol silence add`) as the `silences` table keeps it. Which checks
/// it holds back, and when, is the alert layer's (`alert::mute`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: i64,
    /// The check it applies to, or None with a tag.
    pub check: Option<String>,
    pub tag: Option<String>,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub reason: String,
    pub created_by: String,
}

/// A notification to queue for one channel.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub event_id: String,
    pub channel: String,
    pub check_id: Option<String>,
    pub kind: String,
    pub severity: String,
    /// The event, as JSON (already redacted).
    pub event: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxState {
    Pending,
    Sent,
    Failed,
}

impl OutboxState {
    fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Sent => "sent",
            OutboxState::Failed => "failed",
        }
    }
    fn parse(s: &str) -> OutboxState {
        match s {
            "sent" => OutboxState::Sent,
            "failed" => OutboxState::Failed,
            _ => OutboxState::Pending,
        }
    }
}

/// One queued notification and its delivery state.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxRow {
    pub id: i64,
    pub event_id: String,
    pub channel: String,
    pub check_id: Option<String>,
    pub kind: String,
    pub severity: String,
    pub created_at: DateTime<Utc>,
    pub event: serde_json::Value,
    pub state: OutboxState,
    pub attempts: u32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub response: Option<String>,
    pub sent_at: Option<DateTime<Utc>>,
    pub delivery_id: Option<String>,
}

/// Which outbox rows to list.
#[derive(Debug, Clone, Default)]
pub struct OutboxFilter {
    pub state: Option<OutboxState>,
    pub since: Option<DateTime<Utc>>,
    pub check_id: Option<String>,
    pub limit: Option<u32>,
}

const OUTBOX_COLUMNS: &str = "id, event_id, channel, check_id, kind, severity, created_at, event, \
     state, attempts, next_attempt_at, last_error, response, sent_at, delivery_id";

fn outbox_from_row(row: &rusqlite::Row<'_>) -> Result<OutboxRow, StoreError> {
    let event: String = row.get(7)?;
    let state: String = row.get(8)?;
    Ok(OutboxRow {
        id: row.get(0)?,
        event_id: row.get(1)?,
        channel: row.get(2)?,
        check_id: row.get(3)?,
        kind: row.get(4)?,
        severity: row.get(5)?,
        created_at: parse_time(&row.get::<_, String>(6)?)?,
        event: serde_json::from_str(&event)?,
        state: OutboxState::parse(&state),
        attempts: row.get::<_, i64>(9)?.max(0) as u32,
        next_attempt_at: parse_time(&row.get::<_, String>(10)?)?,
        last_error: row.get(11)?,
        response: row.get(12)?,
        sent_at: parse_opt_time(row.get(13)?)?,
        delivery_id: row.get(14)?,
    })
}

impl Store {
    /// Stores a run, the check's new alert state and the notifications it caused in ONE
    /// transaction: a crash keeps all three or none. Returns the run id; 0 when the three
    /// wait in memory, together, for the store to take writes again (see `backlog.rs`).
    pub fn record_run_with_alerts(
        &self,
        run: &RunRecord,
        probe_state: Option<&serde_json::Value>,
        alert_state: &serde_json::Value,
        outbox: &[OutboxItem],
    ) -> Result<i64, StoreError> {
        self.write_or_queue(
            || super::backlog::Pending::run(run, probe_state, Some((alert_state, outbox))),
            0,
            || self.write_run_with_alerts(run, probe_state, alert_state, outbox),
        )
    }

    pub(super) fn write_run_with_alerts(
        &self,
        run: &RunRecord,
        probe_state: Option<&serde_json::Value>,
        alert_state: &serde_json::Value,
        outbox: &[OutboxItem],
    ) -> Result<i64, StoreError> {
        let cap = self.observation_cap.load(Ordering::Relaxed);
        let mut conn = self.writer()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let id = insert_runs(&tx, std::iter::once((run, probe_state)), cap)?
            .first()
            .copied()
            .ok_or_else(|| StoreError::Other("no run id after insert".into()))?;
        let now = time_text(run.started_at);
        tx.prepare_cached(
            "INSERT INTO alert_state (check_id, state, updated_at) VALUES (?1, ?2, ?3) \
             ON CONFLICT (check_id) DO UPDATE SET state = excluded.state, updated_at = excluded.updated_at",
        )?
        .execute(params![run.check_id, serde_json::to_string(alert_state)?, now])?;
        insert_outbox(&tx, outbox, Utc::now())?;
        tx.commit()?;
        Ok(id)
    }

    /// Queues notifications that no run caused (tests, reports).
    pub fn enqueue(&self, outbox: &[OutboxItem]) -> Result<(), StoreError> {
        self.write_or_queue(
            || super::backlog::Pending::outbox(outbox),
            (),
            || self.write_outbox(outbox),
        )
    }

    pub(super) fn write_outbox(&self, outbox: &[OutboxItem]) -> Result<(), StoreError> {
        let mut conn = self.writer()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_outbox(&tx, outbox, Utc::now())?;
        tx.commit()?;
        Ok(())
    }

    /// The policy state of a check (Null when it never had one); during a store fault, the
    /// one its newest run waiting in memory left.
    pub fn alert_state(&self, check_id: &str) -> Result<serde_json::Value, StoreError> {
        let text: Option<String> = {
            let conn = self.reader();
            conn.prepare_cached("SELECT state FROM alert_state WHERE check_id = ?1")?
                .query_row([check_id], |r| r.get(0))
                .optional()?
        };
        if let Some(queued) = self.backlog().alert_state(check_id) {
            return Ok(queued);
        }
        Ok(match text {
            Some(t) => serde_json::from_str(&t)?,
            None => serde_json::Value::Null,
        })
    }

    /// Pending rows whose next attempt is due, oldest first.
    pub fn due_outbox(&self, now: DateTime<Utc>, limit: u32) -> Result<Vec<OutboxRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at <= ?1 \
             ORDER BY created_at, id LIMIT ?2"
        ))?;
        let rows = stmt.query_map(params![time_text(now), limit], |r| Ok(outbox_from_row(r)))?;
        rows.map(|r| r?).collect()
    }

    /// The earliest next attempt among pending rows (the deliverer sleeps until then).
    pub fn next_outbox_attempt(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        let conn = self.reader();
        let t: Option<String> = conn.query_row(
            "SELECT MIN(next_attempt_at) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?;
        parse_opt_time(t)
    }

    pub fn mark_sent(
        &self,
        ids: &[i64],
        delivery_id: &str,
        response: &str,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_rows(ids, |tx, id| {
            tx.prepare_cached(
                "UPDATE outbox SET state = 'sent', attempts = attempts + 1, sent_at = ?2, \
                 response = ?3, delivery_id = ?4, last_error = NULL WHERE id = ?1",
            )?
            .execute(params![id, time_text(at), response, delivery_id])?;
            Ok(())
        })
    }

    pub fn mark_retry(
        &self,
        ids: &[i64],
        error: &str,
        next_attempt_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.update_rows(ids, |tx, id| {
            tx.prepare_cached(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3 \
                 WHERE id = ?1",
            )?
            .execute(params![id, error, time_text(next_attempt_at)])?;
            Ok(())
        })
    }

    pub fn mark_failed(&self, ids: &[i64], error: &str) -> Result<(), StoreError> {
        self.update_rows(ids, |tx, id| {
            tx.prepare_cached(
                "UPDATE outbox SET state = 'failed', attempts = attempts + 1, last_error = ?2 WHERE id = ?1",
            )?
            .execute(params![id, error])?;
            Ok(())
        })
    }

    fn update_rows(
        &self,
        ids: &[i64],
        f: impl Fn(&rusqlite::Transaction<'_>, i64) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let result = (|| {
            let mut conn = self.writer()?;
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for id in ids {
                f(&tx, *id)?;
            }
            tx.commit()?;
            Ok(())
        })();
        self.noted(result)
    }

    /// Outbox rows, newest first.
    pub fn outbox(&self, filter: &OutboxFilter) -> Result<Vec<OutboxRow>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare(&format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox \
             WHERE (?1 IS NULL OR state = ?1) AND (?2 IS NULL OR created_at >= ?2) \
               AND (?3 IS NULL OR check_id = ?3) \
             ORDER BY created_at DESC, id DESC LIMIT ?4"
        ))?;
        let rows = stmt.query_map(
            params![
                filter.state.map(OutboxState::as_str),
                filter.since.map(time_text),
                filter.check_id,
                filter.limit.unwrap_or(1000)
            ],
            |r| Ok(outbox_from_row(r)),
        )?;
        rows.map(|r| r?).collect()
    }

    /// Adds a silence; returns its id.
    pub fn add_silence(&self, s: &Silence) -> Result<i64, StoreError> {
        let conn = self.writer()?;
        conn.execute(
            "INSERT INTO silences (check_id, tag, starts_at, ends_at, reason, created_by, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                s.check,
                s.tag,
                time_text(s.starts_at),
                time_text(s.ends_at),
                s.reason,
                s.created_by,
                time_text(Utc::now())
            ],
        )?;
        Ok(conn.last_insert_rowid())
    }

    /// Silences not removed and not yet over at `now` (every one ever made with
    /// `include_expired`).
    pub fn silences(
        &self,
        now: DateTime<Utc>,
        include_expired: bool,
    ) -> Result<Vec<Silence>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT id, check_id, tag, starts_at, ends_at, reason, created_by FROM silences \
             WHERE ?2 OR (removed_at IS NULL AND ends_at > ?1) ORDER BY id",
        )?;
        let rows = stmt.query_map(params![time_text(now), include_expired], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, check, tag, starts, ends, reason, created_by) = row?;
            out.push(Silence {
                id,
                check,
                tag,
                starts_at: parse_time(&starts)?,
                ends_at: parse_time(&ends)?,
                reason,
                created_by,
            });
        }
        Ok(out)
    }

    /// Ends a silence now. Returns false when there is no such active silence.
    pub fn remove_silence(&self, id: i64) -> Result<bool, StoreError> {
        let conn = self.writer()?;
        let n = conn.execute(
            "UPDATE silences SET removed_at = ?2 WHERE id = ?1 AND removed_at IS NULL",
            params![id, time_text(Utc::now())],
        )?;
        Ok(n > 0)
    }
}

fn insert_outbox(
    tx: &rusqlite::Transaction<'_>,
    items: &[OutboxItem],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for item in items {
        tx.prepare_cached(
            "INSERT OR IGNORE INTO outbox (event_id, channel, check_id, kind, severity, created_at, \
             event, next_attempt_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?6)",
        )?
        .execute(params![
            item.event_id,
            item.channel,
            item.check_id,
            item.kind,
            item.severity,
            time_text(now),
            serde_json::to_string(&item.event)?
        ])?;
    }
    Ok(())
}
