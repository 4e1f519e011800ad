//! `tcp` probe: connect to a host and port, optionally complete a TLS handshake, and measure
//! the connect latency. A refused connection, a timeout or an unknown host name is an
//! observation (`connected: false`), not a probe failure.
//!
//! ```yaml
//! probe:
//!   tcp:
//!     host: sync-proxy.internal
//!     port: 443
//!     tls: true
//!     ca_file: certs/console-ca.pem
//! ```
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `host` | string | the host as configured |
//! | `port` | int | the port |
//! | `address` | string or null | the `ip:port` connected to (null when no connection) |
//! | `connected` | bool | the TCP connection was established |
//! | `latency_ms` | float or null | time the TCP connect took (DNS excluded) |
//! | `error` | string or null | why the connection (or the TLS handshake) failed |
//! | `tls` | object or null | null unless `tls: true` |
//! | `tls.handshake` | bool | the TLS handshake completed (certificate verified unless `tls_verify: false`) |
//! | `tls.protocol` | string or null | `TLSv1.3` or `TLSv1.2` |
//! | `tls.cert_not_after` | string or null | RFC 3339 expiry of the server's certificate |
//! | `tls.cert_days_left` | float or null | days until that expiry (negative: expired) |
//! | `tls.subject` | string or null | subject DN of the server's certificate |
//! | `tls.issuer` | string or null | issuer DN of the server's certificate |
//! | `tls.error` | string or null | why the handshake failed |
//!
//! The certificate fields are filled whenever the server presented a certificate, even when
//! verification rejected it (an expired certificate still shows its `cert_not_after`).
//!
//! Default verdict: CRITICAL when the connection or the requested handshake failed, else OK;
//! metrics `latency_ms` and, with TLS, `cert_days_left`.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput, io_deadline, millis, rfc3339};
use crate::config::{Dur, Text};
use crate::error_text::error_chain;
use crate::status::Verdict;
use crate::tls::{CertSummary, ClientTls, TlsOptions, ensure_crypto_provider};
use futures::future::BoxFuture;
use rustls::pki_types::ServerName;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpStream;
use tokio::time::timeout_at;

/// Configuration of the `tcp` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TcpProbe {
    /// Host name or IP address to connect to.
    pub host: Text,
    /// TCP port.
    pub port: u16,
    /// Complete a TLS handshake after connecting, and report the server's certificate.
    /// Default: false.
    #[serde(default)]
    pub tls: bool,
    /// The name sent in SNI and checked against the certificate. Default: `host`.
    #[serde(default)]
    pub server_name: Option<Text>,
    /// Verify the server's certificate. Default: true. `false` is DANGEROUS: any
    /// certificate is accepted, so the handshake proves nothing about who answered; use it
    /// only to read the expiry of a certificate you cannot verify.
    #[serde(default = "yes")]
    pub tls_verify: bool,
    /// A PEM file of CA certificates to trust INSTEAD OF the system's CA store (a private
    /// CA). A relative path resolves against the folder of `patrol.yaml`.
    #[serde(default)]
    pub ca_file: Option<Text>,
    /// Give up resolving, connecting and handshaking after this long. Default and maximum:
    /// just under the check's timeout, so that the probe reports the timeout itself. 10ms to
    /// 24h.
    #[serde(default, deserialize_with = "crate::config::bounds::probe_timeout_opt")]
    pub timeout: Option<Dur>,
}

fn yes() -> bool {
    true
}

/// What one connection attempt saw.
struct Seen {
    address: Option<SocketAddr>,
    latency: Option<Duration>,
    error: Option<String>,
    tls: Option<TlsSeen>,
}

#[derive(Default)]
struct TlsSeen {
    handshake: bool,
    protocol: Option<String>,
    cert: Option<CertSummary>,
    error: Option<String>,
}

impl Probe for TcpProbe {
    fn kind(&self) -> &'static str {
        "tcp"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            let limit = io_deadline(self.timeout.map(Dur::as_duration), ctx.timeout);
            // Prepare TLS first: a bad ca_file or server name is a configuration error.
            let tls = if self.tls {
                ensure_crypto_provider();
                let options =
                    TlsOptions::from_config(self.tls_verify, self.ca_file.as_ref(), ctx.base_dir);
                let name = self.server_name.as_ref().unwrap_or(&self.host);
                let server_name = ServerName::try_from(name.value().to_string()).map_err(|e| {
                    ProbeError::Config(format!("invalid TLS server name {:?}: {e}", name.display()))
                })?;
                Some((options.client_config(&[])?, server_name))
            } else {
                None
            };
            let seen = self.observe(limit, tls).await;
            Ok(self.output(seen))
        })
    }
}

