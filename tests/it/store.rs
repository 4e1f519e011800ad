//! The SQLite store against real database files in temporary folders.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use patrol::status::Status;
use patrol::store::{CheckState, RunRecord, SCHEMA_VERSION, Store, StoreError, Trigger};
use rusqlite::Connection;
use serde_json::json;
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 6, 1, 12, 0, 0).unwrap()
}

fn run_at(check: &str, status: Status, started_at: DateTime<Utc>) -> RunRecord {
    RunRecord {
        id: None,
        check_id: check.to_string(),
        trigger: Trigger::Schedule,
        scheduled_at: Some(started_at),
        started_at,
        duration_ms: 12,
        status,
        summary: format!("{check} is {status}"),
        metrics: BTreeMap::from([("latency_ms".to_string(), 12.5)]),
        facts: BTreeMap::from([("host".to_string(), json!("db1"))]),
        observation: json!({ "status": 200, "body": "fine" }),
        attempts: 1,
    }
}

fn state(store: &Store, check: &str) -> CheckState {
    store.check_state(check).unwrap().expect("state exists")
}

#[test]
fn migrations_from_empty_create_schema_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a/b/patrol.db");
    let store = Store::open(&path).unwrap();
    assert!(path.exists(), "parent folders and file created");
    assert!(store.check_states().unwrap().is_empty());
    assert_eq!(store.count_runs(None).unwrap(), 0);

    let raw = Connection::open(&path).unwrap();
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.contains(&"runs".to_string()), "{tables:?}");
    assert!(tables.contains(&"check_state".to_string()), "{tables:?}");
    let indexes: Vec<String> = raw
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'runs'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        indexes.contains(&"runs_by_check".to_string()),
        "{indexes:?}"
    );
}

#[test]
fn reopen_keeps_data_and_round_trips_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patrol.db");
    let mut run = run_at("web", Status::Warning, t0());
    run.trigger = Trigger::Misfire;
    run.started_at = t0() + ChronoDuration::nanoseconds(123_456_789);
    run.duration_ms = 4321;
    run.attempts = 3;
    run.facts.insert("list".into(), json!([1, "two", null]));
    let id = {
        let store = Store::open(&path).unwrap();
        store.record_run(&run, Some(&json!({"offset": 7}))).unwrap()
    };
    let store = Store::open(&path).unwrap();
    let back = store.run(id).unwrap().expect("run kept");
    assert_eq!(back.id, Some(id));
    assert_eq!(back.check_id, "web");
    assert_eq!(back.trigger, Trigger::Misfire);
    assert_eq!(back.scheduled_at, run.scheduled_at);
    assert_eq!(back.started_at, run.started_at, "nanoseconds survive");
    assert_eq!(back.duration_ms, 4321);
    assert_eq!(back.status, Status::Warning);
    assert_eq!(back.summary, run.summary);
    assert_eq!(back.metrics, run.metrics);
    assert_eq!(back.facts, run.facts);
    assert_eq!(back.observation, run.observation);
    assert_eq!(back.attempts, 3);
    assert_eq!(store.probe_state("web").unwrap(), json!({"offset": 7}));
    let st = state(&store, "web");
    assert_eq!(st.status, Status::Warning);
    assert_eq!(st.last_run, run.started_at);
    assert_eq!(st.last_duration_ms, 4321);
    assert!(store.run(id + 1000).unwrap().is_none());
}

#[test]
fn database_from_newer_patrol_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patrol.db");
    {
        let raw = Connection::open(&path).unwrap();
        raw.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
            .unwrap();
    }
    let err = Store::open(&path).err().expect("refused");
    assert!(
        matches!(err, StoreError::TooNew { found: 99, supported, .. } if supported == SCHEMA_VERSION),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("newer patrol") && msg.contains("patrol.db"),
        "{msg}"
    );
    let err = Store::open_read_only(&path).err().expect("refused");
    assert!(matches!(err, StoreError::TooNew { .. }), "{err:?}");

    let raw = Connection::open(&path).unwrap();
    let mode: String = raw
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "delete", "the newer file was not switched to WAL");
    let version: i64 = raw
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 99);
}

