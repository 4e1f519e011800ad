//! `command` probe: runs a program — any Nagios/Icinga `check_*` plugin, or a script that
//! prints JSON — and observes its exit, its output and how long it took.
//!
//! The program runs directly (`argv`, no shell: `$(...)`, `;` and quotes reach it literally)
//! unless `shell` is given, which runs `/bin/sh -c SHELL`. It runs in a process group of its
//! own with stdin closed; on timeout the whole group (grandchildren too) gets SIGTERM and,
//! after a short grace, SIGKILL. When the program ends, anything it left running is killed as
//! well — in its process group, and also what left the group (`setsid`, a daemon's double
//! fork), found by a marker in its environment — so a check never leaves processes behind.
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `argv` | list of strings | what was run (secrets shown as their `${secret:..}` reference) |
//! | `exit_code` | int or null | exit code; null when killed by a signal |
//! | `signal` | int or null | the signal that ended the program (15 or 9 after a timeout) |
//! | `timed_out` | bool | the program outlived the timeout and was killed |
//! | `duration_ms` | float | wall-clock run time |
//! | `stdout_tail` | string | the last `max_output_bytes` of standard output |
//! | `stderr_tail` | string | the last `max_output_bytes` of standard error |
//! | `json` | any or null | standard output parsed as JSON, null when it is not JSON |
//! | `nagios` | object or null | with `nagios: true` (and no timeout): the plugin result below |
//! | `nagios.status` | string | `ok`, `warning`, `critical` or `unknown` from the exit code 0/1/2/3 (anything else is `unknown`) |
//! | `nagios.first_line` | string | the first output line before its `\|` |
//! | `nagios.long_output` | string | the following lines, without performance data |
//! | `nagios.perfdata` | list | `{label, value, uom, warn, crit, min, max}` per performance datum; `warn`/`crit` are range strings (`10:20`, `@5`) or null, `min`/`max` numbers or null |
//!
//! Default verdict: with `nagios: true` the exit code's status, the first line as summary and
//! the performance data as metrics (label → value); otherwise exit code 0 is OK and anything
//! else CRITICAL. A timeout is UNKNOWN ("timed out after 9.2s (limit 9.2s: ...)", naming the
//! time it really ran and the limit applied). A program that cannot be started at all (not
//! found, not executable) is a probe error.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use crate::config::{Dur, Text};
use crate::leftovers::RunMarker;
use crate::redact::Redactor;
use crate::status::{Status, Verdict};
use futures::future::BoxFuture;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt};

/// Configuration of the `command` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandProbe {
    /// The program and its arguments, run directly without a shell. A program name without
    /// `/` is looked up in `PATH`; a relative path with `/` resolves against the folder of
    /// `patrol.yaml`. Required unless `shell` is given.
    #[serde(default)]
    pub argv: Vec<Text>,
    /// A command line run by `/bin/sh -c`, for pipes and redirections. Use instead of `argv`.
    #[serde(default)]
    pub shell: Option<Text>,
    /// Environment variables set for the program, in addition to the inherited ones.
    #[serde(default)]
    pub env: BTreeMap<String, Text>,
    /// Working folder of the program (relative: against the folder of `patrol.yaml`, which is
    /// also the default).
    #[serde(default)]
    pub cwd: Option<Text>,
    /// How long the program may run before its process group is killed (default and upper
    /// bound: the check's timeout, minus a little time to report). 10ms to 24h.
    #[serde(default, deserialize_with = "crate::config::bounds::probe_timeout_opt")]
    pub timeout: Option<Dur>,
    /// Interpret the exit code (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN) and the output
    /// (summary, long output, performance data) per the Nagios plugin guidelines.
    #[serde(default = "default_nagios")]
    pub nagios: bool,
    /// How many bytes of the end of stdout and of stderr are kept in the observation.
    /// Default: 10240; 0 to 16777216.
    #[serde(
        default = "default_max_output",
        deserialize_with = "crate::config::bounds::output_bytes"
    )]
    pub max_output_bytes: usize,
}

fn default_nagios() -> bool {
    true
}

fn default_max_output() -> usize {
    10 * 1024
}

