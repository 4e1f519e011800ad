//! `patrol daemon` as an operator runs it: the real binary on a temp directory with real
//! commands as probes and a real SQLite file, stopped with real signals. Every wait polls
//! the database or the log with a generous deadline; nothing depends on tight timing.

use crate::common;
use chrono::{DateTime, Duration as ChronoDuration, Timelike, Utc};
use common::daemon::{Daemon, Opts, message};
use common::{LONG, wait_until, write_config, write_tree};
use nix::sys::signal::Signal;
use patrol::status::Status;
use patrol::store::{RunRecord, Store, Trigger};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

/// `patrol daemon ARGS` on `dir/patrol.yaml`, logging JSON.
fn start(dir: &Path, args: &[&str]) -> Daemon {
    Daemon::start(
        &dir.join("patrol.yaml"),
        Opts {
            json: true,
            args,
            ..Opts::default()
        },
    )
}

/// Every stored run of `check`, oldest first. Empty while the daemon is still creating the
/// database (its file can exist before its tables do).
fn runs(dir: &Path, check: &str) -> Vec<RunRecord> {
    let Ok(store) = Store::open_read_only(&dir.join("patrol.db")) else {
        return Vec::new();
    };
    let mut runs = store.recent_runs(check, 100_000).expect("read runs");
    runs.sort_by_key(|r| r.started_at);
    runs
}

/// Waits until `check` has at least `n` stored runs matching `pred`; returns all its runs.
fn wait_runs(
    d: &Daemon,
    dir: &Path,
    check: &str,
    n: usize,
    pred: impl Fn(&RunRecord) -> bool,
) -> Vec<RunRecord> {
    wait_until(&format!("{n} runs of {check}"), LONG, || {
        let all = runs(dir, check);
        (all.iter().filter(|r| pred(r)).count() >= n).then_some(all)
    })
    .unwrap_or_else(|| {
        panic!(
            "runs of {check}: {:#?}\nlog:\n{}",
            runs(dir, check),
            d.log_text()
        )
    })
}

fn end_of(r: &RunRecord) -> DateTime<Utc> {
    r.started_at + ChronoDuration::milliseconds(r.duration_ms as i64)
}

/// Asserts that no two runs overlap in time (10 ms slack for clock reading).
fn assert_no_overlap(mut all: Vec<RunRecord>) {
    all.sort_by_key(|r| r.started_at);
    for pair in all.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        assert!(
            b.started_at + ChronoDuration::milliseconds(10) >= end_of(a),
            "{} started at {} while {} ran {}..{}",
            b.check_id,
            b.started_at,
            a.check_id,
            a.started_at,
            end_of(a)
        );
    }
}

fn check_yaml(id: &str, schedule: &str, script: &str) -> String {
    format!(
        "id: {id}\nschedule: \"{schedule}\"\ntimeout: 60s\nprobe:\n  command:\n    argv: [sh, -c, {script:?}]\n"
    )
}

fn setup(dir: &Path, root: &str, checks: &[(&str, String)]) {
    let checks: Vec<(&str, &str)> = checks.iter().map(|(n, y)| (*n, y.as_str())).collect();
    write_config(
        dir,
        &format!("store: {{ path: patrol.db }}\n{root}"),
        &checks,
    );
}

#[test]
fn scheduled_runs_are_stored_and_logged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    setup(
        dir,
        "",
        &[("tick", check_yaml("tick", "every 1s", "echo tick"))],
    );
    let mut d = start(dir, &[]);
    let all = wait_runs(&d, dir, "tick", 3, |_| true);
    for r in &all {
        assert_eq!(r.status, Status::Ok, "{r:?}");
        assert_eq!(r.trigger, Trigger::Schedule);
        let at = r.scheduled_at.expect("scheduled_at");
        assert_eq!(at.nanosecond(), 0, "`every 1s` fires on whole seconds");
        assert!(r.started_at >= at, "started before it was due: {r:?}");
    }
    let mut times: Vec<_> = all.iter().filter_map(|r| r.scheduled_at).collect();
    times.dedup();
    assert_eq!(times.len(), all.len(), "one run per fire time");
    // `patrol status` can show the next run.
    wait_until("the next run time in the store", LONG, || {
        let store = Store::open_read_only(&dir.join("patrol.db")).ok()?;
        let next = store.next_run("tick").ok()??;
        let last = runs(dir, "tick").last()?.scheduled_at?;
        (next > last && next <= Utc::now() + ChronoDuration::seconds(5)).then_some(())
    })
    .expect("next_run after the last run");
    let line = d.wait_log("INFO", "run finished");
    assert_eq!(line["fields"]["check"], "tick");
    assert_eq!(line["fields"]["status"], "OK");
    assert!(line["fields"]["duration_ms"].is_u64(), "{line}");
    assert!(line["fields"]["summary"].is_string(), "{line}");
    assert!(d.stop().success());
}