#[test]
fn open_of_a_file_that_is_not_a_database_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.db");
    std::fs::write(
        &path,
        "this is not sqlite, just some text that is long enough ".repeat(20),
    )
    .unwrap();
    let err = Store::open(&path).err().expect("refused");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains("notes.db"), "{err}");
}

#[test]
fn read_only_open_reads_and_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/patrol.db");
    let err = Store::open_read_only(&path).err().expect("missing");
    let msg = err.to_string();
    assert!(
        msg.starts_with("no results yet: ")
            && msg.contains(&path.display().to_string())
            && msg.contains("does not exist")
            && msg.contains("patrol run"),
        "{msg}"
    );
    assert!(!path.exists(), "a read-only open creates nothing");

    {
        let store = Store::open(&path).unwrap();
        store
            .record_run(&run_at("web", Status::Ok, t0()), None)
            .unwrap();
    }
    // The writer is closed: WAL and shm files are gone, reading must still work.
    let ro = Store::open_read_only(&path).unwrap();
    assert_eq!(ro.recent_runs("web", 10).unwrap().len(), 1);
    assert_eq!(state(&ro, "web").status, Status::Ok);
    assert!(matches!(
        ro.record_run(&run_at("web", Status::Ok, t0()), None),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        ro.set_next_run("web", None),
        Err(StoreError::ReadOnly)
    ));
    assert!(matches!(
        ro.apply_retention(Duration::from_secs(1), 1),
        Err(StoreError::ReadOnly)
    ));

    // While a writer is open, the reader sees its new commits.
    let rw = Store::open(&path).unwrap();
    rw.record_run(
        &run_at("web", Status::Critical, t0() + ChronoDuration::seconds(60)),
        None,
    )
    .unwrap();
    assert_eq!(state(&ro, "web").status, Status::Critical);
    assert_eq!(ro.count_runs(Some("web")).unwrap(), 2);
}

#[test]
fn read_only_open_of_an_unmigrated_file_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patrol.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE x (y);")
        .unwrap();
    let err = Store::open_read_only(&path).err().expect("refused");
    assert!(
        matches!(err, StoreError::TooOld { found: 0, .. }),
        "{err:?}"
    );
}

#[test]
fn state_transitions_count_streaks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    let at = |m: i64| t0() + ChronoDuration::minutes(m);
    // (status, since, consecutive, consecutive_bad, consecutive_ok) after each run.
    let expected = [
        (Status::Ok, at(0), 1, 0, 1),
        (Status::Ok, at(0), 2, 0, 2),
        (Status::Critical, at(2), 1, 1, 0),
        (Status::Critical, at(2), 2, 2, 0),
        (Status::Warning, at(4), 1, 3, 0),
        (Status::Ok, at(5), 1, 0, 1),
    ];
    for (i, (status, since, consecutive, bad, ok)) in expected.into_iter().enumerate() {
        let mut run = run_at("db", status, at(i as i64));
        run.summary = format!("run {i}");
        run.duration_ms = i as u64;
        store.record_run(&run, None).unwrap();
        let st = state(&store, "db");
        assert_eq!(st.status, status, "run {i}");
        assert_eq!(st.since, since, "run {i}");
        assert_eq!(st.consecutive, consecutive, "run {i}");
        assert_eq!(st.consecutive_bad, bad, "run {i}");
        assert_eq!(st.consecutive_ok, ok, "run {i}");
        assert_eq!(st.last_run, at(i as i64), "run {i}");
        assert_eq!(st.last_duration_ms, i as u64, "run {i}");
        assert_eq!(st.summary, format!("run {i}"));
    }
    // Another check's state is its own.
    store
        .record_run(&run_at("web", Status::Unknown, at(9)), None)
        .unwrap();
    assert_eq!(state(&store, "db").status, Status::Ok);
    let all: Vec<String> = store
        .check_states()
        .unwrap()
        .into_iter()
        .map(|s| s.check_id)
        .collect();
    assert_eq!(all, ["db", "web"]);
}

