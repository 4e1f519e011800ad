//! Per-check state: the latest status and its streaks, the next and last scheduled runs, and
//! what the probe keeps between runs. Runs update it (`runs.rs`) through [`PendingState`].

use super::codec::{parse_opt_time, parse_status, parse_time, time_text, to_i64};
use super::{RunRecord, Store, StoreError, Trigger};
use crate::status::Status;
use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction};
use serde::{Deserialize, Serialize};

/// The latest state of one check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckState {
    pub check_id: String,
    pub status: Status,
    /// Since when the check has had this status.
    pub since: DateTime<Utc>,
    /// How many runs in a row ended with this status.
    pub consecutive: u32,
    /// Consecutive non-OK runs (0 when the last run was OK).
    pub consecutive_bad: u32,
    /// Consecutive OK runs (0 when the last run was not OK).
    pub consecutive_ok: u32,
    pub last_run: DateTime<Utc>,
    pub last_duration_ms: u64,
    pub summary: String,
    pub next_run: Option<DateTime<Utc>>,
    /// Latest `scheduled_at` of a schedule or misfire run (kept even when retention deletes
    /// the run itself).
    pub last_scheduled_at: Option<DateTime<Utc>>,
}

const STATE_COLUMNS: &str = "check_id, status, since, consecutive, consecutive_bad, \
     consecutive_ok, last_run, last_duration_ms, summary, next_run, last_scheduled_at";

impl Store {
    /// The state of one check; None until it has run once. Runs waiting in memory during a
    /// store fault count.
    pub fn check_state(&self, check_id: &str) -> Result<Option<CheckState>, StoreError> {
        let stored = {
            let conn = self.reader();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {STATE_COLUMNS} FROM check_state WHERE check_id = ?1 AND status IS NOT NULL"
            ))?;
            let mut rows = stmt.query([check_id])?;
            match rows.next()? {
                Some(row) => Some(state_from_row(row)?),
                None => None,
            }
        };
        Ok(self.backlog().fold_state(check_id, stored))
    }

    /// The state of every check that has run at least once, ordered by check id (runs
    /// waiting in memory during a store fault count).
    pub fn check_states(&self) -> Result<Vec<CheckState>, StoreError> {
        let mut out = Vec::new();
        {
            let conn = self.reader();
            let mut stmt = conn.prepare_cached(&format!(
                "SELECT {STATE_COLUMNS} FROM check_state WHERE status IS NOT NULL ORDER BY check_id"
            ))?;
            let mut rows = stmt.query([])?;
            while let Some(row) = rows.next()? {
                out.push(state_from_row(row)?);
            }
        }
        let backlog = self.backlog();
        let queued = backlog.checks();
        if queued.is_empty() {
            return Ok(out);
        }
        let mut by_id: std::collections::BTreeMap<String, CheckState> =
            out.into_iter().map(|s| (s.check_id.clone(), s)).collect();
        for id in queued {
            let stored = by_id.remove(&id);
            if let Some(s) = backlog.fold_state(&id, stored) {
                by_id.insert(id, s);
            }
        }
        Ok(by_id.into_values().collect())
    }

    /// What the probe left for its next run (e.g. a log file offset); Null when nothing.
    pub fn probe_state(&self, check_id: &str) -> Result<serde_json::Value, StoreError> {
        let text: Option<Option<String>> = {
            let conn = self.reader();
            conn.prepare_cached("SELECT probe_state FROM check_state WHERE check_id = ?1")?
                .query_row([check_id], |r| r.get(0))
                .optional()?
        };
        if let Some(queued) = self.backlog().probe_state(check_id) {
            return Ok(queued);
        }
        match text.flatten() {
            Some(t) => Ok(serde_json::from_str(&t)?),
            None => Ok(serde_json::Value::Null),
        }
    }

    /// Records when the scheduler will next run a check (None: not scheduled). Works for
    /// checks that have never run.
    pub fn set_next_run(
        &self,
        check_id: &str,
        next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        let result = (|| {
            let conn = self.writer()?;
            conn.prepare_cached(
                "INSERT INTO check_state (check_id, next_run) VALUES (?1, ?2)
                 ON CONFLICT (check_id) DO UPDATE SET next_run = excluded.next_run",
            )?
            .execute(rusqlite::params![check_id, next.map(time_text)])?;
            Ok(())
        })();
        self.noted(result)
    }

    /// The next run recorded by [`Store::set_next_run`], also for checks that never ran.
    pub fn next_run(&self, check_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.state_time(check_id, "next_run")
    }

    /// When the latest schedule or misfire run of a check was scheduled for (the daemon's
    /// misfire logic starts from it). None when it never ran on schedule.
    pub fn last_scheduled_at(&self, check_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.state_time(check_id, "last_scheduled_at")
    }

    fn state_time(
        &self,
        check_id: &str,
        column: &'static str,
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let conn = self.reader();
        let text: Option<Option<String>> = conn
            .prepare_cached(&format!(
                "SELECT {column} FROM check_state WHERE check_id = ?1"
            ))?
            .query_row([check_id], |r| r.get(0))
            .optional()?;
        parse_opt_time(text.flatten())
    }

    /// Forgets the state of checks that are no longer configured (their runs stay until
    /// retention removes them). Returns how many states were removed.
    pub fn forget_missing(&self, ids_present: &[String]) -> Result<usize, StoreError> {
        let ids = serde_json::to_string(ids_present)?;
        let conn = self.writer()?;
        let n = conn.execute(
            "DELETE FROM check_state WHERE check_id NOT IN (SELECT value FROM json_each(?1))",
            [ids],
        )?;
        Ok(n)
    }
}

