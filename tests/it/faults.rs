//! The fault suite of the hardening issue: each test reproduces one fault a hostile or unlucky
//! environment throws at patrol (with real FIFOs, devices, sparse files, real processes and
//! the real binary) and holds what patrol guarantees under it. The last test is a property
//! test over mutated check files and rules.

use crate::common;
use crate::common::daemon::{Daemon, Opts};
use chrono::{DateTime, Utc};
use patrol::config::{Dur, RuleLimits};
use patrol::rule::{CheckInfo, RuleEngine, RuleInput};
use patrol::status::Status;
use serde_json::json;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `patrol --config DIR/patrol.yaml ARGS` and gives up (killing it) after `within`: a
/// fault must be an error, never a hang.
fn patrol_within(dir: &Path, args: &[&str], within: Duration) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patrol"));
    cmd.arg("--config").arg(dir.join("patrol.yaml")).args(args);
    bounded(cmd, within)
}

fn patrol(dir: &Path, args: &[&str]) -> Output {
    patrol_within(dir, args, Duration::from_secs(60))
}

/// Runs `cmd` with its output in files, killing it after `within`.
fn bounded(mut cmd: Command, within: Duration) -> Output {
    let out = tempfile::NamedTempFile::new().expect("stdout file");
    let err = tempfile::NamedTempFile::new().expect("stderr file");
    let mut child = cmd
        .env_remove("PATROL_LOG")
        .stdin(Stdio::null())
        .stdout(out.reopen().expect("stdout"))
        .stderr(err.reopen().expect("stderr"))
        .spawn()
        .expect("start patrol");
    let end = Instant::now() + within;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() >= end {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{cmd:?} hung for {within:?}; stderr:\n{}",
                std::fs::read_to_string(err.path()).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Output {
        status,
        stdout: std::fs::read(out.path()).expect("read stdout"),
        stderr: std::fs::read(err.path()).expect("read stderr"),
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write(dir: &Path, rel: &str, content: &str) {
    common::write_tree(dir, &[(rel, content)]);
}

/// The line of `out`'s stdout that starts with `file:line:col: `, or a failure listing all.
fn line_at(out: &Output, file: &Path, line: usize, col: usize) -> String {
    let prefix = format!("{}:{line}:{col}: ", file.display());
    let stdout = text(&out.stdout);
    stdout
        .lines()
        .find(|l| l.starts_with(&prefix))
        .map(str::to_string)
        .unwrap_or_else(|| {
            panic!(
                "no problem at {prefix:?} in:\n{stdout}{}",
                text(&out.stderr)
            )
        })
}

fn command_check(id: &str, argv: &str) -> String {
    format!("id: {id}\nschedule: \"every 1m\"\nprobe:\n  command:\n    argv: {argv}\n")
}

// ---------------------------------------------------------------------------------------
// 1. `${file:PATH}` reads regular files only, bounded, and never hangs.

#[test]
fn file_references_read_regular_files_only_and_within_the_cap() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(dir, "patrol.yaml", "store: { path: patrol.db }\n");
    nix::unistd::mkfifo(&dir.join("pipe"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    // A sparse 1 GB file: its size is real, its blocks are not.
    let sparse = std::fs::File::create(dir.join("sparse")).expect("sparse");
    sparse.set_len(1 << 30).expect("set_len");
    std::fs::write(dir.join("token"), "abc123\n").expect("token");
    for (id, reference) in [
        ("fifo", "pipe"),
        ("zero", "/dev/zero"),
        ("folder", "checks"),
        ("sparse", "sparse"),
    ] {
        write(
            dir,
            &format!("checks/{id}.yaml"),
            &command_check(id, &format!("[echo, \"${{file:{reference}}}\"]")),
        );
    }
    write(
        dir,
        "checks/neighbour.yaml",
        &command_check("neighbour", "[echo, \"token ${file:token}\"]"),
    );

    let out = patrol_within(dir, &["validate"], Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let c = dir.join("checks");
    let fifo = line_at(&out, &c.join("fifo.yaml"), 5, 18);
    assert!(
        fifo.contains("`${file:pipe}`: cannot read")
            && fifo.contains("a FIFO (named pipe), not a regular file"),
        "{fifo}"
    );
    let zero = line_at(&out, &c.join("zero.yaml"), 5, 18);
    assert!(
        zero.ends_with("cannot read /dev/zero: it is a character device, not a regular file"),
        "{zero}"
    );
    let folder = line_at(&out, &c.join("folder.yaml"), 5, 18);
    assert!(
        folder.contains("it is a folder, not a regular file"),
        "{folder}"
    );
    let sparse = line_at(&out, &c.join("sparse.yaml"), 5, 18);
    assert!(
        sparse.ends_with("it is 1.0 GiB (1073741824 bytes), more than the limit of 1 MiB"),
        "{sparse}"
    );
    assert!(
        text(&out.stdout).contains("4 problems found; 1 valid checks"),
        "{}",
        text(&out.stdout)
    );

    // The neighbour still loads and runs, and `run --all` ends.
    let run = patrol_within(dir, &["run", "--all"], Duration::from_secs(30));
    let table = text(&run.stdout);
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("neighbour") && l.contains("OK") && l.contains("token abc123")),
        "{table}{}",
        text(&run.stderr)
    );

    // The cap is the operator's: `limits.max_file_bytes`.
    write(
        dir,
        "patrol.yaml",
        "store: { path: patrol.db }\nlimits: { max_file_bytes: 4 }\n",
    );
    let out = patrol_within(dir, &["validate"], Duration::from_secs(20));
    let neighbour = line_at(&out, &c.join("neighbour.yaml"), 5, 18);
    assert!(
        neighbour.ends_with("it is 7 bytes, more than the limit of 4 bytes"),
        "{neighbour}"
    );
    // ... within its own range, located in patrol.yaml.
    write(
        dir,
        "patrol.yaml",
        "store: { path: patrol.db }\nlimits:\n  max_file_bytes: 0\n",
    );
    let out = patrol_within(dir, &["validate"], Duration::from_secs(20));
    let cap = line_at(&out, &dir.join("patrol.yaml"), 3, 19);
    assert!(
        cap.ends_with("max_file_bytes 0 is out of range: 1 to 67108864 (64 MiB)"),
        "{cap}"
    );
}

#[test]
fn secret_and_certificate_files_are_read_the_same_way() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    nix::unistd::mkfifo(&dir.join("pipe"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    write(
        dir,
        "patrol.yaml",
        "store: { path: patrol.db }\nsecrets:\n  pw: { file: pipe }\n",
    );
    let out = patrol_within(dir, &["validate"], Duration::from_secs(20));
    let pw = line_at(&out, &dir.join("patrol.yaml"), 3, 1);
    assert!(
        pw.contains("secret `pw`: cannot read") && pw.contains("a FIFO"),
        "{pw}"
    );
    // A channel's CA file, and the certificate a `tls_file` probe watches.
    write(
        dir,
        "patrol.yaml",
        "store: { path: patrol.db }\nchannels:\n  hook:\n    webhook:\n      url: https://127.0.0.1:9/x\n      ca_file: pipe\n",
    );
    write(
        dir,
        "checks/cert.yaml",
        "id: cert\nschedule: \"every 1m\"\nprobe:\n  tls_file: { path: pipe }\n",
    );
    let out = patrol_within(dir, &["validate"], Duration::from_secs(20));
    let ca = line_at(&out, &dir.join("patrol.yaml"), 3, 1);
    assert!(
        ca.contains("webhook cannot read ca_file")
            && ca.ends_with("pipe: it is a FIFO (named pipe), not a regular file"),
        "{ca}"
    );
    let run = patrol_within(dir, &["run", "cert"], Duration::from_secs(20));
    assert_eq!(run.status.code(), Some(3), "{}", text(&run.stdout));
    assert!(
        text(&run.stdout).contains("it is a FIFO (named pipe), not a regular file"),
        "{}",
        text(&run.stdout)
    );
}

fn stored_runs(dir: &Path, check: &str) -> Vec<patrol::store::RunRecord> {
    patrol::store::Store::open_read_only(&dir.join("patrol.db"))
        .ok()
        .and_then(|s| s.recent_runs(check, 100_000).ok())
        .unwrap_or_default()
}

fn wait_runs(d: &Daemon, dir: &Path, check: &str, after: DateTime<Utc>, n: usize) {
    let what = format!("{n} runs of {check} after {after}");
    common::wait_until(&what, common::LONG, || {
        let count = stored_runs(dir, check)
            .iter()
            .filter(|r| r.started_at > after)
            .count();
        (count >= n).then_some(())
    })
    .unwrap_or_else(|| panic!("{what}; log:\n{}", d.log_text()));
}

#[test]
fn a_fifo_reference_never_stalls_the_daemon() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(dir, "patrol.yaml", "store: { path: patrol.db }\n");
    write(
        dir,
        "checks/tick.yaml",
        "id: tick\nschedule: \"every 1s\"\nprobe:\n  command:\n    argv: [echo, tick]\n",
    );
    nix::unistd::mkfifo(&dir.join("pipe"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    let mut d = Daemon::start(
        &dir.join("patrol.yaml"),
        Opts {
            json: true,
            ..Opts::default()
        },
    );
    wait_runs(&d, dir, "tick", DateTime::<Utc>::MIN_UTC, 2);

    // A check file that reads the FIFO arrives: the reload reports it, the checks go on.
    write(
        dir,
        "checks/bad.yaml",
        &command_check("bad", "[echo, \"${file:pipe}\"]"),
    );
    d.wait_log("ERROR", "a FIFO (named pipe), not a regular file");
    d.wait_log("ERROR", "configuration not reloaded");
    let since = Utc::now();
    wait_runs(&d, dir, "tick", since, 3);

    // And a stop request is heard at once.
    d.signal(nix::sys::signal::Signal::SIGTERM);
    assert!(d.wait_exit(Duration::from_secs(20)).success());
}

// ---------------------------------------------------------------------------------------
// 4. Rule limits: ranged, none turns a limit off, and the deepest allowed recursion is an
// UNKNOWN verdict, not an aborted process.

#[test]
fn rule_limits_are_ranged_and_none_turns_a_limit_off() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let cases = [
        (
            "max_operations: 0",
            32,
            "rule_limits.max_operations 0 is out of range: write a number from 1000 to 1000000000",
        ),
        (
            "max_string_size: 0",
            33,
            "rule_limits.max_string_size 0 is out of range: write a number from 1024 to 67108864",
        ),
        (
            "max_collection_size: 0",
            37,
            "rule_limits.max_collection_size 0 is out of range: write a number from 16 to 10000000",
        ),
        (
            "max_call_levels: 0",
            33,
            "rule_limits.max_call_levels 0 is out of range: write a number from 1 to 1000",
        ),
        (
            "max_call_levels: 5000",
            33,
            "rule_limits.max_call_levels 5000 is out of range: write a number from 1 to 1000",
        ),
        (
            "timeout: 0s",
            25,
            "rule_limits.timeout 0s is out of range: write a duration from 10ms to 1m",
        ),
    ];
    for (setting, col, message) in cases {
        write(
            dir,
            "patrol.yaml",
            &format!("store: {{ path: patrol.db }}\nrule_limits: {{ {setting} }}\n"),
        );
        let out = patrol(dir, &["validate"]);
        assert_eq!(out.status.code(), Some(1), "{setting}");
        let line = line_at(&out, &dir.join("patrol.yaml"), 2, col);
        assert!(line.ends_with(message), "{setting}: {line}");
    }
}

/// A recursive function whose every call level sits inside the most deeply nested expression
/// a function body may hold: the most stack per level a rule can use.
fn deepest_recursion(engine: &RuleEngine) -> String {
    let origin = Path::new("rules/deep.rhai");
    (1..64)
        .rev()
        .map(|k| {
            let mut body = "f(n + 1)".to_string();
            for _ in 0..k {
                body = format!("1 + ({body})");
            }
            format!("fn f(n) {{\n  {body}\n}}\nf(0)\n")
        })
        .find(|src| engine.compile("deep", src, origin, 0).is_ok())
        .expect("some nesting compiles")
}

fn input<'a>(
    observation: &'a serde_json::Value,
    params: &'a serde_json::Value,
    check: &'a CheckInfo,
) -> RuleInput<'a> {
    RuleInput {
        observation,
        params,
        check,
        history: &[],
        now: Utc::now(),
    }
}

#[test]
fn the_deepest_allowed_recursion_is_unknown_not_an_abort() {
    let limits = RuleLimits {
        max_call_levels: 1000,
        max_operations: 1_000_000_000,
        timeout: Dur(Duration::from_secs(60)),
        ..RuleLimits::default()
    };
    let engine = RuleEngine::new(&limits);
    let source = deepest_recursion(&engine);
    let rule = engine
        .compile("deep", &source, Path::new("rules/deep.rhai"), 0)
        .expect("compile");
    let (obs, params, check) = (json!({}), json!({}), CheckInfo::default());
    let v = engine.evaluate(&rule, &input(&obs, &params, &check));
    assert_eq!(v.status, Status::Unknown, "{v:?}");
    assert!(
        v.summary.contains("too many nested function calls"),
        "{}",
        v.summary
    );

    // The same through the binary, as the daemon and `patrol run` evaluate rules.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(
        dir,
        "patrol.yaml",
        "store: { path: patrol.db }\nrule_limits: { max_call_levels: 1000, max_operations: 1000000000, timeout: 60s }\n",
    );
    write(dir, "rules/deep.rhai", &source);
    write(
        dir,
        "checks/deep.yaml",
        "id: deep\nschedule: \"every 1m\"\nprobe:\n  command:\n    argv: [echo, hi]\nrule: deep\n",
    );
    let out = patrol(dir, &["run", "deep"]);
    let table = text(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{table}{}", text(&out.stderr));
    assert!(table.contains("too many nested function calls"), "{table}");
}

// ---------------------------------------------------------------------------------------
// 5. A rule's print output is capped per run, says it was cut, and is masked.

#[test]
fn rule_output_is_capped_per_run_and_masked() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(
        dir,
        "patrol.yaml",
        "store: { path: patrol.db }\nsecrets:\n  tok: { value: \"s3cr3t-token-1234\" }\n",
    );
    write(
        dir,
        "checks/flood.yaml",
        "id: flood\nschedule: \"every 1m\"\nprobe:\n  command:\n    argv: [echo, hi]\nparams: { tok: \"${secret:tok}\" }\nrule: |\n  print(`token is ${params.tok}`);\n  debug(params.tok);\n  let s = \"\";\n  s.pad(1048576, \"x\");\n  loop { print(s); }\n",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .arg("--config")
        .arg(dir.join("patrol.yaml"))
        .args(["--log-level", "debug", "run", "flood"])
        .env_remove("PATROL_LOG")
        .output()
        .expect("run");
    let log = text(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stdout));
    // 16 KiB of rule output plus log decoration, not hundreds of megabytes.
    assert!(
        out.stderr.len() < 64 * 1024,
        "{} bytes of log",
        out.stderr.len()
    );
    assert!(
        log.contains("... output cut: the rule printed more than 16 KiB in this run"),
        "{log}"
    );
    assert!(log.contains("token is ***"), "{log}");
    assert!(
        !log.contains("s3cr3t-token-1234"),
        "secret in the log:\n{log}"
    );
}

// ---------------------------------------------------------------------------------------
// 6. The memory guard accounts per evaluation.

#[test]
fn the_memory_guard_stops_the_allocating_rule_and_not_its_neighbour() {
    let engine = std::sync::Arc::new(RuleEngine::new(&RuleLimits {
        // Memory budget per evaluation: 256 × 64 KiB = 16 MiB.
        max_string_size: 64 * 1024,
        max_operations: 1_000_000_000,
        timeout: Dur(Duration::from_secs(3)),
        ..RuleLimits::default()
    }));
    let compile = |name: &str, src: &str| {
        engine
            .compile(name, src, Path::new(&format!("rules/{name}.rhai")), 0)
            .expect("compile")
    };
    let grower = compile(
        "grower",
        "let m = #{};\nlet s = \"\";\ns.pad(60000, \"x\");\nlet i = 0;\nloop { i += 1; m[`k${i}`] = s + i; }",
    );
    let looper = compile("looper", "let x = 0;\nloop { x += 1; }");
    let (obs, params, check) = (json!({}), json!({}), CheckInfo::default());

    let (looped, grown) = std::thread::scope(|s| {
        let looping = s.spawn(|| engine.evaluate(&looper, &input(&obs, &params, &check)));
        // Someone else grows the process meanwhile: another rule, and plain code.
        let growing = s.spawn(|| {
            std::thread::sleep(Duration::from_millis(200));
            engine.evaluate(&grower, &input(&obs, &params, &check))
        });
        let mut ballast: Vec<Vec<u8>> = Vec::new();
        for _ in 0..8 {
            ballast.push(vec![7u8; 16 << 20]);
            std::thread::sleep(Duration::from_millis(50));
        }
        let grown = growing.join().expect("grower");
        let looped = looping.join().expect("looper");
        drop(ballast);
        (looped, grown)
    });
    assert_eq!(grown.status, Status::Unknown);
    assert!(
        grown.summary.contains("memory grew too much"),
        "{}",
        grown.summary
    );
    assert_eq!(looped.status, Status::Unknown);
    assert!(
        looped.summary.contains("timed out after") && !looped.summary.contains("memory"),
        "the looping rule was blamed: {}",
        looped.summary
    );
}

// ---------------------------------------------------------------------------------------
// 7. Every duration and count has a range, reported at file:line:col.

#[test]
fn durations_and_counts_out_of_range_are_located() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(dir, "patrol.yaml", "store: { path: patrol.db }\n");
    let probe = "probe:\n  command:\n    argv: [echo, hi]\n";
    let cases: [(&str, &str, usize, usize, &str); 9] = [
        (
            "schedule",
            "schedule: \"every 9223372036854775807s\"\n",
            2,
            11,
            "schedule \"every 9223372036854775807s\": invalid duration \"9223372036854775807s\": longer than 3650d (ten years)",
        ),
        (
            "every-long",
            "schedule: \"every 400d\"\n",
            2,
            11,
            "schedule \"every 400d\": the period must be at most 366d (use a cron expression such as @yearly for rarer runs)",
        ),
        (
            "every-short",
            "schedule: \"every 500ms\"\n",
            2,
            11,
            "schedule \"every 500ms\": the period must be at least 1s (and at most 366d)",
        ),
        (
            "retries",
            "schedule: \"every 1m\"\nretries: 2147483647\n",
            3,
            10,
            "retries 2147483647 is out of range: write a number from 0 to 10",
        ),
        (
            "timeout-zero",
            "schedule: \"every 1m\"\ntimeout: 0s\n",
            3,
            10,
            "timeout 0s is out of range: write a duration from 1s to 24h",
        ),
        (
            "timeout-huge",
            "schedule: \"every 1m\"\ntimeout: 999999999999d\n",
            3,
            10,
            "invalid duration \"999999999999d\": longer than 3650d (ten years)",
        ),
        (
            "timeout-long",
            "schedule: \"every 1m\"\ntimeout: 2d\n",
            3,
            10,
            "timeout 2d is out of range: write a duration from 1s to 24h",
        ),
        (
            "repeat",
            "schedule: \"every 1m\"\nalerting: { repeat: 500ms }\n",
            3,
            21,
            "repeat 500ms is out of range: write a duration from 1s to 366d",
        ),
        (
            "after",
            "schedule: \"every 1m\"\nalerting:\n  after: \"3 of 5000\"\n",
            4,
            10,
            "invalid `after` \"3 of 5000\": write a number from 1 to 1000 like 3, or \"3 of 5\"",
        ),
    ];
    for (id, body, ..) in &cases {
        write(
            dir,
            &format!("checks/{id}.yaml"),
            &format!("id: {id}\n{body}{probe}"),
        );
    }
    write(
        dir,
        "checks/probe-timeout.yaml",
        "id: probe-timeout\nschedule: \"every 1m\"\nprobe:\n  command:\n    argv: [echo, hi]\n    timeout: 0s\n",
    );
    let out = patrol(dir, &["validate"]);
    assert_eq!(out.status.code(), Some(1));
    for (id, _, line, col, message) in cases {
        let found = line_at(&out, &dir.join(format!("checks/{id}.yaml")), line, col);
        assert!(found.ends_with(message), "{id}: {found}");
    }
    let found = line_at(&out, &dir.join("checks/probe-timeout.yaml"), 6, 14);
    assert!(
        found.ends_with("timeout 0s is out of range: write a duration from 10ms to 24h"),
        "{found}"
    );

    // patrol.yaml: counts and durations of the root.
    for (setting, col, message) in [
        (
            "concurrency: 0",
            14,
            "concurrency 0 is out of range: write a number from 1 to 1024",
        ),
        (
            "history: 100000",
            10,
            "history 100000 is out of range: write a number from 0 to 1000",
        ),
        (
            "shutdown_grace: 99999d",
            17,
            "invalid duration \"99999d\": longer than 3650d (ten years)",
        ),
        (
            "delivery: { timeout: 0s }",
            22,
            "timeout 0s is out of range: write a duration from 100ms to 1h",
        ),
        (
            "store: { path: patrol.db, max_runs_per_check: 0 }",
            47,
            "max_runs_per_check 0 is out of range: write a number from 1 to 10000000",
        ),
    ] {
        let root = if setting.starts_with("store") {
            format!("{setting}\n")
        } else {
            format!("store: {{ path: patrol.db }}\n{setting}\n")
        };
        write(dir, "patrol.yaml", &root);
        let out = patrol(dir, &["validate"]);
        let row = if setting.starts_with("store") { 1 } else { 2 };
        let found = line_at(&out, &dir.join("patrol.yaml"), row, col);
        assert!(found.ends_with(message), "{setting}: {found}");
    }
}

