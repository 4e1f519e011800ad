//! `heartbeat` — a dead man's switch: instead of patrol looking at something, a job (a backup
//! script, a cron job) tells patrol that it ran, by calling the daemon's ping URLs:
//!
//! | URL (GET or POST)          | meaning                                                     |
//! |----------------------------|-------------------------------------------------------------|
//! | `/ping/ID`                 | the job succeeded                                           |
//! | `/ping/ID/start`           | the job started (the duration runs from here to the finish) |
//! | `/ping/ID/fail`            | the job failed                                              |
//! | `/ping/ID/EXIT_CODE`       | the job finished with this exit code (0 success, else fail) |
//!
//! Pings carry `Authorization: Bearer TOKEN` (`web.token`) unless `web.pings_need_token` is
//! false. A POST body is kept as the run's `output` (up to `web.max_ping_body` bytes). Every ping
//! is judged at once (a run with trigger `heartbeat`), and the daemon judges the check again
//! exactly when a deadline passes, with or without pings:
//!
//! - no success within `period` + `grace` of the previous one (or of the moment the daemon
//!   first saw the check) → CRITICAL;
//! - a `start` without a finish within `grace` → CRITICAL;
//! - a failure (`/fail`, non-zero exit code) → CRITICAL until the next success;
//! - otherwise OK (fact `late: true` once `period` has passed, still inside `grace`).
//!
//! The check's `schedule` judges it again on a timer as well (`every 1m` is a good choice);
//! it does not need to match the job's own schedule.
//!
//! ```yaml
//! id: nightly-backup
//! schedule: every 1m
//! probe:
//!   heartbeat:
//!     period: 1d        # the job runs daily
//!     grace: 1h         # and may be an hour late
//! ```
//!
//! Observation: `{period_seconds, grace_seconds, armed_at, last_success, last_failure,
//! exit_code, started, last_ping: {kind, at, exit_code, duration_ms}, output, pings,
//! last_duration_ms, late}` (times RFC 3339, absent ones null). Metrics:
//! `seconds_since_success` (from the last success, or from when the daemon started watching),
//! `duration_seconds` (start → finish of the last timed run). Fact
//! `critical_seconds_since_success` (period + grace) draws the threshold in the chart.
//!
//! The pings live in the check's probe state in the store, so a restarted daemon remembers
//! the last success. `patrol run` of a heartbeat check judges what the daemon has recorded.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use crate::config::Dur;
use crate::status::Verdict;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

/// `probe: { heartbeat: { period, grace } }`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HeartbeatProbe {
    /// How often the job is expected to succeed (`1d`, `15m`); 1s to 366d.
    #[serde(deserialize_with = "crate::config::bounds::heartbeat_period")]
    pub period: Dur,
    /// How late a success may be, and how long a started job may run, before the check is
    /// critical. Default: 5m; 0s to 366d.
    #[serde(
        default = "default_grace",
        deserialize_with = "crate::config::bounds::heartbeat_grace"
    )]
    pub grace: Dur,
}

fn default_grace() -> Dur {
    Dur::secs(300)
}

/// What a job told us in one ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PingKind {
    Success,
    Start,
    Fail,
}

/// One ping as received.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ping {
    pub kind: PingKind,
    pub at: DateTime<Utc>,
    /// For `/ping/ID/EXIT_CODE`.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// Start → this finish, when a start was pending.
    #[serde(default)]
    pub duration_ms: Option<u64>,
}

/// Everything the pings told so far; kept as the check's probe state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeartbeatState {
    /// When the daemon started watching the check (the clock before the first success).
    #[serde(default)]
    pub armed_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_success: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_failure: Option<DateTime<Utc>>,
    /// Exit code of the last failure, when it came with one.
    #[serde(default)]
    pub exit_code: Option<i32>,
    /// A start not yet followed by a finish.
    #[serde(default)]
    pub started: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_ping: Option<Ping>,
    /// Body of the last ping that had one (capped).
    #[serde(default)]
    pub output: Option<String>,
    #[serde(default)]
    pub last_duration_ms: Option<u64>,
    #[serde(default)]
    pub pings: u64,
}

