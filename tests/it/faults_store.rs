//! The real daemon against a store it cannot write, as an unprivileged user (root would
//! write through the permissions): a read-only database file, a read-only `-shm` left by an
//! earlier run, a read-only folder at start. The daemon keeps running its checks, keeps
//! the results and their notifications in memory, says so on `/healthz`, `/metrics` and the
//! page, and writes everything once the permissions are fixed.

use crate::common::web_daemon::http_get;
use crate::common::{LONG, free_port, wait_until, write_tree};
use serde_json::Value;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Who the daemon runs as: `nobody` when the tests run as root, else the test's own user.
fn unprivileged() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    let root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    root.then_some(65534)
}

/// `patrol ARGS` as the unprivileged user.
fn patrol_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = match unprivileged() {
        Some(id) => {
            let mut c = Command::new("setpriv");
            c.arg(format!("--reuid={id}"))
                .arg(format!("--regid={id}"))
                .arg("--clear-groups")
                .arg("--")
                .arg(env!("CARGO_BIN_EXE_patrol"));
            c
        }
        None => Command::new(env!("CARGO_BIN_EXE_patrol")),
    };
    cmd.arg("--config")
        .arg(dir.join("patrol.yaml"))
        .args(args)
        .current_dir(dir)
        .env_remove("PATROL_LOG");
    cmd
}

/// Hands `dir` (and everything in it) to the unprivileged user.
fn hand_over(dir: &Path) {
    let Some(id) = unprivileged() else {
        return;
    };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        std::os::unix::fs::chown(&p, Some(id), Some(id)).expect("chown");
        if p.is_dir() {
            for e in std::fs::read_dir(&p).expect("read dir").flatten() {
                stack.push(e.path());
            }
        }
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

struct Daemon {
    child: Child,
    log: std::path::PathBuf,
    base: String,
}

impl Daemon {
    fn start(dir: &Path, port: u16) -> Daemon {
        static STARTED: AtomicUsize = AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, Ordering::Relaxed);
        let log = dir.join(format!("daemon-{n}.log"));
        let file = std::fs::File::create(&log).expect("log");
        let child = patrol_cmd(dir, &["--log-format", "json", "daemon"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start daemon");
        let d = Daemon {
            child,
            log,
            base: format!("http://127.0.0.1:{port}"),
        };
        wait_until("the web server", LONG, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .unwrap_or_else(|| panic!("daemon did not start; log:\n{}", d.log_text()));
        d
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// "run finished" lines of `check` in the log.
    fn runs_logged(&self, check: &str) -> usize {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["fields"]["message"] == "run finished" && v["fields"]["check"] == check)
            .count()
    }

    fn health(&self) -> (u16, Value) {
        let (status, body) = http_get(&format!("{}/healthz", self.base));
        (status, serde_json::from_str(&body).unwrap_or(Value::Null))
    }

    fn get(&self, path: &str) -> String {
        http_get(&format!("{}{path}", self.base)).1
    }

    /// Runs of `check` the store holds (through the daemon's own API).
    fn stored_runs(&self, check: &str) -> u64 {
        let v: Value =
            serde_json::from_str(&self.get(&format!("/api/v1/checks/{check}/runs?per_page=1")))
                .unwrap_or(Value::Null);
        v["total"].as_u64().unwrap_or(0)
    }

    fn metric(&self, name: &str) -> Option<f64> {
        self.get("/metrics")
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
    }

    fn stop(&mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        wait_until("the daemon to stop", LONG, || {
            self.child.try_wait().ok().flatten()
        })
        .unwrap_or_else(|| panic!("daemon did not stop; log:\n{}", self.log_text()));
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill();
        }
    }
}

/// A webhook receiver: the bodies it was sent.
fn receiver() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = got.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            let (head_end, length) = loop {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break (0, 0),
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
                if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..i]).to_ascii_lowercase();
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:")?.trim().parse().ok())
                        .unwrap_or(0);
                    break (i + 4, length);
                }
            };
            while head_end > 0 && buf.len() < head_end + length {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            seen.lock()
                .expect("lock")
                .push(String::from_utf8_lossy(&buf[head_end.min(buf.len())..]).into_owned());
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, got)
}

fn setup(dir: &Path, store: &str, web: u16, hook: u16) {
    write_tree(
        dir,
        &[
            (
                "patrol.yaml",
                &format!(
                    "store: {{ path: {store} }}\ngroup_window: 0s\n\
                     delivery: {{ first_backoff: 1s, max_backoff: 2s }}\n\
                     web: {{ listen: 127.0.0.1:{web} }}\n\
                     alerting: {{ channels: [hook], flapping: {{ enabled: false }} }}\n\
                     channels:\n  hook:\n    webhook: {{ url: http://127.0.0.1:{hook}/hook }}\n"
                ),
            ),
            (
                "checks/c.yaml",
                "id: tick\nschedule: every 1s\nprobe: { command: { argv: [\"true\"] } }\n---\n\
                 id: flag\nschedule: every 1s\n\
                 probe: { command: { shell: \"test ! -e flag\", nagios: false } }\n",
            ),
        ],
    );
    chmod(dir, 0o755);
    hand_over(dir);
}

/// Waits for `/healthz` to say the store cannot be written; returns its store part.
fn wait_fault(d: &Daemon) -> Value {
    wait_until("/healthz to report the store fault", LONG, || {
        let (status, v) = d.health();
        (status == 503 && v["store"]["ok"] == false && v["store"]["queued"].as_u64()? >= 2)
            .then(|| v["store"].clone())
    })
    .unwrap_or_else(|| {
        panic!(
            "no store fault reported: {:?}\nlog:\n{}",
            d.health(),
            d.log_text()
        )
    })
}