/// Standard output up to this size is kept whole for JSON and plugin-output parsing.
const PARSE_CAP: usize = 1024 * 1024;
/// At most this long between SIGTERM and SIGKILL after a timeout.
const MAX_GRACE: Duration = Duration::from_secs(1);
/// How long to wait for the output pipes to close once the process group is gone (a process
/// that left the group with `setsid` may keep them open).
const DRAIN: Duration = Duration::from_millis(500);

impl CommandProbe {
    /// Checks what serde cannot: exactly one of `argv` and `shell`.
    pub fn validate(&self) -> Result<(), String> {
        match (&self.shell, self.argv.is_empty()) {
            (Some(_), false) => Err("give either `argv` or `shell`, not both".into()),
            (None, true) => Err("`argv` (a non-empty list) or `shell` is required".into()),
            (Some(s), true) if s.value().trim().is_empty() => Err("`shell` is empty".into()),
            _ => Ok(()),
        }
    }

    /// The program and arguments to execute, and the argv to show.
    fn command_line(&self, base_dir: &Path) -> (PathBuf, Vec<String>, Vec<String>) {
        if let Some(shell) = &self.shell {
            let shown = vec!["/bin/sh".into(), "-c".into(), shell.display().to_string()];
            return (
                PathBuf::from("/bin/sh"),
                vec!["-c".into(), shell.value().to_string()],
                shown,
            );
        }
        let program = self.argv[0].value();
        // A bare name is looked up in PATH; a relative path with a slash is ours to resolve,
        // since it would otherwise depend on the daemon's working folder.
        let program = if program.contains('/') {
            base_dir.join(program)
        } else {
            PathBuf::from(program)
        };
        let args = self.argv[1..]
            .iter()
            .map(|a| a.value().to_string())
            .collect();
        let shown = self.argv.iter().map(|a| a.display().to_string()).collect();
        (program, args, shown)
    }
}

impl Probe for CommandProbe {
    fn kind(&self) -> &'static str {
        "command"
    }
    fn validate(&self) -> Result<(), String> {
        CommandProbe::validate(self)
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(self.execute(ctx))
    }
}

/// Kills the process group, and every process carrying the run's marker, when dropped: the
/// runner may cancel the probe's future at the check timeout, and nothing may outlive it.
struct GroupGuard {
    pgid: Option<Pid>,
    marker: RunMarker,
}

impl GroupGuard {
    fn kill(&self, signal: Signal) {
        if let Some(pgid) = self.pgid {
            // ESRCH (nobody left in the group) is the normal case after a clean exit.
            let _ = killpg(pgid, signal);
        }
    }

    /// Kills what is left: the group and whatever left it.
    fn kill_all(&self) {
        let found = self.marker.kill_all(self.pgid);
        if found > 0 {
            tracing::debug!(found, "killed processes the command left running");
        }
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill_all();
    }
}

/// The beginning (for parsing) and the end (for the observation) of one output stream.
#[derive(Default)]
struct Capture {
    head: Vec<u8>,
    tail: Vec<u8>,
    total: usize,
    tail_cap: usize,
    /// Kept beyond `tail_cap` (the longest secret), so that a secret the cap cuts through
    /// is still recognised and masked before the tail is cut to size.
    slack: usize,
}

impl Capture {
    fn new(tail_cap: usize, slack: usize) -> Capture {
        Capture {
            tail_cap,
            slack,
            ..Capture::default()
        }
    }

    fn keep(&self) -> usize {
        self.tail_cap.saturating_add(self.slack)
    }

    fn push(&mut self, chunk: &[u8]) {
        self.total = self.total.saturating_add(chunk.len());
        let room = PARSE_CAP.saturating_sub(self.head.len());
        self.head.extend_from_slice(&chunk[..room.min(chunk.len())]);
        self.tail.extend_from_slice(chunk);
        // Trim in batches so that a chatty program costs amortised O(1) per byte.
        if self.tail.len() > self.keep().saturating_mul(2).max(8192) {
            let cut = self.tail.len() - self.keep();
            self.tail.drain(..cut);
        }
    }

