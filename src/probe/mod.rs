//! Probes: each kind observes one thing and returns an [`Observation`] (a JSON object) plus
//! its own default verdict, used when the check has no rule. One file per kind.

pub mod command;
pub mod disk;
pub mod heartbeat;
pub mod http;
pub mod hyperbdr;
pub mod log;
pub mod s3_credentials;
pub mod sample_restore;
pub mod system;
pub mod tcp;
pub mod tls_file;

use crate::status::Verdict;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a probe saw: always a JSON object; each probe documents its fields.
pub type Observation = serde_json::Value;

/// What a probe is given for one run.
pub struct ProbeContext<'a> {
    /// The check being run.
    pub check_id: &'a str,
    /// The check's timeout. The runner enforces it too; probes use it for their own I/O
    /// deadlines so that they can report what they saw before giving up.
    pub timeout: Duration,
    /// What this probe returned as `state` after the previous run of this check
    /// (`Null` the first time). The log probe keeps its file offsets here.
    pub state: &'a serde_json::Value,
    /// Relative paths in the probe's configuration resolve against this folder
    /// (the folder of the root `patrol.yaml`).
    pub base_dir: &'a Path,
    /// Masks the configured secrets. A probe that keeps only part of a text (the end of an
    /// output, the first bytes of a body) masks with it *before* cutting, so that a cut never
    /// leaves a piece of a secret that the runner could no longer recognise.
    pub redactor: &'a crate::redact::Redactor,
}

/// The outcome of one successful probe run.
#[derive(Debug, Clone)]
pub struct ProbeOutput {
    pub observation: Observation,
    /// The probe's own judgement, used when the check has no rule.
    pub verdict: Verdict,
    /// Something to remember for the next run of this check; `None` keeps the old state.
    pub state: Option<serde_json::Value>,
}

/// A probe that could not observe at all (bad configuration, I/O failure).
/// The runner turns it into an UNKNOWN verdict. Conditions the probe is *meant* to observe
/// (a refused connection, a failing command) are observations, not errors.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}")]
    Failed(String),
    #[error("invalid probe configuration: {0}")]
    Config(String),
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// An unusable `ca_file` (or TLS setup) is a configuration error of the probe.
impl From<crate::tls::TlsError> for ProbeError {
    fn from(e: crate::tls::TlsError) -> ProbeError {
        ProbeError::Config(e.to_string())
    }
}

impl From<crate::s3::S3SetupError> for ProbeError {
    fn from(e: crate::s3::S3SetupError) -> ProbeError {
        match e {
            crate::s3::S3SetupError::Config(m) => ProbeError::Config(m),
            other => ProbeError::Failed(other.to_string()),
        }
    }
}

/// One kind of observation.
pub trait Probe: Send + Sync {
    /// The key that names this kind in a check file (`http`, `tcp`, ...).
    fn kind(&self) -> &'static str;
    /// Checks of the configuration that serde cannot express (one of two fields...), made
    /// when the check file is loaded. Default: none.
    fn validate(&self) -> Result<(), String> {
        Ok(())
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>>;
}

/// The `probe:` of a check file: exactly one key naming the kind.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ProbeSpec {
    /// HTTP(S) request: status, headers, body (JSON parsed), timing, peer certificate expiry.
    Http(http::HttpProbe),
    /// TCP connect (optionally a TLS handshake) with latency.
    Tcp(tcp::TcpProbe),
    /// Run a program (Nagios plugin contract, JSON stdout parsed).
    Command(command::CommandProbe),
    /// Used/free/total bytes and inodes of file systems.
    Disk(disk::DiskProbe),
    /// CPU, memory, swap and load averages of this machine.
    System(system::SystemProbe),
    /// New lines matching patterns in log files since the last run.
    Log(log::LogProbe),
    /// Expiry of every certificate in a PEM file.
    TlsFile(tls_file::TlsFileProbe),
    /// A dead man's switch: a job pings the daemon; no success in time is critical.
    Heartbeat(heartbeat::HeartbeatProbe),
    /// A HyperBDR console's API: login, envelope, paging, failed-task causes, guarded re-run.
    Hyperbdr(hyperbdr::HyperbdrProbe),
    /// Live check of an access key against an S3-compatible object store.
    S3Credentials(s3_credentials::S3CredentialsProbe),
    /// Restore a rotating sample of a backup (folder or S3 bucket) and verify its checksums.
    SampleRestore(sample_restore::SampleRestoreProbe),
}

impl ProbeSpec {
    pub fn as_probe(&self) -> &dyn Probe {
        match self {
            ProbeSpec::Http(p) => p,
            ProbeSpec::Tcp(p) => p,
            ProbeSpec::Command(p) => p,
            ProbeSpec::Disk(p) => p,
            ProbeSpec::System(p) => p,
            ProbeSpec::Log(p) => p,
            ProbeSpec::TlsFile(p) => p,
            ProbeSpec::Heartbeat(p) => p,
            ProbeSpec::Hyperbdr(p) => p,
            ProbeSpec::S3Credentials(p) => p,
            ProbeSpec::SampleRestore(p) => p,
        }
    }

    pub fn kind(&self) -> &'static str {
        self.as_probe().kind()
    }

    /// The probe's own checks of its configuration ([`Probe::validate`]).
    pub fn validate(&self) -> Result<(), String> {
        self.as_probe().validate()
    }
}

// Conventions every probe follows: paths, deadlines and the numbers and times of observations.

/// `path` as written in a probe's configuration, resolved against the root config's folder.
pub fn resolve_path(base_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

/// The I/O deadline of a network probe: its own `timeout` when set, else the check's, and
/// always a little under the check's so that the probe reports "timed out" itself instead of
/// being cut off by the runner (which would give UNKNOWN instead of a result).
pub fn io_deadline(configured: Option<Duration>, check_timeout: Duration) -> Duration {
    let margin = (check_timeout / 10).min(Duration::from_secs(1));
    let cap = check_timeout.saturating_sub(margin);
    configured.unwrap_or(cap).min(cap)
}

/// `2026-03-01T12:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Rounds to three decimals: enough for days (≈1.5 min) and milliseconds (1 µs), and keeps
/// observations readable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Milliseconds of a duration, to the microsecond.
pub fn millis(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_stays_under_the_check_timeout() {
        let s = Duration::from_secs;
        assert_eq!(io_deadline(None, s(30)), s(29));
        assert_eq!(io_deadline(Some(s(5)), s(30)), s(5));
        assert_eq!(io_deadline(Some(s(60)), s(30)), s(29));
        assert_eq!(
            io_deadline(None, Duration::from_millis(500)),
            Duration::from_millis(450)
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_base_dir() {
        assert_eq!(
            resolve_path(Path::new("/etc/patrol"), "certs/ca.pem"),
            PathBuf::from("/etc/patrol/certs/ca.pem")
        );
        assert_eq!(
            resolve_path(Path::new("/etc/patrol"), "/abs/ca.pem"),
            PathBuf::from("/abs/ca.pem")
        );
    }
}