/// A check's state row while runs are being applied to it (in text form, as stored).
pub(super) struct PendingState {
    status: Option<String>,
    since: Option<String>,
    consecutive: i64,
    consecutive_bad: i64,
    consecutive_ok: i64,
    last_run: String,
    last_duration_ms: i64,
    summary: String,
    last_scheduled_at: Option<String>,
    /// Some(new value) when a run replaced the probe state (Some(None) clears it).
    probe_state: Option<Option<String>>,
}

impl PendingState {
    pub(super) fn load(tx: &Transaction<'_>, check_id: &str) -> Result<PendingState, StoreError> {
        let prev = tx
            .prepare_cached(
                "SELECT status, since, consecutive, consecutive_bad, consecutive_ok, \
                 last_scheduled_at FROM check_state WHERE check_id = ?1",
            )?
            .query_row([check_id], |r| {
                Ok(PendingState {
                    status: r.get(0)?,
                    since: r.get(1)?,
                    consecutive: r.get(2)?,
                    consecutive_bad: r.get(3)?,
                    consecutive_ok: r.get(4)?,
                    last_run: String::new(),
                    last_duration_ms: 0,
                    summary: String::new(),
                    last_scheduled_at: r.get(5)?,
                    probe_state: None,
                })
            })
            .optional()?;
        Ok(prev.unwrap_or(PendingState {
            status: None,
            since: None,
            consecutive: 0,
            consecutive_bad: 0,
            consecutive_ok: 0,
            last_run: String::new(),
            last_duration_ms: 0,
            summary: String::new(),
            last_scheduled_at: None,
            probe_state: None,
        }))
    }

    /// Folds one run into the state: a status change restarts `since` and `consecutive`.
    pub(super) fn apply(
        &mut self,
        run: &RunRecord,
        started: &str,
        probe_state: Option<&serde_json::Value>,
    ) -> Result<(), StoreError> {
        let status = run.status.as_str();
        if self.status.as_deref() == Some(status) && self.since.is_some() {
            self.consecutive = self.consecutive.saturating_add(1);
        } else {
            self.status = Some(status.to_string());
            self.since = Some(started.to_string());
            self.consecutive = 1;
        }
        if run.status == Status::Ok {
            self.consecutive_bad = 0;
            self.consecutive_ok = self.consecutive_ok.saturating_add(1);
        } else {
            self.consecutive_bad = self.consecutive_bad.saturating_add(1);
            self.consecutive_ok = 0;
        }
        self.last_run = started.to_string();
        self.last_duration_ms = to_i64(run.duration_ms);
        self.summary.clone_from(&run.summary);
        // Only schedule-driven runs move the misfire anchor, and never backwards.
        if let (Trigger::Schedule | Trigger::Misfire, Some(at)) = (run.trigger, run.scheduled_at) {
            let at = time_text(at);
            if self
                .last_scheduled_at
                .as_ref()
                .is_none_or(|prev| *prev < at)
            {
                self.last_scheduled_at = Some(at);
            }
        }
        match probe_state {
            None => {}
            Some(serde_json::Value::Null) => self.probe_state = Some(None),
            Some(v) => self.probe_state = Some(Some(serde_json::to_string(v)?)),
        }
        Ok(())
    }

    pub(super) fn save(&self, tx: &Transaction<'_>, check_id: &str) -> Result<(), StoreError> {
        tx.prepare_cached(
            "INSERT INTO check_state (check_id, status, since, consecutive, consecutive_bad, \
             consecutive_ok, last_run, last_duration_ms, summary, last_scheduled_at, \
             probe_state) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
             ON CONFLICT (check_id) DO UPDATE SET status = excluded.status, \
             since = excluded.since, consecutive = excluded.consecutive, \
             consecutive_bad = excluded.consecutive_bad, \
             consecutive_ok = excluded.consecutive_ok, last_run = excluded.last_run, \
             last_duration_ms = excluded.last_duration_ms, summary = excluded.summary, \
             last_scheduled_at = excluded.last_scheduled_at, probe_state = CASE WHEN ?12 \
             THEN excluded.probe_state ELSE check_state.probe_state END",
        )?
        .execute(rusqlite::params![
            check_id,
            self.status,
            self.since,
            self.consecutive,
            self.consecutive_bad,
            self.consecutive_ok,
            self.last_run,
            self.last_duration_ms,
            self.summary,
            self.last_scheduled_at,
            self.probe_state.clone().flatten(),
            self.probe_state.is_some(),
        ])?;
        Ok(())
    }
}

