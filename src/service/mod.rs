//! Running as a system service: the sd_notify protocol ([`notify`]), the self-heartbeat
//! ([`heartbeat`]) and the daemon's own figures for the report ([`stats`]).
//!
//! The daemon loop holds one [`Service`] and calls it at a few points: after the
//! configuration loaded and the store opened ([`Service::ready`]), from every turn of the
//! scheduler loop's watchdog timer ([`Service::watchdog`]), when a cycle starts its due checks
//! and when each of them finishes ([`Service::cycle_started`], [`Service::run_finished`]),
//! when a fire time passes without a run ([`Service::missed`]) and on shutdown
//! ([`Service::stopping`]). Nothing here blocks the loop for longer than a small SQLite write.

pub mod heartbeat;
pub mod notify;
pub mod stats;

use crate::app::App;
use crate::config::Check;
use crate::status::Status;
use crate::store::Store;
use chrono::{DateTime, SecondsFormat, Utc};
use heartbeat::{Beat, Heartbeats};
use notify::Notifier;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::Id;

/// Raises the soft limit of open files to the hard limit, so that connections, probes and
/// the store do not run out of descriptors at the distribution's small default (often 1024).
/// Returns the limits before and after when it changed anything.
pub fn raise_open_file_limit() -> Result<Option<(u64, u64)>, nix::Error> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft >= hard {
        return Ok(None);
    }
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    Ok(Some((soft, hard)))
}

/// The soft limit of open files now (1024 when it cannot be read).
pub fn open_file_limit() -> u64 {
    nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .map(|(soft, _)| soft)
        .unwrap_or(1024)
}

/// Due checks started together, waiting for all of them to finish.
#[derive(Debug)]
struct Cycle {
    due: DateTime<Utc>,
    pending: HashSet<Id>,
    checks: usize,
    not_ok: usize,
}

/// The daemon's side of being a service.
pub struct Service {
    notifier: Notifier,
    heartbeats: Heartbeats,
    store: Arc<Store>,
    started_at: DateTime<Utc>,
    runs: u64,
    missed: u64,
    cycles: Vec<Cycle>,
    last_cycle: Option<(DateTime<Utc>, usize)>,
    host: String,
}

impl Service {
    /// Records the daemon's start in the store and starts the heartbeat sender.
    pub fn start(store: Arc<Store>, app: watch::Receiver<Arc<App>>) -> Service {
        let started_at = Utc::now();
        if let Err(e) = stats::record_start(&store, started_at) {
            tracing::warn!("cannot record the daemon start in the store: {e}");
        }
        Service {
            notifier: Notifier::from_env(),
            heartbeats: Heartbeats::start(app),
            store,
            started_at,
            runs: 0,
            missed: 0,
            cycles: Vec::new(),
            last_cycle: None,
            host: sysinfo::System::host_name()
                .ok()
                .unwrap_or_else(|| "unknown".into()),
        }
    }

    /// READY=1: configuration loaded, store open, checks scheduled.
    pub fn ready(&self, scheduled: usize, next: Option<DateTime<Utc>>) {
        if self.notifier.enabled() {
            tracing::info!("notifying the service manager: ready");
        }
        self.notifier.ready(&self.status_line(scheduled, 0, next));
    }

    /// A timer for the scheduler loop's watchdog pings (hourly and harmless when off).
    pub fn watchdog_timer(&self) -> tokio::time::Interval {
        let period = self
            .notifier
            .watchdog_interval()
            .unwrap_or(Duration::from_secs(3600));
        let mut t = tokio::time::interval(period);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    }

    /// WATCHDOG=1, from the scheduler loop.
    pub fn watchdog(&self) {
        self.notifier.watchdog();
    }

    /// STATUS=: a one-line summary for `systemctl status`.
    pub fn status(&self, scheduled: usize, running: usize, next: Option<DateTime<Utc>>) {
        self.notifier
            .status(&self.status_line(scheduled, running, next));
    }

