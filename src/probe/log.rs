//! `log` probe (placeholder: being written).

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the `log` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogProbe {}

impl Probe for LogProbe {
    fn kind(&self) -> &'static str {
        "log"
    }
    fn run<'a>(
        &'a self,
        _ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async {
            Err(ProbeError::Failed(
                "the log probe is not written yet".into(),
            ))
        })
    }
}
