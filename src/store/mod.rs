//! SQLite store: runs, per-check state, migrations, retention.
//!
//! One file in WAL mode, so `patrol status` and the web page read while the daemon writes,
//! and a killed process loses at most the transaction it was in. A [`Store`] holds two
//! connections — one writer, one reader — each behind a mutex, so it is `Send + Sync` and can
//! be shared as `Arc<Store>`. Every call is short; async callers may wrap them in
//! `spawn_blocking`. Several processes may open the same file: writes take the lock up front
//! (`BEGIN IMMEDIATE`) and wait up to [`BUSY_TIMEOUT`] for each other.
//!
//! Times are stored as fixed-width RFC 3339 UTC text (see `codec`), so they sort as text.

mod alerts;
mod codec;
mod meta;
mod migrations;
mod web;

pub use alerts::{OutboxFilter, OutboxItem, OutboxRow, OutboxState, Silence};
pub use migrations::SCHEMA_VERSION;
pub use web::{OutboxCount, RunBrief};

use crate::status::Status;
use chrono::{DateTime, Utc};
use codec::{
    RUN_COLUMNS, metrics_text, observation_text, parse_opt_time, parse_status, parse_time,
    run_from_row, time_text, to_i64, trigger_text,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction, TransactionBehavior};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::collections::hash_map::{Entry, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a write waits for another connection (or process) holding the write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Observation size cap used until [`Store::set_observation_cap`] says otherwise.
pub const DEFAULT_OBSERVATION_CAP: usize = 65_536;

/// Retention deletes at most this many rows per transaction, so the daemon's writes are
/// never held up for long.
const RETENTION_BATCH: usize = 1_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// Opening (or setting up) the file failed; carries the path for the operator.
    #[error("cannot open the store {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("cannot create the folder {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A read-only open of a file that is not there yet.
    #[error(
        "no results yet: {} does not exist — run `patrol run` or start the daemon",
        path.display()
    )]
    Missing { path: PathBuf },
    #[error(
        "{} was written by a newer patrol (schema version {found}; this patrol knows up to \
         {supported}) — upgrade patrol, or point `store.path` at another file",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A read-only open of a file whose schema is older than this build's (it cannot migrate).
    #[error(
        "{} has schema version {found}, this patrol needs {supported} — run `patrol run` or \
         start the daemon once to bring it up to date",
        path.display()
    )]
    TooOld {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{}: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
    /// A stored value that does not parse (hand-edited or damaged row).
    #[error("unreadable value in the store: {0}")]
    BadValue(String),
    #[error("JSON error in the store: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the store was opened read-only")]
    ReadOnly,
    #[error("{0}")]
    Other(String),
}

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

/// The SQLite store. Share it as `Arc<Store>`.
pub struct Store {
    path: PathBuf,
    /// None when opened read-only.
    writer: Option<Mutex<Connection>>,
    reader: Mutex<Connection>,
    observation_cap: AtomicUsize,
}

const STATE_COLUMNS: &str = "check_id, status, since, consecutive, consecutive_bad, \
     consecutive_ok, last_run, last_duration_ms, summary, next_run, last_scheduled_at";

