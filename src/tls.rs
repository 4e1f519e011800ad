//! TLS for every client patrol makes: the `http`, `tcp`, `s3_credentials` and
//! `sample_restore` probes, the HyperBDR console client (probe and log export), the email and
//! webhook channels and the service heartbeat. They all build their TLS from one
//! [`TlsOptions`], so `ca_file` and certificate checking mean the same thing everywhere.
//!
//! Trust: by default the operating system's CA store (`/etc/ssl/certs`, or `SSL_CERT_FILE` /
//! `SSL_CERT_DIR`), falling back to the Mozilla roots compiled into patrol when the system has
//! none. A `ca_file` replaces those roots entirely: only the CAs in that file are trusted,
//! which pins a private CA (like `curl --cacert`). Turning verification off (`tls_verify:
//! false`, or `insecure: true` for a HyperBDR console) accepts any certificate.
//!
//! Every client config built here remembers the end-entity certificate the server presented,
//! even when verification rejects it, so that a probe can still report its expiry
//! ("certificate expired 3 days ago" is more useful than "handshake failed"). Certificate
//! summaries ([`CertSummary`]) are shared with the `tls_file` probe.

use crate::config::Text;
use chrono::{DateTime, SecondsFormat, Utc};
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Once, OnceLock};

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

/// The system's CA certificates, loaded once per process (empty when it has none).
fn native_certs() -> &'static [CertificateDer<'static>] {
    static CERTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    CERTS.get_or_init(|| {
        let native = rustls_native_certs::load_native_certs();
        for e in &native.errors {
            tracing::debug!("loading system CA certificates: {e}");
        }
        native.certs
    })
}

/// The default trust anchors, built once per process.
fn default_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let (added, _ignored) = roots.add_parsable_certificates(native_certs().iter().cloned());
            if added == 0 {
                // Minimal containers often ship without ca-certificates.
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            }
            Arc::new(roots)
        })
        .clone()
}

/// A TLS setup that cannot work: an unusable `ca_file`, or a verifier rustls refuses.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read ca_file {}: {source}", path.display())]
    CaRead {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but holds no usable certificate; `problem` says why.
    #[error("ca_file {} {problem}", path.display())]
    CaContent { path: PathBuf, problem: String },
    #[error("{0}")]
    Setup(String),
}

/// How a client checks the server it talks to; the same meaning for every client patrol
/// makes (probes, S3, the HyperBDR console, the email and webhook channels).
///
/// - `verify: true` (the default) checks the server's certificate chain and name against the
///   trusted roots; `false` accepts any certificate (handshake signatures are still checked,
///   so the peer holds the key of the certificate it presented). DANGEROUS: the answers may
///   come from anyone on the path.
/// - `ca_file: None` trusts the system's CA store (or the compiled-in Mozilla roots when the
///   system has none). `ca_file: Some(path)` REPLACES those roots: only the CA certificates
///   in that PEM file are trusted, which pins a private CA (like `curl --cacert`). It never
///   adds to the system's roots.
///
/// Configuration files spell these `ca_file` (a [`Text`], relative to the folder of
/// `patrol.yaml`) and `tls_verify` (or `insecure`, its opposite, for a HyperBDR console);
/// [`TlsOptions::from_config`] turns them into this type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOptions {
    /// Check the server's certificate.
    pub verify: bool,
    /// A PEM file of the only CA certificates to trust (already resolved).
    pub ca_file: Option<PathBuf>,
}

impl Default for TlsOptions {
    /// Verify against the system's roots.
    fn default() -> TlsOptions {
        TlsOptions {
            verify: true,
            ca_file: None,
        }
    }
}

impl TlsOptions {
    /// The options a configuration describes: `ca_file` as written there, resolved against
    /// `base_dir` (the folder of `patrol.yaml`) unless it is absolute.
    pub fn from_config(verify: bool, ca_file: Option<&Text>, base_dir: &Path) -> TlsOptions {
        TlsOptions {
            verify,
            // `join` keeps an absolute path as it is.
            ca_file: ca_file.map(|p| base_dir.join(p.value())),
        }
    }

    /// The trust anchors: the `ca_file`'s certificates, or the default roots.
    pub fn roots(&self) -> Result<Arc<RootCertStore>, TlsError> {
        let Some(path) = &self.ca_file else {
            return Ok(default_roots());
        };
        let mut roots = RootCertStore::empty();
        for cert in read_ca_file(path)? {
            roots.add(cert).map_err(|e| TlsError::CaContent {
                path: path.clone(),
                problem: format!("holds an unusable certificate: {e}"),
            })?;
        }
        Ok(Arc::new(roots))
    }

