//! The alert policy: a pure state machine. State and one run's result in, the new state and
//! at most one notification out. No I/O, no clock: `now` is an input, so the contract is
//! tested table-driven without servers.
//!
//! The contract:
//! - an incident opens after `after` non-OK runs among the last `of` runs (`after: 3` means 3 in
//!   a row; `after: "3 of 5"`), and closes after `recover_after` OK runs in a row;
//! - a firing notification is sent when the incident opens, again when its severity rises
//!   (warning → critical), and every `repeat` while it stays bad;
//! - a mute (maintenance window, silence) or a bad parent check (`depends_on`) holds
//!   notifications back, never the recording of results; when the hold ends and the incident is
//!   still open and was never announced, it is announced then, saying why;
//! - a resolve always follows a sent firing, even during a mute: it closes an incident the team
//!   already knows about;
//! - a check that flips between OK and not-OK too often sends one "flapping" notice and nothing
//!   else until it settles; then the normal rules resume (a firing if it settled bad, a
//!   resolve if it settled OK after a sent firing).

use crate::config::{AlertingPolicy, Dur};
use crate::status::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

/// The policy of one check (root defaults with the check's overrides applied).
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyConfig {
    /// Non-OK runs needed to open an incident...
    pub after: u32,
    /// ...among this many recent runs (`after` when not written as "N of M").
    pub of: u32,
    /// OK runs in a row that close an incident.
    pub recover_after: u32,
    /// Reminder interval while the incident stays open.
    pub repeat: Option<Duration>,
    /// Whether closing an announced incident is notified.
    pub send_resolved: bool,
    /// Flap detection over the last `flap_window` runs: flapping starts when the share of
    /// state changes reaches `flap_high` and ends when it falls to `flap_low` or below.
    pub flap_window: usize,
    pub flap_high: f64,
    pub flap_low: f64,
}

impl From<&AlertingPolicy> for PolicyConfig {
    /// The pure policy's view of a check's alerting configuration.
    fn from(p: &AlertingPolicy) -> Self {
        PolicyConfig {
            after: p.after.n,
            of: p.after.of,
            recover_after: p.recover_after.max(1),
            repeat: p.repeat.map(Dur::as_duration),
            send_resolved: p.send_resolved,
            flap_window: if p.flapping.enabled {
                p.flapping.window
            } else {
                0
            },
            flap_high: p.flapping.high,
            flap_low: p.flapping.low,
        }
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            after: 1,
            of: 1,
            recover_after: 1,
            repeat: None,
            send_resolved: true,
            flap_window: 20,
            flap_high: 0.5,
            flap_low: 0.25,
        }
    }
}

/// Why notifications are being held back right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "name")]
pub enum Hold {
    /// A maintenance window (its name).
    Maintenance(String),
    /// A silence (its id or reason).
    Silence(String),
    /// A check this one depends on is bad (its id).
    Dependency(String),
}

impl Hold {
    fn describe(&self) -> String {
        match self {
            Hold::Maintenance(n) => format!("maintenance window `{n}`"),
            Hold::Silence(n) => format!("silence `{n}`"),
            Hold::Dependency(n) => format!("failing dependency `{n}`"),
        }
    }
}

/// An open incident: from the run that opened it to the run that closes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// Stable id of the incident (threads emails, dedups webhooks).
    pub id: String,
    /// When the check first turned bad in this streak.
    pub bad_since: DateTime<Utc>,
    /// The latest non-OK status.
    pub severity: Status,
    /// The severity last announced; None while the incident has not been announced.
    pub notified_severity: Option<Status>,
    pub last_notified_at: Option<DateTime<Utc>>,
    /// Set while an announcement is being held back (and why).
    pub held: Option<Hold>,
}

/// Everything the policy remembers about one check between runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AlertState {
    /// Recent runs, newest last: true = not OK.
    pub recent: VecDeque<bool>,
    pub consecutive_ok: u32,
    /// Start of the current run of non-OK results (before an incident opens).
    pub bad_since: Option<DateTime<Utc>>,
    pub incident: Option<Incident>,
    pub flapping: bool,
    /// Incidents opened so far (makes incident ids unique).
    pub incidents_opened: u64,
    /// Channels the open incident was announced on (kept by the dispatcher, so that the
    /// resolve reaches them even if routing changed in between).
    #[serde(default)]
    pub announced_on: Vec<String>,
}

