//! `command` probe (placeholder: being written).

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the `command` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CommandProbe {}

impl Probe for CommandProbe {
    fn kind(&self) -> &'static str {
        "command"
    }
    fn run<'a>(
        &'a self,
        _ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async {
            Err(ProbeError::Failed(
                "the command probe is not written yet".into(),
            ))
        })
    }
}
