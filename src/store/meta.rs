//! Small key/value facts in `store_meta` (no migration: the table exists since V1), and the
//! counts the daemon's self-report reads from the runs table.

use super::codec::{parse_opt_time, time_text};
use super::{Store, StoreError};
use chrono::{DateTime, Utc};
use rusqlite::OptionalExtension;

impl Store {
    /// A value of `store_meta` as text (None when unset).
    pub fn meta_text(&self, key: &str) -> Result<Option<String>, StoreError> {
        let conn = self.reader();
        let v: Option<rusqlite::types::Value> = conn
            .prepare_cached("SELECT value FROM store_meta WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?;
        Ok(v.and_then(|v| match v {
            rusqlite::types::Value::Text(t) => Some(t),
            rusqlite::types::Value::Integer(i) => Some(i.to_string()),
            rusqlite::types::Value::Real(f) => Some(f.to_string()),
            _ => None,
        }))
    }

    /// Sets (replaces) a value of `store_meta`.
    pub fn set_meta_text(&self, key: &str, value: &str) -> Result<(), StoreError> {
        let conn = self.writer()?;
        conn.prepare_cached(
            "INSERT INTO store_meta (key, value) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )?
        .execute(rusqlite::params![key, value])?;
        Ok(())
    }

    /// A time kept in `store_meta`.
    pub fn meta_time(&self, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        parse_opt_time(self.meta_text(key)?)
    }

    /// Keeps a time in `store_meta`.
    pub fn set_meta_time(&self, key: &str, t: DateTime<Utc>) -> Result<(), StoreError> {
        self.set_meta_text(key, &time_text(t))
    }

    /// How many scheduled runs (trigger `schedule` or `misfire`) started at or after `since`.
    pub fn count_scheduled_runs_since(&self, since: DateTime<Utc>) -> Result<u64, StoreError> {
        let conn = self.reader();
        let n: i64 = conn
            .prepare_cached(
                "SELECT count(*) FROM runs WHERE started_at >= ?1 \
                 AND triggered_by IN ('schedule', 'misfire')",
            )?
            .query_row([time_text(since)], |r| r.get(0))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_values_round_trip_and_replace() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&dir.path().join("p.db")).expect("open");
        assert_eq!(store.meta_text("x").expect("read"), None);
        store.set_meta_text("x", "1").expect("write");
        store.set_meta_text("x", "2").expect("write");
        assert_eq!(store.meta_text("x").expect("read").as_deref(), Some("2"));
        let t: DateTime<Utc> = "2026-03-29T01:00:00Z".parse().expect("time");
        store.set_meta_time("t", t).expect("write");
        assert_eq!(store.meta_time("t").expect("read"), Some(t));
        assert_eq!(store.count_scheduled_runs_since(t).expect("count"), 0);
    }
}
