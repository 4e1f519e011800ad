//! The daemon: when each check runs (placeholder: being written).

mod misfire;

pub use misfire::missed_run;

use std::path::PathBuf;

/// How `patrol daemon` was started.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The root config file.
    pub config_path: PathBuf,
    /// Watch the config, check and rule files and reload on change (SIGHUP always reloads).
    pub watch: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("configuration unusable:\n{0}")]
    Config(String),
    #[error("{0}")]
    Other(String),
}

/// Runs until SIGTERM/SIGINT.
pub async fn run_daemon(_opts: DaemonOptions) -> Result<(), DaemonError> {
    Err(DaemonError::Other("the daemon is not written yet".into()))
}