#[test]
fn a_slow_check_never_overlaps_itself() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    setup(
        dir,
        "",
        &[("slow", check_yaml("slow", "every 1s", "sleep 3; echo done"))],
    );
    let mut d = start(dir, &[]);
    let all = wait_runs(&d, dir, "slow", 3, |_| true);
    assert!(all.iter().all(|r| r.duration_ms >= 2900), "{all:#?}");
    assert_no_overlap(all);
    let skipped = d.wait_log("WARN", "previous run still in progress");
    assert_eq!(skipped["fields"]["check"], "slow");
    assert!(d.stop().success());
}

#[test]
fn global_concurrency_limit_one_never_runs_two_checks_at_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    setup(
        dir,
        "concurrency: 1\n",
        &[
            ("a", check_yaml("a", "every 1s", "sleep 1; echo a")),
            ("b", check_yaml("b", "every 1s", "sleep 1; echo b")),
        ],
    );
    let mut d = start(dir, &[]);
    let a = wait_runs(&d, dir, "a", 2, |_| true);
    let b = wait_runs(&d, dir, "b", 2, |_| true);
    let _ = a;
    // Read again: both lists as of the same moment.
    let mut all = runs(dir, "a");
    all.extend(runs(dir, "b"));
    assert!(all.len() >= 4, "{b:#?}");
    assert_no_overlap(all);
    assert!(d.stop().success());
}

/// A daily schedule (UTC) whose time today was an hour ago, and that time.
fn daily_an_hour_ago() -> (DateTime<Utc>, String) {
    let due = (Utc::now() - ChronoDuration::hours(1))
        .with_second(0)
        .and_then(|t| t.with_nanosecond(0))
        .expect("whole minute");
    let cron = format!("0 {} {} * * *", due.minute(), due.hour());
    (due, cron)
}

/// Stores a scheduled run of `check` through the store API, as a past daemon would have.
fn seed_scheduled_run(dir: &Path, check: &str, at: DateTime<Utc>) {
    let store = Store::open(&dir.join("patrol.db")).expect("open store");
    let seeded = RunRecord {
        id: None,
        check_id: check.into(),
        trigger: Trigger::Schedule,
        scheduled_at: Some(at),
        started_at: at,
        duration_ms: 5,
        status: Status::Ok,
        summary: "seeded".into(),
        metrics: BTreeMap::new(),
        facts: BTreeMap::new(),
        observation: serde_json::json!({}),
        attempts: 1,
    };
    store.record_run(&seeded, None).expect("seed a run");
}

#[test]
fn a_run_missed_while_down_is_caught_up_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // A daily check whose time today (UTC) is an hour ago; its last scheduled run is stored
    // as three days ago: three runs were missed, one catch-up is due.
    let (due, cron) = daily_an_hour_ago();
    setup(
        dir,
        "",
        &[("daily", check_yaml("daily", &cron, "echo daily"))],
    );
    seed_scheduled_run(dir, "daily", due - ChronoDuration::days(3));
    let misfires = |dir: &Path| -> Vec<RunRecord> {
        runs(dir, "daily")
            .into_iter()
            .filter(|r| r.trigger == Trigger::Misfire)
            .collect()
    };

    let mut d = start(dir, &[]);
    wait_runs(&d, dir, "daily", 1, |r| r.trigger == Trigger::Misfire);
    d.wait_log("INFO", "catching up a run missed");
    std::thread::sleep(Duration::from_secs(2));
    let m = misfires(dir);
    assert_eq!(m.len(), 1, "{m:#?}");
    assert_eq!(m[0].scheduled_at, Some(due), "the latest missed time");
    assert_eq!(m[0].status, Status::Ok);
    assert!(d.stop().success());

    // Restarting does not catch up again: that time has its run now.
    let mut d = start(dir, &[]);
    d.wait_log("INFO", "daemon started");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(misfires(dir).len(), 1, "{:#?}", runs(dir, "daily"));
    assert!(d.find("INFO", "catching up").is_empty());
    assert!(d.stop().success());
}

