//! SQLite store: runs, per-check state, migrations, retention (placeholder: being written).

use crate::status::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
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
}

pub struct Store {}

impl Store {
    pub fn open(_path: &Path) -> Result<Store, StoreError> {
        Err(StoreError::Other("the store is not written yet".into()))
    }
}

impl Store {
    pub fn record_run(
        &self,
        _run: &RunRecord,
        _probe_state: Option<&serde_json::Value>,
    ) -> Result<i64, StoreError> {
        Err(StoreError::Other("the store is not written yet".into()))
    }
    pub fn recent_runs(
        &self,
        _check_id: &str,
        _limit: usize,
    ) -> Result<Vec<RunRecord>, StoreError> {
        Ok(Vec::new())
    }
    pub fn probe_state(&self, _check_id: &str) -> Result<serde_json::Value, StoreError> {
        Ok(serde_json::Value::Null)
    }
}

impl Store {
    pub fn open_read_only(_path: &Path) -> Result<Store, StoreError> {
        Err(StoreError::Other("the store is not written yet".into()))
    }
    pub fn check_states(&self) -> Result<Vec<CheckState>, StoreError> {
        Ok(Vec::new())
    }

    // Placeholders for the daemon until the real store lands (the daemon branch keeps the
    // real store's versions on merge).
    pub fn last_scheduled_at(&self, _check_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(None)
    }
    pub fn set_next_run(
        &self,
        _check_id: &str,
        _next: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        Ok(())
    }
    pub fn apply_retention(
        &self,
        _max_age: crate::config::Dur,
        _max_runs_per_check: u32,
    ) -> Result<u64, StoreError> {
        Ok(0)
    }
}
