//! `system` probe (placeholder: being written).

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the `system` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SystemProbe {}

impl Probe for SystemProbe {
    fn kind(&self) -> &'static str {
        "system"
    }
    fn run<'a>(
        &'a self,
        _ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async {
            Err(ProbeError::Failed(
                "the system probe is not written yet".into(),
            ))
        })
    }
}
