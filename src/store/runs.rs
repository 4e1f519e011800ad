//! Runs: recording them (with the check's state, in one transaction) and reading them back.

use super::codec::{
    RUN_COLUMNS, metrics_text, observation_text, run_from_row, time_text, to_i64, trigger_text,
};
use super::state::PendingState;
use super::{Store, StoreError};
use crate::status::Status;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::collections::hash_map::{Entry, HashMap};
use std::sync::atomic::Ordering;

/// Why a run happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// Its schedule came due.
    Schedule,
    /// Catch-up of a run missed while the daemon was down (`misfire: run_once`).
    Misfire,
    /// `patrol run` or an API call.
    Manual,
    /// A heartbeat ping arrived, or a heartbeat deadline passed.
    Heartbeat,
    /// A check that depends on this one was bad: this parent ran first, so that the
    /// dependent's alert is held (or sent) on a fresh result.
    Dependency,
}

/// One run of one check, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// Row id (None before it is stored).
    pub id: Option<i64>,
    pub check_id: String,
    pub trigger: Trigger,
    /// When the schedule wanted it (None for manual runs).
    pub scheduled_at: Option<DateTime<Utc>>,
    pub started_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub status: Status,
    pub summary: String,
    /// Non-finite values are not stored (JSON cannot hold them).
    pub metrics: BTreeMap<String, f64>,
    pub facts: BTreeMap<String, serde_json::Value>,
    /// The observation the rule saw, secrets masked and size-capped.
    pub observation: serde_json::Value,
    /// How many probe attempts the run took (1 + retries used).
    pub attempts: u32,
}

impl Store {
    /// Stores one run and updates the check's state in one transaction. `probe_state`
    /// replaces the stored probe state when `Some` (`Some(Null)` clears it) and leaves it
    /// alone when `None`. Returns the run id; 0 when the run waits in memory for the store
    /// to take writes again (the daemon's write-behind, see `backlog.rs`).
    pub fn record_run(
        &self,
        run: &RunRecord,
        probe_state: Option<&serde_json::Value>,
    ) -> Result<i64, StoreError> {
        self.write_or_queue(
            || super::backlog::Pending::run(run, probe_state, None),
            0,
            || self.write_run(run, probe_state),
        )
    }

    pub(super) fn write_run(
        &self,
        run: &RunRecord,
        probe_state: Option<&serde_json::Value>,
    ) -> Result<i64, StoreError> {
        let cap = self.observation_cap.load(Ordering::Relaxed);
        let mut conn = self.writer()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = insert_runs(&tx, std::iter::once((run, probe_state)), cap)?;
        tx.commit()?;
        ids.first()
            .copied()
            .ok_or_else(|| StoreError::Other("no run id after insert".into()))
    }

    /// [`Store::record_run`] for many runs in one transaction (in order). Returns their ids.
    pub fn record_runs(
        &self,
        runs: &[(RunRecord, Option<serde_json::Value>)],
    ) -> Result<Vec<i64>, StoreError> {
        let cap = self.observation_cap.load(Ordering::Relaxed);
        let mut conn = self.writer()?;
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let ids = insert_runs(&tx, runs.iter().map(|(r, p)| (r, p.as_ref())), cap)?;
        tx.commit()?;
        Ok(ids)
    }

    /// The newest `limit` runs of a check, newest first (runs waiting in memory during a
    /// store fault included).
    pub fn recent_runs(&self, check_id: &str, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        let stored = self.runs_page(check_id, None, limit)?;
        let mut runs = self.backlog().runs_of(check_id);
        if runs.is_empty() {
            return Ok(stored);
        }
        runs.extend(stored);
        runs.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(runs)
    }

