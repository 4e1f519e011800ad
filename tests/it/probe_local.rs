//! The local probes (`command`, `disk`, `system`, `log`) against real processes and files.
//! Probe configurations are read from YAML, as in a check file.

use crate::common::probe::run_probe;
use patrol::probe::{ProbeError, ProbeOutput, ProbeSpec};
use patrol::status::Status;
use serde_json::Value;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

async fn run_in(
    yaml: &str,
    base_dir: &Path,
    state: &Value,
    timeout: Duration,
) -> Result<ProbeOutput, ProbeError> {
    run_probe("test", yaml, base_dir, state, timeout).await
}

async fn run(yaml: &str) -> ProbeOutput {
    run_in(yaml, &crate_dir(), &Value::Null, Duration::from_secs(30))
        .await
        .unwrap_or_else(|e| panic!("probe failed: {e}"))
}

// ---------------------------------------------------------------- command

#[tokio::test]
async fn command_nagios_plugin_status_first_line_and_perfdata() {
    for (code, status) in [
        (0, Status::Ok),
        (1, Status::Warning),
        (2, Status::Critical),
        (3, Status::Unknown),
    ] {
        let out = run(&format!(
            "command:\n  argv: [tests/fixtures/plugins/check_fake, '{code}']\n"
        ))
        .await;
        let o = &out.observation;
        assert_eq!(o["exit_code"], code);
        assert_eq!(o["signal"], Value::Null);
        assert_eq!(o["timed_out"], false);
        assert_eq!(o["nagios"]["status"], status.as_str());
        let word = status.to_string();
        assert_eq!(
            o["nagios"]["first_line"],
            format!("DISK {word} - free space: / 20%")
        );
        assert_eq!(
            o["nagios"]["long_output"],
            "/ 3326 MB (20%);\n/boot 68 MB (69%);"
        );
        assert_eq!(o["stderr_tail"], "stderr noise\n");
        assert_eq!(o["json"], Value::Null);
        let perf = o["nagios"]["perfdata"].as_array().expect("perfdata list");
        assert_eq!(perf.len(), 4, "{perf:?}");
        assert_eq!(
            perf[0],
            serde_json::json!({"label": "disk /", "value": 80.0, "uom": "%", "warn": "85",
                               "crit": "95", "min": 0.0, "max": 100.0})
        );
        assert_eq!(perf[1]["label"], "time");
        assert_eq!(perf[1]["value"], 0.2);
        assert_eq!(perf[1]["uom"], "s");
        assert_eq!(perf[1]["warn"], Value::Null);
        assert_eq!(perf[2]["label"], "/boot");
        assert_eq!(perf[2]["uom"], "MB");
        assert_eq!(perf[3]["label"], "home dir");
        assert_eq!(perf[3]["value"], 1500.0);
        assert_eq!(perf[3]["min"], 0.0);
        assert_eq!(perf[3]["max"], Value::Null);

        assert_eq!(out.verdict.status, status);
        assert_eq!(
            out.verdict.summary,
            format!("DISK {word} - free space: / 20%")
        );
        assert_eq!(out.verdict.metrics.get("disk /"), Some(&80.0));
        assert_eq!(out.verdict.metrics.get("time"), Some(&0.2));
        assert_eq!(out.verdict.metrics.get("/boot"), Some(&68.0));
    }
}

#[tokio::test]
async fn command_exit_code_outside_nagios_range_is_unknown() {
    let out = run("command:\n  shell: 'echo broken; exit 7'\n").await;
    assert_eq!(out.observation["exit_code"], 7);
    assert_eq!(out.observation["nagios"]["status"], "unknown");
    assert_eq!(out.verdict.status, Status::Unknown);
    assert_eq!(out.verdict.summary, "broken");
}

#[tokio::test]
async fn command_without_nagios_judges_exit_code_only() {
    let ok =
        run("command:\n  argv: [tests/fixtures/plugins/check_fake, '1']\n  nagios: false\n").await;
    // exit 1 without the plugin contract is a plain failure
    assert_eq!(ok.observation["nagios"], Value::Null);
    assert_eq!(ok.verdict.status, Status::Critical);
    assert!(
        ok.verdict.summary.starts_with("exit code 1"),
        "{}",
        ok.verdict.summary
    );
    let ok =
        run("command:\n  argv: [tests/fixtures/plugins/check_fake, '0']\n  nagios: false\n").await;
    assert_eq!(ok.verdict.status, Status::Ok);
    assert!(ok.verdict.metrics.contains_key("duration_ms"));
}

