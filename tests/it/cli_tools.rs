//! The operator's tools as the README shows them: `patrol init`, `schedule next` (checked
//! against an independent cron implementation, Python's croniter), `explain`, shell
//! completions, the man page and the `--json` output of every listing command.

use crate::common;
use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use common::{patrol, stderr, stdout, write_tree};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn json_of(o: &std::process::Output) -> Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// Asks croniter (Debian `python3-croniter`, installed by .ci/run) for fire times: `naive`
/// = pattern matches on the local wall clock (no time zone involved), `aware` = croniter's
/// own time-zone handling (pytz), as UTC instants.
fn croniter(jobs: &[Value]) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
import pytz
from croniter import croniter
out = []
for job in json.load(sys.stdin):
    start = datetime.fromisoformat(job["from"].replace("Z", "+00:00"))
    naive_start = start.astimezone(ZoneInfo(job["tz"])).replace(tzinfo=None)
    it = croniter(job["expr"], naive_start)
    naive = [it.get_next(datetime).isoformat() for _ in range(job["naive"])]
    it = croniter(job["expr"], start.astimezone(pytz.timezone(job["tz"])))
    aware = [it.get_next(datetime).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
             for _ in range(job["count"])]
    out.append({"naive": naive, "aware": aware})
json.dump(out, sys.stdout)
"#;
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run /usr/bin/python3 (apt-get install python3-croniter)");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(serde_json::to_string(jobs).expect("json").as_bytes())
        .expect("write jobs");
    let out = child.wait_with_output().expect("croniter");
    assert!(
        out.status.success(),
        "croniter failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("croniter JSON")
}

/// The DST cases where patrol's answer differs from croniter's by design (README, "When
/// will it run?"). croniter has no rule for them: around a transition its time-zone mode
/// returns times that do not exist or repeats an instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum DstCase {
    /// A named hour falls in the spring gap: patrol runs it once, at the end of the gap.
    SpringGapFixedHoursRunsAtGapEnd,
    /// `*`/step hours in the spring gap: those times do not exist and are skipped.
    SpringGapIntervalSkipped,
    /// A named hour repeated in autumn: patrol runs it once, at the first pass.
    AutumnRepeatFixedHoursRunsOnce,
    /// `*`/step hours repeated in autumn: patrol runs both passes (real time between runs
    /// stays as written).
    AutumnRepeatIntervalRunsTwice,
}

