//! `ssh` collector: files fetched by SFTP from remote hosts, Linux or Windows.
//!
//! ```yaml
//! logs:
//!   known_hosts: /etc/patrol/known_hosts
//!   sources:
//!     linux-host:
//!       collect:
//!         - ssh:
//!             hosts: [10.0.1.21, "10.0.1.22:2222"]
//!             user: patrol
//!             key: ${secret:ssh_key}
//!             paths: [/var/log/egisplus-agent/*.log*]
//!     windows-host:
//!       collect:
//!         - ssh:
//!             hosts: [10.0.2.31]
//!             user: Administrator
//!             password: ${secret:windows_password}
//!             paths: ['C:\Program Files (x86)\DiskSync-Agent\log\*.log']
//! ```
//!
//! Every host is one job: hosts are fetched in parallel (at most `logs.parallel` jobs at a
//! time) and a host that fails never stops the others. The host key must be in the
//! known_hosts file (`logs.known_hosts`, OpenSSH format; `[host]:port` entries for other
//! ports, e.g. from `ssh-keyscan -p PORT HOST`): an unknown or changed key is refused, naming
//! the host and the offered key's SHA-256 fingerprint. Authentication: `key` (the private key
//! text, usually a secret) or `key_file`, then `password`. `logs.connect_timeout` bounds
//! connecting, the key check and the login; `logs.transfer_timeout` bounds listing and
//! downloading a host's files.
//!
//! Windows paths (`C:\dir\*.log` or `C:/dir/*.log`) are what OpenSSH for Windows serves as
//! `/C:/dir/*.log`; in the bundle they are stored under `C/dir/`. Globs take `*`, `?`, `[..]`
//! and `**` (any folders).

use super::{Collected, JobContext, JobOutput, filter};
use crate::config::Text;
use chrono::{DateTime, Utc};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Configuration of the `ssh` collector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SshCollector {
    /// Hosts to fetch from: `name`, `name:port` or `[v6address]:port`.
    pub hosts: Vec<String>,
    /// Port of hosts that do not name one. Default: 22.
    #[serde(default = "default_port")]
    pub port: u16,
    /// User to log in as.
    pub user: Text,
    /// Password (use `${secret:name}`); tried after the key, if both are given.
    #[serde(default)]
    pub password: Option<Text>,
    /// Private key text in OpenSSH or PEM format (use `${secret:name}` or `${file:PATH}`).
    #[serde(default)]
    pub key: Option<Text>,
    /// Private key file, relative to `patrol.yaml` (instead of `key`).
    #[serde(default)]
    pub key_file: Option<PathBuf>,
    /// Passphrase of an encrypted key.
    #[serde(default)]
    pub key_passphrase: Option<Text>,
    /// Remote file globs; absolute Unix paths or Windows paths with a drive letter.
    pub paths: Vec<String>,
}

fn default_port() -> u16 {
    22
}

/// Splits `host`, `host:port` or `[v6]:port`.
pub fn host_port(spec: &str, default: u16) -> (String, u16) {
    if let Some(rest) = spec.strip_prefix('[')
        && let Some((h, p)) = rest.split_once(']')
    {
        let port = p
            .strip_prefix(':')
            .and_then(|p| p.parse().ok())
            .unwrap_or(default);
        return (h.to_string(), port);
    }
    match spec.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => match p.parse() {
            Ok(port) => (h.to_string(), port),
            Err(_) => (spec.to_string(), default),
        },
        _ => (spec.to_string(), default),
    }
}

/// A configured path as the SFTP server names it: `C:\dir\x` → `/C:/dir/x`.
pub fn sftp_path(path: &str) -> String {
    let b = path.as_bytes();
    let windows = b.len() >= 3
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && (b[2] == b'\\' || b[2] == b'/');
    if windows {
        format!("/{}", path.replace('\\', "/"))
    } else {
        path.to_string()
    }
}

/// Where a remote file goes under `SOURCE/HOST/` in the bundle: `/C:/dir/x` → `C/dir/x`.
pub fn bundle_rel(sftp: &str) -> String {
    let s = sftp.trim_start_matches('/');
    let b = s.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        format!("{}{}", &s[..1], &s[2..])
    } else {
        s.to_string()
    }
}

/// Checks the server's key against the known_hosts file and remembers why it refused.
struct Verifier {
    host: String,
    port: u16,
    known_hosts: PathBuf,
    refusal: Arc<Mutex<Option<String>>>,
}

impl Verifier {
    fn refuse(&self, why: String) -> Result<bool, russh::Error> {
        if let Ok(mut r) = self.refusal.lock() {
            *r = Some(why);
        }
        Ok(false)
    }
}