#[test]
fn sigterm_lets_the_running_check_finish_and_store_its_result() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let marker = dir.join("started");
    let script = format!("touch {}; sleep 2; echo finished", marker.display());
    setup(dir, "", &[("job", check_yaml("job", "every 1s", &script))]);
    let mut d = start(dir, &[]);
    wait_until("the first run to start", LONG, || {
        marker.exists().then_some(())
    })
    .unwrap_or_else(|| panic!("log:\n{}", d.log_text()));
    let asked = Utc::now();
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(LONG);
    assert!(status.success(), "exit status {status:?}");
    let all = runs(dir, "job");
    assert_eq!(all.len(), 1, "exactly the run in flight: {all:#?}");
    let r = &all[0];
    assert!(r.started_at <= asked, "{r:?}");
    assert!(r.duration_ms >= 1900, "ran to its end: {r:?}");
    assert_eq!(r.status, Status::Ok, "{r:?}");
    d.wait_log("INFO", "daemon stopped");
}

#[test]
fn runs_cut_off_by_the_shutdown_grace_are_stored_as_unknown() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let marker = dir.join("started");
    let script = format!("touch {}; sleep 30; echo finished", marker.display());
    setup(
        dir,
        "shutdown_grace: 1s\n",
        &[("stuck", check_yaml("stuck", "every 1s", &script))],
    );
    let mut d = start(dir, &[]);
    wait_until("the run to start", LONG, || marker.exists().then_some(()))
        .unwrap_or_else(|| panic!("log:\n{}", d.log_text()));
    let asked = Instant::now();
    d.signal(Signal::SIGTERM);
    let status = d.wait_exit(LONG);
    assert!(status.success(), "exit status {status:?}");
    assert!(
        asked.elapsed() < Duration::from_secs(20),
        "the 30 s run was not waited for"
    );
    let all = runs(dir, "stuck");
    assert_eq!(all.len(), 1, "{all:#?}");
    assert_eq!(all[0].status, Status::Unknown);
    assert_eq!(all[0].summary, "interrupted by shutdown");
    assert!(!d.find("WARN", "run interrupted by shutdown").is_empty());
}

#[test]
fn sigkill_during_runs_leaves_a_sound_database_with_every_committed_run() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let checks: Vec<(&str, String)> = ["k1", "k2", "k3"]
        .iter()
        .map(|id| (*id, check_yaml(id, "every 1s", "echo fast")))
        .collect();
    setup(dir, "", &checks);
    let count =
        |dir: &Path| -> usize { ["k1", "k2", "k3"].iter().map(|c| runs(dir, c).len()).sum() };
    let mut seen = 0;
    for round in 0..3 {
        let mut d = start(dir, &[]);
        let before = wait_until("more runs", LONG, || {
            let n = count(dir);
            (n >= seen + 4).then_some(n)
        })
        .unwrap_or_else(|| panic!("round {round}: log:\n{}", d.log_text()));
        d.signal(Signal::SIGKILL);
        let status = d.wait_exit(LONG);
        assert!(!status.success());
        let conn = rusqlite::Connection::open(dir.join("patrol.db")).expect("open db");
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .expect("integrity_check");
        assert_eq!(integrity, "ok", "round {round}");
        drop(conn);
        let after = count(dir);
        assert!(
            after >= before,
            "round {round}: {after} runs after the kill, {before} before"
        );
        seen = after;
    }
}

#[test]
fn reload_keeps_the_old_config_on_error_and_applies_the_fix() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    setup(dir, "", &[("r", check_yaml("r", "every 1s", "echo r"))]);
    let file = dir.join("checks/r.yaml");
    let mut d = start(dir, &[]);
    wait_runs(&d, dir, "r", 2, |_| true);

    // Broken: an unknown field on line 3.
    std::fs::write(
        &file,
        "id: r\nschedule: \"every 1s\"\nscheduel: \"every 3s\"\nprobe:\n  command:\n    argv: [sh, -c, \"echo r\"]\n",
    )
    .expect("write broken check");
    let err = d.wait_log("ERROR", "r.yaml:3:");
    assert!(message(&err).contains("scheduel"), "{err}");
    d.wait_log("ERROR", "configuration not reloaded");
    let after_error = Utc::now();
    // The old schedule keeps running.
    wait_runs(&d, dir, "r", 2, |r| r.started_at > after_error);

    // Fixed, with a new schedule.
    std::fs::write(&file, check_yaml("r", "every 3s", "echo r")).expect("write fixed check");
    d.wait_log("INFO", "configuration reloaded");
    let reloaded = Utc::now();
    let newer = wait_runs(&d, dir, "r", 2, |r| {
        r.scheduled_at.is_some_and(|t| t > reloaded)
    });
    for r in newer
        .iter()
        .filter(|r| r.scheduled_at.is_some_and(|t| t > reloaded))
    {
        let at = r.scheduled_at.expect("scheduled");
        assert_eq!(at.timestamp() % 3, 0, "`every 3s` times only: {r:?}");
    }
    assert!(d.stop().success());
}

