//! A HyperBDR console simulator for trying patrol's `hyperbdr` checks without a console.
//!
//!     cargo run --example hyperbdr-sim -- --scenario green
//!     curl -X PUT localhost:10443/sim/scenario -d '{"scenario":"bucket-92"}'
//!     curl localhost:10443/sim/scenarios
//!     curl localhost:10443/sim/state
//!
//! Plain HTTP; each request is logged to stderr.

mod sim;

use clap::Parser;

/// HyperBDR console simulator (plain HTTP).
#[derive(Parser, Debug)]
#[command(name = "hyperbdr-sim")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:10443")]
    listen: String,
    /// Scenario at start (`GET /sim/scenarios` lists them; `--list` prints them).
    #[arg(long, default_value = "green")]
    scenario: String,
    /// The console user.
    #[arg(long, default_value = "ops")]
    username: String,
    /// The console user's password.
    #[arg(long, default_value = "sim-password")]
    password: String,
    /// Time zone of the console's `YYYY-MM-DD HH:MM:SS` stamps.
    #[arg(long, default_value = "Asia/Shanghai")]
    console_timezone: String,
    /// Delay of every response in the `slow` scenario, in milliseconds.
    #[arg(long, default_value_t = 5000)]
    slow_ms: u64,
    /// Print the scenarios and exit.
    #[arg(long)]
    list: bool,
}

fn main() {
    let args = Args::parse();
    if args.list {
        for (name, description) in sim::SCENARIOS {
            println!("{name:<28} {description}");
        }
        return;
    }
    let tz: chrono_tz::Tz = match args.console_timezone.parse() {
        Ok(tz) => tz,
        Err(e) => {
            eprintln!("hyperbdr-sim: --console-timezone: {e}");
            std::process::exit(2);
        }
    };
    let opts = sim::SimOptions {
        listen: args.listen,
        scenario: args.scenario,
        username: args.username,
        password: args.password,
        console_timezone: tz,
        slow_ms: args.slow_ms,
        log_requests: true,
    };
    match sim::Sim::spawn(opts.clone()) {
        Ok(s) => {
            eprintln!(
                "hyperbdr-sim listening on {} (scenario {}, user {}, console zone {})",
                s.url(),
                opts.scenario,
                opts.username,
                opts.console_timezone
            );
            s.wait();
        }
        Err(e) => {
            eprintln!("hyperbdr-sim: cannot start on {}: {e}", opts.listen);
            std::process::exit(1);
        }
    }
}