#[test]
fn batched_runs_update_state_like_single_ones() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    let batch: Vec<(RunRecord, Option<serde_json::Value>)> = (0..10)
        .map(|i| {
            let status = if i < 7 { Status::Ok } else { Status::Critical };
            let probe = (i == 3).then(|| json!({"cursor": i}));
            (
                run_at("b", status, t0() + ChronoDuration::seconds(i)),
                probe,
            )
        })
        .collect();
    let ids = store.record_runs(&batch).unwrap();
    assert_eq!(ids.len(), 10);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let st = state(&store, "b");
    assert_eq!(
        (st.status, st.consecutive, st.consecutive_bad),
        (Status::Critical, 3, 3)
    );
    assert_eq!(st.since, t0() + ChronoDuration::seconds(7));
    assert_eq!(store.probe_state("b").unwrap(), json!({"cursor": 3}));
    assert_eq!(store.count_runs(Some("b")).unwrap(), 10);
}

#[test]
fn a_batch_of_interleaved_checks_ends_in_the_same_state_as_single_runs() {
    let dir = tempfile::tempdir().unwrap();
    let single = Store::open(&dir.path().join("single.db")).unwrap();
    let batched = Store::open(&dir.path().join("batched.db")).unwrap();
    let statuses = [
        Status::Ok,
        Status::Warning,
        Status::Critical,
        Status::Unknown,
    ];
    let mut runs = Vec::new();
    for i in 0..60_i64 {
        let check = ["x", "y", "z"][(i % 3) as usize];
        let status = statuses[((i * 7 / 5) % 4) as usize];
        let mut run = run_at(check, status, t0() + ChronoDuration::seconds(i));
        if i % 4 == 0 {
            run.trigger = Trigger::Manual;
            run.scheduled_at = None;
        }
        let probe = match i % 5 {
            0 => Some(json!({ "i": i })),
            1 if i > 40 => Some(serde_json::Value::Null),
            _ => None,
        };
        runs.push((run, probe));
    }
    // Part of the history already stored, so the batch continues existing states.
    for (run, probe) in &runs[..10] {
        single.record_run(run, probe.as_ref()).unwrap();
        batched.record_run(run, probe.as_ref()).unwrap();
    }
    for (run, probe) in &runs[10..] {
        single.record_run(run, probe.as_ref()).unwrap();
    }
    batched.record_runs(&runs[10..]).unwrap();
    let a = serde_json::to_value(single.check_states().unwrap()).unwrap();
    let b = serde_json::to_value(batched.check_states().unwrap()).unwrap();
    assert_eq!(a, b);
    for c in ["x", "y", "z"] {
        assert_eq!(
            single.probe_state(c).unwrap(),
            batched.probe_state(c).unwrap(),
            "{c}"
        );
    }
}

#[test]
fn probe_state_round_trips_and_is_kept_when_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    assert_eq!(store.probe_state("log").unwrap(), serde_json::Value::Null);
    let first = json!({"inode": 42, "offset": 1024, "files": ["a.log", "b.log"]});
    store
        .record_run(&run_at("log", Status::Ok, t0()), Some(&first))
        .unwrap();
    assert_eq!(store.probe_state("log").unwrap(), first);
    store
        .record_run(
            &run_at("log", Status::Ok, t0() + ChronoDuration::seconds(1)),
            None,
        )
        .unwrap();
    assert_eq!(store.probe_state("log").unwrap(), first, "kept when None");
    let second = json!({"inode": 42, "offset": 2048});
    store
        .record_run(
            &run_at("log", Status::Ok, t0() + ChronoDuration::seconds(2)),
            Some(&second),
        )
        .unwrap();
    assert_eq!(
        store.probe_state("log").unwrap(),
        second,
        "replaced when Some"
    );
    // next_run writes must not disturb it.
    store.set_next_run("log", Some(t0())).unwrap();
    assert_eq!(store.probe_state("log").unwrap(), second);
    store
        .record_run(
            &run_at("log", Status::Ok, t0() + ChronoDuration::seconds(3)),
            Some(&serde_json::Value::Null),
        )
        .unwrap();
    assert_eq!(
        store.probe_state("log").unwrap(),
        serde_json::Value::Null,
        "Some(Null) clears"
    );
}

