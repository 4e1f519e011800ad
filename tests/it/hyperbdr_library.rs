//! The HyperBDR check library (checks/hyperbdr, rules/hyperbdr-*) against the HyperBDR
//! simulator, scenario by scenario, the way an operator runs it:
//!
//!     patrol --config patrol.yaml run hyperbdr-console-services hyperbdr-modules ...
//!
//! with an examples-style `patrol.yaml` (examples/hyperbdr/patrol.yaml) whose console `main`
//! is the simulator and whose vars point at TCP listeners this test opens for the
//! network-path checks. Every API check runs as `ID@main`, beside the two checks derived for
//! the console. Green must leave every check OK; each fault scenario must turn exactly the
//! checks in MATRIX to the status given there and leave all the others OK — with the console
//! writing every time in UTC, and again with the console writing every time as local
//! `YYYY-MM-DD HH:MM:SS` in Asia/Shanghai (the same matrix).

use crate::sim;

use crate::common;

use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;

/// What each scenario must do. A scenario without lines leaves every check OK; `*api*`
/// stands for every check that reads the console's API (not the tcp, ICMP and log checks,
/// nor the console's derived checks, which have lines of their own).
const MATRIX: &str = "
scenario                      | check                           | status
------------------------------+---------------------------------+---------
green                         | -                               | ok
container-restarting          | hyperbdr-console-services       | critical
proxy-offline                 | hyperbdr-modules                | critical
task-failed-network           | hyperbdr-failed-tasks           | critical
task-failed-permission        | hyperbdr-failed-tasks           | critical
task-failed-storage           | hyperbdr-failed-tasks           | critical
task-failed-source            | hyperbdr-failed-tasks           | critical
task-failed-network-running   | hyperbdr-failed-tasks           | critical
task-stuck                    | hyperbdr-stuck-tasks            | critical
rpo-breach                    | hyperbdr-rpo-delay              | warning
bucket-92                     | hyperbdr-storage-space          | critical
storage-trend                 | hyperbdr-storage-forecast       | critical
storage-trend                 | hyperbdr-storage-space          | warning
snapshots-127                 | hyperbdr-snapshot-cap           | warning
key-old                       | hyperbdr-key-age                | warning
key-expiring                  | hyperbdr-key-expiry             | critical
account-invalid               | hyperbdr-cloud-accounts         | critical
iam-wildcard                  | hyperbdr-permissions-excessive  | warning
permission-missing            | hyperbdr-permissions-missing    | critical
subtunnel-down                | hyperbdr-tunnels                | warning
latency-high                  | hyperbdr-link-quality           | warning
link-saturated                | hyperbdr-throughput             | warning
policy-no-full                | hyperbdr-strategy-review        | warning
drill-overdue                 | hyperbdr-drill-recency          | critical
critical-alert                | hyperbdr-alerts                 | critical
relogin-401                   | -                               | ok
error-envelope                | hyperbdr-console-api            | critical
error-envelope                | *api*                           | unknown
http-500                      | hyperbdr-console-api            | critical
http-500                      | *api*                           | unknown
slow                          | -                               | ok
paging                        | -                               | ok
log-host-offline              | -                               | ok
log-collection-failed         | -                               | ok
rpo-5x                        | hyperbdr-rpo-delay              | critical
";

/// The scenarios of the simulator the matrix covers, in its order: every one of
/// `sim::SCENARIOS`, then these of `sim::MORE_SCENARIOS`.
const MORE: &[&str] = &["rpo-5x"];

/// The checks patrol derives for every console (no check file).
const DERIVED: &[&str] = &["hyperbdr-console-reachable", "hyperbdr-console-api"];

/// Checks that observe from patrol's own host, not through the console (they do not run
/// per console: their ids have no `@main`).
const LOCAL: &[&str] = &[
    "hyperbdr-tcp-download",
    "hyperbdr-tcp-object-storage",
    "hyperbdr-tcp-gateway",
    "hyperbdr-icmp",
    "hyperbdr-logs-console",
    "hyperbdr-logs-sync-proxy",
    "hyperbdr-logs-linux-agent",
    "hyperbdr-logs-gateway",
];

/// The ICMP check pings for a few seconds and does not depend on the console's scenario:
/// it runs in green only (and must be OK there: it pings 127.0.0.1).
const GREEN_ONLY: &[&str] = &["hyperbdr-icmp"];