#[test]
fn schedule_next_never_goes_backwards() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let out = patrol(dir, &["schedule", "next", "every 9223372036854775807s"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("longer than 3650d"),
        "{}",
        text(&out.stderr)
    );
    for expr in ["every 366d", "every 1s", "0 30 2 * * *", "@yearly"] {
        let out = patrol(
            dir,
            &[
                "schedule",
                "next",
                expr,
                "-n",
                "20",
                "--tz",
                "Europe/Berlin",
                "--json",
            ],
        );
        assert_eq!(out.status.code(), Some(0), "{expr}: {}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        let times: Vec<DateTime<Utc>> = v["fires"]
            .as_array()
            .expect("fires")
            .iter()
            .map(|f| f["utc"].as_str().expect("utc").parse().expect("time"))
            .collect();
        assert_eq!(times.len(), 20, "{expr}");
        assert!(times.windows(2).all(|w| w[0] < w[1]), "{expr}: {times:?}");
    }
}

// ---------------------------------------------------------------------------------------
// 9. Command log collectors with the default config path (`patrol.yaml` in the current
// folder, whose parent is "").

#[test]
fn log_export_commands_run_with_the_default_config_path() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(
        dir,
        "patrol.yaml",
        "store: { path: patrol.db }\nlogs:\n  sources:\n    console:\n      collect:\n        - command: { argv: [echo, hello from the console], name: hello.txt }\n",
    );
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_patrol"));
    cmd.current_dir(dir)
        .args(["logs", "export", "--json", "-o", "bundle.tar.gz"]);
    let out = bounded(cmd, Duration::from_secs(60));
    let manifest = text(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{manifest}{}",
        text(&out.stderr)
    );
    assert!(!manifest.contains("cannot start"), "{manifest}");
    assert!(manifest.contains("commands/hello.txt"), "{manifest}");
    assert!(dir.join("bundle.tar.gz").is_file());
}

