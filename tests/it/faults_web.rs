//! What the web side of the real daemon does under hostile clients, and how it answers
//! malformed requests.
//!
//! - Thousands of connections that trickle header bytes or say nothing, against a daemon
//!   with a small open-file limit: connections over the cap are closed at once, the rest
//!   within the header timeout, and a check scheduled every second keeps running (no "Too
//!   many open files") all along. A stalled body is closed after the idle timeout.
//! - Every API error is JSON `{"error": …}` naming the field: bad query parameters, path
//!   segments, JSON bodies, oversized bodies, unknown routes and methods.

use crate::common::{LONG, wait_until};
use crate::common::{free_port, write_tree};
use serde_json::Value;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "tok-8Hq2-fault-Zx41";

/// A real daemon, started with `prlimit` when an open-file limit is given.
struct Daemon {
    child: Child,
    log: std::path::PathBuf,
    addr: SocketAddr,
}

impl Daemon {
    fn start(dir: &Path, nofile: Option<(u64, u64)>) -> Daemon {
        let log = dir.join("daemon.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = match nofile {
            Some((soft, hard)) => {
                let mut c = Command::new("prlimit");
                c.arg(format!("--nofile={soft}:{hard}"))
                    .arg("--")
                    .arg(env!("CARGO_BIN_EXE_patrol"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_patrol")),
        };
        let child = cmd
            .arg("--config")
            .arg(dir.join("patrol.yaml"))
            .args(["--log-format", "json", "daemon"])
            .env_remove("PATROL_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start patrol daemon");
        let text = || std::fs::read_to_string(&log).unwrap_or_default();
        let addr = wait_until("the web server's listening line", LONG, || {
            text().lines().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                v["fields"]["address"].as_str()?.parse().ok()
            })
        })
        .unwrap_or_else(|| panic!("no listening line; log:\n{}", text()));
        Daemon { child, log, addr }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let end = Instant::now() + Duration::from_secs(20);
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request over a fresh connection: (status, content type, body).
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String, String) {
    // A server out of file descriptors never accepts: fail, do not hang.
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{method} {path}: cannot connect: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).expect("write head");
    // The server may answer (413) before it has read a large body.
    let _ = s.write_all(body);
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let content_type = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-type")
                .then(|| v.trim().to_string())
        })
        .unwrap_or_default();
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, content_type, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        s = rest[n..].strip_prefix("\r\n").unwrap_or(&rest[n..]);
    }
    out
}

/// Runs of `id` recorded so far, oldest first, from the API.
fn runs(addr: SocketAddr, id: &str) -> Vec<Value> {
    let (status, _, body) = request(
        addr,
        "GET",
        &format!("/api/v1/checks/{id}/runs?per_page=500"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).expect("json");
    let mut runs = v["runs"].as_array().cloned().unwrap_or_default();
    runs.reverse();
    runs
}

/// The test process opens thousands of sockets itself.
fn raise_own_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    if soft < hard {
        let _ = setrlimit(Resource::RLIMIT_NOFILE, hard, hard);
    }
    getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit").0
}

/// One client connection of the flood.
struct Client {
    stream: Option<TcpStream>,
    opened: Instant,
    closed: Option<Instant>,
    trickle: bool,
}

impl Client {
    /// Whether the server has closed it (EOF, reset, or any answer: a 408 ends it too).
    fn poll(&mut self, now: Instant) {
        let Some(s) = self.stream.as_mut() else {
            return;
        };
        let mut buf = [0u8; 512];
        let gone = match s.read(&mut buf) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) if e.kind() == ErrorKind::WouldBlock => false,
            Err(_) => true,
        };
        let gone = gone
            || (self.trickle
                && matches!(s.write(b"X-Slow: 1\r\n"), Err(e) if e.kind() != ErrorKind::WouldBlock));
        if gone {
            self.closed = Some(now);
            self.stream = None;
        }
    }
}

