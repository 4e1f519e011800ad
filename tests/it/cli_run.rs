//! `patrol run`, `status` and `history` as an operator uses them, against real local
//! servers, real commands and a real SQLite file.

use crate::common;
use common::{closed_port, patrol, patrol_env, stderr, stdout, write_config, write_tree};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;

/// A real HTTP/1.1 server on 127.0.0.1 answering every request with `body` as JSON.
fn http_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            let mut buf = vec![0; len];
            let _ = reader.read_exact(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            );
        }
    });
    port
}

fn setup(dir: &Path, checks: &str) {
    write_config(
        dir,
        "store: { path: data/patrol.db }\ntimezone: Asia/Shanghai\nsecrets:\n  token: { env: PATROL_TEST_TOKEN }\n",
        &[("main", checks)],
    );
    write_tree(
        dir,
        &[(
            "rules/queue-depth.rhai",
            "let d = probe.body.queue.depth;\nmetric(\"depth\", d);\nif d > params.max { critical(`queue depth ${d}`) } else { ok(`queue depth ${d}`) }\n",
        )],
    );
}

fn run_json(config: &Path, args: &[&str]) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let out = patrol_env(config, &[("PATROL_TEST_TOKEN", "tok-4f9a1c2e77")], args);
    let v: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), v, stderr(&out))
}

fn by_id<'a>(runs: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    runs.iter()
        .find(|r| r["check_id"] == id)
        .unwrap_or_else(|| panic!("no run of {id} in {runs:?}"))
}

#[test]
fn run_stores_results_prints_them_and_exits_with_the_worst_status() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = http_server(r#"{"queue": {"depth": 7}}"#);
    let open = TcpListener::bind("127.0.0.1:0").expect("bind");
    let open_port = open.local_addr().expect("addr").port();
    let checks = format!(
        r#"id: plugin-ok
schedule: every 1m
tags: [cmd]
probe:
  command:
    argv: [sh, -c, "echo 'DISK OK - 41% used | used=41%;80;90;0;100'; exit 0"]
---
id: plugin-warning
schedule: every 1m
tags: [cmd]
probe:
  command:
    argv: [sh, -c, "echo 'DISK WARNING - 85% used'; exit 1"]
---
id: api-queue
schedule: every 1m
probe:
  http:
    url: http://127.0.0.1:{http}/status
rule: queue-depth
params: {{ max: 5 }}
---
id: port-open
schedule: every 1m
probe:
  tcp: {{ host: 127.0.0.1, port: {open_port} }}
---
id: port-closed
schedule: every 1m
probe:
  tcp: {{ host: 127.0.0.1, port: {closed} }}
"#,
        closed = closed_port()
    );
    setup(dir.path(), &checks);
    let config = dir.path().join("patrol.yaml");

    let (code, runs, err) = run_json(&config, &["run", "--all", "--json"]);
    assert_eq!(code, Some(2), "worst is CRITICAL: {runs:?}\n{err}");
    assert_eq!(runs.len(), 5);
    assert_eq!(by_id(&runs, "plugin-ok")["status"], "ok");
    assert_eq!(by_id(&runs, "plugin-ok")["summary"], "DISK OK - 41% used");
    assert_eq!(by_id(&runs, "plugin-ok")["metrics"]["used"], 41.0);
    assert_eq!(by_id(&runs, "plugin-warning")["status"], "warning");
    let api = by_id(&runs, "api-queue");
    assert_eq!(api["status"], "critical", "{api}");
    assert_eq!(api["summary"], "queue depth 7");
    assert_eq!(api["metrics"]["depth"], 7.0);
    assert_eq!(by_id(&runs, "port-open")["status"], "ok");
    assert_eq!(by_id(&runs, "port-closed")["status"], "critical");
    assert!(
        dir.path().join("data/patrol.db").exists(),
        "store created where configured"
    );

    // Selecting by tag runs only those; exit code follows the worst of them.
    let (code, runs, _) = run_json(&config, &["run", "--tag", "cmd", "--json"]);
    assert_eq!(code, Some(1));
    assert_eq!(runs.len(), 2);

    // The table an operator reads.
    let out = patrol(&config, &["run", "plugin-ok", "port-closed"]);
    let table = stdout(&out);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        table.lines().next().unwrap_or("").starts_with("CHECK"),
        "{table}"
    );
    assert!(
        table.lines().any(|l| l.starts_with("plugin-ok")
            && l.contains("OK")
            && l.contains("DISK OK - 41% used")),
        "{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("port-closed") && l.contains("CRITICAL")),
        "{table}"
    );

    // status: latest state, worst first, consecutive counts from the store.
    let out = patrol(&config, &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let states: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(states.len(), 5);
    assert_eq!(states[0]["status"], "critical", "worst first: {states:?}");
    let ok = states
        .iter()
        .find(|s| s["check_id"] == "plugin-ok")
        .expect("plugin-ok");
    assert_eq!(ok["consecutive"], 3, "ran three times: {ok}");
    let out = patrol(&config, &["status"]);
    let text = stdout(&out);
    assert!(
        text.contains("5 checks: 2 ok, 1 warning, 2 critical, 0 unknown, 0 never run"),
        "{text}"
    );
    assert!(
        text.contains("CST"),
        "times shown in the configured zone: {text}"
    );

    // history: newest first, with the trigger.
    let out = patrol(&config, &["history", "plugin-ok", "--json"]);
    let hist: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(hist.len(), 3);
    assert_eq!(hist[0]["trigger"], "manual");
    let out = patrol(&config, &["history", "plugin-ok"]);
    assert!(stdout(&out).contains("manual"));
}

