//! The daemon's web side as an operator and a job use it: the JSON API, the token that
//! changes need, `/metrics` read by the real Prometheus client parser, `/healthz`, and
//! heartbeat checks pinged by a real HTTP client — all against a running `patrol daemon`.

use crate::common;
use crate::common::web_daemon;

use common::daemon::{Daemon, Opts};
use common::{LONG, wait_until, write_tree};
use serde_json::Value;
use web_daemon::{WebDaemon, check, get_json, http_get, ports, wait_runs};

const TOKEN: &str = "tok-3f9a2c71";

struct Http {
    rt: tokio::runtime::Runtime,
    client: reqwest::Client,
}

impl Http {
    fn new() -> Http {
        let _ = rustls::crypto::ring::default_provider().install_default();
        Http {
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime"),
            client: reqwest::Client::builder()
                .timeout(LONG)
                .build()
                .expect("client"),
        }
    }

    /// Sends a request; returns (status, body).
    fn send(&self, req: reqwest::RequestBuilder) -> (u16, String) {
        self.rt.block_on(async {
            let r = req.send().await.expect("request");
            let status = r.status().as_u16();
            (status, r.text().await.expect("body"))
        })
    }

    fn post(&self, url: &str, token: Option<&str>, body: Option<Value>) -> (u16, String) {
        let mut req = self.client.post(url);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        self.send(req)
    }
}