#[tokio::test]
async fn command_json_stdout_is_parsed() {
    let out = run(
        "command:\n  argv: [tests/fixtures/plugins/emit_json, '42']\n  env: { QUEUE_NAME: backups }\n",
    )
    .await;
    let o = &out.observation;
    assert_eq!(o["json"]["queue"]["depth"], 42);
    assert_eq!(o["json"]["queue"]["name"], "backups");
    assert_eq!(o["json"]["ok"], true);
    assert_eq!(out.verdict.status, Status::Ok);
    assert!(o["duration_ms"].as_f64().is_some_and(|d| d > 0.0));
}

#[tokio::test]
async fn command_argv_reaches_the_program_literally() {
    let dir = tempfile::tempdir().expect("tempdir");
    let marker = dir.path().join("pwned");
    let evil1 = format!("$(touch {})", marker.display());
    let evil2 = format!("a; touch {}", marker.display());
    let yaml = format!(
        "command:\n  argv: [tests/fixtures/plugins/print_args, '{evil1}', '{evil2}', '`id`', 'two words', '*']\n"
    );
    let out = run(&yaml).await;
    assert_eq!(
        out.observation["stdout_tail"],
        format!("{evil1}\n{evil2}\n`id`\ntwo words\n*\n")
    );
    assert!(!marker.exists(), "an argument was run by a shell");
    assert_eq!(out.observation["argv"][1], evil1);
}

#[tokio::test]
async fn command_shell_mode_runs_a_pipeline() {
    let out =
        run("command:\n  shell: 'echo hello world | tr a-z A-Z; echo err >&2; exit 2'\n").await;
    assert_eq!(out.observation["stdout_tail"], "HELLO WORLD\n");
    assert_eq!(out.observation["stderr_tail"], "err\n");
    assert_eq!(out.observation["exit_code"], 2);
    assert_eq!(out.verdict.status, Status::Critical);
    assert_eq!(out.observation["argv"][0], "/bin/sh");
}

#[tokio::test]
async fn command_env_and_cwd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "command:\n  argv: [printenv, PATROL_TEST_VAR]\n  env:\n    PATROL_TEST_VAR: 'value with spaces'\n  cwd: {}\n",
        dir.path().display()
    );
    let out = run(&yaml).await;
    assert_eq!(out.observation["stdout_tail"], "value with spaces\n");

    // a relative cwd resolves against the base folder, which is also the default; so does a
    // relative program path, whatever the cwd
    let base = crate_dir();
    let out = run("command:\n  argv: [tests/fixtures/plugins/print_cwd]\n  cwd: tests\n").await;
    let expected = fs::canonicalize(base.join("tests")).expect("canonical");
    assert_eq!(
        out.observation["stdout_tail"],
        format!("{}\n", expected.display())
    );
    let out = run("command:\n  shell: pwd\n").await;
    let expected = fs::canonicalize(&base).expect("canonical");
    assert_eq!(
        out.observation["stdout_tail"],
        format!("{}\n", expected.display())
    );
}

#[tokio::test]
async fn command_keeps_only_the_tail_of_long_output() {
    let out = run(
        "command:\n  shell: 'seq 1 100000; echo LAST'\n  max_output_bytes: 100\n  nagios: false\n",
    )
    .await;
    let tail = out.observation["stdout_tail"].as_str().expect("string");
    assert!(tail.len() <= 100, "{} bytes", tail.len());
    assert!(tail.ends_with("99999\n100000\nLAST\n"), "{tail}");
}

/// True when `pid` no longer runs (gone, or a zombie waiting for its reaper).
fn process_gone(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => {
            let state = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.trim_start().chars().next());
            matches!(state, Some('Z') | Some('X'))
        }
    }
}