#[test]
fn sighup_reloads_without_watching() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    setup(
        dir,
        "",
        &[("first", check_yaml("first", "every 1s", "echo 1"))],
    );
    let mut d = start(dir, &["--no-watch"]);
    wait_runs(&d, dir, "first", 1, |_| true);
    // Replace `first` by `second`.
    std::fs::remove_file(dir.join("checks/first.yaml")).expect("remove first");
    write_tree(
        dir,
        &[(
            "checks/second.yaml",
            &check_yaml("second", "every 1s", "echo 2"),
        )],
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        runs(dir, "second").is_empty(),
        "not watching: no reload before SIGHUP"
    );
    d.signal(Signal::SIGHUP);
    d.wait_log("INFO", "configuration reloaded");
    wait_runs(&d, dir, "second", 1, |_| true);
    // `first` stops and leaves the status; its history stays.
    let state_gone = wait_until("first to leave the status", LONG, || {
        let store = Store::open_read_only(&dir.join("patrol.db")).ok()?;
        store.check_state("first").ok()?.is_none().then_some(())
    });
    assert!(state_gone.is_some(), "log:\n{}", d.log_text());
    let before = runs(dir, "first").len();
    assert!(before >= 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        runs(dir, "first").len(),
        before,
        "a removed check does not run"
    );
    assert!(d.stop().success());
}

#[test]
fn a_bad_check_file_at_start_does_not_stop_the_others() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    setup(
        dir,
        "",
        &[
            ("good", check_yaml("good", "every 1s", "echo good")),
            (
                "bad",
                "id: bad\nschedule: \"every often\"\nprobe:\n  command:\n    argv: [\"true\"]\n"
                    .to_string(),
            ),
        ],
    );
    let mut d = start(dir, &[]);
    wait_runs(&d, dir, "good", 2, |_| true);
    let err = d.wait_log("ERROR", "bad.yaml:2:");
    assert!(message(&err).contains("every often"), "{err}");
    assert!(runs(dir, "bad").is_empty());
    assert!(d.stop().success());
}

#[test]
fn an_unusable_root_config_is_an_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write_tree(dir, &[("patrol.yaml", "concurrency: [1\n")]);
    let mut d = start(dir, &[]);
    let status = d.wait_exit(LONG);
    assert!(!status.success());
    assert!(d.log_text().contains("patrol.yaml:"), "{}", d.log_text());
}

#[test]
fn a_daily_run_cut_off_by_shutdown_runs_again_at_the_next_start() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let (due, cron) = daily_an_hour_ago();
    let marker = dir.join("started");
    let hang = format!("touch {}; sleep 30", marker.display());
    setup(
        dir,
        "shutdown_grace: 1s\n",
        &[("daily", check_yaml("daily", &cron, &hang))],
    );
    seed_scheduled_run(dir, "daily", due - ChronoDuration::days(1));
    // The catch-up run hangs and is cut off by the shutdown.
    let mut d = start(dir, &[]);
    wait_until("the catch-up run to start", LONG, || {
        marker.exists().then_some(())
    })
    .unwrap_or_else(|| panic!("log:\n{}", d.log_text()));
    assert!(d.stop().success());
    let cut = runs(dir, "daily");
    let last = cut.last().expect("the interrupted run");
    assert_eq!(
        (last.status, last.trigger, last.scheduled_at),
        (Status::Unknown, Trigger::Misfire, Some(due))
    );
    assert_eq!(
        last.facts.get("interrupted_by_shutdown"),
        Some(&Value::Bool(true))
    );

    // Next start: the cut-off run counts as missed and runs again, once.
    std::fs::write(
        dir.join("checks/daily.yaml"),
        check_yaml("daily", &cron, "echo done"),
    )
    .expect("rewrite check");
    let mut d = start(dir, &[]);
    let redone_run = |r: &RunRecord| r.status == Status::Ok && r.trigger == Trigger::Misfire;
    wait_runs(&d, dir, "daily", 1, redone_run);
    std::thread::sleep(Duration::from_secs(1));
    let all = runs(dir, "daily");
    let redone: Vec<_> = all.iter().filter(|r| redone_run(r)).collect();
    assert_eq!(redone.len(), 1, "{all:#?}");
    assert_eq!(
        (redone[0].trigger, redone[0].scheduled_at),
        (Trigger::Misfire, Some(due))
    );
    assert!(d.stop().success());

    // And not again after that.
    let mut d = start(dir, &[]);
    d.wait_log("INFO", "daemon started");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(runs(dir, "daily").len(), all.len());
    assert!(d.stop().success());
}
