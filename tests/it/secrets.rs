//! No secret leaves patrol. A secret is planted in every input it can reach — a command's
//! argv, environment and shell line, HTTP request headers and URL paths, plugin perfdata
//! labels, a rule's metric names, facts and prints, a webhook receiver that echoes its URL
//! path, a heartbeat ping body, a log file — including inputs that are cut to size right
//! through the secret (`max_output_bytes: 9`, `max_body_bytes`, `max_ping_body`, a receiver's
//! quoted answer). Then every output is searched, byte for byte: the database with its WAL
//! and SHM files, the daemon's JSON log and `patrol run`'s human log (debug level), every
//! CLI `--json` (and the tables), every page and API route, `/metrics`, reports, log bundles.
//! Not the secret, and no piece of six characters or more of it, may show up anywhere.

use crate::common;

use crate::common::web_daemon::{get_json, http_get};
use crate::common::{LONG, wait_until};
use crate::common::{free_port, write_tree};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// The planted secret: random-looking, so that any piece of it found is a leak.
const SECRET: &str = "nv7f3a9cQ2kLp8ZwX4t";
/// The web token, a second secret.
const TOKEN: &str = "tk5R8vXq2mN7bL9cJ3";
/// Pieces this long of a secret count as a leak (shorter ones occur in ordinary text).
const PIECE: usize = 6;

/// The first leak in `hay`: which secret, and the piece found.
fn leak(hay: &[u8]) -> Option<String> {
    for secret in [SECRET, TOKEN] {
        let s = secret.as_bytes();
        let pieces: Vec<&[u8]> = s.windows(PIECE).collect();
        if let Some(at) = hay.windows(PIECE).position(|w| pieces.contains(&w)) {
            let from = at.saturating_sub(40);
            let to = (at + 40).min(hay.len());
            return Some(format!(
                "piece {:?} of {secret:?} in …{}…",
                String::from_utf8_lossy(&hay[at..at + PIECE]),
                String::from_utf8_lossy(&hay[from..to])
            ));
        }
    }
    None
}

/// Every output searched, by name.
#[derive(Default)]
struct Outputs {
    seen: Vec<(String, Vec<u8>)>,
}

impl Outputs {
    fn add(&mut self, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        self.seen.push((name.into(), bytes.into()));
    }

    /// Every file under `dir` whose name passes `keep` (tar.gz bundles unpacked).
    fn add_files(&mut self, label: &str, dir: &Path, keep: &dyn Fn(&str) -> bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                self.add_files(label, &path, keep);
            } else if keep(&name) {
                let bytes = std::fs::read(&path).unwrap_or_default();
                if name.ends_with(".tar.gz") {
                    self.add_bundle(&format!("{label} {}", path.display()), &bytes);
                }
                self.add(format!("{label} {}", path.display()), bytes);
            }
        }
    }

    fn add_bundle(&mut self, label: &str, bytes: &[u8]) {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let mut n = 0;
        for entry in archive.entries().expect("bundle entries") {
            let mut entry = entry.expect("bundle entry");
            let name = entry.path().expect("entry path").display().to_string();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).expect("entry content");
            self.add(format!("{label}!{name}"), content);
            n += 1;
        }
        assert!(n > 0, "{label}: empty bundle");
    }

    fn assert_clean(&self) {
        let leaks: Vec<String> = self
            .seen
            .iter()
            .filter_map(|(name, bytes)| leak(bytes).map(|l| format!("{name}: {l}")))
            .collect();
        assert!(
            leaks.is_empty(),
            "{} of {} outputs leak:\n{}",
            leaks.len(),
            self.seen.len(),
            leaks.join("\n")
        );
    }
}

/// A real HTTP receiver (webhook target and HTTP probe target) that echoes what it was sent:
/// the method, the URL path and the Authorization header. For `/hook/...` the answer holds
/// the path twice, the second time across byte 200, where a quote of the answer is cut.
fn start_echo() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || echo(stream));
        }
    });
    port
}

