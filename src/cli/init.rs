//! `patrol init DIR`: a starter configuration — `patrol.yaml`, the shipped generic checks in
//! `checks.d/`, their rules (and rule fixtures) in `rules/`, and a channel example. It
//! validates and runs as written. The files are the ones in this repository's `checks/` and
//! `rules/`, embedded at build time, so `init` and the repository never disagree.
//!
//! `--hyperbdr` adds the HyperBDR library, a console under `consoles:` (from the
//! `--console-*` flags, or placeholders that `validate` warns about), the console's log
//! collection under `logs:` and the secret files. `patrol demo` writes its console the same
//! way ([`console_yaml`]).

use crate::config::placeholder::CHANGE_ME;
use clap::Args;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The folder to write into (created when missing), e.g. /etc/patrol.
    pub dir: PathBuf,
    /// Where the root config keeps its SQLite store (absolute, or relative to DIR),
    /// e.g. /var/lib/patrol/patrol.db.
    #[arg(long, default_value = "patrol.db")]
    pub store: PathBuf,
    /// Default time zone of schedules (IANA name).
    #[arg(long, default_value = "UTC")]
    pub timezone: String,
    /// Overwrite files that already exist.
    #[arg(long)]
    pub force: bool,
    /// Also write the HyperBDR daily O&M library (`checks.d/hyperbdr/`, `rules/hyperbdr-*`),
    /// a console under `consoles:`, its log collection under `logs:`, the variables the
    /// library reads and two secret files to fill in (`secrets/hyperbdr-password`,
    /// `secrets/s3-secret-key`, mode 0600).
    #[arg(long)]
    pub hyperbdr: bool,
    /// The console's URL, e.g. https://10.0.0.5:10443 (with --hyperbdr). Default: the
    /// placeholder https://CONSOLE:10443.
    #[arg(long, value_name = "URL", requires = "hyperbdr")]
    pub console_url: Option<String>,
    /// The console user (with --hyperbdr). Default: the placeholder CHANGE-ME.
    #[arg(long, value_name = "USER", requires = "hyperbdr")]
    pub console_user: Option<String>,
    /// The zone of the console's clock (IANA name, e.g. Asia/Shanghai): its times without an
    /// offset are read in it (with --hyperbdr). Default: --timezone.
    #[arg(long, value_name = "ZONE", requires = "hyperbdr")]
    pub console_timezone: Option<String>,
    /// The console's name in check ids and alerts, [a-z0-9-]+ (with --hyperbdr). Default: main.
    #[arg(long, value_name = "NAME", requires = "hyperbdr")]
    pub console_name: Option<String>,
}

/// A console as `init --hyperbdr` and `demo` write it into `patrol.yaml`.
#[derive(Debug, Clone)]
pub(crate) struct ConsoleSetup {
    /// Its name under `consoles:`.
    pub name: String,
    pub url: String,
    pub username: String,
    /// IANA zone of the console's clock.
    pub timezone: String,
}

impl ConsoleSetup {
    /// The console of the `--console-*` flags; placeholders for the ones not given.
    fn from_args(a: &InitArgs) -> anyhow::Result<ConsoleSetup> {
        let name = a.console_name.clone().unwrap_or_else(|| "main".into());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            anyhow::bail!(
                "--console-name {name:?}: use lower-case letters, digits and '-' (it becomes part of check ids)"
            );
        }
        let url = match &a.console_url {
            None => "https://CONSOLE:10443".to_string(),
            Some(u) => {
                let parsed = reqwest::Url::parse(u)
                    .map_err(|e| anyhow::anyhow!("--console-url {u:?}: {e}"))?;
                if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
                    anyhow::bail!(
                        "--console-url {u:?}: give scheme://host[:port], e.g. https://10.0.0.5:10443"
                    );
                }
                u.trim_end_matches('/').to_string()
            }
        };
        let timezone = a
            .console_timezone
            .clone()
            .unwrap_or_else(|| a.timezone.clone());
        timezone
            .parse::<chrono_tz::Tz>()
            .map_err(|e| anyhow::anyhow!("--console-timezone {timezone:?}: {e}"))?;
        Ok(ConsoleSetup {
            name,
            url,
            username: a.console_user.clone().unwrap_or_else(|| CHANGE_ME.into()),
            timezone,
        })
    }

    /// The host of its URL as written (a URL parser would lower-case the placeholder
    /// `CONSOLE`, which then no longer reads as one).
    pub fn host(&self) -> String {
        crate::config::placeholder::url_host(&self.url)
            .unwrap_or("CONSOLE")
            .to_string()
    }
}

