use crate::config::{RuleLimits, load_root_only};
use crate::rule::{CaseOutcome, FixtureReport, RuleEngine, run_fixtures};
use std::path::{Path, PathBuf};

/// `patrol rule test [PATH...]`: runs rule fixtures like a test runner; exit 1 on any failure.
pub fn rule_test(config: &Path, paths: Vec<PathBuf>, json: bool) -> anyhow::Result<u8> {
    // Without a usable patrol.yaml, fixtures still run with the default limits.
    let (limits, redactor, default_paths) = match load_root_only(config) {
        Ok((root, base_dir, redactor, _)) => (
            root.rule_limits.clone(),
            redactor,
            root.rules.iter().map(|r| base_dir.join(r)).collect(),
        ),
        Err(_) => (
            RuleLimits::default(),
            Default::default(),
            vec![PathBuf::from("rules")],
        ),
    };
    let paths = if paths.is_empty() {
        default_paths
    } else {
        paths
    };
    let engine = RuleEngine::with_redactor(&limits, redactor);
    let report = run_fixtures(&paths, &engine);
    if json {
        println!("{}", serde_json::to_string_pretty(&report_json(&report))?);
    } else {
        println!("{report}");
    }
    if report.results.is_empty() {
        let searched: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!("searched {}", searched.join(", "));
    }
    Ok(if report.is_success() { 0 } else { 1 })
}

/// The `--json` shape: stable keys, one object per case.
fn report_json(report: &FixtureReport) -> serde_json::Value {
    let cases: Vec<serde_json::Value> = report
        .results
        .iter()
        .map(|r| {
            serde_json::json!({
                "file": r.file.display().to_string(),
                "rule": r.rule,
                "case": r.case,
                "passed": r.passed(),
                "reason": match &r.outcome {
                    CaseOutcome::Pass => None,
                    CaseOutcome::Fail(why) => Some(why.clone()),
                },
                "status": r.verdict.as_ref().map(|v| v.status.to_string().to_lowercase()),
                "summary": r.verdict.as_ref().map(|v| v.summary.clone()),
            })
        })
        .collect();
    serde_json::json!({
        "passed": report.passed(),
        "failed": report.failed(),
        "cases": cases,
    })
}