fn echo(mut s: std::net::TcpStream) {
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut words = head.split_whitespace();
    let method = words.next().unwrap_or("").to_string();
    let path = words.next().unwrap_or("").to_string();
    let auth = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("authorization")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let body = if path.starts_with("/hook/") {
        // `{path} {dots} {path}`: the second secret starts at byte 190.
        let dots = ".".repeat(190 - 6 - 2 - path.len());
        format!("{path} {dots} {path} thanks")
    } else {
        format!("{method} {path}\nauthorization: {auth}\n")
    };
    let _ = write!(
        s,
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

/// The test's configuration: one check per way a secret can come in.
fn setup(dir: &Path, web_port: u16, echo: u16, closed: u16) {
    let root = format!(
        r#"store: {{ path: patrol.db }}
group_window: 0s
secrets:
  tok: {{ env: PATROL_TEST_TOK }}
  web_token: {{ env: PATROL_TEST_WEB_TOKEN }}
web:
  listen: 127.0.0.1:{web_port}
  token: "${{secret:web_token}}"
  pings_need_token: false
  max_ping_body: 40
alerting:
  channels: [hook]
  flapping: {{ enabled: false }}
channels:
  hook:
    webhook:
      url: "http://127.0.0.1:{echo}/hook/${{secret:tok}}"
logs:
  sources:
    app:
      collect:
        - local: {{ paths: ["app.log"] }}
        - command: {{ shell: "echo from-command ${{secret:tok}}", name: cmd.txt }}
report: {{ channels: [hook] }}
"#
    );
    let checks = format!(
        r#"id: argv-echo
schedule: every 2s
probe: {{ command: {{ argv: ["/bin/echo", "arg=${{secret:tok}}"], nagios: false }} }}
---
id: env-shell
schedule: every 2s
on_failure: {{ export_logs: [app] }}
probe:
  command:
    shell: 'printf "env=%s\n" "$TOK" >&2; echo "shell ${{secret:tok}}"; exit 1'
    env: {{ TOK: "${{secret:tok}}" }}
    nagios: false
---
id: perfdata
schedule: every 2s
probe:
  command:
    shell: "echo \"WARNING ${{secret:tok}} | '${{secret:tok}}'=1;2;3 up_${{secret:tok}}=5\"; echo \"long ${{secret:tok}}\"; exit 1"
---
id: tail-cut
schedule: every 2s
probe:
  command:
    shell: 'echo begin; printf "x%s" "${{secret:tok}}"; exit 2'
    nagios: false
    max_output_bytes: 9
---
id: long-cut
schedule: every 2s
probe:
  command:
    shell: 'printf "WARNING first\nab %s more\n" "${{secret:tok}}"; exit 1'
    max_output_bytes: 9
---
id: http-echo
schedule: every 2s
probe:
  http:
    url: "http://127.0.0.1:{echo}/echo/${{secret:tok}}"
    headers: {{ Authorization: "Bearer ${{secret:tok}}" }}
---
id: http-cut
schedule: every 2s
probe:
  http:
    url: "http://127.0.0.1:{echo}/cut/${{secret:tok}}"
    max_body_bytes: 15
---
id: http-closed
schedule: every 2s
probe: {{ http: {{ url: "http://127.0.0.1:{closed}/x/${{secret:tok}}" }} }}
---
id: rule-leaks
schedule: every 2s
probe: {{ command: {{ argv: ["true"] }} }}
params: {{ token: "${{secret:tok}}" }}
rule: |
  print("printed " + params.token);
  debug("debugged " + params.token);
  metric("m_" + params.token, 1.0);
  fact(params.token, "fact " + params.token);
  critical("rule says " + params.token)
---
id: beat
schedule: every 1h
probe: {{ heartbeat: {{ period: 1d, grace: 1m }} }}
"#
    );
    write_tree(
        dir,
        &[
            ("patrol.yaml", &root),
            ("checks/leaks.yaml", &checks),
            (
                "app.log",
                &format!("2026-01-01 10:00:00 login token {SECRET} ok\nplain line\n"),
            ),
        ],
    );
}

const CHECKS: [&str; 10] = [
    "argv-echo",
    "env-shell",
    "perfdata",
    "tail-cut",
    "long-cut",
    "http-echo",
    "http-cut",
    "http-closed",
    "rule-leaks",
    "beat",
];

fn patrol(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(dir.join("patrol.yaml"))
        .args(args)
        .current_dir(dir)
        .env("PATROL_TEST_TOK", SECRET)
        .env("PATROL_TEST_WEB_TOKEN", TOKEN)
        .env_remove("PATROL_LOG")
        .output()
        .expect("run patrol")
}

fn daemon(dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log");
    Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(dir.join("patrol.yaml"))
        .args(["--log-format", "json", "--log-level", "debug", "daemon"])
        .current_dir(dir)
        .env("PATROL_TEST_TOK", SECRET)
        .env("PATROL_TEST_WEB_TOKEN", TOKEN)
        .env_remove("PATROL_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start daemon")
}

fn stop(child: &mut Child) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let _ = wait_until("the daemon to stop", LONG, || {
        child.try_wait().ok().flatten()
    });
    let _ = child.kill();
    let _ = child.wait();
}

/// A POST with std only, returning the status line.
fn post(url: &str, body: &str) -> String {
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(LONG)).expect("timeout");
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or_default().to_string()
}