/// The check files of this library (s3-*.yaml and sample-restore*.yaml have their own tests).
const FILES: &[&str] = &[
    "console.yaml",
    "tasks.yaml",
    "logs.yaml",
    "network.yaml",
    "accounts.yaml",
    "storage.yaml",
    "strategy.yaml",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The id a library check runs as: `ID@main` for the console's checks.
fn run_id(base: &str) -> String {
    if LOCAL.contains(&base) {
        base.to_string()
    } else {
        format!("{base}@main")
    }
}

/// Every check id in the library's files, and the console's derived checks.
fn library_checks() -> Vec<String> {
    let mut ids = Vec::new();
    for f in FILES {
        let text = std::fs::read_to_string(repo().join("checks/hyperbdr").join(f)).unwrap();
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("id: ") {
                ids.push(id.trim().to_string());
            }
        }
    }
    ids.extend(DERIVED.iter().map(|d| d.to_string()));
    ids
}

/// MATRIX as scenario → [(check, status)] (in table order).
fn matrix() -> Vec<(String, Vec<(String, String)>)> {
    let mut out: Vec<(String, Vec<(String, String)>)> = Vec::new();
    for line in MATRIX.lines().skip(3) {
        let cols: Vec<&str> = line.split('|').map(str::trim).collect();
        if cols.len() != 3 {
            continue;
        }
        let (scenario, check, status) = (cols[0], cols[1], cols[2]);
        if out.last().is_none_or(|(s, _)| s != scenario) {
            out.push((scenario.to_string(), Vec::new()));
        }
        if check != "-" {
            let row = out.last_mut().unwrap();
            row.1.push((check.to_string(), status.to_string()));
        }
    }
    out
}

/// TCP listeners on 30080 and 443 of a loopback address of our own (127.x.y.z), so the
/// network-path checks find the ports HyperBDR needs open without clashing with other
/// tests. A listener completes the handshake from its backlog; nothing needs to accept.
fn open_paths() -> (Ipv4Addr, Vec<TcpListener>) {
    let pid = std::process::id();
    for attempt in 0..50u32 {
        let n = pid.wrapping_add(attempt * 7919);
        let ip = Ipv4Addr::new(127, 100 + (n % 100) as u8, ((n / 100) % 250) as u8 + 1, 7);
        let bound: Result<Vec<TcpListener>, _> = [30080u16, 443]
            .iter()
            .map(|p| TcpListener::bind((ip, *p)))
            .collect();
        if let Ok(listeners) = bound {
            return (ip, listeners);
        }
    }
    panic!("no free loopback address for the 30080/443 listeners");
}

/// An examples-style patrol.yaml in `dir` (own store) whose console `main` is the simulator
/// at `url`, its times read in `zone`.
fn config(dir: &Path, url: &str, zone: &str, paths_host: &str, gateway_host: &str) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text = format!(
        r#"store: {{ path: patrol.db }}
timezone: Asia/Shanghai
concurrency: 8
history: 60
checks: ["{checks}"]
rules: ["{rules}"]
consoles:
  main:
    url: {url}
    username: ops
    password: "${{secret:hyperbdr_password}}"
    timezone: {zone}
vars:
  hyperbdr_console_host: {paths_host}
  hyperbdr_object_storage_host: {paths_host}
  hyperbdr_gateway_host: {gateway_host}
  hyperbdr_ping_host: 127.0.0.1
  hyperbdr_log_root: "{logs}"
  s3_endpoint: http://127.0.0.1:9
  s3_region: us-east-1
  s3_bucket: backup
  s3_access_key: patrol
  sample_restore_prefix: backup/
secrets:
  hyperbdr_password: {{ env: HYPERBDR_PASSWORD }}
  s3_secret_key: {{ value: not-used-by-these-tests }}
"#,
        checks = repo().join("checks/hyperbdr").display(),
        rules = repo().join("rules").display(),
        logs = logs.display(),
    );
    let path = dir.join("patrol.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// `patrol run --json CHECKS...` → check id → the run record.
fn run(config: &Path, checks: &[&str]) -> BTreeMap<String, Value> {
    let args = [&["run", "--json"], checks].concat();
    let out = common::patrol_env(config, &[("HYPERBDR_PASSWORD", "sim-password")], &args);
    let stdout = common::stdout(&out);
    let runs: Vec<Value> = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "patrol run did not print JSON ({e}):\n{stdout}\n{}",
            common::stderr(&out)
        )
    });
    runs.into_iter()
        .map(|r| (r["check_id"].as_str().unwrap().to_string(), r))
        .collect()
}

