//! How many rule evaluations per second one engine does: the shipped disk-usage rule on a
//! 3-path observation, without history and with 50 history entries (days-to-full forecast).

use chrono::{DateTime, TimeDelta, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use patrol::config::RuleLimits;
use patrol::rule::{CheckInfo, HistoryEntry, RuleEngine, RuleInput};
use patrol::status::Status;
use serde_json::json;
use std::collections::BTreeMap;
use std::hint::black_box;
use std::path::Path;

fn path(p: &str, used_percent: f64) -> serde_json::Value {
    let total = 107_374_182_400u64;
    let used = (total as f64 * used_percent / 100.0) as u64;
    json!({
        "path": p, "total_bytes": total, "used_bytes": used, "free_bytes": total - used,
        "available_bytes": total - used, "used_percent": used_percent,
        "inodes_total": 6553600, "inodes_used": 655360, "inodes_free": 5898240,
        "inodes_used_percent": 10.0
    })
}

fn bench(c: &mut Criterion) {
    let engine = RuleEngine::new(&RuleLimits::default());
    let source = include_str!("../rules/disk-usage.rhai");
    let rule = engine
        .compile("disk-usage", source, Path::new("rules/disk-usage.rhai"), 0)
        .expect("disk-usage compiles");
    let observation = json!({"paths": [path("/", 41.0), path("/var", 55.5), path("/data", 12.0)]});
    let params = json!({"warn_percent": 80, "critical_percent": 90});
    let check = CheckInfo {
        id: "disk".into(),
        name: "Disks".into(),
        tags: vec!["daily".into()],
    };
    let now: DateTime<Utc> = "2026-03-29T01:30:00Z".parse().expect("time");
    let history: Vec<HistoryEntry> = (1..=50)
        .rev()
        .map(|i| HistoryEntry {
            time: now - TimeDelta::hours(i),
            status: Status::Ok,
            summary: "all 3 paths are below 80%".into(),
            metrics: BTreeMap::from([
                ("used_percent:/".into(), 41.0 - i as f64 * 0.01),
                ("used_percent:/var".into(), 55.5 - i as f64 * 0.02),
                ("used_percent:/data".into(), 12.0),
            ]),
        })
        .collect();

    let trivial = engine
        .compile("trivial", "ok(\"fine\")", Path::new("trivial.rhai"), 0)
        .expect("trivial compiles");

    // The machine running this may be shared: also report evaluations per second of CPU time
    // (this thread's on-CPU nanoseconds from /proc), which other processes do not inflate.
    for (label, rule, hist) in [
        ("ok()", &trivial, &[][..]),
        ("disk-usage, no history", &rule, &[][..]),
        ("disk-usage, 50 history entries", &rule, &history[..]),
    ] {
        let input = RuleInput {
            observation: &observation,
            params: &params,
            check: &check,
            history: hist,
            now,
        };
        let n = 20_000u32;
        let (cpu0, wall0) = (thread_cpu_ns(), std::time::Instant::now());
        for _ in 0..n {
            black_box(engine.evaluate(black_box(rule), black_box(&input)));
        }
        if let (Some(a), Some(b)) = (cpu0, thread_cpu_ns()) {
            let per = (b - a) as f64 / f64::from(n);
            println!(
                "{label}: {:.2} µs CPU per evaluation = {:.0} evaluations/s per core (wall {:.2} µs)",
                per / 1000.0,
                1e9 / per,
                wall0.elapsed().as_secs_f64() * 1e6 / f64::from(n)
            );
        }
    }

    let mut group = c.benchmark_group("rules");
    group.throughput(Throughput::Elements(1));
    // The fixed cost of one evaluation: scope conversion, state, verdict.
    group.bench_function("ok(), same 3-path input", |b| {
        b.iter(|| {
            let input = RuleInput {
                observation: &observation,
                params: &params,
                check: &check,
                history: &[],
                now,
            };
            engine.evaluate(black_box(&trivial), black_box(&input))
        })
    });
    group.bench_function("disk-usage, 3 paths, no history", |b| {
        b.iter(|| {
            let input = RuleInput {
                observation: &observation,
                params: &params,
                check: &check,
                history: &[],
                now,
            };
            let v = engine.evaluate(black_box(&rule), black_box(&input));
            assert_eq!(v.status, Status::Ok);
            v
        })
    });
    group.bench_function("disk-usage, 3 paths, 50 history entries", |b| {
        b.iter(|| {
            let input = RuleInput {
                observation: &observation,
                params: &params,
                check: &check,
                history: &history,
                now,
            };
            let v = engine.evaluate(black_box(&rule), black_box(&input));
            assert_eq!(v.status, Status::Ok);
            v
        })
    });
    group.finish();
}

/// This thread's time on a CPU, in nanoseconds (Linux: first field of schedstat).
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

criterion_group!(benches, bench);
criterion_main!(benches);
