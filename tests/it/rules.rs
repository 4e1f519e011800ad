//! The rule engine as operators meet it: hostile rules end UNKNOWN quickly, errors name the
//! rule's line, the shipped rules pass their fixtures, and failing fixtures say why.

use chrono::{DateTime, Utc};
use patrol::config::{Dur, RuleLimits};
use patrol::rule::{CheckInfo, HistoryEntry, RuleEngine, RuleInput, run_fixtures};
use patrol::status::{Status, Verdict};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn now() -> DateTime<Utc> {
    "2026-03-29T01:30:00Z".parse().unwrap()
}

fn check() -> CheckInfo {
    CheckInfo {
        id: "disk-root".into(),
        name: "Root disk".into(),
        tags: vec!["daily".into()],
    }
}

/// Compiles and evaluates `source` as `rules/test.rhai`; a compile error is UNKNOWN too.
fn eval_with(engine: &RuleEngine, source: &str, probe: serde_json::Value) -> Verdict {
    let params = json!({"warn": 80});
    let check = check();
    let input = RuleInput {
        observation: &probe,
        params: &params,
        check: &check,
        history: &[],
        now: now(),
    };
    engine.run_source("test", source, Path::new("rules/test.rhai"), 0, &input)
}

fn eval(source: &str) -> Verdict {
    eval_with(
        &RuleEngine::new(&RuleLimits::default()),
        source,
        json!({"paths": [{"path": "/", "used_percent": 41.0}]}),
    )
}

/// A hostile rule must end UNKNOWN within a generous bound, whatever it tries.
fn assert_stopped(engine: &RuleEngine, source: &str, summary_part: &str) -> Verdict {
    let started = Instant::now();
    let v = eval_with(engine, source, json!({}));
    let took = started.elapsed();
    assert_eq!(v.status, Status::Unknown, "{source}: {v:?}");
    assert!(
        took < Duration::from_secs(3),
        "{source}: took {took:?} to stop"
    );
    assert!(
        v.summary.contains(summary_part),
        "{source}: summary {:?} lacks {summary_part:?}",
        v.summary
    );
    assert!(v.metrics.is_empty() && v.facts.is_empty(), "{v:?}");
    v
}

#[test]
fn infinite_loop_hits_the_operation_limit() {
    let engine = RuleEngine::new(&RuleLimits::default());
    assert_stopped(
        &engine,
        "let x = 0;\nloop { x += 1; }",
        "rule rules/test.rhai:2: too many operations",
    );
}

#[test]
fn infinite_loop_hits_the_deadline_without_an_operation_limit() {
    let limits = RuleLimits {
        max_operations: 1_000_000_000, // the highest allowed: the wall clock stops it first
        timeout: Dur(Duration::from_millis(200)),
        ..RuleLimits::default()
    };
    let engine = RuleEngine::new(&limits);
    let v = assert_stopped(
        &engine,
        "metric(\"before\", 1);\nlet x = 0;\nwhile true { x += 1; }\nok(\"never\")",
        "rule rules/test.rhai:3: timed out after",
    );
    assert!(v.summary.contains("limit 200ms"), "{}", v.summary);
}

#[test]
fn huge_string_growth_hits_the_size_limit() {
    let engine = RuleEngine::new(&RuleLimits::default());
    assert_stopped(
        &engine,
        "let s = \"xx\";\nloop { s += s; }",
        "rule rules/test.rhai:2: Length of string too large",
    );
    assert_stopped(
        &engine,
        "let a = [];\na.pad(100000000, 0);\nok(\"\")",
        "rule rules/test.rhai:2: Size of array",
    );
}

#[test]
fn map_growth_is_stopped() {
    // Rhai does not size-check a map grown by index assignment; the memory guard (or, on a
    // fast machine, the deadline) stops it long before it eats the machine.
    let engine = RuleEngine::new(&RuleLimits {
        max_string_size: 64 * 1024, // memory budget: 256 × 64 KiB = 16 MiB
        max_operations: 1_000_000_000,
        ..RuleLimits::default()
    });
    let v = assert_stopped(
        &engine,
        "let m = #{};\nlet s = \"\";\ns.pad(60000, \"x\");\nlet i = 0;\nloop { i += 1; m[`k${i}`] = s + i; }",
        "rule rules/test.rhai:5: ",
    );
    assert!(v.summary.contains("memory grew too much"), "{}", v.summary);
}