    /// The whole output when it was small enough to keep.
    fn whole(&self) -> Option<&[u8]> {
        (self.total <= PARSE_CAP).then_some(&self.head[..])
    }

    /// The beginning of the output as text, secrets masked (also one cut by the parse cap).
    fn head_text(&self, redactor: &Redactor) -> String {
        let text = String::from_utf8_lossy(&self.head);
        if self.total > self.head.len() {
            redactor.cut_end(&text)
        } else {
            redactor.text(&text)
        }
    }

    /// The last `tail_cap` bytes of the output as text: masked first, then cut.
    fn tail_text(&self, redactor: &Redactor) -> String {
        let start = self.tail.len().saturating_sub(self.keep());
        let mut bytes = &self.tail[start..];
        let cut = self.total > bytes.len();
        if cut {
            // Do not begin with the rest of a UTF-8 character that was cut.
            while let Some((&b, rest)) = bytes.split_first() {
                if b & 0xC0 != 0x80 {
                    break;
                }
                bytes = rest;
            }
        }
        let text = String::from_utf8_lossy(bytes);
        let masked = if cut {
            redactor.cut_start(&text)
        } else {
            redactor.text(&text)
        };
        redactor.tail(&masked, self.tail_cap).0
    }
}

async fn pump<R: AsyncRead + Unpin>(mut reader: R, capture: Arc<Mutex<Capture>>) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match reader.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if let Ok(mut c) = capture.lock() {
                    c.push(&buf[..n]);
                }
            }
        }
    }
}

fn take(capture: &Arc<Mutex<Capture>>) -> Capture {
    match capture.lock() {
        Ok(mut c) => std::mem::take(&mut *c),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    }
}