    /// The trusted CA certificates as DER, for a TLS stack that takes its roots as
    /// certificates (the SMTP client): the `ca_file`'s, else the system's. `None` means the
    /// system has none and the compiled-in Mozilla roots are to be used.
    pub fn root_certificates(&self) -> Result<Option<Vec<CertificateDer<'static>>>, TlsError> {
        match &self.ca_file {
            Some(path) => read_ca_file(path).map(Some),
            None if native_certs().is_empty() => Ok(None),
            None => Ok(Some(native_certs().to_vec())),
        }
    }

    /// A rustls client configuration for one client. `alpn` lists the protocols to offer
    /// (empty: none).
    pub fn client_config(&self, alpn: &[&[u8]]) -> Result<ClientTls, TlsError> {
        let provider = provider();
        let inner = if self.verify {
            let verifier =
                WebPkiServerVerifier::builder_with_provider(self.roots()?, provider.clone())
                    .build()
                    .map_err(|e| TlsError::Setup(format!("cannot build the TLS verifier: {e}")))?;
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
            .map_err(|e| TlsError::Setup(format!("TLS protocol versions: {e}")))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(ClientTls { config, peer_cert })
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

/// Reads every certificate of a PEM bundle.
fn read_ca_file(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    // A regular file of a sane size: a FIFO or a device is never waited on or read whole.
    let limit = crate::config::files::MAX_PEM_FILE_BYTES;
    let bytes = crate::config::files::read_bytes(path, limit).map_err(|e| TlsError::CaRead {
        path: path.to_path_buf(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let content = |problem: String| TlsError::CaContent {
        path: path.to_path_buf(),
        problem,
    };
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| content(format!("is not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(content("holds no PEM CERTIFICATE block".into()));
    }
    Ok(certs)
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
        // Three decimals, like every number in an observation.
        ((secs / 86_400.0) * 1000.0).round() / 1000.0
    }

    /// The `tls` object of the `http` probe's observation (also the certificate part of the
    /// `tcp` probe's): `cert_not_after`, `cert_days_left`, `subject`, `issuer`.
    pub fn peer_json(&self, now: DateTime<Utc>) -> serde_json::Map<String, serde_json::Value> {
        let mut m = serde_json::Map::new();
        m.insert(
            "cert_not_after".into(),
            self.not_after
                .to_rfc3339_opts(SecondsFormat::Secs, true)
                .into(),
        );
        m.insert("cert_days_left".into(), self.days_left(now).into());
        m.insert("subject".into(), self.subject.clone().into());
        m.insert("issuer".into(), self.issuer.clone().into());
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relative_ca_file_resolves_against_the_base_dir() {
        let base = Path::new("/etc/patrol");
        let rel = Text::literal("certs/ca.pem");
        let abs = Text::literal("/abs/ca.pem");
        assert_eq!(
            TlsOptions::from_config(true, Some(&rel), base).ca_file,
            Some(PathBuf::from("/etc/patrol/certs/ca.pem"))
        );
        assert_eq!(
            TlsOptions::from_config(false, Some(&abs), base),
            TlsOptions {
                verify: false,
                ca_file: Some(PathBuf::from("/abs/ca.pem"))
            }
        );
        assert_eq!(
            TlsOptions::from_config(true, None, base),
            TlsOptions::default()
        );
    }

    #[test]
    fn a_ca_file_replaces_the_default_roots() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["ca.test".into()]).unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca.cert.pem()).unwrap();
        let opts = TlsOptions {
            verify: true,
            ca_file: Some(path),
        };
        assert_eq!(opts.roots().unwrap().len(), 1);
        assert_eq!(opts.root_certificates().unwrap().map(|c| c.len()), Some(1));
    }

    #[test]
    fn an_unusable_ca_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsOptions {
            verify: true,
            ca_file: Some(dir.path().join("missing.pem")),
        };
        let e = missing.client_config(&[]).err().unwrap().to_string();
        assert!(e.starts_with("cannot read ca_file "), "{e}");
        assert!(e.contains("missing.pem"), "{e}");
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "no certificate here\n").unwrap();
        let e = TlsOptions {
            verify: true,
            ca_file: Some(empty),
        }
        .roots()
        .unwrap_err()
        .to_string();
        assert!(e.ends_with("holds no PEM CERTIFICATE block"), "{e}");
    }
}