#[tokio::test]
async fn command_timeout_kills_the_whole_process_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("grandchild.pid");
    let yaml = format!(
        "command:\n  argv: [tests/fixtures/plugins/spawn_and_hang, '{}']\n  timeout: 1s\n",
        pid_file.display()
    );
    let started = Instant::now();
    let out = run(&yaml).await;
    // generous: the requirement is "ends soon after the timeout", not a precise time
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let o = &out.observation;
    assert_eq!(o["timed_out"], true);
    assert_eq!(o["exit_code"], Value::Null);
    assert!(o["signal"] == 15 || o["signal"] == 9, "{o}");
    assert_eq!(o["nagios"], Value::Null);
    assert!(
        o["stdout_tail"]
            .as_str()
            .is_some_and(|s| s.starts_with("started "))
    );
    assert_eq!(out.verdict.status, Status::Unknown);
    assert_eq!(out.verdict.summary, "timed out after 1s");

    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(process_gone(pid), "grandchild {pid} survived the timeout");
}

#[tokio::test]
async fn command_cancelled_by_the_runner_leaves_no_process() {
    // the runner drops the probe's future at the check timeout: the group must die with it
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("grandchild.pid");
    let yaml = format!(
        "command:\n  argv: [tests/fixtures/plugins/spawn_and_hang, '{}']\n",
        pid_file.display()
    );
    let cancelled = tokio::time::timeout(
        Duration::from_secs(2),
        run_in(&yaml, &crate_dir(), &Value::Null, Duration::from_secs(60)),
    )
    .await;
    assert!(
        cancelled.is_err(),
        "the command should still have been running"
    );
    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        process_gone(pid),
        "grandchild {pid} survived the cancellation"
    );
}

#[tokio::test]
async fn command_leftover_background_processes_are_killed_on_exit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pid_file = dir.path().join("bg.pid");
    // the background sleep keeps stdout open: the probe must neither wait for it nor leave it
    let yaml = format!(
        "command:\n  shell: 'sleep 1000 & echo $! > {}; echo done'\n  timeout: 20s\n",
        pid_file.display()
    );
    let started = Instant::now();
    let out = run(&yaml).await;
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(out.observation["timed_out"], false);
    assert_eq!(out.observation["stdout_tail"], "done\n");
    let pid: i32 = fs::read_to_string(&pid_file)
        .expect("pid file")
        .trim()
        .parse()
        .expect("pid");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !process_gone(pid) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(process_gone(pid), "background child {pid} survived");
}

#[tokio::test]
async fn command_missing_program_is_a_probe_error() {
    let err = run_in(
        "command:\n  argv: [/nonexistent/check_nothing, -w, '1']\n",
        &crate_dir(),
        &Value::Null,
        Duration::from_secs(10),
    )
    .await
    .expect_err("must fail");
    assert!(matches!(err, ProbeError::Failed(_)), "{err:?}");
    assert!(
        err.to_string().contains("/nonexistent/check_nothing"),
        "{err}"
    );

    let err = run_in(
        "command:\n  argv: [no-such-program-patrol-test]\n",
        &crate_dir(),
        &Value::Null,
        Duration::from_secs(10),
    )
    .await
    .expect_err("must fail");
    assert!(
        err.to_string().contains("no-such-program-patrol-test"),
        "{err}"
    );
}

#[tokio::test]
async fn command_needs_exactly_one_of_argv_and_shell() {
    for yaml in [
        "command:\n  nagios: true\n",
        "command:\n  argv: [true]\n  shell: 'true'\n",
    ] {
        let err = run_in(yaml, &crate_dir(), &Value::Null, Duration::from_secs(5))
            .await
            .expect_err("must fail");
        assert!(matches!(err, ProbeError::Config(_)), "{err:?}");
    }
    assert!(serde_saphyr::from_str::<ProbeSpec>("command:\n  argv: [x]\n  bogus: 1\n").is_err());
}

