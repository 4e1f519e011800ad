//! What a report says, as data read from the store and the configuration: counts by status,
//! the checks not OK, the alerts of the period, the checks that did not run when they should
//! have, and the daemon's own figures. No wording here: `text.rs` words it, `mod.rs` turns it
//! into the report's event.

use super::REPORT_KIND;
use crate::config::Check;
use crate::config::Config;
use crate::service::stats::DaemonFacts;
use crate::status::Status;
use crate::store::{CheckState, OutboxFilter, OutboxState, Store, StoreError};
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// A check counts as overdue only once its run is this late beyond its timeout (a run that
/// is going on right now is not a missed one).
const OVERDUE_SLACK: Duration = Duration::from_secs(60);

/// The facts of one report period.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportFacts {
    pub since: DateTime<Utc>,
    pub now: DateTime<Utc>,
    /// Enabled checks.
    pub checks: usize,
    /// Enabled checks by their current status (checks that never ran are not counted).
    pub counts: HashMap<Status, usize>,
    /// Enabled checks without any run, by id.
    pub never_run: Vec<String>,
    /// Checks not OK, worst first, then by id.
    pub not_ok: Vec<NotOk>,
    /// Checks that did not run when they should have, in configuration order.
    pub overdue: Vec<Overdue>,
    /// Alerts queued in the period (reports left out), by delivery state.
    pub sent: usize,
    pub failed: usize,
    pub pending: usize,
    /// The failed alerts, oldest first as the outbox lists them.
    pub failed_alerts: Vec<FailedAlert>,
    /// patrol's own figures (None when no daemon used this store).
    pub daemon: Option<DaemonFacts>,
    /// The worst status of the checks; at least WARNING when a check is overdue (a check that
    /// should have run and did not hides whatever it watches).
    pub worst: Status,
}

/// A check that is not OK.
#[derive(Debug, Clone, PartialEq)]
pub struct NotOk {
    pub id: String,
    pub name: String,
    pub status: Status,
    /// As the run said it (not redacted yet).
    pub summary: String,
    pub since: DateTime<Utc>,
}

/// A check that did not run when it should have.
#[derive(Debug, Clone, PartialEq)]
pub struct Overdue {
    pub id: String,
    pub late: Lateness,
}

/// How a check is late.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Lateness {
    /// Its schedule wanted a run at `due` (after its last run, or in the period when it never
    /// ran) more than its timeout plus a minute ago.
    Due {
        due: DateTime<Utc>,
        last_run: Option<DateTime<Utc>>,
    },
    /// The daemon's planned next run is more than a period in the past.
    Stuck { next: DateTime<Utc> },
}

/// An alert whose delivery failed for good.
#[derive(Debug, Clone, PartialEq)]
pub struct FailedAlert {
    pub check_id: Option<String>,
    pub channel: String,
    pub kind: String,
    /// As the channel said it (not redacted yet).
    pub error: Option<String>,
}

