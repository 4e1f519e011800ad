//! patrol as a system service: the real binary under a fake service manager (a Unix datagram
//! socket in `NOTIFY_SOCKET`, as systemd passes it), and the self-heartbeat calling a real
//! HTTP receiver started by the test. Waits poll with generous deadlines; nothing asserts a
//! wall-clock duration.

use crate::common;
use chrono::{DateTime, Utc};
use common::daemon::{Daemon, Opts};
use common::receiver::JsonReceiver;
use common::{LONG, write_config};
use nix::sys::signal::Signal;
use patrol::store::{Store, Trigger};
use std::collections::BTreeMap;
use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `patrol daemon --no-watch` on `dir/patrol.yaml` with `env` set.
fn start(dir: &Path, env: &[(&str, &str)]) -> Daemon {
    Daemon::start(
        &dir.join("patrol.yaml"),
        Opts {
            args: &["--no-watch"],
            env,
            ..Opts::default()
        },
    )
}

fn check(id: &str, schedule: &str) -> String {
    format!("id: {id}\nschedule: \"{schedule}\"\nprobe:\n  command:\n    argv: [\"true\"]\n")
}

fn setup(dir: &Path, root_extra: &str, checks: &[String]) {
    let root = format!("store: {{ path: patrol.db }}\nchecks: [checks]\n{root_extra}");
    write_config(dir, &root, &[("c", &checks.join("---\n"))]);
}

/// Scheduled runs in the store, grouped by their fire time.
fn cycles(dir: &Path) -> BTreeMap<DateTime<Utc>, usize> {
    let mut out = BTreeMap::new();
    // Not there yet (or not migrated yet) while the daemon starts.
    let Ok(store) = Store::open_read_only(&dir.join("patrol.db")) else {
        return out;
    };
    for id in ["a", "b"] {
        for r in store.recent_runs(id, 1000).expect("runs") {
            if r.trigger == Trigger::Schedule {
                *out.entry(r.scheduled_at.expect("scheduled")).or_default() += 1;
            }
        }
    }
    out
}

#[test]
fn under_a_service_manager_the_daemon_says_ready_pings_the_watchdog_and_says_stopping() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), "", &[check("a", "every 1s")]);
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).expect("bind notify socket");
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let socket = sock_path.to_str().expect("utf-8 path");
    // Watchdog of 0.4 s: systemd's WatchdogSec=, very short so the test sees several pings.
    let mut d = start(
        dir.path(),
        &[("NOTIFY_SOCKET", socket), ("WATCHDOG_USEC", "400000")],
    );

    let mut messages: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let mut receive_until = |messages: &mut Vec<String>, done: &dyn Fn(&[String]) -> bool| {
        let end = Instant::now() + LONG;
        while !done(messages) {
            assert!(Instant::now() < end, "got only {messages:#?}");
            if let Ok(n) = sock.recv(&mut buf) {
                messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    };
    let count =
        |m: &[String], what: &str| m.iter().filter(|s| s.lines().any(|l| l == what)).count();
    receive_until(&mut messages, &|m| {
        count(m, "WATCHDOG=1") >= 5 && m.iter().filter(|s| s.contains("last cycle")).count() >= 2
    });

    // READY=1 comes first, together with a one-line STATUS, once config and store are up.
    let first = &messages[0];
    assert!(first.lines().any(|l| l == "READY=1"), "{messages:#?}");
    let status = first
        .lines()
        .find_map(|l| l.strip_prefix("STATUS="))
        .expect("STATUS with READY");
    assert!(status.contains("1 check scheduled, 0 running"), "{status}");
    assert_eq!(count(&messages, "READY=1"), 1);
    // STATUS follows the cycles: what ran last and what comes next.
    let later = messages
        .iter()
        .filter_map(|s| s.lines().find_map(|l| l.strip_prefix("STATUS=")))
        .find(|s| s.contains("last cycle"))
        .expect("a STATUS after a cycle");
    assert!(
        later.contains("ran 1") && later.contains("next "),
        "{later}"
    );

    d.signal(Signal::SIGTERM);
    receive_until(&mut messages, &|m| count(m, "STOPPING=1") >= 1);
    assert!(d.wait_exit(LONG).success(), "{}", d.log_text());
}

#[test]
fn without_a_service_manager_nothing_is_sent_and_the_daemon_runs_as_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), "", &[check("a", "every 1s")]);
    let mut d = start(dir.path(), &[("WATCHDOG_USEC", "400000")]);
    let end = Instant::now() + LONG;
    while cycles(dir.path()).is_empty() {
        assert!(Instant::now() < end, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.stop().success());
    assert!(
        !d.log_text().contains("service manager"),
        "{}",
        d.log_text()
    );
}

