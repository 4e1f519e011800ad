//! What pages and the API show of a check: its configuration joined with its stored state.

use crate::app::App;
use crate::config::Check;
use crate::store::{CheckState, RunBrief, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;

/// How many runs the status page's history strip shows.
pub(crate) const STRIP_RUNS: u32 = 20;

/// One check as listed (status page rows, `/api/v1/checks`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CheckRow {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub tags: Vec<String>,
    /// The HyperBDR console the check runs against (only for such checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub console: Option<String>,
    pub enabled: bool,
    /// ok | warning | critical | unknown, or `pending` before the first run.
    pub status: String,
    pub summary: String,
    pub since: Option<DateTime<Utc>>,
    pub last_run: Option<DateTime<Utc>>,
    pub last_duration_ms: Option<u64>,
    pub next_run: Option<DateTime<Utc>>,
    pub schedule: String,
    pub timezone: String,
    /// Active silences that cover the check.
    pub silenced: bool,
    /// Oldest first (for the strip); empty in the API list.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<RunBrief>,
}

impl CheckRow {
    /// Worst first: critical, unknown, warning, pending, ok; disabled ones last.
    pub fn rank(&self) -> u8 {
        if !self.enabled {
            return 0;
        }
        match self.status.as_str() {
            "critical" => 5,
            "unknown" => 4,
            "warning" => 3,
            "pending" => 2,
            _ => 1,
        }
    }
}

/// Filters of the status page and the list API (`?tag=&status=&console=`).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub(crate) struct Filter {
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    /// A HyperBDR console's name: only its checks.
    #[serde(default)]
    pub console: Option<String>,
}

impl Filter {
    fn tag(&self) -> Option<&str> {
        self.tag.as_deref().filter(|t| !t.is_empty())
    }
    fn status(&self) -> Option<&str> {
        self.status.as_deref().filter(|t| !t.is_empty())
    }
    fn console(&self) -> Option<&str> {
        self.console.as_deref().filter(|t| !t.is_empty())
    }
    pub fn admits(&self, row: &CheckRow) -> bool {
        self.tag().is_none_or(|t| row.tags.iter().any(|x| x == t))
            && self.status().is_none_or(|s| row.status == s)
            && self
                .console()
                .is_none_or(|c| row.console.as_deref() == Some(c))
    }
}

/// Every configured check, worst first. `strip` loads the last runs of each.
pub(crate) fn rows(app: &App, store: &Store, strip: bool) -> Result<Vec<CheckRow>, StoreError> {
    let states: HashMap<String, CheckState> = store
        .check_states()?
        .into_iter()
        .map(|s| (s.check_id.clone(), s))
        .collect();
    let now = Utc::now();
    let silences = store.silences(now, false)?;
    let mut out = Vec::with_capacity(app.config.checks.len());
    for check in &app.config.checks {
        let state = states.get(&check.id);
        let mut row = row(check, state, store.next_run(&check.id)?);
        // Stored text is redacted when written; once more, in case secrets changed since.
        row.summary = app.config.redactor.text(&row.summary);
        row.silenced = silences
            .iter()
            .any(|s| s.matches(&check.id, &check.def.tags, now));
        if strip {
            let mut h = store.run_briefs(&check.id, STRIP_RUNS)?;
            h.reverse();
            for b in &mut h {
                b.summary = app.config.redactor.text(&b.summary);
            }
            row.history = h;
        }
        out.push(row);
    }
    sort(&mut out);
    Ok(out)
}

pub(crate) fn sort(rows: &mut [CheckRow]) {
    rows.sort_by(|a, b| {
        b.rank()
            .cmp(&a.rank())
            .then_with(|| a.since.cmp(&b.since))
            .then_with(|| a.id.cmp(&b.id))
    });
}

pub(crate) fn row(
    check: &Check,
    state: Option<&CheckState>,
    next_run: Option<DateTime<Utc>>,
) -> CheckRow {
    CheckRow {
        id: check.id.clone(),
        name: check.name.clone(),
        kind: check.def.probe.kind(),
        tags: check.def.tags.clone(),
        console: check.console.clone(),
        enabled: check.def.enabled,
        status: state
            .map(|s| s.status.as_str().to_string())
            .unwrap_or_else(|| "pending".into()),
        summary: state.map(|s| s.summary.clone()).unwrap_or_default(),
        since: state.map(|s| s.since),
        last_run: state.map(|s| s.last_run),
        last_duration_ms: state.map(|s| s.last_duration_ms),
        next_run: if check.def.enabled { next_run } else { None },
        schedule: check.def.schedule.to_string(),
        timezone: check.zone.name().to_string(),
        silenced: false,
        history: Vec::new(),
    }
}

/// Counts by status over `rows` (before filtering), in page order.
pub(crate) fn counts(rows: &[CheckRow]) -> Vec<(&'static str, usize)> {
    ["critical", "unknown", "warning", "pending", "ok"]
        .into_iter()
        .map(|s| (s, rows.iter().filter(|r| r.status == s).count()))
        .collect()
}