// ---------------------------------------------------------------------------------------
// 10. Smaller faults.

/// Processes whose command line is exactly `sleep SECS`.
fn sleepers(secs: &str) -> Vec<i32> {
    let want = format!("sleep\0{secs}\0");
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| c == want.as_bytes())
        })
        .collect()
}

#[test]
fn command_probes_leave_nothing_behind_and_report_the_time_they_ran() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    // Distinct numbers, so that other tests' sleeps are not counted.
    let base = 4000 + std::process::id() % 4000;
    let (ended, timed_out) = (format!("{base}"), format!("{}", base + 1));
    write(dir, "patrol.yaml", "store: { path: patrol.db }\n");
    write(
        dir,
        "checks/ended.yaml",
        &format!(
            "id: ended\nschedule: \"every 1m\"\nprobe:\n  command:\n    shell: \"setsid sleep {ended} > /dev/null 2>&1 & echo started\"\n"
        ),
    );
    write(
        dir,
        "checks/slow.yaml",
        &format!(
            "id: slow\nschedule: \"every 1m\"\ntimeout: 2s\nprobe:\n  command:\n    shell: \"setsid sleep {timed_out} & sleep 30\"\n"
        ),
    );
    let out = patrol(dir, &["run", "ended", "slow"]);
    let table = text(&out.stdout);
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<i32> = sleepers(&ended)
        .into_iter()
        .chain(sleepers(&timed_out))
        .collect();
    for pid in &left {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(*pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        left.is_empty(),
        "setsid children survived: {left:?}\n{table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("ended") && l.contains("OK") && l.contains("started")),
        "{table}"
    );
    // The check's 2s keep 400ms to report: the program ran 1.6s, and the summary says so.
    let slow = table
        .lines()
        .find(|l| l.starts_with("slow"))
        .unwrap_or_default();
    assert!(
        slow.contains(
            "timed out after 1.6s (limit 1.6s: the check's timeout 2s less 400ms kept to report)"
        ),
        "{table}"
    );
}