#[tokio::test]
async fn command_real_check_disk_plugin() {
    let plugin = Path::new("/usr/lib/nagios/plugins/check_disk");
    if !plugin.exists() {
        eprintln!(
            "NOTICE: skipping command_real_check_disk_plugin: {} is missing \
             (apt-get install monitoring-plugins-basic)",
            plugin.display()
        );
        return;
    }
    let out = run(&format!(
        "command:\n  argv: [{}, -w, '99%', -c, '99%', -p, /]\n",
        plugin.display()
    ))
    .await;
    let o = &out.observation;
    // free space below 99% is critical with these thresholds, unless / is almost empty
    let status = o["nagios"]["status"].as_str().expect("status");
    assert!(status == "critical" || status == "ok", "{o}");
    assert_eq!(
        out.verdict.status.exit_code(),
        o["exit_code"].as_i64().expect("exit code") as i32
    );
    assert!(
        o["nagios"]["first_line"]
            .as_str()
            .is_some_and(|l| l.starts_with("DISK ")),
        "{o}"
    );
    let perf = o["nagios"]["perfdata"].as_array().expect("perfdata");
    let root = perf
        .iter()
        .find(|d| d["label"] == "/")
        .unwrap_or_else(|| panic!("no perfdata for /: {o}"));
    let used = root["value"].as_f64().expect("value");
    let max = root["max"].as_f64().expect("max");
    assert!(used > 0.0 && used <= max, "{root}");
    assert!(out.verdict.metrics.contains_key("/"));
}

// ---------------------------------------------------------------- disk

fn check_usage(u: &Value) {
    let n = |k: &str| u[k].as_u64().unwrap_or_else(|| panic!("{k} in {u}"));
    let f = |k: &str| u[k].as_f64().unwrap_or_else(|| panic!("{k} in {u}"));
    assert!(n("total_bytes") > 0, "{u}");
    assert!(n("total_bytes") >= n("used_bytes"), "{u}");
    assert!(n("total_bytes") >= n("free_bytes"), "{u}");
    assert!(n("free_bytes") >= n("available_bytes"), "{u}");
    assert_eq!(n("used_bytes") + n("free_bytes"), n("total_bytes"));
    let p = f("used_percent");
    assert!((0.0..=100.0).contains(&p), "{u}");
    let expect = n("used_bytes") as f64 * 100.0 / (n("used_bytes") + n("available_bytes")) as f64;
    assert!((p - expect).abs() < 1e-9, "{u}");
    assert!(n("inodes_total") >= n("inodes_used"), "{u}");
    assert!((0.0..=100.0).contains(&f("inodes_used_percent")), "{u}");
}

#[tokio::test]
async fn disk_root_and_a_tempdir() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = run(&format!(
        "disk:\n  paths: [/, '{}']\n",
        dir.path().display()
    ))
    .await;
    let paths = out.observation["paths"].as_array().expect("paths");
    assert_eq!(paths.len(), 2);
    assert_eq!(paths[0]["path"], "/");
    assert_eq!(paths[1]["path"], dir.path().display().to_string());
    for u in paths {
        check_usage(u);
    }
    assert_eq!(out.verdict.status, Status::Ok);
    let m = out.verdict.metrics.get("/.used_percent").expect("metric");
    assert_eq!(Some(*m), paths[0]["used_percent"].as_f64());

    // compare with df's view of / (1K blocks: total and available)
    let df = std::process::Command::new("df")
        .args(["-P", "-k", "/"])
        .output()
        .expect("df");
    let text = String::from_utf8_lossy(&df.stdout);
    let cols: Vec<&str> = text
        .lines()
        .nth(1)
        .expect("df line")
        .split_whitespace()
        .collect();
    let df_total: u64 = cols[1].parse().expect("total");
    assert_eq!(paths[0]["total_bytes"].as_u64(), Some(df_total * 1024));
}

#[tokio::test]
async fn disk_defaults_to_root_and_rejects_missing_paths() {
    let out = run("disk: {}\n").await;
    assert_eq!(out.observation["paths"][0]["path"], "/");
    check_usage(&out.observation["paths"][0]);

    let err = run_in(
        "disk:\n  paths: [/no/such/mount/point]\n",
        &crate_dir(),
        &Value::Null,
        Duration::from_secs(10),
    )
    .await
    .expect_err("must fail");
    assert!(err.to_string().contains("/no/such/mount/point"), "{err}");
}

// ---------------------------------------------------------------- system

