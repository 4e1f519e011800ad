//! Alerting end to end: the real daemon, a real webhook receiver that verifies Standard
//! Webhooks signatures with an independent implementation, outages, and a SIGKILL with
//! deliveries pending. Every alert must arrive exactly once.

use crate::common;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use common::daemon::{Daemon, Opts};
use common::smtp::python_with_aiosmtpd;
use common::{LONG, free_port, receiver, stdout, wait_for, write_config};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[derive(Clone, Debug)]
struct Request {
    id: String,
    body: serde_json::Value,
    status: u16,
}

#[derive(Default)]
struct Receiver {
    /// Answers to give, in order; 200 once they run out.
    script: VecDeque<(u16, Option<&'static str>)>,
    requests: Vec<Request>,
}

type Shared = Arc<Mutex<Receiver>>;

async fn hook(State(r): State<Shared>, headers: HeaderMap, body: String) -> impl IntoResponse {
    // Verify with svix's reference implementation of the spec, not patrol's own code.
    let wh = standardwebhooks::Webhook::new(SECRET).expect("secret");
    let verified = wh.verify(body.as_bytes(), &headers).is_ok();
    let mut st = r.lock().expect("lock");
    let (status, retry_after) = if verified {
        st.script.pop_front().unwrap_or((200, None))
    } else {
        (401, None)
    };
    st.requests.push(Request {
        id: headers
            .get("webhook-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        body: serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        status,
    });
    let mut h = HeaderMap::new();
    if let Some(ra) = retry_after {
        h.insert("retry-after", ra.parse().expect("header"));
    }
    (StatusCode::from_u16(status).expect("status"), h, "thanks")
}

/// Starts a receiver on `port` (0: any); returns its port.
fn start_receiver(shared: Shared, port: u16) -> u16 {
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(shared);
    receiver::serve(app, port)
}

fn setup(dir: &Path, port: u16) -> PathBuf {
    let flag = dir.join("bad");
    let root = format!(
        r#"store: {{ path: patrol.db }}
group_window: 1s
delivery: {{ first_backoff: 1s, max_backoff: 2s, max_age: 1h }}
alerting:
  channels: [hook]
  flapping: {{ enabled: false }}
channels:
  hook:
    webhook:
      url: http://127.0.0.1:{port}/hook
      secret: "{SECRET}"
"#
    );
    let check = format!(
        r#"id: backup-job
name: Nightly backup job
description: The backup job's flag file; remove it to recover.
schedule: every 1s
probe:
  command:
    argv: [sh, -c, 'if [ -f "$0" ]; then echo "BACKUP CRITICAL - job failed"; exit 2; fi; echo "BACKUP OK"', "{}"]
"#,
        flag.display()
    );
    write_config(dir, &root, &[("backup", &check)])
}

fn daemon(config: &Path) -> Daemon {
    Daemon::start(config, Opts::default())
}

fn accepted(shared: &Shared) -> Vec<Request> {
    let st = shared.lock().expect("lock");
    st.requests
        .iter()
        .filter(|r| r.status == 200)
        .cloned()
        .collect()
}

fn event_types(reqs: &[Request]) -> Vec<String> {
    reqs.iter()
        .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
        .map(|e| e["type"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn alerts_json(config: &Path, args: &[&str]) -> Vec<serde_json::Value> {
    try_alerts_json(config, args).unwrap_or_else(|e| panic!("patrol alerts: {e}"))
}

/// `patrol alerts --json`; an error while the daemon has not created the store yet.
fn try_alerts_json(config: &Path, args: &[&str]) -> Result<Vec<serde_json::Value>, String> {
    let out = common::patrol(config, &[&["alerts", "--json"], args].concat());
    serde_json::from_slice(&out.stdout).map_err(|_| common::stderr(&out))
}

#[test]
fn outages_are_retried_and_every_alert_arrives_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared: Shared = Arc::default();
    // A 500, then a 429 asking for a 1 s pause, then success.
    shared.lock().expect("lock").script = VecDeque::from([(500, None), (429, Some("1"))]);
    let port = start_receiver(shared.clone(), 0);
    let config = setup(dir.path(), port);
    let mut child = daemon(&config);

    std::fs::write(dir.path().join("bad"), "").expect("flag");
    wait_for("the firing to be accepted", LONG, || {
        !accepted(&shared).is_empty()
    });
    let firing = accepted(&shared)[0].clone();
    assert_eq!(event_types(std::slice::from_ref(&firing)), ["firing"]);
    let event = &firing.body["events"][0];
    assert_eq!(event["check"]["id"], "backup-job");
    assert_eq!(event["state"]["current"], "critical");
    assert_eq!(event["result"]["summary"], "BACKUP CRITICAL - job failed");
    {
        let st = shared.lock().expect("lock");
        let tries: Vec<&Request> = st.requests.iter().filter(|r| r.id == firing.id).collect();
        assert_eq!(
            tries.iter().map(|r| r.status).collect::<Vec<_>>(),
            [500, 429, 200],
            "retried with the same webhook-id"
        );
    }

    std::fs::remove_file(dir.path().join("bad")).expect("unflag");
    wait_for("the resolve", LONG, || accepted(&shared).len() >= 2);
    // Nothing more arrives: no duplicates, no reminders (none configured).
    std::thread::sleep(Duration::from_secs(4));
    let got = accepted(&shared);
    assert_eq!(event_types(&got), ["firing", "resolved"], "{got:?}");
    assert_eq!(
        got[1].body["events"][0]["incident_id"],
        event["incident_id"]
    );

    let rows = alerts_json(&config, &[]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["state"] == "sent"));
    let firing_row = rows
        .iter()
        .find(|r| r["kind"] == "firing")
        .expect("firing row");
    assert_eq!(firing_row["attempts"], 3);
    assert!(
        firing_row["response"]
            .as_str()
            .unwrap_or_default()
            .starts_with("HTTP 200")
    );
    child.stop();
}

#[test]
fn pending_deliveries_survive_sigkill_and_arrive_once_after_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port(); // the receiver is down at first: connection refused
    let config = setup(dir.path(), port);
    std::fs::write(dir.path().join("bad"), "").expect("flag");
    let mut child = daemon(&config);
    wait_for("a failed delivery attempt", LONG, || {
        try_alerts_json(&config, &["--pending"])
            .unwrap_or_default()
            .iter()
            .any(|r| r["attempts"].as_u64().unwrap_or(0) >= 1)
    });
    child.kill();

    let shared: Shared = Arc::default();
    start_receiver(shared.clone(), port);
    let mut child = daemon(&config);
    wait_for("the firing after the restart", LONG, || {
        !accepted(&shared).is_empty()
    });
    std::thread::sleep(Duration::from_secs(4));
    let got = accepted(&shared);
    assert_eq!(event_types(&got), ["firing"], "exactly once: {got:?}");
    let rows = alerts_json(&config, &[]);
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["state"], "sent");
    child.stop();
}

#[test]
fn a_rejected_delivery_is_not_retried_and_is_listed_as_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared: Shared = Arc::default();
    shared.lock().expect("lock").script = VecDeque::from([(400, None)]);
    let port = start_receiver(shared.clone(), 0);
    let config = setup(dir.path(), port);
    std::fs::write(dir.path().join("bad"), "").expect("flag");
    let mut child = daemon(&config);
    wait_for("the failed row", LONG, || {
        !try_alerts_json(&config, &["--failed"])
            .unwrap_or_default()
            .is_empty()
    });
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        shared.lock().expect("lock").requests.len(),
        1,
        "a 400 is not retried"
    );
    let failed = alerts_json(&config, &["--failed"]);
    assert!(
        failed[0]["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("400"),
        "{failed:?}"
    );
    let table = stdout(&common::patrol(&config, &["alerts"]));
    assert!(table.contains("FAILED"), "{table}");
    child.stop();
}

