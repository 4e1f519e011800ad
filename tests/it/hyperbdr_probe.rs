//! The HyperBDR simulator (examples/hyperbdr-sim) and the `hyperbdr` probe against it.
//! The simulator runs in-process on its own thread; the probe is run through the real
//! `patrol` binary where a user would (`patrol run CHECK`).

use crate::sim;

use serde_json::{Value, json};

fn http() -> reqwest::Client {
    patrol::tls::ensure_crypto_provider();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

async fn login(c: &reqwest::Client, s: &sim::Sim) -> String {
    let v: Value = c
        .post(format!("{}/api/v2/loginNoImageCaptcha", s.url()))
        .json(&json!({"username": "ops", "password": "sim-password"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["code"], "00000000", "{v}");
    v["data"]["token"].as_str().unwrap().to_string()
}

async fn get(c: &reqwest::Client, s: &sim::Sim, token: &str, path: &str) -> (u16, Value) {
    let r = c
        .get(format!("{}{path}", s.url()))
        .header("X-Auth-Token", token)
        .header("X-SCENE", "dr")
        .header("X-LANG", "en")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn simulator_serves_the_green_console_and_switches_scenarios() {
    let s = sim::Sim::start("127.0.0.1:0", "green").await.unwrap();
    let c = http();

    // Business endpoints need a token.
    let (status, _) = get(&c, &s, "nope", "/api/v2/getHosts").await;
    assert_eq!(status, 401);
    let token = login(&c, &s).await;
    assert_eq!(s.logins(), 1);

    let (status, hosts) = get(&c, &s, &token, "/api/v2/getHosts").await;
    assert_eq!(status, 200);
    assert_eq!(hosts["code"], "00000000");
    assert_eq!(hosts["data"]["total"], 4);
    for h in hosts["data"]["hosts"].as_array().unwrap() {
        assert_eq!(h["status"], "sync_snapshot_done", "{h}");
        assert_eq!(h["snapshot_count"], 40);
    }
    let (_, modules) = get(&c, &s, &token, "/api/v2/om/modules").await;
    let modules = modules["data"]["modules"].as_array().unwrap().clone();
    assert_eq!(modules.len(), 5);
    assert!(modules.iter().all(|m| m["online"] == true));
    let console = &modules[0];
    assert_eq!(console["unhealthy_containers"], 0);
    // Tasks carry console-zone stamps, the rest RFC 3339.
    let (_, tasks) = get(&c, &s, &token, "/api/v2/getTasks?page_size=50").await;
    assert_eq!(tasks["data"]["total"], 20);
    let start = tasks["data"]["tasks"][0]["start_at"].as_str().unwrap();
    assert!(
        chrono::NaiveDateTime::parse_from_str(start, "%Y-%m-%d %H:%M:%S").is_ok(),
        "{start}"
    );

    // Unknown paths are 404; the runtime switch changes the data.
    let (status, _) = get(&c, &s, &token, "/api/v2/om/unknown").await;
    assert_eq!(status, 404);
    let r = c
        .put(format!("{}/sim/scenario", s.url()))
        .body(r#"{"scenario":"container-restarting"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (_, modules) = get(&c, &s, &token, "/api/v2/om/modules").await;
    let owl = modules["data"]["modules"][0]["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == "owl")
        .unwrap()
        .clone();
    assert_eq!(owl["state"], "Restarting");
    assert_eq!(modules["data"]["modules"][0]["unhealthy_containers"], 1);

    s.set_scenario("bucket-92");
    let (_, st) = get(&c, &s, &token, "/api/v2/getStorages").await;
    let obj = &st["data"]["storages"][0];
    let pct = obj["used_bytes"].as_f64().unwrap() / obj["quota_bytes"].as_f64().unwrap();
    assert!((pct - 0.92).abs() < 0.001, "{pct}");

    let state: Value = c
        .get(format!("{}/sim/state", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["scenario"], "bucket-92");
    assert_eq!(state["logins"], 1);
    assert_eq!(state["requests"]["/api/v2/om/modules"], 2);
    assert_eq!(state["last_headers"]["x_scene"], "dr");
    let names: Value = c
        .get(format!("{}/sim/scenarios", s.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = names["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    // Every scenario of the contract (hyperbdr-contract.md §2).
    for name in [
        "green",
        "container-restarting",
        "proxy-offline",
        "task-failed-network",
        "task-failed-permission",
        "task-failed-storage",
        "task-failed-source",
        "task-stuck",
        "rpo-breach",
        "bucket-92",
        "storage-trend",
        "snapshots-127",
        "key-old",
        "key-expiring",
        "account-invalid",
        "iam-wildcard",
        "permission-missing",
        "subtunnel-down",
        "latency-high",
        "link-saturated",
        "policy-no-full",
        "drill-overdue",
        "critical-alert",
        "relogin-401",
        "error-envelope",
        "http-500",
        "slow",
        "paging",
        "log-host-offline",
        "log-collection-failed",
    ] {
        assert!(names.contains(&name), "scenario {name} missing");
    }
}

#[tokio::test]
async fn simulator_pages_fails_and_collects_logs() {
    let s = sim::Sim::start("127.0.0.1:0", "paging").await.unwrap();
    let c = http();
    let token = login(&c, &s).await;

    // page_size is capped at 50: 130 hosts take three pages.
    let mut ids = Vec::new();
    for page in 1..=3 {
        let (_, v) = get(
            &c,
            &s,
            &token,
            &format!("/api/v2/getHosts?page={page}&page_size=100"),
        )
        .await;
        assert_eq!(v["data"]["total"], 130);
        for h in v["data"]["hosts"].as_array().unwrap() {
            ids.push(h["id"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(ids.len(), 130);

    // Failure scenarios.
    s.set_scenario("error-envelope");
    let (status, v) = get(&c, &s, &token, "/api/v2/getHosts").await;
    assert_eq!(
        (status, &v["code"], &v["trace_id"]),
        (200, &json!("10010001"), &json!("t-err-1"))
    );
    s.set_scenario("http-500");
    let r = c
        .get(format!("{}/api/v2/getHosts", s.url()))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 500);
    assert_eq!(r.headers()["server-error-message"], "database unavailable");

    // relogin-401: the first request after a login is refused once, the next login works.
    s.set_scenario("relogin-401");
    let t1 = login(&c, &s).await;
    assert_eq!(get(&c, &s, &t1, "/api/v2/getHosts").await.0, 401);
    let t2 = login(&c, &s).await;
    assert_eq!(get(&c, &s, &t2, "/api/v2/getHosts").await.0, 200);
    assert_eq!(get(&c, &s, &t2, "/api/v2/getTasks").await.0, 200);

    // A failed task with its steps.
    s.set_scenario("task-failed-permission");
    let (_, tasks) = get(&c, &s, &token, "/api/v2/getTasks?status=failed").await;
    let t = &tasks["data"]["tasks"][0];
    assert_eq!(t["id"], "t-990");
    assert!(t["error"].get("cause").is_none(), "{t}");
    let (_, steps) = get(&c, &s, &token, "/hypermotion/v1/job/steps?task_id=t-990").await;
    let last = steps["data"]["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["status"], "failed");
    assert!(
        last["message"]
            .as_str()
            .unwrap()
            .contains("ebs:PutSnapshotBlock")
    );

    // Log collection: collecting, then available with real bytes.
    s.set_scenario("green");
    let v: Value = c
        .post(format!("{}/api/v2/om/log-collections", s.url()))
        .header("X-Auth-Token", &token)
        .json(&json!({"resource_type": "console", "resource_id": "console-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["data"]["status"], "collecting");
    let id = v["data"]["id"].as_str().unwrap().to_string();
    let mut files = Value::Null;
    for _ in 0..10 {
        let (_, v) = get(&c, &s, &token, "/api/v2/om/log-collections").await;
        let lc = &v["data"]["log_collections"][0];
        if lc["status"] == "available" {
            files = lc["files"].clone();
            break;
        }
        assert_eq!(lc["status"], "collecting");
    }
    let url = files[0]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("/api/v2/om/log-collections/{id}/files/")));
    let body = c
        .get(format!("{}{url}", s.url()))
        .header("X-Auth-Token", &token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body.len() as u64, files[0]["size_bytes"].as_u64().unwrap());
    assert!(
        body.lines().count() > 100 && body.contains(" INFO "),
        "{body}"
    );

    s.set_scenario("log-host-offline");
    let r = c
        .post(format!("{}/api/v2/om/log-collections", s.url()))
        .header("X-Auth-Token", &token)
        .json(&json!({"resource_type": "windows_host", "resource_id": "h-002"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["title"], "offline hosts cannot collect logs");
}

// ------------------------------------------------------------------ the `hyperbdr` probe

use crate::common;
use std::path::{Path, PathBuf};
use std::process::Output;

const PASSWORD: &str = "Pw-7f3c9e-sim-secret";

/// A simulator with a password the tests can look for.
fn start_sim(scenario: &str) -> sim::Sim {
    sim::Sim::spawn(sim::SimOptions {
        listen: "127.0.0.1:0".into(),
        scenario: scenario.into(),
        password: PASSWORD.into(),
        slow_ms: 3000,
        ..sim::SimOptions::default()
    })
    .unwrap()
}

/// A check of the `hyperbdr` probe against the simulator (the console `main` of
/// [`setup`]), with `extra` lines appended to the probe (indented by four spaces) and
/// `fetch` as given. `patrol run ID` runs its one instance, `ID@main`.
fn hb_check(id: &str, timeout: &str, fetch: &[(&str, &str)], extra: &str) -> String {
    let mut s = format!(
        "id: {id}\nschedule: every 1h\ntimeout: {timeout}\nprobe:\n  hyperbdr:\n    fetch:\n"
    );
    for (name, path) in fetch {
        s.push_str(&format!("      {name}: {path}\n"));
    }
    for line in extra.lines() {
        s.push_str(&format!("    {line}\n"));
    }
    s
}

/// A config folder with `patrol.yaml` defining the console `main` at `url` and `checks` as
/// one check file.
fn setup(dir: &Path, url: &str, checks: &[String]) -> PathBuf {
    common::write_config(
        dir,
        &format!(
            "store: {{ path: patrol.db }}\nconsoles:\n  main:\n    url: {url}\n    username: ops\n    password: \"${{secret:hyperbdr_password}}\"\n    timezone: Asia/Shanghai\nsecrets:\n  hyperbdr_password: {{ env: HYPERBDR_PASSWORD }}\n"
        ),
        &[("hyperbdr", &checks.join("---\n"))],
    )
}

fn patrol_env(config: &Path, password: &str, args: &[&str]) -> Output {
    common::patrol_env(config, &[("HYPERBDR_PASSWORD", password)], args)
}

/// `patrol run IDS --json`: the runs, by check id.
fn run(config: &Path, ids: &[&str]) -> Vec<Value> {
    let mut args = vec!["run", "--json"];
    args.extend_from_slice(ids);
    let out = patrol_env(config, PASSWORD, &args);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            common::stdout(&out),
            common::stderr(&out)
        )
    })
}

fn run_one(config: &Path, id: &str) -> Value {
    run(config, &[id]).remove(0)
}

fn host_ids(obs: &Value) -> Vec<String> {
    obs["hosts"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn green_console_is_fetched_page_by_page_with_times_made_explicit() {
    let s = start_sim("paging");
    let dir = tempfile::tempdir().unwrap();
    let fetch = [
        ("hosts", "/api/v2/getHosts"),
        (
            "tasks",
            "{ path: /api/v2/getTasks, query: { page_size: 50 } }",
        ),
        ("modules", "/api/v2/om/modules"),
    ];
    let config = setup(
        dir.path(),
        &s.url(),
        &[hb_check("hb-inventory", "20s", &fetch, "")],
    );

    let r = run_one(&config, "hb-inventory");
    assert_eq!(r["status"], "ok", "{r}");
    assert!(
        r["summary"]
            .as_str()
            .unwrap()
            .contains("fetched hosts (130), modules (5), tasks (130)"),
        "{}",
        r["summary"]
    );
    let obs = &r["observation"];
    let mut ids = host_ids(obs);
    assert_eq!(obs["hosts"]["total"], 130);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 130, "every host once");
    assert_eq!(obs["tasks"]["tasks"].as_array().unwrap().len(), 130);
    assert_eq!(obs["console"]["scene"], "dr");
    assert_eq!(obs["console"]["url"], s.url());
    // Pages of at most 50: three requests each; one login for all of it.
    assert_eq!(s.requests("/api/v2/getHosts"), 3);
    assert_eq!(s.requests("/api/v2/getTasks"), 3);
    assert_eq!(s.logins(), 1);
    assert_eq!(
        s.state()["last_headers"],
        json!({"x_scene": "dr", "x_lang": "en"})
    );

    // Console stamps (Asia/Shanghai) are now RFC 3339 with the console's offset, and close
    // to now.
    let start = obs["tasks"]["tasks"][0]["start_at"].as_str().unwrap();
    let t = chrono::DateTime::parse_from_rfc3339(start).unwrap_or_else(|e| panic!("{start}: {e}"));
    assert!(start.ends_with("+08:00"), "{start}");
    let age = chrono::Utc::now().signed_duration_since(t);
    assert!(
        age.num_minutes() >= 0 && age.num_hours() < 2,
        "newest task started {age} ago"
    );
    // RFC 3339 fields pass as they are.
    assert!(
        obs["hosts"]["hosts"][0]["last_sync_success_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[test]
fn token_is_reused_across_checks_and_renewed_once_after_401() {
    let s = start_sim("green");
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        &s.url(),
        &[
            hb_check("hb-hosts", "20s", &[("hosts", "/api/v2/getHosts")], ""),
            hb_check(
                "hb-storage",
                "20s",
                &[("storages", "/api/v2/getStorages")],
                "",
            ),
        ],
    );
    let runs = run(&config, &["hb-hosts", "hb-storage"]);
    assert!(runs.iter().all(|r| r["status"] == "ok"), "{runs:?}");
    assert_eq!(s.logins(), 1, "two checks, one login");

    // The console revokes the first token after each login: one re-login, then OK.
    s.set_scenario("relogin-401");
    let r = run_one(&config, "hb-hosts");
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(
        s.logins(),
        3,
        "a new process logs in, is refused once, logs in again"
    );
    assert_eq!(s.state()["unauthorized"], 1);
    assert_eq!(r["observation"]["hosts"]["total"], 4);
}

#[test]
fn console_failures_make_the_check_unknown_and_name_the_endpoint() {
    let s = start_sim("error-envelope");
    let dir = tempfile::tempdir().unwrap();
    let config = setup(
        dir.path(),
        &s.url(),
        &[
            hb_check("hb-hosts", "20s", &[("hosts", "/api/v2/getHosts")], ""),
            hb_check(
                "hb-om",
                "20s",
                &[("tunnels", "/api/v2/om/not-on-this-console")],
                "",
            ),
            hb_check("hb-slow", "2s", &[("hosts", "/api/v2/getHosts")], ""),
        ],
    );
    let unknown = |id: &str| {
        let r = run_one(&config, id);
        assert_eq!(r["status"], "unknown", "{r}");
        r["summary"].as_str().unwrap().to_string()
    };
    let m = unknown("hb-hosts");
    assert!(
        m.contains(
            "GET /api/v2/getHosts: console error 10010001: internal error (trace_id t-err-1)"
        ),
        "{m}"
    );

    s.set_scenario("http-500");
    let m = unknown("hb-hosts");
    assert!(
        m.contains("GET /api/v2/getHosts: HTTP 500: database unavailable"),
        "{m}"
    );

    s.set_scenario("green");
    let m = unknown("hb-om");
    assert!(
        m.contains("GET /api/v2/om/not-on-this-console: not available on this console (HTTP 404)"),
        "{m}"
    );

    s.set_scenario("slow");
    let m = unknown("hb-slow");
    assert!(m.contains("timed out"), "{m}");

    // A wrong password: UNKNOWN naming the login, never the password.
    s.set_scenario("green");
    let out = patrol_env(&config, "wrong-pass-0x55", &["run", "hb-hosts", "--json"]);
    let runs: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs[0]["status"], "unknown");
    let m = runs[0]["summary"].as_str().unwrap();
    // A refused login: no other login before the back-off ends (tests/console_client.rs).
    assert!(
        m.contains("POST /api/v2/loginNoImageCaptcha: login as ops refused at ")
            && m.contains(" CST; not retrying before ")
            && m.contains(
                " CST so the account is not locked — console error 10010001: invalid credentials"
            ),
        "{m}"
    );
    assert!(!common::stdout(&out).contains("wrong-pass-0x55"));
    assert!(!common::stderr(&out).contains("wrong-pass-0x55"));
}

const STEPS: &str = "task_steps: true";

#[test]
fn failed_tasks_are_classified_from_their_steps_and_messages() {
    let s = start_sim("green");
    let dir = tempfile::tempdir().unwrap();
    let fetch = [("hosts", "/api/v2/getHosts"), ("tasks", "/api/v2/getTasks")];
    let config = setup(
        dir.path(),
        &s.url(),
        &[hb_check("hb-tasks", "20s", &fetch, STEPS)],
    );

    let r = run_one(&config, "hb-tasks");
    let tasks = r["observation"]["tasks"]["tasks"].as_array().unwrap();
    assert!(
        tasks.iter().all(|t| t.get("cause").is_none()),
        "green has no failed task"
    );
    assert_eq!(s.requests("/hypermotion/v1/job/steps"), 0);

    for (scenario, cause, console_cause, evidence) in [
        (
            "task-failed-network",
            "network",
            Some("network"),
            "i/o timeout",
        ),
        (
            "task-failed-permission",
            "permission",
            None,
            "ebs:PutSnapshotBlock",
        ),
        (
            "task-failed-storage",
            "storage",
            Some("quota"),
            "QuotaExceeded",
        ),
        ("task-failed-source", "source", None, "agent offline"),
    ] {
        s.set_scenario(scenario);
        let r = run_one(&config, "hb-tasks");
        assert_eq!(r["status"], "ok", "{r}");
        let failed: Vec<&Value> = r["observation"]["tasks"]["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|t| t.get("cause").is_some())
            .collect();
        assert_eq!(failed.len(), 1, "{scenario}");
        let t = failed[0];
        assert_eq!(t["id"], "t-990");
        assert_eq!(t["cause"], cause, "{scenario}: {t}");
        assert!(
            t["cause_evidence"].as_str().unwrap().contains(evidence),
            "{scenario}: {}",
            t["cause_evidence"]
        );
        assert_eq!(
            t.get("console_cause").and_then(Value::as_str),
            console_cause,
            "{scenario}"
        );
        assert_eq!(
            t["steps"].as_array().unwrap().last().unwrap()["status"],
            "failed"
        );
    }
}

#[test]
fn rerun_is_guarded_counted_and_shown() {
    let s = start_sim("task-failed-network");
    let dir = tempfile::tempdir().unwrap();
    let fetch = [("hosts", "/api/v2/getHosts"), ("tasks", "/api/v2/getTasks")];
    let rerun = "task_steps: true\nrerun: { enabled: true, max_per_task_per_day: 2 }";
    let config = setup(
        dir.path(),
        &s.url(),
        &[
            hb_check("hb-steps-only", "20s", &fetch, STEPS),
            hb_check("hb-rerun", "20s", &fetch, rerun),
        ],
    );

    // Without `rerun` nothing is re-run.
    let r = run_one(&config, "hb-steps-only");
    assert!(r["observation"].get("reruns").is_none());
    assert_eq!(s.batch_sync_bodies().len(), 0);

    // Not a network cause: skipped, with the reason.
    s.set_scenario("task-failed-permission");
    let r = run_one(&config, "hb-rerun");
    assert_eq!(r["observation"]["reruns"], json!([]));
    assert_eq!(
        r["observation"]["rerun_skipped"][0]["reason"],
        "cause permission is not in rerun.causes [network]"
    );
    // The host is running a task: skipped.
    s.set_scenario("task-failed-network-running");
    let r = run_one(&config, "hb-rerun");
    assert_eq!(
        r["observation"]["rerun_skipped"][0]["reason"],
        "host h-002 has a running task t-992"
    );
    assert_eq!(s.batch_sync_bodies().len(), 0);

    // A network failure on an idle host: re-run, at most twice a day across runs.
    s.set_scenario("task-failed-network");
    for n in 1..=2 {
        let r = run_one(&config, "hb-rerun");
        let reruns = r["observation"]["reruns"].as_array().unwrap();
        assert_eq!(reruns.len(), 1, "{r}");
        assert_eq!(reruns[0]["task_id"], "t-990");
        assert_eq!(reruns[0]["host_id"], "h-002");
        assert_eq!(reruns[0]["cause"], "network");
        assert_eq!(reruns[0]["outcome"], "started");
        assert_eq!(
            r["observation"]["rerun_history"].as_array().unwrap().len(),
            n
        );
        assert!(
            r["summary"]
                .as_str()
                .unwrap()
                .contains("re-ran 1 failed task"),
            "{}",
            r["summary"]
        );
    }
    let r = run_one(&config, "hb-rerun");
    assert_eq!(r["observation"]["reruns"], json!([]));
    assert_eq!(
        r["observation"]["rerun_skipped"][0]["reason"],
        "2 attempts in the last 24 h (rerun.max_per_task_per_day 2)"
    );
    assert_eq!(
        r["observation"]["rerun_history"].as_array().unwrap().len(),
        2
    );
    let bodies = s.batch_sync_bodies();
    assert_eq!(bodies.len(), 2);
    assert_eq!(
        bodies[0],
        json!({"batch_sync": [{"migration_id": "h-002", "do_snapshot": true}]})
    );

    // The history shows the attempts; the password is nowhere in the store or the output.
    let out = patrol_env(&config, PASSWORD, &["history", "hb-rerun", "--json"]);
    let hist: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(hist.len(), 5, "five runs of hb-rerun are recorded");
    let out = patrol_env(
        &config,
        PASSWORD,
        &["--log-level", "debug", "run", "hb-rerun", "--verbose"],
    );
    assert!(common::stdout(&out).contains("rerun_skipped"));
    for text in [common::stdout(&out), common::stderr(&out)] {
        assert!(!text.contains(PASSWORD), "password printed: {text}");
    }
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().contains("patrol.db") {
            let bytes = std::fs::read(&path).unwrap();
            let found = bytes
                .windows(PASSWORD.len())
                .any(|w| w == PASSWORD.as_bytes());
            assert!(!found, "password stored in {}", path.display());
        }
    }
}

#[test]
fn validate_reports_a_rerun_without_task_steps() {
    let dir = tempfile::tempdir().unwrap();
    let fetch = [("tasks", "/api/v2/getTasks")];
    let config = setup(
        dir.path(),
        "http://127.0.0.1:9",
        &[hb_check(
            "hb-bad",
            "20s",
            &fetch,
            "rerun: { enabled: true }",
        )],
    );
    let out = patrol_env(&config, PASSWORD, &["validate"]);
    assert_ne!(out.status.code(), Some(0));
    let text = format!("{}{}", common::stdout(&out), common::stderr(&out));
    assert!(text.contains("rerun needs task_steps: true"), "{text}");
}

/// The console client the log export reuses: POST a collection, poll the list, download.
#[tokio::test]
async fn console_client_collects_and_downloads_logs() {
    use patrol::hyperbdr::client::{Connection, ConsoleClient};
    let s = start_sim("green");
    let client = ConsoleClient::new(&Connection::new(&s.url(), "ops", PASSWORD)).unwrap();
    let started = client
        .post_data(
            "/api/v2/om/log-collections",
            &json!({"resource_type": "linux_host", "resource_id": "h-001"}),
        )
        .await
        .unwrap();
    assert_eq!(started["status"], "collecting");
    let mut done = Value::Null;
    for _ in 0..10 {
        let all = client
            .get_all_pages("/api/v2/om/log-collections", &[])
            .await
            .unwrap();
        if all["log_collections"][0]["status"] == "available" {
            done = all["log_collections"][0].clone();
            break;
        }
    }
    let file = &done["files"][0];
    let bytes = client
        .get_bytes(file["url"].as_str().unwrap())
        .await
        .unwrap();
    assert_eq!(bytes.len() as u64, file["size_bytes"].as_u64().unwrap());
    assert_eq!(s.logins(), 1);

    // Errors name the endpoint and the console's message.
    let e = client
        .post_data(
            "/api/v2/om/log-collections",
            &json!({"resource_type": "sync_proxy", "resource_id": "nope"}),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().starts_with(
            "POST /api/v2/om/log-collections: HTTP 400: sync_proxy \"nope\" not found"
        ),
        "{e}"
    );
    let e = client.get_bytes("/api/v2/om/nothing").await.unwrap_err();
    assert!(e.is_not_available(), "{e}");
}