impl russh::client::Handler for Verifier {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let key = match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => key,
            PublicKeyOrCertificate::Certificate(_) => {
                return self.refuse(format!(
                    "host {}:{} offered a certificate; only plain host keys listed in {} are accepted",
                    self.host,
                    self.port,
                    self.known_hosts.display()
                ));
            }
        };
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let name = if self.port == 22 {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        };
        match russh::keys::check_known_hosts_path(&self.host, self.port, key, &self.known_hosts) {
            Ok(true) => Ok(true),
            Ok(false) => self.refuse(format!(
                "host key of {name} is unknown: it offered {} {fingerprint}, which is not in {}; \
                 refusing (add it with `ssh-keyscan` after checking the fingerprint)",
                key.algorithm(),
                self.known_hosts.display()
            )),
            Err(russh::keys::Error::KeyChanged { line }) => self.refuse(format!(
                "HOST KEY CHANGED for {name}: it offered {} {fingerprint}, but {} line {line} \
                 holds another key; refusing (possible man-in-the-middle)",
                key.algorithm(),
                self.known_hosts.display()
            )),
            Err(e) => self.refuse(format!(
                "cannot check the host key of {name} ({fingerprint}) against {}: {e}",
                self.known_hosts.display()
            )),
        }
    }
}

/// Fetches the matching files of one host.
pub async fn collect(
    cfg: &SshCollector,
    host_spec: &str,
    ctx: &JobContext,
) -> Result<JobOutput, String> {
    let (host, port) = host_port(host_spec, cfg.port);
    let refusal = Arc::new(Mutex::new(None));
    let verifier = Verifier {
        host: host.clone(),
        port,
        known_hosts: ctx.known_hosts.clone(),
        refusal: refusal.clone(),
    };
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(ctx.transfer_timeout),
        ..Default::default()
    });
    let user = cfg.user.value().to_string();
    let login = async {
        let mut handle = russh::client::connect(config, (host.as_str(), port), verifier)
            .await
            .map_err(|e| {
                refusal
                    .lock()
                    .ok()
                    .and_then(|r| r.clone())
                    .unwrap_or_else(|| format!("cannot connect to {host}:{port}: {e}"))
            })?;
        authenticate(&mut handle, cfg, &user, &ctx.base_dir)
            .await
            .map_err(|e| format!("{user}@{host}:{port}: {e}"))?;
        Ok::<_, String>(handle)
    };
    let handle = match tokio::time::timeout(ctx.connect_timeout, login).await {
        Ok(r) => r?,
        Err(_) => {
            return Err(format!(
                "{host}:{port} did not complete connect and login within {}",
                humantime::format_duration(ctx.connect_timeout)
            ));
        }
    };
    let fetch = fetch_files(&handle, cfg, &host, ctx);
    let result = match tokio::time::timeout(ctx.transfer_timeout, fetch).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "{host}:{port}: transfer did not finish within {}",
            humantime::format_duration(ctx.transfer_timeout)
        )),
    };
    let _ = handle
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    result
}

async fn authenticate(
    handle: &mut russh::client::Handle<Verifier>,
    cfg: &SshCollector,
    user: &str,
    base_dir: &std::path::Path,
) -> Result<(), String> {
    let passphrase = cfg.key_passphrase.as_ref().map(|p| p.value().to_string());
    let key = match (&cfg.key, &cfg.key_file) {
        (Some(text), _) => Some(
            russh::keys::decode_secret_key(text.value(), passphrase.as_deref())
                .map_err(|e| format!("the private key cannot be read: {e}"))?,
        ),
        (None, Some(path)) => {
            let full = base_dir.join(path);
            Some(
                russh::keys::load_secret_key(&full, passphrase.as_deref())
                    .map_err(|e| format!("cannot read the key file {}: {e}", full.display()))?,
            )
        }
        (None, None) => None,
    };
    if key.is_none() && cfg.password.is_none() {
        return Err("no `key`, `key_file` or `password` to log in with".into());
    }
    if let Some(key) = key {
        let hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| e.to_string())?
            .flatten();
        let res = handle
            .authenticate_publickey(user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| e.to_string())?;
        if res.success() {
            return Ok(());
        }
        if cfg.password.is_none() {
            return Err("the server refused the key".into());
        }
    }
    if let Some(pw) = &cfg.password {
        let res = handle
            .authenticate_password(user, pw.value())
            .await
            .map_err(|e| e.to_string())?;
        if res.success() {
            return Ok(());
        }
        return Err("the server refused the login".into());
    }
    Err("the server refused the login".into())
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Longest folder depth searched below a glob's fixed part when it has `**`.
const MAX_DEPTH: usize = 12;

