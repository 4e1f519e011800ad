//! The periodic report end to end: the real daemon queues it on its schedule and the delivery
//! worker posts it to a real webhook receiver; `patrol report` prints the same counts.

use crate::common;
use common::daemon::{Daemon, Opts};
use common::receiver::JsonReceiver;
use common::{LONG, stdout, wait_until, write_config};
use std::path::{Path, PathBuf};

fn setup(dir: &Path, port: u16) -> PathBuf {
    let root = format!(
        r#"store: {{ path: patrol.db }}
group_window: 1s
report: {{ schedule: "every 2s", channels: [hook] }}
channels:
  hook:
    webhook:
      url: http://127.0.0.1:{port}/hook
"#
    );
    let checks = r#"id: disk
schedule: every 1s
probe:
  command:
    argv: [sh, -c, 'echo "DISK OK"; exit 0']
---
id: backup
schedule: every 1s
probe:
  command:
    argv: [sh, -c, 'echo "BACKUP CRITICAL - 3 hosts late"; exit 2']
"#;
    write_config(dir, &root, &[("checks", checks)])
}

/// Every report event the receiver got.
fn reports(receiver: &JsonReceiver) -> Vec<serde_json::Value> {
    receiver
        .bodies()
        .iter()
        .flat_map(|b| b["events"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["type"] == "report")
        .collect()
}

#[test]
fn daemon_sends_the_report_to_the_webhook() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = JsonReceiver::start();
    let config = setup(dir.path(), receiver.port);
    let mut daemon = Daemon::start(&config, Opts::default());

    // The first reports may come before both checks have run: wait for one that sees both.
    let want = "2 checks: 1 ok, 1 critical;";
    let found = wait_until("the report", LONG, || {
        reports(&receiver).into_iter().find(|e| {
            e["result"]["summary"]
                .as_str()
                .is_some_and(|s| s.starts_with(want))
        })
    });
    daemon.stop();
    let all = reports(&receiver);
    let e = found.unwrap_or_else(|| panic!("no report saying `{want}` arrived: {all:#?}"));
    assert_eq!(e["check"]["id"], "patrol-report");
    assert_eq!(e["state"]["current"], "critical");
    assert_eq!(e["result"]["metrics"]["ok"], 1.0);
    assert_eq!(e["result"]["metrics"]["critical"], 1.0);
    let not_ok = &e["result"]["facts"]["not_ok"];
    assert_eq!(not_ok[0]["id"], "backup");
    assert_eq!(not_ok[0]["summary"], "BACKUP CRITICAL - 3 hosts late");
    let text = e["result"]["output_tail"].as_str().unwrap_or_default();
    assert!(
        text.contains("backup — BACKUP CRITICAL - 3 hosts late"),
        "{text}"
    );
    // Each report has its own id.
    let mut ids: Vec<&str> = all.iter().filter_map(|e| e["event_id"].as_str()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "duplicate report ids");
}

#[test]
fn report_command_prints_the_counts() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nothing listens on port 9 (discard): --send must say it failed.
    let config = setup(dir.path(), 9);
    let run = common::patrol(&config, &["run", "--all"]);
    assert_eq!(run.status.code(), Some(2), "{}", common::stderr(&run));

    let out = common::patrol(&config, &["report", "--json", "--since", "1h"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let e: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(e["kind"], "report");
    assert_eq!(e["result"]["metrics"]["ok"], 1.0);
    assert_eq!(e["result"]["metrics"]["critical"], 1.0);
    assert_eq!(
        e["result"]["summary"],
        "2 checks: 1 ok, 1 critical; 0 alerts sent, 0 failed; 0 checks overdue"
    );

    let out = common::patrol(&config, &["report"]);
    let text = stdout(&out);
    assert!(text.starts_with("2 checks: 1 ok, 1 critical;"), "{text}");
    assert!(
        text.contains("backup — BACKUP CRITICAL - 3 hosts late"),
        "{text}"
    );

    let out = common::patrol(&config, &["report", "--send"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("`hook` failed"), "{}", stdout(&out));
}

#[test]
fn report_command_send_reaches_the_receiver() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = JsonReceiver::start();
    let config = setup(dir.path(), receiver.port);
    common::patrol(&config, &["run", "--all"]);
    let out = common::patrol(&config, &["report", "--send"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    assert!(
        stdout(&out).contains("sent the report through `hook`"),
        "{}",
        stdout(&out)
    );
    let got = reports(&receiver);
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0]["result"]["summary"],
        "2 checks: 1 ok, 1 critical; 0 alerts sent, 0 failed; 0 checks overdue"
    );
}
