//! `patrol demo` and `patrol init --hyperbdr --console-*` as a new user meets them: the demo's
//! table shows the faults it planted and its status page serves until Ctrl-C; a configuration
//! written by `init` for a console (here the simulator, in-process) validates and runs its
//! library as soon as the password is in its secret file; `validate` warns about the
//! placeholders left in place, at file:line:col, without failing.

use crate::common::{free_port, patrol, stderr, stdout, write_tree};
use patrol::hyperbdr::sim;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", stdout(o), stderr(o)))
}

/// `patrol ARGS` in the repository, as `cargo run -- ARGS` from a fresh clone.
fn patrol_in_repo(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_patrol"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env_remove("PATROL_LOG")
        .env_remove("PATROL_CONFIG");
    c
}

/// The rows of `patrol run`'s table: check id → (status, summary).
fn table_rows(out: &str) -> Vec<(String, String, String)> {
    let mut rows = Vec::new();
    let mut in_table = false;
    for line in out.lines() {
        if line.starts_with("CHECK ") && line.contains("STATUS") {
            in_table = true;
            continue;
        }
        if !in_table {
            continue;
        }
        if line.trim().is_empty() {
            break;
        }
        let mut cols = line.split_whitespace();
        let (Some(id), Some(status), Some(_time)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let summary = cols.collect::<Vec<_>>().join(" ");
        rows.push((id.to_string(), status.to_string(), summary));
    }
    rows
}

/// The planted faults and the status each must give; every other check is OK.
const PLANTED: &[(&str, &str)] = &[
    ("hyperbdr-rpo-delay@main", "CRITICAL"),
    ("hyperbdr-storage-space@main", "CRITICAL"),
    ("hyperbdr-permissions-excessive@main", "WARNING"),
];

#[test]
fn demo_once_shows_the_planted_faults_and_exits_with_the_worst_status() {
    let o = patrol_in_repo(&["demo", "--once"])
        .output()
        .expect("run patrol demo");
    let out = stdout(&o);
    let rows = table_rows(&out);
    assert!(
        rows.len() >= 20,
        "the library's checks (exit {:?}):\n{out}\n{}",
        o.status.code(),
        stderr(&o)
    );
    for (id, status) in PLANTED {
        let row = rows.iter().find(|(i, _, _)| i == id);
        assert_eq!(
            row.map(|(_, s, _)| s.as_str()),
            Some(*status),
            "{id}:\n{out}"
        );
    }
    let others: Vec<&(String, String, String)> = rows
        .iter()
        .filter(|(i, s, _)| s != "OK" && !PLANTED.iter().any(|(p, _)| p == i))
        .collect();
    assert!(others.is_empty(), "not planted, not OK: {others:?}\n{out}");
    // Every check of the console is named after it, the derived parents included.
    assert!(rows.iter().all(|(i, _, _)| i.ends_with("@main")), "{out}");
    for parent in [
        "hyperbdr-console-reachable@main",
        "hyperbdr-console-api@main",
    ] {
        assert!(rows.iter().any(|(i, _, _)| i == parent), "{parent}:\n{out}");
    }
    // The worst status is CRITICAL: exit 2, as `patrol run`.
    assert_eq!(o.status.code(), Some(2), "{out}\n{}", stderr(&o));
    assert!(out.contains("planted faults"), "{out}");
}

/// Reads the child's stdout until a line starts with `prefix`; returns that line.
fn wait_for_line(child: &mut std::process::Child, prefix: &str, within: Duration) -> String {
    let stdout = child.stdout.take().expect("stdout piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + within;
    let mut seen = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push_str(&line);
                seen.push('\n');
                if line.starts_with(prefix) {
                    return line;
                }
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    panic!("no line starting with {prefix:?} within {within:?}:\n{seen}");
}

/// GET with std only: (status, body).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("http response");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status");
    (status, body.to_string())
}

#[test]
fn demo_serves_the_status_page_until_sigint() {
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("tempdir");
    let kept = dir.path().join("demo");
    let mut child = patrol_in_repo(&[
        "demo",
        "--listen",
        &listen,
        "--dir",
        kept.to_str().expect("utf-8"),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("start patrol demo");
    let line = wait_for_line(&mut child, "status page: ", Duration::from_secs(120));
    assert!(line.contains(&format!("http://{listen}/")), "{line}");

    let (status, page) = http_get(&listen, "/");
    assert_eq!(status, 200, "{page}");
    for (id, _) in PLANTED {
        assert!(page.contains(id), "{id} not on the page:\n{page}");
    }
    assert!(page.contains("hyperbdr-console-api@main"), "{page}");

    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let deadline = Instant::now() + Duration::from_secs(20);
    let code = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("patrol demo did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0));
    assert!(
        std::net::TcpStream::connect(&listen).is_err(),
        "still serving after SIGINT"
    );
    // --dir keeps the configuration and the store; a second demo may reuse the folder.
    assert!(kept.join("patrol.yaml").is_file());
    assert!(kept.join("patrol.db").is_file());
    let again = patrol_in_repo(&["demo", "--once", "--dir", kept.to_str().expect("utf-8")])
        .output()
        .expect("second demo");
    assert_eq!(again.status.code(), Some(2), "{}", stderr(&again));
}

#[test]
fn demo_refuses_a_folder_that_is_not_a_demo() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("patrol.yaml"), "checks: []\n").expect("write");
    let o = patrol_in_repo(&[
        "demo",
        "--once",
        "--dir",
        dir.path().to_str().expect("utf-8"),
    ])
    .output()
    .expect("run patrol demo");
    assert_ne!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("not empty"), "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("patrol.yaml")).expect("read"),
        "checks: []\n"
    );
}

/// Line and column (1-based) of the first `needle` in the first line containing `within`.
fn position(text: &str, within: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if line.contains(within) {
            let at = line.find(needle).expect("needle in line");
            return (i + 1, line[..at].chars().count() + 1);
        }
    }
    panic!("no line with {within:?}");
}

