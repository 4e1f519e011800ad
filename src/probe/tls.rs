//! TLS client configuration shared by the `http` and `tcp` probes, and certificate summaries
//! shared with the `tls_file` probe.
//!
//! Trust: by default the operating system's CA store (`/etc/ssl/certs`, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`), falling back to the Mozilla roots compiled into patrol when the system has
//! none. A probe's `ca_file` replaces those roots entirely: only the CAs in that file are
//! trusted, which is what a private console CA wants. `tls_verify: false` accepts any
//! certificate.
//!
//! Every client config built here remembers the end-entity certificate the server presented,
//! even when verification rejects it, so that a probe can still report its expiry
//! ("certificate expired 3 days ago" is more useful than "handshake failed").

use super::ProbeError;
use chrono::{DateTime, SecondsFormat, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once, OnceLock};
use std::time::Duration;

/// Installs ring as the process-wide rustls crypto provider. reqwest (built with
/// `rustls-no-provider`) and any other rustls user panic without one. Safe to call often.
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means another provider is already installed: that one serves as well.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The default trust anchors, loaded once per process.
fn default_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            for e in &native.errors {
                tracing::debug!("loading system CA certificates: {e}");
            }
            let (added, _ignored) = roots.add_parsable_certificates(native.certs);
            if added == 0 {
                // Minimal containers often ship without ca-certificates.
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(roots)
        })
        .clone()
}

/// `path` as written in a probe's configuration, resolved against the root config's folder.
pub fn resolve_path(base_dir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base_dir.join(p)
    }
}

