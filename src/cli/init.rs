//! `patrol init DIR`: a starter configuration — `patrol.yaml`, the shipped generic checks in
//! `checks.d/`, their rules (and rule fixtures) in `rules/`, and a channel example. It
//! validates and runs as written. The files are the ones in this repository's `checks/` and
//! `rules/`, embedded at build time, so `init` and the repository never disagree.

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
    /// the variables it reads and two secret files to fill in.
    #[arg(long)]
    pub hyperbdr: bool,
}

/// The HyperBDR library as shipped in this repository.
static HYPERBDR_CHECKS: include_dir::Dir<'_> =
    include_dir::include_dir!("$CARGO_MANIFEST_DIR/checks/hyperbdr");
static RULES: include_dir::Dir<'_> = include_dir::include_dir!("$CARGO_MANIFEST_DIR/rules");

/// Added to the root config by `--hyperbdr`: what the HyperBDR checks read.
const HYPERBDR_VARS: &str = r#"
  # HyperBDR (checks.d/hyperbdr, catalogue: checks/README.md in the repository).
  # Network paths tested from this machine (checks tagged `local`):
  hyperbdr_console_host: CONSOLE             # port 30080 (package download) of the console
  hyperbdr_object_storage_host: OBJECT-STORAGE-HOST   # port 443
  hyperbdr_gateway_host: GATEWAY-HOST        # the cloud sync gateway (HyperGate)
  hyperbdr_ping_host: GATEWAY-HOST           # ICMP target on the DR side
  hyperbdr_log_root: ""                      # prefix of the components' log paths ("" beside them)
  # The backup bucket for the live key check and the sample restore (both shipped disabled):
  s3_endpoint: https://OBJECT-STORAGE-HOST
  s3_region: us-east-1
  s3_bucket: BUCKET
  s3_access_key: ACCESS-KEY-ID
  sample_restore_prefix: backup/
"#;

const HYPERBDR_SECRETS: &str = r#"consoles:
  main:                                      # every HyperBDR check runs as ID@main
    url: https://CONSOLE:10443               # the console's API base URL
    username: ops
    password: "${secret:hyperbdr_password}"
    timezone: UTC                            # the console's own zone, e.g. Asia/Shanghai

secrets:
  # Written by `patrol init --hyperbdr` with a placeholder (mode 0600): put the real values in.
  hyperbdr_password: { file: secrets/hyperbdr-password }
  s3_secret_key: { file: secrets/s3-secret-key }
"#;

/// The HyperBDR files `--hyperbdr` adds: (path under DIR, content).
fn hyperbdr_files() -> Vec<(String, String)> {
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
    let root = ROOT
        .replace("{store}", &yaml_str(&a.store.to_string_lossy()))
        .replace("{timezone}", &yaml_str(&a.timezone));
    let root = if a.hyperbdr {
        root.replace(
            "  log_glob: /var/log/*.log   # ${var:log_glob} in checks.d/logs.yaml\n",
            &format!(
                "  log_glob: /var/log/*.log   # ${{var:log_glob}} in checks.d/logs.yaml\n{}",
                HYPERBDR_VARS.trim_start_matches('\n')
            ),
        )
        .replace("secrets: {}\n", HYPERBDR_SECRETS)
    } else {
        root
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
            files.push((path.clone(), "CHANGE-ME\n".to_string()));
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
        write(&a.dir.join(rel), content)?;
        if secret_files.contains(rel) {
            use std::os::unix::fs::PermissionsExt;
            let path = a.dir.join(rel);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| anyhow::anyhow!("chmod 600 {}: {e}", path.display()))?;
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
    if a.hyperbdr {
        println!(
            "HyperBDR: set the hyperbdr_* and s3_* vars in patrol.yaml, and the secrets in {}",
            a.dir.join("secrets").display()
        );
    }
    println!(
        "next:\n  patrol --config {0} validate\n  patrol --config {0} run --all\n  patrol --config {0} daemon",
        config.display()
    );
    Ok(0)
}

fn write(path: &Path, content: &str) -> anyhow::Result<()> {
    use anyhow::Context;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    std::fs::write(path, content).with_context(|| format!("writing {}", path.display()))
}

/// A YAML scalar: plain when safe, else double-quoted.
fn yaml_str(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+".contains(c))
    {
        s.to_string()
    } else {
        serde_json::to_string(s).unwrap_or_default()
    }
}