fn store_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("patrol.db"))
        })
        .collect()
}

#[test]
fn no_secret_reaches_any_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let echo = start_echo();
    let closed = free_port();
    let web = free_port();
    setup(d, web, echo, closed);
    let base = format!("http://127.0.0.1:{web}");
    let mut out = Outputs::default();

    // `validate` reads every input without running anything.
    let v = patrol(d, &["validate", "--json"]);
    assert_eq!(v.status.code(), Some(0), "{}", common::stdout(&v));
    out.add("validate --json", [v.stdout, v.stderr].concat());

    let mut child = daemon(d);
    wait_until("the web server", LONG, || {
        std::net::TcpStream::connect(("127.0.0.1", web)).ok()
    })
    .expect("web server up");

    // Heartbeat pings: one body cut at 40 bytes inside the secret, one that fails with it.
    let cut_body = format!("{}{SECRET} and more", "x".repeat(30));
    assert!(post(&format!("{base}/ping/beat"), &cut_body).contains("200"));
    assert!(
        post(
            &format!("{base}/ping/beat/fail"),
            &format!("failed: {SECRET}")
        )
        .contains("200")
    );

    for id in CHECKS {
        wait_until(&format!("a run of {id}"), LONG, || {
            let v = get_json(&format!("{base}/api/v1/checks/{id}/runs?per_page=1"));
            (v["total"].as_u64().unwrap_or(0) >= 1).then_some(())
        })
        .unwrap_or_else(|| panic!("{id} never ran"));
    }
    // The receiver's echo is stored as the outbox `response`.
    wait_until("a delivered alert", LONG, || {
        let v = get_json(&format!("{base}/api/v1/alerts?state=sent"));
        let rows = v["alerts"].as_array().cloned().unwrap_or_default();
        rows.iter()
            .any(|r| r["response"].as_str().is_some_and(|s| s.contains("/hook/")))
            .then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "no alert delivered; log:\n{}",
            std::fs::read_to_string(d.join("daemon.log")).unwrap_or_default()
        )
    });
    // The on_failure export of env-shell.
    wait_until("the on_failure bundle", LONG, || {
        std::fs::read_dir(d.join("log-bundles"))
            .ok()?
            .flatten()
            .any(|e| e.path().to_string_lossy().ends_with(".tar.gz"))
            .then_some(())
    })
    .expect("a bundle exported on failure");

    // Every page and API route.
    let mut routes = vec![
        "/".to_string(),
        "/?status=critical".into(),
        "/metrics".into(),
        "/healthz".into(),
        "/api/v1/checks".into(),
        "/api/v1/alerts".into(),
        "/api/v1/alerts?state=sent".into(),
        "/api/v1/silences?all=true".into(),
    ];
    for id in CHECKS {
        routes.push(format!("/checks/{id}"));
        routes.push(format!("/api/v1/checks/{id}"));
        routes.push(format!("/api/v1/checks/{id}/runs?per_page=500"));
    }
    for r in &routes {
        let (status, body) = http_get(&format!("{base}{r}"));
        assert!(status < 500, "GET {r}: {status} {body}");
        out.add(format!("GET {r}"), body);
    }
    // The store while the daemon has it open (WAL and SHM present).
    for f in store_files(d) {
        out.add(
            format!("live {}", f.display()),
            std::fs::read(&f).unwrap_or_default(),
        );
    }

    // Every CLI output, with the daemon's store.
    let mut cli: Vec<Vec<String>> = vec![
        vec!["status".into(), "--json".into()],
        vec!["status".into()],
        vec!["alerts".into(), "--json".into()],
        vec!["alerts".into()],
        vec!["report".into(), "--json".into()],
        vec!["report".into()],
        vec!["logs".into(), "sources".into(), "--json".into()],
        vec![
            "logs".into(),
            "export".into(),
            "--json".into(),
            "-o".into(),
            d.join("cli-bundle.tar.gz").display().to_string(),
        ],
        vec!["alert".into(), "test".into(), "hook".into()],
    ];
    for id in CHECKS {
        cli.push(vec!["history".into(), id.into(), "--json".into()]);
        cli.push(vec!["history".into(), id.into()]);
        cli.push(vec!["explain".into(), id.into(), "--json".into()]);
    }
    for args in &cli {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = patrol(d, &args);
        out.add(
            format!("patrol {}", args.join(" ")),
            [o.stdout, o.stderr].concat(),
        );
    }
    // `alert test` quoted the receiver's echo: masked, not missing.
    let test = patrol(d, &["alert", "test", "hook"]);
    let said = common::stdout(&test);

    stop(&mut child);
    // `patrol run` with its human log at debug level (prints and debugs included).
    let run = patrol(d, &["--log-level", "debug", "run", "--all", "--json"]);
    let run_err = common::stderr(&run);
    out.add("patrol run --all --json (stdout)", run.stdout);
    out.add("patrol run --all --json (human log)", run.stderr);

    let log = std::fs::read(d.join("daemon.log")).expect("daemon log");
    let log_text = String::from_utf8_lossy(&log).into_owned();
    out.add("daemon.log (JSON)", log);
    // The store after the daemon closed it, the bundles and anything else in the folder,
    // except what holds the secret on purpose (the configuration and the log file exported).
    out.add_files("file", d, &|name: &str| {
        !matches!(name, "patrol.yaml" | "leaks.yaml" | "app.log")
    });

    out.assert_clean();

    // What the planted inputs became: masked where they were, so they were exercised.
    assert!(said.contains("/hook/***"), "{said}");
    assert!(run_err.contains("printed ***"), "{run_err}");
    assert!(
        log_text.contains("printed ***"),
        "the print is logged, masked"
    );
    assert!(
        log_text.contains("debugged ***"),
        "the debug is logged, masked"
    );
    assert!(
        log_text.contains("\"response\":\"HTTP 200 /hook/***"),
        "the delivery is logged"
    );
    let page = http_get_text(&out, "GET /api/v1/checks/tail-cut/runs?per_page=500");
    assert!(page.contains("***"), "tail-cut: {page}");
    let metrics = http_get_text(&out, "GET /metrics");
    assert!(metrics.contains("metric=\"m_***\""), "{metrics}");
    assert!(metrics.contains("metric=\"***\""), "{metrics}");
    let alerts = http_get_text(&out, "GET /api/v1/alerts?state=sent");
    assert!(alerts.contains("/hook/***"), "{alerts}");
}