/// Where the end-entity certificate of the last handshake is kept.
#[derive(Debug, Clone, Default)]
pub struct PeerCertSlot(Arc<Mutex<Option<CertificateDer<'static>>>>);

impl PeerCertSlot {
    fn put(&self, cert: &CertificateDer<'_>) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(cert.clone().into_owned());
        }
    }
    /// The certificate the server presented last, if any handshake got that far.
    pub fn get(&self) -> Option<CertificateDer<'static>> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}

/// A rustls client configuration plus the slot its verifier records the peer certificate in.
pub struct ClientTls {
    pub config: rustls::ClientConfig,
    pub peer_cert: PeerCertSlot,
}

/// Builds the client configuration for one probe run.
///
/// `verify: false` accepts any certificate (handshake signatures are still checked, so the
/// peer holds the key of the certificate it presented). `ca_file` (already resolved) replaces
/// the default roots. `alpn` lists the protocols to offer (empty: none).
pub fn client_config(
    verify: bool,
    ca_file: Option<&Path>,
    alpn: &[&[u8]],
) -> Result<ClientTls, ProbeError> {
    let provider = provider();
    let inner = if verify {
        let roots = match ca_file {
            Some(path) => Arc::new(load_ca_file(path)?),
            None => default_roots(),
        };
        let verifier = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
            .build()
            .map_err(|e| ProbeError::Config(format!("cannot build the TLS verifier: {e}")))?;
        Some(verifier)
    } else {
        None
    };
    let peer_cert = PeerCertSlot::default();
    let verifier = Arc::new(RecordingVerifier {
        inner,
        provider: provider.clone(),
        peer_cert: peer_cert.clone(),
    });
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ProbeError::Config(format!("TLS protocol versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(ClientTls { config, peer_cert })
}

/// Reads every certificate of a PEM bundle into a root store.
fn load_ca_file(path: &Path) -> Result<RootCertStore, ProbeError> {
    let bytes = std::fs::read(path)
        .map_err(|e| ProbeError::Config(format!("cannot read ca_file {}: {e}", path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            ProbeError::Config(format!("ca_file {} is not valid PEM: {e}", path.display()))
        })?;
    if certs.is_empty() {
        return Err(ProbeError::Config(format!(
            "ca_file {} holds no PEM CERTIFICATE block",
            path.display()
        )));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots.add(cert).map_err(|e| {
            ProbeError::Config(format!(
                "ca_file {} holds an unusable certificate: {e}",
                path.display()
            ))
        })?;
    }
    Ok(roots)
}

/// Verifies with webpki (or not at all) and remembers the presented end-entity certificate.
#[derive(Debug)]
struct RecordingVerifier {
    /// `None`: accept any certificate (`tls_verify: false`).
    inner: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
    peer_cert: PeerCertSlot,
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.peer_cert.put(end_entity);
        match &self.inner {
            Some(v) => {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// The facts of one X.509 certificate that checks care about.
#[derive(Debug, Clone, PartialEq)]
pub struct CertSummary {
    pub subject: String,
    pub issuer: String,
    /// Hex bytes separated by colons, as `openssl x509 -serial` shows them (but with colons).
    pub serial: String,
    pub not_before: DateTime<Utc>,
    pub not_after: DateTime<Utc>,
    pub is_ca: bool,
}

impl CertSummary {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<CertSummary, String> {
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let validity = cert.validity();
        let time = |t: &x509_parser::time::ASN1Time| {
            DateTime::<Utc>::from_timestamp(t.timestamp(), 0)
                .ok_or_else(|| format!("certificate time {t} is out of range"))
        };
        Ok(CertSummary {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            serial: cert.raw_serial_as_string(),
            not_before: time(&validity.not_before)?,
            not_after: time(&validity.not_after)?,
            is_ca: cert.is_ca(),
        })
    }

    /// Days from `now` until notAfter (negative once expired), to the minute or so.
    pub fn days_left(&self, now: DateTime<Utc>) -> f64 {
        let secs = (self.not_after - now).num_seconds() as f64;
        round3(secs / 86_400.0)
    }

    /// The `tls` object of the `http` probe's observation (also the certificate part of the
    /// `tcp` probe's): `cert_not_after`, `cert_days_left`, `subject`, `issuer`.
    pub fn peer_json(&self, now: DateTime<Utc>) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert("cert_not_after".into(), rfc3339(self.not_after).into());
        m.insert("cert_days_left".into(), self.days_left(now).into());
        m.insert("subject".into(), self.subject.clone().into());
        m.insert("issuer".into(), self.issuer.clone().into());
        m
    }
}

/// `2026-03-01T12:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Rounds to three decimals: enough for days (≈1.5 min) and milliseconds (1 µs), and keeps
/// observations readable.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Milliseconds of a duration, to the microsecond.
pub fn millis(d: Duration) -> f64 {
    round3(d.as_secs_f64() * 1000.0)
}

/// The I/O deadline of a network probe: its own `timeout` when set, else the check's, and
/// always a little under the check's so that the probe reports "timed out" itself instead of
/// being cut off by the runner (which would give UNKNOWN instead of a result).
pub fn io_deadline(configured: Option<Duration>, check_timeout: Duration) -> Duration {
    let margin = (check_timeout / 10).min(Duration::from_secs(1));
    let cap = check_timeout.saturating_sub(margin);
    configured.unwrap_or(cap).min(cap)
}

/// The innermost source of an error: for library errors that wrap layers of "error sending
/// request", the part that says what actually went wrong.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

/// A human text for an error and all its sources, without repeating a source that its parent
/// already quoted.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_stays_under_the_check_timeout() {
        let s = Duration::from_secs;
        assert_eq!(io_deadline(None, s(30)), s(29));
        assert_eq!(io_deadline(Some(s(5)), s(30)), s(5));
        assert_eq!(io_deadline(Some(s(60)), s(30)), s(29));
        assert_eq!(
            io_deadline(None, Duration::from_millis(500)),
            Duration::from_millis(450)
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_base_dir() {
        assert_eq!(
            resolve_path(Path::new("/etc/patrol"), "certs/ca.pem"),
            PathBuf::from("/etc/patrol/certs/ca.pem")
        );
        assert_eq!(
            resolve_path(Path::new("/etc/patrol"), "/abs/ca.pem"),
            PathBuf::from("/abs/ca.pem")
        );
    }
}