async fn fetch_files(
    handle: &russh::client::Handle<Verifier>,
    cfg: &SshCollector,
    host: &str,
    ctx: &JobContext,
) -> Result<JobOutput, String> {
    let channel = handle
        .channel_open_session()
        .await
        .map_err(|e| format!("{host}: cannot open a session: {e}"))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| format!("{host}: no SFTP subsystem: {e}"))?;
    let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| format!("{host}: SFTP did not start: {e}"))?;
    sftp.set_timeout(ctx.transfer_timeout.as_secs().max(1));
    let user = cfg.user.value();
    let mut out = JobOutput::default();
    let mut failed = Vec::new();
    for configured in &cfg.paths {
        let pattern = sftp_path(configured);
        let matches = match list(&sftp, &pattern).await {
            Ok(m) => m,
            Err(e) => {
                failed.push(format!("{configured}: {e}"));
                continue;
            }
        };
        if matches.is_empty() {
            out.warnings
                .push(format!("{configured}: no files match on {host}"));
        }
        for (path, mtime) in matches {
            if !filter::file_in_window(mtime, &ctx.window) {
                continue;
            }
            match sftp.read(path.as_str()).await {
                Ok(content) => out.files.push(Collected {
                    rel: bundle_rel(&path),
                    origin: format!("sftp://{user}@{host}{path}"),
                    mtime,
                    content,
                }),
                Err(e) => out.warnings.push(format!("{path}: {e}")),
            }
        }
    }
    let _ = sftp.close().await;
    if out.files.is_empty() && !failed.is_empty() {
        return Err(format!("{host}: {}", failed.join("; ")));
    }
    out.warnings.extend(failed);
    Ok(out)
}

/// The regular files matching a remote glob, with their modification times.
async fn list(
    sftp: &russh_sftp::client::SftpSession,
    pattern: &str,
) -> Result<Vec<(String, Option<DateTime<Utc>>)>, String> {
    let parts: Vec<&str> = pattern.split('/').collect();
    let Some(first_glob) = parts.iter().position(|p| has_glob(p)) else {
        // A plain path: one file, or every file of a folder.
        let meta = sftp.metadata(pattern).await.map_err(|e| e.to_string())?;
        if meta.is_dir() {
            return Box::pin(list(sftp, &format!("{}/*", pattern.trim_end_matches('/')))).await;
        }
        return Ok(vec![(pattern.to_string(), mtime(&meta))]);
    };
    let base = parts[..first_glob].join("/");
    let base = if base.is_empty() {
        "/".to_string()
    } else {
        base
    };
    let rest = parts[first_glob..].join("/");
    let glob = glob::Pattern::new(&rest).map_err(|e| format!("bad pattern: {e}"))?;
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: false,
    };
    let max_depth = if rest.contains("**") {
        MAX_DEPTH
    } else {
        parts.len() - first_glob
    };
    let mut found = Vec::new();
    let mut stack = vec![(base.clone(), String::new(), 1usize)];
    while let Some((dir, rel_dir, depth)) = stack.pop() {
        let entries = match sftp.read_dir(dir.as_str()).await {
            Ok(e) => e,
            // The fixed part itself must exist; folders below it may be unreadable.
            Err(e) if depth == 1 => return Err(format!("{dir}: {e}")),
            Err(_) => continue,
        };
        for entry in entries {
            let name = entry.file_name();
            let rel = if rel_dir.is_empty() {
                name.clone()
            } else {
                format!("{rel_dir}/{name}")
            };
            let full = format!("{}/{name}", dir.trim_end_matches('/'));
            let meta = entry.metadata();
            if meta.is_dir() {
                if depth < max_depth {
                    stack.push((full, rel, depth + 1));
                }
            } else if meta.is_regular() && glob.matches_with(&rel, opts) {
                found.push((full, mtime(&meta)));
            }
        }
    }
    found.sort();
    Ok(found)
}

fn mtime(meta: &russh_sftp::client::fs::Metadata) -> Option<DateTime<Utc>> {
    meta.mtime
        .and_then(|t| DateTime::<Utc>::from_timestamp(i64::from(t), 0))
}

/// How long to wait for one SSH job in total (the bundle's own guard).
pub fn job_deadline(ctx: &JobContext) -> Duration {
    ctx.connect_timeout + ctx.transfer_timeout + Duration::from_secs(5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths_become_sftp_paths() {
        assert_eq!(
            sftp_path(r"C:\Program Files (x86)\DiskSync-Agent\log\*.log"),
            "/C:/Program Files (x86)/DiskSync-Agent/log/*.log"
        );
        assert_eq!(sftp_path("D:/logs/a.log"), "/D:/logs/a.log");
        assert_eq!(sftp_path("/var/log/x.log"), "/var/log/x.log");
        assert_eq!(
            bundle_rel("/C:/Program Files (x86)/DiskSync-Agent/log/a.log"),
            "C/Program Files (x86)/DiskSync-Agent/log/a.log"
        );
        assert_eq!(bundle_rel("/var/log/x.log"), "var/log/x.log");
    }

    #[test]
    fn hosts_with_and_without_ports() {
        assert_eq!(host_port("10.0.0.1", 22), ("10.0.0.1".into(), 22));
        assert_eq!(host_port("h:2222", 22), ("h".into(), 2222));
        assert_eq!(host_port("[::1]:2200", 22), ("::1".into(), 2200));
        assert_eq!(host_port("::1", 22), ("::1".into(), 22));
    }
}