#[test]
fn the_self_heartbeat_receiver_sees_one_call_per_cycle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let receiver = JsonReceiver::start();
    let url = receiver.url("/ping/abc");
    setup(
        dir.path(),
        &format!("self_heartbeat: {{ url: \"{url}\", timeout: 5s }}\n"),
        &[check("a", "every 1s"), check("b", "* * * * * *")],
    );
    let mut d = start(dir.path(), &[]);
    let end = Instant::now() + LONG;
    while receiver.bodies().len() < 4 {
        assert!(Instant::now() < end, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.stop().success());

    let cycles = cycles(dir.path());
    let beats = receiver.bodies();
    let mut by_due: BTreeMap<DateTime<Utc>, usize> = BTreeMap::new();
    for b in &beats {
        assert_eq!(b["service"], "patrol", "{b}");
        let due: DateTime<Utc> = b["due"].as_str().expect("due").parse().expect("time");
        // Each call names a cycle the store holds, with as many checks as ran in it.
        assert_eq!(
            cycles.get(&due).copied(),
            b["checks"].as_u64().map(|n| n as usize),
            "beat {b} vs cycles {cycles:?}"
        );
        assert_eq!(b["checks"], 2, "both checks fire every second: {b}");
        *by_due.entry(due).or_default() += 1;
    }
    // One call per cycle: none twice, and none left out up to the latest call received
    // (calls go out in the order cycles finish; those after it may have been cut off by
    // the stop request).
    assert!(by_due.values().all(|n| *n == 1), "{by_due:?}");
    let latest = by_due.keys().last().copied().expect("a call");
    for due in cycles.keys().filter(|d| **d < latest) {
        assert!(
            by_due.contains_key(due),
            "no call for the cycle of {due}: {by_due:?}"
        );
    }
}

