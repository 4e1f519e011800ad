//! One token and one login guard per console, and times on the console's clock, against the
//! HyperBDR simulator (examples/hyperbdr-sim) running in-process on its own thread:
//!
//! - a wrong password makes exactly one failed login per console per back-off, across a
//!   whole `patrol run --all` of the library, the next `patrol run`, and daemon cycles, and the
//!   account (locked by the simulator after 3 failures) is never locked;
//! - checks starting together share one login, and a token that dies after N requests costs
//!   one re-login and no failure;
//! - a console that writes every time on its own clock (`TimeStyle::Console`) gives the same
//!   verdicts: a host 5x past its RPO is CRITICAL.
//!
//! The configurations define the console once in patrol.yaml ([`console_block`]: `consoles:
//! {main: {...}}`); the checks name it (`console: main`) or name none (all consoles). Each runs
//! as `ID@main`, beside the derived parents `hyperbdr-console-reachable@main` and
//! `hyperbdr-console-api@main`, which log in through the same session.

use crate::common;
use crate::sim;

use patrol::hyperbdr::client::{Connection, ConsoleClient, ConsoleError};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "Right-Pw-4411-sim";
const WRONG: &str = "Wrong-Pw-9932-typo";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A simulator with [`PASSWORD`], on a free port unless `opts` names one.
fn start(opts: sim::SimOptions) -> sim::Sim {
    let listen = if opts.listen == sim::SimOptions::default().listen {
        "127.0.0.1:0".to_string()
    } else {
        opts.listen.clone()
    };
    sim::Sim::spawn(sim::SimOptions {
        listen,
        password: PASSWORD.into(),
        ..opts
    })
    .expect("start the simulator")
}

/// A simulator that locks the account after 3 failed logins in a row.
fn locking_sim(scenario: &str) -> sim::Sim {
    start(sim::SimOptions {
        scenario: scenario.into(),
        lockout_after: Some(3),
        ..Default::default()
    })
}

/// The console the checks use.
const CONSOLE: &str = "main";

/// The derived parent that logs in (login and one cheap call) for [`CONSOLE`].
const API_PARENT: &str = "hyperbdr-console-api@main";

/// `consoles:` of patrol.yaml: the console [`CONSOLE`] at `url`, its times read in `zone`
/// (UTC, the default, when `None`), with the default 15 min login back-off.
fn console_block(url: &str, zone: Option<&str>) -> String {
    let mut s = format!(
        "consoles:\n  {CONSOLE}:\n    url: {url}\n    username: ops\n    password: \"${{secret:hyperbdr_password}}\"\n    login_backoff: 15m\n"
    );
    if let Some(z) = zone {
        s.push_str(&format!("    timezone: {z}\n"));
    }
    s
}

/// The instance of check `id` for [`CONSOLE`].
fn at_console(id: &str) -> String {
    format!("{id}@{CONSOLE}")
}

