//! Missing data is never OK: the rule functions that read what a rule needs (`need_*`,
//! `maybe_*`) end the run as UNKNOWN naming the field, and times without an offset are read
//! on the console's clock (its zone), never silently as UTC.

use chrono::{DateTime, Utc};
use patrol::config::RuleLimits;
use patrol::rule::{CheckInfo, RuleEngine, RuleInput};
use patrol::status::{Status, Verdict};
use serde_json::{Value, json};
use std::path::Path;

fn now() -> DateTime<Utc> {
    "2026-03-01T02:00:00Z".parse().unwrap()
}

/// Runs `source` as `rules/test.rhai` on `probe` with `params`; `zone` is the check's zone.
fn run_in(source: &str, probe: Value, params: Value, zone: Option<&str>) -> Verdict {
    let engine = RuleEngine::new(&RuleLimits::default());
    let rule = engine
        .compile("test", source, Path::new("rules/test.rhai"), 0)
        .unwrap_or_else(|e| panic!("{e}"));
    let check = CheckInfo {
        id: "test".into(),
        name: "test".into(),
        tags: vec![],
    };
    let input = RuleInput {
        observation: &probe,
        params: &params,
        check: &check,
        history: &[],
        now: now(),
    };
    engine.evaluate_in_zone(&rule, &input, zone)
}

fn run(source: &str, probe: Value) -> Verdict {
    run_in(source, probe, json!({}), None)
}

fn unknown(v: &Verdict, summary: &str) {
    assert_eq!(v.status, Status::Unknown, "{v:?}");
    assert_eq!(v.summary, summary, "{v:?}");
}

#[test]
fn a_missing_field_is_unknown_and_named_without_the_rule_line() {
    let src = r#"
        for (h, i) in need_list(probe, "hosts.hosts") {
            need_num(h, "rpo_target_seconds", `hosts[${i}]`);
        }
        ok("fine")
    "#;
    let probe = json!({"hosts": {"total": 3, "hosts": [
        {"name": "db01", "rpo_target_seconds": 3600},
        {"name": "app02", "rpo_target_seconds": 900},
        {"name": "app03"}
    ]}});
    unknown(
        &run(src, probe),
        "app03: hosts[2].rpo_target_seconds missing",
    );

    // Null, wrong type and negative are named the same way.
    for (value, says) in [
        (json!(null), "is null"),
        (json!("1h"), "is not a number: \"1h\""),
        (json!(-60), "is negative: -60"),
    ] {
        let probe =
            json!({"hosts": {"total": 1, "hosts": [{"id": "h-9", "rpo_target_seconds": value}]}});
        unknown(
            &run(src, probe),
            &format!("h-9: hosts[0].rpo_target_seconds {says}"),
        );
    }
}

#[test]
fn a_list_shorter_than_the_total_is_unknown() {
    let src = r#"need_list(probe, "hosts.hosts"); ok("fine")"#;
    let hosts: Vec<Value> = (0..50).map(|i| json!({"id": i})).collect();
    let v = run(src, json!({"hosts": {"total": 130, "hosts": hosts}}));
    unknown(&v, "hosts.hosts: the console says 130 hosts, got 50");
    // Absent, or not a list.
    unknown(
        &run(src, json!({"hosts": {"total": 0}})),
        "hosts.hosts missing",
    );
    unknown(
        &run(src, json!({"hosts": {"total": 1, "hosts": "h-1"}})),
        "hosts.hosts is not a list: \"h-1\"",
    );
    // A map with other lists beside it is not a list answer: its total counts something else.
    let v = run(
        r#"need_list(probe, "items"); ok("fine")"#,
        json!({"total": 40, "items": [1], "errors": []}),
    );
    assert_eq!(v.status, Status::Ok, "{v:?}");
}