fn status(runs: &BTreeMap<String, Value>, id: &str) -> String {
    runs.get(id)
        .map(|r| r["status"].as_str().unwrap_or("?").to_string())
        .unwrap_or_else(|| panic!("{id} did not run"))
}

/// How the simulated console writes its times, and the zone patrol is told it uses.
#[derive(Clone, Copy)]
struct TimeMode {
    style: sim::TimeStyle,
    /// The console's zone (the simulator's and the `timezone:` of the console block).
    zone: chrono_tz::Tz,
}

/// Every scenario against a simulator that writes its times as `mode` says; returns the
/// status of every check in every scenario (`scenario/check-id` → status).
fn status_matrix(mode: TimeMode) -> BTreeMap<String, String> {
    let simulator = sim::Sim::spawn(sim::SimOptions {
        listen: "127.0.0.1:0".into(),
        slow_ms: 800,
        times: mode.style,
        console_timezone: mode.zone,
        ..Default::default()
    })
    .unwrap();
    let (ip, _listeners) = open_paths();
    let host = ip.to_string();
    let all = library_checks();
    let matrix = matrix();

    // The matrix names every scenario of the simulator, and only checks that exist.
    let scenarios: Vec<&str> = sim::SCENARIOS
        .iter()
        .map(|(n, _)| *n)
        .chain(MORE.iter().copied())
        .collect();
    let named: Vec<&str> = matrix.iter().map(|(s, _)| s.as_str()).collect();
    assert_eq!(
        named, scenarios,
        "MATRIX must list every simulator scenario, in order"
    );
    for (_, rows) in &matrix {
        for (check, _) in rows {
            assert!(
                check == "*api*" || all.contains(check),
                "unknown check {check}"
            );
        }
    }
    assert!(all.len() >= 30, "library checks: {all:?}");

    let mut seen = BTreeMap::new();
    let mut failures = Vec::new();
    for (scenario, expected) in &matrix {
        simulator.set_scenario(scenario);
        let dir = tempfile::tempdir().unwrap();
        let cfg = config(dir.path(), &simulator.url(), mode.zone.name(), &host, &host);
        let wanted: Vec<&str> = all
            .iter()
            .map(String::as_str)
            .filter(|c| scenario == "green" || !GREEN_ONLY.contains(c))
            .collect();
        let ids: Vec<String> = wanted.iter().map(|c| run_id(c)).collect();
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();

        let mut runs = BTreeMap::new();
        let forecast = run_id("hyperbdr-storage-forecast");
        if scenario == "storage-trend" {
            // Each getStorages request is one simulated day later: three forecast runs are
            // three daily samples (70 %, 76 %, 82 %); the rest then sees day 3 (88 %).
            for _ in 0..3 {
                runs.extend(run(&cfg, &[&forecast]));
            }
            let rest: Vec<&str> = ids.iter().copied().filter(|c| *c != forecast).collect();
            runs.extend(run(&cfg, &rest));
            let f = &runs[&forecast];
            assert!(
                f["summary"].as_str().unwrap().contains("full in 3.0 days"),
                "{f}"
            );
        } else {
            runs = run(&cfg, &ids);
        }

        for base in &wanted {
            let id = run_id(base);
            let want = expected
                .iter()
                .find(|(c, _)| {
                    c == base || (c == "*api*" && !LOCAL.contains(base) && !DERIVED.contains(base))
                })
                .map(|(_, s)| s.as_str())
                .unwrap_or("ok");
            let got = status(&runs, &id);
            seen.insert(format!("{scenario}/{id}"), got.clone());
            if got != want {
                failures.push(format!(
                    "{scenario}: {id} is {got}, expected {want}: {}",
                    runs[&id]["summary"]
                ));
            }
        }

        // What the operator reads for some of them.
        let summary = |base: &str| {
            runs[&run_id(base)]["summary"]
                .as_str()
                .unwrap_or("")
                .to_string()
        };
        if let Some(cause) = scenario.strip_prefix("task-failed-") {
            let cause = cause.trim_end_matches("-running");
            let f = &runs[&run_id("hyperbdr-failed-tasks")];
            assert_eq!(f["facts"]["failed_tasks"][0]["cause"], cause, "{f}");
            assert_eq!(f["facts"]["failed_tasks"][0]["id"], "t-990", "{f}");
            assert!(summary("hyperbdr-failed-tasks").contains(&format!("(cause {cause}: ")));
        }
        match scenario.as_str() {
            "error-envelope" => {
                let s = summary("hyperbdr-modules");
                assert!(s.contains("10010001") && s.contains("t-err-1"), "{s}");
                let s = summary("hyperbdr-console-api");
                assert!(
                    s.starts_with("console main (")
                        && s.contains(
                            "the API fails: GET /api/v2/getHosts: console error 10010001"
                        ),
                    "{s}"
                );
            }
            "http-500" => {
                let s = summary("hyperbdr-modules");
                assert!(s.contains("database unavailable"), "{s}");
            }
            "paging" => {
                let s = summary("hyperbdr-rpo-delay");
                assert!(s.starts_with("130 hosts within"), "{s}");
            }
            "task-stuck" => {
                let s = summary("hyperbdr-stuck-tasks");
                assert!(s.contains("t-991 of web03 running for 1d 6h"), "{s}");
            }
            "green" => {
                let review = &runs[&run_id("hyperbdr-strategy-review")]["facts"]["review"];
                assert_eq!(review.as_array().map(Vec::len), Some(2), "{review}");
                let s = summary("hyperbdr-console-api");
                assert!(s.contains("logged in as ops"), "{s}");
                let s = summary("hyperbdr-console-reachable");
                assert!(s.starts_with("connected to 127.0.0.1:"), "{s}");
                assert_eq!(
                    runs[&run_id("hyperbdr-rpo-delay")]["name"],
                    "HyperBDR replication delay vs RPO (main)"
                );
            }
            _ => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} unexpected statuses with times written {}:\n{}",
        failures.len(),
        mode.style,
        failures.join("\n")
    );
    seen
}