/// The `consoles:` block of patrol.yaml for one console (the shape of `ConsoleConfig`; the
/// settings with defaults are written commented out, with the defaults).
pub(crate) fn console_yaml(c: &ConsoleSetup) -> String {
    format!(
        r#"# HyperBDR consoles. Each check in checks.d/hyperbdr runs once per console (ids like
# hyperbdr-rpo-delay@{name}); each console also gets two derived checks that hold the others'
# alerts while it is down: hyperbdr-console-reachable@{name} and hyperbdr-console-api@{name}.
# Another console is one more block like this one.
consoles:
  {name}:
    url: {url}   # scheme://host[:port] of the console
    username: {user}
    password: "${{secret:hyperbdr_password}}"   # the file secrets/hyperbdr-password
    scene: dr                  # X-SCENE: dr or migration
    timezone: {zone}   # the console's clock: its times without an offset are in this zone
    # ca_file: /etc/patrol/console-ca.pem   # the CA that signed the console's certificate
    # insecure: false          # true accepts any certificate (a self-signed console)
    # timeout: 30s             # per request
    # page_size: 100
    # login_backoff: 15m       # after a refused login, no login to this console for this long
    # max_clock_skew: 5m       # a console time further in the future than this is UNKNOWN
    # check_every: 1m          # schedule of the two derived checks
"#,
        name = c.name,
        url = yaml_str(&c.url),
        user = yaml_str(&c.username),
        zone = yaml_str(&c.timezone),
    )
}

/// The `logs:` section for the console's own log collection, with SSH sources to fill in.
pub(crate) fn logs_yaml(c: &ConsoleSetup) -> String {
    format!(
        r#"
# Log export (`patrol logs export`, and a check's `on_failure: export_logs`): the console's
# own log collection, and the components' log files over SSH once you fill them in.
logs:
  # known_hosts: known_hosts   # SSH host keys of the hosts below (ssh-keyscan HOST >> known_hosts)
  sources:
    console:
      collect:
        - hyperbdr:
            console: {name}
            resource_type: console
            resource_id: console-1   # the console's id in GET /api/v2/om/modules (kind console)
    # sync-proxy:
    #   collect:
    #     - hyperbdr: {{ console: {name}, resource_type: sync_proxy, resource_id: proxy-1 }}
    # linux-host:
    #   collect:
    #     - ssh:
    #         hosts: [10.0.1.21, "10.0.1.22:2222"]
    #         user: patrol
    #         key_file: secrets/ssh-key
    #         paths: [/var/log/egisplus-agent/*.log*]
    # windows-host:
    #   collect:
    #     - ssh:
    #         hosts: [10.0.2.31]
    #         user: Administrator
    #         password: "${{secret:windows_password}}"
    #         paths: ['C:\Program Files (x86)\DiskSync-Agent\log\*.log']
"#,
        name = c.name
    )
}

/// The HyperBDR library as shipped in this repository.
static HYPERBDR_CHECKS: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/checks/hyperbdr");
static RULES: include_dir::Dir<'_> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/rules");

/// What the HyperBDR library reads besides its console: the hosts of the network paths it
/// tests from this machine (its checks tagged `local`) and the backup bucket.
pub(crate) struct LibraryVars {
    pub console_host: String,
    pub object_storage_host: String,
    pub gateway_host: String,
    pub ping_host: String,
    pub bucket: String,
    pub access_key: String,
}

/// [`LibraryVars`] as the lines of `vars:`.
pub(crate) fn hyperbdr_vars(h: &LibraryVars) -> String {
    format!(
        r#"  # HyperBDR (checks.d/hyperbdr; the console itself is under `consoles:` below).
  # Network paths tested from this machine (checks tagged `local`):
  hyperbdr_console_host: {console}   # ports 10443 (control) and 30080 (download)
  hyperbdr_object_storage_host: {storage}   # port 443, e.g. the bucket's endpoint host
  hyperbdr_gateway_host: {gateway}   # the cloud sync gateway (HyperGate)
  hyperbdr_ping_host: {ping}   # ICMP target on the DR side
  hyperbdr_log_root: ""        # prefix of the components' log paths ("" beside them)
  # The backup bucket for the live key check and the sample restore (both shipped disabled):
  s3_endpoint: https://{storage}
  s3_region: us-east-1
  s3_bucket: {bucket}
  s3_access_key: {access_key}
  sample_restore_prefix: backup/
"#,
        console = yaml_str(&h.console_host),
        storage = yaml_str(&h.object_storage_host),
        gateway = yaml_str(&h.gateway_host),
        ping = yaml_str(&h.ping_host),
        bucket = yaml_str(&h.bucket),
        access_key = yaml_str(&h.access_key),
    )
}

