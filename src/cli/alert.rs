use crate::alert::channel::DeliveryError;
use crate::app::App;
use crate::config::ChannelConfig;
use chrono::Utc;
use clap::Subcommand;
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum AlertCommand {
    /// Send a real test message through a channel and print what the receiver answered.
    Test {
        /// The channel name (under `channels:` in patrol.yaml).
        channel: String,
    },
}

pub async fn alert(config: &Path, cmd: AlertCommand) -> anyhow::Result<u8> {
    let AlertCommand::Test { channel } = cmd;
    let (app, problems) = App::load(config).map_err(|p| {
        anyhow::anyhow!(
            "{}",
            p.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        )
    })?;
    let Some(cfg) = app.config.root.channels.get(&channel) else {
        let known: Vec<&str> = app
            .config
            .root
            .channels
            .keys()
            .map(String::as_str)
            .collect();
        anyhow::bail!(
            "no channel `{channel}` in {} (known: {})",
            config.display(),
            if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            }
        );
    };
    let Some(ch) = app.channels.get(&channel) else {
        for p in &problems {
            eprintln!("{p}");
        }
        anyhow::bail!("channel `{channel}` cannot be used (see the problems above)");
    };
    let now = Utc::now();
    let event = match cfg {
        ChannelConfig::Email(_) => crate::alert::channel::email::test_event(&channel, now),
        ChannelConfig::Webhook(_) => crate::alert::channel::webhook::test_event(
            &channel,
            now,
            app.config.root.status_page_url.as_deref(),
        ),
    };
    match ch.send(std::slice::from_ref(&event)).await {
        Ok(receipt) => {
            println!(
                "sent a test message through `{channel}`; the receiver answered: {}",
                receipt.response
            );
            Ok(0)
        }
        Err(DeliveryError::Transient { message, .. }) => {
            println!("`{channel}` failed (temporary, would be retried): {message}");
            Ok(1)
        }
        Err(DeliveryError::Permanent { message }) => {
            println!("`{channel}` failed (permanent): {message}");
            Ok(1)
        }
    }
}
