//! The four Nagios states and the verdict a check run ends with.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// The result of one check run, in Nagios terms so that `patrol run` can exit 0/1/2/3 and
/// any `check_*` plugin can be a probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    /// Nagios exit code: 0 ok, 1 warning, 2 critical, 3 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Critical => 2,
            Status::Unknown => 3,
        }
    }

    pub fn from_exit_code(code: i32) -> Status {
        match code {
            0 => Status::Ok,
            1 => Status::Warning,
            2 => Status::Critical,
            _ => Status::Unknown,
        }
    }

    /// How bad a status is, for "worst first" ordering: ok < warning < unknown < critical.
    /// UNKNOWN ranks above WARNING because a check that cannot judge may hide anything.
    pub fn severity(self) -> u8 {
        match self {
            Status::Ok => 0,
            Status::Warning => 1,
            Status::Unknown => 2,
            Status::Critical => 3,
        }
    }

    /// The worse of two statuses.
    pub fn worst(self, other: Status) -> Status {
        if other.severity() > self.severity() {
            other
        } else {
            self
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        match s.to_ascii_lowercase().as_str() {
            "ok" => Some(Status::Ok),
            "warning" | "warn" => Some(Status::Warning),
            "critical" | "crit" => Some(Status::Critical),
            "unknown" => Some(Status::Unknown),
            _ => None,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str().to_ascii_uppercase())
    }
}

/// What a rule (or a probe's own judgement) concludes about one observation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub status: Status,
    /// One line an operator reads first ("/var is 93% full").
    pub summary: String,
    /// Numbers worth charting and alerting on.
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Details worth showing next to the summary.
    #[serde(default)]
    pub facts: BTreeMap<String, serde_json::Value>,
}

impl Verdict {
    pub fn new(status: Status, summary: impl Into<String>) -> Verdict {
        Verdict {
            status,
            summary: summary.into(),
            metrics: BTreeMap::new(),
            facts: BTreeMap::new(),
        }
    }
    pub fn ok(summary: impl Into<String>) -> Verdict {
        Verdict::new(Status::Ok, summary)
    }
    pub fn warning(summary: impl Into<String>) -> Verdict {
        Verdict::new(Status::Warning, summary)
    }
    pub fn critical(summary: impl Into<String>) -> Verdict {
        Verdict::new(Status::Critical, summary)
    }
    pub fn unknown(summary: impl Into<String>) -> Verdict {
        Verdict::new(Status::Unknown, summary)
    }
    pub fn with_metric(mut self, name: impl Into<String>, value: f64) -> Verdict {
        self.metrics.insert(name.into(), value);
        self
    }
    pub fn with_fact(
        mut self,
        name: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Verdict {
        self.facts.insert(name.into(), value.into());
        self
    }
}