const HYPERBDR_SECRETS: &str = r#"secrets:
  # Written by `patrol init --hyperbdr` with a placeholder (mode 0600): put the real values in.
  hyperbdr_password: { file: secrets/hyperbdr-password }
  s3_secret_key: { file: secrets/s3-secret-key }
"#;

/// The HyperBDR library `--hyperbdr` (and `demo`) writes: (path under DIR, content).
pub(crate) fn hyperbdr_files() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for f in HYPERBDR_CHECKS.files() {
        if let Some(text) = f.contents_utf8() {
            files.push((
                format!("checks.d/hyperbdr/{}", f.path().display()),
                text.to_string(),
            ));
        }
    }
    for f in RULES.files() {
        let name = f.path().display().to_string();
        if let (true, Some(text)) = (name.starts_with("hyperbdr-"), f.contents_utf8()) {
            files.push((format!("rules/{name}"), text.to_string()));
        }
    }
    files.sort();
    files
}

/// The shipped generic rules (the HyperBDR library uses `log-errors` too): (path under DIR,
/// content).
pub(crate) fn generic_rules() -> Vec<(String, String)> {
    FILES
        .iter()
        .filter(|(p, _)| p.starts_with("rules/"))
        .map(|(p, c)| ((*p).to_string(), (*c).to_string()))
        .collect()
}

/// The shipped generic checks and rules: (path under DIR, content).
const FILES: &[(&str, &str)] = &[
    ("checks.d/host.yaml", include_str!("../../checks/host.yaml")),
    ("checks.d/logs.yaml", include_str!("../../checks/logs.yaml")),
    (
        "checks.d/network.yaml",
        include_str!("../../checks/network.yaml"),
    ),
    (
        "checks.d/certs.yaml",
        include_str!("../../checks/certs.yaml"),
    ),
    (
        "rules/cert-expiry.rhai",
        include_str!("../../rules/cert-expiry.rhai"),
    ),
    (
        "rules/cert-expiry.test.yaml",
        include_str!("../../rules/cert-expiry.test.yaml"),
    ),
    (
        "rules/disk-usage.rhai",
        include_str!("../../rules/disk-usage.rhai"),
    ),
    (
        "rules/disk-usage.test.yaml",
        include_str!("../../rules/disk-usage.test.yaml"),
    ),
    (
        "rules/load-average.rhai",
        include_str!("../../rules/load-average.rhai"),
    ),
    (
        "rules/load-average.test.yaml",
        include_str!("../../rules/load-average.test.yaml"),
    ),
    (
        "rules/log-errors.rhai",
        include_str!("../../rules/log-errors.rhai"),
    ),
    (
        "rules/log-errors.test.yaml",
        include_str!("../../rules/log-errors.test.yaml"),
    ),
    (
        "rules/memory-usage.rhai",
        include_str!("../../rules/memory-usage.rhai"),
    ),
    (
        "rules/memory-usage.test.yaml",
        include_str!("../../rules/memory-usage.test.yaml"),
    ),
    (
        "rules/tcp-port.rhai",
        include_str!("../../rules/tcp-port.rhai"),
    ),
    (
        "rules/tcp-port.test.yaml",
        include_str!("../../rules/tcp-port.test.yaml"),
    ),
];

/// The root config written by `init` (`{store}` and `{timezone}` filled in).
const ROOT: &str = r#"# patrol root configuration, written by `patrol init`. Reference: README.md ("patrol.yaml").
# Check it with `patrol --config THIS_FILE validate`; try the checks with `run --all`.

store:
  path: {store}              # SQLite file (relative paths: to this file)
  max_age: 90d

timezone: {timezone}         # default zone of schedules; a check may set its own
concurrency: 8

checks: [checks.d]           # every *.yaml below checks.d/ (one check per YAML document)
rules: [rules]               # NAME.rhai rules and their NAME.test.yaml fixtures

