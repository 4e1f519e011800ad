//! Rule fixtures: `rules/NAME.test.yaml` files of cases (observation, params, history, `now`,
//! expected verdict), run by `patrol rule test` like a test runner.
//!
//! ```yaml
//! rule: disk-usage            # rules/disk-usage.rhai next to this file (or `rule_file: path`)
//! params: { warn_percent: 80 }  # optional defaults for every case
//! cases:
//!   - name: all fine
//!     probe: { paths: [ { path: /, used_percent: 41.0 } ] }
//!     params: { critical_percent: 95 }   # merged over the file's params
//!     history: []                        # optional: [{time, status, summary, metrics}]
//!     now: "2026-03-29T01:30:00Z"        # optional; default: the current time
//!     timezone: Asia/Shanghai            # optional: the check's zone, for times without an
//!                                        # offset when the probe names no console.timezone
//!     expect:
//!       status: ok
//!       summary: "(?i)41"                # a regular expression searched in the summary
//!       metrics: { "used_percent:/": 41.0 }   # optional; each must be present and equal
//!       facts: { worst_path: / }              # optional; each must be present and equal
//! ```

use super::{CheckInfo, HistoryEntry, RuleEngine, RuleInput};
use crate::status::{Status, Verdict};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A fixture file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    /// Rule name: `NAME.rhai` in the fixture's folder.
    #[serde(default)]
    rule: Option<String>,
    /// Rule file, relative to the fixture's folder.
    #[serde(default)]
    rule_file: Option<PathBuf>,
    /// Params every case starts from.
    #[serde(default)]
    params: Option<serde_json::Value>,
    /// What the rule sees as `check`. Default: id and name are the rule name.
    #[serde(default)]
    check: Option<CheckInfo>,
    /// `now` of every case that does not set its own.
    #[serde(default)]
    now: Option<DateTime<Utc>>,
    /// The check's time zone of every case that does not set its own: times without an
    /// offset are read in it when the observation has no `console.timezone`. Default: none
    /// (such times make the rule UNKNOWN).
    #[serde(default)]
    timezone: Option<String>,
    cases: Vec<Case>,
}

/// One case: an input and the verdict expected from it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    /// The observation.
    probe: serde_json::Value,
    #[serde(default)]
    params: Option<serde_json::Value>,
    #[serde(default)]
    history: Vec<FixtureHistory>,
    #[serde(default)]
    now: Option<DateTime<Utc>>,
    /// The check's time zone for this case (see the file's `timezone`).
    #[serde(default)]
    timezone: Option<String>,
    expect: Expect,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureHistory {
    time: DateTime<Utc>,
    #[serde(default = "default_status")]
    status: Status,
    #[serde(default)]
    summary: String,
    #[serde(default)]
    metrics: BTreeMap<String, f64>,
}

fn default_status() -> Status {
    Status::Ok
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: Status,
    /// A regular expression that must match somewhere in the summary.
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    metrics: BTreeMap<String, f64>,
    #[serde(default)]
    facts: BTreeMap<String, serde_json::Value>,
}

/// Whether one case passed.
#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    Pass,
    /// Why it failed, e.g. `expected critical, got warning ("/ is 85% full")`.
    Fail(String),
}

/// The result of one case (or of a fixture file that could not be run at all, then `case` is
/// empty).
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The fixture file.
    pub file: PathBuf,
    /// The rule's name.
    pub rule: String,
    /// The case's name.
    pub case: String,
    pub outcome: CaseOutcome,
    /// The verdict the rule gave, if it ran.
    pub verdict: Option<Verdict>,
}

impl CaseResult {
    pub fn passed(&self) -> bool {
        self.outcome == CaseOutcome::Pass
    }
}

impl fmt::Display for CaseResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = if self.case.is_empty() {
            format!("{} ({})", self.rule, self.file.display())
        } else {
            format!("{} › {}", self.rule, self.case)
        };
        match &self.outcome {
            CaseOutcome::Pass => write!(f, "PASS {label}"),
            CaseOutcome::Fail(reason) => write!(f, "FAIL {label}: {reason}"),
        }
    }
}

