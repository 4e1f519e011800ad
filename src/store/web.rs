//! Queries of the status page, the JSON API, `/metrics` and the heartbeat receiver.

use super::codec::{RUN_COLUMNS, parse_status, parse_time, run_from_row, time_text};
use super::{RunRecord, Store, StoreError};
use crate::status::Status;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, TransactionBehavior, params};
use std::collections::BTreeMap;

/// A run without its observation (history strips, charts).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunBrief {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub status: Status,
    pub summary: String,
    pub metrics: BTreeMap<String, f64>,
}

/// Notifications created since a moment, grouped.
#[derive(Debug, Clone)]
pub struct OutboxCount {
    pub channel: String,
    pub kind: String,
    pub state: String,
    pub count: u64,
}

impl Store {
    /// Replaces a check's probe state with what `f` makes of the current one (Null when
    /// none), in one write transaction; works for checks that never ran. Returns the new state.
    pub fn update_probe_state(
        &self,
        check_id: &str,
        f: impl FnOnce(&serde_json::Value) -> serde_json::Value,
    ) -> Result<serde_json::Value, StoreError> {
        let mut conn = self.writer()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let text: Option<Option<String>> = tx
            .prepare_cached("SELECT probe_state FROM check_state WHERE check_id = ?1")?
            .query_row([check_id], |r| r.get(0))
            .optional()?;
        let old = match text.flatten() {
            Some(t) => serde_json::from_str(&t)?,
            None => serde_json::Value::Null,
        };
        let new = f(&old);
        tx.prepare_cached(
            "INSERT INTO check_state (check_id, probe_state) VALUES (?1, ?2) \
             ON CONFLICT (check_id) DO UPDATE SET probe_state = excluded.probe_state",
        )?
        .execute(params![check_id, serde_json::to_string(&new)?])?;
        tx.commit()?;
        Ok(new)
    }

    /// The newest `limit` runs of a check without observations, newest first.
    pub fn run_briefs(&self, check_id: &str, limit: u32) -> Result<Vec<RunBrief>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT id, started_at, status, summary, metrics FROM runs WHERE check_id = ?1 \
             ORDER BY started_at DESC, id DESC LIMIT ?2",
        )?;
        let mut rows = stmt.query(params![check_id, limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let started: String = r.get(1)?;
            let status: String = r.get(2)?;
            let metrics: String = r.get(4)?;
            out.push(RunBrief {
                id: r.get(0)?,
                started_at: parse_time(&started)?,
                status: parse_status(&status)?,
                summary: r.get(3)?,
                metrics: serde_json::from_str(&metrics).unwrap_or_default(),
            });
        }
        Ok(out)
    }

    /// Runs `offset..offset + limit` of a check, newest first.
    pub fn runs_at_offset(
        &self,
        check_id: &str,
        offset: u64,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE check_id = ?1 \
             ORDER BY started_at DESC, id DESC LIMIT ?2 OFFSET ?3"
        ))?;
        let mut rows = stmt.query(params![
            check_id,
            limit,
            i64::try_from(offset).unwrap_or(i64::MAX)
        ])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(run_from_row(row)?);
        }
        Ok(out)
    }

    /// How many runs of a check started at or after `since`, by status.
    pub fn run_counts_since(
        &self,
        check_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Status, u64)>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT status, count(*) FROM runs WHERE check_id = ?1 AND started_at >= ?2 \
             GROUP BY status",
        )?;
        let mut rows = stmt.query(params![check_id, time_text(since)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let s: String = r.get(0)?;
            let n: i64 = r.get(1)?;
            out.push((parse_status(&s)?, u64::try_from(n).unwrap_or(0)));
        }
        Ok(out)
    }

    /// Notifications created at or after `since`, by channel, kind and delivery state.
    pub fn outbox_counts_since(
        &self,
        since: DateTime<Utc>,
    ) -> Result<Vec<OutboxCount>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(
            "SELECT channel, kind, state, count(*) FROM outbox WHERE created_at >= ?1 \
             GROUP BY channel, kind, state ORDER BY channel, kind, state",
        )?;
        let mut rows = stmt.query([time_text(since)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let n: i64 = r.get(3)?;
            out.push(OutboxCount {
                channel: r.get(0)?,
                kind: r.get(1)?,
                state: r.get(2)?,
                count: u64::try_from(n).unwrap_or(0),
            });
        }
        Ok(out)
    }

    /// Writes to the store (a small marker row): proves it is writable, for `/healthz`.
    /// During a fault it is not, whatever a write to a stand-in would say.
    pub fn touch(&self, now: DateTime<Utc>) -> Result<(), StoreError> {
        if let Some(f) = self.fault() {
            return Err(StoreError::Unavailable(f.error));
        }
        let result = (|| {
            let conn = self.writer()?;
            conn.prepare_cached(
                "INSERT INTO store_meta (key, value) VALUES ('healthz_at', ?1) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            )?
            .execute([time_text(now)])?;
            Ok(())
        })();
        self.noted(result)
    }
}
