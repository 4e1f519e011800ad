//! Making sure a program patrol runs (a command probe, a command log collector) leaves
//! nothing running behind it.
//!
//! Such a program runs in a process group of its own, and the whole group is killed when it
//! ends or times out. A descendant that left the group — `setsid`, a daemon's double fork —
//! escapes that. So every program is started with a marker in its environment
//! ([`RunMarker`]), which its descendants inherit wherever they move; when the program is
//! done, every process still carrying the marker is killed, until none is left. (A process
//! that both leaves the group and replaces its whole environment cannot be told from any
//! other process of the same user; it is the one case this cannot find.)

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use std::ffi::OsString;
use std::sync::atomic::{AtomicU64, Ordering};

/// The environment variable that marks a program's processes.
pub const MARKER_VAR: &str = "PATROL_RUN_MARKER";

/// How many times the process table is searched for leftovers: a process may fork while it
/// is being killed, and its child shows up in the next search.
const SWEEPS: usize = 10;

/// A unique marker for one program run.
#[derive(Debug, Clone)]
pub struct RunMarker {
    value: String,
    /// `MARKER_VAR=value` followed by the NUL that ends an entry of `/proc/PID/environ`.
    needle: Vec<u8>,
}

impl RunMarker {
    pub fn new() -> RunMarker {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let value = format!("{}-{n}-{nanos:x}", std::process::id());
        let mut needle = format!("{MARKER_VAR}={value}").into_bytes();
        needle.push(0);
        RunMarker { value, needle }
    }

    /// The (name, value) to set in the program's environment.
    pub fn env(&self) -> (&'static str, OsString) {
        (MARKER_VAR, OsString::from(&self.value))
    }

    /// Kills the process group `pgid` (when given) and every process carrying this marker;
    /// returns how many marked processes were found.
    pub fn kill_all(&self, pgid: Option<Pid>) -> usize {
        if let Some(pgid) = pgid {
            // ESRCH (nobody left in the group) is the normal case after a clean exit.
            let _ = killpg(pgid, Signal::SIGKILL);
        }
        let mut found = 0;
        for _ in 0..SWEEPS {
            let marked = self.processes();
            if marked.is_empty() {
                break;
            }
            for pid in &marked {
                let _ = kill(*pid, Signal::SIGKILL);
            }
            found += marked.len();
        }
        found
    }

    /// The live processes (of this user: others cannot be read) carrying the marker.
    fn processes(&self) -> Vec<Pid> {
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return Vec::new();
        };
        let me = std::process::id();
        entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| *pid != me)
            .filter(|pid| {
                // A zombie's environment reads empty: it is dead already.
                std::fs::read(format!("/proc/{pid}/environ"))
                    .map(|env| env.split_inclusive(|b| *b == 0).any(|e| e == self.needle))
                    .unwrap_or(false)
            })
            .filter_map(|pid| i32::try_from(pid).ok().map(Pid::from_raw))
            .collect()
    }
}

impl Default for RunMarker {
    fn default() -> Self {
        RunMarker::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kills_a_marked_process_that_left_its_group() {
        let marker = RunMarker::new();
        let (k, v) = marker.env();
        let mut child = std::process::Command::new("setsid")
            .args(["sleep", "30"])
            .env(k, v)
            .spawn()
            .expect("setsid sleep");
        // `setsid` execs sleep in place (not a group leader) or forks; either way the sleep
        // carries the marker. Wait until it is visible.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while marker.processes().is_empty() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(marker.kill_all(None) >= 1);
        let _ = child.wait();
        assert!(marker.processes().is_empty());
    }
}