impl HeartbeatState {
    /// Reads a stored probe state (Null or unreadable: a fresh state).
    pub fn from_value(v: &serde_json::Value) -> HeartbeatState {
        serde_json::from_value(v.clone()).unwrap_or_default()
    }

    /// Folds one ping in. `body` replaces the kept output when present.
    pub fn apply(
        &mut self,
        kind: PingKind,
        exit_code: Option<i32>,
        at: DateTime<Utc>,
        body: Option<String>,
    ) {
        self.pings += 1;
        let mut duration_ms = None;
        match kind {
            PingKind::Start => self.started = Some(at),
            PingKind::Success | PingKind::Fail => {
                if let Some(s) = self.started.take() {
                    let ms = (at - s).num_milliseconds().max(0);
                    duration_ms = Some(u64::try_from(ms).unwrap_or(0));
                    self.last_duration_ms = duration_ms;
                }
                if kind == PingKind::Success {
                    self.last_success = Some(at);
                } else {
                    self.last_failure = Some(at);
                    self.exit_code = exit_code;
                }
            }
        }
        if body.is_some() {
            self.output = body;
        }
        self.last_ping = Some(Ping {
            kind,
            at,
            exit_code,
            duration_ms,
        });
    }

    /// The next moment the verdict changes by itself (no ping needed), after `now`.
    pub fn next_deadline(&self, p: &HeartbeatProbe, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (period, grace) = spans(p);
        let mut out: Option<DateTime<Utc>> = None;
        let mut consider = |t: DateTime<Utc>| {
            if t > now && out.is_none_or(|o| t < o) {
                out = Some(t);
            }
        };
        if let Some(s) = self.started {
            consider(s + grace);
        }
        if let Some(base) = self.last_success.or(self.armed_at) {
            consider(base + period);
            consider(base + period + grace);
        }
        out
    }

    /// The verdict at `now`.
    pub fn judge(&self, p: &HeartbeatProbe, now: DateTime<Utc>) -> Verdict {
        let (period, grace) = spans(p);
        let base = self.last_success.or(self.armed_at).unwrap_or(now);
        let since = (now - base).num_milliseconds().max(0) as f64 / 1000.0;
        let overdue_at = base + period + grace;
        let late = now >= base + period;
        let failed = match (self.last_failure, self.last_success) {
            (Some(f), Some(s)) => f > s,
            (Some(_), None) => true,
            _ => false,
        };
        let mut v = if let Some(s) = self.started.filter(|s| now >= *s + grace) {
            Verdict::critical(format!(
                "started at {} and did not finish within {}",
                stamp(s),
                p.grace
            ))
        } else if failed {
            let when = self.last_failure.map(stamp).unwrap_or_default();
            match self.exit_code {
                Some(code) => {
                    Verdict::critical(format!("the job failed with exit code {code} at {when}"))
                }
                None => Verdict::critical(format!("the job reported a failure at {when}")),
            }
        } else if now >= overdue_at {
            match self.last_success {
                Some(s) => Verdict::critical(format!(
                    "no success since {} (expected every {}, grace {})",
                    stamp(s),
                    p.period,
                    p.grace
                )),
                None => Verdict::critical(format!(
                    "no ping received since {} (expected every {}, grace {})",
                    stamp(base),
                    p.period,
                    p.grace
                )),
            }
        } else {
            match self.last_success {
                Some(s) if late => Verdict::ok(format!(
                    "late: last success {}, critical from {}",
                    stamp(s),
                    stamp(overdue_at)
                )),
                Some(s) => Verdict::ok(format!(
                    "last success {}, next expected by {}",
                    stamp(s),
                    stamp(s + period)
                )),
                None => Verdict::ok(format!(
                    "waiting for the first ping (critical from {})",
                    stamp(overdue_at)
                )),
            }
        };
        v.metrics.insert("seconds_since_success".into(), since);
        if let Some(ms) = self.last_duration_ms {
            v.metrics
                .insert("duration_seconds".into(), ms as f64 / 1000.0);
        }
        v.facts.insert(
            "critical_seconds_since_success".into(),
            json!((period + grace).num_seconds()),
        );
        if let Some(s) = self.started {
            v.facts.insert("running_since".into(), json!(stamp(s)));
        }
        if late && v.status == crate::status::Status::Ok {
            v.facts.insert("late".into(), json!(true));
        }
        v
    }

