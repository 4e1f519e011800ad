//! The daemon: when each check runs.
//!
//! Every check's next fire time is computed here with [`ScheduleExpr::next_after`] in the
//! check's own time zone (see the DST section of [`crate::config::schedule_expr`]), kept in a
//! timer queue ([`plan`]), and slept towards with `tokio::time::sleep_until` (in steps of at
//! most a minute, re-reading the wall clock, so a clock step or a suspended machine does not
//! leave the daemon asleep). A run goes through a global semaphore (`concurrency`) and never
//! overlaps a run of the same check: an occurrence due while the previous run is still going
//! is skipped, counted and logged at WARN.
//!
//! Why checks are not tokio-cron-scheduler jobs: its time-zone jobs freeze the UTC offset
//! when they are created, so after a DST change they fire an hour off (upstream issues #87,
//! #107); it lets a job overlap itself; and it knows nothing of runs missed while the process
//! was down. tokio-cron-scheduler does the daemon's housekeeping instead (hourly store
//! retention, in UTC, where none of that matters): see [`housekeeping`].
//!
//! Misfire: at start-up, a check with `misfire: run_once` whose latest due time is after its
//! latest stored scheduled run is run once ([`missed_run`]), with trigger `misfire`.
//!
//! Reload (SIGHUP, or a changed config/check/rule file when watching, debounced 500 ms): the
//! new configuration replaces the old one only when it loads without any problem; otherwise
//! every problem is logged at ERROR (file:line:col) and the old configuration keeps running.
//!
//! Shutdown (SIGTERM/SIGINT): no new runs start; running ones get `shutdown_grace` to finish
//! and store their results. Runs still going after that are cancelled and stored as UNKNOWN
//! "interrupted by shutdown" (fact `interrupted_by_shutdown: true`), so the history shows
//! that they were cut off; at the next start a `misfire: run_once` check whose latest run
//! was cut off this way counts it as missed and runs once more.

mod daemon;
mod housekeeping;
mod misfire;
mod plan;
mod reload;
mod report;

pub use misfire::missed_run;
pub use plan::Plan;

use crate::config::ScheduleExpr;
use crate::store::StoreError;
use std::path::PathBuf;
use tokio::sync::mpsc;

/// How `patrol daemon` was started.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The root config file.
    pub config_path: PathBuf,
    /// Watch the config, check and rule files and reload on change (SIGHUP always reloads).
    pub watch: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("configuration unusable:\n{0}")]
    Config(String),
    #[error("cannot open the store {path}: {source}")]
    Store {
        path: PathBuf,
        #[source]
        source: StoreError,
    },
    #[error("{0}")]
    Other(String),
}

/// What a [`DaemonHandle`] asks of the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Reload,
    Shutdown,
}

/// Asks a running daemon to reload or to stop (signals do the same).
#[derive(Debug, Clone)]
pub struct DaemonHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl DaemonHandle {
    /// Reload the configuration, as SIGHUP does.
    pub fn reload(&self) {
        let _ = self.tx.send(Command::Reload);
    }
    /// Stop, as SIGTERM does: no new runs, running ones get `shutdown_grace`. A second call
    /// during the grace period cancels the running checks at once.
    pub fn shutdown(&self) {
        let _ = self.tx.send(Command::Shutdown);
    }
}

/// The receiving side of a [`DaemonHandle`], given to [`run_daemon_with`]. When every handle
/// is dropped, the daemon shuts down.
#[derive(Debug)]
pub struct DaemonControl {
    rx: mpsc::UnboundedReceiver<Command>,
}

/// A handle and the control it drives.
pub fn daemon_control() -> (DaemonHandle, DaemonControl) {
    let (tx, rx) = mpsc::unbounded_channel();
    (DaemonHandle { tx }, DaemonControl { rx })
}

/// Runs until SIGTERM/SIGINT; SIGHUP reloads.
pub async fn run_daemon(opts: DaemonOptions) -> Result<(), DaemonError> {
    use tokio::signal::unix::{SignalKind, signal};
    let sig = |kind: SignalKind, name: &str| {
        signal(kind).map_err(|e| DaemonError::Other(format!("cannot handle {name}: {e}")))
    };
    let mut term = sig(SignalKind::terminate(), "SIGTERM")?;
    let mut int = sig(SignalKind::interrupt(), "SIGINT")?;
    let mut hup = sig(SignalKind::hangup(), "SIGHUP")?;
    let (handle, control) = daemon_control();
    let signals = tokio::spawn(async move {
        loop {
            tokio::select! {
                Some(()) = term.recv() => {
                    tracing::info!("SIGTERM received");
                    handle.shutdown();
                }
                Some(()) = int.recv() => {
                    tracing::info!("SIGINT received");
                    handle.shutdown();
                }
                Some(()) = hup.recv() => {
                    tracing::info!("SIGHUP received: reloading the configuration");
                    handle.reload();
                }
                else => break,
            }
        }
    });
    let result = run_daemon_with(opts, control).await;
    signals.abort();
    result
}

/// Runs until `control`'s handle asks it to stop (or every handle is dropped). This is
/// [`run_daemon`] without the signal handling, for embedding and tests.
pub async fn run_daemon_with(
    opts: DaemonOptions,
    control: DaemonControl,
) -> Result<(), DaemonError> {
    daemon::run(opts, control).await
}

/// Whether two schedules fire at the same times (same expression, same zone).
fn same_schedule(a: &ScheduleExpr, az: chrono_tz::Tz, b: &ScheduleExpr, bz: chrono_tz::Tz) -> bool {
    a == b && az == bz
}
