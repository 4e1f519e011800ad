use super::output::{one_line, table, time};
use crate::alert::mute::Silence;
use crate::app::App;
use crate::config::Dur;
use chrono::Utc;
use clap::{Args, Subcommand};
use std::path::Path;

#[derive(Debug, Subcommand)]
pub enum SilenceCommand {
    /// Hold back the notifications of a check (or of every check with a tag) for a while.
    /// Results are still recorded; a check still bad when the silence ends is notified then.
    Add(AddArgs),
    /// Active silences (with --all, also ended and removed ones).
    List {
        /// Include silences that have ended.
        #[arg(long)]
        all: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// End a silence now.
    Remove {
        /// The silence id (see `patrol silence list`).
        id: i64,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The check to silence.
    #[arg(required_unless_present = "tag", conflicts_with = "tag")]
    pub check: Option<String>,
    /// Silence every check with this tag instead.
    #[arg(long)]
    pub tag: Option<String>,
    /// How long: 30m, 2h, 1d.
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Dur,
    /// Why (shown in `silence list` and in the notification when it ends).
    #[arg(long)]
    pub reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
}

pub fn silence(config: &Path, cmd: SilenceCommand) -> anyhow::Result<u8> {
    let writable = !matches!(cmd, SilenceCommand::List { .. });
    let (root, store) = super::output::root_and_store(config, writable)?;
    let zone = root.timezone.0;
    match cmd {
        SilenceCommand::Add(a) => {
            if let Some(id) = &a.check {
                let known = App::load(config)
                    .map(|(app, _)| !app.config.instances(id).is_empty())
                    .unwrap_or(false);
                if !known {
                    anyhow::bail!("unknown check {id} (see `patrol status`)");
                }
            }
            let now = Utc::now();
            let s = Silence {
                id: 0,
                check: a.check.clone(),
                tag: a.tag.clone(),
                starts_at: now,
                ends_at: now + chrono::Duration::from_std(a.duration.as_duration())?,
                reason: a.reason.clone(),
                created_by: a
                    .by
                    .or_else(|| std::env::var("USER").ok())
                    .unwrap_or_else(|| "unknown".into()),
            };
            let id = store.add_silence(&s)?;
            println!(
                "silence #{id} for {} until {}: {}",
                target(&s),
                time(s.ends_at, zone),
                s.reason
            );
            Ok(0)
        }
        SilenceCommand::List { all, json } => {
            let list = store.silences(Utc::now(), all)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(0);
            }
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|s| {
                    vec![
                        format!("#{}", s.id),
                        target(s),
                        time(s.starts_at, zone),
                        time(s.ends_at, zone),
                        s.created_by.clone(),
                        one_line(&s.reason, 80),
                    ]
                })
                .collect();
            print!(
                "{}",
                table(&["ID", "SILENCES", "FROM", "UNTIL", "BY", "REASON"], &rows)
            );
            Ok(0)
        }
        SilenceCommand::Remove { id } => {
            if store.remove_silence(id)? {
                println!("silence #{id} removed");
                Ok(0)
            } else {
                eprintln!("no active silence #{id}");
                Ok(1)
            }
        }
    }
}

fn target(s: &Silence) -> String {
    match (&s.check, &s.tag) {
        (Some(c), _) => format!("check {c}"),
        (None, Some(t)) => format!("tag {t}"),
        _ => "nothing".into(),
    }
}
