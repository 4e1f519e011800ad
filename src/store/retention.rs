//! Retention: deleting old runs by age and by count per check, in small transactions so that
//! the daemon's writes are never held up for long.

use super::codec::{time_text, to_i64};
use super::{Store, StoreError};
use chrono::Utc;
use rusqlite::OptionalExtension;
use std::time::Duration;

/// Retention deletes at most this many rows per transaction, so the daemon's writes are
/// never held up for long.
const RETENTION_BATCH: usize = 1_000;

impl Store {
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
}

#[cfg(test)]
mod tests {
    use super::super::testing::{run, temp_store};
    use super::*;
    use crate::status::Status;

    #[test]
    fn no_limits_delete_nothing() {
        let (_dir, store) = temp_store();
        store
            .record_run(&run("a", Status::Ok, Utc::now()), None)
            .unwrap();
        assert_eq!(store.apply_retention(Duration::ZERO, 0).unwrap(), 0);
        assert_eq!(store.count_runs(None).unwrap(), 1);
    }

    #[test]
    fn age_and_count_limits_apply_per_check() {
        let (_dir, store) = temp_store();
        let now = Utc::now();
        let old = now - chrono::Duration::days(10);
        let runs: Vec<_> = [
            ("a", old),
            ("a", now - chrono::Duration::minutes(3)),
            ("a", now - chrono::Duration::minutes(2)),
            ("a", now - chrono::Duration::minutes(1)),
            ("b", old),
            ("b", now),
        ]
        .into_iter()
        .map(|(c, t)| (run(c, Status::Ok, t), None))
        .collect();
        store.record_runs(&runs).unwrap();
        // Older than a day: one of each check.
        let deleted = store
            .apply_retention(Duration::from_secs(86_400), 0)
            .unwrap();
        assert_eq!(deleted, 2);
        // Then at most two per check: the oldest remaining run of `a`.
        assert_eq!(store.apply_retention(Duration::ZERO, 2).unwrap(), 1);
        let a: Vec<_> = store
            .recent_runs("a", 10)
            .unwrap()
            .into_iter()
            .map(|r| r.started_at)
            .collect();
        assert_eq!(a.len(), 2);
        assert!(a.iter().all(|t| *t > now - chrono::Duration::minutes(3)));
        assert_eq!(store.count_runs(Some("b")).unwrap(), 1);
    }

    #[test]
    fn large_deletions_go_in_batches() {
        let (_dir, store) = temp_store();
        let old = Utc::now() - chrono::Duration::days(2);
        let n = RETENTION_BATCH * 2 + 17;
        let runs: Vec<_> = (0..n)
            .map(|i| {
                let t = old + chrono::Duration::seconds(i as i64);
                (run("a", Status::Ok, t), None)
            })
            .collect();
        store.record_runs(&runs).unwrap();
        let deleted = store
            .apply_retention(Duration::from_secs(86_400), 0)
            .unwrap();
        assert_eq!(deleted, n);
        assert_eq!(store.count_runs(None).unwrap(), 0);
    }

    #[test]
    fn a_read_only_store_refuses_retention() {
        let (dir, store) = temp_store();
        drop(store);
        let ro = Store::open_read_only(&dir.path().join("patrol.db")).unwrap();
        assert!(matches!(
            ro.apply_retention(Duration::from_secs(1), 1),
            Err(StoreError::ReadOnly)
        ));
    }
}
