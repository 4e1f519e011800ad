//! The `patrol` command line: one file per subcommand. This is glue: it loads, calls the
//! library and prints.

mod alert;
mod alerts;
mod completions;
mod demo;
mod explain;
mod history;
mod init;
mod logs;
mod man;
mod output;
mod reference;
mod report;
mod rule_test;
mod run;
mod schedule;
mod schema;
mod silence;
mod status;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// patrol runs O&M checks unattended: YAML check files on cron schedules, judged by Rhai
/// rules, every result kept in SQLite.
#[derive(Debug, Parser)]
#[command(name = "patrol", version, about, long_about = None)]
pub struct Cli {
    /// The root configuration file.
    #[arg(
        long,
        short = 'c',
        global = true,
        default_value = "patrol.yaml",
        env = "PATROL_CONFIG"
    )]
    pub config: PathBuf,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace); PATROL_LOG overrides with a full filter.
    #[arg(long, global = true, default_value = "info")]
    pub log_level: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Human,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the configuration, check files and rules; list every problem (file:line:col).
    Validate {
        /// Print the problems as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Run checks now, store their results, print a table; exit 0/1/2/3 with the worst status.
    Run(run::RunArgs),
    /// Run every check on its schedule until stopped (SIGTERM); SIGHUP reloads.
    Daemon {
        /// Do not watch the configuration files for changes (SIGHUP still reloads).
        #[arg(long)]
        no_watch: bool,
    },
    /// The latest state of every check, from the store, grouped by HyperBDR console.
    Status {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Only the checks of this HyperBDR console (a name under `consoles:`).
        #[arg(long)]
        console: Option<String>,
    },
    /// The recent runs of one check, newest first.
    History {
        /// The check id.
        check: String,
        /// How many runs.
        #[arg(long, short = 'n', default_value_t = 20)]
        limit: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Rules: test them against fixture files.
    Rule {
        #[command(subcommand)]
        command: RuleCommand,
    },
    /// Silences: hold back a check's notifications for a while.
    Silence {
        #[command(subcommand)]
        command: silence::SilenceCommand,
    },
    /// Channels: send a test message.
    Alert {
        #[command(subcommand)]
        command: alert::AlertCommand,
    },
    /// Notifications queued by the daemon and what became of them.
    Alerts(alerts::AlertsArgs),
    /// The periodic report now: checks by status, checks not OK, alerts, overdue checks.
    Report(report::ReportArgs),
    /// Log export: collect the components' logs into one verified bundle.
    Logs {
        #[command(subcommand)]
        command: logs::LogsCommand,
    },
    /// Print the JSON Schema of check files (for yaml-language-server).
    Schema {
        /// The schema of the root patrol.yaml instead.
        #[arg(long)]
        root: bool,
    },
    /// Write the generated reference (docs/src/reference) from the schema and module docs;
    /// with --check, exit 1 when it is stale instead. For contributors.
    #[command(hide = true)]
    Reference {
        /// The folder of the generated pages.
        #[arg(long, default_value = "docs/src/reference")]
        out: PathBuf,
        /// Compare with the pages in --out instead of writing them.
        #[arg(long)]
        check: bool,
    },
    /// Write a starter configuration (patrol.yaml, the shipped checks and rules, a channel
    /// example) into a folder; it validates and runs as written.
    Init(init::InitArgs),
    /// Try patrol without a console: a simulated HyperBDR console with planted faults, the
    /// HyperBDR library run against it once (the table), then the status page until Ctrl-C.
    Demo(demo::DemoArgs),
    /// Schedules: when an expression fires (local and UTC, DST cases annotated).
    Schedule {
        #[command(subcommand)]
        command: schedule::ScheduleCommand,
    },
    /// One check in full: resolved configuration (secrets masked), next runs, its rule's
    /// source file, the last observation its rule saw.
    Explain(explain::ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff); with --dir, write one page per subcommand there.
    Man {
        /// Write patrol.1, patrol-daemon.1 ... into this folder instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RuleCommand {
    /// Run rule fixture files (`*.test.yaml`); default: the configured rules folders.
    Test {
        /// Fixture files or folders.
        paths: Vec<PathBuf>,
        /// Print `{passed, failed, cases: [{file, rule, case, passed, reason, status, summary}]}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one command; returns the process exit code.
pub async fn dispatch(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Validate { json } => validate::validate(&cli.config, json),
        Command::Run(args) => run::run(&cli.config, args).await,
        Command::Daemon { no_watch } => {
            crate::schedule::run_daemon(crate::schedule::DaemonOptions {
                config_path: cli.config.clone(),
                watch: !no_watch,
            })
            .await?;
            Ok(0)
        }
        Command::Status { json, console } => status::status(&cli.config, json, console.as_deref()),
        Command::History { check, limit, json } => {
            history::history(&cli.config, &check, limit, json)
        }
        Command::Rule {
            command: RuleCommand::Test { paths, json },
        } => rule_test::rule_test(&cli.config, paths, json),
        Command::Schema { root } => schema::schema(root),
        Command::Reference { out, check } => reference::reference(&out, check),
        Command::Silence { command } => silence::silence(&cli.config, command),
        Command::Alerts(args) => alerts::alerts(&cli.config, args),
        Command::Alert { command } => alert::alert(&cli.config, command).await,
        Command::Report(args) => report::report(&cli.config, args).await,
        Command::Logs { command } => logs::logs(&cli.config, command).await,
        Command::Init(args) => init::init(args),
        Command::Demo(args) => demo::demo(args).await,
        Command::Schedule { command } => schedule::schedule(&cli.config, command),
        Command::Explain(args) => explain::explain(&cli.config, args),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man { dir } => man::man(dir.as_deref()),
    }
}