#[test]
fn observation_cap_keeps_valid_json() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    store.set_observation_cap(300);
    let mut big = run_at("http", Status::Ok, t0());
    big.observation = json!({ "body": "ünïcödé \"quoted\" line\n".repeat(500) });
    let original_len = serde_json::to_string(&big.observation).unwrap().len();
    let id = store.record_run(&big, None).unwrap();
    let stored = store.run(id).unwrap().unwrap().observation;
    assert_eq!(stored["truncated"], json!(true));
    assert_eq!(stored["bytes"], json!(original_len));
    let head = stored["head"].as_str().expect("head is a string");
    assert!(head.starts_with("{\"body\":\"ünïcödé"), "{head}");
    assert!(serde_json::to_string(&stored).unwrap().len() <= 300);

    let small = run_at("http", Status::Ok, t0() + ChronoDuration::seconds(1));
    let id = store.record_run(&small, None).unwrap();
    assert_eq!(
        store.run(id).unwrap().unwrap().observation,
        small.observation
    );

    store.set_observation_cap(0);
    let id = store.record_run(&big, None).unwrap();
    assert_eq!(
        store.run(id).unwrap().unwrap().observation,
        big.observation,
        "0 = no cap"
    );
}

#[test]
fn retention_by_age_deletes_only_old_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    let now = Utc::now();
    let mut batch = Vec::new();
    // 2,500 old runs: more than one deletion batch.
    for i in 0..2500 {
        let check = if i % 2 == 0 { "a" } else { "b" };
        let at = now - ChronoDuration::days(100) + ChronoDuration::seconds(i);
        batch.push((run_at(check, Status::Ok, at), None));
    }
    for i in 0..5 {
        batch.push((
            run_at(
                "a",
                Status::Ok,
                now - ChronoDuration::days(1) + ChronoDuration::seconds(i),
            ),
            None,
        ));
        batch.push((
            run_at(
                "c",
                Status::Ok,
                now - ChronoDuration::hours(1) + ChronoDuration::seconds(i),
            ),
            None,
        ));
    }
    store.record_runs(&batch).unwrap();
    let deleted = store
        .apply_retention(Duration::from_secs(90 * 86_400), 0)
        .unwrap();
    assert_eq!(deleted, 2500);
    assert_eq!(store.count_runs(Some("a")).unwrap(), 5);
    assert_eq!(store.count_runs(Some("b")).unwrap(), 0);
    assert_eq!(store.count_runs(Some("c")).unwrap(), 5);
    // States outlive their runs.
    assert_eq!(state(&store, "b").consecutive, 1250);
    // A second pass finds nothing; zero limits delete nothing.
    assert_eq!(
        store
            .apply_retention(Duration::from_secs(90 * 86_400), 0)
            .unwrap(),
        0
    );
    assert_eq!(store.apply_retention(Duration::ZERO, 0).unwrap(), 0);
    assert_eq!(store.count_runs(None).unwrap(), 10);
}

