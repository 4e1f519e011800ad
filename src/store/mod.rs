//! SQLite store: runs (`runs.rs`), per-check state (`state.rs`), retention (`retention.rs`),
//! the alerting tables (`alerts.rs`), the web's queries (`web.rs`) and migrations.
//!
//! One file in WAL mode, so `patrol status` and the web page read while the daemon writes,
//! and a killed process loses at most the transaction it was in. A [`Store`] holds two
//! connections — one writer, one reader — each behind a mutex, so it is `Send + Sync` and can
//! be shared as `Arc<Store>`. Every call is short; async callers may wrap them in
//! `spawn_blocking`. Several processes may open the same file: writes take the lock up front
//! (`BEGIN IMMEDIATE`) and wait up to [`BUSY_TIMEOUT`] for each other.
//!
//! Times are stored as fixed-width RFC 3339 UTC text (see `codec`), so they sort as text.
//!
//! A store fault (a read-only file or folder, a full disk, a file that cannot be opened) does
//! not stop the daemon: with write-behind on, results wait in memory and are written when the
//! store takes writes again (`backlog.rs`).

mod alerts;
mod backlog;
mod codec;
mod meta;
mod migrations;
mod retention;
mod runs;
mod state;
mod web;

pub use alerts::{OutboxFilter, OutboxItem, OutboxRow, OutboxState, Silence};
pub use backlog::{MAX_QUEUED, StoreFault};
pub use migrations::SCHEMA_VERSION;
pub use runs::{RunRecord, Trigger};
pub use state::CheckState;
pub use web::{OutboxCount, RunBrief};

// The alerting tables record runs together with their notifications.
use runs::insert_runs;

use backlog::Backlog;
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How long a write waits for another connection (or process) holding the write lock.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Observation size cap used until [`Store::set_observation_cap`] says otherwise.
pub const DEFAULT_OBSERVATION_CAP: usize = 65_536;

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
    /// The daemon's store has a fault its writes are waiting out.
    #[error("the store cannot be written: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

/// The SQLite store. Share it as `Arc<Store>`.
pub struct Store {
    path: PathBuf,
    /// None when opened read-only.
    writer: Option<Mutex<Connection>>,
    reader: Mutex<Connection>,
    observation_cap: AtomicUsize,
    /// Writes waiting out a fault (the daemon's write-behind).
    backlog: Mutex<Backlog>,
}

impl Store {
    /// Opens (creating it and its folders when missing) and migrates the store at `path`.
    /// `path` must be a file: `:memory:` does not work, because the reader connection would
    /// open a second, empty database.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let (writer, reader) = connect(path)?;
        Ok(Store {
            path: path.to_path_buf(),
            writer: Some(Mutex::new(writer)),
            reader: Mutex::new(reader),
            observation_cap: AtomicUsize::new(DEFAULT_OBSERVATION_CAP),
            backlog: Mutex::default(),
        })
    }

    /// The daemon's store: opened like [`Store::open`], with write-behind on. A store that
    /// cannot be opened now (a read-only folder, a file that cannot be read) is no error: it
    /// starts faulted, with an in-memory stand-in behind it (or a read-only view of the file),
    /// checks run, results wait in memory, and [`Store::recover`] opens the real file once
    /// it can. Fails only when not even an in-memory database can be made.
    pub fn open_for_daemon(path: &Path) -> Result<Store, StoreError> {
        let store = match Store::open(path) {
            Ok(store) => store,
            Err(e) => {
                let store = Store::stand_in(path)?;
                let mut b = store.backlog();
                b.enabled = true;
                b.fail(&e);
                drop(b);
                store
            }
        };
        store.keep_writes_on_fault();
        Ok(store)
    }

    /// A store for `path` with an empty in-memory database to write to (nothing written
    /// lands in the file) until [`Store::recover`] opens the file.
    fn stand_in(path: &Path) -> Result<Store, StoreError> {
        Ok(Store {
            path: path.to_path_buf(),
            writer: Some(Mutex::new(empty_database()?)),
            reader: Mutex::new(readable_or_empty(path)?),
            observation_cap: AtomicUsize::new(DEFAULT_OBSERVATION_CAP),
            backlog: Mutex::default(),
        })
    }

    /// Opens fresh connections to the file and puts them in place of the old ones. The old
    /// ones are closed first: SQLite shares one shared-memory mapping per file in a process,
    /// and one opened read-only would stay read-only. When the file cannot be opened for
    /// writing, reads go on from a read-only connection (or an empty stand-in).
    fn reconnect(&self) -> Result<(), StoreError> {
        let (Some(writer), reader) = (&self.writer, &self.reader) else {
            return Err(StoreError::ReadOnly);
        };
        let mut w = writer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut r = reader.lock().unwrap_or_else(PoisonError::into_inner);
        *w = empty_database()?;
        *r = empty_database()?;
        match connect(&self.path) {
            Ok((new_w, new_r)) => {
                *w = new_w;
                *r = new_r;
                Ok(())
            }
            Err(e) => {
                *r = readable_or_empty(&self.path)?;
                Err(e)
            }
        }
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
            backlog: Mutex::default(),
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

    /// Lock order: `backlog` before `writer`/`reader`, never the other way round.
    fn backlog(&self) -> MutexGuard<'_, Backlog> {
        self.backlog.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Opens (creating it and its folders when missing) and migrates the store at `path`: the
/// writer and the reader connection.
fn connect(path: &Path) -> Result<(Connection, Connection), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    repair_side_files(path);
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
    Ok((writer, reader))
}

