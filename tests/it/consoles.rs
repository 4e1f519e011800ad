//! HyperBDR consoles defined once in `patrol.yaml` (issue 11): several consoles at once
//! (simulators in-process), checks run per console as `ID@CONSOLE`, the two parents patrol
//! derives for every console, one alert for a console's API fault, and what `validate` says
//! about the per-check connection keys of old.

use crate::common::receiver::JsonReceiver;
use crate::common::web_daemon::{WebDaemon, get_json, http_get, wait_runs};
use crate::common::{self, LONG, wait_for, wait_until};
use crate::sim;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A simulated console named `name` on a free loopback port, in `scenario`.
fn console(name: &str, scenario: &str) -> sim::SimOptions {
    sim::SimOptions {
        name: name.into(),
        listen: "127.0.0.1:0".into(),
        scenario: scenario.into(),
        ..sim::SimOptions::default()
    }
}

/// Two checks of the shipped rules that run on every console (no `console:`), every 2 s.
const CHECKS: &str = r#"id: rpo
name: Replication delay
description: Time since each host's last good sync against its RPO.
tags: [hyperbdr]
schedule: every 2s
timeout: 20s
probe:
  hyperbdr:
    fetch:
      hosts: /api/v2/getHosts
rule: hyperbdr-rpo-delay
params: { warn_factor: 2, critical_factor: 4, critical_hours: 24 }
---
id: modules
name: Components online
tags: [hyperbdr]
schedule: every 2s
timeout: 20s
probe:
  hyperbdr:
    fetch:
      modules: /api/v2/om/modules
rule: hyperbdr-modules
params: { heartbeat_max_seconds: 300, windows_heartbeat_max_seconds: 150 }
"#;

/// A config folder whose consoles are the simulators given, alerting a webhook receiver,
/// with the web server on a free port and the derived checks every 2 s.
fn setup(dir: &Path, consoles: &[&sim::Sim], hook: &JsonReceiver) -> PathBuf {
    let mut root = format!(
        r#"store: {{ path: patrol.db }}
rules: ["{rules}"]
web: {{ listen: "127.0.0.1:0" }}
group_window: 1s
delivery: {{ first_backoff: 1s, max_backoff: 2s, max_age: 1h }}
alerting:
  channels: [hook]
  flapping: {{ enabled: false }}
channels:
  hook:
    webhook:
      url: "{url}"
secrets:
  console_password: {{ value: sim-password }}
consoles:
"#,
        rules = repo().join("rules").display(),
        url = hook.url("/hook"),
    );
    for c in consoles {
        root.push_str(&format!(
            "  {}:\n    url: {}\n    username: ops\n    password: \"${{secret:console_password}}\"\n    timezone: Asia/Shanghai\n    check_every: 2s\n",
            c.name(),
            c.url()
        ));
    }
    common::write_config(dir, &root, &[("hyperbdr", CHECKS)])
}

/// `patrol run ARGS --json`: the runs by check id.
fn run(config: &Path, args: &[&str]) -> Vec<(String, Value)> {
    let out = common::patrol(config, &[&["run", "--json"], args].concat());
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            common::stdout(&out),
            common::stderr(&out)
        )
    });
    runs.into_iter()
        .map(|r| (r["check_id"].as_str().unwrap_or("").to_string(), r))
        .collect()
}

fn status_of(runs: &[(String, Value)], id: &str) -> String {
    runs.iter()
        .find(|(i, _)| i == id)
        .map(|(_, r)| r["status"].as_str().unwrap_or("?").to_string())
        .unwrap_or_else(|| panic!("{id} did not run: {runs:?}"))
}

/// Every event the receiver got, in order.
fn events(hook: &JsonReceiver) -> Vec<Value> {
    hook.bodies()
        .iter()
        .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn firings_of(hook: &JsonReceiver, id: &str) -> Vec<Value> {
    events(hook)
        .into_iter()
        .filter(|e| e["type"] == "firing" && e["check"]["id"] == id)
        .collect()
}

/// `patrol status --json [ARGS]`.
fn status_json(config: &Path, args: &[&str]) -> Vec<Value> {
    let out = common::patrol(config, &[&["status", "--json"], args].concat());
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            common::stdout(&out),
            common::stderr(&out)
        )
    })
}