#[tokio::test]
async fn system_numbers_are_plausible() {
    let out = run("system:\n  cpu_sample: 300ms\n").await;
    let o = &out.observation;
    let cpus = o["cpu_count"].as_u64().expect("cpu_count");
    assert!(cpus >= 1);
    let cpu = o["cpu_percent"].as_f64().expect("cpu_percent");
    assert!((0.0..=100.0).contains(&cpu), "{o}");
    let mem = &o["memory"];
    let total = mem["total_bytes"].as_u64().expect("total");
    assert!(total > 16 * 1024 * 1024, "{o}");
    assert!(mem["used_bytes"].as_u64().expect("used") <= total);
    assert!(mem["available_bytes"].as_u64().expect("avail") <= total);
    let p = mem["used_percent"].as_f64().expect("percent");
    assert!(p > 0.0 && p <= 100.0, "{o}");
    let swap = &o["swap"];
    assert!(swap["used_bytes"].as_u64() <= swap["total_bytes"].as_u64());
    assert!((0.0..=100.0).contains(&swap["used_percent"].as_f64().expect("swap%")));
    for k in ["one", "five", "fifteen"] {
        let l = o["load"][k].as_f64().expect("load");
        assert!(l >= 0.0);
        let per = o["load_per_cpu"][k].as_f64().expect("per cpu");
        assert!((per - l / cpus as f64).abs() < 1e-9);
    }
    // the kernel's own count agrees
    let proc_uptime: f64 = fs::read_to_string("/proc/uptime")
        .expect("uptime")
        .split_whitespace()
        .next()
        .expect("field")
        .parse()
        .expect("number");
    let up = o["uptime_secs"].as_f64().expect("uptime");
    assert!((up - proc_uptime).abs() < 5.0, "{up} vs {proc_uptime}");

    assert_eq!(out.verdict.status, Status::Ok);
    for m in [
        "cpu_percent",
        "memory.used_percent",
        "load_per_cpu.five",
        "uptime_secs",
    ] {
        assert!(out.verdict.metrics.contains_key(m), "missing metric {m}");
    }
}

#[tokio::test]
async fn system_needs_no_configuration() {
    let out = run("system: {}\n").await;
    assert!(out.observation["cpu_count"].as_u64().is_some());
}

// ---------------------------------------------------------------- log

struct LogDir {
    dir: tempfile::TempDir,
    state: Value,
}

impl LogDir {
    fn new() -> LogDir {
        LogDir {
            dir: tempfile::tempdir().expect("tempdir"),
            state: Value::Null,
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn append(&self, name: &str, text: &str) {
        let mut f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.path(name))
            .expect("open");
        f.write_all(text.as_bytes()).expect("write");
    }
    /// Runs the probe (paths relative to the folder) and keeps its state for the next run.
    async fn run(&mut self, yaml: &str) -> Value {
        let out = run_in(yaml, self.dir.path(), &self.state, Duration::from_secs(30))
            .await
            .unwrap_or_else(|e| panic!("log probe failed: {e}"));
        if let Some(s) = out.state {
            self.state = s;
        }
        let mut o = out.observation;
        o["verdict_status"] = Value::from(out.verdict.status.as_str());
        o["verdict_summary"] = Value::from(out.verdict.summary);
        o
    }
}

const LOG: &str = "log:\n  paths: [app.log]\n  patterns:\n    error: '(?i)\\berror\\b'\n";

fn texts(o: &Value) -> Vec<String> {
    o["last_lines"]
        .as_array()
        .expect("last_lines")
        .iter()
        .map(|l| l["text"].as_str().expect("text").to_string())
        .collect()
}

#[tokio::test]
async fn log_first_run_skips_history_then_reads_only_new_lines() {
    let mut d = LogDir::new();
    d.append("app.log", "old ERROR that must not alert\nfine\n");
    let o = d.run(LOG).await;
    assert_eq!(o["matches"], 0);
    assert_eq!(o["verdict_status"], "ok");
    assert_eq!(o["files"][0]["to_offset"], o["files"][0]["size"]);

    d.append(
        "app.log",
        "an error happened\nall good\nERROR again\nterrors are not errors\n",
    );
    let o = d.run(LOG).await;
    assert_eq!(o["matches"], 2);
    assert_eq!(o["lines_scanned"], 4);
    assert_eq!(o["by_pattern"]["error"], 2);
    assert_eq!(texts(&o), ["an error happened", "ERROR again"]);
    assert_eq!(o["last_lines"][0]["pattern"], "error");
    assert!(
        o["last_lines"][0]["file"]
            .as_str()
            .is_some_and(|f| f.ends_with("app.log"))
    );
    assert_eq!(o["verdict_status"], "warning");
    assert_eq!(
        o["verdict_summary"],
        "2 matching lines in the last run (error: 2)"
    );

    let o = d.run(LOG).await;
    assert_eq!(o["matches"], 0, "lines were counted twice: {o}");
    assert_eq!(o["lines_scanned"], 0);
}

#[tokio::test]
async fn log_from_start_reads_existing_lines() {
    let mut d = LogDir::new();
    d.append("app.log", "error one\nerror two\n");
    let o = d.run(&format!("{LOG}  from_start: true\n")).await;
    assert_eq!(o["matches"], 2);
    assert_eq!(o["files"][0]["from_offset"], 0);
}

#[tokio::test]
async fn log_partial_line_waits_for_its_newline() {
    let mut d = LogDir::new();
    let yaml = format!("{LOG}  from_start: true\n");
    d.append("app.log", "error partial");
    let o = d.run(&yaml).await;
    assert_eq!(o["matches"], 0);
    assert_eq!(o["files"][0]["to_offset"], 0);
    assert_eq!(o["files"][0]["remaining_bytes"], 13);
    d.append("app.log", " line done\n");
    let o = d.run(&yaml).await;
    assert_eq!(texts(&o), ["error partial line done"]);
}

#[tokio::test]
async fn log_rotation_counts_old_and_new_file_once() {
    let mut d = LogDir::new();
    d.append("app.log", "history\n");
    d.run(LOG).await;
    d.append("app.log", "error before rotation\n");
    fs::rename(d.path("app.log"), d.path("app.log.1")).expect("rotate");
    d.append("app.log", "error after rotation\n");
    let o = d.run(LOG).await;
    assert_eq!(o["matches"], 2, "{o}");
    assert_eq!(texts(&o), ["error before rotation", "error after rotation"]);
    let files = o["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{o}");
    assert!(files.iter().all(|f| f["rotated"] == true), "{o}");
    assert!(
        files[0]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("app.log.1"))
    );
    assert_eq!(files[1]["from_offset"], 0);

