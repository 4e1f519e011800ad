//! A real `patrol daemon` with its web server on a free port, for tests/web.rs and
//! tests/browser.rs. The daemon logs JSON; the address comes from its "listening" line.
#![allow(dead_code)]

use super::daemon::{Daemon, Opts};
use super::{LONG, wait_until};
use serde_json::Value;
use std::path::Path;

/// A daemon whose web server is up, and its address.
pub struct WebDaemon {
    pub daemon: Daemon,
    /// `http://127.0.0.1:PORT`
    pub base: String,
}

impl WebDaemon {
    /// Starts `patrol daemon` on `dir/patrol.yaml` and waits for its web server.
    pub fn start(dir: &Path) -> WebDaemon {
        let daemon = Daemon::start(
            &dir.join("patrol.yaml"),
            Opts {
                json: true,
                ..Opts::default()
            },
        );
        let addr = wait_until("the web server's listening line", LONG, || {
            daemon
                .logs()
                .iter()
                .find_map(|v| v["fields"]["address"].as_str().map(str::to_string))
        })
        .unwrap_or_else(|| panic!("no listening line; log:\n{}", daemon.log_text()));
        WebDaemon {
            daemon,
            base: format!("http://{addr}"),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn log_text(&self) -> String {
        self.daemon.log_text()
    }

    /// SIGTERM and wait.
    pub fn stop(&mut self) {
        self.daemon.stop();
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
    (open, open_port, super::closed_port())
}