fn daemon(dir: &Path) -> WebDaemon {
    WebDaemon::start(dir)
}

#[test]
fn a_fault_on_one_console_moves_only_its_checks_and_the_alert_names_it() {
    let fleet = sim::Fleet::spawn(vec![console("site-a", "green"), console("site-b", "green")])
        .expect("two consoles");
    let (a, b) = (
        fleet.get("site-a").expect("site-a"),
        fleet.get("site-b").expect("site-b"),
    );
    let hook = JsonReceiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path(), &[a, b], &hook);

    // Both green: every check of both consoles is OK, the derived ones included.
    let runs = run(&config, &["--all"]);
    let ids: BTreeSet<&str> = runs.iter().map(|(i, _)| i.as_str()).collect();
    let want: BTreeSet<&str> = [
        "hyperbdr-console-api@site-a",
        "hyperbdr-console-api@site-b",
        "hyperbdr-console-reachable@site-a",
        "hyperbdr-console-reachable@site-b",
        "modules@site-a",
        "modules@site-b",
        "rpo@site-a",
        "rpo@site-b",
    ]
    .into();
    assert_eq!(ids, want);
    for (id, r) in &runs {
        assert_eq!(r["status"], "ok", "{id}: {}", r["summary"]);
    }
    let (_, rpo_b) = runs
        .iter()
        .find(|(i, _)| i == "rpo@site-b")
        .expect("rpo@site-b");
    assert_eq!(rpo_b["name"], "Replication delay (site-b)");
    assert_eq!(rpo_b["observation"]["console"]["name"], "site-b");

    // A host 5x past its RPO on site-b only; the id as written runs on every console.
    b.set_scenario("rpo-5x");
    let runs = run(&config, &["rpo"]);
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(status_of(&runs, "rpo@site-a"), "ok");
    assert_eq!(status_of(&runs, "rpo@site-b"), "critical");

    // The daemon alerts for site-b's check, naming its console, and for nothing of site-a.
    let mut d = daemon(dir.path());
    let e = wait_until("the firing of rpo@site-b", LONG, || {
        firings_of(&hook, "rpo@site-b").into_iter().next()
    })
    .unwrap_or_else(|| panic!("no alert; log:\n{}", d.log_text()));
    assert_eq!(e["check"]["console"], "site-b", "{e}");
    assert_eq!(e["check"]["name"], "Replication delay (site-b)");
    assert!(
        e["check"]["tags"]
            .as_array()
            .is_some_and(|t| t.iter().any(|x| x == "console:site-b")),
        "{e}"
    );
    assert_eq!(e["state"]["current"], "critical");
    assert_eq!(e["suppressed_dependents"], serde_json::json!([]));
    // Two daemon runs each at least (`patrol run` stored two of rpo@site-a, one of the others).
    wait_runs(&d, &["rpo@site-a"], 4);
    wait_runs(&d, &["modules@site-a", "modules@site-b"], 3);
    let moved: Vec<String> = events(&hook)
        .iter()
        .filter_map(|e| e["check"]["id"].as_str().map(str::to_string))
        .filter(|id| id != "rpo@site-b")
        .collect();
    assert!(moved.is_empty(), "only rpo@site-b alerts: {moved:?}");

    // `patrol status --console`: one console's checks; the table labels and counts each.
    let only_b = status_json(&config, &["--console", "site-b"]);
    assert_eq!(only_b.len(), 4, "{only_b:?}");
    for r in &only_b {
        assert_eq!(r["console"], "site-b", "{r}");
        let want = if r["check_id"] == "rpo@site-b" {
            "critical"
        } else {
            "ok"
        };
        assert_eq!(r["status"], want, "{r}");
    }
    let text = common::stdout(&common::patrol(&config, &["status"]));
    assert!(text.contains("CONSOLE"), "{text}");
    assert!(
        text.contains("console site-a: 4 checks: 4 ok")
            && text.contains("console site-b: 4 checks: 3 ok, 0 warning, 1 critical"),
        "{text}"
    );
    let unknown = common::patrol(&config, &["status", "--console", "nope"]);
    assert_ne!(unknown.status.code(), Some(0));
    assert!(
        common::stderr(&unknown).contains("no console `nope` (defined: site-a, site-b)"),
        "{}",
        common::stderr(&unknown)
    );

    // The API and the status page filter by console and show it on every row.
    let listed = get_json(&d.url("/api/v1/checks?console=site-a"))["checks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(listed.len(), 4);
    assert!(
        listed.iter().all(|c| c["console"] == "site-a"),
        "{listed:?}"
    );
    let (code, page) = http_get(&d.url("/?console=site-b"));
    assert_eq!(code, 200);
    assert!(
        page.contains(r#"data-check="rpo@site-b""#) && page.contains(r#"data-console="site-b""#),
        "{page}"
    );
    assert!(!page.contains(r#"data-check="rpo@site-a""#), "{page}");
    assert!(page.contains(r#"<option value="site-a">site-a</option>"#));
    d.stop();
}

#[test]
fn a_console_on_another_port_has_an_ok_parent_and_its_alerts_are_delivered() {
    // A console on a port of its own (not HyperBDR's 10443): the derived reachability check
    // connects to the port of its url, so nothing holds the API checks' alerts back.
    let s = sim::Sim::spawn(console("main", "rpo-5x")).expect("console");
    let port = s.addr().port();
    assert_ne!(port, 10443);
    let hook = JsonReceiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path(), &[&s], &hook);

    let mut d = daemon(dir.path());
    let e = wait_until("the firing of rpo@main", LONG, || {
        firings_of(&hook, "rpo@main").into_iter().next()
    })
    .unwrap_or_else(|| panic!("no alert delivered; log:\n{}", d.log_text()));
    assert_eq!(e["check"]["console"], "main");
    assert!(
        !e["reason"].as_str().unwrap_or("").contains("dependency"),
        "{e}"
    );
    wait_runs(
        &d,
        &[
            "hyperbdr-console-reachable@main",
            "hyperbdr-console-api@main",
        ],
        2,
    );
    let states = status_json(&config, &[]);
    let state = |id: &str| {
        states
            .iter()
            .find(|r| r["check_id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no {id}: {states:?}"))
    };
    let reachable = state("hyperbdr-console-reachable@main");
    assert_eq!(reachable["status"], "ok", "{reachable}");
    assert!(
        reachable["summary"]
            .as_str()
            .is_some_and(|s| s.starts_with(&format!("connected to 127.0.0.1:{port} "))),
        "{reachable}"
    );
    let api = state("hyperbdr-console-api@main");
    assert_eq!(api["status"], "ok", "{api}");
    assert!(
        api["summary"]
            .as_str()
            .is_some_and(|s| s.contains("logged in as ops")),
        "{api}"
    );
    // Delivered, not held: the outbox row of the firing was sent.
    let out = common::patrol(&config, &["alerts", "--json", "--check", "rpo@main"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("alerts JSON");
    assert!(
        rows.iter()
            .any(|r| r["kind"] == "firing" && r["state"] == "sent"),
        "{rows:?}"
    );
    d.stop();
}

#[test]
fn a_console_api_fault_is_one_alert_from_its_api_check_listing_the_checks_it_holds() {
    // Two consoles whose APIs fail differently while their ports stay open: HTTP 500, and
    // HTTP 200 with an error envelope.
    let fleet = sim::Fleet::spawn(vec![
        console("site-a", "http-500"),
        console("site-b", "error-envelope"),
    ])
    .expect("two consoles");
    let consoles: Vec<&sim::Sim> = fleet.consoles().iter().collect();
    let hook = JsonReceiver::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = setup(dir.path(), &consoles, &hook);

    let mut d = daemon(dir.path());
    for (site, why) in [
        ("site-a", "HTTP 500: database unavailable"),
        ("site-b", "console error 10010001"),
    ] {
        let api = format!("hyperbdr-console-api@{site}");
        let e = wait_until(&format!("the firing of {api}"), LONG, || {
            firings_of(&hook, &api).into_iter().next()
        })
        .unwrap_or_else(|| panic!("no alert from {api}; log:\n{}", d.log_text()));
        assert_eq!(e["state"]["current"], "critical", "{e}");
        assert_eq!(e["check"]["console"], site);
        let summary = e["result"]["summary"].as_str().unwrap_or("");
        assert!(
            summary.starts_with(&format!("console {site} (")) && summary.contains(why),
            "{summary}"
        );
        // Every check it holds, whether it has run yet or not.
        assert_eq!(
            e["suppressed_dependents"],
            serde_json::json!([format!("modules@{site}"), format!("rpo@{site}")]),
            "{e}"
        );
    }

    // The held checks run, are UNKNOWN, and alert nobody; the consoles' ports are fine.
    wait_runs(
        &d,
        &[
            "rpo@site-a",
            "modules@site-a",
            "rpo@site-b",
            "modules@site-b",
        ],
        3,
    );
    let firing: Vec<String> = events(&hook)
        .iter()
        .filter(|e| e["type"] == "firing")
        .filter_map(|e| e["check"]["id"].as_str().map(str::to_string))
        .collect();
    let mut sorted = firing.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        ["hyperbdr-console-api@site-a", "hyperbdr-console-api@site-b"],
        "one alert per console, from its API check: {firing:?}"
    );
    let out = common::patrol(&config, &["alerts", "--json"]);
    let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("alerts JSON");
    let queued: BTreeSet<&str> = rows.iter().filter_map(|r| r["check_id"].as_str()).collect();
    assert_eq!(
        queued,
        BTreeSet::from(["hyperbdr-console-api@site-a", "hyperbdr-console-api@site-b"]),
        "{rows:?}"
    );
    let states = status_json(&config, &[]);
    for r in &states {
        let id = r["check_id"].as_str().unwrap_or("");
        let want = if id.starts_with("hyperbdr-console-api@") {
            "critical"
        } else if id.starts_with("hyperbdr-console-reachable@") {
            "ok"
        } else {
            "unknown"
        };
        assert_eq!(r["status"], want, "{r}");
    }

    // site-a's API works again: its API check resolves and its checks are OK again.
    fleet.get("site-a").expect("site-a").set_scenario("green");
    wait_for("the resolve of hyperbdr-console-api@site-a", LONG, || {
        events(&hook)
            .iter()
            .any(|e| e["type"] == "resolved" && e["check"]["id"] == "hyperbdr-console-api@site-a")
    });
    wait_for("rpo@site-a OK again", LONG, || {
        status_json(&config, &["--console", "site-a"])
            .iter()
            .all(|r| r["status"] == "ok")
    });
    d.stop();
}

/// `patrol validate` lines (`file:line:col: message`) for a config folder.
fn validate(dir: &Path, root: &str, checks: &str) -> (bool, Vec<String>) {
    let config = common::write_config(dir, root, &[("old", checks)]);
    let out = common::patrol(&config, &["validate"]);
    let lines = common::stdout(&out)
        .lines()
        .chain(common::stderr(&out).lines())
        .map(str::to_string)
        .collect();
    (out.status.success(), lines)
}

/// The check as the library wrote it before consoles: the connection in every check.
const OLD_CHECK: &str = r#"id: hyperbdr-rpo-delay
schedule: every 1h
depends_on: [hyperbdr-tcp-console]
probe:
  hyperbdr:
    url: "${var:hyperbdr_url}"
    username: ops
    password: "${secret:hyperbdr_password}"
    console_timezone: Asia/Shanghai
    fetch:
      hosts: /api/v2/getHosts
"#;

#[test]
fn validate_says_what_to_write_instead_of_the_old_connection_keys() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old_root = "vars:\n  hyperbdr_url: https://10.0.0.5:10443\nsecrets:\n  hyperbdr_password: { value: x }\n";
    let (ok, lines) = validate(dir.path(), old_root, OLD_CHECK);
    assert!(!ok, "{lines:?}");
    let at = |prefix: &str| -> String {
        lines
            .iter()
            .find(|l| l.contains(&format!("/{prefix}")))
            .cloned()
            .unwrap_or_else(|| panic!("no line {prefix}: {lines:#?}"))
    };
    // Each old key where it is written, saying where it goes now.
    let url = at("checks/old.yaml:6:5: ");
    assert!(
        url.contains("`url` is no longer a key of the hyperbdr probe: define the console once in patrol.yaml (`consoles: {main: {url: https://CONSOLE:10443")
            && url.ends_with("remove this line and write `console: main`"),
        "{url}"
    );
    assert!(at("checks/old.yaml:7:5: ").contains("`username` is no longer a key"));
    assert!(at("checks/old.yaml:8:5: ").contains("`password` is no longer a key"));
    assert!(at("checks/old.yaml:9:5: ").contains("`console_timezone` is no longer a key"));

    // With the console defined, the message names it; the old console check's dependency
    // is explained; an unknown console is an error where it is named.
    let root = "secrets:\n  hyperbdr_password: { value: x }\nconsoles:\n  site-a:\n    url: https://10.0.0.5:10443\n    username: ops\n    password: \"${secret:hyperbdr_password}\"\n";
    let (_, lines) = validate(dir.path(), root, OLD_CHECK);
    let tz = lines
        .iter()
        .find(|l| l.contains("/checks/old.yaml:9:5: "))
        .cloned()
        .unwrap_or_default();
    assert!(
        tz.contains("it is the console's `timezone`, set once under `consoles:` in patrol.yaml (defined: site-a); remove this line and write `console: site-a`"),
        "{tz}"
    );
    let fixed = "id: hyperbdr-rpo-delay\nschedule: every 1h\ndepends_on: [hyperbdr-tcp-console]\nprobe:\n  hyperbdr:\n    console: [site-a, site-b]\n    fetch:\n      hosts: /api/v2/getHosts\n";
    let (ok, lines) = validate(dir.path(), root, fixed);
    assert!(!ok);
    assert!(
        lines.iter().any(|l| l.contains("/checks/old.yaml:6:23: ")
            && l.contains("unknown console `site-b` (defined: site-a)")),
        "{lines:#?}"
    );
    let (ok, lines) = validate(
        dir.path(),
        root,
        &fixed.replace("[site-a, site-b]", "site-a"),
    );
    assert!(!ok);
    assert!(
        lines.iter().any(|l| l.contains("/checks/old.yaml:3:14: ")
            && l.contains("unknown check `hyperbdr-tcp-console` (remove it")),
        "{lines:#?}"
    );
    let good = fixed
        .replace("depends_on: [hyperbdr-tcp-console]\n", "")
        .replace("[site-a, site-b]", "site-a");
    let (ok, lines) = validate(dir.path(), root, &good);
    assert!(ok, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("3 checks")),
        "the check and the console's two derived checks: {lines:#?}"
    );

    // A hyperbdr check with no console at all says how to define one.
    let (ok, lines) = validate(
        dir.path(),
        "store: { path: patrol.db }\n",
        &good.replace("    console: site-a\n", ""),
    );
    assert!(!ok);
    assert!(
        lines.iter().any(|l| l.contains("/checks/old.yaml:1:1: ")
            && l.contains("uses the hyperbdr probe, but patrol.yaml defines no console: add `consoles: {main: {url:")),
        "{lines:#?}"
    );

    // A log collector with the old keys, and a console with a bad name and url.
    let root = "secrets:\n  pw: { value: x }\nconsoles:\n  Main:\n    url: 10.0.0.5:10443\n    username: ops\n    password: \"${secret:pw}\"\nlogs:\n  sources:\n    console:\n      collect:\n        - hyperbdr:\n            url: https://10.0.0.5:10443\n            resource_type: console\n            resource_id: c-1\n";
    let (ok, lines) = validate(dir.path(), root, "");
    assert!(!ok);
    for (prefix, text) in [
        (
            "patrol.yaml:4:1: ",
            "console name \"Main\": use lower-case letters, digits and `-`",
        ),
        (
            "patrol.yaml:4:1: ",
            "console `Main`: url \"10.0.0.5:10443\" is not a URL",
        ),
        (
            "patrol.yaml:13:13: ",
            "logs source `console`: `url` is no longer a key of the hyperbdr log collector",
        ),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(&format!("/{prefix}")) && l.contains(text)),
            "{prefix}{text} in {lines:#?}"
        );
    }
}