    /// One page of a check's runs, newest first (by `started_at`, then id). Pass the id of
    /// the last run of the previous page as `before_id` to get the next page. If that run
    /// has been deleted meanwhile, the page continues from the runs with smaller ids.
    pub fn runs_page(
        &self,
        check_id: &str,
        before_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        let conn = self.reader();
        let sql_all = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE check_id = ?1 \
             ORDER BY started_at DESC, id DESC LIMIT ?2"
        );
        let sql_before = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE check_id = ?1 \
             AND (started_at < ?3 OR (started_at = ?3 AND id < ?4)) \
             ORDER BY started_at DESC, id DESC LIMIT ?2"
        );
        let sql_before_gone = format!(
            "SELECT {RUN_COLUMNS} FROM runs WHERE check_id = ?1 AND id < ?3 \
             ORDER BY started_at DESC, id DESC LIMIT ?2"
        );
        let mut out = Vec::new();
        match before_id {
            None => {
                let mut stmt = conn.prepare_cached(&sql_all)?;
                let mut rows = stmt.query(rusqlite::params![check_id, limit])?;
                while let Some(row) = rows.next()? {
                    out.push(run_from_row(row)?);
                }
            }
            Some(before) => {
                let cursor: Option<String> = conn
                    .prepare_cached("SELECT started_at FROM runs WHERE id = ?1")?
                    .query_row([before], |r| r.get(0))
                    .optional()?;
                let mut stmt;
                let mut rows = match &cursor {
                    Some(started) => {
                        stmt = conn.prepare_cached(&sql_before)?;
                        stmt.query(rusqlite::params![check_id, limit, started, before])?
                    }
                    None => {
                        stmt = conn.prepare_cached(&sql_before_gone)?;
                        stmt.query(rusqlite::params![check_id, limit, before])?
                    }
                };
                while let Some(row) = rows.next()? {
                    out.push(run_from_row(row)?);
                }
            }
        }
        Ok(out)
    }

    /// One run by id.
    pub fn run(&self, id: i64) -> Result<Option<RunRecord>, StoreError> {
        let conn = self.reader();
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))?;
        let mut rows = stmt.query([id])?;
        match rows.next()? {
            Some(row) => Ok(Some(run_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// How many runs are stored, for one check or (None) for all.
    pub fn count_runs(&self, check_id: Option<&str>) -> Result<u64, StoreError> {
        let conn = self.reader();
        let n: i64 = match check_id {
            Some(id) => conn
                .prepare_cached("SELECT count(*) FROM runs WHERE check_id = ?1")?
                .query_row([id], |r| r.get(0))?,
            None => conn
                .prepare_cached("SELECT count(*) FROM runs")?
                .query_row([], |r| r.get(0))?,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

/// Inserts runs (in order) and updates their checks' states, inside `tx`. Each check's
/// state is read and written once per call, however many of its runs the call holds.
pub(super) fn insert_runs<'r>(
    tx: &Transaction<'_>,
    runs: impl Iterator<Item = (&'r RunRecord, Option<&'r serde_json::Value>)>,
    cap: usize,
) -> Result<Vec<i64>, StoreError> {
    let mut ids = Vec::with_capacity(runs.size_hint().0);
    let mut states: HashMap<&'r str, PendingState> = HashMap::new();
    // Ids are handed out here (see `store_meta` in the schema); the write lock is held.
    let first_id: i64 = tx
        .prepare_cached(
            "SELECT max(coalesce((SELECT max(id) FROM runs), 0), \
             coalesce((SELECT value FROM store_meta WHERE key = 'runs_last_id'), 0)) + 1",
        )?
        .query_row([], |r| r.get(0))?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO runs (id, check_id, triggered_by, scheduled_at, started_at, duration_ms, \
         status, summary, metrics, facts, observation, attempts) \
         VALUES (?12, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?;
    for (id, (run, probe_state)) in (first_id..).zip(runs) {
        let started = time_text(run.started_at);
        insert.execute(rusqlite::params![
            run.check_id,
            trigger_text(run.trigger),
            run.scheduled_at.map(time_text),
            started,
            to_i64(run.duration_ms),
            run.status.as_str(),
            run.summary,
            metrics_text(&run.metrics)?,
            serde_json::to_string(&run.facts)?,
            observation_text(&run.observation, cap)?,
            run.attempts,
            id,
        ])?;
        ids.push(id);
        let state = match states.entry(run.check_id.as_str()) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(PendingState::load(tx, &run.check_id)?),
        };
        state.apply(run, &started, probe_state)?;
    }
    for (check_id, state) in &states {
        state.save(tx, check_id)?;
    }
    if let Some(last) = ids.last() {
        tx.prepare_cached(
            "INSERT INTO store_meta (key, value) VALUES ('runs_last_id', ?1) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute([last])?;
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{at, run, temp_store};
    use super::*;

    #[test]
    fn a_batch_gets_consecutive_ids_in_order() {
        let (_dir, store) = temp_store();
        let first = store
            .record_run(&run("a", Status::Ok, at(0)), None)
            .unwrap();
        let batch = vec![
            (run("b", Status::Critical, at(1)), None),
            (run("a", Status::Warning, at(2)), None),
        ];
        let ids = store.record_runs(&batch).unwrap();
        assert_eq!(ids, vec![first + 1, first + 2]);
        let stored = store.run(ids[1]).unwrap().unwrap();
        assert_eq!(stored.check_id, "a");
        assert_eq!(stored.status, Status::Warning);
        assert_eq!(stored.started_at, at(2));
        assert_eq!(stored.metrics["ms"], 7.0);
        assert_eq!(store.count_runs(Some("a")).unwrap(), 2);
        assert_eq!(store.count_runs(None).unwrap(), 3);
        assert!(store.run(ids[1] + 1).unwrap().is_none());
    }

    #[test]
    fn runs_inserted_in_a_rolled_back_transaction_leave_nothing() {
        let (_dir, store) = temp_store();
        {
            let mut conn = store.writer().unwrap();
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .unwrap();
            let r = run("a", Status::Ok, at(0));
            let ids = insert_runs(&tx, std::iter::once((&r, None)), 0).unwrap();
            assert_eq!(ids.len(), 1);
            // Dropped without commit: rolled back.
        }
        assert_eq!(store.count_runs(None).unwrap(), 0);
        assert!(store.check_state("a").unwrap().is_none());
    }

    #[test]
    fn pages_continue_after_a_deleted_cursor_run() {
        let (_dir, store) = temp_store();
        let runs: Vec<_> = (0..5)
            .map(|i| (run("a", Status::Ok, at(i)), None))
            .collect();
        let ids = store.record_runs(&runs).unwrap();
        let page = store.runs_page("a", None, 2).unwrap();
        let got: Vec<_> = page.iter().map(|r| r.id.unwrap()).collect();
        assert_eq!(got, vec![ids[4], ids[3]]);
        let next = store.runs_page("a", Some(ids[3]), 2).unwrap();
        let got: Vec<_> = next.iter().map(|r| r.id.unwrap()).collect();
        assert_eq!(got, vec![ids[2], ids[1]]);
        // The cursor run is gone: the page goes on with the smaller ids.
        store
            .writer()
            .unwrap()
            .execute("DELETE FROM runs WHERE id = ?1", [ids[3]])
            .unwrap();
        let after_gone = store.runs_page("a", Some(ids[3]), 10).unwrap();
        let got: Vec<_> = after_gone.iter().map(|r| r.id.unwrap()).collect();
        assert_eq!(got, vec![ids[2], ids[1], ids[0]]);
        assert_eq!(store.recent_runs("a", 1).unwrap()[0].id, Some(ids[4]));
    }
}