impl CommandProbe {
    async fn execute(&self, ctx: &ProbeContext<'_>) -> Result<ProbeOutput, ProbeError> {
        self.validate().map_err(ProbeError::Config)?;
        let (program, args, shown_argv) = self.command_line(ctx.base_dir);
        let cwd = match &self.cwd {
            Some(c) => ctx.base_dir.join(c.value()),
            None => ctx.base_dir.to_path_buf(),
        };

        // The runner cancels the whole probe at the check's timeout: keep a reserve so that
        // a slow program is reported as "timed out" with its output rather than cut off.
        let reserve = (ctx.timeout / 5).min(Duration::from_secs(2));
        let budget = ctx.timeout.saturating_sub(reserve);
        let timeout = self
            .timeout
            .map(Dur::as_duration)
            .unwrap_or(budget)
            .min(budget);
        let grace = (reserve / 2).min(MAX_GRACE);

        let mut cmd = tokio::process::Command::new(&program);
        cmd.args(&args)
            .current_dir(&cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        for (k, v) in &self.env {
            cmd.env(k, v.value());
        }
        let marker = RunMarker::new();
        let (k, v) = marker.env();
        cmd.env(k, v);

        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| {
            // Not found may also mean a missing working folder: name both.
            ProbeError::Failed(format!(
                "cannot run {} in {}: {e}",
                program.display(),
                cwd.display()
            ))
        })?;
        // With process_group(0) the child's pid is its group id.
        let guard = GroupGuard {
            pgid: child
                .id()
                .and_then(|p| i32::try_from(p).ok())
                .map(Pid::from_raw),
            marker,
        };

        let slack = ctx.redactor.longest();
        let out = Arc::new(Mutex::new(Capture::new(self.max_output_bytes, slack)));
        let err = Arc::new(Mutex::new(Capture::new(self.max_output_bytes, slack)));
        let mut pumps = Vec::new();
        if let Some(s) = child.stdout.take() {
            pumps.push(tokio::spawn(pump(s, out.clone())));
        }
        if let Some(s) = child.stderr.take() {
            pumps.push(tokio::spawn(pump(s, err.clone())));
        }

        let mut timed_out = None;
        let status: ExitStatus = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                timed_out = Some(started.elapsed());
                guard.kill(Signal::SIGTERM);
                match tokio::time::timeout(grace, child.wait()).await {
                    Ok(status) => status?,
                    Err(_) => {
                        guard.kill(Signal::SIGKILL);
                        child.wait().await?
                    }
                }
            }
        };
        let duration = started.elapsed();
        // Leftovers (children of a program that has ended, in its group or not) die with it.
        guard.kill_all();
        let drain = futures::future::join_all(pumps.iter_mut());
        let _ = tokio::time::timeout(DRAIN, drain).await;
        for p in &pumps {
            p.abort();
        }
        drop(guard);

        let out = take(&out);
        let err = take(&err);
        let exit_code = status.code();
        let signal = status.signal();

        let json_value = out
            .whole()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
            .unwrap_or(serde_json::Value::Null);
        // Everything below is cut to size: mask first (labels of performance data too).
        let redactor = ctx.redactor;
        let stdout_tail = out.tail_text(redactor);
        let stderr_tail = err.tail_text(redactor);
        let plugin = (self.nagios && timed_out.is_none()).then(|| {
            let mut p = parse_plugin_output(&out.head_text(redactor));
            truncate_utf8(&mut p.long_output, self.max_output_bytes);
            let status = match exit_code {
                Some(c @ 0..=3) => Status::from_exit_code(c),
                _ => Status::Unknown,
            };
            (status, p)
        });

        let duration_ms = duration.as_secs_f64() * 1000.0;
        let observation = json!({
            "argv": shown_argv,
            "exit_code": exit_code,
            "signal": signal,
            "timed_out": timed_out.is_some(),
            "duration_ms": duration_ms,
            "stdout_tail": stdout_tail,
            "stderr_tail": stderr_tail,
            "json": json_value,
            "nagios": plugin.as_ref().map(|(status, p)| json!({
                "status": status.as_str(),
                "first_line": p.first_line,
                "long_output": p.long_output,
                "perfdata": p.perfdata,
            })),
        });

        let verdict = if let Some(ran) = timed_out {
            // The time it really ran, and where the limit came from when it is not simply the
            // one written (the check's timeout keeps a reserve to report in).
            let (ran, limit) = (short_duration(ran), short_duration(timeout));
            let own_limit = self.timeout.is_some_and(|t| t.as_duration() <= budget);
            Verdict::unknown(if own_limit && ran == limit {
                format!("timed out after {ran}")
            } else if own_limit {
                format!("timed out after {ran} (limit {limit})")
            } else {
                format!(
                    "timed out after {ran} (limit {limit}: the check's timeout {} less {} kept to report)",
                    short_duration(ctx.timeout),
                    short_duration(reserve)
                )
            })
        } else if let Some((status, p)) = plugin {
            let summary = if p.first_line.is_empty() {
                describe_end(exit_code, signal)
            } else {
                p.first_line.clone()
            };
            let mut v = Verdict::new(status, summary);
            for d in &p.perfdata {
                v.metrics.insert(d.label.clone(), d.value);
            }
            v
        } else {
            let status = if exit_code == Some(0) {
                Status::Ok
            } else {
                Status::Critical
            };
            let mut summary = describe_end(exit_code, signal);
            let detail = last_line(&stderr_tail).or_else(|| last_line(&stdout_tail));
            if let (Status::Critical, Some(line)) = (status, detail) {
                summary = format!("{summary}: {line}");
            }
            Verdict::new(status, summary).with_metric("duration_ms", duration_ms)
        };

        Ok(ProbeOutput {
            observation,
            verdict,
            state: None,
        })
    }
}

fn describe_end(exit_code: Option<i32>, signal: Option<i32>) -> String {
    match (exit_code, signal) {
        (Some(c), _) => format!("exit code {c}"),
        (None, Some(s)) => format!("killed by signal {s}"),
        (None, None) => "ended without exit code".into(),
    }
}

fn last_line(text: &str) -> Option<String> {
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| {
            let mut l = l.to_string();
            truncate_utf8(&mut l, 300);
            l
        })
}

/// A duration as people read it: `850ms`, `1.6s`, `2s`, `1m 30s` — tenths below ten
/// seconds, whole seconds above.
fn short_duration(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        return format!("{}ms", d.as_millis());
    }
    if d < Duration::from_secs(10) {
        let tenths = (d.as_secs_f64() * 10.0).round() / 10.0;
        return if tenths.fract() == 0.0 {
            format!("{}s", tenths as u64)
        } else {
            format!("{tenths:.1}s")
        };
    }
    humantime::format_duration(Duration::from_secs(d.as_secs_f64().round() as u64)).to_string()
}

