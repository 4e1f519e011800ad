//! `tls_file` probe (placeholder: being written).

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use futures::future::BoxFuture;
use schemars::JsonSchema;
use serde::Deserialize;

/// Configuration of the `tls_file` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFileProbe {}

impl Probe for TlsFileProbe {
    fn kind(&self) -> &'static str {
        "tls_file"
    }
    fn run<'a>(
        &'a self,
        _ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async {
            Err(ProbeError::Failed(
                "the tls_file probe is not written yet".into(),
            ))
        })
    }
}