#[test]
fn cr_only_files_and_oversized_rules_are_clear_errors() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    write(dir, "patrol.yaml", "store: { path: patrol.db }\n");
    write(
        dir,
        "checks/mac.yaml",
        "id: mac\rschedule: \"every 1m\"\rprobe:\r  command:\r    argv: [echo, hi]\r",
    );
    write(
        dir,
        "checks/dos.yaml",
        "id: dos\r\nschedule: \"every 1m\"\r\nprobe:\r\n  command:\r\n    argv: [echo, hi]\r\n",
    );
    let big_rule = format!("// {}\nok(\"big\")\n", "x".repeat(16 << 20));
    write(dir, "rules/big.rhai", &big_rule);
    write(dir, "rules/mac-rule.rhai", "// a comment\rok(\"never\")\r");
    let out = patrol(dir, &["validate"]);
    let mac = line_at(&out, &dir.join("checks/mac.yaml"), 1, 8);
    assert!(
        mac.contains("bare CR (classic Mac line endings); patrol reads LF or CRLF"),
        "{mac}"
    );
    let big = line_at(&out, &dir.join("rules/big.rhai"), 1, 1);
    let expected = format!(
        "cannot read: it is 16.0 MiB ({} bytes), more than the limit of 1 MiB",
        big_rule.len()
    );
    assert!(big.ends_with(&expected), "{big}");
    let mac_rule = line_at(&out, &dir.join("rules/mac-rule.rhai"), 1, 13);
    assert!(mac_rule.contains("bare CR"), "{mac_rule}");
    // CRLF is fine.
    assert!(
        text(&out.stdout).contains("3 problems found; 1 valid checks"),
        "{}",
        text(&out.stdout)
    );
}