#[test]
fn deep_recursion_hits_the_call_depth_limit() {
    let engine = RuleEngine::new(&RuleLimits::default());
    assert_stopped(
        &engine,
        "fn down(n) {\n  down(n + 1)\n}\ndown(0)",
        "too many nested function calls",
    );
}

#[test]
fn import_is_rejected() {
    let engine = RuleEngine::new(&RuleLimits::default());
    let v = assert_stopped(
        &engine,
        "import \"/etc/passwd\" as pw;\nok(\"read it\")",
        "rules/test.rhai:1:1:",
    );
    assert!(v.summary.contains("import"), "{}", v.summary);
    assert!(!v.summary.contains("root:"), "{}", v.summary);
    let err = engine
        .compile("t", "import \"/etc/passwd\" as pw;", Path::new("t.rhai"), 0)
        .unwrap_err();
    assert_eq!((err.line, err.column), (1, 1));
}

#[test]
fn eval_is_rejected() {
    let engine = RuleEngine::new(&RuleLimits::default());
    let v = assert_stopped(
        &engine,
        "let x = 1;\neval(\"ok(`evaluated`)\")",
        "rules/test.rhai:2:1:",
    );
    assert!(v.summary.contains("eval"), "{}", v.summary);
    // Nor through a function pointer built at run time.
    let v = assert_stopped(
        &engine,
        "let f = Fn(\"ev\" + \"al\");\nf.call(\"ok(`evaluated`)\")",
        "rule rules/test.rhai:",
    );
    assert!(v.summary.contains("'eval'"), "{}", v.summary);
}

#[test]
fn sleep_cannot_outlast_the_deadline() {
    let engine = RuleEngine::new(&RuleLimits::default());
    assert_stopped(
        &engine,
        "sleep(3600);\nok(\"woke\")",
        "sleep is not available",
    );
}

#[test]
fn missing_property_names_the_line() {
    let engine = RuleEngine::new(&RuleLimits::default());
    let source = "let p = probe.paths[0];\n\nif p.usd_percent > 80 {\n  warning(\"full\")\n}";
    let v = eval_with(
        &engine,
        source,
        json!({"paths": [{"path": "/", "used_percent": 41.0}]}),
    );
    assert_eq!(v.status, Status::Unknown);
    assert_eq!(
        v.summary,
        "rule rules/test.rhai:3: Property not found: usd_percent"
    );
}

#[test]
fn errors_in_inline_rules_point_into_the_check_file() {
    let engine = RuleEngine::new(&RuleLimits::default());
    let rule = engine
        .compile(
            "inline",
            "let x = 1;\nx.nope",
            Path::new("checks/disk.yaml"),
            10,
        )
        .unwrap();
    let probe = json!({});
    let params = json!({});
    let check = check();
    let v = engine.evaluate(
        &rule,
        &RuleInput {
            observation: &probe,
            params: &params,
            check: &check,
            history: &[],
            now: now(),
        },
    );
    assert_eq!(v.status, Status::Unknown);
    assert!(
        v.summary.starts_with("rule checks/disk.yaml:12: "),
        "{}",
        v.summary
    );

    let err = engine
        .compile(
            "inline",
            "let x = 1;\nlet y = ;",
            Path::new("checks/disk.yaml"),
            10,
        )
        .unwrap_err();
    assert_eq!(err.file, PathBuf::from("checks/disk.yaml"));
    assert_eq!((err.line, err.column), (12, 9));
    assert!(
        err.to_string().starts_with("checks/disk.yaml:12:9: "),
        "{err}"
    );
}

