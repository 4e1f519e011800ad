//! `command` collector: the output of a program, as one file of the bundle.
//!
//! ```yaml
//! logs:
//!   sources:
//!     console:
//!       collect:
//!         - command: { argv: [hmctl, status], name: hmctl-status.txt }
//!         - command: { shell: "docker logs --since {from} owl 2>&1", name: owl.log }
//!         - command: { argv: [journalctl, -u, s3block, --since, "{from}", --until, "{to}", -o, short-iso] }
//! ```
//!
//! `{from}` and `{to}` in arguments become the window's ends (RFC 3339, UTC). Standard output
//! and standard error are kept together; lines with timestamps are filtered to the window like
//! any log. A program that cannot start, times out or exits non-zero fails the collector; the
//! manifest and the final table say why.

use super::{Collected, JobContext, JobOutput};
use crate::config::{Dur, Text};
use chrono::Utc;
use schemars::JsonSchema;
use serde::Deserialize;
use std::process::Stdio;
use tokio::io::AsyncReadExt;

/// Configuration of the `command` collector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandCollector {
    /// The program and its arguments, run without a shell. Required unless `shell` is given.
    #[serde(default)]
    pub argv: Vec<Text>,
    /// A command line run by `/bin/sh -c` (pipes, redirections). Use instead of `argv`.
    #[serde(default)]
    pub shell: Option<Text>,
    /// File name of the output in the bundle. Default: the program's name + `.txt`.
    #[serde(default)]
    pub name: Option<String>,
    /// Kill the program after this long. Default: 60s; 10ms to 24h.
    #[serde(
        default = "default_timeout",
        deserialize_with = "crate::config::bounds::probe_timeout"
    )]
    pub timeout: Dur,
}

fn default_timeout() -> Dur {
    Dur::secs(60)
}

impl CommandCollector {
    fn line(&self) -> Vec<String> {
        match &self.shell {
            Some(s) => vec!["/bin/sh".into(), "-c".into(), s.value().to_string()],
            None => self.argv.iter().map(|a| a.value().to_string()).collect(),
        }
    }

    /// The command as shown in the manifest (secrets as their reference).
    fn shown(&self) -> String {
        match &self.shell {
            Some(s) => s.display().to_string(),
            None => self
                .argv
                .iter()
                .map(|a| a.display())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// The bundle file name.
    pub fn file_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        let program = self
            .line()
            .into_iter()
            .nth(if self.shell.is_some() { 2 } else { 0 })
            .unwrap_or_default();
        let base = program
            .split_whitespace()
            .next()
            .unwrap_or("command")
            .rsplit('/')
            .next()
            .unwrap_or("command")
            .to_string();
        format!("{base}.txt")
    }
}

/// Runs the program and keeps its output.
pub async fn collect(cfg: &CommandCollector, ctx: &JobContext) -> Result<JobOutput, String> {
    let from = ctx
        .window
        .from
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = ctx
        .window
        .to
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let argv: Vec<String> = cfg
        .line()
        .into_iter()
        .map(|a| a.replace("{from}", &from).replace("{to}", &to))
        .collect();
    let Some((program, args)) = argv.split_first() else {
        return Err("command: give `argv` or `shell`".into());
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        // `patrol.yaml` in the current folder has an empty parent; `chdir("")` fails.
        .current_dir(crate::config::files::dir_or_dot(&ctx.base_dir))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    // Whatever the program leaves running (also outside its group) is killed when it ends.
    let marker = crate::leftovers::RunMarker::new();
    let (k, v) = marker.env();
    cmd.env(k, v);
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {program}: {e}"))?;
    let pid = child.id();
    let pgid = pid
        .and_then(|p| i32::try_from(p).ok())
        .map(nix::unistd::Pid::from_raw);
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let read = async {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let a = async {
            if let Some(s) = stdout.as_mut() {
                let _ = s.read_to_end(&mut out).await;
            }
        };
        let b = async {
            if let Some(s) = stderr.as_mut() {
                let _ = s.read_to_end(&mut err).await;
            }
        };
        tokio::join!(a, b);
        let status = child.wait().await;
        (out, err, status)
    };
    let timeout = cfg.timeout.as_duration();
    let (mut out, err, status) = match tokio::time::timeout(timeout, read).await {
        Ok(r) => r,
        Err(_) => {
            marker.kill_all(pgid);
            return Err(format!("{} timed out after {}", cfg.shown(), cfg.timeout));
        }
    };
    marker.kill_all(pgid);
    out.extend_from_slice(&err);
    let file = Collected {
        rel: format!("commands/{}", cfg.file_name()),
        origin: format!("command: {}", cfg.shown()),
        mtime: Some(Utc::now()),
        content: out,
    };
    match status {
        Ok(s) if s.success() => Ok(JobOutput {
            files: vec![file],
            warnings: Vec::new(),
        }),
        Ok(s) => Err(format!("{} exited with {s}", cfg.shown())),
        Err(e) => Err(format!("{}: {e}", cfg.shown())),
    }
}