#[test]
fn a_silence_holds_the_alert_and_its_end_announces_the_still_bad_check() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared: Shared = Arc::default();
    let port = start_receiver(shared.clone(), 0);
    let config = setup(dir.path(), port);
    let out = common::patrol(
        &config,
        &[
            "silence",
            "add",
            "backup-job",
            "--for",
            "6s",
            "--reason",
            "restoring",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    std::fs::write(dir.path().join("bad"), "").expect("flag");
    let mut child = daemon(&config);
    std::thread::sleep(Duration::from_secs(3));
    assert!(accepted(&shared).is_empty(), "silenced");
    wait_for("the announcement after the silence", LONG, || {
        !accepted(&shared).is_empty()
    });
    let got = accepted(&shared);
    let reason = got[0].body["events"][0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        reason.contains("silence") && reason.contains("ended"),
        "{reason}"
    );
    child.stop();
}

/// A real SMTP server (aiosmtpd) on `port`, storing messages in `dir`; killed when dropped.
struct Smtp(Child);

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_smtp(port: u16, dir: &Path) -> Smtp {
    use std::io::BufRead;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp/server.py");
    let mut child = Command::new(python_with_aiosmtpd())
        .arg(&script)
        .arg("--dir")
        .arg(dir)
        .args(["--port", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("smtp server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("READY line");
    assert!(line.starts_with("READY"), "smtp server: {line:?}");
    Smtp(child)
}

fn mails(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
                .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

#[test]
fn an_smtp_server_down_for_a_while_gets_the_mail_once_it_is_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let smtp_port = free_port();
    let maildir = dir.path().join("mail");
    std::fs::create_dir_all(&maildir).expect("maildir");
    let config = setup(dir.path(), free_port());
    // Route the check to an email channel instead of the webhook.
    let root = std::fs::read_to_string(&config).expect("config");
    let root = root.replace("channels: [hook]", "channels: [mail]").replace(
        "channels:\n  hook:",
        &format!(
            "channels:\n  mail:\n    email: {{ host: 127.0.0.1, port: {smtp_port}, tls: none, from: patrol@example.com, to: [ops@example.com] }}\n  hook:"
        ),
    );
    std::fs::write(&config, root).expect("write");
    std::fs::write(dir.path().join("bad"), "").expect("flag");
    let mut child = daemon(&config);
    wait_for("a failed SMTP attempt", LONG, || {
        try_alerts_json(&config, &["--pending"])
            .unwrap_or_default()
            .iter()
            .any(|r| r["attempts"].as_u64().unwrap_or(0) >= 1)
    });
    let _smtp = start_smtp(smtp_port, &maildir);
    wait_for("the mail", LONG, || !mails(&maildir).is_empty());
    std::thread::sleep(Duration::from_secs(4));
    let got = mails(&maildir);
    assert_eq!(got.len(), 1, "exactly once");
    assert!(
        got[0].contains("[CRITICAL] Nightly backup job"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("X-Patrol-Check: backup-job"));
    let rows = alerts_json(&config, &[]);
    assert_eq!(rows[0]["state"], "sent");
    assert!(
        rows[0]["response"]
            .as_str()
            .unwrap_or_default()
            .starts_with("250"),
        "{rows:?}"
    );
    child.stop();
}

#[test]
fn alerts_produced_together_go_out_as_one_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared: Shared = Arc::default();
    let port = start_receiver(shared.clone(), 0);
    let config = setup(dir.path(), port);
    // A second check on the same flag: both turn bad in the same second.
    let second = std::fs::read_to_string(dir.path().join("checks/backup.yaml"))
        .expect("check")
        .replace("id: backup-job", "id: backup-job-2")
        .replace("name: Nightly backup job", "name: Second backup job");
    std::fs::write(dir.path().join("checks/second.yaml"), second).expect("write");
    let root = std::fs::read_to_string(&config)
        .expect("config")
        .replace("group_window: 1s", "group_window: 3s");
    std::fs::write(&config, root).expect("write");
    let mut child = daemon(&config);
    std::thread::sleep(Duration::from_secs(2));
    std::fs::write(dir.path().join("bad"), "").expect("flag");
    wait_for("the grouped message", LONG, || {
        !accepted(&shared).is_empty()
    });
    std::thread::sleep(Duration::from_secs(4));
    let got = accepted(&shared);
    assert_eq!(got.len(), 1, "one message: {got:?}");
    let ids: Vec<&str> = got[0].body["events"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["check"]["id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&"backup-job") && ids.contains(&"backup-job-2"));
    child.stop();
}

#[test]
fn alert_test_sends_a_real_message_and_says_what_the_server_answered() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared: Shared = Arc::default();
    let port = start_receiver(shared.clone(), 0);
    let config = setup(dir.path(), port);
    let out = common::patrol(&config, &["alert", "test", "hook"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert!(stdout(&out).contains("HTTP 200"), "{}", stdout(&out));
    assert_eq!(event_types(&accepted(&shared)), ["test"]);
    let out = common::patrol(&config, &["alert", "test", "nope"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(common::stderr(&out).contains("no channel `nope`"));
}

#[test]
fn a_bad_parent_holds_its_dependents_alerts_and_counts_them_in_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let shared: Shared = Arc::default();
    let port = start_receiver(shared.clone(), 0);
    let config = setup(dir.path(), port);
    let parent_flag = dir.path().join("console-down");
    let parent = format!(
        r#"id: console
name: DR console
schedule: every 1s
alerting: {{ repeat: 2s }}
probe:
  command:
    argv: [sh, -c, 'if [ -f "$0" ]; then echo "CONSOLE CRITICAL - down"; exit 2; fi; echo OK', "{}"]
"#,
        parent_flag.display()
    );
    std::fs::write(dir.path().join("checks/console.yaml"), parent).expect("write");
    let child = std::fs::read_to_string(dir.path().join("checks/backup.yaml"))
        .expect("check")
        .replace(
            "schedule: every 1s",
            "schedule: every 1s\ndepends_on: [console]",
        );
    std::fs::write(dir.path().join("checks/backup.yaml"), child).expect("write");
    let firings_of = |id: &str| -> Vec<serde_json::Value> {
        accepted(&shared)
            .iter()
            .flat_map(|r| r.body["events"].as_array().cloned().unwrap_or_default())
            .filter(|e| e["check"]["id"] == id)
            .collect()
    };

    let mut d = daemon(&config);
    std::fs::write(&parent_flag, "").expect("flag");
    wait_for("the console's firing", LONG, || {
        !firings_of("console").is_empty()
    });
    // Every alert of the console names the check it holds, from the first one on: the backup
    // job depends on it, bad or not (yet).
    let counts_backup = |e: &serde_json::Value| {
        e["suppressed_dependents"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "backup-job"))
    };
    assert!(counts_backup(&firings_of("console")[0]));
    std::fs::write(dir.path().join("bad"), "").expect("flag");
    wait_for("the backup job's bad run", LONG, || {
        let out = common::patrol(&config, &["status", "--json"]);
        serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout)
            .unwrap_or_default()
            .iter()
            .any(|r| r["check_id"] == "backup-job" && r["status"] == "critical")
    });
    wait_for("a console reminder counting the backup job", LONG, || {
        firings_of("console")
            .iter()
            .any(|e| e["type"] == "reminder" && counts_backup(e))
    });
    assert!(
        firings_of("backup-job").is_empty(),
        "held while the console is bad"
    );

    std::fs::remove_file(&parent_flag).expect("unflag");
    wait_for("the backup job's own firing", LONG, || {
        !firings_of("backup-job").is_empty()
    });
    let e = &firings_of("backup-job")[0];
    assert_eq!(e["type"], "firing");
    let reason = e["reason"].as_str().unwrap_or_default();
    assert!(
        reason.contains("dependency `console`") && reason.contains("ended"),
        "{reason}"
    );
    assert!(
        firings_of("console")
            .iter()
            .any(|e| e["type"] == "resolved")
    );
    d.stop();
}