/// The WAL's side files (`-wal`, `-shm`) take the database's permissions when SQLite creates
/// them, so a daemon that once ran with a read-only database leaves a read-only `-shm` that
/// keeps every later open read-only. When the database itself is writable and a side file is
/// not, give the side file the database's mode (only its owner can; otherwise say so).
fn repair_side_files(path: &Path) {
    use nix::unistd::{AccessFlags, access};
    use std::os::unix::fs::PermissionsExt;
    if access(path, AccessFlags::W_OK).is_err() {
        return;
    }
    let Ok(mode) = std::fs::metadata(path).map(|m| m.permissions().mode() & 0o7777) else {
        return;
    };
    for suffix in ["-wal", "-shm"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if !side.exists() || access(&side, AccessFlags::W_OK).is_ok() {
            continue;
        }
        match std::fs::set_permissions(&side, std::fs::Permissions::from_mode(mode)) {
            Ok(()) => tracing::warn!(
                file = %side.display(),
                "the store's side file was not writable (left by an earlier run): made it as \
                 writable as the database"
            ),
            Err(e) => tracing::error!(
                file = %side.display(),
                "the store's side file is not writable and cannot be fixed ({e}): the store \
                 stays read-only until its owner makes it writable"
            ),
        }
    }
}

/// An empty database with the current schema, in memory: what reads see while the real file
/// cannot be opened.
fn empty_database() -> Result<Connection, StoreError> {
    let mut conn = Connection::open_in_memory()?;
    migrations::migrate(&mut conn, Path::new(":memory:"))?;
    Ok(conn)
}

/// A read-only connection to the file when it can be read, for the pages during a fault;
/// else an empty stand-in.
fn readable_or_empty(path: &Path) -> Result<Connection, StoreError> {
    let readable = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .ok()
    .filter(|c| {
        setup_reader(c).is_ok() && migrations::user_version(c).is_ok_and(|v| v == SCHEMA_VERSION)
    });
    match readable {
        Some(c) => Ok(c),
        None => empty_database(),
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

// The daemon shares one store across tokio tasks.
const _: () = {
    const fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Store>();
};

/// Helpers for the unit tests of the store's modules: real files in a temporary folder.
#[cfg(test)]
pub(crate) mod testing {
    use super::{RunRecord, Store, Trigger};
    use crate::status::Status;
    use chrono::{DateTime, TimeZone, Utc};
    use std::collections::BTreeMap;

    /// A fresh store in its own temporary folder (kept alive by the returned guard).
    pub fn temp_store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("temporary folder");
        let store = Store::open(&dir.path().join("patrol.db")).expect("store opens");
        (dir, store)
    }

    /// 2025-06-01 12:00 UTC plus `minutes`.
    pub fn at(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
    }

    /// A scheduled run of `check` with `status`, started at `started_at`.
    pub fn run(check: &str, status: Status, started_at: DateTime<Utc>) -> RunRecord {
        RunRecord {
            id: None,
            check_id: check.to_string(),
            trigger: Trigger::Schedule,
            scheduled_at: Some(started_at),
            started_at,
            duration_ms: 7,
            status,
            summary: format!("{check} is {status}"),
            metrics: BTreeMap::from([("ms".to_string(), 7.0)]),
            facts: BTreeMap::new(),
            observation: serde_json::json!({"n": 1}),
            attempts: 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{at, run, temp_store};
    use super::*;
    use crate::status::Status;

    #[test]
    fn open_creates_the_folders_and_a_sound_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/patrol.db");
        let store = Store::open(&path).unwrap();
        assert!(path.is_file());
        assert_eq!(store.path(), path);
        store.integrity_check().unwrap();
    }

    #[test]
    fn read_only_opens_refuse_missing_files_and_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("patrol.db");
        assert!(matches!(
            Store::open_read_only(&path),
            Err(StoreError::Missing { .. })
        ));
        let store = Store::open(&path).unwrap();
        store
            .record_run(&run("c", Status::Ok, at(0)), None)
            .unwrap();
        drop(store);
        let ro = Store::open_read_only(&path).unwrap();
        assert_eq!(ro.count_runs(None).unwrap(), 1);
        assert!(matches!(ro.writer(), Err(StoreError::ReadOnly)));
        assert!(matches!(
            ro.record_run(&run("c", Status::Ok, at(1)), None),
            Err(StoreError::ReadOnly)
        ));
    }

    #[test]
    fn the_observation_cap_applies_to_later_runs() {
        let (_dir, store) = temp_store();
        store.set_observation_cap(16);
        let mut big = run("c", Status::Ok, at(0));
        big.observation = serde_json::json!({"body": "x".repeat(100)});
        let id = store.record_run(&big, None).unwrap();
        let stored = store.run(id).unwrap().unwrap();
        assert_eq!(stored.observation["truncated"], true);
    }
}