#[test]
fn a_receiver_that_does_not_answer_does_not_delay_the_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Accepts connections and never answers: the worst kind of "down".
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/ping", listener.local_addr().expect("addr"));
    let accepted: Arc<Mutex<Vec<DateTime<Utc>>>> = Arc::new(Mutex::new(Vec::new()));
    let acc = accepted.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            acc.lock().expect("lock").push(Utc::now());
            held.push(s);
        }
    });
    setup(
        dir.path(),
        &format!("self_heartbeat: {{ url: \"{url}\", timeout: 120s }}\n"),
        &[check("a", "every 1s")],
    );
    let mut d = start(dir.path(), &[]);
    // Wait for the first heartbeat call to hang, then for three more runs after it.
    let end = Instant::now() + LONG;
    let first_call = loop {
        if let Some(t) = accepted.lock().expect("lock").first().copied() {
            break t;
        }
        assert!(Instant::now() < end, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(50));
    };
    let after = |dir: &Path| cycles(dir).keys().filter(|t| **t > first_call).count();
    while after(dir.path()) < 3 {
        assert!(Instant::now() < end, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(d.stop().success(), "{}", d.log_text());
    // The checks kept their schedule while the call hung: each run started on its fire
    // time's heels, not after the call.
    let store = Store::open_read_only(&dir.path().join("patrol.db")).expect("store");
    let mut runs = store.recent_runs("a", 100).expect("runs");
    runs.reverse();
    let scheduled: Vec<DateTime<Utc>> = runs.iter().filter_map(|r| r.scheduled_at).collect();
    // (A blocked loop would show a gap of the call's 120 s timeout; the bound is generous.)
    for w in scheduled.windows(2) {
        assert!((w[1] - w[0]).num_seconds() < 10, "{scheduled:?}");
    }
    for r in &runs {
        let late = r.started_at - r.scheduled_at.expect("scheduled");
        assert!(
            late.num_seconds() < 10,
            "run {r:?} waited for the heartbeat"
        );
    }
    assert_eq!(
        accepted.lock().expect("lock").len(),
        1,
        "one call, still hanging"
    );
}

#[test]
fn the_report_says_when_patrol_started_how_many_runs_it_made_and_how_many_it_missed() {
    let dir = tempfile::tempdir().expect("tempdir");
    // `slow` takes longer than its period: every other fire time finds it still running.
    let slow = "id: slow\nschedule: \"every 1s\"\nprobe:\n  command:\n    argv: [sleep, \"1.5\"]\n";
    setup(dir.path(), "", &[check("a", "every 1s"), slow.to_string()]);
    let mut d = start(dir.path(), &[]);
    let store_runs = |id: &str| {
        Store::open_read_only(&dir.path().join("patrol.db"))
            .ok()
            .and_then(|s| s.recent_runs(id, 1000).ok())
            .unwrap_or_default()
    };
    let end = Instant::now() + LONG;
    while store_runs("slow").len() < 2 {
        assert!(Instant::now() < end, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(d.stop().success(), "{}", d.log_text());

    let o = common::patrol(&dir.path().join("patrol.yaml"), &["report", "--json"]);
    assert!(o.status.success(), "{}", common::stderr(&o));
    let event: serde_json::Value = serde_json::from_slice(&o.stdout).expect("report JSON");
    let daemon = &event["result"]["facts"]["daemon"];
    let made = (store_runs("a").len() + store_runs("slow").len()) as u64;
    assert_eq!(daemon["runs"].as_u64(), Some(made), "{daemon}");
    assert!(
        daemon["missed"].as_u64().is_some_and(|n| n >= 1),
        "{daemon}"
    );
    assert!(
        daemon["started_at"].is_string() && daemon["stopped_at"].is_string(),
        "{daemon}"
    );
    assert_eq!(
        event["result"]["metrics"]["daemon_runs"].as_f64(),
        Some(made as f64)
    );

    let text = common::stdout(&common::patrol(
        &dir.path().join("patrol.yaml"),
        &["report"],
    ));
    assert!(text.contains("patrol itself: daemon started"), "{text}");
    assert!(
        text.contains(&format!("{made} scheduled runs made since then")),
        "{text}"
    );
}

#[test]
fn fire_times_that_passed_while_the_daemon_was_down_count_as_missed() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(dir.path(), "", &[check("a", "every 1s")]);
    // The last scheduled run was 30 s ago, as if the daemon had stopped then.
    let last = Utc::now() - chrono::Duration::seconds(30);
    {
        let store = Store::open(&dir.path().join("patrol.db")).expect("store");
        let run = patrol::store::RunRecord {
            id: None,
            check_id: "a".into(),
            trigger: Trigger::Schedule,
            scheduled_at: Some(last),
            started_at: last,
            duration_ms: 1,
            status: patrol::status::Status::Ok,
            summary: "ok".into(),
            metrics: BTreeMap::new(),
            facts: BTreeMap::new(),
            observation: serde_json::Value::Null,
            attempts: 1,
        };
        store.record_run(&run, None).expect("record");
    }
    let mut d = start(dir.path(), &[]);
    let config = dir.path().join("patrol.yaml");
    let end = Instant::now() + LONG;
    let daemon = loop {
        let o = common::patrol(&config, &["report", "--json"]);
        if o.status.success() {
            let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
            let daemon = v["result"]["facts"]["daemon"].clone();
            if daemon["started_at"]
                .as_str()
                .is_some_and(|s| s.parse::<DateTime<Utc>>().is_ok_and(|t| t > last))
                && daemon["missed"].as_u64().is_some_and(|n| n > 0)
            {
                break daemon;
            }
        }
        assert!(Instant::now() < end, "{}", d.log_text());
        std::thread::sleep(Duration::from_millis(100));
    };
    // `every 1s` with `misfire: skip` (the default below a day): about 30 fire times passed.
    let missed = daemon["missed"].as_u64().expect("missed");
    assert!((25..=120).contains(&missed), "{daemon}");
    assert!(d.stop().success());
    assert!(
        d.log_text()
            .contains("runs missed while the daemon was down")
    );
}
