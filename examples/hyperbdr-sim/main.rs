//! A HyperBDR console simulator for trying patrol's `hyperbdr` checks without a console.
//!
//!     cargo run --example hyperbdr-sim -- --scenario green
//!     cargo run --example hyperbdr-sim -- --port 0 --times console --lockout-after 3
//!     cargo run --example hyperbdr-sim -- --console site-a:10443:green --console site-b:0:rpo-5x:UTC
//!     curl -X PUT localhost:10443/sim/scenario -d '{"scenario":"bucket-92"}'
//!     curl -X PUT localhost:10443/sim/modes -d '{"times":"console","drop_fields":["credential"]}'
//!     curl localhost:10443/sim/scenarios
//!     curl localhost:10443/sim/state
//!     curl localhost:10443/sim/stats
//!     curl -X POST localhost:10443/sim/reset
//!
//! Plain HTTP; each request is logged to stderr. One line per console, `NAME URL`, goes to
//! stdout once it listens (the way to learn a port picked with 0).

mod sim;

use clap::Parser;
use std::io::Write as _;

/// HyperBDR console simulator (plain HTTP).
#[derive(Parser, Debug)]
#[command(name = "hyperbdr-sim")]
struct Args {
    /// Address to listen on (port 0: a free one).
    #[arg(long, default_value = "127.0.0.1:10443")]
    listen: String,
    /// Port to listen on, replacing the port of --listen (0: a free one).
    #[arg(long)]
    port: Option<u16>,
    /// Scenario at start (`GET /sim/scenarios` lists them; `--list` prints them).
    #[arg(long, default_value = "green")]
    scenario: String,
    /// Name of the console (in /sim/stats and the request log).
    #[arg(long, default_value = "main")]
    name: String,
    /// The console user.
    #[arg(long, default_value = "ops")]
    username: String,
    /// The console user's password.
    #[arg(long, default_value = "sim-password")]
    password: String,
    /// Read the console user's password from this file (first line), instead of --password.
    #[arg(long, value_name = "PATH")]
    password_file: Option<std::path::PathBuf>,
    /// Time zone of the console's `YYYY-MM-DD HH:MM:SS` stamps.
    #[arg(long, default_value = "Asia/Shanghai")]
    console_timezone: String,
    /// How time fields are written: mixed (RFC 3339 UTC except the console's own task and
    /// snapshot stamps), utc (all RFC 3339 UTC) or console (all local YYYY-MM-DD HH:MM:SS in
    /// --console-timezone).
    #[arg(long, default_value = "mixed", value_parser = parse_times)]
    times: sim::TimeStyle,
    /// Leave this field out of every response; repeatable. `last_sync_success_at` drops
    /// that key anywhere, `credential.expires_at` only inside `credential`.
    #[arg(long = "drop-field", value_name = "FIELD")]
    drop_fields: Vec<String>,
    /// A token answers 401 after this many API requests with it (forcing a new login).
    #[arg(long, value_name = "N")]
    token_max_requests: Option<u64>,
    /// Most items per page, whatever page_size asks (`total` stays the true count).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..))]
    max_page_size: u64,
    /// Lock the account after N failed logins in a row; then even the right password is
    /// refused until `POST /sim/reset`.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    lockout_after: Option<u32>,
    /// Run several consoles: NAME:PORT:SCENARIO[:ZONE], repeatable (port 0: a free one).
    /// Each listens on the host of --listen; the other flags apply to all of them.
    #[arg(long = "console", value_name = "NAME:PORT:SCENARIO[:ZONE]")]
    consoles: Vec<sim::ConsoleSpec>,
    /// Delay of every response in the `slow` scenario, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    slow_ms: u64,
    /// Print the scenarios and exit.
    #[arg(long)]
    list: bool,
}

fn parse_times(s: &str) -> Result<sim::TimeStyle, String> {
    s.parse()
}

fn fail(msg: String) -> ! {
    eprintln!("hyperbdr-sim: {msg}");
    std::process::exit(2);
}

fn parse_zone(s: &str) -> chrono_tz::Tz {
    s.parse()
        .unwrap_or_else(|e| fail(format!("time zone {s:?}: {e}")))
}

/// `host:port` with the port replaced.
fn with_port(listen: &str, port: u16) -> String {
    match listen.rsplit_once(':') {
        Some((host, _)) => format!("{host}:{port}"),
        None => format!("{listen}:{port}"),
    }
}

fn main() {
    let args = Args::parse();
    if args.list {
        for (name, description) in sim::all_scenarios() {
            println!("{name:<28} {description}");
        }
        return;
    }
    let password = match &args.password_file {
        None => args.password.clone(),
        Some(p) => match std::fs::read_to_string(p) {
            Ok(text) => text.lines().next().unwrap_or_default().to_string(),
            Err(e) => fail(format!("--password-file {}: {e}", p.display())),
        },
    };
    let listen = match args.port {
        Some(port) => with_port(&args.listen, port),
        None => args.listen.clone(),
    };
    let base = sim::SimOptions {
        listen,
        scenario: args.scenario.clone(),
        name: args.name.clone(),
        username: args.username.clone(),
        password,
        console_timezone: parse_zone(&args.console_timezone),
        slow_ms: args.slow_ms,
        log_requests: true,
        times: args.times,
        drop_fields: args.drop_fields.clone(),
        token_max_requests: args.token_max_requests,
        max_page_size: usize::try_from(args.max_page_size).unwrap_or(usize::MAX),
        lockout_after: args.lockout_after,
    };
    let opts: Vec<sim::SimOptions> = if args.consoles.is_empty() {
        vec![base]
    } else {
        args.consoles
            .iter()
            .map(|c| sim::SimOptions {
                name: c.name.clone(),
                listen: with_port(&base.listen, c.port),
                scenario: c.scenario.clone(),
                console_timezone: c
                    .zone
                    .as_deref()
                    .map(parse_zone)
                    .unwrap_or(base.console_timezone),
                ..base.clone()
            })
            .collect()
    };
    let fleet = match sim::Fleet::spawn(opts) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("hyperbdr-sim: cannot start: {e}");
            std::process::exit(1);
        }
    };
    let mut out = std::io::stdout().lock();
    for s in fleet.consoles() {
        eprintln!(
            "hyperbdr-sim {} listening on {} (scenario {}, user {}, console zone {}, times {})",
            s.name(),
            s.url(),
            s.scenario(),
            s.username(),
            s.console_timezone(),
            args.times
        );
        let _ = writeln!(out, "{} {}", s.name(), s.url());
    }
    let _ = out.flush();
    drop(out);
    fleet.wait();
}