#[test]
fn run_ids_are_not_reused_after_retention_deleted_the_newest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patrol.db");
    let store = Store::open(&path).unwrap();
    let old = Utc::now() - ChronoDuration::days(200);
    let ids = store
        .record_runs(&[
            (run_at("a", Status::Ok, old), None),
            (run_at("b", Status::Ok, old), None),
        ])
        .unwrap();
    assert_eq!(
        store
            .apply_retention(Duration::from_secs(86_400), 0)
            .unwrap(),
        2
    );
    assert_eq!(store.count_runs(None).unwrap(), 0);
    drop(store);
    let store = Store::open(&path).unwrap();
    let next = store
        .record_run(&run_at("a", Status::Ok, Utc::now()), None)
        .unwrap();
    assert!(next > ids[1], "{next} reuses an id up to {}", ids[1]);
}

#[test]
fn retention_by_count_keeps_newest_per_check() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    let now = Utc::now();
    let mut batch = Vec::new();
    for i in 0..2300 {
        batch.push((
            run_at(
                "busy",
                Status::Ok,
                now - ChronoDuration::seconds(10_000 - i),
            ),
            None,
        ));
    }
    for i in 0..8 {
        batch.push((
            run_at(
                "quiet",
                Status::Ok,
                now - ChronoDuration::days(3) + ChronoDuration::seconds(i),
            ),
            None,
        ));
    }
    // Out of insertion order: an older run recorded last must still count as old.
    batch.push((
        run_at("busy", Status::Ok, now - ChronoDuration::days(50)),
        None,
    ));
    store.record_runs(&batch).unwrap();
    let newest_before: Vec<i64> = store
        .recent_runs("busy", 100)
        .unwrap()
        .into_iter()
        .map(|r| r.id.unwrap())
        .collect();

    let deleted = store
        .apply_retention(Duration::from_secs(365 * 86_400), 100)
        .unwrap();
    assert_eq!(deleted, 2301 - 100);
    assert_eq!(store.count_runs(Some("busy")).unwrap(), 100);
    assert_eq!(
        store.count_runs(Some("quiet")).unwrap(),
        8,
        "other checks untouched"
    );
    let kept: Vec<i64> = store
        .recent_runs("busy", 1000)
        .unwrap()
        .into_iter()
        .map(|r| r.id.unwrap())
        .collect();
    assert_eq!(kept, newest_before);
}

#[test]
fn paging_walks_all_runs_newest_first_without_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    let mut batch = Vec::new();
    for i in 0..25 {
        // Pairs share a start time, so the id must break ties.
        batch.push((
            run_at("p", Status::Ok, t0() + ChronoDuration::seconds(i / 2)),
            None,
        ));
        batch.push((
            run_at("other", Status::Ok, t0() + ChronoDuration::seconds(i)),
            None,
        ));
    }
    store.record_runs(&batch).unwrap();
    let mut seen = Vec::new();
    let mut before = None;
    let mut sizes = Vec::new();
    loop {
        let page = store.runs_page("p", before, 10).unwrap();
        if page.is_empty() {
            break;
        }
        sizes.push(page.len());
        before = page.last().and_then(|r| r.id);
        seen.extend(page);
    }
    assert_eq!(sizes, [10, 10, 5]);
    assert!(seen.iter().all(|r| r.check_id == "p"));
    let ids: Vec<i64> = seen.iter().map(|r| r.id.unwrap()).collect();
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), 25);
    for w in seen.windows(2) {
        assert!(
            (w[0].started_at, w[0].id) > (w[1].started_at, w[1].id),
            "newest first: {:?} then {:?}",
            (w[0].started_at, w[0].id),
            (w[1].started_at, w[1].id)
        );
    }
    assert_eq!(store.recent_runs("p", 3).unwrap().len(), 3);
    assert_eq!(
        store.recent_runs("p", 1).unwrap()[0].id,
        seen.first().unwrap().id
    );
}

