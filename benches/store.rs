//! Store write throughput: runs recorded per second, batched (`record_runs`, 1000 per
//! transaction) and one by one (`record_run`, one transaction each), on a WAL file in a
//! temporary folder. Each recorded run also updates its check's state row.
//!
//! `cargo bench --bench store` (`PATROL_BENCH_DIR=/dev/shm` for RAM); criterion reports throughput in elements (runs) per second.

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use patrol::status::Status;
use patrol::store::{RunRecord, Store, Trigger};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Duration;

const CHECKS: i64 = 200;
const BATCH: usize = 1000;

/// A run about the size the daemon stores: a few metrics and facts, a small observation.
fn run(n: i64) -> RunRecord {
    let base: DateTime<Utc> = Utc
        .with_ymd_and_hms(2025, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let started_at = base + ChronoDuration::milliseconds(n);
    let status = if n % 17 == 0 {
        Status::Warning
    } else {
        Status::Ok
    };
    RunRecord {
        id: None,
        check_id: format!("check-{:03}", n % CHECKS),
        trigger: Trigger::Schedule,
        scheduled_at: Some(started_at),
        started_at,
        duration_ms: 35,
        status,
        summary: "HTTP 200 in 35 ms, certificate valid for 80 days".to_string(),
        metrics: BTreeMap::from([
            ("latency_ms".to_string(), 35.0),
            ("cert_days_left".to_string(), 80.0),
        ]),
        facts: BTreeMap::from([(
            "url".to_string(),
            json!("https://console.example/api/health"),
        )]),
        observation: json!({
            "status": 200,
            "headers": { "content-type": "application/json", "server": "nginx" },
            "body": { "state": "running", "nodes": [1, 2, 3], "version": "7.3.1" },
            "elapsed_ms": 35
        }),
        attempts: 1,
    }
}

fn bench_store(c: &mut Criterion) {
    // PATROL_BENCH_DIR puts the file elsewhere (e.g. /dev/shm to leave the disk out).
    let dir = match std::env::var_os("PATROL_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base),
        None => tempfile::tempdir(),
    };
    let dir = match dir {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    };
    let store = match Store::open(&dir.path().join("bench.db")) {
        Ok(s) => s,
        Err(e) => panic!("open: {e}"),
    };
    let mut next: i64 = 0;

    let mut group = c.benchmark_group("store");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));

    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("record_runs_batch_1000", |b| {
        b.iter_batched(
            || {
                let batch: Vec<(RunRecord, Option<serde_json::Value>)> = (0..BATCH)
                    .map(|_| {
                        next += 1;
                        (run(next), None)
                    })
                    .collect();
                batch
            },
            |batch| {
                if let Err(e) = store.record_runs(&batch) {
                    panic!("record_runs: {e}");
                }
            },
            BatchSize::PerIteration,
        );
    });

    group.throughput(Throughput::Elements(1));
    group.bench_function("record_run_single", |b| {
        b.iter_batched(
            || {
                next += 1;
                run(next)
            },
            |r| {
                if let Err(e) = store.record_run(&r, None) {
                    panic!("record_run: {e}");
                }
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench_store);
criterion_main!(benches);
