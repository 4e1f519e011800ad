//! Running one probe in-process, as the runner does.
#![allow(dead_code)]

use patrol::probe::{ProbeContext, ProbeError, ProbeOutput, ProbeSpec};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Reads a probe from YAML, as a check file would hold it under `probe:`.
pub fn spec(yaml: &str) -> ProbeSpec {
    serde_saphyr::from_str::<ProbeSpec>(yaml)
        .unwrap_or_else(|e| panic!("probe YAML does not parse: {e}\n{yaml}"))
}

/// Runs the probe in `yaml` for check `check_id`, relative paths against `base_dir`.
pub async fn run_probe(
    check_id: &str,
    yaml: &str,
    base_dir: &Path,
    state: &Value,
    timeout: Duration,
) -> Result<ProbeOutput, ProbeError> {
    let ctx = ProbeContext {
        check_id,
        timeout,
        state,
        base_dir,
        redactor: &patrol::redact::Redactor::default(),
    };
    spec(yaml).as_probe().run(&ctx).await
}