vars:
  log_glob: /var/log/*.log   # ${var:log_glob} in checks.d/logs.yaml

secrets: {}
  # referenced as ${secret:NAME}; never stored, logged or printed:
  # smtp_password: { file: /etc/patrol/smtp.pass }
  # webhook_token: { env: PATROL_WEBHOOK_TOKEN }

# Channels: where alerts go. This example is defined but not used until you list it under
# alerting.channels (or a route, or report.channels).
channels:
  ops-webhook:
    webhook:
      url: "${env:PATROL_WEBHOOK_URL:-http://127.0.0.1:9/patrol}"
      # secret: "${secret:webhook_token}"   # Standard Webhooks signature
  # ops-mail:
  #   email:
  #     host: smtp.example.com
  #     from: patrol@example.com
  #     to: [ops@example.com]
  #     username: patrol
  #     password: "${secret:smtp_password}"

alerting:
  after: 1                   # non-OK runs before an incident opens
  repeat: 24h                # remind while it stays bad
  channels: []               # e.g. [ops-webhook]

# report:                    # the daily report (also proves patrol and the channel are alive)
#   schedule: "0 0 8 * * *"
#   channels: [ops-webhook]

# self_heartbeat:            # a dead man's switch for patrol itself
#   url: "https://hc-ping.com/${secret:hc_uuid}"
"#;

pub fn init(a: InitArgs) -> anyhow::Result<u8> {
    a.timezone
        .parse::<chrono_tz::Tz>()
        .map_err(|e| anyhow::anyhow!("--timezone {:?}: {e}", a.timezone))?;
    let console = if a.hyperbdr {
        Some(ConsoleSetup::from_args(&a)?)
    } else {
        None
    };
    let root = ROOT
        .replace("{store}", &yaml_str(&a.store.to_string_lossy()))
        .replace("{timezone}", &yaml_str(&a.timezone));
    let root = match &console {
        Some(c) => {
            let host = c.host();
            let hosts = LibraryVars {
                console_host: host.clone(),
                object_storage_host: "OBJECT-STORAGE-HOST".into(),
                gateway_host: "GATEWAY-HOST".into(),
                ping_host: host,
                bucket: "BUCKET".into(),
                access_key: "ACCESS-KEY-ID".into(),
            };
            let mut root = root
                .replace(
                    "  log_glob: /var/log/*.log   # ${var:log_glob} in checks.d/logs.yaml\n",
                    &format!(
                        "  log_glob: /var/log/*.log   # ${{var:log_glob}} in checks.d/logs.yaml\n{}",
                        hyperbdr_vars(&hosts)
                    ),
                )
                .replace(
                    "secrets: {}\n",
                    &format!("{}\n{HYPERBDR_SECRETS}", console_yaml(c)),
                );
            root.push_str(&logs_yaml(c));
            root
        }
        None => root,
    };
    let mut files: Vec<(String, String)> = vec![("patrol.yaml".into(), root)];
    files.extend(
        FILES
            .iter()
            .map(|(p, c)| ((*p).to_string(), (*c).to_string())),
    );
    let secret_files = [
        "secrets/hyperbdr-password".to_string(),
        "secrets/s3-secret-key".to_string(),
    ];
    if a.hyperbdr {
        files.extend(hyperbdr_files());
        for path in &secret_files {
            // A secret already there is kept, even with --force: it may be the real one.
            if !a.dir.join(path).exists() {
                files.push((path.clone(), format!("{CHANGE_ME}\n")));
            }
        }
    }
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| a.dir.join(p).exists())
        .map(|(p, _)| a.dir.join(p).display().to_string())
        .collect();
    if !existing.is_empty() && !a.force {
        anyhow::bail!(
            "not overwriting existing files (use --force):\n  {}",
            existing.join("\n  ")
        );
    }
    for (rel, content) in &files {
        if secret_files.contains(rel) {
            write_secret(&a.dir.join(rel), content)?;
        } else {
            write(&a.dir.join(rel), content)?;
        }
    }
    let config = a.dir.join("patrol.yaml");
    println!(
        "wrote {} files to {}:\n  patrol.yaml, checks.d/ ({} check files), rules/ ({} files)",
        files.len(),
        a.dir.display(),
        files
            .iter()
            .filter(|(p, _)| p.starts_with("checks.d/"))
            .count(),
        files
            .iter()
            .filter(|(p, _)| p.starts_with("rules/"))
            .count(),
    );
    if let Some(c) = &console {
        println!(
            "HyperBDR: console {} at {} — write its password into {} (`patrol validate` lists the placeholders still to fill in)",
            c.name,
            c.url,
            a.dir.join("secrets/hyperbdr-password").display()
        );
    }
    println!(
        "next:\n  patrol --config {0} validate\n  patrol --config {0} run --all\n  patrol --config {0} daemon",
        config.display()
    );
    Ok(0)
}

/// Writes a new file readable by its owner only (mode 0600 from the start).
pub(crate) fn write_secret(path: &Path, content: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    f.write_all(content.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

pub(crate) fn write(path: &Path, content: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

/// A YAML scalar: plain when safe (a URL too: a colon inside a word is plain text), else
/// double-quoted.
pub(crate) fn yaml_str(s: &str) -> String {
    if !s.is_empty()
        && !s.starts_with(':')
        && !s.ends_with(':')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:".contains(c))
    {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}