fn http_get_text(out: &Outputs, name: &str) -> String {
    out.seen
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// `max_output_bytes: 9` kept the last 9 bytes of a 19-character secret before the fix: the
/// summary, the observation and the store showed them.
#[test]
fn a_cut_through_a_secret_leaves_none_of_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write_tree(
        d,
        &[
            (
                "patrol.yaml",
                "store: { path: patrol.db }\nsecrets:\n  tok: { env: PATROL_TEST_TOK }\n",
            ),
            (
                "checks/cut.yaml",
                "id: cut\nschedule: every 1h\nprobe:\n  command:\n    \
                 shell: 'printf \"%s\" \"${secret:tok}\"; exit 2'\n    \
                 nagios: false\n    max_output_bytes: 9\n",
            ),
        ],
    );
    let run = patrol(d, &["run", "cut", "--json"]);
    let text = common::stdout(&run);
    assert!(text.contains("exit code 2"), "{text}");
    let mut out = Outputs::default();
    out.add("run --json", run.stdout);
    out.add("run log", run.stderr);
    for f in store_files(d) {
        out.add(
            f.display().to_string(),
            std::fs::read(&f).unwrap_or_default(),
        );
    }
    out.assert_clean();
}

/// A word-like secret rewrites that word everywhere it is masked: `validate` says so, at the
/// secret's line, without showing the value.
#[test]
fn validate_warns_about_short_and_word_like_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write_tree(
        d,
        &[
            (
                "patrol.yaml",
                "store: { path: patrol.db }\nsecrets:\n  s3: { env: PATROL_TEST_TOK }\n  \
                 fine: { value: x9-unused-7Qz }\n",
            ),
            ("checks/none.yaml", ""),
        ],
    );
    let o = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(d.join("patrol.yaml"))
        .arg("validate")
        .env("PATROL_TEST_TOK", "unused")
        .output()
        .expect("validate");
    let text = common::stdout(&o);
    assert_eq!(o.status.code(), Some(0), "warnings do not fail: {text}");
    assert!(
        text.contains("patrol.yaml:3:1: warning: secret `s3` is only 6 characters long"),
        "{text}"
    );
    assert!(!text.contains("`fine`"), "{text}");
    assert!(!text.contains("unused"), "the value is never shown: {text}");
}