#[test]
fn thousands_of_slow_and_idle_connections_do_not_stop_the_checks() {
    let own = raise_own_limit();
    let n: usize = 3000.min(usize::try_from(own.saturating_sub(300)).unwrap_or(3000));
    assert!(
        n >= 1500,
        "the test needs ~3000 sockets; open-file limit {own}"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                &format!(
                    "store: {{ path: patrol.db }}\n\
                     web:\n  listen: 127.0.0.1:{port}\n  max_connections: 5000\n  \
                     header_timeout: 2s\n  idle_timeout: 3s\n"
                ),
            ),
            (
                "checks/tick.yaml",
                // A probe that needs file descriptors: a process, pipes and a file.
                "id: tick\nschedule: every 1s\ntimeout: 5s\n\
                 probe: { command: { shell: \"cat /etc/hostname > /dev/null\", nagios: false } }\n",
            ),
        ],
    );
    // 512 open files at start; the daemon raises it to the hard limit of 1024, and then
    // serves at most 1024 / 4 connections.
    let d = Daemon::start(dir.path(), Some((512, 1024)));
    wait_until("the first run of tick", LONG, || {
        (!runs(d.addr, "tick").is_empty()).then_some(())
    })
    .expect("tick runs");
    assert!(
        d.log_text().contains("open-file limit raised"),
        "{}",
        d.log_text()
    );
    let before = runs(d.addr, "tick").len();
    let started = Instant::now();

    // The flood: every other connection trickles header lines, the others say nothing.
    let mut clients: Vec<Client> = Vec::with_capacity(n);
    let mut refused_connect = 0;
    for i in 0..n {
        match TcpStream::connect_timeout(&d.addr, Duration::from_secs(2)) {
            Ok(mut s) => {
                let trickle = i % 2 == 0;
                if trickle {
                    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n");
                }
                s.set_nonblocking(true).expect("nonblocking");
                clients.push(Client {
                    stream: Some(s),
                    opened: Instant::now(),
                    closed: None,
                    trickle,
                });
            }
            Err(_) => refused_connect += 1,
        }
        if i % 100 == 99 {
            // See promptly which ones the server closed at once.
            let now = Instant::now();
            for c in &mut clients {
                c.poll(now);
            }
        }
    }
    let opened_in = started.elapsed();

    // Keep trickling; note when each connection is closed.
    let header_timeout = Duration::from_secs(2);
    let deadline = Instant::now() + header_timeout + Duration::from_secs(10);
    while Instant::now() < deadline && clients.iter().any(|c| c.stream.is_some()) {
        let now = Instant::now();
        for c in &mut clients {
            c.poll(now);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let flood = started.elapsed();
    let still_open = clients.iter().filter(|c| c.stream.is_some()).count();
    let lifetimes: Vec<Duration> = clients
        .iter()
        .filter_map(|c| c.closed.map(|t| t - c.opened))
        .collect();
    let at_once = lifetimes
        .iter()
        .filter(|l| **l < Duration::from_millis(1500))
        .count();
    let longest = lifetimes.iter().max().copied().unwrap_or_default();
    drop(clients);

    // The checks kept their schedule: about one run a second, all of them OK.
    std::thread::sleep(Duration::from_secs(2));
    let all = runs(d.addr, "tick");
    let during: Vec<&Value> = all[before..].iter().collect();
    let failed: Vec<&Value> = during
        .iter()
        .copied()
        .filter(|r| r["status"] != "ok")
        .collect();
    let expected = (flood.as_secs_f64() + 2.0).floor() as usize;
    let (status, _, metrics) = request(d.addr, "GET", "/metrics", &[], b"");
    assert_eq!(status, 200);
    let metric = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
            .unwrap_or(-1.0)
    };
    let summary = format!(
        "{n} connections opened in {opened_in:?} ({refused_connect} not accepted by the kernel); \
         {at_once} closed at once, longest lived {longest:?}, {still_open} still open after \
         {flood:?}; tick ran {} times (expected ~{expected}), {} not ok: {:?}\nmetrics: max {} \
         refused {} timed out {}",
        during.len(),
        failed.len(),
        failed
            .iter()
            .map(|r| &r["summary"])
            .take(3)
            .collect::<Vec<_>>(),
        metric("patrol_web_connections_max"),
        metric("patrol_web_connections_refused_total"),
        metric("patrol_web_connections_timed_out_total"),
    );
    eprintln!("{summary}");
    assert_eq!(still_open, 0, "{summary}");
    assert!(
        longest <= header_timeout + Duration::from_secs(2),
        "a connection outlived the header timeout: {summary}"
    );
    // At most 1024 / 4 are served at a time; the others are closed at once, and every
    // served one is closed by a timeout.
    assert_eq!(metric("patrol_web_connections_max"), 256.0, "{summary}");
    let refused = metric("patrol_web_connections_refused_total");
    let timed_out = metric("patrol_web_connections_timed_out_total");
    assert!(refused >= (n / 2) as f64, "{summary}");
    assert!(at_once as f64 >= refused - 50.0, "{summary}");
    assert!(
        refused + timed_out >= (n - refused_connect) as f64,
        "{summary}"
    );
    assert!(
        failed.is_empty(),
        "checks failed during the flood: {summary}"
    );
    assert!(
        during.len() + 3 >= expected,
        "tick fell behind its schedule: {summary}"
    );
    assert!(!d.log_text().contains("Too many open files"), "{summary}");
    let (status, _, body) = request(d.addr, "GET", "/healthz", &[], b"");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn stalled_bodies_and_idle_keep_alive_connections_are_closed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                &format!(
                    "store: {{ path: patrol.db }}\n\
                     web:\n  listen: 127.0.0.1:{port}\n  pings_need_token: false\n  \
                     header_timeout: 2s\n  idle_timeout: 3s\n"
                ),
            ),
            (
                "checks/beat.yaml",
                "id: beat\nschedule: every 1h\nprobe: { heartbeat: { period: 1d } }\n",
            ),
        ],
    );
    let d = Daemon::start(dir.path(), None);

    // Headers complete, the body never comes: the idle timeout ends it.
    let mut stalled = TcpStream::connect(d.addr).expect("connect");
    stalled
        .write_all(b"POST /ping/beat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        .expect("write");
    // A request answered on a keep-alive connection, then silence: the header timeout.
    let mut kept = TcpStream::connect(d.addr).expect("connect");
    kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let t0 = Instant::now();
    let closed_after = |s: &mut TcpStream| -> Duration {
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return t0.elapsed(),
                Ok(_) => {}
            }
        }
    };
    let kept_for = closed_after(&mut kept);
    let stalled_for = closed_after(&mut stalled);
    assert!(
        kept_for >= Duration::from_millis(1500) && kept_for <= Duration::from_secs(5),
        "idle keep-alive connection closed after {kept_for:?}"
    );
    assert!(
        stalled_for >= Duration::from_millis(2500) && stalled_for <= Duration::from_secs(6),
        "stalled body closed after {stalled_for:?}"
    );
}