#[test]
fn every_scenario_turns_the_right_checks_to_the_right_status_with_utc_times() {
    status_matrix(TimeMode {
        style: sim::TimeStyle::Utc,
        zone: chrono_tz::UTC,
    });
}

#[test]
fn every_scenario_turns_the_right_checks_to_the_right_status_with_console_zone_times() {
    // Every time field is local `YYYY-MM-DD HH:MM:SS` in Asia/Shanghai (8 h ahead of UTC):
    // read as UTC it would put the last syncs in the future and turn rpo-5x OK.
    let console = status_matrix(TimeMode {
        style: sim::TimeStyle::Console,
        zone: chrono_tz::Asia::Shanghai,
    });
    assert_eq!(
        console
            .get("rpo-5x/hyperbdr-rpo-delay@main")
            .map(String::as_str),
        Some("critical")
    );
}

#[test]
fn local_checks_see_closed_ports_and_new_error_lines() {
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on 10443/30080/443 of 127.0.0.3 (our own loopback address): the
    // console's derived reachability check connects to the port of its url.
    let cfg = config(
        dir.path(),
        "https://127.0.0.3:10443",
        "UTC",
        "127.0.0.3",
        "127.0.0.3",
    );
    let ids = [
        "hyperbdr-console-reachable",
        "hyperbdr-tcp-gateway",
        "hyperbdr-logs-sync-proxy",
    ];
    let runs = run(&cfg, &ids);
    assert_eq!(status(&runs, "hyperbdr-console-reachable@main"), "critical");
    let s = runs["hyperbdr-console-reachable@main"]["summary"]
        .as_str()
        .unwrap();
    assert!(s.starts_with("cannot connect to 127.0.0.3:10443"), "{s}");
    assert_eq!(status(&runs, "hyperbdr-tcp-gateway"), "critical");
    // No hamal logs on this machine: nothing to say.
    assert_eq!(status(&runs, "hyperbdr-logs-sync-proxy"), "ok");

    // The sync proxy's log appears with a panic in it.
    let log = dir.path().join("logs/var/log/hamal/hamal-period.log");
    std::fs::create_dir_all(log.parent().unwrap()).unwrap();
    std::fs::write(
        &log,
        "2026-03-01 10:00:00 INFO sync vm-01 started\n2026-03-01 10:00:05 ERROR upload part 113 failed: i/o timeout\n2026-03-01 10:00:06 FATAL panic: index out of range\n",
    )
    .unwrap();
    let runs = run(&cfg, &["hyperbdr-logs-sync-proxy"]);
    assert_eq!(status(&runs, "hyperbdr-logs-sync-proxy"), "critical");
    let s = runs["hyperbdr-logs-sync-proxy"]["summary"]
        .as_str()
        .unwrap();
    assert!(
        s.starts_with("critical patterns matched: panic ×1; also error ×1")
            && s.ends_with("last: 2026-03-01 10:00:06 FATAL panic: index out of range"),
        "{s}"
    );
}