/// One run's result as the policy sees it.
#[derive(Debug, Clone)]
pub struct RunInput<'a> {
    pub check_id: &'a str,
    pub at: DateTime<Utc>,
    pub status: Status,
    /// Whether notifications are held back now, and why.
    pub hold: Option<Hold>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// An incident is announced.
    Firing,
    /// A reminder that the incident is still open.
    Reminder,
    /// The incident closed.
    Resolved,
    /// The check flips too often; no more notifications until it settles.
    Flapping,
}

/// A notification the policy asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Notification {
    pub kind: EventKind,
    pub incident_id: String,
    /// The severity announced (for Resolved: the last bad severity).
    pub severity: Status,
    pub bad_since: DateTime<Utc>,
    /// Why it was sent, for the footer of the message.
    pub reason: String,
}

/// What one run leads to.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Decision {
    pub notify: Option<Notification>,
    /// A notification that would have been sent but was held back (and why).
    pub held: Option<Hold>,
}

/// Applies one run to the state.
pub fn step(
    cfg: &PolicyConfig,
    state: &AlertState,
    input: &RunInput<'_>,
) -> (AlertState, Decision) {
    let mut s = state.clone();
    let bad = input.status != Status::Ok;
    let keep = (cfg.of.max(cfg.after).max(1) as usize).max(cfg.flap_window);
    s.recent.push_back(bad);
    while s.recent.len() > keep {
        s.recent.pop_front();
    }
    if bad {
        s.consecutive_ok = 0;
        if s.bad_since.is_none() {
            s.bad_since = Some(input.at);
        }
    } else {
        s.consecutive_ok = s.consecutive_ok.saturating_add(1);
    }

    // Flap detection first: while flapping, nothing but the one notice is sent.
    let ratio = change_ratio(&s.recent, cfg.flap_window);
    if !s.flapping
        && cfg.flap_window >= 2
        && s.recent.len() >= cfg.flap_window
        && ratio >= cfg.flap_high
    {
        s.flapping = true;
        let incident_id = s
            .incident
            .as_ref()
            .map(|i| i.id.clone())
            .unwrap_or_else(|| format!("{}#flap{}", input.check_id, s.incidents_opened));
        let notice = Notification {
            kind: EventKind::Flapping,
            incident_id,
            severity: if bad {
                input.status
            } else {
                s.incident.as_ref().map_or(Status::Warning, |i| i.severity)
            },
            bad_since: s.bad_since.unwrap_or(input.at),
            reason: format!(
                "the check changed state in {:.0}% of its last {} runs; notifications pause until it settles",
                ratio * 100.0,
                cfg.flap_window
            ),
        };
        return hold_or_send(s, notice, input.hold.clone());
    }
    if s.flapping {
        if ratio > cfg.flap_low {
            return (s, Decision::default());
        }
        s.flapping = false;
        // Settled bad: announce the outcome even if the incident was announced before.
        if bad && let Some(mut inc) = s.incident.take() {
            inc.severity = input.status;
            let reason = format!("the check stopped flapping and is {}", input.status);
            return announce(s, inc, input, reason);
        }
    }

    match s.incident.take() {
        None => {
            let bad_recent = s
                .recent
                .iter()
                .rev()
                .take(cfg.of.max(1) as usize)
                .filter(|b| **b)
                .count();
            if bad && bad_recent >= cfg.after.max(1) as usize {
                s.incidents_opened += 1;
                let inc = Incident {
                    id: format!("{}#{}", input.check_id, s.incidents_opened),
                    bad_since: s.bad_since.unwrap_or(input.at),
                    severity: input.status,
                    notified_severity: None,
                    last_notified_at: None,
                    held: None,
                };
                let reason = if cfg.of > cfg.after || (cfg.after > 1 && cfg.of == cfg.after) {
                    format!(
                        "{} of the last {} runs were not OK",
                        bad_recent,
                        cfg.of.max(cfg.after)
                    )
                } else {
                    "the check is not OK".to_string()
                };
                announce(s, inc, input, reason)
            } else {
                if !bad {
                    s.bad_since = None;
                }
                (s, Decision::default())
            }
        }
        Some(mut inc) => {
            if !bad {
                if s.consecutive_ok < cfg.recover_after.max(1) {
                    s.incident = Some(inc);
                    return (s, Decision::default());
                }
                s.bad_since = None;
                // Only an announced incident is resolved; one nobody heard of closes quietly.
                if inc.notified_severity.is_some() && cfg.send_resolved {
                    let n = Notification {
                        kind: EventKind::Resolved,
                        incident_id: inc.id.clone(),
                        severity: inc.severity,
                        bad_since: inc.bad_since,
                        reason: format!(
                            "the check recovered ({} OK run{} in a row)",
                            s.consecutive_ok,
                            if s.consecutive_ok == 1 { "" } else { "s" }
                        ),
                    };
                    return (
                        s,
                        Decision {
                            notify: Some(n),
                            held: None,
                        },
                    );
                }
                return (s, Decision::default());
            }
            inc.severity = input.status;
            match inc.notified_severity {
                None => {
                    let reason = match &inc.held {
                        Some(h) => format!(
                            "{} ended and the check is still {}",
                            h.describe(),
                            input.status
                        ),
                        None => "the check is not OK".to_string(),
                    };
                    announce(s, inc, input, reason)
                }
                Some(prev) if input.status.severity() > prev.severity() => {
                    let reason = format!("severity rose from {prev} to {}", input.status);
                    announce(s, inc, input, reason)
                }
                Some(_) => {
                    let due = match (cfg.repeat, inc.last_notified_at) {
                        (Some(every), Some(last)) => {
                            (input.at - last).to_std().unwrap_or_default() >= every
                        }
                        _ => false,
                    };
                    if !due {
                        s.incident = Some(inc);
                        return (s, Decision::default());
                    }
                    let n = Notification {
                        kind: EventKind::Reminder,
                        incident_id: inc.id.clone(),
                        severity: input.status,
                        bad_since: inc.bad_since,
                        reason: format!(
                            "still {} (reminder every {})",
                            input.status,
                            humantime::format_duration(cfg.repeat.unwrap_or_default())
                        ),
                    };
                    match input.hold.clone() {
                        Some(h) => {
                            s.incident = Some(inc);
                            (
                                s,
                                Decision {
                                    notify: None,
                                    held: Some(h),
                                },
                            )
                        }
                        None => {
                            inc.last_notified_at = Some(input.at);
                            s.incident = Some(inc);
                            (
                                s,
                                Decision {
                                    notify: Some(n),
                                    held: None,
                                },
                            )
                        }
                    }
                }
            }
        }
    }
}