    /// The observation a run shows.
    pub fn observation(&self, p: &HeartbeatProbe, now: DateTime<Utc>) -> serde_json::Value {
        let (period, grace) = spans(p);
        let base = self.last_success.or(self.armed_at).unwrap_or(now);
        json!({
            "period_seconds": period.num_seconds(),
            "grace_seconds": grace.num_seconds(),
            "armed_at": self.armed_at,
            "last_success": self.last_success,
            "last_failure": self.last_failure,
            "exit_code": self.exit_code,
            "started": self.started,
            "last_ping": self.last_ping,
            "output": self.output,
            "pings": self.pings,
            "last_duration_ms": self.last_duration_ms,
            "late": now >= base + period,
        })
    }
}

fn spans(p: &HeartbeatProbe) -> (chrono::Duration, chrono::Duration) {
    let c =
        |d: Dur| chrono::Duration::from_std(d.as_duration()).unwrap_or(chrono::Duration::MAX / 4);
    (c(p.period), c(p.grace))
}

fn stamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

impl Probe for HeartbeatProbe {
    fn kind(&self) -> &'static str {
        "heartbeat"
    }

    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            let now = Utc::now();
            let state = HeartbeatState::from_value(ctx.state);
            Ok(ProbeOutput {
                observation: state.observation(self, now),
                verdict: state.judge(self, now),
                // The receiver owns this state: a run never writes it back.
                state: None,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Status;
    use std::time::Duration;

    fn probe() -> HeartbeatProbe {
        HeartbeatProbe {
            period: Dur(Duration::from_secs(3600)),
            grace: Dur(Duration::from_secs(600)),
        }
    }
    fn t(min: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000, 0).expect("time") + chrono::Duration::minutes(min)
    }

    #[test]
    fn missing_success_turns_critical_after_period_and_grace() {
        let p = probe();
        let mut s = HeartbeatState {
            armed_at: Some(t(0)),
            ..Default::default()
        };
        assert_eq!(s.judge(&p, t(30)).status, Status::Ok);
        assert_eq!(s.next_deadline(&p, t(30)), Some(t(60)));
        assert_eq!(s.next_deadline(&p, t(60)), Some(t(70)));
        assert_eq!(s.judge(&p, t(65)).status, Status::Ok);
        assert_eq!(s.judge(&p, t(65)).facts["late"], json!(true));
        assert_eq!(s.judge(&p, t(70)).status, Status::Critical);
        s.apply(PingKind::Success, None, t(80), None);
        assert_eq!(s.judge(&p, t(81)).status, Status::Ok);
        assert_eq!(s.next_deadline(&p, t(81)), Some(t(140)));
    }

    #[test]
    fn start_without_finish_and_failures_are_critical() {
        let p = probe();
        let mut s = HeartbeatState {
            armed_at: Some(t(0)),
            ..Default::default()
        };
        s.apply(PingKind::Success, None, t(1), None);
        s.apply(PingKind::Start, None, t(2), None);
        assert_eq!(s.next_deadline(&p, t(3)), Some(t(12)));
        assert_eq!(s.judge(&p, t(11)).status, Status::Ok);
        let v = s.judge(&p, t(12));
        assert_eq!(v.status, Status::Critical, "{}", v.summary);
        assert!(v.summary.contains("did not finish"), "{}", v.summary);
        s.apply(PingKind::Fail, Some(3), t(15), Some("disk full".into()));
        assert_eq!(s.last_duration_ms, Some(13 * 60_000));
        let v = s.judge(&p, t(16));
        assert_eq!(v.status, Status::Critical);
        assert!(v.summary.contains("exit code 3"), "{}", v.summary);
        assert_eq!(v.metrics["duration_seconds"], 780.0);
        assert_eq!(s.output.as_deref(), Some("disk full"));
        s.apply(PingKind::Success, None, t(20), None);
        assert_eq!(s.judge(&p, t(21)).status, Status::Ok);
        assert_eq!(
            s.output.as_deref(),
            Some("disk full"),
            "no body keeps the old output"
        );
    }
}