fn truncate_utf8(s: &mut String, max: usize) {
    if s.len() > max {
        let mut cut = max;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
}

/// The parts of a plugin's output, per the Nagios plugin guidelines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PluginOutput {
    pub first_line: String,
    pub long_output: String,
    pub perfdata: Vec<PerfDatum>,
}

/// One performance datum: `'label'=value[UOM];[warn];[crit];[min];[max]`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PerfDatum {
    pub label: String,
    pub value: f64,
    pub uom: String,
    pub warn: Option<String>,
    pub crit: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

/// Splits plugin output into the first line, the long output and performance data:
///
/// ```text
/// TEXT OUTPUT | OPTIONAL PERFDATA
/// LONG TEXT LINE 1
/// LONG TEXT LINE N | PERFDATA LINE 2
/// PERFDATA LINE 3
/// ```
pub fn parse_plugin_output(text: &str) -> PluginOutput {
    let mut lines = text.lines();
    let mut perf_text = Vec::new();
    let first = lines.next().unwrap_or("");
    let first_line = match first.split_once('|') {
        Some((t, p)) => {
            perf_text.push(p);
            t.trim()
        }
        None => first.trim(),
    };
    let mut long = Vec::new();
    let mut in_perf = false;
    for line in lines {
        if in_perf {
            perf_text.push(line);
        } else if let Some((t, p)) = line.split_once('|') {
            long.push(t.trim_end());
            perf_text.push(p);
            in_perf = true;
        } else {
            long.push(line);
        }
    }
    while long.last().is_some_and(|l| l.trim().is_empty()) {
        long.pop();
    }
    PluginOutput {
        first_line: first_line.to_string(),
        long_output: long.join("\n").trim_end().to_string(),
        perfdata: perf_text.iter().flat_map(|t| parse_perfdata(t)).collect(),
    }
}

/// Parses space-separated performance data; malformed items and `U` (unknown) values are
/// skipped rather than failing the whole output.
pub fn parse_perfdata(text: &str) -> Vec<PerfDatum> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(_, c)) = chars.peek() else {
            break;
        };
        // The label: quoted ('' is a literal quote inside) or up to '='.
        let mut label = String::new();
        if c == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    Some((_, '\'')) => {
                        if chars.next_if(|(_, c)| *c == '\'').is_some() {
                            label.push('\'');
                        } else {
                            break;
                        }
                    }
                    Some((_, c)) => label.push(c),
                    None => break,
                }
            }
            if chars.next_if(|(_, c)| *c == '=').is_none() {
                // Not `'label'=`: skip the rest of this token.
                while chars.next_if(|(_, c)| !c.is_whitespace()).is_some() {}
                continue;
            }
        } else {
            let mut found_eq = false;
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '=' {
                    found_eq = true;
                    break;
                }
                label.push(c);
            }
            if !found_eq {
                continue;
            }
        }
        let mut data = String::new();
        while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
            data.push(c);
        }
        if let Some(d) = parse_datum(label, &data) {
            out.push(d);
        }
    }
    out
}

fn parse_datum(label: String, data: &str) -> Option<PerfDatum> {
    if label.is_empty() {
        return None;
    }
    let mut fields = data.split(';');
    let value_uom = fields.next()?;
    let split = value_uom
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_digit()
                || c == '.'
                || c == ','
                || ((c == '-' || c == '+') && (i == 0 || value_uom[..i].ends_with(['e', 'E'])))
                || ((c == 'e' || c == 'E')
                    && i > 0
                    && value_uom[i + 1..]
                        .starts_with(|n: char| n.is_ascii_digit() || n == '-' || n == '+')))
        })
        .map(|(i, _)| i)
        .unwrap_or(value_uom.len());
    let value = parse_number(&value_uom[..split])?;
    let uom = value_uom[split..].to_string();
    let range = |s: Option<&str>| s.map(str::trim).filter(|s| !s.is_empty()).map(String::from);
    let number = |s: Option<&str>| s.and_then(parse_number);
    Some(PerfDatum {
        label,
        value,
        uom,
        warn: range(fields.next()),
        crit: range(fields.next()),
        min: number(fields.next()),
        max: number(fields.next()),
    })
}