/// An API error: JSON `{"error": …}` whose `field` (and message) name what was wrong.
fn api_error(
    d: &Daemon,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Value) {
    let (status, content_type, text) = request(d.addr, method, path, headers, body);
    assert!(
        content_type.starts_with("application/json"),
        "{method} {path}: {status} {content_type:?} {text}"
    );
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
    assert!(v["error"].is_string(), "{method} {path}: {v}");
    (status, v)
}

#[test]
fn every_api_error_is_json_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                &format!(
                    "store: {{ path: patrol.db }}\n\
                     secrets:\n  token: {{ value: {TOKEN} }}\n\
                     web:\n  listen: 127.0.0.1:{port}\n  token: \"${{secret:token}}\"\n  \
                     pings_need_token: false\n"
                ),
            ),
            (
                "checks/c.yaml",
                "id: c\nschedule: every 1h\nprobe: { command: { argv: [\"true\"] } }\n---\n\
                 id: beat\nschedule: every 1h\nprobe: { heartbeat: { period: 1d } }\n",
            ),
        ],
    );
    let d = Daemon::start(dir.path(), None);
    let auth = format!("Bearer {TOKEN}");
    let auth = [("Authorization", auth.as_str())];
    let json_body = [("Content-Type", "application/json")];

    let cases: Vec<(&str, String, Vec<(&str, &str)>, Vec<u8>, u16, &str)> = vec![
        (
            "GET",
            "/api/v1/checks/c/runs?per_page=abc".into(),
            vec![],
            vec![],
            400,
            "per_page",
        ),
        (
            "GET",
            "/api/v1/checks/c/runs?page=-1".into(),
            vec![],
            vec![],
            400,
            "page",
        ),
        (
            "GET",
            "/api/v1/alerts?limit=lots".into(),
            vec![],
            vec![],
            400,
            "limit",
        ),
        (
            "GET",
            "/api/v1/alerts?since=yesterday".into(),
            vec![],
            vec![],
            400,
            "since",
        ),
        (
            "GET",
            "/api/v1/silences?all=maybe".into(),
            vec![],
            vec![],
            400,
            "all",
        ),
        (
            "DELETE",
            "/api/v1/silences/..%2F1".into(),
            auth.to_vec(),
            vec![],
            400,
            "id",
        ),
        (
            "POST",
            "/api/v1/silences".into(),
            [auth.to_vec(), json_body.to_vec()].concat(),
            b"{not json".to_vec(),
            400,
            "body",
        ),
        (
            "POST",
            "/api/v1/silences".into(),
            [auth.to_vec(), json_body.to_vec()].concat(),
            br#"{"check": "c", "for": 5, "reason": "x"}"#.to_vec(),
            400,
            "for",
        ),
        (
            "POST",
            "/api/v1/silences".into(),
            [auth.to_vec(), json_body.to_vec()].concat(),
            br#"{"check": "c", "for": "1h"}"#.to_vec(),
            400,
            "reason",
        ),
        (
            "POST",
            "/ping/beat".into(),
            vec![],
            vec![b'x'; 2 << 20],
            413,
            "body",
        ),
    ];
    for (method, path, headers, body, want_status, field) in &cases {
        let (status, v) = api_error(&d, method, path, headers, body);
        assert_eq!(status, *want_status, "{method} {path}: {v}");
        assert_eq!(v["field"], *field, "{method} {path}: {v}");
        let msg = v["error"].as_str().unwrap_or_default();
        assert!(
            msg.contains(field),
            "{method} {path}: the message names {field}: {v}"
        );
        assert!(
            !msg.contains("Failed to") && !msg.contains("Cannot parse"),
            "{method} {path}: {v}"
        );
    }
    // Unknown routes and methods.
    let (status, v) = api_error(&d, "GET", "/api/v1/nope", &[], b"");
    assert_eq!(status, 404, "{v}");
    let (status, v) = api_error(&d, "PUT", "/api/v1/checks", &[], b"");
    assert_eq!(status, 405, "{v}");
    // A good request still works.
    let (status, _, body) = request(
        d.addr,
        "POST",
        "/api/v1/silences",
        &[auth.to_vec(), json_body.to_vec()].concat(),
        br#"{"check": "c", "for": "1h", "reason": "maintenance"}"#,
    );
    assert_eq!(status, 201, "{body}");
}
