//! A real `patrol daemon` as a child process: its log goes to a file beside the config, it
//! stops on real signals, and it is killed when dropped so a failing test leaves none behind.
#![allow(dead_code)]

use super::{LONG, wait_until};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How to start the daemon.
#[derive(Default, Clone, Copy)]
pub struct Opts<'a> {
    /// `--log-format json`, for tests that read log fields.
    pub json: bool,
    /// Arguments after `daemon` (`--no-watch`...).
    pub args: &'a [&'a str],
    /// Environment set for the daemon (everything else is inherited, less the variables
    /// below that would change how it logs or make it talk to a real service manager).
    pub env: &'a [(&'a str, &'a str)],
}

/// A running `patrol daemon`.
pub struct Daemon {
    child: Child,
    /// Its stderr: `daemon-N.log` beside the config, N counting the daemons started there.
    pub log: PathBuf,
}

impl Daemon {
    /// Starts `patrol --config CONFIG daemon` with `opts`.
    pub fn start(config: &Path, opts: Opts) -> Daemon {
        let dir = config.parent().expect("config folder");
        let n = std::fs::read_dir(dir)
            .expect("read dir")
            .filter(|e| {
                e.as_ref()
                    .map(|e| e.file_name().to_string_lossy().starts_with("daemon-"))
                    .unwrap_or(false)
            })
            .count();
        let log = dir.join(format!("daemon-{n}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_patrol"));
        cmd.arg("--config").arg(config);
        if opts.json {
            cmd.args(["--log-format", "json"]);
        }
        cmd.arg("daemon")
            .args(opts.args)
            .env_remove("PATROL_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .envs(opts.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file);
        Daemon {
            child: cmd.spawn().expect("start patrol daemon"),
            log,
        }
    }

    pub fn signal(&self, sig: Signal) {
        kill(Pid::from_raw(self.child.id() as i32), sig).expect("send signal");
    }

    /// Waits for the process to end.
    pub fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let end = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status;
            }
            assert!(
                Instant::now() < end,
                "daemon did not exit within {within:?}; log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, and wait for the exit.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(Signal::SIGTERM);
        self.wait_exit(LONG)
    }

    /// SIGKILL, and reap it.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        let _ = self.child.wait();
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines so far (with `json: true`).
    pub fn logs(&self) -> Vec<Value> {
        self.log_text()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Log lines whose level is `level` and whose message contains `text`.
    pub fn find(&self, level: &str, text: &str) -> Vec<Value> {
        self.logs()
            .into_iter()
            .filter(|l| l["level"] == level && message(l).contains(text))
            .collect()
    }

    pub fn wait_log(&self, level: &str, text: &str) -> Value {
        wait_until(&format!("a {level} log line with {text:?}"), LONG, || {
            self.find(level, text).into_iter().next()
        })
        .unwrap_or_else(|| panic!("log:\n{}", self.log_text()))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A JSON log line's message.
pub fn message(line: &Value) -> String {
    line["fields"]["message"].as_str().unwrap_or("").to_string()
}