#[test]
fn undefined_variables_are_compile_errors() {
    let engine = RuleEngine::new(&RuleLimits::default());
    let err = engine
        .compile(
            "t",
            "ok(\"x\");\nprobes.paths",
            Path::new("rules/t.rhai"),
            0,
        )
        .unwrap_err();
    assert_eq!(err.line, 2);
    assert!(err.message.contains("probes"), "{err}");
}

#[test]
fn script_without_verdict_is_unknown() {
    let v = eval("let x = 1 + 1;\nprint(`x is ${x}`);");
    assert_eq!(v.status, Status::Unknown);
    assert_eq!(v.summary, "rule rules/test.rhai: rule returned no verdict");
}

#[test]
fn last_verdict_call_wins_and_a_returned_verdict_wins_over_it() {
    let v = eval("ok(\"first\");\ncritical(\"second\");\n42");
    assert_eq!((v.status, v.summary.as_str()), (Status::Critical, "second"));
    let v = eval("let w = warning(\"kept\");\nok(\"later\");\nw");
    assert_eq!((v.status, v.summary.as_str()), (Status::Warning, "kept"));
    let v = eval("if probe.paths.len() > 0 { return critical(\"early\"); }\nok(\"late\")");
    assert_eq!((v.status, v.summary.as_str()), (Status::Critical, "early"));
}

#[test]
fn scope_metrics_facts_and_params() {
    let source = r#"
        let p = probe.paths[0];
        metric("used", p.used_percent);
        metric("count", probe.paths.len());
        fact("check", check);
        fact("when", now);
        fact("history_len", history.len());
        let warn = param("warn", 90.0);
        let crit = param("crit", 95.0);
        ok(`${check.id} ${type_of(warn)} ${warn} ${crit} ${now}`)
    "#;
    let v = eval(source);
    assert_eq!(v.status, Status::Ok, "{v:?}");
    assert_eq!(v.summary, "disk-root f64 80.0 95.0 2026-03-29T01:30:00Z");
    assert_eq!(v.metrics.get("used"), Some(&41.0));
    assert_eq!(v.metrics.get("count"), Some(&1.0));
    assert_eq!(
        v.facts.get("check"),
        Some(&json!({"id": "disk-root", "name": "Root disk", "tags": ["daily"]}))
    );
    assert_eq!(v.facts.get("when"), Some(&json!("2026-03-29T01:30:00Z")));
    assert_eq!(v.facts.get("history_len"), Some(&json!(0)));

    let v = eval("let host = param(\"host\");\nok(host)");
    assert_eq!(v.status, Status::Unknown);
    assert!(
        v.summary.contains(":1: missing parameter 'host'"),
        "{}",
        v.summary
    );
    let v = eval("metric(\"x\", 1.0 / 0.0)");
    assert_eq!(v.status, Status::Unknown);
    assert!(v.summary.contains("not a finite number"), "{}", v.summary);
}

#[test]
fn time_helpers_use_the_runs_now() {
    let source = r#"
        let shanghai = parse_local_time("2026-03-29 08:30:00", "Asia/Shanghai");
        let berlin = parse_time("29.03.2026 03:30", "%d.%m.%Y %H:%M", "Europe/Berlin");
        metric("hours_since_shanghai", hours_since(shanghai));
        metric("secs_since_string", seconds_since("2026-03-29T01:29:00Z"));
        metric("days_until", days_until("2026-04-08T01:30:00Z"));
        metric("berlin_minus_shanghai", berlin - shanghai);
        metric("unix", now.unix);
        ok(`${format_time(now + 3600, "%H:%M %Z", "Europe/Berlin")} ${now > shanghai}`)
    "#;
    let v = eval(source);
    assert_eq!(v.status, Status::Ok, "{v:?}");
    // 03:30 CEST on the DST day is 01:30 UTC; 02:30 CEST after adding an hour.
    assert_eq!(v.summary, "04:30 CEST true");
    assert_eq!(v.metrics["hours_since_shanghai"], 1.0);
    assert_eq!(v.metrics["secs_since_string"], 60.0);
    assert_eq!(v.metrics["days_until"], 10.0);
    assert_eq!(v.metrics["berlin_minus_shanghai"], 3600.0);
    assert_eq!(v.metrics["unix"], now().timestamp() as f64);
}

