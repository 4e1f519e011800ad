use crate::app::App;
use crate::config::Diagnostic;
use std::path::Path;

/// `patrol validate`: every problem, each at file:line:col; exit 1 when there is any.
pub fn validate(config: &Path, json: bool) -> anyhow::Result<u8> {
    let (checks, rules, problems) = match App::load(config) {
        Ok((app, problems)) => (app.config.checks.len(), app.config.rules.len(), problems),
        Err(problems) => (0, 0, problems),
    };
    // Warnings do not fail validation.
    let warnings = crate::config::weak_secrets(config);
    if json {
        let out = serde_json::json!({
            "ok": problems.is_empty(),
            "checks": checks,
            "rules": rules,
            "problems": problems,
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(if problems.is_empty() { 0 } else { 1 });
    }
    print_problems(&warnings);
    if problems.is_empty() {
        println!("ok: {} — {checks} checks, {rules} rules", config.display());
    } else {
        print_problems(&problems);
        println!(
            "{} problem{} found; {checks} valid checks",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" }
        );
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

pub fn print_problems(problems: &[Diagnostic]) {
    for p in problems {
        println!("{p}");
    }
}