/// A number as plugins print it; a decimal comma (some locales) is accepted.
fn parse_number(s: &str) -> Option<f64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let v = match s.parse::<f64>() {
        Ok(v) => v,
        Err(_) if !s.contains('.') => s.replace(',', ".").parse::<f64>().ok()?,
        Err(_) => return None,
    };
    v.is_finite().then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfdata_per_the_guidelines() {
        let p = parse_perfdata(
            "'disk /'=80%;85;95;0;100 time=0.2s load1=0.520;5.000;10.000;0; x=U;1;2 'it''s'=3c rta=1,5ms",
        );
        let labels: Vec<_> = p.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["disk /", "time", "load1", "it's", "rta"]);
        assert_eq!(p[0].value, 80.0);
        assert_eq!(p[0].uom, "%");
        assert_eq!(p[0].warn.as_deref(), Some("85"));
        assert_eq!(p[0].crit.as_deref(), Some("95"));
        assert_eq!((p[0].min, p[0].max), (Some(0.0), Some(100.0)));
        assert_eq!((p[1].value, p[1].uom.as_str()), (0.2, "s"));
        assert_eq!(p[1].warn, None);
        assert_eq!((p[2].min, p[2].max), (Some(0.0), None));
        assert_eq!((p[3].value, p[3].uom.as_str()), (3.0, "c"));
        assert_eq!((p[4].value, p[4].uom.as_str()), (1.5, "ms"));
        let e = parse_perfdata("big=1.5e3B;@10:20;~:5 neg=-4");
        assert_eq!((e[0].value, e[0].uom.as_str()), (1500.0, "B"));
        assert_eq!(e[0].warn.as_deref(), Some("@10:20"));
        assert_eq!(e[0].crit.as_deref(), Some("~:5"));
        assert_eq!(e[1].value, -4.0);
    }

    #[test]
    fn multi_line_output() {
        let out = parse_plugin_output(
            "DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n\
             / 15272 MB (77%);\n\
             /boot 68 MB (69%); | /boot=68MB;88;93;0;98\n\
             /home=69357MB;253404;253409;0;253414\n",
        );
        assert_eq!(out.first_line, "DISK OK - free space: / 3326 MB (56%);");
        assert_eq!(out.long_output, "/ 15272 MB (77%);\n/boot 68 MB (69%);");
        let labels: Vec<_> = out.perfdata.iter().map(|d| d.label.as_str()).collect();
        assert_eq!(labels, ["/", "/boot", "/home"]);
        assert_eq!(parse_plugin_output("").first_line, "");
    }

    #[test]
    fn capture_keeps_head_and_tail() {
        let mut c = Capture::new(4, 0);
        for _ in 0..10_000 {
            c.push(b"abcdef");
        }
        c.push("éabc".as_bytes());
        // the cut é is dropped, not shown as a replacement character
        assert_eq!(c.tail_text(&Redactor::default()), "abc");
        assert_eq!(c.total, 60_005);
        assert!(c.whole().is_some());
        assert!(c.head.starts_with(b"abcdefabc"));
    }

    #[test]
    fn a_secret_the_tail_cap_cuts_through_is_masked() {
        let secret = "nv7f3a9cQ-2kLp8Z";
        let r = Redactor::new([secret.to_string()]);
        let mut c = Capture::new(9, r.longest());
        c.push(b"lots of output before\n");
        c.push(format!("token {secret}").as_bytes());
        // The last 9 bytes were part of the secret: masked before the cut.
        assert_eq!(c.tail_text(&r), "token ***");
        let mut c = Capture::new(9, r.longest());
        for _ in 0..2000 {
            c.push(format!("{secret}\n").as_bytes());
        }
        let tail = c.tail_text(&r);
        assert!(!tail.contains("2kLp8Z") && !tail.contains("nv7f"), "{tail}");
    }
}
