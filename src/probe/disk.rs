//! `disk` probe (placeholder: being written).

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the `disk` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiskProbe {}

impl Probe for DiskProbe {
    fn kind(&self) -> &'static str {
        "disk"
    }
    fn run<'a>(
        &'a self,
        _ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async {
            Err(ProbeError::Failed(
                "the disk probe is not written yet".into(),
            ))
        })
    }
}