impl TcpProbe {
    async fn observe(
        &self,
        limit: Duration,
        tls: Option<(ClientTls, ServerName<'static>)>,
    ) -> Seen {
        let deadline = tokio::time::Instant::now() + limit;
        let timed_out = || format!("timed out after {}", Dur(limit));
        let mut seen = Seen {
            address: None,
            latency: None,
            error: None,
            tls: None,
        };
        let not_connected = |seen: &mut Seen, error: String| {
            seen.error = Some(error);
            if tls.is_some() {
                seen.tls = Some(TlsSeen {
                    error: Some("not connected".into()),
                    ..TlsSeen::default()
                });
            }
        };

        let host = self.host.value();
        // A placeholder from `patrol init` never resolves to the site (an example name may
        // resolve to someone else's): say what to fill in rather than "failed to lookup".
        if let Some(what) = crate::config::placeholder::placeholder_host(host) {
            not_connected(
                &mut seen,
                format!("the host is still {what}: set the real host in patrol.yaml"),
            );
            return seen;
        }
        let addrs: Vec<SocketAddr> =
            match timeout_at(deadline, tokio::net::lookup_host((host, self.port))).await {
                Ok(Ok(addrs)) => addrs.collect(),
                Ok(Err(e)) => {
                    not_connected(
                        &mut seen,
                        format!("cannot resolve {}: {e}", self.host.display()),
                    );
                    return seen;
                }
                Err(_) => {
                    not_connected(&mut seen, timed_out());
                    return seen;
                }
            };
        if addrs.is_empty() {
            not_connected(
                &mut seen,
                format!("{} resolves to no address", self.host.display()),
            );
            return seen;
        }

        // Like a client would: try each address in turn until one answers.
        let mut stream = None;
        let mut last_error = String::new();
        for addr in addrs {
            let started = Instant::now();
            match timeout_at(deadline, TcpStream::connect(addr)).await {
                Ok(Ok(s)) => {
                    seen.latency = Some(started.elapsed());
                    seen.address = Some(addr);
                    stream = Some(s);
                    break;
                }
                Ok(Err(e)) => last_error = format!("connect to {addr}: {e}"),
                Err(_) => {
                    last_error = format!("connect to {addr}: {}", timed_out());
                    break;
                }
            }
        }
        let Some(stream) = stream else {
            not_connected(&mut seen, last_error);
            return seen;
        };

        let Some((client, server_name)) = tls else {
            return seen;
        };
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client.config));
        let mut t = TlsSeen::default();
        match timeout_at(deadline, connector.connect(server_name, stream)).await {
            Ok(Ok(conn)) => {
                let (_, session) = conn.get_ref();
                t.handshake = true;
                t.protocol = session.protocol_version().map(protocol_name);
                let der = session
                    .peer_certificates()
                    .and_then(|c| c.first())
                    .map(|c| c.to_vec());
                t.cert = der.and_then(|d| CertSummary::from_der(&d).ok());
            }
            Ok(Err(e)) => t.error = Some(format!("TLS handshake failed: {}", error_chain(&e))),
            Err(_) => t.error = Some(format!("TLS handshake {}", timed_out())),
        }
        if t.cert.is_none() {
            t.cert = client
                .peer_cert
                .get()
                .and_then(|d| CertSummary::from_der(&d).ok());
        }
        seen.error = t.error.clone();
        seen.tls = Some(t);
        seen
    }

    fn output(&self, seen: Seen) -> ProbeOutput {
        let now = chrono::Utc::now();
        let target = format!("{}:{}", self.host.display(), self.port);
        let latency_ms = seen.latency.map(millis);
        let tls_json = seen.tls.as_ref().map(|t| {
            let mut m = serde_json::Map::new();
            m.insert("handshake".into(), t.handshake.into());
            m.insert("protocol".into(), t.protocol.clone().into());
            match &t.cert {
                Some(c) => m.extend(c.peer_json(now)),
                None => {
                    for k in ["cert_not_after", "cert_days_left", "subject", "issuer"] {
                        m.insert(k.into(), Value::Null);
                    }
                }
            }
            m.insert("error".into(), t.error.clone().into());
            Value::Object(m)
        });
        let observation = json!({
            "host": self.host.display(),
            "port": self.port,
            "address": seen.address.map(|a| a.to_string()),
            "connected": seen.address.is_some(),
            "latency_ms": latency_ms,
            "error": seen.error,
            "tls": tls_json,
        });

        let cert_days = seen
            .tls
            .as_ref()
            .and_then(|t| t.cert.as_ref())
            .map(|c| c.days_left(now));
        let mut verdict = match (&seen.address, &seen.tls) {
            (None, _) => Verdict::critical(format!(
                "cannot connect to {target}: {}",
                seen.error.as_deref().unwrap_or("unknown error")
            )),
            (Some(_), Some(t)) if !t.handshake => Verdict::critical(format!(
                "{target}: {}",
                t.error.as_deref().unwrap_or("TLS handshake failed")
            )),
            (Some(addr), tls) => {
                let mut s = format!(
                    "connected to {target} ({addr}) in {:.1} ms",
                    latency_ms.unwrap_or(0.0)
                );
                if let Some(t) = tls {
                    s.push_str(&format!(
                        ", {}",
                        t.protocol.as_deref().unwrap_or("TLS handshake done")
                    ));
                    if let (Some(c), Some(d)) = (&t.cert, cert_days) {
                        s.push_str(&format!(
                            ", certificate expires in {d:.1} days ({})",
                            rfc3339(c.not_after)
                        ));
                    }
                }
                Verdict::ok(s)
            }
        };
        if let Some(ms) = latency_ms {
            verdict = verdict.with_metric("latency_ms", ms);
        }
        if let Some(d) = cert_days {
            verdict = verdict.with_metric("cert_days_left", d);
        }
        ProbeOutput {
            observation,
            verdict,
            state: None,
        }
    }
}

/// `TLSv1.3`, as openssl and most tools write it.
fn protocol_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}