// ---------------------------------------------------------------------------------------
// The property test: mutated check files, root configs and rules never panic, every
// problem is located in a file of the case, and each case takes bounded time.

/// xorshift64*: a small seeded generator, so that a failing case can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const ROOT: &str = "store: { path: patrol.db }\ntimezone: Europe/Berlin\nconcurrency: 4\nvars: { site: dr-east }\nsecrets:\n  pw: { value: \"hunter2-secret\" }\nrule_limits: { max_operations: 200000, timeout: 200ms }\nalerting: { after: \"2 of 3\", repeat: 1h }\n";

const CHECKS: &[&str] = &[
    "id: cmd\nname: A command\ntags: [host, daily]\nschedule: \"0 30 7 * * *\"\ntimeout: 20s\nretries: 2\nretry_delay: 1s\nprobe:\n  command:\n    argv: [echo, \"${var:site}\", \"${env:PATROL_FAULTS_UNSET:-x}\"]\n    timeout: 5s\nrule: r\nparams: { warn: 80, critical: 90, token: \"${secret:pw}\" }\nalerting: { after: 3, recover_after: 2 }\n",
    "id: web\nschedule: \"every 5m\"\nprobe:\n  http:\n    url: \"http://127.0.0.1:9/health\"\n    expect: [200]\n    timeout: 2s\nrule: |\n  if probe.status == 200 { ok(\"up\") } else { critical(`status ${probe.status}`) }\n",
    "id: port\nschedule: \"*/5 * * * *\"\nmisfire: skip\nprobe:\n  tcp: { host: 127.0.0.1, port: 9, timeout: 1s }\ndepends_on: [cmd]\n",
    "id: disk\nschedule: \"@hourly\"\nprobe:\n  disk: { paths: [/] }\nrule: r\non_failure: { window: 2h }\n",
    "id: beat\nschedule: \"every 1m\"\nprobe:\n  heartbeat: { period: 1d, grace: 10m }\nenabled: false\n",
];

