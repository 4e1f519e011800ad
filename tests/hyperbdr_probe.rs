//! The HyperBDR simulator (examples/hyperbdr-sim) and the `hyperbdr` probe against it.
//! The simulator runs in-process on its own thread; the probe is run through the real
//! `patrol` binary where a user would (`patrol run CHECK`).

#[path = "../examples/hyperbdr-sim/sim.rs"]
mod sim;

use serde_json::{Value, json};

fn http() -> reqwest::Client {
    patrol::probe::tls::ensure_crypto_provider();
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
    assert!(names["scenarios"].as_array().unwrap().len() >= 30);
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
