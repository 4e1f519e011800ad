//! `patrol validate` on a corpus of broken check files: every problem is listed, each at
//! file:line:col, and the valid checks are still loaded.

use crate::common;
use common::{patrol, stdout};
use std::path::Path;

#[test]
fn validate_lists_every_problem_with_file_line_and_column() {
    let config = Path::new("tests/fixtures/broken/patrol.yaml");
    let out = patrol(config, &["validate"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "validate must fail:\n{text}");
    let c = "tests/fixtures/broken/checks";
    let expected = [
        format!("{c}/syntax.yaml:5:7: unclosed bracket"),
        format!("{c}/unknown-field.yaml:3:1: unknown field `colour`"),
        format!("{c}/duplicate-key.yaml:5:1: duplicate mapping key: schedule"),
        format!(
            "{c}/duplicate-id.yaml:7:5: duplicate check id `good-one` (first defined at {c}/a-good.yaml:1)"
        ),
        format!("{c}/bad-cron.yaml:2:11: invalid cron \"61 * * * *\""),
        format!("{c}/bad-zone.yaml:3:11: unknown time zone \"Mars/Olympus_Mons\""),
        format!("{c}/missing-rule.yaml:5:7: unknown rule `no-such-rule`"),
        format!("{c}/bad-duration.yaml:3:10: invalid duration \"5 parsecs\""),
        format!(
            "{c}/bad-reference.yaml:6:3: environment variable PATROL_TEST_SURELY_UNSET is not set"
        ),
        format!("{c}/unknown-probe.yaml:4:3: unknown variant `telepathy`"),
        format!("{c}/bad-dependency.yaml:5:24: depends_on names unknown check `ghost`"),
        format!("{c}/bad-command.yaml:3:1: probe: give either `argv` or `shell`, not both"),
    ];
    for e in &expected {
        assert!(
            text.lines().any(|l| l.starts_with(e.as_str())),
            "missing {e:?} in:\n{text}"
        );
    }
    assert!(
        text.contains(&format!(
            "{} problems found; 3 valid checks",
            expected.len()
        )),
        "{text}"
    );
}

#[test]
fn validate_json_is_machine_readable() {
    let config = Path::new("tests/fixtures/broken/patrol.yaml");
    let out = patrol(config, &["validate", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["ok"], false);
    assert_eq!(v["checks"], 3);
    let problems = v["problems"].as_array().expect("problems");
    assert_eq!(problems.len(), 12);
    let zone = problems
        .iter()
        .find(|p| p["file"].as_str().unwrap_or("").ends_with("bad-zone.yaml"))
        .expect("bad-zone problem");
    assert_eq!(
        (zone["line"].as_u64(), zone["column"].as_u64()),
        (Some(3), Some(11))
    );
}

#[test]
fn the_shipped_configuration_validates() {
    let out = patrol(Path::new("patrol.yaml"), &["validate"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        common::stderr(&out)
    );
    assert!(stdout(&out).starts_with("ok: patrol.yaml"));
}

#[test]
fn schema_describes_check_files_with_doc_comments() {
    let out = patrol(Path::new("patrol.yaml"), &["schema"]);
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json schema");
    assert_eq!(v["$schema"], "https://json-schema.org/draft/2020-12/schema");
    let props = &v["properties"];
    for field in [
        "id",
        "name",
        "description",
        "tags",
        "schedule",
        "timezone",
        "misfire",
        "timeout",
        "retries",
        "probe",
        "rule",
        "params",
        "alerting",
        "depends_on",
        "enabled",
    ] {
        assert!(props.get(field).is_some(), "schema lacks {field}");
    }
    assert_eq!(
        v["additionalProperties"], false,
        "unknown fields must be rejected by editors too"
    );
    let desc = props["misfire"]["description"].as_str().unwrap_or_default();
    assert!(
        desc.contains("run_once"),
        "doc comments become descriptions: {desc}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "http", "tcp", "command", "disk", "system", "log", "tls_file",
    ] {
        assert!(
            text.contains(&format!("\"{kind}\"")),
            "probe kind {kind} missing from the schema"
        );
    }
}

#[test]
fn the_full_example_validates_with_its_secrets_set_and_names_them_when_not() {
    let config = Path::new("examples/full/patrol.yaml");
    let run = |with_env: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_patrol"));
        cmd.arg("--config").arg(config).arg("validate");
        if with_env {
            cmd.env("PATROL_SMTP_PASSWORD", "x").env(
                "PATROL_HOOK_SECRET",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            );
        } else {
            cmd.env_remove("PATROL_SMTP_PASSWORD")
                .env_remove("PATROL_HOOK_SECRET");
        }
        cmd.output().expect("validate")
    };
    let ok = run(true);
    assert_eq!(ok.status.code(), Some(0), "{}", stdout(&ok));
    let bad = run(false);
    assert_eq!(bad.status.code(), Some(1));
    let text = stdout(&bad);
    assert!(
        text.contains("examples/full/patrol.yaml:")
            && text.contains("PATROL_SMTP_PASSWORD is not set"),
        "{text}"
    );
}