impl ReportFacts {
    /// Reads the facts of the period `since`..`now`.
    pub fn gather(
        config: &Config,
        store: &Store,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<ReportFacts, StoreError> {
        let states: HashMap<String, CheckState> = store
            .check_states()?
            .into_iter()
            .map(|s| (s.check_id.clone(), s))
            .collect();
        let checks: Vec<&Check> = config
            .checks
            .iter()
            .map(AsRef::as_ref)
            .filter(|c| c.def.enabled)
            .collect();

        let mut counts: HashMap<Status, usize> = HashMap::new();
        let mut never_run = Vec::new();
        let mut not_ok = Vec::new();
        let mut overdue = Vec::new();
        let mut worst = Status::Ok;
        for check in &checks {
            let state = states.get(&check.id);
            match state {
                Some(s) => {
                    *counts.entry(s.status).or_default() += 1;
                    worst = worst.worst(s.status);
                    if s.status != Status::Ok {
                        not_ok.push(NotOk {
                            id: check.id.clone(),
                            name: check.name.clone(),
                            status: s.status,
                            summary: s.summary.clone(),
                            since: s.since,
                        });
                    }
                }
                None => never_run.push(check.id.clone()),
            }
            if let Some(late) = lateness(check, state, since, now) {
                overdue.push(Overdue {
                    id: check.id.clone(),
                    late,
                });
            }
        }
        not_ok.sort_by(|a, b| {
            b.status
                .severity()
                .cmp(&a.status.severity())
                .then_with(|| a.id.cmp(&b.id))
        });
        if !overdue.is_empty() {
            worst = worst.worst(Status::Warning);
        }

        let alerts: Vec<_> = store
            .outbox(&OutboxFilter {
                since: Some(since),
                limit: Some(100_000),
                ..Default::default()
            })?
            .into_iter()
            .filter(|r| r.kind != REPORT_KIND && r.created_at <= now)
            .collect();
        let by_state = |s: OutboxState| alerts.iter().filter(|r| r.state == s).count();
        let failed_alerts = alerts
            .iter()
            .filter(|r| r.state == OutboxState::Failed)
            .map(|r| FailedAlert {
                check_id: r.check_id.clone(),
                channel: r.channel.clone(),
                kind: r.kind.clone(),
                error: r.last_error.clone(),
            })
            .collect();

        Ok(ReportFacts {
            since,
            now,
            checks: checks.len(),
            never_run,
            not_ok,
            overdue,
            sent: by_state(OutboxState::Sent),
            failed: by_state(OutboxState::Failed),
            pending: by_state(OutboxState::Pending),
            failed_alerts,
            daemon: crate::service::stats::daemon_facts(store)?,
            worst,
            counts,
        })
    }

    /// How many enabled checks are in `status`.
    pub fn count(&self, status: Status) -> usize {
        self.counts.get(&status).copied().unwrap_or(0)
    }

    /// The report's numbers (`result.metrics`): `checks`, one per status, `never_run`,
    /// `alerts_sent`, `alerts_failed`, `alerts_pending`, `overdue`, and the daemon's
    /// `daemon_runs` and `daemon_runs_missed` when a daemon used this store.
    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert("checks".to_string(), self.checks as f64);
        for s in [
            Status::Ok,
            Status::Warning,
            Status::Critical,
            Status::Unknown,
        ] {
            m.insert(s.as_str().to_string(), self.count(s) as f64);
        }
        m.insert("never_run".into(), self.never_run.len() as f64);
        m.insert("alerts_sent".into(), self.sent as f64);
        m.insert("alerts_failed".into(), self.failed as f64);
        m.insert("alerts_pending".into(), self.pending as f64);
        m.insert("overdue".into(), self.overdue.len() as f64);
        if let Some(d) = &self.daemon {
            m.insert("daemon_runs".into(), d.runs as f64);
            m.insert("daemon_runs_missed".into(), d.missed as f64);
        }
        m
    }
}

/// How a check is late, if it is (see [`Lateness`]).
fn lateness(
    check: &Check,
    state: Option<&CheckState>,
    since: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Option<Lateness> {
    let schedule = &check.def.schedule;
    let late_after = chrono::Duration::from_std(check.def.timeout.as_duration() + OVERDUE_SLACK)
        .unwrap_or_default();
    let last_run = state.map(|s| s.last_run);
    let from = match last_run {
        Some(t) if t >= since => t,
        _ => since,
    };
    if let Some(due) = schedule.next_after(from, &check.zone)
        && due + late_after < now
    {
        return Some(Lateness::Due { due, last_run });
    }
    let period = chrono::Duration::from_std(schedule.nominal_period()).unwrap_or_default();
    if let Some(next) = state.and_then(|s| s.next_run)
        && next + period < now
    {
        return Some(Lateness::Stuck { next });
    }
    None
}