fn warnings(v: &Value) -> Vec<(String, u64, u64, String)> {
    v["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .map(|w| {
            (
                w["file"].as_str().expect("file").to_string(),
                w["line"].as_u64().expect("line"),
                w["column"].as_u64().expect("column"),
                w["message"].as_str().expect("message").to_string(),
            )
        })
        .collect()
}

#[test]
fn init_for_a_console_validates_and_runs_the_library_once_the_password_is_in() {
    let console = sim::Sim::spawn(sim::SimOptions {
        listen: "127.0.0.1:0".into(),
        scenario: "green".into(),
        username: "ops".into(),
        password: "s3cret-of-the-console".into(),
        console_timezone: chrono_tz::Asia::Shanghai,
        times: sim::TimeStyle::Console,
        ..sim::SimOptions::default()
    })
    .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("patrol");
    let none = dir.path().join("none.yaml");
    let url = console.url();
    let o = patrol(
        &none,
        &[
            "init",
            etc.to_str().expect("utf-8"),
            "--hyperbdr",
            "--console-url",
            &url,
            "--console-user",
            "ops",
            "--console-timezone",
            "Asia/Shanghai",
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let root = std::fs::read_to_string(etc.join("patrol.yaml")).expect("patrol.yaml");
    assert!(
        root.contains(&format!("consoles:\n  main:\n    url: {url}")),
        "{root}"
    );
    assert!(root.contains("    username: ops\n"), "{root}");
    assert!(
        root.contains("    password: \"${secret:hyperbdr_password}\""),
        "{root}"
    );
    assert!(root.contains("    timezone: Asia/Shanghai"), "{root}");
    assert!(
        root.contains("        - hyperbdr:\n            console: main\n"),
        "{root}"
    );

    // The password goes into the file init made (0600); the mode stays.
    let secret = etc.join("secrets/hyperbdr-password");
    std::fs::write(&secret, "s3cret-of-the-console\n").expect("write the password");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret)
            .expect("secret")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let config = etc.join("patrol.yaml");
    let v = patrol(&config, &["validate", "--json"]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let v = json_of(&v);
    assert_eq!(v["problems"], Value::Array(vec![]), "{v}");
    // What is left to fill in: the paths init cannot know and the (disabled) bucket checks;
    // nothing about the console.
    for (file, line, _, message) in warnings(&v) {
        let text = std::fs::read_to_string(&file).expect("warned file");
        let at = text
            .lines()
            .nth(usize::try_from(line).expect("line") - 1)
            .unwrap_or("");
        assert!(
            [
                "OBJECT-STORAGE-HOST",
                "GATEWAY-HOST",
                "BUCKET",
                "ACCESS-KEY-ID",
                "CHANGE-ME"
            ]
            .iter()
            .any(|p| at.contains(p)),
            "{file}:{line}: {message} ({at:?})"
        );
        assert!(!at.contains("url:") && !at.contains("username:"), "{at}");
        assert!(!file.ends_with("hyperbdr-password"), "{file}: {message}");
    }

    let r = patrol(&config, &["run", "--tag", "hyperbdr", "--json"]);
    let runs = json_of(&r);
    let runs = runs.as_array().expect("runs");
    assert!(runs.len() >= 20, "{runs:?}");
    let ping = Path::new("/usr/lib/nagios/plugins/check_ping").exists();
    for run in runs {
        let id = run["check_id"].as_str().unwrap_or_default();
        if run["status"] == "unknown" {
            // Only what a green simulator cannot give: nothing, except ICMP without check_ping.
            assert!(!ping && id.starts_with("hyperbdr-icmp"), "{run}");
        }
    }
    for id in [
        "hyperbdr-console-reachable@main",
        "hyperbdr-console-api@main",
        "hyperbdr-rpo-delay@main",
    ] {
        let run = runs
            .iter()
            .find(|r| r["check_id"] == id)
            .unwrap_or_else(|| panic!("{id} not run: {runs:?}"));
        assert_eq!(run["status"], "ok", "{run}");
    }
    // The password in the file was the right one: no login was refused.
    assert_eq!(console.stats().logins_failed, 0);
}

#[test]
fn init_without_console_flags_writes_placeholders_that_validate_and_run_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("patrol");
    let none = dir.path().join("none.yaml");
    let o = patrol(&none, &["init", etc.to_str().expect("utf-8"), "--hyperbdr"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let config = etc.join("patrol.yaml");
    let root = std::fs::read_to_string(&config).expect("patrol.yaml");
    assert!(root.contains("    url: https://CONSOLE:10443"), "{root}");
    assert!(root.contains("    username: CHANGE-ME"), "{root}");

    let v = patrol(&config, &["validate", "--json"]);
    assert_eq!(v.status.code(), Some(0), "warnings only: {}", stdout(&v));
    let found = warnings(&json_of(&v));
    let file = config.display().to_string();
    let (line, column) = position(&root, "url: https://CONSOLE:10443", "CONSOLE");
    assert!(
        found.iter().any(|(f, l, c, m)| *f == file
            && *l as usize == line
            && *c as usize == column
            && m.contains("CONSOLE")),
        "CONSOLE at {line}:{column}: {found:?}"
    );
    let (line, column) = position(&root, "username: CHANGE-ME", "CHANGE-ME");
    assert!(
        found
            .iter()
            .any(|(f, l, c, _)| *f == file && *l as usize == line && *c as usize == column),
        "CHANGE-ME at {line}:{column}: {found:?}"
    );
    assert!(
        found
            .iter()
            .any(|(f, l, c, m)| f.ends_with("secrets/hyperbdr-password")
                && (*l, *c) == (1, 1)
                && m.contains("hyperbdr_password")),
        "{found:?}"
    );
    let text = stdout(&patrol(&config, &["validate"]));
    assert!(
        text.contains(&format!("{file}:{line}:{column}: warning: ")),
        "{text}"
    );

    // A run says what to fill in, and never tries the placeholder (no DNS, no failed login).
    let r = patrol(
        &config,
        &[
            "run",
            "--json",
            "hyperbdr-console-api@main",
            "hyperbdr-console-reachable@main",
        ],
    );
    let runs = json_of(&r);
    let runs = runs.as_array().expect("runs");
    let api = runs
        .iter()
        .find(|r| r["check_id"] == "hyperbdr-console-api@main")
        .expect("api check");
    assert_eq!(api["status"], "unknown", "{api}");
    assert!(
        api["summary"].as_str().unwrap_or_default().contains(
            "the console url still has the placeholder host CONSOLE: set consoles.main.url in patrol.yaml"
        ),
        "{api}"
    );
    for run in runs {
        let s = run["summary"].as_str().unwrap_or_default();
        assert!(!s.contains("lookup"), "{run}");
        assert!(s.contains("CONSOLE"), "{run}");
    }
}

#[test]
fn validate_warns_about_placeholders_at_their_position_and_still_passes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = "\
vars:
  host: CONSOLE            # CONSOLE in a comment is not a warning
  mail_to: ops@example.com
secrets:
  token: { file: token.txt }
checks: [checks]
";
    let check = "\
id: placeholder-port
schedule: every 1h
probe:
  tcp:
    host: \"${var:host}\"
    port: 10443
---
id: example-site
schedule: every 1h
probe:
  tcp: { host: backup.example.com, port: 443 }
";
    write_tree(
        dir.path(),
        &[
            ("patrol.yaml", root),
            ("token.txt", "CHANGE-ME\n"),
            ("checks/paths.yaml", check),
        ],
    );
    let config = dir.path().join("patrol.yaml");
    let o = patrol(&config, &["validate"]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    let root_file = config.display().to_string();
    let check_file = dir.path().join("checks/paths.yaml").display().to_string();
    let token = dir.path().join("token.txt").display().to_string();
    for want in [
        format!("{root_file}:2:9: warning: placeholder host CONSOLE"),
        format!("{root_file}:3:16: warning: example host name example.com"),
        format!("{check_file}:11:16: warning: example host name backup.example.com"),
        format!("{token}:1:1: warning: the secret token is still the placeholder CHANGE-ME"),
    ] {
        assert!(out.contains(&want), "{want}\n{out}");
    }
    assert_eq!(out.matches(": warning: ").count(), 4, "{out}");
    assert!(out.contains("4 warnings"), "{out}");

    // Run: the tcp probe names the placeholder instead of resolving it.
    let r = patrol(
        &config,
        &["run", "--json", "placeholder-port", "example-site"],
    );
    let runs = json_of(&r);
    for run in runs.as_array().expect("runs") {
        let s = run["summary"].as_str().unwrap_or_default();
        assert!(s.contains("the host is still the"), "{run}");
        assert!(s.contains("set the real host in patrol.yaml"), "{run}");
    }
}

#[test]
fn a_generic_init_has_no_placeholders() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("patrol");
    let none = dir.path().join("none.yaml");
    let o = patrol(&none, &["init", etc.to_str().expect("utf-8")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v = patrol(&etc.join("patrol.yaml"), &["validate", "--json"]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    assert_eq!(json_of(&v)["warnings"], Value::Array(vec![]));
}
