use super::output::{duration_ms, one_line, table};
use crate::app::App;
use crate::config::{Check, Diagnostic};
use crate::pipeline::{self, Alerting};
use crate::status::Status;
use crate::store::{RunRecord, Store, Trigger};
use anyhow::Context;
use clap::Args;
use futures::StreamExt;
use std::path::Path;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Check ids to run. The id of a check that runs per HyperBDR console (`ID` of
    /// `ID@CONSOLE`) runs every console's instance.
    pub checks: Vec<String>,
    /// Run the checks with this tag (repeatable).
    #[arg(long)]
    pub tag: Vec<String>,
    /// Run every enabled check.
    #[arg(long)]
    pub all: bool,
    /// Print the runs as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also print metrics, facts and the observation of each run.
    #[arg(long, short)]
    pub verbose: bool,
}

/// `patrol run`: runs now, stores, prints, exits with the worst status (0/1/2/3).
pub async fn run(config: &Path, args: RunArgs) -> anyhow::Result<u8> {
    if args.checks.is_empty() && args.tag.is_empty() && !args.all {
        anyhow::bail!("name the checks to run, or use --tag TAG or --all");
    }
    let (app, problems) = match App::load(config) {
        Ok(loaded) => loaded,
        Err(problems) => {
            super::validate::print_problems(&problems);
            anyhow::bail!("the configuration cannot be used");
        }
    };
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!(
            "warning: {} configuration problem(s); the checks they concern are not run (see `patrol validate`)",
            problems.len()
        );
    }
    let selected = select(&app, &args)?;
    if selected.is_empty() {
        anyhow::bail!("no check matches");
    }
    run_checks(&app, &problems, &selected, args.json, args.verbose).await
}

/// Runs `selected` now (a try-out: recorded, no alert policy), prints the table (or JSON)
/// and returns the exit code of the worst status; configuration problems count as UNKNOWN.
/// `patrol run` and `patrol demo` both end here.
pub(super) async fn run_checks(
    app: &App,
    problems: &[Diagnostic],
    selected: &[Arc<Check>],
    json: bool,
    verbose: bool,
) -> anyhow::Result<u8> {
    let store_path = app.config.store_path();
    let store = Store::open(&store_path)
        .with_context(|| format!("opening the store {}", store_path.display()))?;
    store.set_observation_cap(app.config.root.store.max_observation_bytes);
    let concurrency = app.config.root.concurrency.max(1);
    let results: Vec<(usize, anyhow::Result<RunRecord>)> =
        futures::stream::iter(selected.iter().enumerate())
            .map(|(i, check)| {
                let store = &store;
                async move {
                    // A try-out: recorded, but no alert policy and no notifications.
                    let r = pipeline::run(
                        app,
                        store,
                        check,
                        Trigger::Manual,
                        None,
                        Alerting::RecordOnly,
                    )
                    .await
                    .map(|outcome| outcome.record)
                    .map_err(anyhow::Error::from);
                    (i, r)
                }
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
    let mut ordered: Vec<Option<anyhow::Result<RunRecord>>> =
        (0..selected.len()).map(|_| None).collect();
    for (i, r) in results {
        ordered[i] = Some(r);
    }

    let mut worst = if problems.is_empty() {
        Status::Ok
    } else {
        Status::Unknown
    };
    let mut records = Vec::new();
    for (check, r) in selected.iter().zip(ordered) {
        match r {
            Some(Ok(rec)) => {
                worst = worst.worst(rec.status);
                records.push((check.clone(), rec));
            }
            Some(Err(e)) => {
                worst = worst.worst(Status::Unknown);
                eprintln!("{}: could not be stored: {e:#}", check.id);
            }
            None => {}
        }
    }

    if json {
        let out: Vec<serde_json::Value> = records
            .iter()
            .map(|(c, r)| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["name"] = c.name.clone().into();
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        let rows: Vec<Vec<String>> = records
            .iter()
            .map(|(c, r)| {
                vec![
                    c.id.clone(),
                    r.status.to_string(),
                    duration_ms(r.duration_ms),
                    one_line(&r.summary, 160),
                ]
            })
            .collect();
        print!("{}", table(&["CHECK", "STATUS", "TIME", "SUMMARY"], &rows));
        if verbose {
            for (c, r) in &records {
                println!("\n== {} ({}) — {}", c.id, c.name, r.status);
                println!("summary: {}", r.summary);
                if !r.metrics.is_empty() {
                    println!("metrics: {}", serde_json::to_string(&r.metrics)?);
                }
                if !r.facts.is_empty() {
                    println!("facts: {}", serde_json::to_string_pretty(&r.facts)?);
                }
                println!(
                    "observation: {}",
                    serde_json::to_string_pretty(&r.observation)?
                );
            }
        }
    }
    Ok(worst.exit_code() as u8)
}

fn select(app: &App, args: &RunArgs) -> anyhow::Result<Vec<Arc<Check>>> {
    let checks = &app.config.checks;
    let mut out: Vec<Arc<Check>> = Vec::new();
    let mut missing = Vec::new();
    for id in &args.checks {
        let found = app.config.instances(id);
        if found.is_empty() {
            missing.push(id.as_str());
        }
        for c in found {
            if !out.iter().any(|o| o.id == c.id) {
                out.push(c.clone());
            }
        }
    }
    if !missing.is_empty() {
        anyhow::bail!(
            "unknown check{} {} (see `patrol status` or `patrol validate`)",
            if missing.len() == 1 { "" } else { "s" },
            missing.join(", ")
        );
    }
    for c in checks {
        let wanted = c.def.enabled && (args.all || args.tag.iter().any(|t| c.def.tags.contains(t)));
        if wanted && !out.iter().any(|o| o.id == c.id) {
            out.push(c.clone());
        }
    }
    Ok(out)
}