/// The fire times patrol's documented DST rules give for croniter's wall-clock matches.
fn expected_from_wall_clock(
    naive: &[NaiveDateTime],
    tz: Tz,
    fixed_hours: bool,
    from: DateTime<Utc>,
    count: usize,
    cases: &mut BTreeMap<DstCase, usize>,
) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = Vec::new();
    for w in naive {
        match tz.from_local_datetime(w) {
            LocalResult::Single(t) => out.push(t.with_timezone(&Utc)),
            LocalResult::Ambiguous(a, b) => {
                let (a, b) = (a.with_timezone(&Utc), b.with_timezone(&Utc));
                out.push(a.min(b));
                if fixed_hours {
                    *cases
                        .entry(DstCase::AutumnRepeatFixedHoursRunsOnce)
                        .or_default() += 1;
                } else {
                    out.push(a.max(b));
                    *cases
                        .entry(DstCase::AutumnRepeatIntervalRunsTwice)
                        .or_default() += 1;
                }
            }
            LocalResult::None => {
                if fixed_hours {
                    // The end of the gap: the first valid wall-clock minute after it (real
                    // gaps end on a whole minute).
                    let minute = w.date().and_hms_opt(
                        chrono::Timelike::hour(w),
                        chrono::Timelike::minute(w),
                        0,
                    );
                    let e = (1..=180)
                        .find_map(|m| {
                            tz.from_local_datetime(&(minute? + Duration::minutes(m)))
                                .earliest()
                        })
                        .map(|t| t.with_timezone(&Utc))
                        .expect("gap end");
                    out.push(e);
                    *cases
                        .entry(DstCase::SpringGapFixedHoursRunsAtGapEnd)
                        .or_default() += 1;
                } else {
                    *cases.entry(DstCase::SpringGapIntervalSkipped).or_default() += 1;
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out.retain(|t| *t > from);
    out.truncate(count);
    out
}

/// patrol's form and croniter's form (croniter puts seconds last) of each expression.
const EXPRESSIONS: &[(&str, &str)] = &[
    ("30 2 * * *", "30 2 * * *"),
    ("0 30 2 * * *", "30 2 * * * 0"),
    ("15 30 2 * * *", "30 2 * * * 15"),
    ("*/15 * * * *", "*/15 * * * *"),
    ("0 * * * *", "0 * * * *"),
    ("30 1,2,3 * * *", "30 1,2,3 * * *"),
    ("*/20 2 * * *", "*/20 2 * * *"),
    ("45 2 * * 0", "45 2 * * 0"),
    ("0 9 * * 1-5", "0 9 * * 1-5"),
    ("15 */2 * * *", "15 */2 * * *"),
    ("0 0 12 1 * *", "0 12 1 * * 0"),
    ("@daily", "@daily"),
    ("@hourly", "@hourly"),
    ("@weekly", "@weekly"),
];

#[test]
fn schedule_next_agrees_with_croniter_and_differs_only_in_the_named_dst_cases() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("none.yaml"); // no config: --tz decides
    // Both 2026 transitions of Berlin (03-29, 10-25) and New York (03-08, 11-01), Sydney's
    // (04-05, 10-04), a zone without DST, UTC, and quiet months.
    let zones = [
        "Europe/Berlin",
        "America/New_York",
        "Australia/Sydney",
        "Asia/Shanghai",
        "UTC",
    ];
    let froms = [
        "2026-03-28T12:00:00Z",
        "2026-10-24T12:00:00Z",
        "2026-03-07T12:00:00Z",
        "2026-10-31T12:00:00Z",
        "2026-04-04T00:00:00Z",
        "2026-10-03T00:00:00Z",
        "2026-01-15T08:00:00Z",
        "2026-07-01T00:00:00Z",
    ];
    let count = 12;
    let mut jobs = Vec::new();
    let mut patrol_answers = Vec::new();
    for (expr, cron_form) in EXPRESSIONS {
        for tz in zones {
            for from in froms {
                let o = patrol(
                    &config,
                    &[
                        "schedule", "next", expr, "--tz", tz, "--from", from, "--count", "12",
                        "--json",
                    ],
                );
                assert!(o.status.success(), "{expr} {tz}: {}", stderr(&o));
                patrol_answers.push((expr, tz, from, json_of(&o)));
                jobs.push(json!({"expr": cron_form, "tz": tz, "from": from,
                                 "count": count, "naive": count + 30}));
            }
        }
    }
    let answers = croniter(&jobs);
    let mut cases: BTreeMap<DstCase, usize> = BTreeMap::new();
    let (mut same, mut by_design) = (0, 0);
    for ((expr, tz_name, from, ours), theirs) in patrol_answers.iter().zip(&answers) {
        let tz: Tz = tz_name.parse().expect("zone");
        let from: DateTime<Utc> = from.parse().expect("from");
        let ours: Vec<DateTime<Utc>> = ours["fires"]
            .as_array()
            .expect("fires")
            .iter()
            .map(|f| f["utc"].as_str().expect("utc").parse().expect("time"))
            .collect();
        assert_eq!(ours.len(), count);
        let aware: Vec<DateTime<Utc>> = theirs["aware"]
            .as_array()
            .expect("aware")
            .iter()
            .map(|t| t.as_str().expect("t").parse().expect("time"))
            .collect();
        let naive: Vec<NaiveDateTime> = theirs["naive"]
            .as_array()
            .expect("naive")
            .iter()
            .map(|t| {
                NaiveDateTime::parse_from_str(t.as_str().expect("t"), "%Y-%m-%dT%H:%M:%S")
                    .expect("naive time")
            })
            .collect();
        let fixed_hours = patrol_answers_fixed(expr);
        let mut here = BTreeMap::new();
        let expected = expected_from_wall_clock(&naive, tz, fixed_hours, from, count, &mut here);
        // Every answer follows croniter's wall-clock matches under the documented rules.
        assert_eq!(ours, expected, "{expr} in {tz_name} after {from}");
        if ours == aware {
            same += 1;
        } else {
            // croniter's own time-zone mode differs only when a DST case was in play.
            assert!(
                !here.is_empty(),
                "{expr} in {tz_name} after {from}: patrol {ours:?} croniter {aware:?}"
            );
            by_design += 1;
        }
        for (k, v) in here {
            *cases.entry(k).or_default() += v;
        }
    }
    // All four named DST cases were exercised.
    assert_eq!(cases.len(), 4, "{cases:?}");
    assert!(same > by_design, "same {same}, by design {by_design}");
    eprintln!("identical to croniter: {same}; differing by design: {by_design}; cases {cases:?}");
}

/// Whether the expression's hour field names hours (README: the wall-clock rule).
fn patrol_answers_fixed(expr: &str) -> bool {
    let fields: Vec<&str> = match expr {
        "@daily" | "@weekly" => return true,
        "@hourly" => return false,
        e => e.split_whitespace().collect(),
    };
    let hour = if fields.len() == 6 {
        fields[2]
    } else {
        fields[1]
    };
    !hour.contains(['*', '/'])
}

#[test]
fn every_schedules_ignore_the_time_zone_and_match_utc_cron() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("none.yaml");
    let from = "2026-03-28T23:55:00Z";
    let mut jobs = Vec::new();
    let mut ours = Vec::new();
    for (every, cron) in [("every 10m", "*/10 * * * *"), ("every 1h", "0 * * * *")] {
        let o = patrol(
            &config,
            &[
                "schedule",
                "next",
                every,
                "--tz",
                "Europe/Berlin",
                "--from",
                from,
                "-n",
                "20",
                "--json",
            ],
        );
        assert!(o.status.success(), "{}", stderr(&o));
        let v = json_of(&o);
        assert_eq!(v["kind"], "every");
        ours.push(
            v["fires"]
                .as_array()
                .expect("fires")
                .iter()
                .map(|f| f["utc"].as_str().expect("utc").to_string())
                .collect::<Vec<_>>(),
        );
        jobs.push(json!({"expr": cron, "tz": "UTC", "from": from, "count": 20, "naive": 1}));
    }
    let theirs = croniter(&jobs);
    for (o, t) in ours.iter().zip(&theirs) {
        let t: Vec<String> = t["aware"]
            .as_array()
            .expect("aware")
            .iter()
            .map(|s| s.as_str().expect("s").to_string())
            .collect();
        assert_eq!(o, &t);
    }
}

#[test]
fn schedule_next_annotates_the_skipped_and_the_repeated_times() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("none.yaml");
    let run = |args: &[&str]| {
        let o = patrol(&config, args);
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let spring = run(&[
        "schedule",
        "next",
        "30 2 * * *",
        "--tz",
        "Europe/Berlin",
        "--from",
        "2026-03-28 12:00",
        "-n",
        "2",
    ]);
    let gap = spring
        .lines()
        .find(|l| l.starts_with("2026-03-29"))
        .expect("29 March line");
    assert!(
        gap.contains("03:00:00 +02:00") && gap.contains("2026-03-29 01:00:00Z"),
        "{spring}"
    );
    assert!(
        gap.contains("02:30 does not exist") && gap.contains("end of the gap"),
        "{gap}"
    );

    let autumn = run(&[
        "schedule",
        "next",
        "0 * * * *",
        "--tz",
        "America/New_York",
        "--from",
        "2026-11-01T04:30:00Z",
        "-n",
        "3",
    ]);
    let lines: Vec<&str> = autumn
        .lines()
        .filter(|l| l.starts_with("2026-11-01"))
        .collect();
    assert!(
        lines[0].contains("01:00:00 -04:00") && lines[0].contains("first pass"),
        "{autumn}"
    );
    assert!(
        lines[1].contains("01:00:00 -05:00") && lines[1].contains("second pass"),
        "{autumn}"
    );
    assert!(!lines[2].contains("DST"), "{autumn}");

    let skipped = run(&[
        "schedule",
        "next",
        "*/30 * * * *",
        "--tz",
        "America/New_York",
        "--from",
        "2026-03-08 01:45",
        "-n",
        "1",
    ]);
    assert!(skipped.contains("skipped 02:00, 02:30"), "{skipped}");

    let o = patrol(&config, &["schedule", "next", "0 61 * * * *"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("invalid cron"), "{}", stderr(&o));
}

#[test]
fn init_hyperbdr_adds_the_library_its_vars_and_private_secret_files() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("patrol");
    let none = dir.path().join("none.yaml");
    let o = patrol(&none, &["init", etc.to_str().expect("utf-8"), "--hyperbdr"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("secrets"), "{}", stdout(&o));
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Every shipped HyperBDR check file and rule, byte for byte.
    let mut shipped_checks = 0;
    for f in std::fs::read_dir(repo.join("checks/hyperbdr")).expect("read_dir") {
        let f = f.expect("entry").path();
        let name = f.file_name().expect("name").to_string_lossy().to_string();
        let text = std::fs::read_to_string(&f).expect("read");
        shipped_checks += text.lines().filter(|l| l.starts_with("id: ")).count();
        assert_eq!(
            std::fs::read_to_string(etc.join("checks.d/hyperbdr").join(&name)).expect(&name),
            text
        );
    }
    assert!(etc.join("rules/hyperbdr-console-services.rhai").is_file());
    for secret in ["secrets/hyperbdr-password", "secrets/s3-secret-key"] {
        let mode = std::fs::metadata(etc.join(secret))
            .expect(secret)
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{secret}");
    }

    let config = etc.join("patrol.yaml");
    let v = patrol(&config, &["validate", "--json"]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let v = json_of(&v);
    // The library runs on its one console, which adds its two derived checks.
    assert_eq!(v["checks"], 6 + shipped_checks + 2, "{v}");
    let t = patrol(&config, &["rule", "test"]);
    assert_eq!(t.status.code(), Some(0), "{}{}", stdout(&t), stderr(&t));
}

#[test]
fn init_writes_a_configuration_that_validates_runs_and_is_not_overwritten() {
    let dir = tempfile::tempdir().expect("tempdir");
    let etc = dir.path().join("etc/patrol");
    let db = dir.path().join("var/lib/patrol/patrol.db");
    let none = dir.path().join("none.yaml");
    let o = patrol(
        &none,
        &[
            "init",
            etc.to_str().expect("utf-8"),
            "--store",
            db.to_str().expect("utf-8"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    let config = etc.join("patrol.yaml");
    for f in [
        "checks.d/host.yaml",
        "checks.d/certs.yaml",
        "rules/disk-usage.rhai",
    ] {
        assert!(etc.join(f).is_file(), "{f} missing");
    }
    // The shipped files, byte for byte.
    assert_eq!(
        std::fs::read_to_string(etc.join("checks.d/host.yaml")).expect("read"),
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/host.yaml"))
            .expect("read")
    );

    let v = patrol(&config, &["validate", "--json"]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let v = json_of(&v);
    assert_eq!(v["ok"], true);
    assert_eq!(v["checks"], 6, "{v}");

    let t = patrol(&config, &["rule", "test"]);
    assert_eq!(t.status.code(), Some(0), "{}{}", stdout(&t), stderr(&t));

    let r = patrol(&config, &["run", "--all", "--json"]);
    // The host decides OK/WARNING/CRITICAL; a configuration problem would be UNKNOWN (3).
    assert!(
        matches!(r.status.code(), Some(0..=2)),
        "{}{}",
        stdout(&r),
        stderr(&r)
    );
    let runs = json_of(&r);
    let runs = runs.as_array().expect("runs");
    assert_eq!(runs.len(), 6, "{runs:?}");
    for run in runs {
        assert_ne!(run["status"], "unknown", "{run}");
    }
    assert!(db.is_file(), "the store is where --store said");

    // A second init refuses to overwrite, and changes nothing.
    std::fs::write(etc.join("checks.d/host.yaml"), "# mine\n").expect("edit");
    let again = patrol(&none, &["init", etc.to_str().expect("utf-8")]);
    assert!(!again.status.success());
    assert!(stderr(&again).contains("--force"), "{}", stderr(&again));
    assert_eq!(
        std::fs::read_to_string(etc.join("checks.d/host.yaml")).expect("read"),
        "# mine\n"
    );
    let forced = patrol(&none, &["init", etc.to_str().expect("utf-8"), "--force"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert!(
        std::fs::read_to_string(etc.join("checks.d/host.yaml"))
            .expect("read")
            .contains("disk-root")
    );
}

fn explain_setup(dir: &Path) -> std::path::PathBuf {
    write_tree(
        dir,
        &[
            (
                "patrol.yaml",
                "timezone: Europe/Berlin\nsecrets:\n  token: { value: s3cr3t-t0ken }\n",
            ),
            (
                "checks/c.yaml",
                "id: echo\nname: Echo\nschedule: \"30 2 * * *\"\nprobe:\n  command:\n    argv: [sh, -c, 'echo \"{\\\"n\\\": 7}\"']\n    env: { TOKEN: \"${secret:token}\" }\nrule: seven\nparams: { key: \"${secret:token}\", limit: 7 }\n",
            ),
            (
                "rules/seven.rhai",
                "if probe.json.n == params.limit { ok(\"seven\") } else { critical(\"not seven\") }\n",
            ),
        ],
    );
    dir.join("patrol.yaml")
}

#[test]
fn explain_shows_the_resolved_check_with_secrets_masked_its_rule_and_last_observation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = explain_setup(dir.path());
    let before = patrol(&config, &["explain", "echo"]);
    assert!(before.status.success(), "{}", stderr(&before));
    assert!(
        stdout(&before).contains("none (the check has not run yet)"),
        "{}",
        stdout(&before)
    );

    let r = patrol(&config, &["run", "echo"]);
    assert_eq!(r.status.code(), Some(0), "{}{}", stdout(&r), stderr(&r));
    let o = patrol(&config, &["explain", "echo", "-n", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(!text.contains("s3cr3t-t0ken"), "secret leaked:\n{text}");
    assert!(text.contains("${secret:token}"), "{text}");
    assert!(
        text.contains(&format!(
            "rule: seven — {}",
            dir.path().join("rules/seven.rhai").display()
        )),
        "{text}"
    );
    assert!(text.contains("\"30 2 * * *\" in Europe/Berlin"), "{text}");
    assert!(
        text.contains("last observation its rule saw: run #"),
        "{text}"
    );
    assert!(text.contains("\"n\": 7"), "{text}");

    let j = patrol(&config, &["explain", "echo", "--json"]);
    let v = json_of(&j);
    assert!(!j.stdout.windows(12).any(|w| w == b"s3cr3t-t0ken"));
    assert_eq!(v["id"], "echo");
    assert_eq!(v["timezone"], "Europe/Berlin");
    assert_eq!(v["rule"]["kind"], "named");
    assert_eq!(v["next_runs"].as_array().expect("next").len(), 5);
    assert_eq!(v["last_run"]["status"], "ok");
    assert_eq!(v["last_run"]["observation"]["json"]["n"], 7);
    assert_eq!(v["params"]["limit"], 7);
    assert_eq!(v["probe"]["command"]["env"]["TOKEN"], "${secret:token}");
    assert!(
        v["probe_resolved"]
            .as_str()
            .expect("text")
            .contains("TOKEN")
    );

    let unknown = patrol(&config, &["explain", "nope"]);
    assert!(!unknown.status.success());
    assert!(
        stderr(&unknown).contains("configured: echo"),
        "{}",
        stderr(&unknown)
    );
}

#[test]
fn every_listing_command_prints_the_documented_json_shape() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = explain_setup(dir.path());
    let r = patrol(&config, &["run", "echo"]);
    assert_eq!(r.status.code(), Some(0), "{}", stderr(&r));
    let s = patrol(
        &config,
        &["silence", "add", "echo", "--for", "1h", "--reason", "test"],
    );
    assert!(s.status.success(), "{}", stderr(&s));

    let keys =
        |v: &Value| -> Vec<String> { v.as_object().expect("object").keys().cloned().collect() };
    let status = json_of(&patrol(&config, &["status", "--json"]));
    assert_eq!(
        keys(&status[0]),
        [
            "check_id",
            "name",
            "status",
            "since",
            "consecutive",
            "last_run",
            "last_duration_ms",
            "next_run",
            "summary",
            "configured",
            "enabled"
        ]
    );
    let history = json_of(&patrol(&config, &["history", "echo", "--json"]));
    for k in [
        "id",
        "check_id",
        "trigger",
        "scheduled_at",
        "started_at",
        "duration_ms",
        "status",
        "summary",
        "metrics",
        "facts",
        "observation",
        "attempts",
    ] {
        assert!(history[0].get(k).is_some(), "history lacks {k}: {history}");
    }
    let alerts = json_of(&patrol(&config, &["alerts", "--json"]));
    assert!(alerts.is_array(), "{alerts}");
    let silences = json_of(&patrol(&config, &["silence", "list", "--json"]));
    for k in [
        "id",
        "check",
        "tag",
        "starts_at",
        "ends_at",
        "reason",
        "created_by",
    ] {
        assert!(
            silences[0].get(k).is_some(),
            "silence lacks {k}: {silences}"
        );
    }
    let validate = json_of(&patrol(&config, &["validate", "--json"]));
    assert_eq!(
        keys(&validate),
        ["ok", "checks", "rules", "problems", "warnings"]
    );
    let next = json_of(&patrol(&config, &["schedule", "next", "@daily", "--json"]));
    assert_eq!(
        keys(&next),
        [
            "expression",
            "kind",
            "fixed_hours",
            "timezone",
            "from",
            "fires"
        ]
    );
    assert_eq!(
        next["timezone"], "Europe/Berlin",
        "the root config's zone by default"
    );
    assert_eq!(
        keys(&next["fires"][0]),
        ["local", "utc", "abbreviation", "dst", "note"]
    );
    let explain = json_of(&patrol(&config, &["explain", "echo", "--json"]));
    assert_eq!(
        keys(&explain),
        [
            "id",
            "name",
            "description",
            "tags",
            "file",
            "line",
            "enabled",
            "schedule",
            "timezone",
            "misfire",
            "timeout",
            "retries",
            "retry_delay",
            "next_runs",
            "rule",
            "params",
            "alerting",
            "depends_on",
            "probe",
            "probe_resolved",
            "last_run"
        ]
    );

    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("rules");
    let fixtures = json_of(&patrol(
        &config,
        &["rule", "test", "--json", rules.to_str().expect("utf8")],
    ));
    assert_eq!(keys(&fixtures), ["passed", "failed", "cases"]);
    assert_eq!(fixtures["failed"], 0, "{fixtures}");
    assert!(fixtures["passed"].as_u64().unwrap_or(0) > 100, "{fixtures}");
    assert_eq!(
        keys(&fixtures["cases"][0]),
        [
            "file", "rule", "case", "passed", "reason", "status", "summary"
        ]
    );

    let logs_config = dir.path().join("logs.yaml");
    std::fs::write(
        &logs_config,
        "logs:\n  sources:\n    console:\n      collect:\n        - local: { paths: ['/var/log/*.log'] }\n",
    )
    .expect("write");
    let sources = json_of(&patrol(&logs_config, &["logs", "sources", "--json"]));
    assert_eq!(
        sources,
        serde_json::json!([{"source": "console", "collector": "local", "what": "/var/log/*.log"}])
    );
}

#[test]
fn completions_and_the_man_page_come_from_the_command_line_definitions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("none.yaml");
    for shell in ["bash", "zsh", "fish"] {
        let o = patrol(&config, &["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let s = stdout(&o);
        for sub in ["daemon", "schedule", "explain", "completions", "init"] {
            assert!(s.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // bash really loads it and registers completion for `patrol`.
    let script = dir.path().join("patrol.bash");
    std::fs::write(&script, patrol(&config, &["completions", "bash"]).stdout).expect("write");
    let b = Command::new("bash")
        .args([
            "-c",
            &format!("source {} && complete -p patrol", script.display()),
        ])
        .output()
        .expect("bash");
    assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
    assert!(String::from_utf8_lossy(&b.stdout).contains("patrol"));

    let m = patrol(&config, &["man"]);
    assert!(m.status.success());
    let page = stdout(&m);
    assert!(page.contains(".TH patrol 1"), "{page}");
    assert!(page.contains("explain"), "{page}");
    let mandir = dir.path().join("man1");
    let m = patrol(&config, &["man", "--dir", mandir.to_str().expect("utf-8")]);
    assert!(m.status.success(), "{}", stderr(&m));
    for page in ["patrol.1", "patrol-daemon.1", "patrol-schedule-next.1"] {
        assert!(
            mandir.join(page).is_file(),
            "{page} missing: {}",
            stdout(&m)
        );
    }
}
