use crate::app::App;
use crate::config::files::{MAX_CONFIG_FILE_BYTES, read_text};
use crate::config::{Config, Diagnostic, SecretSource, placeholder};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// `patrol validate`: every problem, each at file:line:col; exit 1 when there is any.
/// Placeholders left in place (`CHANGE-ME`, the host `CONSOLE`, `example.com` names) are
/// warnings: they are listed, the exit code stays 0.
pub fn validate(config: &Path, json: bool) -> anyhow::Result<u8> {
    let (checks, rules, problems, warnings) = match App::load(config) {
        Ok((app, problems)) => (
            app.config.checks.len(),
            app.config.rules.len(),
            problems,
            placeholder_warnings(config, Some(&app.config)),
        ),
        Err(problems) => (0, 0, problems, placeholder_warnings(config, None)),
    };
    // Warnings do not fail validation: placeholders left in place, and secrets too short or
    // word-like to be masked safely.
    let mut warnings = warnings;
    warnings.extend(crate::config::weak_secrets(config));
    if json {
        let out = serde_json::json!({
            "ok": problems.is_empty(),
            "checks": checks,
            "rules": rules,
            "problems": problems,
            "warnings": warnings,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        print_problems(&problems);
        for w in &warnings {
            println!("{}", warning_line(w));
        }
        if problems.is_empty() {
            println!("ok: {} — {checks} checks, {rules} rules", config.display());
        } else {
            println!(
                "{} problem{} found; {checks} valid checks",
                problems.len(),
                plural(problems.len())
            );
        }
        if !warnings.is_empty() {
            println!(
                "{} warning{} (placeholder values left in place, weak secrets): fix them before relying on the checks that read them",
                warnings.len(),
                plural(warnings.len())
            );
        }
    }
    Ok(if problems.is_empty() { 0 } else { 1 })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

pub fn print_problems(problems: &[Diagnostic]) {
    for p in problems {
        println!("{p}");
    }
}

/// `FILE:LINE:COL: warning: MESSAGE`.
fn warning_line(w: &Diagnostic) -> String {
    format!(
        "{}:{}:{}: warning: {}",
        w.file.display(),
        w.line,
        w.column,
        w.message
    )
}

/// Placeholders left in the root config, the check files and the secret files. Without a
/// loaded configuration (the root config is unusable) only the root file is read.
pub(crate) fn placeholder_warnings(root: &Path, config: Option<&Config>) -> Vec<Diagnostic> {
    let mut files: BTreeSet<PathBuf> = BTreeSet::new();
    files.insert(root.to_path_buf());
    let mut out = Vec::new();
    if let Some(config) = config {
        files.extend(config.checks.iter().map(|c| c.file.clone()));
        for (name, source) in &config.root.secrets {
            let SecretSource::File(rel) = source else {
                continue;
            };
            let path = config.base_dir.join(rel);
            // Only the placeholder is ever compared; a real secret is not printed or kept.
            // Read like the loader reads it: a FIFO or a device is never waited on.
            let is_placeholder = read_text(&path, config.root.limits.max_file_bytes)
                .is_ok_and(|text| text.trim() == placeholder::CHANGE_ME);
            if is_placeholder {
                out.push(Diagnostic::new(
                    path,
                    1,
                    1,
                    format!(
                        "the secret {name} is still the placeholder {}: write the real value into this file",
                        placeholder::CHANGE_ME
                    ),
                ));
            }
        }
    }
    for file in files {
        let Ok(text) = read_text(&file, MAX_CONFIG_FILE_BYTES) else {
            continue;
        };
        for f in placeholder::scan(&text) {
            out.push(Diagnostic::new(&file, f.line, f.column, f.message));
        }
    }
    out.sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    out
}