impl Store {
    /// Opens (creating it and its folders when missing) and migrates the store at `path`.
    /// `path` must be a file: `:memory:` does not work, because the reader connection would
    /// open a second, empty database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut writer = Connection::open(path).map_err(open_err)?;
        writer.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        // Refuse a newer file before touching it (even the journal mode).
        let found = migrations::user_version(&writer).map_err(|e| with_path(e, path))?;
        migrations::refuse_newer(path, found)?;
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = NORMAL;
                 PRAGMA foreign_keys = ON;",
            )
            .map_err(open_err)?;
        migrations::migrate(&mut writer, path).map_err(|e| with_path(e, path))?;
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        setup_reader(&reader).map_err(open_err)?;
        Ok(Store {
            path: path.to_path_buf(),
            writer: Some(Mutex::new(writer)),
            reader: Mutex::new(reader),
            observation_cap: AtomicUsize::new(DEFAULT_OBSERVATION_CAP),
        })
    }

    /// Opens an existing store for reading only (`patrol status`, `patrol history`). Never
    /// creates or migrates anything; write calls return [`StoreError::ReadOnly`].
    pub fn open_read_only(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Err(StoreError::Missing {
                path: path.to_path_buf(),
            });
        }
        let open_err = |source| StoreError::Open {
            path: path.to_path_buf(),
            source,
        };
        let reader = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        setup_reader(&reader).map_err(open_err)?;
        let found = migrations::user_version(&reader).map_err(|e| with_path(e, path))?;
        migrations::refuse_newer(path, found)?;
        if found < SCHEMA_VERSION {
            return Err(StoreError::TooOld {
                path: path.to_path_buf(),
                found,
                supported: SCHEMA_VERSION,
            });
        }
        Ok(Store {
            path: path.to_path_buf(),
            writer: None,
            reader: Mutex::new(reader),
            observation_cap: AtomicUsize::new(DEFAULT_OBSERVATION_CAP),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Observations whose JSON is longer than `bytes` are stored as
    /// `{"truncated": true, "bytes": N, "head": "..."}`. 0 = no limit.
    pub fn set_observation_cap(&self, bytes: usize) {
        self.observation_cap.store(bytes, Ordering::Relaxed);
    }

    /// Stores one run and updates the check's state in one transaction. `probe_state`
    /// replaces the stored probe state when `Some` (`Some(Null)` clears it) and leaves it
    /// alone when `None`. Returns the run id.
    pub fn record_run(
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

    /// The newest `limit` runs of a check, newest first.
    pub fn recent_runs(&self, check_id: &str, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        self.runs_page(check_id, None, limit)
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

    /// The state of one check; None until it has run once.
    pub fn check_state(&self, check_id: &str) -> Result<Option<CheckState>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM check_state WHERE check_id = ?1 AND status IS NOT NULL"
        ))?;
        let mut rows = stmt.query([check_id])?;
        match rows.next()? {
            Some(row) => Ok(Some(state_from_row(row)?)),
            None => Ok(None),
        }
    }

    /// The state of every check that has run at least once, ordered by check id.
    pub fn check_states(&self) -> Result<Vec<CheckState>, StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT {STATE_COLUMNS} FROM check_state WHERE status IS NOT NULL ORDER BY check_id"
        ))?;
        let mut rows = stmt.query([])?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            out.push(state_from_row(row)?);
        }
        Ok(out)
    }

    /// What the probe left for its next run (e.g. a log file offset); Null when nothing.
    pub fn probe_state(&self, check_id: &str) -> Result<serde_json::Value, StoreError> {
        let conn = self.reader();
        let text: Option<Option<String>> = conn
            .prepare_cached("SELECT probe_state FROM check_state WHERE check_id = ?1")?
            .query_row([check_id], |r| r.get(0))
            .optional()?;
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
        let conn = self.writer()?;
        conn.prepare_cached(
            "INSERT INTO check_state (check_id, next_run) VALUES (?1, ?2)
             ON CONFLICT (check_id) DO UPDATE SET next_run = excluded.next_run",
        )?
        .execute(rusqlite::params![check_id, next.map(time_text)])?;
        Ok(())
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

    /// Deletes runs older than `max_age` and, per check, all but the newest
    /// `max_runs_per_check` runs. A zero `max_age` or `max_runs_per_check` turns that limit
    /// off. Works in transactions of at most 1000 rows, releasing the write lock between
    /// them. Returns how many runs were deleted.
    pub fn apply_retention(
        &self,
        max_age: Duration,
        max_runs_per_check: u32,
    ) -> Result<usize, StoreError> {
        // Fail early on a read-only store rather than after the reads below.
        drop(self.writer()?);
        // An age too large for chrono is no limit at all.
        let cutoff = (!max_age.is_zero())
            .then(|| chrono::Duration::from_std(max_age).ok())
            .flatten()
            .and_then(|age| Utc::now().checked_sub_signed(age))
            .map(time_text);
        if cutoff.is_none() && max_runs_per_check == 0 {
            return Ok(0);
        }
        // Per check, so that both limits use the (check_id, started_at) index and inserts
        // need no second index on started_at.
        let checks: Vec<String> = {
            let conn = self.reader();
            // A loose index scan: one index seek per check, not one step per run.
            let mut stmt = conn.prepare(
                "WITH RECURSIVE c(id) AS ( \
                   SELECT min(check_id) FROM runs \
                   UNION ALL \
                   SELECT (SELECT min(check_id) FROM runs WHERE check_id > c.id) \
                   FROM c WHERE c.id IS NOT NULL) \
                 SELECT id FROM c WHERE id IS NOT NULL",
            )?;
            stmt.query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?
        };
        let mut deleted = 0;
        for check_id in checks {
            if let Some(cutoff) = &cutoff {
                deleted += self.delete_in_batches(
                    "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE check_id = ?2 \
                     AND started_at < ?3 LIMIT ?1)",
                    &[&check_id, cutoff],
                )?;
            }
            if max_runs_per_check == 0 {
                continue;
            }
            // The newest run that must go; it and everything older are deleted.
            let first_to_delete: Option<(String, i64)> = self
                .reader()
                .prepare_cached(
                    "SELECT started_at, id FROM runs WHERE check_id = ?1 \
                     ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?2",
                )?
                .query_row(rusqlite::params![check_id, max_runs_per_check], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()?;
            if let Some((started, id)) = first_to_delete {
                deleted += self.delete_in_batches(
                    "DELETE FROM runs WHERE id IN (SELECT id FROM runs WHERE check_id = ?2 \
                     AND (started_at < ?3 OR (started_at = ?3 AND id <= ?4)) LIMIT ?1)",
                    &[&check_id, &started, &id],
                )?;
            }
        }
        Ok(deleted)
    }

    /// Runs a `DELETE ... LIMIT ?1` (other parameters from `?2`) until it deletes fewer
    /// than a batch, each batch in its own transaction with the lock released in between.
    fn delete_in_batches(
        &self,
        sql: &str,
        params: &[&dyn rusqlite::ToSql],
    ) -> Result<usize, StoreError> {
        let batch = to_i64(RETENTION_BATCH as u64);
        let mut all: Vec<&dyn rusqlite::ToSql> = vec![&batch];
        all.extend_from_slice(params);
        let mut total = 0;
        loop {
            let n = {
                let conn = self.writer()?;
                conn.prepare_cached(sql)?.execute(all.as_slice())?
            };
            total += n;
            if n < RETENTION_BATCH {
                return Ok(total);
            }
        }
    }

    /// `PRAGMA integrity_check`: Ok(()) when the file is sound, else the problems found.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let conn = self.reader();
        let mut stmt = conn.prepare("PRAGMA integrity_check")?;
        let lines: Vec<String> = stmt
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        if lines.len() == 1 && lines[0] == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                detail: lines.join("; "),
            })
        }
    }

    fn writer(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        match &self.writer {
            // A panic while holding the lock leaves no half transaction behind (dropping a
            // Transaction rolls back), so the connection is fine to keep using.
            Some(m) => Ok(m.lock().unwrap_or_else(PoisonError::into_inner)),
            None => Err(StoreError::ReadOnly),
        }
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        self.reader.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn setup_reader(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.execute_batch("PRAGMA query_only = ON;")
}

/// Adds the path to a bare SQLite error raised while opening.
fn with_path(e: StoreError, path: &Path) -> StoreError {
    match e {
        StoreError::Sqlite(source) => StoreError::Open {
            path: path.to_path_buf(),
            source,
        },
        other => other,
    }
}

/// A check's state row while runs are being applied to it (in text form, as stored).
struct PendingState {
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
    fn load(tx: &Transaction<'_>, check_id: &str) -> Result<PendingState, StoreError> {
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
    fn apply(
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

    fn save(&self, tx: &Transaction<'_>, check_id: &str) -> Result<(), StoreError> {
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

/// Inserts runs (in order) and updates their checks' states, inside `tx`. Each check's
/// state is read and written once per call, however many of its runs the call holds.
fn insert_runs<'r>(
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

// The daemon shares one store across tokio tasks.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
};