#[test]
fn trend_and_days_until_value_from_history() {
    let engine = RuleEngine::new(&RuleLimits::default());
    let rule = engine
        .compile(
            "t",
            r#"
            let t = trend(history, "used", 70.0);
            metric("slope", t.slope_per_day);
            metric("intercept", t.intercept);
            metric("points", t.points);
            metric("tomorrow", t.predict(now + 86400));
            metric("days", days_until_value(history, "used", 100.0, 70.0));
            metric("days_no_current", days_until_value(history, "used", 100.0));
            metric("never", days_until_value(history, "used", 0.0, 70.0));
            metric("none", days_until_value(history, "other", 100.0, 70.0));
            if trend(history, "other") == () { ok("fitted") }
        "#,
            Path::new("rules/t.rhai"),
            0,
        )
        .unwrap();
    let mut history = Vec::new();
    for (days_ago, used) in [(3, 40.0), (2, 50.0), (1, 60.0)] {
        history.push(HistoryEntry {
            time: now() - chrono::TimeDelta::days(days_ago),
            status: Status::Ok,
            summary: String::new(),
            metrics: BTreeMap::from([("used".to_string(), used)]),
        });
    }
    let probe = json!({});
    let params = json!({});
    let check = check();
    let v = engine.evaluate(
        &rule,
        &RuleInput {
            observation: &probe,
            params: &params,
            check: &check,
            history: &history,
            now: now(),
        },
    );
    assert_eq!(v.status, Status::Ok, "{v:?}");
    let m = &v.metrics;
    assert!((m["slope"] - 10.0).abs() < 1e-9, "{m:?}");
    assert!((m["intercept"] - 70.0).abs() < 1e-9, "{m:?}");
    assert_eq!(m["points"], 4.0);
    assert!((m["tomorrow"] - 80.0).abs() < 1e-9, "{m:?}");
    assert!((m["days"] - 3.0).abs() < 1e-9, "{m:?}");
    // Without the current value the fit still reaches 70 at now: three history points.
    assert!((m["days_no_current"] - 3.0).abs() < 1e-9, "{m:?}");
    assert_eq!(m["never"], -1.0);
    assert_eq!(m["none"], -1.0);
}