const TOKENS: &[&str] = &[
    ":",
    "-",
    " ",
    "\n",
    "\n  ",
    "{",
    "}",
    "[",
    "]",
    "'",
    "\"",
    "${",
    "}",
    "#",
    "\t",
    "\r",
    "&a",
    "*a",
    "!!str ",
    "? ",
    "|",
    ">",
    "---\n",
    "...\n",
    "0",
    "-1",
    "999999999999999999999",
    "4294967296",
    "9223372036854775807",
    "1e309",
    ".nan",
    "0s",
    "999999999999d",
    "every 0s",
    "${file:/dev/zero}",
    "${file:pipe}",
    "${file:sparse}",
    "${env:PATROL_FAULTS_UNSET}",
    "${secret:nope}",
    "${var:nope}",
    "$${",
    "\u{feff}",
    "é",
    "\u{0}",
    "~",
    "null",
    "true",
    "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[",
    "{a: {a: {a: {a: {a: {a: {a: {a: {a: {a: 1}}}}}}}}}}",
];

const RULE_TOKENS: &[&str] = &[
    "(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ";",
    "\n",
    "\"",
    "`",
    "${",
    "fn f(x) { f(x) }\nf(0);\n",
    "loop {}\n",
    "let a = []; loop { a = [a]; }\n",
    "let s = \"x\"; loop { s += s; }\n",
    "print(params);\n",
    "import \"x\" as y;\n",
    "eval(\"1\")\n",
    "probe.nope",
    "1 / 0",
    "9223372036854775807 + 1",
    "ok(",
    "critical(\"x\")",
    "metric(\"m\", 1.0 / 0.0);\n",
    "fact(\"f\", #{a: [1, 2, #{b: ()}]});\n",
    "\r",
    "\u{0}",
    "//",
    "/*",
];

