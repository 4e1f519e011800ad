//! Schema migrations, tracked in `PRAGMA user_version`.
//!
//! `MIGRATIONS[i]` takes the schema from version `i` to version `i + 1`. Each one runs in its
//! own `BEGIN IMMEDIATE` transaction together with the `user_version` bump, so a crash leaves
//! the database at a whole version. To change the schema, append one entry; never edit or
//! reorder an entry that has shipped.

use super::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;

/// Version 1: runs and per-check state.
const V1_RUNS_AND_STATE: &str = r#"
CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,               -- never reused: see store_meta.runs_last_id
    check_id      TEXT    NOT NULL,
    triggered_by  TEXT    NOT NULL,                  -- schedule | misfire | manual
    scheduled_at  TEXT,                              -- RFC 3339 UTC, fixed width (sortable)
    started_at    TEXT    NOT NULL,
    duration_ms   INTEGER NOT NULL,
    status        TEXT    NOT NULL,                  -- ok | warning | critical | unknown
    summary       TEXT    NOT NULL,
    metrics       TEXT    NOT NULL,                  -- JSON object of numbers
    facts         TEXT    NOT NULL,                  -- JSON object
    observation   TEXT    NOT NULL,                  -- JSON, redacted and size-capped
    attempts      INTEGER NOT NULL
);
CREATE INDEX runs_by_check ON runs (check_id, started_at);

-- Small facts about the store itself. `runs_last_id` is the highest run id ever handed out,
-- so that ids stay unique after retention deleted the newest runs (AUTOINCREMENT would do the
-- same but costs a write per row; this costs one per transaction).
CREATE TABLE store_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value
) WITHOUT ROWID;

-- One row per check. status/since/last_run are NULL until the check's first run (a row can
-- exist earlier because the scheduler records next_run for checks that never ran).
CREATE TABLE check_state (
    check_id          TEXT PRIMARY KEY NOT NULL,
    status            TEXT,
    since             TEXT,
    consecutive       INTEGER NOT NULL DEFAULT 0,
    consecutive_bad   INTEGER NOT NULL DEFAULT 0,
    consecutive_ok    INTEGER NOT NULL DEFAULT 0,
    last_run          TEXT,
    last_duration_ms  INTEGER NOT NULL DEFAULT 0,
    summary           TEXT    NOT NULL DEFAULT '',
    next_run          TEXT,
    last_scheduled_at TEXT,                          -- latest scheduled_at of a schedule/misfire run
    probe_state       TEXT                           -- JSON, NULL when the probe keeps none
) WITHOUT ROWID;
"#;

/// Version 2: alerting — the policy's state per check, the outbox, silences.
const V2_ALERTING: &str = r#"
CREATE TABLE alert_state (
    check_id   TEXT PRIMARY KEY NOT NULL,
    state      TEXT NOT NULL,                        -- JSON of alert::policy::AlertState
    updated_at TEXT NOT NULL
) WITHOUT ROWID;

-- One row per notification and channel, written in the transaction of the run that caused it.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,                   -- reused on every retry
    channel         TEXT NOT NULL,
    check_id        TEXT,
    kind            TEXT NOT NULL,                   -- firing | resolved | reminder | flapping | test
    severity        TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    event           TEXT NOT NULL,                   -- JSON of alert::event::AlertEvent (redacted)
    state           TEXT NOT NULL DEFAULT 'pending', -- pending | sent | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    response        TEXT,
    sent_at         TEXT,
    delivery_id     TEXT,                            -- the (grouped) message it went out in
    UNIQUE (event_id, channel)
);
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX outbox_by_time ON outbox (created_at);

CREATE TABLE silences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    check_id   TEXT,
    tag        TEXT,
    starts_at  TEXT NOT NULL,
    ends_at    TEXT NOT NULL,
    reason     TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    removed_at TEXT
);
"#;

/// The ordered schema history. Append here (one line per new version).
pub(crate) const MIGRATIONS: &[&str] = &[V1_RUNS_AND_STATE, V2_ALERTING];

/// The schema version this build writes and reads.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

pub(crate) fn user_version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Refuses a database written by a newer patrol: its schema may mean things this build
/// does not know, and writing to it could corrupt the newer layout.
pub(crate) fn refuse_newer(path: &Path, found: i64) -> Result<(), StoreError> {
    if found > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            path: path.to_path_buf(),
            found,
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Brings the schema up to [`SCHEMA_VERSION`]. Safe when several processes open the same
/// file at once: the version is re-read inside each write transaction.
pub(crate) fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = user_version(&tx)?;
        refuse_newer(path, current)?;
        if current == SCHEMA_VERSION {
            return Ok(());
        }
        // current < SCHEMA_VERSION here, and never negative unless someone set it by hand.
        let index = usize::try_from(current).map_err(|_| StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("negative schema version {current}"),
        })?;
        let Some(sql) = MIGRATIONS.get(index) else {
            return Ok(());
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", current + 1)?;
        tx.commit()?;
    }
}