    fn status_line(&self, scheduled: usize, running: usize, next: Option<DateTime<Utc>>) -> String {
        let hm = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
        let checks = if scheduled == 1 { "check" } else { "checks" };
        let mut s = format!(
            "{scheduled} {checks} scheduled, {running} running; {} runs, {} missed since {}",
            self.runs,
            self.missed,
            hm(self.started_at)
        );
        if let Some((at, n)) = self.last_cycle {
            s.push_str(&format!("; last cycle {} ran {n}", hm(at)));
        }
        if let Some(n) = next {
            s.push_str(&format!("; next {}", hm(n)));
        }
        s
    }

    /// A scheduler cycle started these runs (task id, due time).
    pub fn cycle_started(&mut self, runs: Vec<(Id, DateTime<Utc>)>) {
        let Some(due) = runs.iter().map(|(_, d)| *d).max() else {
            return;
        };
        self.cycles.push(Cycle {
            due,
            checks: runs.len(),
            pending: runs.into_iter().map(|(id, _)| id).collect(),
            not_ok: 0,
        });
    }

    /// A run task of the daemon ended. When it was the last of its cycle, the heartbeat is
    /// queued.
    pub fn run_finished(&mut self, task: Id, check_id: &str) {
        self.runs += 1;
        let Some(i) = self.cycles.iter().position(|c| c.pending.contains(&task)) else {
            return;
        };
        let bad = match self.store.check_state(check_id) {
            Ok(Some(s)) => s.status != Status::Ok,
            _ => true,
        };
        let cycle = &mut self.cycles[i];
        cycle.pending.remove(&task);
        cycle.not_ok += usize::from(bad);
        if !cycle.pending.is_empty() {
            return;
        }
        let cycle = self.cycles.remove(i);
        let now = Utc::now();
        self.last_cycle = Some((cycle.due, cycle.checks));
        self.heartbeats.beat(Beat {
            service: "patrol",
            host: self.host.clone(),
            due: cycle.due,
            finished_at: now,
            checks: cycle.checks,
            not_ok: cycle.not_ok,
            daemon_started_at: self.started_at,
        });
    }

    /// `n` fire times passed without a run (the caller has logged why).
    pub fn missed(&mut self, n: u64) {
        if n == 0 {
            return;
        }
        self.missed += n;
        if let Err(e) = stats::record_missed(&self.store, self.missed) {
            tracing::warn!("cannot record the missed-run count: {e}");
        }
    }

    /// The scheduler took `check`'s fire time `due` at `now`: the fire times in between
    /// (a suspended machine, a clock step, a blocked loop) are not run.
    pub fn passed_over(&mut self, check: &Check, due: DateTime<Utc>, now: DateTime<Utc>) {
        let n = stats::fire_times_between(&check.def.schedule, &check.zone, due, now);
        if n > 0 {
            tracing::warn!(check = %check.id, due = %due, passed_over = n, "the daemon fell behind: running once, not once per passed fire time");
            self.missed(n);
        }
    }

    /// At start-up: the fire times of `check` that passed while the daemon was down, less the
    /// catch-up run if one was started.
    pub fn missed_while_down(&mut self, check: &Check, now: DateTime<Utc>, caught_up: bool) {
        let last = match self.store.last_scheduled_at(&check.id) {
            Ok(Some(t)) => t,
            // Never ran on schedule: nothing was expected of it yet.
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(check = %check.id, "cannot read the last scheduled run: {e}");
                return;
            }
        };
        let passed = stats::fire_times_between(&check.def.schedule, &check.zone, last, now);
        let n = passed.saturating_sub(u64::from(caught_up));
        if n > 0 {
            tracing::info!(check = %check.id, missed = n, "runs missed while the daemon was down");
            self.missed(n);
        }
    }

    /// STOPPING=1 and the stop time in the store.
    pub fn stopping(&self, running: usize) {
        self.notifier
            .stopping(&format!("stopping: waiting for {running} running checks"));
        if let Err(e) = stats::record_stop(&self.store, Utc::now()) {
            tracing::warn!("cannot record the daemon stop in the store: {e}");
        }
    }
}