/// The shipped tasks.yaml with its commented `rerun:` example switched on, as an operator
/// would do it.
fn tasks_with_rerun(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(repo().join("checks/hyperbdr/tasks.yaml")).unwrap();
    let on = text
        .replace("    # rerun:\n", "    rerun:\n")
        .replace("    #   enabled: true", "      enabled: true")
        .replace("    #   causes: [network]", "      causes: [network]")
        .replace(
            "    #   max_per_task_per_day: 3",
            "      max_per_task_per_day: 3",
        );
    assert!(
        on.contains("    rerun:\n      enabled: true\n"),
        "the rerun example changed"
    );
    let path = dir.join("tasks.yaml");
    std::fs::write(&path, on).unwrap();
    path
}

#[test]
fn enabled_reruns_and_skips_show_in_the_failed_tasks_alert() {
    let simulator = sim::Sim::spawn(sim::SimOptions {
        listen: "127.0.0.1:0".into(),
        ..Default::default()
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tasks = tasks_with_rerun(dir.path());
    let cfg = config(
        dir.path(),
        &simulator.url(),
        "Asia/Shanghai",
        "127.0.0.3",
        "127.0.0.3",
    );
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        &format!("checks: [\"{}\"]", repo().join("checks/hyperbdr").display()),
        &format!(
            "checks: [\"{}\", \"{}\"]",
            tasks.display(),
            repo().join("checks/hyperbdr/network.yaml").display()
        ),
    );
    std::fs::write(&cfg, text).unwrap();

    // A network failure is re-run once, and the alert says so.
    simulator.set_scenario("task-failed-network");
    let runs = run(&cfg, &["hyperbdr-failed-tasks"]);
    let r = &runs["hyperbdr-failed-tasks@main"];
    assert_eq!(r["status"], "critical", "{r}");
    let s = r["summary"].as_str().unwrap();
    assert!(
        s.contains("re-ran app02 (task t-990, cause network): started"),
        "{s}"
    );
    assert_eq!(r["facts"]["reruns"][0]["host_id"], "h-002", "{r}");
    assert_eq!(
        simulator.batch_sync_bodies(),
        vec![serde_json::json!({"batch_sync": [{"migration_id": "h-002", "do_snapshot": true}]})]
    );

    // Not while the host runs a task, and never for a permission failure.
    for (scenario, reason) in [
        ("task-failed-network-running", "has a running task t-992"),
        (
            "task-failed-permission",
            "cause permission is not in rerun.causes",
        ),
    ] {
        simulator.set_scenario(scenario);
        let runs = run(&cfg, &["hyperbdr-failed-tasks"]);
        let r = &runs["hyperbdr-failed-tasks@main"];
        let s = r["summary"].as_str().unwrap();
        assert!(
            s.contains("no re-run of app02 (task t-990") && s.contains(reason),
            "{s}"
        );
        assert_eq!(r["facts"]["rerun_skipped"][0]["task_id"], "t-990", "{r}");
    }
    assert_eq!(simulator.batch_sync_bodies().len(), 1, "no further re-run");
}

#[test]
fn the_shipped_rules_pass_their_fixtures_and_the_example_validates() {
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(repo().join("examples/hyperbdr/patrol.yaml"))
        .args(["rule", "test"])
        .output()
        .expect("run patrol");
    let text = common::stdout(&out);
    assert!(out.status.success(), "{text}\n{}", common::stderr(&out));
    assert!(text.contains(" 0 failed"), "{text}");
    for rule in std::fs::read_dir(repo().join("rules")).unwrap() {
        let name = rule.unwrap().file_name().into_string().unwrap();
        if let Some(stem) = name.strip_suffix(".rhai") {
            assert!(
                repo().join(format!("rules/{stem}.test.yaml")).exists(),
                "rules/{name} has no fixture file"
            );
        }
    }

    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(repo().join("examples/hyperbdr/patrol.yaml"))
        .arg("validate")
        .env("HYPERBDR_PASSWORD", "sim-password")
        .env("S3_SECRET_KEY", "unused-here")
        .output()
        .expect("run patrol");
    assert!(
        out.status.success(),
        "{}\n{}",
        common::stdout(&out),
        common::stderr(&out)
    );
}
