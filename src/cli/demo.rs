//! `patrol demo`: patrol's main job on a machine without a console. It starts the HyperBDR
//! simulator in-process as a console with a few planted faults, writes a throwaway
//! configuration that uses the shipped HyperBDR library against it (the console block as
//! `patrol init --hyperbdr` writes it), runs every check once the way `patrol run` does,
//! prints the table, then serves the status page until Ctrl-C (`--once`: exit after the
//! table, with the worst status).

use super::init::{self, ConsoleSetup, LibraryVars};
use crate::app::App;
use crate::config::Check;
use crate::hyperbdr::sim::{Sim, SimOptions, TimeStyle};
use crate::store::Store;
use anyhow::Context;
use clap::Args;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Write the configuration and the store into this folder and keep them (it must be
    /// empty, new, or an earlier demo's). Default: a temporary folder, removed at exit.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Where the status page listens. Default: 127.0.0.1:8787, or the next free port.
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<String>,
    /// Exit after the table, with the worst status (0/1/2/3), instead of serving the page.
    #[arg(long)]
    pub once: bool,
}

/// The first line of a demo's patrol.yaml: marks a folder `--dir` may write over.
const MARKER: &str = "# Written by `patrol demo`";
/// The simulated console's user and password (a loopback simulator, not a secret).
const USER: &str = "ops";
const PASSWORD: &str = "patrol-demo";
/// The simulated console's clock: every time it sends is local to it, without an offset.
const CONSOLE_ZONE: chrono_tz::Tz = chrono_tz::Asia::Shanghai;
/// The faults of the simulator's `demo` scenario ([`crate::hyperbdr::sim::DEMO_FAULTS`]): the fault, what it
/// is, and the check that should find it.
const PLANTED: &[(&str, &str, &str)] = &[
    (
        "rpo-5x",
        "host h-001 last synced 5 x its RPO ago",
        "hyperbdr-rpo-delay@main",
    ),
    (
        "bucket-92",
        "object storage st-obj-1 at 92 % of its quota",
        "hyperbdr-storage-space@main",
    ),
    (
        "iam-wildcard",
        "cloud account ca-1 is granted iam:*",
        "hyperbdr-permissions-excessive@main",
    ),
];
/// The default status page port and how many after it are tried.
const DEFAULT_PORT: u16 = 8787;
const PORTS_TRIED: u16 = 100;