/// The library (checks/hyperbdr, rules/) against `url`, as hyperbdr_library.rs writes it;
/// nothing listens on the network-path checks' host (127.0.0.3).
fn library_config(dir: &Path, url: &str) -> PathBuf {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text = format!(
        r#"store: {{ path: patrol.db }}
timezone: Asia/Shanghai
concurrency: 8
checks: ["{checks}"]
rules: ["{rules}"]
{consoles}vars:
  hyperbdr_console_host: 127.0.0.3
  hyperbdr_object_storage_host: 127.0.0.3
  hyperbdr_gateway_host: 127.0.0.3
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
        consoles = console_block(url, Some("Asia/Shanghai")),
    );
    let path = dir.join("patrol.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

/// The enabled checks of the library that talk to the console (`hyperbdr` probe), as their
/// instances for [`CONSOLE`] (`ID@main`).
fn library_api_checks() -> Vec<String> {
    let mut ids = Vec::new();
    for f in std::fs::read_dir(repo().join("checks/hyperbdr")).unwrap() {
        let text = std::fs::read_to_string(f.unwrap().path()).unwrap();
        for doc in text.split("\n---\n") {
            if !doc.contains("\n  hyperbdr:\n") || doc.contains("\nenabled: false") {
                continue;
            }
            if let Some(id) = doc.lines().find_map(|l| l.strip_prefix("id: ")) {
                ids.push(at_console(id.trim()));
            }
        }
    }
    ids.sort();
    ids
}

/// The derived parent's run when the login is refused: CRITICAL (it raises the console's one
/// alert), with the same login guard message as its checks; returns (refused at, not retrying
/// before).
fn parent_refused(r: &Value) -> (String, String) {
    let s = summary(r);
    assert_eq!(r["check_id"], API_PARENT, "{r}");
    assert_eq!(r["status"], "critical", "{r}");
    let fails = "): the API fails: ";
    let error = s.find(fails).map(|i| &s[i + fails.len()..]);
    assert!(s.starts_with(&format!("console {CONSOLE} (")), "{s}");
    let error = error.unwrap_or_else(|| panic!("{s}"));
    // The error the checks' probe reports, checked the same way.
    let as_check = format!("hyperbdr probe failed: {error}");
    refused(&json!({"status": "unknown", "summary": as_check}))
}

/// `patrol run --json ARGS` with `password` → check id → run record.
fn run(config: &Path, password: &str, args: &[&str]) -> BTreeMap<String, Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(config)
        .args(["run", "--json"])
        .args(args)
        .env("HYPERBDR_PASSWORD", password)
        .env_remove("PATROL_LOG")
        .output()
        .expect("run patrol");
    let stdout = common::stdout(&out);
    let runs: Vec<Value> = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "patrol run did not print JSON ({e}):\n{stdout}\n{}",
            common::stderr(&out)
        )
    });
    assert!(
        !stdout.contains(password) && !common::stderr(&out).contains(password),
        "the password was printed"
    );
    runs.into_iter()
        .map(|r| (r["check_id"].as_str().unwrap().to_string(), r))
        .collect()
}

fn summary(r: &Value) -> String {
    r["summary"].as_str().unwrap_or_default().to_string()
}

/// "refused at HH:MM CST" → "HH:MM CST" (and the same for "not retrying before").
fn between<'a>(s: &'a str, start: &str, end: &str) -> &'a str {
    let from = s.find(start).map(|i| i + start.len()).unwrap_or(0);
    let to = s[from..].find(end).map(|i| from + i).unwrap_or(s.len());
    &s[from..to]
}

/// Asserts the login guard's message and returns (refused at, not retrying before).
fn refused(r: &Value) -> (String, String) {
    let s = summary(r);
    assert_eq!(r["status"], "unknown", "{r}");
    assert!(
        s.starts_with(
            "hyperbdr probe failed: POST /api/v2/loginNoImageCaptcha: login as ops refused at "
        ) && s.contains("; not retrying before ")
            && s.contains(
                " so the account is not locked — console error 10010001: invalid credentials"
            ),
        "{s}"
    );
    let at = between(&s, "refused at ", "; not").to_string();
    let until = between(&s, "not retrying before ", " so the").to_string();
    // Times on the console's clock (its `console_timezone`, UTC by default), to the minute.
    for t in [&at, &until] {
        assert!(
            (t.ends_with(" UTC") || t.ends_with(" CST")) && t.contains(':'),
            "{t:?} in {s}"
        );
    }
    (at, until)
}