#[test]
fn the_engine_is_shared_across_threads() {
    let engine = std::sync::Arc::new(RuleEngine::new(&RuleLimits::default()));
    let rule = engine
        .compile(
            "t",
            "metric(\"n\", probe.n);\nok(`n=${probe.n}`)",
            Path::new("rules/t.rhai"),
            0,
        )
        .unwrap();
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let engine = engine.clone();
            let rule = rule.clone();
            std::thread::spawn(move || {
                for j in 0..50 {
                    let n = i * 1000 + j;
                    let probe = json!({"n": n});
                    let params = json!({});
                    let check = CheckInfo::default();
                    let v = engine.evaluate(
                        &rule,
                        &RuleInput {
                            observation: &probe,
                            params: &params,
                            check: &check,
                            history: &[],
                            now: Utc::now(),
                        },
                    );
                    assert_eq!(v.summary, format!("n={n}"));
                    assert_eq!(v.metrics["n"], n as f64);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn shipped_rules_pass_their_fixtures() {
    let engine = RuleEngine::new(&RuleLimits::default());
    // Integration tests run in the package folder, like `patrol rule test rules`.
    let report = run_fixtures(&[PathBuf::from("rules")], &engine);
    println!("{report}");
    assert_eq!(report.failed(), 0, "{report}");
    // Every shipped rule has a fixture, with OK and bad cases.
    for rule in [
        "disk-usage",
        "memory-usage",
        "load-average",
        "log-errors",
        "tcp-port",
        "cert-expiry",
    ] {
        let cases: Vec<_> = report.results.iter().filter(|r| r.rule == rule).collect();
        assert!(cases.len() >= 4, "{rule}: only {} cases", cases.len());
        let statuses: Vec<Status> = cases
            .iter()
            .filter_map(|c| c.verdict.as_ref().map(|v| v.status))
            .collect();
        for s in [Status::Ok, Status::Warning, Status::Critical] {
            assert!(statuses.contains(&s), "{rule} lacks a {s} case");
        }
    }
    assert!(
        report
            .to_string()
            .ends_with(&format!("{} passed, 0 failed", report.passed()))
    );
}

#[test]
fn failing_fixture_reports_fail_with_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("free.rhai"),
        "let pct = probe.used;\nif pct >= param(\"crit\", 90) { critical(`at ${pct}%`) } else if pct >= 80 { warning(`at ${pct}%`) } else { ok(`at ${pct}%`) }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("free.test.yaml"),
        r#"
rule: free
cases:
  - name: passes
    probe: { used: 10 }
    expect: { status: ok, summary: "^at 10%$" }
  - name: wrong status
    probe: { used: 85 }
    expect: { status: critical }
  - name: wrong summary
    probe: { used: 10 }
    expect: { status: ok, summary: "^at 11%" }
  - name: missing metric
    probe: { used: 10 }
    expect: { status: ok, metrics: { used: 10 } }
  - name: rule error
    probe: { free: 10 }
    expect: { status: ok }
"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("broken.test.yaml"),
        "rule: free\ncases:\n  - name: x\n    probe: {}\n    expect: { status: fine }\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("unknown-field.test.yaml"),
        "rule: free\ncases: []\nextra: 1\n",
    )
    .unwrap();

    let engine = RuleEngine::new(&RuleLimits::default());
    let report = run_fixtures(&[dir.path().to_path_buf()], &engine);
    let text = report.to_string();
    println!("{text}");
    assert_eq!(report.passed(), 1, "{text}");
    assert_eq!(report.failed(), 6, "{text}");
    assert!(text.contains("PASS free › passes"), "{text}");
    assert!(
        text.contains("FAIL free › wrong status: expected critical, got warning (\"at 85%\")"),
        "{text}"
    );
    assert!(
        text.contains("FAIL free › wrong summary: summary \"at 10%\" does not match /^at 11%/"),
        "{text}"
    );
    assert!(
        text.contains("FAIL free › missing metric: metric \"used\" missing (got: none)"),
        "{text}"
    );
    assert!(
        text.contains("FAIL free › rule error: expected ok, got unknown (\"rule ")
            && text.contains("free.rhai:1: Property not found: used"),
        "{text}"
    );
    assert!(
        text.contains("broken.test.yaml:5:") && text.contains("invalid fixture"),
        "{text}"
    );
    assert!(
        text.contains("unknown-field") && text.contains("extra"),
        "{text}"
    );
    assert!(text.ends_with("1 passed, 6 failed"), "{text}");
    assert!(!report.is_success());

    // A single file path works as well as a folder.
    let one = run_fixtures(&[dir.path().join("free.test.yaml")], &engine);
    assert_eq!((one.passed(), one.failed()), (1, 4));
}

#[test]
fn rule_file_that_does_not_compile_fails_every_case() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/bad.rhai"), "ok(\n").unwrap();
    std::fs::write(
        dir.path().join("sub/bad.test.yaml"),
        "rule_file: bad.rhai\ncases:\n  - { name: a, probe: {}, expect: { status: ok } }\n  - { name: b, probe: {}, expect: { status: ok } }\n",
    )
    .unwrap();
    let engine = RuleEngine::new(&RuleLimits::default());
    let report = run_fixtures(&[dir.path().to_path_buf()], &engine);
    assert_eq!(report.failed(), 2, "{report}");
    assert!(
        report
            .failures()
            .all(|r| matches!(&r.outcome, patrol::rule::CaseOutcome::Fail(m) if m.contains("rule does not compile") && m.contains("bad.rhai:2:"))),
        "{report}"
    );
}