#[test]
fn schedule_bookkeeping_next_run_and_last_scheduled_at() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    // A check that never ran can still have a next run.
    store.set_next_run("new", Some(t0())).unwrap();
    assert_eq!(store.next_run("new").unwrap(), Some(t0()));
    assert!(store.check_state("new").unwrap().is_none());
    assert!(store.check_states().unwrap().is_empty());
    assert_eq!(store.last_scheduled_at("new").unwrap(), None);

    let mut manual = run_at("new", Status::Ok, t0() + ChronoDuration::minutes(1));
    manual.trigger = Trigger::Manual;
    manual.scheduled_at = None;
    store.record_run(&manual, None).unwrap();
    assert_eq!(
        store.last_scheduled_at("new").unwrap(),
        None,
        "manual runs do not count"
    );
    assert_eq!(
        state(&store, "new").next_run,
        Some(t0()),
        "recording a run keeps next_run"
    );

    let sched = t0() + ChronoDuration::minutes(5);
    store
        .record_run(&run_at("new", Status::Ok, sched), None)
        .unwrap();
    assert_eq!(store.last_scheduled_at("new").unwrap(), Some(sched));
    let mut late_misfire = run_at("new", Status::Ok, sched + ChronoDuration::minutes(1));
    late_misfire.trigger = Trigger::Misfire;
    late_misfire.scheduled_at = Some(t0() + ChronoDuration::minutes(3));
    store.record_run(&late_misfire, None).unwrap();
    assert_eq!(
        store.last_scheduled_at("new").unwrap(),
        Some(sched),
        "never moves back"
    );
    let mut misfire = late_misfire.clone();
    misfire.scheduled_at = Some(sched + ChronoDuration::minutes(10));
    store.record_run(&misfire, None).unwrap();
    assert_eq!(
        state(&store, "new").last_scheduled_at,
        Some(sched + ChronoDuration::minutes(10))
    );

    store.set_next_run("new", None).unwrap();
    assert_eq!(store.next_run("new").unwrap(), None);
    assert_eq!(state(&store, "new").next_run, None);
}

#[test]
fn forget_missing_drops_only_unconfigured_states() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("patrol.db")).unwrap();
    for c in ["keep", "gone", "o'quote"] {
        store
            .record_run(&run_at(c, Status::Ok, t0()), None)
            .unwrap();
    }
    store.set_next_run("never-ran-gone", Some(t0())).unwrap();
    let n = store
        .forget_missing(&["keep".to_string(), "o'quote".to_string()])
        .unwrap();
    assert_eq!(n, 2);
    let ids: Vec<String> = store
        .check_states()
        .unwrap()
        .into_iter()
        .map(|s| s.check_id)
        .collect();
    assert_eq!(ids, ["keep", "o'quote"]);
    assert_eq!(
        store.count_runs(Some("gone")).unwrap(),
        1,
        "runs stay for history"
    );
}

#[test]
fn concurrent_writers_through_arc_and_a_second_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("patrol.db");
    let store = Arc::new(Store::open(&path).unwrap());
    let threads = 4;
    let per_thread = 150;
    let mut handles = Vec::new();
    for t in 0..threads {
        let store = Arc::clone(&store);
        handles.push(std::thread::spawn(move || {
            for i in 0..per_thread {
                let at = t0() + ChronoDuration::milliseconds(i * 10 + t);
                store
                    .record_run(&run_at("shared", Status::Ok, at), None)
                    .unwrap();
                store
                    .record_run(&run_at(&format!("own-{t}"), Status::Critical, at), None)
                    .unwrap();
                // Readers run alongside the writers.
                assert!(store.check_state("shared").unwrap().is_some());
            }
        }));
    }
    // A second Store on the same file: another connection contending for the write lock,
    // as `patrol run` does next to the daemon.
    let other = Store::open(&path).unwrap();
    for i in 0..per_thread {
        let at = t0() + ChronoDuration::milliseconds(i * 10 + 9);
        other
            .record_runs(&[(run_at("shared", Status::Ok, at), None)])
            .unwrap();
    }
    for h in handles {
        h.join().unwrap();
    }
    let total = (threads as u64 + 1) * per_thread as u64;
    assert_eq!(store.count_runs(Some("shared")).unwrap(), total);
    assert_eq!(
        state(&store, "shared").consecutive as u64,
        total,
        "no lost state update"
    );
    assert_eq!(state(&store, "shared").consecutive_ok as u64, total);
    for t in 0..threads {
        let st = state(&store, &format!("own-{t}"));
        assert_eq!(st.consecutive_bad as u64, per_thread as u64);
    }
    store.integrity_check().unwrap();
}

