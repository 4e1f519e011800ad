//! Real servers for the network probe tests: a test CA and leaf certificates (rcgen), and a
//! small HTTP/1.1 server (hyper) over plain TCP or tokio-rustls, on 127.0.0.1:0.
#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use time::{Duration, OffsetDateTime};
use tokio::net::TcpListener;

pub const CA_NAME: &str = "patrol test CA";
pub const SERVER_NAME: &str = "patrol test server";

/// A test certificate authority.
pub struct Pki {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate with its key.
pub struct Leaf {
    pub cert_pem: String,
    pub cert_der: CertificateDer<'static>,
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

fn days(n: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() + Duration::days(n)
}

impl Pki {
    pub fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, CA_NAME);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = days(-1);
        params.not_after = days(365);
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Pki {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A server certificate for 127.0.0.1 and localhost, valid from `from` to `until` days
    /// from now.
    pub fn leaf(&self, from: i64, until: i64) -> Leaf {
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, SERVER_NAME);
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = days(from);
        params.not_after = days(until);
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            cert_der: cert.der().clone(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }
}

/// A self-signed certificate named `cn`, valid from `from` to `until` days from now.
pub fn self_signed(cn: &str, from: i64, until: i64) -> String {
    let mut params =
        CertificateParams::new(vec![format!("{}.test", cn.replace(' ', "-"))]).unwrap();
    params.distinguished_name.push(DnType::CommonName, cn);
    params.not_before = days(from);
    params.not_after = days(until);
    let key = KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().pem()
}

/// A rustls server configuration presenting `leaf`.
pub fn server_config(leaf: &Leaf) -> Arc<rustls::ServerConfig> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone()));
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.cert_der.clone()], key)
    .unwrap();
    Arc::new(cfg)
}

/// One request as the server received it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path_and_query: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

/// A running test server; it stops with the test's runtime.
pub struct TestServer {
    pub addr: SocketAddr,
    pub requests: Arc<Mutex<Vec<Recorded>>>,
}

impl TestServer {
    pub fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://{}{path}", self.addr)
    }
    pub fn last_request(&self) -> Recorded {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request received")
    }
}

/// Serves the test routes over plain HTTP (`tls: None`) or HTTPS:
/// `/json` (200, a JSON document), `/status/NNN` (that status), `/redirect` (302 to `/json`),
/// `/big` (5000 bytes of text), anything else (200 `hello`). Every request is recorded.
pub async fn serve(tls: Option<Arc<rustls::ServerConfig>>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let requests: Arc<Mutex<Vec<Recorded>>> = Arc::default();
    let recorded = requests.clone();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let recorded = recorded.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let recorded = recorded.clone();
                    async move { Ok::<_, std::convert::Infallible>(route(req, &recorded).await) }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    // A client that rejects our certificate ends the handshake: just drop it.
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            let _ = http.serve_connection(TokioIo::new(tls), service).await;
                        }
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    TestServer { addr, requests }
}

async fn route(req: Request<Incoming>, recorded: &Mutex<Vec<Recorded>>) -> Response<Full<Bytes>> {
    let method = req.method().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.to_string())
        .unwrap_or_default();
    let headers = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let path = req.uri().path().to_string();
    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
    recorded.lock().unwrap().push(Recorded {
        method,
        path_and_query,
        headers,
        body,
    });

    let reply = |status: u16, content_type: &str, body: String| {
        Response::builder()
            .status(StatusCode::from_u16(status).unwrap())
            .header("content-type", content_type)
            .header("x-served-by", "patrol-test")
            .body(Full::new(Bytes::from(body)))
            .unwrap()
    };
    if path == "/json" {
        return reply(
            200,
            "application/json",
            r#"{"status":"healthy","modules":[{"name":"api","up":true}],"count":3}"#.into(),
        );
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let code: u16 = code.parse().unwrap();
        return reply(code, "text/plain", format!("status {code}"));
    }
    if path == "/redirect" {
        return Response::builder()
            .status(302)
            .header("location", "/json")
            .body(Full::new(Bytes::new()))
            .unwrap();
    }
    if path == "/big" {
        return reply(200, "text/plain", "x".repeat(5000));
    }
    reply(200, "text/plain; charset=utf-8", "hello".into())
}

/// A TCP listener that accepts connections and never says anything.
pub async fn silent_server() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    addr
}

/// A local port nobody listens on.
pub async fn closed_port() -> u16 {
    super::closed_port()
}