    // a program still writing to the old file until it reopens its log is followed once more
    d.append("app.log.1", "error late write to the old file\n");
    d.append("app.log", "error new file\n");
    let o = d.run(LOG).await;
    assert_eq!(
        texts(&o),
        ["error late write to the old file", "error new file"],
        "{o}"
    );

    let o = d.run(LOG).await;
    assert_eq!(o["matches"], 0, "{o}");
}

#[tokio::test]
async fn log_rotation_with_a_glob_that_reaches_rotated_files() {
    let mut d = LogDir::new();
    let yaml = "log:\n  paths: ['app.log*']\n  patterns:\n    error: 'error'\n";
    d.append("app.log", "history error\n");
    let o = d.run(yaml).await;
    assert_eq!(o["matches"], 0);
    d.append("app.log", "error 1\n");
    fs::rename(d.path("app.log"), d.path("app.log.1")).expect("rotate");
    d.append("app.log", "error 2\n");
    // compressed older rotations are skipped
    d.append("app.log.2.gz", "error inside a gzip file\n");
    let o = d.run(yaml).await;
    assert_eq!(texts(&o), ["error 1", "error 2"], "{o}");
    let o = d.run(yaml).await;
    assert_eq!(o["matches"], 0, "{o}");
}

#[tokio::test]
async fn log_rotation_before_the_new_file_exists() {
    let mut d = LogDir::new();
    d.append("app.log", "x\n");
    d.run(LOG).await;
    d.append("app.log", "error written just before rotation\n");
    fs::rename(d.path("app.log"), d.path("app.log-20240601")).expect("rotate");
    let yaml = format!("{LOG}  missing_ok: true\n");
    let o = d.run(&yaml).await;
    assert_eq!(texts(&o), ["error written just before rotation"], "{o}");
    d.append("app.log", "error in the new file\n");
    let o = d.run(&yaml).await;
    assert_eq!(texts(&o), ["error in the new file"], "{o}");
}