/// Every case of every fixture file run, in order.
#[derive(Debug, Clone, Default)]
pub struct FixtureReport {
    pub results: Vec<CaseResult>,
}

impl FixtureReport {
    pub fn passed(&self) -> usize {
        self.results.iter().filter(|r| r.passed()).count()
    }
    pub fn failed(&self) -> usize {
        self.results.len() - self.passed()
    }
    /// True when something ran and nothing failed.
    pub fn is_success(&self) -> bool {
        self.failed() == 0 && !self.results.is_empty()
    }
    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed())
    }
}

impl fmt::Display for FixtureReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.results {
            writeln!(f, "{r}")?;
        }
        if self.results.is_empty() {
            writeln!(f, "no rule fixtures (*.test.yaml) found")?;
        }
        write!(f, "{} passed, {} failed", self.passed(), self.failed())
    }
}

/// Runs the fixtures in `paths`: each a `*.test.yaml` file, or a folder searched recursively
/// for them. Unreadable files, bad YAML and rules that do not compile are failures too.
pub fn run_fixtures(paths: &[PathBuf], engine: &RuleEngine) -> FixtureReport {
    let mut report = FixtureReport::default();
    let mut files = Vec::new();
    for p in paths {
        if p.is_dir() {
            collect(p, &mut files, &mut report);
        } else {
            files.push(p.clone());
        }
    }
    for file in files {
        run_file(&file, engine, &mut report);
    }
    report
}

fn collect(dir: &Path, files: &mut Vec<PathBuf>, report: &mut FixtureReport) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            report
                .results
                .push(file_failure(dir, "", format!("cannot read folder: {e}")));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        if p.is_dir() {
            collect(&p, files, report);
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".test.yaml") || n.ends_with(".test.yml"))
        {
            files.push(p);
        }
    }
}

fn file_failure(file: &Path, rule: &str, reason: String) -> CaseResult {
    CaseResult {
        file: file.to_path_buf(),
        rule: if rule.is_empty() {
            fixture_stem(file)
        } else {
            rule.to_string()
        },
        case: String::new(),
        outcome: CaseOutcome::Fail(reason),
        verdict: None,
    }
}

/// `rules/disk-usage.test.yaml` → `disk-usage`.
fn fixture_stem(file: &Path) -> String {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for suffix in [".test.yaml", ".test.yml", ".yaml", ".yml"] {
        if let Some(stem) = name.strip_suffix(suffix) {
            return stem.to_string();
        }
    }
    name
}

