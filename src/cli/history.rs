use super::output::{duration_ms, one_line, table, time};
use std::path::Path;

/// `patrol history CHECK`: recent runs, newest first.
pub fn history(config: &Path, check: &str, limit: usize, json: bool) -> anyhow::Result<u8> {
    let (root, store) = super::output::root_and_store(config, false)?;
    let limit = u32::try_from(limit).unwrap_or(u32::MAX);
    let mut runs = store.recent_runs(check, limit)?;
    // With one console, the id as written in the check file names its only instance.
    if runs.is_empty()
        && !check.contains('@')
        && let [console] = root.consoles.keys().collect::<Vec<_>>().as_slice()
    {
        runs = store.recent_runs(&format!("{check}@{console}"), limit)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
        return Ok(0);
    }
    if runs.is_empty() {
        println!("no runs of `{check}` in {}", store.path().display());
        return Ok(1);
    }
    let zone = root.timezone.0;
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.map(|i| i.to_string()).unwrap_or_default(),
                time(r.started_at, zone),
                r.status.to_string(),
                duration_ms(r.duration_ms),
                serde_json::to_value(r.trigger)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                one_line(&r.summary, 140),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["RUN", "STARTED", "STATUS", "TIME", "TRIGGER", "SUMMARY"],
            &rows
        )
    );
    Ok(0)
}