#[tokio::test]
async fn log_truncation_restarts_from_the_beginning() {
    let mut d = LogDir::new();
    d.append(
        "app.log",
        "a long line of history that makes the file big enough\n",
    );
    d.run(LOG).await;
    d.append("app.log", "error one\n");
    let o = d.run(LOG).await;
    assert_eq!(o["matches"], 1);
    // copytruncate-style: emptied in place, then written again
    fs::write(d.path("app.log"), "error after truncate\n").expect("truncate");
    let o = d.run(LOG).await;
    assert_eq!(texts(&o), ["error after truncate"], "{o}");
    assert_eq!(o["files"][0]["truncated"], true);
    assert_eq!(o["files"][0]["from_offset"], 0);
    let o = d.run(LOG).await;
    assert_eq!(o["matches"], 0);
    assert_eq!(o["files"][0]["truncated"], false);
}

#[tokio::test]
async fn log_exclude_and_several_patterns() {
    let mut d = LogDir::new();
    let yaml = "log:\n  paths: [app.log]\n  patterns:\n    error: '(?i)error'\n    timeout: 'timed? ?out'\n  exclude: 'expected'\n  from_start: true\n  max_lines: 2\n";
    d.append(
        "app.log",
        "error: connection timed out\nexpected error, ignore\nrequest timeout\nERROR disk\nok\n",
    );
    let o = d.run(yaml).await;
    // a line matching both patterns counts once in `matches`, once per pattern in by_pattern
    assert_eq!(o["matches"], 3, "{o}");
    assert_eq!(o["by_pattern"]["error"], 2);
    assert_eq!(o["by_pattern"]["timeout"], 2);
    assert_eq!(o["lines_scanned"], 5);
    assert_eq!(texts(&o), ["request timeout", "ERROR disk"]);
    assert_eq!(o["last_lines"][0]["pattern"], "timeout");
    assert_eq!(
        o["verdict_summary"],
        "3 matching lines in the last run (error: 2, timeout: 2)"
    );
}

#[tokio::test]
async fn log_glob_over_several_files() {
    let mut d = LogDir::new();
    fs::create_dir(d.path("logs")).expect("mkdir");
    d.append("logs/a.log", "error in a\n");
    d.append("logs/b.log", "fine\nerror in b\n");
    d.append("logs/c.txt", "error not a log\n");
    let yaml = "log:\n  paths: ['logs/*.log']\n  patterns:\n    error: error\n";
    let o = d.run(yaml).await;
    assert_eq!(o["matches"], 0);
    assert_eq!(o["files"].as_array().map(Vec::len), Some(2));
    d.append("logs/a.log", "error 2 in a\n");
    d.append("logs/b.log", "error 2 in b\n");
    // a file that appears after the first run is read from its beginning
    d.append("logs/new.log", "error in new\n");
    let o = d.run(yaml).await;
    assert_eq!(o["matches"], 3, "{o}");
    let mut t = texts(&o);
    t.sort();
    assert_eq!(t, ["error 2 in a", "error 2 in b", "error in new"]);
    let per_file: Vec<(String, u64)> = o["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| {
            let p = f["path"].as_str().expect("path");
            (
                p.rsplit('/').next().unwrap_or(p).to_string(),
                f["matches"].as_u64().expect("n"),
            )
        })
        .collect();
    assert_eq!(
        per_file,
        [
            ("a.log".into(), 1),
            ("b.log".into(), 1),
            ("new.log".into(), 1)
        ]
    );
}

#[tokio::test]
async fn log_missing_files_and_bad_patterns() {
    let mut d = LogDir::new();
    let err = run_in(LOG, d.dir.path(), &Value::Null, Duration::from_secs(10))
        .await
        .expect_err("missing file");
    assert!(err.to_string().contains("app.log"), "{err}");

    let o = d.run(&format!("{LOG}  missing_ok: true\n")).await;
    assert_eq!(o["files"], serde_json::json!([]));
    assert_eq!(o["verdict_status"], "ok");

    let bad = serde_saphyr::from_str::<ProbeSpec>(
        "log:\n  paths: [x.log]\n  patterns:\n    broken: '(unclosed'\n",
    )
    .expect_err("bad regex");
    assert!(bad.to_string().contains("regular expression"), "{bad}");
    assert!(
        serde_saphyr::from_str::<ProbeSpec>("log:\n  paths: [x.log]\n").is_err(),
        "patterns are required"
    );
}