/// Set in the child process of `committed_runs_survive_sigkill` to the database path.
const CRASH_CHILD_ENV: &str = "PATROL_STORE_CRASH_CHILD_DB";

/// The writer half of `committed_runs_survive_sigkill`: only does something in the child
/// process (selected by [`CRASH_CHILD_ENV`]); in a normal test run there is nothing to do.
#[test]
fn crash_writer_child() {
    let Ok(path) = std::env::var(CRASH_CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&path)).unwrap();
    let mut out = std::io::stdout().lock();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n: i64 = 0;
    // Bounded so that a child the parent failed to kill still ends.
    while Instant::now() < deadline {
        let mut run = run_at("crash", Status::Ok, t0() + ChronoDuration::milliseconds(n));
        run.observation = json!({ "n": n, "padding": "x".repeat(2000) });
        n += 1;
        let ids = if n % 3 == 0 {
            let batch: Vec<_> = (0..20)
                .map(|k| {
                    let mut r = run.clone();
                    r.started_at += ChronoDuration::microseconds(k);
                    (r, Some(json!({ "n": n, "k": k })))
                })
                .collect();
            store.record_runs(&batch).unwrap()
        } else {
            vec![store.record_run(&run, Some(&json!({ "n": n }))).unwrap()]
        };
        // Printed only after the commit returned: every printed id must survive.
        for id in ids {
            writeln!(out, "committed {id}").unwrap();
        }
        out.flush().unwrap();
    }
}

#[test]
fn committed_runs_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.db");
    // The writer's test name in this binary: its module path without the crate's name.
    let writer = format!(
        "{}::crash_writer_child",
        module_path!().split_once("::").unwrap().1
    );
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            writer.as_str(),
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CRASH_CHILD_ENV, &path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut committed = Vec::new();
    let mut killed = false;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(id) = line.strip_prefix("committed ") {
            committed.push(id.parse::<i64>().unwrap());
        }
        if committed.len() >= 400 {
            child.kill().unwrap(); // SIGKILL on Unix: no destructors, no checkpoint.
            killed = true;
            break;
        }
    }
    assert!(killed, "child ended before writing enough: {committed:?}");
    // Ids already in the pipe were committed before the kill too.
    for line in lines {
        let Ok(line) = line else { break };
        if let Some(id) = line.strip_prefix("committed ") {
            committed.push(id.parse::<i64>().unwrap());
        }
    }
    let status = child.wait().unwrap();
    assert!(!status.success(), "child was killed: {status:?}");
    let wal = dir.path().join("crash.db-wal");
    assert!(wal.exists(), "the kill left a WAL behind to recover from");

    // Check the raw file before patrol touches it again.
    let raw = Connection::open(&path).unwrap();
    let check: String = raw
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(raw);

    let store = Store::open(&path).unwrap();
    store.integrity_check().unwrap();
    for id in &committed {
        let run = store.run(*id).unwrap();
        assert!(run.is_some(), "committed run {id} lost");
    }
    // The run rows and the state row were written in one transaction each: they agree.
    let runs = store.count_runs(Some("crash")).unwrap();
    assert!(runs >= committed.len() as u64);
    let st = state(&store, "crash");
    assert_eq!(st.consecutive as u64, runs);
    let newest = store.recent_runs("crash", 1).unwrap();
    assert_eq!(st.last_run, newest[0].started_at);
    // And it is writable again.
    store
        .record_run(&run_at("crash", Status::Ok, Utc::now()), None)
        .unwrap();
}