pub async fn demo(args: DemoArgs) -> anyhow::Result<u8> {
    // Bind the page's port first: a busy port given with --listen fails before any work.
    let listener = if args.once {
        None
    } else {
        Some(bind(args.listen.as_deref()).await?)
    };
    let console = Sim::spawn(SimOptions {
        listen: "127.0.0.1:0".into(),
        scenario: "demo".into(),
        name: "main".into(),
        username: USER.into(),
        password: PASSWORD.into(),
        console_timezone: CONSOLE_ZONE,
        times: TimeStyle::Console,
        ..SimOptions::default()
    })
    .context("starting the simulated console")?;

    let (dir, temp) = match &args.dir {
        Some(d) => (prepare(d)?, None),
        None => {
            let t = tempfile::Builder::new()
                .prefix("patrol-demo-")
                .tempdir()
                .context("creating a temporary folder")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let config = write_config(&dir, &console.url())?;

    println!(
        "patrol demo: a simulated HyperBDR console at {} (clock {CONSOLE_ZONE}), with planted faults:",
        console.url()
    );
    for (_, what, check) in PLANTED {
        println!("  - {what} (found by {check})");
    }
    println!(
        "configuration: {}{}",
        config.display(),
        if temp.is_some() {
            " (temporary; --dir DIR keeps it)"
        } else {
            ""
        }
    );
    let (app, problems) = match App::load(&config) {
        Ok(loaded) => loaded,
        Err(problems) => {
            super::validate::print_problems(&problems);
            anyhow::bail!("the demo configuration cannot be used");
        }
    };
    let (selected, local) = select(&app);
    println!(
        "running {} checks once{}\n",
        selected.len(),
        if local.is_empty() {
            String::new()
        } else {
            format!(
                " ({} checks tagged `local` are left out: they test network paths and log files seen from this machine, which a simulator cannot provide)",
                local.len()
            )
        }
    );
    let _ = std::io::stdout().flush();
    let worst = super::run::run_checks(&app, &problems, &selected, false, false).await?;

    let Some(listener) = listener else {
        return Ok(worst);
    };
    let addr = listener.local_addr().context("the status page's address")?;
    let store = Store::open(&app.config.store_path())
        .with_context(|| format!("opening the store {}", app.config.store_path().display()))?;
    let server = crate::web::serve(listener, Arc::new(app), Arc::new(store));
    println!("\nstatus page: http://{addr}/   (Ctrl-C stops the demo)");
    println!(
        "your own console: patrol init DIR --hyperbdr --console-url URL --console-user USER --console-timezone ZONE"
    );
    let _ = std::io::stdout().flush();
    stopped().await;
    server.stop().await;
    drop(console);
    drop(temp);
    Ok(0)
}

/// Every enabled check but those tagged `local` (run), and those (left out).
fn select(app: &App) -> (Vec<Arc<Check>>, Vec<Arc<Check>>) {
    app.config
        .checks
        .iter()
        .filter(|c| c.def.enabled)
        .cloned()
        .partition(|c| !c.def.tags.iter().any(|t| t == "local"))
}

/// `--listen` as given, else 127.0.0.1:8787 or the next free port.
async fn bind(listen: Option<&str>) -> anyhow::Result<tokio::net::TcpListener> {
    if let Some(addr) = listen {
        return tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--listen {addr}"));
    }
    let mut last = None;
    for port in DEFAULT_PORT..DEFAULT_PORT + PORTS_TRIED {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    let e = last.map(|e| e.to_string()).unwrap_or_default();
    anyhow::bail!(
        "no free port in 127.0.0.1:{DEFAULT_PORT}-{} ({e}); use --listen HOST:PORT",
        DEFAULT_PORT + PORTS_TRIED - 1
    )
}

/// `--dir`: created when missing; an existing folder must be empty or an earlier demo's.
fn prepare(dir: &Path) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let root = dir.join("patrol.yaml");
    let earlier_demo = std::fs::read_to_string(&root).is_ok_and(|t| t.starts_with(MARKER));
    let empty = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .next()
        .is_none();
    if !empty && !earlier_demo {
        anyhow::bail!(
            "{} is not empty and holds no earlier demo: give a new or empty folder",
            dir.display()
        );
    }
    Ok(dir.to_path_buf())
}

/// Writes patrol.yaml, the library, the rules and the password file; returns patrol.yaml.
fn write_config(dir: &Path, url: &str) -> anyhow::Result<PathBuf> {
    let console = ConsoleSetup {
        name: "main".into(),
        url: url.into(),
        username: USER.into(),
        timezone: CONSOLE_ZONE.name().into(),
    };
    // The `local` checks are not run by the demo; their vars only need to be valid.
    let loopback = "127.0.0.1".to_string();
    let vars = LibraryVars {
        console_host: loopback.clone(),
        object_storage_host: loopback.clone(),
        gateway_host: loopback.clone(),
        ping_host: loopback,
        bucket: "demo-bucket".into(),
        access_key: "demo".into(),
    };
    let root = format!(
        r#"{MARKER} against a simulated console: throwaway, rewritten at each
# run. For a real console: `patrol init DIR --hyperbdr --console-url URL ...`.

store: {{ path: patrol.db }}
timezone: {zone}
concurrency: 8
history: 60

checks: [checks.d]
rules: [rules]

vars:
{vars}

{console}
secrets:
  hyperbdr_password: {{ file: secrets/hyperbdr-password }}
  s3_secret_key: {{ value: not-used-by-the-demo }}
{logs}"#,
        zone = CONSOLE_ZONE.name(),
        vars = init::hyperbdr_vars(&vars).trim_end(),
        console = init::console_yaml(&console),
        logs = init::logs_yaml(&console),
    );
    init::write(&dir.join("patrol.yaml"), &root)?;
    for (rel, content) in init::hyperbdr_files()
        .into_iter()
        .chain(init::generic_rules())
    {
        init::write(&dir.join(rel), &content)?;
    }
    init::write_secret(
        &dir.join("secrets/hyperbdr-password"),
        &format!("{PASSWORD}\n"),
    )?;
    Ok(dir.join("patrol.yaml"))
}

/// Until Ctrl-C (SIGINT) or SIGTERM.
async fn stopped() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyperbdr::sim;

    #[test]
    fn planted_faults_are_the_demo_scenario() {
        let planted: Vec<&str> = PLANTED.iter().map(|(f, _, _)| *f).collect();
        assert_eq!(planted, sim::DEMO_FAULTS);
        assert!(sim::is_scenario("demo"));
    }
}