#[test]
fn unknown_check_names_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    setup(
        dir.path(),
        "id: a\nschedule: every 1m\nprobe:\n  system: {}\n",
    );
    let out = patrol(&dir.path().join("patrol.yaml"), &["run", "nope"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("unknown check nope"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn secrets_never_reach_the_store_or_the_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let http = http_server(r#"{"queue": {"depth": 1}}"#);
    let checks = format!(
        r#"id: leaky-command
schedule: every 1m
probe:
  command:
    argv: [sh, -c, 'echo "token is $1"; echo "stderr $1" >&2; exit 2', sh, "${{secret:token}}"]
---
id: leaky-http
schedule: every 1m
probe:
  http:
    url: http://127.0.0.1:{http}/status?key=${{secret:token}}
    headers: {{ Authorization: "Bearer ${{secret:token}}" }}
rule: |
  fact("sent", params.echo);
  ok(`echo ${{params.echo}}`)
params: {{ echo: "${{secret:token}}" }}
"#
    );
    setup(dir.path(), &checks);
    let config = dir.path().join("patrol.yaml");
    let (_, runs, err) = run_json(&config, &["run", "--all", "--json", "--verbose"]);
    let all = serde_json::to_string(&runs).expect("json");
    assert!(
        all.contains("token is ***"),
        "the command really got the secret, masked: {all}"
    );
    assert!(!all.contains("tok-4f9a1c2e77"), "secret printed: {all}");
    assert!(!err.contains("tok-4f9a1c2e77"), "secret logged: {err}");
    assert_eq!(by_id(&runs, "leaky-http")["summary"], "echo ***");

    let out = patrol(&config, &["run", "--all", "--verbose"]);
    assert!(!stdout(&out).contains("tok-4f9a1c2e77"));
    let db = std::fs::read(dir.path().join("data/patrol.db")).expect("db");
    let wal = std::fs::read(dir.path().join("data/patrol.db-wal")).unwrap_or_default();
    let needle = b"tok-4f9a1c2e77";
    for bytes in [&db, &wal] {
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "secret stored in SQLite"
        );
    }
}

#[test]
fn hostile_rules_end_unknown_while_other_checks_still_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let checks = r#"id: infinite-loop
schedule: every 1m
probe: { system: {} }
rule: |
  let n = 0;
  loop { n += 1; }
---
id: huge-string
schedule: every 1m
probe: { system: {} }
rule: |
  let s = "xxxxxxxxxxxxxxxx";
  loop { s += s; }
---
id: deep-recursion
schedule: every 1m
probe: { system: {} }
rule: |
  fn down(n) { down(n + 1) }
  down(0)
---
id: read-a-file
schedule: every 1m
probe: { system: {} }
rule: |
  import "/etc/passwd" as p;
  ok("read it")
---
id: missing-property
schedule: every 1m
probe: { system: {} }
rule: |
  let x = 1;
  if probe.no_such_field > 1 { critical("?") } else { ok("?") }
---
id: well-behaved
schedule: every 1m
probe: { system: {} }
rule: ok(`cpus ${probe.cpu_count}`)
"#;
    setup(dir.path(), checks);
    let config = dir.path().join("patrol.yaml");
    let (code, runs, err) = run_json(&config, &["run", "--all", "--json"]);
    assert_eq!(code, Some(3), "worst is UNKNOWN: {err}");
    assert_eq!(by_id(&runs, "well-behaved")["status"], "ok");
    // `import` may be refused when the rule is compiled (then the check is not run and the
    // problem names the line) or when it runs (UNKNOWN); either way nothing is read.
    if !runs.iter().any(|r| r["check_id"] == "read-a-file") {
        assert!(err.contains("checks/main.yaml:26"), "{err}");
    } else {
        assert_eq!(by_id(&runs, "read-a-file")["status"], "unknown");
    }
    assert!(
        !serde_json::to_string(&runs)
            .unwrap_or_default()
            .contains("root:x:0:0")
    );
    for id in [
        "infinite-loop",
        "huge-string",
        "deep-recursion",
        "missing-property",
    ] {
        let r = by_id(&runs, id);
        assert_eq!(r["status"], "unknown", "{r}");
        let summary = r["summary"].as_str().unwrap_or_default();
        assert!(
            summary.contains("checks/main.yaml:"),
            "names the file and line: {summary}"
        );
        // The rule deadline is 1 s; allow for a loaded machine.
        assert!(r["duration_ms"].as_u64().unwrap_or(u64::MAX) < 5_000, "{r}");
    }
    let line = |id: &str| {
        by_id(&runs, id)["summary"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert!(
        line("missing-property").contains("checks/main.yaml:34"),
        "{}",
        line("missing-property")
    );
}

#[test]
fn a_bad_check_file_does_not_stop_the_other_checks() {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_dir(Path::new("tests/fixtures/broken"), dir.path());
    let out = patrol(&dir.path().join("patrol.yaml"), &["run", "--all"]);
    let err = stderr(&out);
    assert!(err.contains("checks/bad-cron.yaml:2:11"), "{err}");
    let table = stdout(&out);
    for id in ["good-one", "good-two", "unique-here"] {
        assert!(
            table.lines().any(|l| l.starts_with(id)),
            "{id} did not run:\n{table}"
        );
    }
    // Configuration problems make the outcome UNKNOWN at best.
    assert_eq!(out.status.code(), Some(3));
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

#[test]
fn a_config_in_the_current_folder_runs_commands_there() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_tree(
        dir.path(),
        &[
            ("patrol.yaml", "checks: [checks]\n"),
            (
                "checks/c.yaml",
                "id: here\nschedule: every 1m\nprobe:\n  command: { argv: [sh, -c, 'ls patrol.yaml'] }\n",
            ),
        ],
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_patrol"))
        .current_dir(dir.path())
        .args(["--config", "patrol.yaml", "run", "here"])
        .output()
        .expect("run");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("patrol.yaml"));
}