#[test]
fn a_wrong_password_is_tried_once_per_backoff_across_run_all_and_the_next_run() {
    let s = locking_sim("green");
    let dir = tempfile::tempdir().unwrap();
    let cfg = library_config(dir.path(), &s.url());
    let api = library_api_checks();
    assert!(api.len() >= 20, "{api:?}");

    // A whole run of the library, 8 checks at a time: one failed login, every API check
    // says why it did not log in.
    let runs = run(&cfg, WRONG, &["--all"]);
    let st = s.stats();
    assert_eq!(
        (st.logins_failed, st.logins_ok, st.locked),
        (1, 0, false),
        "{st:?}"
    );
    let mut times = BTreeMap::new();
    for id in &api {
        let r = runs
            .get(id)
            .unwrap_or_else(|| panic!("{id} did not run: {runs:?}"));
        times.insert(id.clone(), refused(r));
    }
    // The derived parent logged in through the same guard: the same refusal, no other login.
    let parent = runs
        .get(API_PARENT)
        .unwrap_or_else(|| panic!("{API_PARENT} did not run: {runs:?}"));
    let refusal = parent_refused(parent);
    assert!(
        times.values().all(|t| t == &refusal),
        "{refusal:?} {times:?}"
    );
    // The summaries as the operator reads them.
    for id in [
        "hyperbdr-rpo-delay@main",
        "hyperbdr-failed-tasks@main",
        API_PARENT,
    ] {
        println!("{id}: {}", summary(&runs[id]));
    }

    // The next `patrol run` (cron, a minute later) keeps the back-off: no login at all.
    let runs = run(&cfg, WRONG, &["--all"]);
    let st = s.stats();
    assert_eq!((st.logins_failed, st.locked), (1, false), "{st:?}");
    for id in &api {
        assert_eq!(refused(&runs[id]), times[id], "{id}");
    }
    assert_eq!(parent_refused(&runs[API_PARENT]), refusal);
    // It is kept next to the store, readable by patrol's user only, without the password.
    let guard = dir.path().join("patrol.login-guard.json");
    let text = std::fs::read_to_string(&guard).expect("guard file");
    assert!(!text.contains(WRONG) && !text.contains(PASSWORD), "{text}");
    assert!(text.contains("invalid credentials"), "{text}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&guard).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }

    // The corrected password is another configuration: tried at once, and it works, for the
    // checks and their parent.
    let with_parent: Vec<&str> = api.iter().map(String::as_str).chain([API_PARENT]).collect();
    let runs = run(&cfg, PASSWORD, &with_parent);
    let st = s.stats();
    assert_eq!(
        (st.logins_failed, st.logins_ok, st.locked),
        (1, 1, false),
        "{st:?}"
    );
    for id in &with_parent {
        assert_eq!(runs[*id]["status"], "ok", "{id}: {}", runs[*id]);
    }
}

/// Checks of the `hyperbdr` probe on [`CONSOLE`] that run every second.
fn every_second_checks(n: usize) -> String {
    (0..n)
        .map(|i| {
            format!(
                "id: hb-{i}\nschedule: every 1s\ntimeout: 10s\nprobe:\n  hyperbdr:\n    console: {CONSOLE}\n    fetch:\n      hosts: /api/v2/getHosts\n"
            )
        })
        .collect::<Vec<_>>()
        .join("---\n")
}

/// A running `patrol daemon`, stopped (SIGTERM, then kill) on drop.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        use nix::sys::signal::{Signal, kill};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(self.0.id() as i32), Signal::SIGTERM);
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_wrong_password_is_tried_once_across_daemon_cycles() {
    let s = locking_sim("green");
    let dir = tempfile::tempdir().unwrap();
    common::write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                &format!(
                    "store: {{ path: patrol.db }}\nconcurrency: 8\n{}secrets:\n  hyperbdr_password: {{ env: HYPERBDR_PASSWORD }}\n",
                    // The derived parents every second too, so they run every cycle.
                    console_block(&s.url(), None) + "    check_every: 1s\n"
                ),
            ),
            ("checks/hb.yaml", &every_second_checks(6)),
        ],
    );
    let log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_patrol"))
            .arg("--config")
            .arg(dir.path().join("patrol.yaml"))
            .args(["--log-format", "json", "daemon"])
            .env("HYPERBDR_PASSWORD", WRONG)
            .env_remove("PATROL_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start patrol daemon"),
    );

    // At least four cycles of the six checks (the derived parents' runs come on top).
    let db = dir.path().join("patrol.db");
    let end = Instant::now() + Duration::from_secs(90);
    let runs = loop {
        let n = patrol::store::Store::open_read_only(&db)
            .map(|st| {
                (0..6)
                    .map(|i| {
                        st.count_runs(Some(&at_console(&format!("hb-{i}"))))
                            .unwrap_or(0)
                    })
                    .min()
                    .unwrap_or(0)
            })
            .unwrap_or(0);
        if n >= 4 {
            break n;
        }
        assert!(
            Instant::now() < end,
            "only {n} cycles; log:\n{}",
            std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let st = s.stats();
    assert_eq!(
        (st.logins_failed, st.logins_ok, st.locked),
        (1, 0, false),
        "{runs} cycles: {st:?}"
    );
    let store = patrol::store::Store::open_read_only(&db).unwrap();
    let mut refusals = Vec::new();
    for i in 0..6 {
        let last = store
            .recent_runs(&at_console(&format!("hb-{i}")), 1)
            .unwrap();
        let r = serde_json::to_value(&last[0]).unwrap();
        refusals.push(refused(&r));
    }
    // The derived parent, which logs in too, ran every cycle on the same refusal.
    assert!(store.count_runs(Some(API_PARENT)).unwrap() >= 4);
    let last = store.recent_runs(API_PARENT, 1).unwrap();
    refusals.push(parent_refused(&serde_json::to_value(&last[0]).unwrap()));
    assert!(refusals.iter().all(|t| t == &refusals[0]), "{refusals:?}");
    drop(daemon);
    assert_eq!(s.stats().logins_failed, 1);
}

// ------------------------------------------------------------------ the client, in-process

/// A connection to the simulator as the probe makes it.
fn conn(s: &sim::Sim, password: &str) -> Connection {
    let mut c = Connection::new(&s.url(), "ops", password);
    c.name = "main".into();
    c.timeout = Duration::from_secs(20);
    c
}

/// `n` clients of one console (as `n` checks make them) each fetching the hosts at once.
async fn fetch_together(c: &Connection, n: usize) -> Vec<Result<Value, ConsoleError>> {
    let calls = (0..n).map(|_| async {
        let client = ConsoleClient::new(c)?;
        client.get_data("/api/v2/getHosts", &[]).await
    });
    futures::future::join_all(calls).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checks_starting_together_share_one_login_and_one_refusal() {
    let s = locking_sim("green");
    // 24 checks, a good password: one login.
    let results = fetch_together(&conn(&s, PASSWORD), 24).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!((s.stats().logins_ok, s.stats().logins_failed), (1, 0));

    // 24 checks of another console with a wrong password: one failed login; the 23 that
    // waited for it say the same.
    let other = locking_sim("green");
    let results = fetch_together(&conn(&other, WRONG), 24).await;
    let st = other.stats();
    assert_eq!(
        (st.logins_failed, st.logins_ok, st.locked),
        (1, 0, false),
        "{st:?}"
    );
    let messages: Vec<String> = results
        .iter()
        .map(|r| match r {
            Err(e) if e.is_login_refused() => e.to_string(),
            other => panic!("expected a refusal: {other:?}"),
        })
        .collect();
    assert!(messages.iter().all(|m| m == &messages[0]), "{messages:?}");
    // The first console is not affected.
    assert!(fetch_together(&conn(&s, PASSWORD), 1).await[0].is_ok());
    assert_eq!(s.stats().logins_ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_backoff_one_more_login_is_tried_and_a_down_console_is_no_refusal() {
    let s = locking_sim("green");
    let mut c = conn(&s, WRONG);
    c.login_backoff = Duration::from_secs(2);
    let client = ConsoleClient::new(&c).unwrap();
    let first = client.get_data("/api/v2/getHosts", &[]).await.unwrap_err();
    assert!(first.is_login_refused(), "{first}");
    // Cycles within the back-off: no login.
    for _ in 0..5 {
        let e = client.get_data("/api/v2/getHosts", &[]).await.unwrap_err();
        assert_eq!(e.to_string(), first.to_string());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(s.stats().logins_failed, 1);
    // After it: exactly one more attempt, then held back again. Two failures: not locked.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    for _ in 0..5 {
        let e = ConsoleClient::new(&c)
            .unwrap()
            .get_data("/api/v2/getHosts", &[])
            .await
            .unwrap_err();
        assert!(e.is_login_refused(), "{e}");
    }
    let st = s.stats();
    assert_eq!(
        (st.logins_failed, st.consecutive_failures, st.locked),
        (2, 2, false),
        "{st:?}"
    );
    // The right password is another configuration: at once.
    assert!(
        ConsoleClient::new(&conn(&s, PASSWORD))
            .unwrap()
            .get_data("/api/v2/getHosts", &[])
            .await
            .is_ok()
    );
    assert_eq!((s.stats().logins_ok, s.stats().locked), (1, false));

    // A console that does not answer is not a refusal: the next call tries again, and
    // logs in as soon as it is up.
    let port = common::free_port();
    let mut down = Connection::new(&format!("http://127.0.0.1:{port}"), "ops", PASSWORD);
    down.name = "down".into();
    let e = ConsoleClient::new(&down)
        .unwrap()
        .get_data("/api/v2/getHosts", &[])
        .await
        .unwrap_err();
    assert!(
        matches!(e, ConsoleError::Login { .. }) && e.to_string().contains("cannot connect"),
        "{e}"
    );
    let up = start(sim::SimOptions {
        listen: format!("127.0.0.1:{port}"),
        ..Default::default()
    });
    let hosts = ConsoleClient::new(&down)
        .unwrap()
        .get_data("/api/v2/getHosts", &[])
        .await
        .unwrap();
    assert_eq!(hosts["total"], 4);
    assert_eq!(up.stats().logins_ok, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_that_dies_after_n_requests_costs_one_login_and_no_failure() {
    // 24 checks at once, the token good for 20 requests: the 4 refused share one re-login.
    let s = start(sim::SimOptions {
        token_max_requests: Some(20),
        ..Default::default()
    });
    let results = fetch_together(&conn(&s, PASSWORD), 24).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let st = s.stats();
    assert_eq!(
        (st.logins_ok, st.tokens_expired, st.logins_failed),
        (2, 1, 0),
        "{st:?}"
    );

    // One after another: one re-login each time the token dies.
    let s = start(sim::SimOptions {
        token_max_requests: Some(6),
        ..Default::default()
    });
    let mut c = conn(&s, PASSWORD);
    c.name = "sequential".into();
    let client = ConsoleClient::new(&c).unwrap();
    for _ in 0..10 {
        client.get_data("/api/v2/getHosts", &[]).await.unwrap();
    }
    let st = s.stats();
    assert_eq!((st.logins_ok, st.tokens_expired), (2, 1), "{st:?}");
}

#[test]
fn a_token_dying_during_a_library_run_costs_one_login() {
    let s = start(sim::SimOptions::default());
    let dir = tempfile::tempdir().unwrap();
    let cfg = library_config(dir.path(), &s.url());
    let api = library_api_checks();
    let ids: Vec<&str> = api.iter().map(String::as_str).collect();
    let runs = run(&cfg, PASSWORD, &ids);
    let st = s.stats();
    assert_eq!(st.logins_ok, 1, "{st:?}");
    let requests = st.requests - st.logins_ok;
    for id in &api {
        assert_eq!(runs[id]["status"], "ok", "{id}: {}", runs[id]);
    }

    // The token dies two thirds of the way through the same run.
    s.reset();
    s.set_token_max_requests(Some(requests * 2 / 3));
    let runs = run(&cfg, PASSWORD, &ids);
    let st = s.stats();
    assert_eq!(
        (st.logins_ok, st.tokens_expired, st.logins_failed),
        (2, 1, 0),
        "{requests} requests: {st:?}"
    );
    for id in &api {
        assert_eq!(runs[id]["status"], "ok", "{id}: {}", runs[id]);
    }
}

// ------------------------------------------------------------------ the console's clock

/// hyperbdr-rpo-delay as the library has it, on the console [`CONSOLE`] whose times are in
/// `zone`.
fn rpo_config(dir: &Path, url: &str, zone: Option<&str>) -> PathBuf {
    common::write_tree(
        dir,
        &[
            (
                "patrol.yaml",
                &format!(
                    "store: {{ path: patrol.db }}\nchecks: [checks]\nrules: [\"{}\"]\n{}secrets:\n  hyperbdr_password: {{ env: HYPERBDR_PASSWORD }}\n",
                    repo().join("rules").display(),
                    console_block(url, zone),
                ),
            ),
            (
                "checks/rpo.yaml",
                &format!(
                    "id: hyperbdr-rpo-delay\nschedule: every 1h\ntimeout: 30s\nprobe:\n  hyperbdr:\n    console: {CONSOLE}\n    fetch:\n      hosts: /api/v2/getHosts\nrule: hyperbdr-rpo-delay\nparams: {{ warn_factor: 2, critical_factor: 4, critical_hours: 24 }}\n"
                ),
            ),
        ],
    );
    dir.join("patrol.yaml")
}

#[test]
fn a_host_five_times_past_its_rpo_is_critical_on_the_console_clock_and_in_utc() {
    let s = start(sim::SimOptions {
        scenario: "rpo-5x".into(),
        times: sim::TimeStyle::Console,
        console_timezone: chrono_tz::Asia::Shanghai,
        ..Default::default()
    });
    let dir = tempfile::tempdir().unwrap();
    let cfg = rpo_config(dir.path(), &s.url(), Some("Asia/Shanghai"));
    let r = run(&cfg, PASSWORD, &["hyperbdr-rpo-delay@main"]).remove("hyperbdr-rpo-delay@main");
    let r = r.unwrap();
    assert_eq!(r["status"], "critical", "{r}");
    assert!(
        summary(&r).contains("= 5.0x its RPO of 1h"),
        "{}",
        summary(&r)
    );
    // What the rule saw: every time with the console's offset, and the console's clock.
    let obs = &r["observation"];
    let host = &obs["hosts"]["hosts"][0];
    let last = host["last_sync_success_at"].as_str().unwrap();
    assert!(last.ends_with("+08:00"), "{last}");
    let age = chrono::Utc::now() - chrono::DateTime::parse_from_rfc3339(last).unwrap().to_utc();
    assert!(
        (age.num_minutes() - 300).abs() <= 2,
        "last sync {age} ago, expected 5h"
    );
    assert_eq!(
        obs["console"],
        json!({"name": CONSOLE, "url": s.url(), "scene": "dr", "timezone": "Asia/Shanghai",
               "max_clock_skew_seconds": 300})
    );
    let h = obs["hosts"]["hosts"].as_array().unwrap();
    for t in h.iter().filter_map(|h| h["last_sync_success_at"].as_str()) {
        assert!(t.ends_with("+08:00"), "{t}");
    }

    // The same console read as UTC: its times lie 8 h late, the sync 5 h ago is 3 h ahead.
    // Never OK: UNKNOWN naming the field, the value and the zone.
    let dir = tempfile::tempdir().unwrap();
    let cfg = rpo_config(dir.path(), &s.url(), None);
    let r = run(&cfg, PASSWORD, &["hyperbdr-rpo-delay@main"])
        .remove("hyperbdr-rpo-delay@main")
        .unwrap();
    assert_eq!(r["status"], "unknown", "{r}");
    let m = summary(&r);
    assert!(
        m.starts_with("db01: hosts[0].last_sync_success_at ")
            && m.contains(" in the future (zone UTC): clock or time zone wrong?"),
        "{m}"
    );

    // A console sending UTC: the same verdict.
    s.set_times(sim::TimeStyle::Utc);
    let r = run(&cfg, PASSWORD, &["hyperbdr-rpo-delay@main"])
        .remove("hyperbdr-rpo-delay@main")
        .unwrap();
    assert_eq!(r["status"], "critical", "{r}");
    assert!(
        summary(&r).contains("= 5.0x its RPO of 1h"),
        "{}",
        summary(&r)
    );
}

#[tokio::test]
async fn every_time_without_offset_in_an_answer_gets_the_console_offset() {
    let s = start(sim::SimOptions {
        times: sim::TimeStyle::Console,
        console_timezone: chrono_tz::Asia::Shanghai,
        ..Default::default()
    });
    let mut c = conn(&s, PASSWORD);
    c.console_timezone = chrono_tz::Asia::Shanghai;
    let client = ConsoleClient::new(&c).unwrap();
    let mut seen = 0;
    for path in [
        "/api/v2/getHosts",
        "/api/v2/getTasks",
        "/api/v2/om/modules",
        "/api/v2/getCloudAccounts",
        "/api/v2/getStorages",
        "/api/v2/om/alerts",
    ] {
        let data = client.get_all_pages(path, &[]).await.unwrap();
        seen += times_in(&data, path);
    }
    assert!(seen > 20, "only {seen} times seen");
}

/// Counts the time strings in `v`, asserting each is RFC 3339 with +08:00 (no naive left).
fn times_in(v: &Value, path: &str) -> usize {
    match v {
        Value::String(s) => {
            let looks_like_time = s.len() >= 19
                && s.as_bytes()[4] == b'-'
                && s.as_bytes()[7] == b'-'
                && s.as_bytes()[13] == b':';
            if looks_like_time {
                assert!(
                    chrono::DateTime::parse_from_rfc3339(s).is_ok() && s.ends_with("+08:00"),
                    "{path}: {s}"
                );
                1
            } else {
                0
            }
        }
        Value::Array(a) => a.iter().map(|i| times_in(i, path)).sum(),
        Value::Object(m) => m.values().map(|i| times_in(i, path)).sum(),
        _ => 0,
    }
}

#[test]
fn rules_allow_the_clock_skew_the_console_names() {
    use patrol::config::RuleLimits;
    use patrol::rule::{CheckInfo, RuleEngine, RuleInput};
    use patrol::status::Status;
    let engine = RuleEngine::new(&RuleLimits::default());
    let src = r#"let t = need_past_time(probe.hosts[0], "at", "hosts[0]"); ok(`skew ${param_seconds("max_clock_skew", 300)}`)"#;
    let rule = engine
        .compile("skew", src, Path::new("rules/skew.rhai"), 0)
        .unwrap();
    let check = CheckInfo {
        id: "t".into(),
        name: "t".into(),
        tags: vec![],
    };
    let now: chrono::DateTime<chrono::Utc> = "2026-03-01T02:00:00Z".parse().unwrap();
    // 10 minutes ahead: beyond the default 5 min, within a console's 15 min.
    let eval = |console: Value, params: Value| {
        let obs = json!({"console": console, "hosts": [{"at": "2026-03-01T10:10:00+08:00"}]});
        engine.evaluate(
            &rule,
            &RuleInput {
                observation: &obs,
                params: &params,
                check: &check,
                history: &[],
                now,
            },
        )
    };
    let v = eval(json!({"timezone": "Asia/Shanghai"}), json!({}));
    assert_eq!(v.status, Status::Unknown, "{v:?}");
    assert!(
        v.summary
            .contains("is 10m in the future (zone Asia/Shanghai)"),
        "{v:?}"
    );
    let console = json!({"timezone": "Asia/Shanghai", "max_clock_skew_seconds": 900});
    let v = eval(console.clone(), json!({}));
    assert_eq!(
        (v.status, v.summary.as_str()),
        (Status::Ok, "skew 900.0"),
        "{v:?}"
    );
    // The check's own param wins over the console's.
    let v = eval(console, json!({"max_clock_skew": "1m"}));
    assert_eq!(v.status, Status::Unknown, "{v:?}");
}