#[test]
fn data_problems_end_the_run_from_inside_functions_and_closures() {
    let src = r#"
        fn expiry(a) { need_time(a, "credential.expires_at") }
        let all = probe.accounts.map(|a| expiry(a));
        ok(`read ${all.len()}`)
    "#;
    let probe = json!({"accounts": [
        {"name": "aws-prod-src", "credential": {"expires_at": "2026-12-01T00:00:00Z"}},
        {"name": "hcs-target", "credential": {"expires_at": 42}}
    ]});
    unknown(
        &run(src, probe),
        "hcs-target: credential.expires_at is not a time: 42",
    );
    unknown(
        &run(
            src,
            json!({"accounts": [{"name": "x", "credential": null}]}),
        ),
        "x: credential is null",
    );
    unknown(
        &run(r#"cannot_judge("no storage reports its quota")"#, json!({})),
        "no storage reports its quota",
    );
    // A real rule error still names the rule's line.
    let v = run("let x = probe.nothing;\nok(x)", json!({}));
    assert_eq!(v.status, Status::Unknown);
    assert!(v.summary.starts_with("rule rules/test.rhai:1:"), "{v:?}");
}

#[test]
fn maybe_gives_unit_for_null_but_absent_is_still_unknown() {
    let src = r#"
        let e = maybe_time(probe.cred, "expires_at");
        let q = maybe_num(probe.cred, "quota");
        ok(`${e == ()} ${q == ()}`)
    "#;
    let v = run(src, json!({"cred": {"expires_at": null, "quota": null}}));
    assert_eq!((v.status, v.summary.as_str()), (Status::Ok, "true true"));
    unknown(
        &run(src, json!({"cred": {"quota": null}})),
        "expires_at missing",
    );
}

#[test]
fn a_past_time_in_the_future_names_the_field_value_and_zone() {
    let src = r#"
        let t = need_past_time(probe.hosts[0], "last_sync_success_at", "hosts[0]");
        ok(`${now - t}`)
    "#;
    // 10:00 in Shanghai is 02:00 UTC: now. Read as UTC it would be 8 h ahead.
    let local = json!({"console": {"timezone": "Asia/Shanghai"},
                       "hosts": [{"name": "db01", "last_sync_success_at": "2026-03-01 10:00:00"}]});
    let v = run(src, local);
    assert_eq!((v.status, v.summary.as_str()), (Status::Ok, "0.0"), "{v:?}");

    let ahead = json!({"console": {"timezone": "Asia/Shanghai"},
                       "hosts": [{"name": "db01", "last_sync_success_at": "2026-03-01T10:00:00+08:00"}]});
    assert_eq!(run(src, ahead).status, Status::Ok);
    let ahead = json!({"console": {"timezone": "Asia/Shanghai"},
                       "hosts": [{"name": "db01", "last_sync_success_at": "2026-03-01T10:00:00Z"}]});
    unknown(
        &run(src, ahead.clone()),
        "db01: hosts[0].last_sync_success_at 2026-03-01T10:00:00Z is 8h in the future \
         (zone Asia/Shanghai): clock or time zone wrong?",
    );
    // The allowed skew is a param (seconds or a duration).
    let v = run_in(src, ahead, json!({"max_clock_skew": "9h"}), None);
    assert_eq!(v.status, Status::Ok, "{v:?}");
    let near = json!({"hosts": [{"last_sync_success_at": "2026-03-01T02:04:00Z"}]});
    assert_eq!(
        run(src, near).status,
        Status::Ok,
        "4 min ahead is clock noise"
    );
    let far = json!({"hosts": [{"last_sync_success_at": "2026-03-01T02:06:00Z"}]});
    unknown(
        &run(src, far),
        "hosts[0].last_sync_success_at 2026-03-01T02:06:00Z is 6m in the future \
         (no console time zone set): clock or time zone wrong?",
    );
}

#[test]
fn a_time_without_offset_is_read_in_the_console_zone_never_as_utc() {
    let src = r#"ok(`${parse_time(probe.at)} ${time_zone()}`)"#;
    // The console's zone from the observation wins over the check's.
    let v = run_in(
        src,
        json!({"at": "2026-03-01 10:00:00", "console": {"timezone": "Asia/Shanghai"}}),
        json!({}),
        Some("Europe/Berlin"),
    );
    assert_eq!(v.summary, "2026-03-01T02:00:00Z Asia/Shanghai", "{v:?}");
    // Else the check's zone.
    let v = run_in(
        src,
        json!({"at": "2026-03-01 10:00:00"}),
        json!({}),
        Some("Europe/Berlin"),
    );
    assert_eq!(v.summary, "2026-03-01T09:00:00Z Europe/Berlin", "{v:?}");
    // With neither, the time cannot be placed: UNKNOWN, not UTC.
    let v = run(src, json!({"at": "2026-03-01 10:00:00"}));
    unknown(
        &v,
        "time '2026-03-01 10:00:00' has no UTC offset and no console time zone is set to read \
         it in (it is not read as UTC)",
    );
    let v = run(
        r#"need_time(probe, "at"); ok("")"#,
        json!({"at": "2026-03-01 10:00:00", "console": {"timezone": "Mars/Olympus"}}),
    );
    unknown(
        &v,
        "at 2026-03-01 10:00:00 has no UTC offset and the console's time zone 'Mars/Olympus' \
         is not a time zone patrol knows",
    );
    // Times with an offset need no zone.
    let v = run(
        r#"ok(`${hours_since(probe.at)}`)"#,
        json!({"at": "2026-03-01T09:00:00+08:00"}),
    );
    assert_eq!(v.summary, "1.0", "{v:?}");
}

#[test]
fn durations_in_params_read_as_seconds_or_text() {
    let src = r#"ok(`${param_seconds("min_gap", "6h")} ${param_seconds("min_span", 172800)}`)"#;
    let v = run(src, json!({}));
    assert_eq!(v.summary, "21600.0 172800.0", "{v:?}");
    let v = run_in(
        src,
        json!({}),
        json!({"min_gap": "90m", "min_span": "2d"}),
        None,
    );
    assert_eq!(v.summary, "5400.0 172800.0", "{v:?}");
    let v = run_in(src, json!({}), json!({"min_gap": "soon"}), None);
    assert_eq!(v.status, Status::Unknown);
    assert!(
        v.summary.contains("param 'min_gap' must be seconds"),
        "{v:?}"
    );
}
