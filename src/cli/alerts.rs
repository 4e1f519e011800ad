use super::output::{one_line, table, time};
use crate::config::Dur;
use crate::store::{OutboxFilter, OutboxState};
use chrono::Utc;
use clap::Args;
use std::path::Path;

#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// Only notifications still waiting to be delivered.
    #[arg(long, conflicts_with = "failed")]
    pub pending: bool,
    /// Only notifications that could not be delivered.
    #[arg(long)]
    pub failed: bool,
    /// Only those queued within this long (24h, 7d).
    #[arg(long)]
    pub since: Option<Dur>,
    /// Only this check's.
    #[arg(long)]
    pub check: Option<String>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `patrol alerts`: the notifications patrol queued, and what became of each.
pub fn alerts(config: &Path, a: AlertsArgs) -> anyhow::Result<u8> {
    let (root, store) = super::output::root_and_store(config, false)?;
    let filter = OutboxFilter {
        state: if a.pending {
            Some(OutboxState::Pending)
        } else if a.failed {
            Some(OutboxState::Failed)
        } else {
            None
        },
        since: a
            .since
            .map(|d| Utc::now() - chrono::Duration::from_std(d.as_duration()).unwrap_or_default()),
        check_id: a.check,
        limit: Some(500),
    };
    let rows = store.outbox(&filter)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    let zone = root.timezone.0;
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let state = match r.state {
                OutboxState::Sent => "sent".to_string(),
                OutboxState::Failed => "FAILED".to_string(),
                OutboxState::Pending if r.attempts > 0 => format!("retrying ({})", r.attempts),
                OutboxState::Pending => "pending".to_string(),
            };
            let detail = match r.state {
                OutboxState::Sent => r.response.clone().unwrap_or_default(),
                _ => r.last_error.clone().unwrap_or_default(),
            };
            vec![
                time(r.created_at, zone),
                r.check_id.clone().unwrap_or_default(),
                format!("{} {}", r.kind, r.severity),
                r.channel.clone(),
                state,
                one_line(&detail, 100),
            ]
        })
        .collect();
    print!(
        "{}",
        table(
            &["QUEUED", "CHECK", "ALERT", "CHANNEL", "STATE", "DETAIL"],
            &table_rows
        )
    );
    Ok(0)
}