fn mutate(text: &str, rng: &mut Rng, tokens: &[&str]) -> String {
    let mut s = text.to_string();
    for _ in 0..=rng.below(4) {
        let boundaries: Vec<usize> = s.char_indices().map(|(i, _)| i).chain([s.len()]).collect();
        let at = *rng.pick(&boundaries);
        match rng.below(9) {
            8 => {
                // A quoted value becomes a reference to something hostile to read.
                let quotes: Vec<usize> = s.match_indices('"').map(|(i, _)| i).collect();
                if quotes.len() >= 2 {
                    let k = rng.below(quotes.len() - 1);
                    let (a, b) = (quotes[k] + 1, quotes[k + 1]);
                    let hostile = *rng.pick(&[
                        "${file:/dev/zero}",
                        "${file:pipe}",
                        "${file:sparse}",
                        "${file:.}",
                        "${file:/dev/urandom}",
                        "x ${file:pipe} y",
                    ]);
                    s.replace_range(a..b, hostile);
                }
            }
            0 | 1 => {
                let token: &str = tokens[rng.below(tokens.len())];
                s.insert_str(at, token)
            }
            2 => {
                let end_i = boundaries.iter().position(|b| *b == at).map_or(at, |i| {
                    boundaries[(i + 1 + rng.below(8)).min(boundaries.len() - 1)]
                });
                s.replace_range(at..end_i, "");
            }
            3 => s.truncate(at),
            4 | 5 => {
                // Replace a number or a duration with a hostile one.
                let words: Vec<(usize, usize)> = s
                    .match_indices(|c: char| c.is_ascii_digit())
                    .map(|(i, _)| i)
                    .map(|i| {
                        let end = s[i..]
                            .find(|c: char| !c.is_ascii_alphanumeric())
                            .map_or(s.len(), |e| i + e);
                        (i, end)
                    })
                    .collect();
                if !words.is_empty() {
                    let (a, b) = *rng.pick(&words);
                    let hostile = *rng.pick(&[
                        "0",
                        "0s",
                        "-1",
                        "18446744073709551616",
                        "99999999999d",
                        "1ms",
                        ".inf",
                        "3 of 1",
                    ]);
                    s.replace_range(a..b, hostile);
                }
            }
            6 => {
                let lines: Vec<&str> = s.lines().collect();
                if !lines.is_empty() {
                    let l = lines[rng.below(lines.len())].to_string();
                    s.insert_str(at, &format!("{l}\n"));
                }
            }
            _ => {
                let mut lines: Vec<String> = s.lines().map(str::to_string).collect();
                if lines.len() > 1 {
                    let (a, b) = (rng.below(lines.len()), rng.below(lines.len()));
                    lines.swap(a, b);
                    s = lines.join("\n");
                }
            }
        }
    }
    s
}

