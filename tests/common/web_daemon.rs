//! A real `patrol daemon` with its web server on a free port, for tests/web.rs and
//! tests/browser.rs. The daemon logs JSON; the address comes from its "listening" line.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const LONG: Duration = Duration::from_secs(60);

pub struct WebDaemon {
    child: Child,
    pub log: PathBuf,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl WebDaemon {
    /// Starts `patrol daemon` on `dir/patrol.yaml` and waits for its web server.
    pub fn start(dir: &Path) -> WebDaemon {
        let log = dir.join("daemon.log");
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_patrol"))
            .arg("--config")
            .arg(dir.join("patrol.yaml"))
            .args(["--log-format", "json", "daemon"])
            .env_remove("PATROL_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start patrol daemon");
        let mut d = WebDaemon {
            child,
            log,
            base: String::new(),
        };
        let addr = wait_until("the web server's listening line", LONG, || {
            d.log_text().lines().find_map(|l| {
                let v: Value = serde_json::from_str(l).ok()?;
                v["fields"]["address"].as_str().map(str::to_string)
            })
        })
        .unwrap_or_else(|| panic!("no listening line; log:\n{}", d.log_text()));
        d.base = format!("http://{addr}");
        d
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let end = Instant::now() + LONG;
        while Instant::now() < end {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("daemon did not stop; log:\n{}", self.log_text());
    }
}

impl Drop for WebDaemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `f` every 100 ms until it returns `Some`, or gives up after `within`.
pub fn wait_until<T>(what: &str, within: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + within;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            eprintln!("gave up waiting for {what}");
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain HTTP/1.1 GET with std only (no client library between the test and the server),
/// returning (status, body).
pub fn http_get(url: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("http url");
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mut s = std::net::TcpStream::connect(host).expect("connect");
    s.set_read_timeout(Some(LONG)).expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
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
        .expect("status code");
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_string()
    };
    (status, body)
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n..];
        s = s.strip_prefix("\r\n").unwrap_or(s);
    }
    out
}

/// GET a JSON document.
pub fn get_json(url: &str) -> Value {
    let (status, body) = http_get(url);
    assert_eq!(status, 200, "GET {url}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {url}: not JSON ({e}): {body}"))
}

/// The check in `/api/v1/checks` with this id.
pub fn check(d: &WebDaemon, id: &str) -> Value {
    get_json(&d.url("/api/v1/checks"))["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no check {id}"))
}

/// Waits until every check in `ids` has at least `n` runs.
pub fn wait_runs(d: &WebDaemon, ids: &[&str], n: u64) {
    for id in ids {
        wait_until(&format!("{n} runs of {id}"), LONG, || {
            let v = get_json(&d.url(&format!("/api/v1/checks/{id}/runs?per_page=1")));
            (v["total"].as_u64().unwrap_or(0) >= n).then_some(())
        })
        .unwrap_or_else(|| panic!("{id} did not run {n} times; log:\n{}", d.log_text()));
    }
}

/// A port that accepts (the listener, held by the caller) and one that refuses:
/// (listener, open port, closed port).
pub fn ports() -> (std::net::TcpListener, u16, u16) {
    let open = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let open_port = open.local_addr().expect("addr").port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    (open, open_port, closed_port)
}
