//! `patrol report`: the periodic report, now (see `alert::report`).

use crate::alert::channel::DeliveryError;
use crate::alert::report::build_report;
use crate::app::App;
use crate::config::Dur;
use chrono::Utc;
use clap::Args;
use std::path::Path;

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print the report as JSON (the event the channels receive).
    #[arg(long)]
    pub json: bool,
    /// The period the report covers, up to now (24h, 7d). Default: one period of the
    /// `report.schedule`, or 24h without one.
    #[arg(long)]
    pub since: Option<Dur>,
    /// Also send it now through the report channels, and print what each answered.
    #[arg(long)]
    pub send: bool,
}

/// Prints the report; with `--send`, sends it. Exit 1 when a channel failed.
pub async fn report(config: &Path, a: ReportArgs) -> anyhow::Result<u8> {
    let (app, problems) = App::load(config).map_err(|p| {
        let lines: Vec<String> = p.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;
    let (_, store) = super::output::root_and_store(config, false)?;
    let report_cfg = app.config.root.report.as_ref();
    let period = match (a.since, report_cfg) {
        (Some(d), _) => d.as_duration(),
        (None, Some(r)) => r.schedule.nominal_period(),
        (None, None) => std::time::Duration::from_secs(86_400),
    };
    let now = Utc::now();
    let since = now - chrono::Duration::from_std(period)?;
    let event = build_report(&app.config, &store, since, now)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&event)?);
    } else {
        println!("{}\n", event.result.summary);
        print!(
            "{}",
            event.result.output_tail.as_deref().unwrap_or_default()
        );
    }
    if !a.send {
        return Ok(0);
    }
    // With --json, stdout stays one JSON document: what the channels said goes to stderr.
    let say = |line: String| {
        if a.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    };
    let names: Vec<String> = report_cfg.map(|r| r.channels.clone()).unwrap_or_default();
    if names.is_empty() {
        anyhow::bail!(
            "no report channels: add `report: {{ channels: [...] }}` to {}",
            config.display()
        );
    }
    let mut failed = false;
    for name in &names {
        let Some(ch) = app.channels.get(name) else {
            for p in &problems {
                eprintln!("{p}");
            }
            say(format!(
                "`{name}` cannot be used (see the problems above); not sent"
            ));
            failed = true;
            continue;
        };
        match ch.send(std::slice::from_ref(&event)).await {
            Ok(receipt) => say(format!(
                "sent the report through `{name}`; the receiver answered: {}",
                receipt.response
            )),
            Err(DeliveryError::Transient { message, .. }) => {
                say(format!("`{name}` failed (temporary): {message}"));
                failed = true;
            }
            Err(DeliveryError::Permanent { message }) => {
                say(format!("`{name}` failed (permanent): {message}"));
                failed = true;
            }
        }
    }
    Ok(u8::from(failed))
}