/// Every problem names a file of the case and a place inside it.
fn assert_located(dir: &Path, problems: &[patrol::config::Diagnostic], case: &str) {
    for p in problems {
        assert!(!p.message.trim().is_empty(), "{case}: empty message at {p}");
        assert!(!p.message.contains("panicked"), "{case}: {p}");
        let file = if p.file.is_absolute() {
            p.file.clone()
        } else {
            dir.join(&p.file)
        };
        assert!(file.starts_with(dir), "{case}: {p} is outside the case");
        let content = std::fs::read(&file).unwrap_or_default();
        let content = String::from_utf8_lossy(&content);
        let lines = content.split(['\n', '\r']).count().max(1);
        assert!(
            p.line >= 1 && p.line <= lines + 1,
            "{case}: line {} of {lines}: {p}",
            p.line
        );
        let widest = content
            .split(['\n', '\r'])
            .map(|l| l.chars().count())
            .max()
            .unwrap_or(0);
        assert!(
            p.column >= 1 && p.column <= widest + 2,
            "{case}: column {} (widest {widest}): {p}",
            p.column
        );
    }
}

#[test]
fn mutated_configurations_and_rules_never_panic_and_every_problem_is_located() {
    let cases: u64 = std::env::var("PATROL_FAULT_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300);
    let mut rule_seeds: Vec<String> = std::fs::read_dir("rules")
        .expect("rules folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "rhai"))
        .map(|p| std::fs::read_to_string(p).expect("rule"))
        .collect();
    rule_seeds.sort();
    rule_seeds.push("if probe.exit_code == 0 { ok(\"fine\") } else { critical(\"bad\") }\n".into());
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_path_buf();
    nix::unistd::mkfifo(&dir.join("pipe"), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    std::fs::File::create(dir.join("sparse"))
        .and_then(|f| f.set_len(1 << 30))
        .expect("sparse");
    let started = Instant::now();
    let mut slowest = Duration::ZERO;
    let mut hostile_reads = 0;
    for seed in 1..=cases {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let root = if rng.below(5) == 0 {
            mutate(ROOT, &mut rng, TOKENS)
        } else {
            ROOT.to_string()
        };
        let checks: String = CHECKS.join("---\n");
        let checks = mutate(&checks, &mut rng, TOKENS);
        let seed_rule: &String = rng.pick(&rule_seeds);
        let rule = mutate(&seed_rule.clone(), &mut rng, RULE_TOKENS);
        let case = format!("seed {seed}");
        let _ = std::fs::remove_dir_all(dir.join("checks"));
        let _ = std::fs::remove_dir_all(dir.join("rules"));
        write(&dir, "patrol.yaml", &root);
        write(&dir, "checks/case.yaml", &checks);
        write(&dir, "rules/r.rhai", &rule);

        // Each case on a thread of its own, so that a hang fails the test instead of
        // stalling it.
        let (tx, rx) = std::sync::mpsc::channel();
        let case_dir = dir.clone();
        let t0 = Instant::now();
        std::thread::spawn(move || {
            let result = std::panic::catch_unwind(|| {
                let path = case_dir.join("patrol.yaml");
                match patrol::app::App::load(&path) {
                    Err(problems) => (problems, Vec::new()),
                    Ok((app, problems)) => {
                        let observation = json!({"exit_code": 0, "status": 200, "used_percent": 91.5, "items": [1, 2, 3], "console": {"timezone": "Asia/Shanghai"}});
                        let verdicts = app
                            .rules
                            .iter()
                            .map(|(id, rule)| {
                                let check = CheckInfo {
                                    id: id.clone(),
                                    ..CheckInfo::default()
                                };
                                let params = json!({"warn": 80, "critical": 90});
                                let v = app
                                    .engine
                                    .evaluate(rule, &input(&observation, &params, &check));
                                (id.clone(), v)
                            })
                            .collect();
                        (problems, verdicts)
                    }
                }
            });
            let _ = tx.send(result);
        });
        let outcome = rx.recv_timeout(Duration::from_secs(20)).unwrap_or_else(|_| {
            panic!("{case} hung\n--- patrol.yaml\n{root}\n--- checks/case.yaml\n{checks}\n--- rules/r.rhai\n{rule}")
        });
        let (problems, verdicts) = outcome.unwrap_or_else(|_| {
            panic!("{case} panicked\n--- patrol.yaml\n{root}\n--- checks/case.yaml\n{checks}\n--- rules/r.rhai\n{rule}")
        });
        assert_located(&dir, &problems, &case);
        hostile_reads += problems
            .iter()
            .filter(|p| {
                p.message.contains("not a regular file")
                    || p.message.contains("more than the limit")
            })
            .count();
        for (id, v) in &verdicts {
            // A panic inside an evaluation is caught and reported; none may happen.
            assert!(
                !v.summary.contains("internal error"),
                "{case} {id}: {}\n--- rules/r.rhai\n{rule}",
                v.summary
            );
        }
        let took = t0.elapsed();
        slowest = slowest.max(took);
        // A rule may run to its 200ms deadline per check; loading is milliseconds.
        assert!(took < Duration::from_secs(10), "{case} took {took:?}");
    }
    println!(
        "{cases} cases in {:?}, slowest {slowest:?}; {hostile_reads} hostile file reads refused",
        started.elapsed()
    );
    assert!(
        hostile_reads > 0,
        "the mutations never reached a file reference"
    );
}