/// Parses Prometheus text with `prometheus_client.parser` (Debian python3-prometheus-client):
/// a parser that is not ours. Returns every sample as {name, labels, value}.
fn parse_metrics(text: &str) -> Vec<Value> {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("metrics.txt");
    std::fs::write(&file, text).expect("write");
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
out = []
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        out.append({"family": fam.name, "type": fam.type, "name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(out))
"#;
    let o = std::process::Command::new("/usr/bin/python3")
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("python3 (install python3-prometheus-client, see .ci/run)");
    assert!(
        o.status.success(),
        "the Prometheus parser rejected /metrics: {}\n{text}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).expect("parser output")
}

fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

#[test]
fn api_token_metrics_and_health_against_a_running_daemon() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (open, open_port, closed_port) = ports();
    write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                &format!(
                    r#"
store: {{ path: patrol.db }}
rules: []
secrets:
  web_token: {{ value: "{TOKEN}" }}
web:
  listen: "127.0.0.1:0"
  token: "${{secret:web_token}}"
alerting: {{ channels: [hook] }}
channels:
  hook:
    webhook: {{ url: "http://127.0.0.1:{closed_port}/hook" }}
delivery: {{ first_backoff: 1s }}
group_window: 1s
"#
                ),
            ),
            (
                "checks/net.yaml",
                &format!(
                    r#"
id: db-port
name: Database port
tags: [network]
schedule: every 1s
probe: {{ tcp: {{ host: 127.0.0.1, port: {closed_port} }} }}
---
id: web-port
tags: [network]
schedule: every 1s
probe: {{ tcp: {{ host: 127.0.0.1, port: {open_port} }} }}
---
id: disk-used
tags: [local]
schedule: every 1s
probe: {{ command: {{ shell: "echo 'DISK OK - 42% used | used_percent=42;80;90'" }} }}
params: {{ warn_percent: 80, critical_percent: 90 }}
"#
                ),
            ),
        ],
    );
    let d = WebDaemon::start(dir.path());
    let http = Http::new();
    wait_runs(&d, &["db-port", "web-port", "disk-used"], 3);

    // The list: worst first, statuses and summaries.
    let list = get_json(&d.url("/api/v1/checks"));
    let checks = list["checks"].as_array().expect("checks");
    assert_eq!(checks.len(), 3);
    assert_eq!(checks[0]["id"], "db-port", "worst first: {list:#}");
    assert_eq!(checks[0]["status"], "critical");
    assert!(
        checks[0]["summary"]
            .as_str()
            .unwrap_or("")
            .contains("refused"),
        "{list:#}"
    );
    for c in &checks[1..] {
        assert_eq!(c["status"], "ok", "{c:#}");
        for field in [
            "since", "last_run", "next_run", "schedule", "timezone", "tags",
        ] {
            assert!(!c[field].is_null(), "{field} missing in {c:#}");
        }
    }
    let crit = get_json(&d.url("/api/v1/checks?status=critical"));
    assert_eq!(crit["checks"].as_array().map(Vec::len), Some(1));
    let local = get_json(&d.url("/api/v1/checks?tag=local"));
    assert_eq!(local["checks"][0]["id"], "disk-used");

    // One check: configuration, redacted params, last result with metrics.
    let one = get_json(&d.url("/api/v1/checks/disk-used"));
    assert_eq!(one["params"]["warn_percent"], 80);
    assert_eq!(one["last_result"]["metrics"]["used_percent"], 42.0);
    let (status, _) = http_get(&d.url("/api/v1/checks/nope"));
    assert_eq!(status, 404);

    // Paging: two pages of two are four different runs, newest first.
    let p1 = get_json(&d.url("/api/v1/checks/web-port/runs?page=1&per_page=2"));
    let p2 = get_json(&d.url("/api/v1/checks/web-port/runs?page=2&per_page=2"));
    assert_eq!(p1["per_page"], 2);
    assert_eq!(p1["runs"].as_array().map(Vec::len), Some(2));
    assert!(p1["total"].as_u64().unwrap_or(0) >= 3, "{p1:#}");
    assert!(p1["pages"].as_u64().unwrap_or(0) >= 2, "{p1:#}");
    let ids = |p: &Value| -> Vec<i64> {
        p["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .map(|r| r["id"].as_i64().expect("id"))
            .collect()
    };
    let (a, b) = (ids(&p1), ids(&p2));
    assert!(
        a[0] > a[1] && a[1] > b[0],
        "newest first, no overlap: {a:?} {b:?}"
    );
    assert_eq!(p1["runs"][0]["check_id"], "web-port");
    assert!(p1["runs"][0]["observation"]["connected"] == true);

    // Changes need the token: 401 without or with a wrong one, 2xx with it.
    let run_url = d.url("/api/v1/checks/disk-used/run");
    assert_eq!(http.post(&run_url, None, None).0, 401);
    assert_eq!(http.post(&run_url, Some("wrong"), None).0, 401);
    let before = get_json(&d.url("/api/v1/checks/disk-used/runs?per_page=1"))["total"]
        .as_u64()
        .unwrap_or(0);
    let (st, body) = http.post(&run_url, Some(TOKEN), None);
    assert_eq!(st, 202, "{body}");
    wait_until("a manual run", LONG, || {
        let r = get_json(&d.url("/api/v1/checks/disk-used/runs?per_page=50"));
        r["runs"]
            .as_array()?
            .iter()
            .any(|r| r["trigger"] == "manual")
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no manual run after {before}; log:\n{}", d.log_text()));
    assert_eq!(
        http.post(&d.url("/api/v1/checks/nope/run"), Some(TOKEN), None)
            .0,
        404
    );

    let silence = serde_json::json!({"check": "db-port", "for": "2h", "reason": "DB maintenance"});
    let sil_url = d.url("/api/v1/silences");
    assert_eq!(http.post(&sil_url, None, Some(silence.clone())).0, 401);
    let (st, body) = http.post(&sil_url, Some(TOKEN), Some(silence));
    assert_eq!(st, 201, "{body}");
    let created: Value = serde_json::from_str(&body).expect("json");
    let id = created["silence"]["id"].as_i64().expect("id");
    let listed = get_json(&sil_url);
    assert_eq!(listed["silences"][0]["reason"], "DB maintenance");
    assert_eq!(check(&d, "db-port")["silenced"], true);
    let del = |token: Option<&str>| {
        let mut req = http.client.delete(d.url(&format!("/api/v1/silences/{id}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        http.send(req).0
    };
    assert_eq!(del(None), 401);
    assert_eq!(del(Some(TOKEN)), 204);
    assert_eq!(del(Some(TOKEN)), 404);
    assert_eq!(
        get_json(&sil_url)["silences"].as_array().map(Vec::len),
        Some(0)
    );
    let bad = serde_json::json!({"check": "db-port", "tag": "x", "for": "1h", "reason": "r"});
    assert_eq!(http.post(&sil_url, Some(TOKEN), Some(bad)).0, 400);

    // Alerts with their delivery state: the webhook receiver refuses connections, so the
    // firing of db-port waits for a retry and says why.
    let alerts = wait_until("a failed delivery attempt", LONG, || {
        let a = get_json(&d.url("/api/v1/alerts?check=db-port"));
        a["alerts"]
            .as_array()?
            .iter()
            .find(|x| x["attempts"].as_u64().unwrap_or(0) >= 1)
            .cloned()
    })
    .expect("an alert");
    assert_eq!(alerts["kind"], "firing");
    assert_eq!(alerts["channel"], "hook");
    assert_eq!(alerts["state"], "pending");
    assert!(alerts["last_error"].as_str().is_some(), "{alerts:#}");
    assert_eq!(http_get(&d.url("/api/v1/alerts?state=bogus")).0, 400);
    // The check page lists the alert with its delivery state.
    let (_, page) = http_get(&d.url("/checks/db-port"));
    assert!(page.contains(r#"<tr data-state="pending">"#), "{page}");
    assert!(page.contains("firing"), "{page}");

    // /metrics parses with Prometheus' own client parser and says what the API says.
    let (st, text) = http_get(&d.url("/metrics"));
    assert_eq!(st, 200);
    let samples = parse_metrics(&text);
    assert_eq!(
        sample(&samples, "patrol_check_status", &[("check", "db-port")]),
        Some(2.0)
    );
    assert_eq!(
        sample(&samples, "patrol_check_status", &[("check", "web-port")]),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &samples,
            "patrol_check_metric",
            &[("check", "disk-used"), ("metric", "used_percent")]
        ),
        Some(42.0)
    );
    assert!(
        sample(
            &samples,
            "patrol_check_runs_total",
            &[("check", "db-port"), ("status", "critical")]
        )
        .unwrap_or(0.0)
            >= 3.0
    );
    assert!(
        sample(
            &samples,
            "patrol_check_last_run_timestamp_seconds",
            &[("check", "web-port")]
        )
        .unwrap_or(0.0)
            > 1.6e9
    );
    assert!(
        sample(
            &samples,
            "patrol_check_duration_seconds",
            &[("check", "web-port")]
        )
        .is_some()
    );
    assert!(
        sample(
            &samples,
            "patrol_alerts_total",
            &[("channel", "hook"), ("kind", "firing")]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    assert_eq!(
        sample(
            &samples,
            "patrol_alert_delivery_failures_total",
            &[("channel", "hook")]
        ),
        Some(0.0)
    );
    assert!(sample(&samples, "patrol_scheduler_lag_seconds", &[]).is_some());
    let counter = samples
        .iter()
        .find(|s| s["family"] == "patrol_check_runs")
        .expect("runs counter family");
    assert_eq!(counter["type"], "counter");

    // Health: scheduler alive and store writable.
    let health = get_json(&d.url("/healthz"));
    assert_eq!(health["status"], "ok");
    assert_eq!(health["scheduler"]["ok"], true);
    assert_eq!(health["store"]["ok"], true);

    // No secret anywhere the server renders.
    for path in [
        "/",
        "/checks/db-port",
        "/api/v1/checks/db-port",
        "/metrics",
        "/api/v1/alerts",
    ] {
        let (_, body) = http_get(&d.url(path));
        assert!(!body.contains(TOKEN), "{path} shows the token");
    }
    drop(open);
}

#[test]
fn heartbeats_turn_critical_on_time_and_record_durations() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                r#"
store: { path: patrol.db }
rules: []
secrets: { t: { value: "ping-token-5e1" } }
web: { listen: "127.0.0.1:0", max_ping_body: 40, token: "${secret:t}" }
"#,
            ),
            (
                "checks/jobs.yaml",
                r#"
# Pings every 2 s expected, 1 s grace: silence turns it critical within seconds.
id: sync-job
schedule: every 1h
probe: { heartbeat: { period: 2s, grace: 1s } }
---
# A daily backup that may run 2 s.
id: backup
schedule: every 1h
probe: { heartbeat: { period: 1d, grace: 2s } }
"#,
            ),
        ],
    );
    let d = WebDaemon::start(dir.path());
    let http = Http::new();
    let ping = |path: &str, body: Option<&str>| -> (u16, String) {
        let url = d.url(path);
        let req = match body {
            Some(b) => http.client.post(url).body(b.to_string()),
            None => http.client.get(url),
        };
        http.send(req.bearer_auth("ping-token-5e1"))
    };
    // A ping is a change: without the token it is refused and records nothing.
    assert_eq!(http.send(http.client.get(d.url("/ping/sync-job"))).0, 401);
    let last_run = |id: &str| -> Value {
        get_json(&d.url(&format!("/api/v1/checks/{id}/runs?per_page=1")))["runs"][0].clone()
    };
    let wait_status = |id: &str, status: &str, after_id: i64| -> Value {
        wait_until(&format!("{id} {status}"), LONG, || {
            let r = last_run(id);
            (r["status"] == status && r["id"].as_i64().unwrap_or(0) > after_id).then_some(r)
        })
        .unwrap_or_else(|| panic!("{id} never {status}; log:\n{}", d.log_text()))
    };

    // A success ping turns sync-job OK; then silence turns it critical, by itself.
    assert_eq!(ping("/ping/sync-job", None).0, 200);
    let ok = wait_status("sync-job", "ok", 0);
    assert_eq!(ok["trigger"], "heartbeat");
    let success_at = ok["observation"]["last_success"]
        .as_str()
        .expect("last_success")
        .to_string();
    let crit = wait_status("sync-job", "critical", ok["id"].as_i64().unwrap_or(0));
    assert_eq!(
        crit["trigger"], "heartbeat",
        "judged on its deadline, not by the hourly schedule"
    );
    assert!(
        crit["summary"]
            .as_str()
            .unwrap_or("")
            .contains("no success since"),
        "{crit:#}"
    );
    // Not before the deadline: last success + period + grace.
    let success = chrono::DateTime::parse_from_rfc3339(&success_at).expect("time");
    let judged =
        chrono::DateTime::parse_from_rfc3339(crit["started_at"].as_str().expect("t")).expect("t");
    assert!(
        judged >= success + chrono::Duration::seconds(3),
        "{judged} vs {success}"
    );
    // A ping with a body brings it back; the body is the run's output, capped.
    let body = "backup done: 12 files, 3.4 GB — and a long tail that is cut off";
    assert_eq!(ping("/ping/sync-job", Some(body)).0, 200);
    let back = wait_status("sync-job", "ok", crit["id"].as_i64().unwrap_or(0));
    let output = back["observation"]["output"].as_str().expect("output");
    assert!(output.starts_with("backup done: 12 files"), "{output}");
    assert!(output.contains("cut at 40 bytes"), "{output}");

    // backup: start, no finish within grace → critical.
    let first = last_run("backup")["id"].as_i64().unwrap_or(0);
    assert_eq!(ping("/ping/backup", None).0, 200);
    let ok = wait_status("backup", "ok", first);
    assert_eq!(ping("/ping/backup/start", None).0, 200);
    let stuck = wait_status("backup", "critical", ok["id"].as_i64().unwrap_or(0));
    assert!(
        stuck["summary"]
            .as_str()
            .unwrap_or("")
            .contains("did not finish within 2s"),
        "{stuck:#}"
    );
    // The finish (exit code 0) records the duration start → finish.
    assert_eq!(ping("/ping/backup/0", Some("rsync: 0 errors")).0, 200);
    let done = wait_status("backup", "ok", stuck["id"].as_i64().unwrap_or(0));
    let ms = done["observation"]["last_ping"]["duration_ms"]
        .as_u64()
        .expect("duration");
    assert!(ms >= 2000, "start → finish took at least the grace: {ms}");
    assert!(done["metrics"]["duration_seconds"].as_f64().unwrap_or(0.0) >= 2.0);
    // A quick start → finish pair is timed too.
    assert_eq!(ping("/ping/backup/start", None).0, 200);
    assert_eq!(ping("/ping/backup", None).0, 200);
    let quick = wait_until("a short duration", LONG, || {
        let r = last_run("backup");
        let ms = r["observation"]["last_duration_ms"].as_u64()?;
        (ms < 2000).then_some(ms)
    });
    assert!(quick.is_some(), "log:\n{}", d.log_text());

    // Failures: /fail and a non-zero exit code are critical at once.
    let before = last_run("backup")["id"].as_i64().unwrap_or(0);
    assert_eq!(ping("/ping/backup/fail", Some("disk full")).0, 200);
    let failed = wait_status("backup", "critical", before);
    assert!(
        failed["summary"].as_str().unwrap_or("").contains("failure"),
        "{failed:#}"
    );
    assert_eq!(failed["observation"]["output"], "disk full");
    assert_eq!(ping("/ping/backup", None).0, 200);
    let ok = wait_status("backup", "ok", failed["id"].as_i64().unwrap_or(0));
    assert_eq!(ping("/ping/backup/3", None).0, 200);
    let code = wait_status("backup", "critical", ok["id"].as_i64().unwrap_or(0));
    assert!(
        code["summary"]
            .as_str()
            .unwrap_or("")
            .contains("exit code 3"),
        "{code:#}"
    );

    // Unknown checks and bad paths.
    assert_eq!(ping("/ping/nope", None).0, 404);
    assert_eq!(ping("/ping/backup/later", None).0, 404);

    // The check page shows the ping URLs and the chart of durations.
    let (st, page) = http_get(&d.url("/checks/backup"));
    assert_eq!(st, 200);
    assert!(page.contains("/ping/backup/start"));
    assert!(page.contains(r#"data-metric="duration_seconds""#), "{page}");
}

#[test]
fn a_taken_port_is_logged_and_the_checks_still_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                &format!(
                    "store: {{ path: patrol.db }}\nrules: []\nweb: {{ listen: \"127.0.0.1:{port}\" }}\n"
                ),
            ),
            (
                "checks/c.yaml",
                "id: echo\nschedule: every 1s\nprobe: { command: { shell: \"echo OK\" } }\n",
            ),
        ],
    );
    let mut d = Daemon::start(
        &dir.path().join("patrol.yaml"),
        Opts {
            json: true,
            ..Opts::default()
        },
    );
    let seen = wait_until("the bind error and a run", LONG, || {
        let text = d.log_text();
        (text.contains("cannot listen") && text.contains("run finished")).then_some(text)
    });
    d.kill();
    let text = seen.unwrap_or_else(|| d.log_text());
    assert!(text.contains("cannot listen"), "{text}");
    assert!(text.contains(r#""level":"ERROR""#), "{text}");
    assert!(
        text.contains("run finished"),
        "the checks run without the web server: {text}"
    );
    drop(taken);
}
