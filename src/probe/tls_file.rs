//! `tls_file` probe: the expiry of every certificate in a PEM file (a leaf, a chain, a CA
//! bundle). Other PEM blocks in the file (private keys) are skipped.
//!
//! ```yaml
//! probe:
//!   tls_file:
//!     path: /etc/hyperbdr/ssl/server.crt
//! ```
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `path` | string | the file as configured |
//! | `count` | int | number of certificates in the file |
//! | `min_days_left` | float | days until the first certificate expires (negative: expired) |
//! | `certificates` | list | one entry per certificate, in file order |
//! | `certificates[].index` | int | position in the file, from 0 |
//! | `certificates[].subject` | string | subject DN, e.g. `CN=console.example` |
//! | `certificates[].issuer` | string | issuer DN |
//! | `certificates[].serial` | string | serial number, hex bytes separated by `:` |
//! | `certificates[].not_before` | string | RFC 3339 time the certificate becomes valid |
//! | `certificates[].not_after` | string | RFC 3339 time the certificate expires |
//! | `certificates[].days_left` | float | days until `not_after` (negative: expired) |
//! | `certificates[].is_ca` | bool | the certificate may sign others (basic constraints) |
//!
//! Default verdict: CRITICAL when any certificate has expired, WARNING when any expires within
//! `warn_days` (30), else OK; metric `min_days_left`. A missing or unreadable file, or one
//! without a PEM certificate, cannot be judged: UNKNOWN.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput, resolve_path, rfc3339, round3};
use crate::config::Text;
use crate::status::Verdict;
use crate::tls::CertSummary;
use futures::future::BoxFuture;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// Configuration of the `tls_file` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsFileProbe {
    /// The PEM file to read (may hold a chain or a bundle). A relative path resolves against
    /// the folder of `patrol.yaml`.
    pub path: Text,
    /// The default verdict is WARNING when a certificate expires within this many days.
    /// Default: 30; 0 to 3650.
    #[serde(
        default = "default_warn_days",
        deserialize_with = "crate::config::bounds::days"
    )]
    pub warn_days: f64,
}

fn default_warn_days() -> f64 {
    30.0
}

impl Probe for TlsFileProbe {
    fn kind(&self) -> &'static str {
        "tls_file"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            let path = resolve_path(ctx.base_dir, self.path.value());
            let shown = self.path.display();
            // A regular file of a sane size: a FIFO or a device is never waited on.
            let limit = crate::config::files::MAX_PEM_FILE_BYTES;
            let bytes = crate::config::files::read_bytes(&path, limit)
                .map_err(|e| ProbeError::Failed(format!("cannot read {}: {e}", path.display())))?;
            let ders = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| ProbeError::Failed(format!("{} is not valid PEM: {e}", shown)))?;
            if ders.is_empty() {
                return Err(ProbeError::Failed(format!(
                    "{shown} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)"
                )));
            }
            let certs = ders
                .iter()
                .enumerate()
                .map(|(i, der)| {
                    CertSummary::from_der(der).map_err(|e| {
                        ProbeError::Failed(format!("certificate #{i} in {shown}: {e}"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(judge(shown, &certs, self.warn_days, chrono::Utc::now()))
        })
    }
}

fn judge(
    shown: &str,
    certs: &[CertSummary],
    warn_days: f64,
    now: chrono::DateTime<chrono::Utc>,
) -> ProbeOutput {
    let days: Vec<f64> = certs.iter().map(|c| c.days_left(now)).collect();
    let min_days_left = days.iter().copied().fold(f64::INFINITY, f64::min);
    let list: Vec<serde_json::Value> = certs
        .iter()
        .zip(&days)
        .enumerate()
        .map(|(i, (c, d))| {
            json!({
                "index": i,
                "subject": c.subject,
                "issuer": c.issuer,
                "serial": c.serial,
                "not_before": rfc3339(c.not_before),
                "not_after": rfc3339(c.not_after),
                "days_left": d,
                "is_ca": c.is_ca,
            })
        })
        .collect();
    let observation = json!({
        "path": shown,
        "count": certs.len(),
        "min_days_left": min_days_left,
        "certificates": list,
    });

    // The certificate that expires first names the problem.
    let Some((first, &first_days)) = certs.iter().zip(&days).min_by(|a, b| a.1.total_cmp(b.1))
    else {
        // The caller rejects files without certificates; this keeps the function total.
        return ProbeOutput {
            observation,
            verdict: Verdict::unknown(format!("{shown} holds no certificate")),
            state: None,
        };
    };
    let expired = days.iter().filter(|d| **d <= 0.0).count();
    let verdict = if expired > 0 {
        Verdict::critical(format!(
            "{expired} of {} certificate(s) in {shown} expired: {} expired {} ({:.1} days ago)",
            certs.len(),
            first.subject,
            rfc3339(first.not_after),
            -first_days
        ))
    } else if first_days < warn_days {
        Verdict::warning(format!(
            "certificate {} in {shown} expires in {:.1} days ({})",
            first.subject,
            first_days,
            rfc3339(first.not_after)
        ))
    } else {
        Verdict::ok(format!(
            "{} certificate(s) in {shown}; the first expires in {:.0} days ({})",
            certs.len(),
            first_days,
            rfc3339(first.not_after)
        ))
    };
    ProbeOutput {
        observation,
        verdict: verdict.with_metric("min_days_left", round3(min_days_left)),
        state: None,
    }
}