fn wait_healthy(d: &Daemon) {
    wait_until("/healthz to be ok again", LONG, || {
        (d.health().0 == 200).then_some(())
    })
    .unwrap_or_else(|| {
        panic!(
            "never healthy again: {:?}\nlog:\n{}",
            d.health(),
            d.log_text()
        )
    });
}

#[test]
fn a_read_only_database_keeps_results_and_alerts_in_memory_until_it_is_writable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d_path = dir.path();
    let (hook, got) = receiver();
    let web = free_port();
    setup(d_path, "patrol.db", web, hook);
    // The store exists (created by the daemon's user), then becomes read-only.
    let made = patrol_cmd(d_path, &["run", "tick"]).output().expect("run");
    assert!(made.status.success(), "{}", crate::common::stderr(&made));
    let db = d_path.join("patrol.db");
    chmod(&db, 0o444);

    let mut d = Daemon::start(d_path, web);
    let store = wait_fault(&d);
    assert!(
        store["error"].as_str().unwrap_or("").contains("readonly"),
        "{store}"
    );
    assert_eq!(d.metric("patrol_store_writable"), Some(0.0));
    assert!(d.metric("patrol_store_queued_results").unwrap_or(0.0) >= 2.0);
    let page = d.get("/");
    assert!(page.contains("The store cannot be written"), "{page}");
    // The flag check turns bad during the fault: its alert waits with its run.
    std::fs::write(d_path.join("flag"), "x").expect("flag");
    wait_until("the flag check to fail", LONG, || {
        d.log_text()
            .lines()
            .any(|l| l.contains("\"check\":\"flag\"") && l.contains("CRITICAL"))
            .then_some(())
    })
    .expect("flag failed");
    // The next run sees the queued state: the alert fired once, not on every run.
    std::thread::sleep(Duration::from_secs(2));
    let before_fix = d.runs_logged("tick");
    assert!(before_fix >= 3, "checks kept running: {before_fix}");
    assert!(
        got.lock().expect("lock").is_empty(),
        "nothing is sent that the store could not record"
    );

    chmod(&db, 0o644);
    wait_healthy(&d);
    assert_eq!(d.metric("patrol_store_writable"), Some(1.0));
    assert!(!d.get("/").contains("The store cannot be written"));
    // Everything that ran during the fault is stored (plus the run that made the store).
    let stored = d.stored_runs("tick");
    assert!(
        stored as usize > before_fix,
        "{stored} runs stored, {before_fix} ran before the fix; log:\n{}",
        d.log_text()
    );
    // The alert queued during the fault is delivered, once.
    wait_until("the queued alert to be delivered", LONG, || {
        let bodies = got.lock().expect("lock").clone();
        bodies
            .iter()
            .any(|b| b.contains("\"flag\"") && b.contains("firing"))
            .then_some(())
    })
    .unwrap_or_else(|| panic!("no alert delivered; log:\n{}", d.log_text()));
    std::thread::sleep(Duration::from_secs(3));
    let firings = got
        .lock()
        .expect("lock")
        .iter()
        .filter(|b| b.contains("\"flag\"") && b.contains("firing"))
        .count();
    assert_eq!(firings, 1, "one firing for one incident");
    d.stop();
}

#[test]
fn a_read_only_shm_left_behind_does_not_block_the_next_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d_path = dir.path();
    let web = free_port();
    setup(d_path, "patrol.db", web, free_port());
    // A daemon killed with its WAL files in place.
    let mut first = Daemon::start(d_path, web);
    wait_until("runs", LONG, || {
        (first.stored_runs("tick") >= 2).then_some(())
    })
    .expect("first daemon ran");
    first.kill();
    let shm = d_path.join("patrol.db-shm");
    assert!(shm.exists(), "the killed daemon left its -shm");
    chmod(&shm, 0o444);

    let d = Daemon::start(d_path, web);
    wait_healthy(&d);
    let start = d.stored_runs("tick");
    wait_until("new runs stored", LONG, || {
        (d.stored_runs("tick") >= start + 3).then_some(())
    })
    .unwrap_or_else(|| panic!("no runs stored; log:\n{}", d.log_text()));
    assert_eq!(d.health().0, 200, "{:?}", d.health());
}

#[test]
fn a_read_only_folder_at_start_still_runs_checks_and_fills_the_store_later() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d_path = dir.path();
    let web = free_port();
    std::fs::create_dir_all(d_path.join("data")).expect("mkdir");
    setup(d_path, "data/patrol.db", web, free_port());
    chmod(&d_path.join("data"), 0o555);

    let d = Daemon::start(d_path, web);
    let store = wait_fault(&d);
    assert!(!store["error"].as_str().unwrap_or("").is_empty(), "{store}");
    wait_until("checks to run without a store", LONG, || {
        (d.runs_logged("tick") >= 3).then_some(())
    })
    .unwrap_or_else(|| panic!("no runs; log:\n{}", d.log_text()));
    assert!(!d_path.join("data/patrol.db").exists());
    let ran = d.runs_logged("tick");

    chmod(&d_path.join("data"), 0o755);
    wait_healthy(&d);
    let stored = d.stored_runs("tick");
    assert!(
        stored as usize >= ran,
        "{stored} runs stored, {ran} ran before; log:\n{}",
        d.log_text()
    );
}