/// Sends a firing for `inc` now, or records that it is held back.
fn announce(
    mut s: AlertState,
    mut inc: Incident,
    input: &RunInput<'_>,
    reason: String,
) -> (AlertState, Decision) {
    if let Some(h) = input.hold.clone() {
        inc.held = Some(h.clone());
        s.incident = Some(inc);
        return (
            s,
            Decision {
                notify: None,
                held: Some(h),
            },
        );
    }
    inc.held = None;
    inc.notified_severity = Some(input.status);
    inc.last_notified_at = Some(input.at);
    let n = Notification {
        kind: EventKind::Firing,
        incident_id: inc.id.clone(),
        severity: input.status,
        bad_since: inc.bad_since,
        reason,
    };
    s.incident = Some(inc);
    (
        s,
        Decision {
            notify: Some(n),
            held: None,
        },
    )
}

fn hold_or_send(s: AlertState, n: Notification, hold: Option<Hold>) -> (AlertState, Decision) {
    match hold {
        Some(h) => (
            s,
            Decision {
                notify: None,
                held: Some(h),
            },
        ),
        None => (
            s,
            Decision {
                notify: Some(n),
                held: None,
            },
        ),
    }
}

/// Share of state changes between consecutive runs among the last `window` runs.
fn change_ratio(recent: &VecDeque<bool>, window: usize) -> f64 {
    let n = recent.len().min(window);
    if n < 2 {
        return 0.0;
    }
    let tail: Vec<bool> = recent.iter().skip(recent.len() - n).copied().collect();
    let changes = tail.windows(2).filter(|w| w[0] != w[1]).count();
    changes as f64 / (n - 1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use Status::*;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0)
            .single()
            .expect("time")
            + chrono::Duration::minutes(min)
    }

    /// Runs a sequence (minute, status, hold) and returns the notifications as
    /// (minute, kind, severity) plus the held-back minutes.
    fn play(
        cfg: &PolicyConfig,
        runs: &[(i64, Status, Option<Hold>)],
    ) -> (Vec<(i64, EventKind, Status)>, Vec<i64>, AlertState) {
        let mut s = AlertState::default();
        let mut sent = Vec::new();
        let mut held = Vec::new();
        for (m, status, hold) in runs {
            let (next, d) = step(
                cfg,
                &s,
                &RunInput {
                    check_id: "c",
                    at: t(*m),
                    status: *status,
                    hold: hold.clone(),
                },
            );
            if let Some(n) = d.notify {
                sent.push((*m, n.kind, n.severity));
            }
            if d.held.is_some() {
                held.push(*m);
            }
            s = next;
        }
        (sent, held, s)
    }

    fn plain(seq: &[(i64, Status)]) -> Vec<(i64, Status, Option<Hold>)> {
        seq.iter().map(|(m, s)| (*m, *s, None)).collect()
    }

    #[test]
    fn fires_after_n_consecutive_and_recovers_after_m() {
        let cfg = PolicyConfig {
            after: 3,
            of: 3,
            recover_after: 2,
            ..Default::default()
        };
        let (sent, _, _) = play(
            &cfg,
            &plain(&[
                (0, Critical),
                (1, Critical),
                (2, Ok),
                (3, Critical),
                (4, Critical),
                (5, Critical),
                (6, Ok),
                (7, Critical),
                (8, Ok),
                (9, Ok),
            ]),
        );
        assert_eq!(
            sent,
            vec![
                (5, EventKind::Firing, Critical),
                (9, EventKind::Resolved, Critical)
            ]
        );
    }

    #[test]
    fn n_of_m_fires_on_scattered_failures() {
        let cfg = PolicyConfig {
            after: 3,
            of: 5,
            ..Default::default()
        };
        let (sent, _, _) = play(
            &cfg,
            &plain(&[(0, Warning), (1, Ok), (2, Warning), (3, Ok), (4, Warning)]),
        );
        assert_eq!(sent, vec![(4, EventKind::Firing, Warning)]);
    }

    #[test]
    fn escalation_notifies_again_but_de_escalation_does_not() {
        let cfg = PolicyConfig::default();
        let (sent, _, _) = play(
            &cfg,
            &plain(&[
                (0, Warning),
                (1, Critical),
                (2, Warning),
                (3, Critical),
                (4, Ok),
            ]),
        );
        assert_eq!(
            sent,
            vec![
                (0, EventKind::Firing, Warning),
                (1, EventKind::Firing, Critical),
                (4, EventKind::Resolved, Critical)
            ]
        );
    }

    #[test]
    fn reminders_every_repeat_while_bad() {
        let cfg = PolicyConfig {
            repeat: Some(Duration::from_secs(60 * 60)),
            ..Default::default()
        };
        let runs: Vec<(i64, Status)> = (0..=150).step_by(10).map(|m| (m, Critical)).collect();
        let (sent, _, _) = play(&cfg, &plain(&runs));
        assert_eq!(
            sent,
            vec![
                (0, EventKind::Firing, Critical),
                (60, EventKind::Reminder, Critical),
                (120, EventKind::Reminder, Critical)
            ]
        );
    }

    #[test]
    fn maintenance_holds_the_firing_and_announces_it_when_it_ends_still_bad() {
        let m = || Some(Hold::Maintenance("patching".into()));
        let cfg = PolicyConfig::default();
        let (sent, held, _) = play(
            &cfg,
            &[
                (0, Critical, m()),
                (1, Critical, m()),
                (2, Critical, None),
                (3, Critical, None),
            ],
        );
        // Held back on every run while the announcement waits.
        assert_eq!(held, vec![0, 1]);
        assert_eq!(sent, vec![(2, EventKind::Firing, Critical)]);
    }

    #[test]
    fn announcement_after_a_hold_says_why() {
        let cfg = PolicyConfig::default();
        let s = AlertState::default();
        let (s, d) = step(
            &cfg,
            &s,
            &RunInput {
                check_id: "c",
                at: t(0),
                status: Critical,
                hold: Some(Hold::Silence("s1".into())),
            },
        );
        assert!(d.notify.is_none());
        let (_, d) = step(
            &cfg,
            &s,
            &RunInput {
                check_id: "c",
                at: t(5),
                status: Critical,
                hold: None,
            },
        );
        let n = d.notify.expect("announced");
        assert!(n.reason.contains("silence `s1` ended"), "{}", n.reason);
        assert_eq!(
            n.bad_since,
            t(0),
            "bad since the first bad run, not the announcement"
        );
    }

    #[test]
    fn a_sent_firing_is_always_resolved_even_during_a_silence() {
        let sil = || Some(Hold::Silence("night".into()));
        let cfg = PolicyConfig::default();
        let (sent, _, _) = play(
            &cfg,
            &[(0, Critical, None), (1, Critical, sil()), (2, Ok, sil())],
        );
        assert_eq!(
            sent,
            vec![
                (0, EventKind::Firing, Critical),
                (2, EventKind::Resolved, Critical)
            ]
        );
    }

    #[test]
    fn an_incident_nobody_heard_of_closes_quietly() {
        let sil = || Some(Hold::Silence("night".into()));
        let cfg = PolicyConfig::default();
        let (sent, held, s) = play(
            &cfg,
            &[
                (0, Critical, sil()),
                (1, Critical, sil()),
                (2, Ok, sil()),
                (3, Ok, None),
            ],
        );
        assert!(sent.is_empty(), "{sent:?}");
        assert_eq!(held, vec![0, 1]);
        assert!(s.incident.is_none());
    }

    #[test]
    fn silence_expiry_resumes_reminders() {
        let cfg = PolicyConfig {
            repeat: Some(Duration::from_secs(30 * 60)),
            ..Default::default()
        };
        let sil = || Some(Hold::Silence("s".into()));
        let (sent, held, _) = play(
            &cfg,
            &[
                (0, Critical, None),
                (40, Critical, sil()),
                (80, Critical, sil()),
                (90, Critical, None),
            ],
        );
        assert_eq!(held, vec![40, 80]);
        assert_eq!(
            sent,
            vec![
                (0, EventKind::Firing, Critical),
                (90, EventKind::Reminder, Critical)
            ]
        );
    }

    #[test]
    fn dependency_suppression_then_announcement_when_parent_recovers() {
        let dep = || Some(Hold::Dependency("console-reachable".into()));
        let cfg = PolicyConfig::default();
        let (sent, held, s) = play(
            &cfg,
            &[
                (0, Critical, dep()),
                (1, Critical, dep()),
                (2, Critical, None),
            ],
        );
        assert_eq!(held, vec![0, 1]);
        assert_eq!(sent, vec![(2, EventKind::Firing, Critical)]);
        assert!(
            s.incident
                .as_ref()
                .is_some_and(|i| i.notified_severity == Some(Critical))
        );
        // A child that recovers while the parent is bad never notifies anything.
        let (sent, _, _) = play(&cfg, &[(0, Critical, dep()), (1, Ok, dep())]);
        assert!(sent.is_empty());
    }

    #[test]
    fn flapping_sends_one_notice_then_resumes_when_settled() {
        let cfg = PolicyConfig {
            flap_window: 6,
            flap_high: 0.6,
            flap_low: 0.2,
            ..Default::default()
        };
        let mut runs = Vec::new();
        for m in 0..10 {
            runs.push((m, if m % 2 == 0 { Critical } else { Ok }));
        }
        for m in 10..20 {
            runs.push((m, Critical));
        }
        let (sent, _, s) = play(&cfg, &plain(&runs));
        let kinds: Vec<EventKind> = sent.iter().map(|x| x.1).collect();
        // firing, resolved, firing... until the flap detector has a full window, then one
        // flapping notice, silence, and one firing once it settles bad.
        let flap_at = kinds
            .iter()
            .position(|k| *k == EventKind::Flapping)
            .expect("flapping notice");
        assert_eq!(
            kinds.iter().filter(|k| **k == EventKind::Flapping).count(),
            1
        );
        assert_eq!(kinds[flap_at + 1..], [EventKind::Firing], "{sent:?}");
        assert!(!s.flapping);
    }

    #[test]
    fn resolve_after_restart_uses_the_persisted_state() {
        let cfg = PolicyConfig::default();
        let (s, d) = step(
            &cfg,
            &AlertState::default(),
            &RunInput {
                check_id: "c",
                at: t(0),
                status: Critical,
                hold: None,
            },
        );
        assert!(d.notify.is_some());
        // The daemon stores the state as JSON and restarts.
        let json = serde_json::to_string(&s).expect("ser");
        let restored: AlertState = serde_json::from_str(&json).expect("de");
        let (_, d) = step(
            &cfg,
            &restored,
            &RunInput {
                check_id: "c",
                at: t(9),
                status: Ok,
                hold: None,
            },
        );
        let n = d.notify.expect("resolve");
        assert_eq!(n.kind, EventKind::Resolved);
        assert_eq!(n.incident_id, "c#1");
    }

    #[test]
    fn send_resolved_false_keeps_quiet_on_recovery() {
        let cfg = PolicyConfig {
            send_resolved: false,
            ..Default::default()
        };
        let (sent, _, _) = play(&cfg, &plain(&[(0, Critical), (1, Ok)]));
        assert_eq!(sent, vec![(0, EventKind::Firing, Critical)]);
    }
}