fn state_from_row(row: &rusqlite::Row<'_>) -> Result<CheckState, StoreError> {
    let status: String = row.get(1)?;
    let since: String = row.get(2)?;
    let last_run: String = row.get(6)?;
    let count = |i: usize| -> Result<u32, StoreError> {
        let n: i64 = row.get(i)?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    };
    let duration: i64 = row.get(7)?;
    Ok(CheckState {
        check_id: row.get(0)?,
        status: parse_status(&status)?,
        since: parse_time(&since)?,
        consecutive: count(3)?,
        consecutive_bad: count(4)?,
        consecutive_ok: count(5)?,
        last_run: parse_time(&last_run)?,
        last_duration_ms: u64::try_from(duration).unwrap_or(0),
        summary: row.get(8)?,
        next_run: parse_opt_time(row.get(9)?)?,
        last_scheduled_at: parse_opt_time(row.get(10)?)?,
    })
}

#[cfg(test)]
mod tests {
    use super::super::testing::{at, run, temp_store};
    use super::*;
    use serde_json::json;

    #[test]
    fn streaks_restart_when_the_status_changes() {
        let (_dir, store) = temp_store();
        for (i, status) in [
            Status::Ok,
            Status::Critical,
            Status::Critical,
            Status::Warning,
        ]
        .into_iter()
        .enumerate()
        {
            store
                .record_run(&run("c", status, at(i as i64)), None)
                .unwrap();
        }
        let s = store.check_state("c").unwrap().unwrap();
        assert_eq!(s.status, Status::Warning);
        assert_eq!(s.since, at(3));
        assert_eq!(s.consecutive, 1);
        assert_eq!(s.consecutive_bad, 3);
        assert_eq!(s.consecutive_ok, 0);
        assert_eq!(s.last_run, at(3));
        assert_eq!(s.summary, format!("c is {}", Status::Warning));
        store
            .record_run(&run("c", Status::Ok, at(4)), None)
            .unwrap();
        let s = store.check_state("c").unwrap().unwrap();
        assert_eq!((s.consecutive_bad, s.consecutive_ok), (0, 1));
    }

    #[test]
    fn the_misfire_anchor_only_moves_forward_and_only_on_schedule() {
        let (_dir, store) = temp_store();
        store
            .record_run(&run("c", Status::Ok, at(10)), None)
            .unwrap();
        // An older scheduled run (a late catch-up) does not move it back.
        store
            .record_run(&run("c", Status::Ok, at(5)), None)
            .unwrap();
        // A manual run has no say.
        let mut manual = run("c", Status::Ok, at(20));
        manual.trigger = Trigger::Manual;
        store.record_run(&manual, None).unwrap();
        assert_eq!(store.last_scheduled_at("c").unwrap(), Some(at(10)));
    }

    #[test]
    fn probe_state_is_replaced_kept_or_cleared() {
        let (_dir, store) = temp_store();
        assert_eq!(store.probe_state("c").unwrap(), serde_json::Value::Null);
        let offset = json!({"offset": 42});
        store
            .record_run(&run("c", Status::Ok, at(0)), Some(&offset))
            .unwrap();
        store
            .record_run(&run("c", Status::Ok, at(1)), None)
            .unwrap();
        assert_eq!(store.probe_state("c").unwrap(), offset);
        store
            .record_run(&run("c", Status::Ok, at(2)), Some(&serde_json::Value::Null))
            .unwrap();
        assert_eq!(store.probe_state("c").unwrap(), serde_json::Value::Null);
    }

    #[test]
    fn a_next_run_alone_is_not_a_state() {
        let (_dir, store) = temp_store();
        store.set_next_run("new", Some(at(30))).unwrap();
        assert_eq!(store.next_run("new").unwrap(), Some(at(30)));
        assert!(store.check_state("new").unwrap().is_none());
        assert!(store.check_states().unwrap().is_empty());
        store
            .record_run(&run("new", Status::Ok, at(0)), None)
            .unwrap();
        let s = store.check_state("new").unwrap().unwrap();
        assert_eq!(s.next_run, Some(at(30)));
        store.set_next_run("new", None).unwrap();
        assert_eq!(store.next_run("new").unwrap(), None);
    }

    #[test]
    fn forgetting_keeps_configured_checks_and_all_runs() {
        let (_dir, store) = temp_store();
        for c in ["a", "b", "c"] {
            store.record_run(&run(c, Status::Ok, at(0)), None).unwrap();
        }
        let n = store.forget_missing(&["b".to_string()]).unwrap();
        assert_eq!(n, 2);
        let ids: Vec<_> = store
            .check_states()
            .unwrap()
            .into_iter()
            .map(|s| s.check_id)
            .collect();
        assert_eq!(ids, vec!["b"]);
        assert_eq!(store.count_runs(None).unwrap(), 3);
    }
}
