//! The hardened Rhai engine that judges observations.
//!
//! One [`RuleEngine`] is shared by every rule; each rule is compiled once into a
//! [`CompiledRule`] and evaluated many times with [`RuleEngine::evaluate`], which never fails:
//! a rule error, a limit hit or a timeout is an UNKNOWN verdict naming the rule file and line.
//! What a rule sees and may call is documented in [`functions`]; rule fixtures
//! (`patrol rule test`) live in [`fixture`].

mod engine;
pub mod fixture;
pub mod functions;
mod memory;
mod pool;

use crate::status::Status;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

pub use engine::RuleEngine;
pub use fixture::{CaseOutcome, CaseResult, FixtureReport, run_fixtures};

/// What a rule sees of its check.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CheckInfo {
    /// The check's id.
    pub id: String,
    /// The check's human name.
    #[serde(default)]
    pub name: String,
    /// The check's tags.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// One earlier result of the same check, as a rule sees it in `history` (oldest first).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub time: DateTime<Utc>,
    pub status: Status,
    #[serde(default)]
    pub summary: String,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
}

/// Everything one evaluation of a rule is given.
pub struct RuleInput<'a> {
    pub observation: &'a serde_json::Value,
    pub params: &'a serde_json::Value,
    pub check: &'a CheckInfo,
    pub history: &'a [HistoryEntry],
    pub now: DateTime<Utc>,
}

/// A rule that failed to compile (or could not be read), located in its file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}:{line}:{column}: {message}", file.display())]
pub struct RuleError {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// A rule compiled once and evaluated many times. Cloning is cheap (the AST is shared).
#[derive(Debug, Clone)]
pub struct CompiledRule {
    /// The rule's name (`disk-usage` for `rules/disk-usage.rhai`, the check id for inline rules).
    pub name: String,
    /// The file the source came from: the `.rhai` file, or the check file of an inline rule.
    pub origin: PathBuf,
    /// Added to Rhai's line numbers so that errors point into `origin`.
    pub line_offset: usize,
    /// The name again, cheap to clone into each evaluation (for log lines of `print`).
    pub(crate) label: rhai::ImmutableString,
    pub(crate) ast: Arc<rhai::AST>,
}