fn run_file(file: &Path, engine: &RuleEngine, report: &mut FixtureReport) {
    let limit = crate::config::files::MAX_CONFIG_FILE_BYTES;
    let text = match crate::config::files::read_config_file(file, limit) {
        Ok(t) => t,
        Err(d) => {
            let at = if (d.line, d.column) == (1, 1) {
                String::new()
            } else {
                format!("{}:{}: ", d.line, d.column)
            };
            report
                .results
                .push(file_failure(file, "", format!("{at}{}", d.message)));
            return;
        }
    };
    let fixture: FixtureFile = match serde_saphyr::from_str(&text) {
        Ok(f) => f,
        Err(e) => {
            let at = e
                .location()
                .map(|l| format!("{}:{}:{}: ", file.display(), l.line(), l.column()))
                .unwrap_or_default();
            let msg = e.without_snippet().to_string();
            let msg = msg.lines().next().unwrap_or_default().to_string();
            report.results.push(file_failure(
                file,
                "",
                format!("{at}invalid fixture: {msg}"),
            ));
            return;
        }
    };
    let dir = file.parent().unwrap_or(Path::new("."));
    let (rule_name, rule_path) = match (&fixture.rule, &fixture.rule_file) {
        (Some(name), None) => (name.clone(), dir.join(format!("{name}.rhai"))),
        (None, Some(path)) => (
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            dir.join(path),
        ),
        _ => {
            report.results.push(file_failure(
                file,
                "",
                "a fixture needs exactly one of `rule: NAME` or `rule_file: PATH`".into(),
            ));
            return;
        }
    };
    if fixture.cases.is_empty() {
        report.results.push(file_failure(
            file,
            &rule_name,
            "fixture has no cases".into(),
        ));
        return;
    }
    let compiled = engine.compile_file(&rule_name, &rule_path);
    let check = fixture.check.clone().unwrap_or_else(|| CheckInfo {
        id: rule_name.clone(),
        name: rule_name.clone(),
        tags: Vec::new(),
    });
    for case in &fixture.cases {
        let mut result = CaseResult {
            file: file.to_path_buf(),
            rule: rule_name.clone(),
            case: case.name.clone(),
            outcome: CaseOutcome::Pass,
            verdict: None,
        };
        let rule = match &compiled {
            Ok(r) => r,
            Err(e) => {
                result.outcome = CaseOutcome::Fail(format!("rule does not compile: {e}"));
                report.results.push(result);
                continue;
            }
        };
        let params = merge_params(fixture.params.as_ref(), case.params.as_ref());
        let history: Vec<HistoryEntry> = case
            .history
            .iter()
            .map(|h| HistoryEntry {
                time: h.time,
                status: h.status,
                summary: h.summary.clone(),
                metrics: h.metrics.clone(),
            })
            .collect();
        let input = RuleInput {
            observation: &case.probe,
            params: &params,
            check: &check,
            history: &history,
            now: case.now.or(fixture.now).unwrap_or_else(Utc::now),
        };
        let zone = case.timezone.as_deref().or(fixture.timezone.as_deref());
        let verdict = engine.evaluate_in_zone(rule, &input, zone);
        if let Err(reason) = compare(&case.expect, &verdict) {
            result.outcome = CaseOutcome::Fail(reason);
        }
        result.verdict = Some(verdict);
        report.results.push(result);
    }
}

/// The case's params over the file's (one level deep).
fn merge_params(
    file: Option<&serde_json::Value>,
    case: Option<&serde_json::Value>,
) -> serde_json::Value {
    let mut out = serde_json::Map::new();
    for v in [file, case].into_iter().flatten() {
        if let serde_json::Value::Object(m) = v {
            for (k, v) in m {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    serde_json::Value::Object(out)
}

fn compare(expect: &Expect, got: &Verdict) -> Result<(), String> {
    if got.status != expect.status {
        return Err(format!(
            "expected {}, got {} ({:?})",
            expect.status.as_str(),
            got.status.as_str(),
            got.summary
        ));
    }
    if let Some(pattern) = &expect.summary {
        let re = regex::Regex::new(pattern)
            .map_err(|e| format!("expect.summary is not a valid regex: {e}"))?;
        if !re.is_match(&got.summary) {
            return Err(format!(
                "summary {:?} does not match /{pattern}/",
                got.summary
            ));
        }
    }
    for (name, want) in &expect.metrics {
        match got.metrics.get(name) {
            None => {
                let have: Vec<&str> = got.metrics.keys().map(String::as_str).collect();
                return Err(format!(
                    "metric {name:?} missing (got: {})",
                    if have.is_empty() {
                        "none".to_string()
                    } else {
                        have.join(", ")
                    }
                ));
            }
            Some(v) if !close(*v, *want) => {
                return Err(format!("metric {name:?}: expected {want}, got {v}"));
            }
            Some(_) => {}
        }
    }
    for (name, want) in &expect.facts {
        match got.facts.get(name) {
            None => return Err(format!("fact {name:?} missing")),
            Some(v) if !json_equal(v, want) => {
                return Err(format!("fact {name:?}: expected {want}, got {v}"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Equal up to rounding noise (fixture authors write the numbers they expect, not floats'
/// last bits).
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// JSON equality where `5` equals `5.0`.
fn json_equal(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => close(x, y),
            _ => x == y,
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}
