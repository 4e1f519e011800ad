//! The `http`, `tcp` and `tls_file` probes against real servers and files made by the test:
//! a test CA and leaf certificates (rcgen), an HTTP(S) server (hyper + tokio-rustls) on
//! 127.0.0.1, closed ports and a server that never answers.

use crate::common::net;

use crate::common::probe::{run_probe, spec};
use net::{
    CA_NAME, Pki, SERVER_NAME, closed_port, self_signed, serve, server_config, silent_server,
};
use patrol::probe::{ProbeContext, ProbeError, ProbeOutput, ProbeSpec};
use patrol::status::Status;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};

async fn run_in(dir: &Path, yaml: &str) -> Result<ProbeOutput, ProbeError> {
    let state = serde_json::Value::Null;
    run_probe("net-test", yaml, dir, &state, Duration::from_secs(20)).await
}

async fn run(yaml: &str) -> ProbeOutput {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), yaml).await.unwrap()
}

/// A test CA written to `dir/ca.pem` and an HTTPS server whose certificate expires in 45 days.
async fn https_server(dir: &Path) -> net::TestServer {
    let pki = Pki::new();
    std::fs::write(dir.join("ca.pem"), &pki.ca_pem).unwrap();
    let leaf = pki.leaf(-1, 45);
    serve(Some(server_config(&leaf))).await
}

// ---------------------------------------------------------------- http

#[tokio::test]
async fn http_200_with_a_json_body_is_parsed() {
    let srv = serve(None).await;
    let out = run(&format!("http:\n  url: {}\n", srv.url("http", "/json"))).await;
    let o = &out.observation;
    assert_eq!(o["status"], 200);
    assert_eq!(o["status_ok"], true);
    assert_eq!(o["method"], "GET");
    assert_eq!(o["url"], srv.url("http", "/json"));
    assert_eq!(o["body_is_json"], true);
    assert_eq!(o["body"]["status"], "healthy");
    assert_eq!(o["body"]["modules"][0]["up"], true);
    assert_eq!(o["body"]["count"], 3);
    assert_eq!(o["body_bytes"], 67);
    assert_eq!(o["headers"]["content-type"], "application/json");
    assert_eq!(o["headers"]["x-served-by"], "patrol-test");
    assert!(o["response_time_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(o["tls"], json!(null));
    assert_eq!(o["error"], json!(null));
    assert_eq!(out.verdict.status, Status::Ok, "{}", out.verdict.summary);
    assert!(out.verdict.metrics.contains_key("response_time_ms"));
    assert!(!out.verdict.metrics.contains_key("cert_days_left"));
    assert_eq!(srv.last_request().method, "GET");
}

#[tokio::test]
async fn http_text_body_is_kept_as_text() {
    let srv = serve(None).await;
    let out = run(&format!("http:\n  url: {}\n", srv.url("http", "/hello"))).await;
    assert_eq!(out.observation["body"], "hello");
    assert_eq!(out.observation["body_is_json"], false);
    assert_eq!(out.observation["body_bytes"], 5);
}

#[tokio::test]
async fn http_unexpected_status_is_critical() {
    let srv = serve(None).await;
    let url = srv.url("http", "/status/503");
    let out = run(&format!("http:\n  url: {url}\n")).await;
    assert_eq!(out.observation["status"], 503);
    assert_eq!(out.observation["status_ok"], false);
    assert_eq!(out.observation["error"], json!(null));
    assert_eq!(out.verdict.status, Status::Critical);
    assert_eq!(
        out.verdict.summary,
        format!("HTTP 503 from {url} (expected 200-399)")
    );

    let out = run(&format!(
        "http:\n  url: {}\n  expect_status: [2xx]\n",
        srv.url("http", "/status/302")
    ))
    .await;
    assert_eq!(out.verdict.status, Status::Critical);
    assert!(
        out.verdict.summary.ends_with("(expected 2xx)"),
        "{}",
        out.verdict.summary
    );

    // A status the check expects is OK, even a 5xx.
    let out = run(&format!(
        "http:\n  url: {url}\n  expect_status: [200, \"500-503\"]\n"
    ))
    .await;
    assert_eq!(out.observation["status_ok"], true);
    assert_eq!(out.verdict.status, Status::Ok, "{}", out.verdict.summary);
}

#[tokio::test]
async fn http_connection_refused_is_a_result_not_an_error() {
    let port = closed_port().await;
    let url = format!("http://127.0.0.1:{port}/");
    let out = run(&format!("http:\n  url: {url}\n")).await;
    let o = &out.observation;
    assert_eq!(o["status"], 0);
    assert_eq!(o["status_ok"], false);
    let error = o["error"].as_str().unwrap();
    assert!(error.to_lowercase().contains("refused"), "{error}");
    assert_eq!(out.verdict.status, Status::Critical);
    assert!(
        out.verdict
            .summary
            .starts_with(&format!("GET {url} failed:"))
    );
    assert!(out.verdict.summary.contains(error));
}

#[tokio::test]
async fn http_timeout_on_a_server_that_never_answers() {
    let addr = silent_server().await;
    let started = Instant::now();
    let out = run(&format!("http:\n  url: http://{addr}/\n  timeout: 1s\n")).await;
    let elapsed = started.elapsed();
    assert_eq!(out.observation["status"], 0);
    assert_eq!(out.observation["error"], "timed out after 1s");
    assert_eq!(out.verdict.status, Status::Critical);
    assert!(out.verdict.summary.contains("timed out after 1s"));
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
}

#[tokio::test]
async fn http_sends_method_headers_and_body_as_configured() {
    let srv = serve(None).await;
    let out = run(&format!(
        "http:\n  url: {}\n  method: put\n  headers:\n    X-Token: abc123\n    Content-Type: text/plain\n  body: \"payload line\"\n",
        srv.url("http", "/echo?x=1")
    ))
    .await;
    assert_eq!(out.verdict.status, Status::Ok, "{}", out.verdict.summary);
    assert_eq!(out.observation["method"], "PUT");
    let req = srv.last_request();
    assert_eq!(req.method, "PUT");
    assert_eq!(req.path_and_query, "/echo?x=1");
    assert_eq!(req.headers["x-token"], "abc123");
    assert_eq!(req.headers["content-type"], "text/plain");
    assert!(req.headers["user-agent"].starts_with("patrol/"));
    assert_eq!(req.body, b"payload line");

    // `json:` sends the value as a JSON document.
    let out = run(&format!(
        "http:\n  url: {}\n  method: POST\n  json:\n    host: dr-east-01\n    ids: [1, 2]\n",
        srv.url("http", "/echo")
    ))
    .await;
    assert_eq!(out.verdict.status, Status::Ok);
    let req = srv.last_request();
    assert_eq!(req.method, "POST");
    assert_eq!(req.headers["content-type"], "application/json");
    let sent: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(sent, json!({"host": "dr-east-01", "ids": [1, 2]}));
}

#[tokio::test]
async fn http_secret_in_the_url_reaches_the_server_but_not_the_observation() {
    let srv = serve(None).await;
    let interp = patrol::config::interp::InterpContext {
        secrets: [("tok".to_string(), "s3cr3t-token".to_string())].into(),
        ..Default::default()
    };
    let yaml = format!(
        "http:\n  url: \"{}\"\n",
        srv.url("http", "/echo?token=${secret:tok}")
    );
    let probe = patrol::config::interp::with_context(&interp, || spec(&yaml));
    let state = serde_json::Value::Null;
    let ctx = ProbeContext {
        check_id: "secret",
        timeout: Duration::from_secs(20),
        state: &state,
        base_dir: Path::new("."),
        redactor: &patrol::redact::Redactor::default(),
    };
    let out = probe.as_probe().run(&ctx).await.unwrap();
    assert_eq!(
        srv.last_request().path_and_query,
        "/echo?token=s3cr3t-token"
    );
    let shown = format!("{}{}", out.observation, out.verdict.summary);
    assert!(!shown.contains("s3cr3t-token"), "{shown}");
    assert!(shown.contains("${secret:tok}"));
}

#[tokio::test]
async fn http_redirects_are_followed_unless_disabled() {
    let srv = serve(None).await;
    let url = srv.url("http", "/redirect");
    let out = run(&format!("http:\n  url: {url}\n")).await;
    assert_eq!(out.observation["status"], 200);
    assert_eq!(out.observation["body"]["status"], "healthy");

    let out = run(&format!("http:\n  url: {url}\n  follow_redirects: false\n")).await;
    assert_eq!(out.observation["status"], 302);
    assert_eq!(out.observation["headers"]["location"], "/json");
    // The default expectation 200-399 accepts a redirect.
    assert_eq!(out.verdict.status, Status::Ok);
}

#[tokio::test]
async fn http_body_is_truncated_at_max_body_bytes() {
    let srv = serve(None).await;
    let out = run(&format!(
        "http:\n  url: {}\n  max_body_bytes: 1000\n",
        srv.url("http", "/big")
    ))
    .await;
    assert_eq!(out.observation["status"], 200);
    assert_eq!(out.observation["body_bytes"], 1000);
    assert_eq!(out.observation["body_truncated"], true);
    assert_eq!(out.observation["body"].as_str().unwrap().len(), 1000);

    let out = run(&format!("http:\n  url: {}\n", srv.url("http", "/big"))).await;
    assert_eq!(out.observation["body_bytes"], 5000);
    assert_eq!(out.observation["body_truncated"], false);
}

#[tokio::test]
async fn https_with_the_test_ca_is_ok_and_reports_the_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let srv = https_server(dir.path()).await;
    // A relative ca_file resolves against the base folder.
    let out = run_in(
        dir.path(),
        &format!(
            "http:\n  url: {}\n  ca_file: ca.pem\n",
            srv.url("https", "/json")
        ),
    )
    .await
    .unwrap();
    let o = &out.observation;
    assert_eq!(o["error"], json!(null), "{o}");
    assert_eq!(o["status"], 200);
    assert_eq!(o["body"]["status"], "healthy");
    let days = o["tls"]["cert_days_left"].as_f64().unwrap();
    assert!((44.9..=45.01).contains(&days), "{days}");
    assert!(o["tls"]["subject"].as_str().unwrap().contains(SERVER_NAME));
    assert!(o["tls"]["issuer"].as_str().unwrap().contains(CA_NAME));
    let not_after = o["tls"]["cert_not_after"].as_str().unwrap();
    assert!(
        chrono::DateTime::parse_from_rfc3339(not_after).is_ok(),
        "{not_after}"
    );
    assert_eq!(out.verdict.status, Status::Ok);
    assert_eq!(out.verdict.metrics["cert_days_left"], days);
}

#[tokio::test]
async fn https_without_the_ca_reports_the_verification_failure() {
    let dir = tempfile::tempdir().unwrap();
    let srv = https_server(dir.path()).await;
    let out = run_in(
        dir.path(),
        &format!("http:\n  url: {}\n", srv.url("https", "/json")),
    )
    .await
    .unwrap();
    let o = &out.observation;
    assert_eq!(o["status"], 0);
    let error = o["error"].as_str().unwrap();
    assert!(error.contains("certificate"), "{error}");
    assert!(error.contains("UnknownIssuer"), "{error}");
    assert_eq!(out.verdict.status, Status::Critical);
    assert!(out.verdict.summary.contains("UnknownIssuer"));
    // The certificate the server presented is still described.
    assert!(o["tls"]["subject"].as_str().unwrap().contains(SERVER_NAME));
    assert!(srv.requests.lock().unwrap().is_empty());
}

#[tokio::test]
async fn https_expired_certificate_fails_and_shows_its_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    std::fs::write(dir.path().join("ca.pem"), &pki.ca_pem).unwrap();
    let srv = serve(Some(server_config(&pki.leaf(-30, -3)))).await;
    let out = run_in(
        dir.path(),
        &format!(
            "http:\n  url: {}\n  ca_file: ca.pem\n",
            srv.url("https", "/json")
        ),
    )
    .await
    .unwrap();
    let o = &out.observation;
    assert_eq!(o["status"], 0);
    assert!(o["error"].as_str().unwrap().contains("expired"), "{o}");
    let days = o["tls"]["cert_days_left"].as_f64().unwrap();
    assert!((-3.01..=-2.9).contains(&days), "{days}");
    assert_eq!(out.verdict.status, Status::Critical);
    assert_eq!(out.verdict.metrics["cert_days_left"], days);
}

#[tokio::test]
async fn https_with_tls_verify_false_accepts_an_unknown_ca() {
    let dir = tempfile::tempdir().unwrap();
    let srv = https_server(dir.path()).await;
    let out = run(&format!(
        "http:\n  url: {}\n  tls_verify: false\n",
        srv.url("https", "/json")
    ))
    .await;
    assert_eq!(out.observation["status"], 200, "{}", out.observation);
    assert_eq!(out.verdict.status, Status::Ok);
    assert!(out.observation["tls"]["cert_days_left"].as_f64().unwrap() > 44.0);
}

#[tokio::test]
async fn http_configuration_mistakes() {
    // Caught while the YAML is read, with a message that names the problem.
    for (yaml, needle) in [
        ("http:\n  url: http://x/\n  retries: 3\n", "retries"),
        (
            "http:\n  url: http://x/\n  method: \"GE T\"\n",
            "invalid HTTP method",
        ),
        (
            "http:\n  url: http://x/\n  expect_status: [9xx]\n",
            "invalid status",
        ),
        ("http:\n  method: GET\n", "url"),
    ] {
        let err = serde_saphyr::from_str::<ProbeSpec>(yaml)
            .unwrap_err()
            .to_string();
        assert!(err.contains(needle), "{yaml}: {err}");
    }
    // Caught when the probe runs: UNKNOWN, not a result.
    let dir = tempfile::tempdir().unwrap();
    for (yaml, needle) in [
        (
            "http:\n  url: http://127.0.0.1:9/\n  body: a\n  json: {a: 1}\n",
            "not both",
        ),
        ("http:\n  url: ftp://127.0.0.1/\n", "http:// or https://"),
        (
            "http:\n  url: https://127.0.0.1:9/\n  ca_file: missing.pem\n",
            "cannot read ca_file",
        ),
    ] {
        match run_in(dir.path(), yaml).await {
            Err(ProbeError::Config(msg)) => assert!(msg.contains(needle), "{yaml}: {msg}"),
            other => panic!("{yaml}: expected a configuration error, got {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- tcp

#[tokio::test]
async fn tcp_connects_to_a_listener_and_measures_latency() {
    let srv = serve(None).await;
    let port = srv.addr.port();
    let out = run(&format!("tcp:\n  host: 127.0.0.1\n  port: {port}\n")).await;
    let o = &out.observation;
    assert_eq!(o["connected"], true);
    assert_eq!(o["host"], "127.0.0.1");
    assert_eq!(o["port"], port);
    assert_eq!(o["address"], format!("127.0.0.1:{port}"));
    assert!(o["latency_ms"].as_f64().unwrap() >= 0.0);
    assert_eq!(o["error"], json!(null));
    assert_eq!(o["tls"], json!(null));
    assert_eq!(out.verdict.status, Status::Ok, "{}", out.verdict.summary);
    assert!(out.verdict.metrics.contains_key("latency_ms"));
}

#[tokio::test]
async fn tcp_closed_port_is_critical() {
    let port = closed_port().await;
    let out = run(&format!(
        "tcp:\n  host: 127.0.0.1\n  port: {port}\n  tls: true\n"
    ))
    .await;
    let o = &out.observation;
    assert_eq!(o["connected"], false);
    assert_eq!(o["address"], json!(null));
    assert_eq!(o["latency_ms"], json!(null));
    assert!(
        o["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("refused"),
        "{o}"
    );
    assert_eq!(o["tls"]["handshake"], false);
    assert_eq!(out.verdict.status, Status::Critical);
    assert!(
        out.verdict
            .summary
            .starts_with(&format!("cannot connect to 127.0.0.1:{port}")),
        "{}",
        out.verdict.summary
    );
}

#[tokio::test]
async fn tcp_unknown_host_is_critical() {
    let out = run("tcp:\n  host: no-such-host.invalid\n  port: 80\n  timeout: 3s\n").await;
    assert_eq!(out.observation["connected"], false);
    assert!(out.observation["error"].is_string());
    assert_eq!(out.verdict.status, Status::Critical);
}

#[tokio::test]
async fn tcp_tls_handshake_with_the_test_ca() {
    let dir = tempfile::tempdir().unwrap();
    let srv = https_server(dir.path()).await;
    let port = srv.addr.port();
    let out = run_in(
        dir.path(),
        &format!(
            "tcp:\n  host: 127.0.0.1\n  port: {port}\n  tls: true\n  server_name: localhost\n  ca_file: ca.pem\n"
        ),
    )
    .await
    .unwrap();
    let o = &out.observation;
    assert_eq!(o["connected"], true);
    assert_eq!(o["tls"]["handshake"], true, "{o}");
    assert_eq!(o["tls"]["protocol"], "TLSv1.3");
    assert_eq!(o["tls"]["error"], json!(null));
    let days = o["tls"]["cert_days_left"].as_f64().unwrap();
    assert!((44.9..=45.01).contains(&days), "{days}");
    assert!(o["tls"]["subject"].as_str().unwrap().contains(SERVER_NAME));
    assert!(o["tls"]["issuer"].as_str().unwrap().contains(CA_NAME));
    assert_eq!(out.verdict.status, Status::Ok);
    assert_eq!(out.verdict.metrics["cert_days_left"], days);
}

#[tokio::test]
async fn tcp_tls_handshake_failures_are_critical() {
    let dir = tempfile::tempdir().unwrap();
    let srv = https_server(dir.path()).await;
    let port = srv.addr.port();

    // Unknown CA.
    let out = run(&format!(
        "tcp:\n  host: 127.0.0.1\n  port: {port}\n  tls: true\n"
    ))
    .await;
    let o = &out.observation;
    assert_eq!(o["connected"], true);
    assert_eq!(o["tls"]["handshake"], false);
    assert!(
        o["tls"]["error"]
            .as_str()
            .unwrap()
            .contains("UnknownIssuer"),
        "{o}"
    );
    assert_eq!(o["error"], o["tls"]["error"]);
    // The presented certificate is still described.
    assert!(o["tls"]["cert_days_left"].as_f64().unwrap() > 44.0);
    assert_eq!(out.verdict.status, Status::Critical);

    // Right CA, wrong name.
    let out = run_in(
        dir.path(),
        &format!(
            "tcp:\n  host: 127.0.0.1\n  port: {port}\n  tls: true\n  server_name: console.example\n  ca_file: ca.pem\n"
        ),
    )
    .await
    .unwrap();
    assert_eq!(out.observation["tls"]["handshake"], false);
    assert!(
        out.observation["tls"]["error"]
            .as_str()
            .unwrap()
            .contains("not valid for name \"console.example\""),
        "{}",
        out.observation
    );
    assert_eq!(out.verdict.status, Status::Critical);

    // tls_verify: false completes the handshake anyway.
    let out = run(&format!(
        "tcp:\n  host: 127.0.0.1\n  port: {port}\n  tls: true\n  tls_verify: false\n"
    ))
    .await;
    assert_eq!(out.observation["tls"]["handshake"], true);
    assert_eq!(out.verdict.status, Status::Ok);
}

// ---------------------------------------------------------------- tls_file

async fn tls_file(dir: &Path, name: &str, content: &str) -> Result<ProbeOutput, ProbeError> {
    std::fs::write(dir.join(name), content).unwrap();
    run_in(dir, &format!("tls_file:\n  path: {name}\n")).await
}

#[tokio::test]
async fn tls_file_reports_every_certificate_of_a_chain() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let leaf = pki.leaf(-1, 90);
    // A key in the file is skipped.
    let chain = format!("{}{}{}", leaf.cert_pem, leaf.key_pem, pki.ca_pem);
    let out = tls_file(dir.path(), "chain.pem", &chain).await.unwrap();
    let o = &out.observation;
    assert_eq!(o["path"], "chain.pem");
    assert_eq!(o["count"], 2);
    let certs = o["certificates"].as_array().unwrap();
    assert_eq!(certs[0]["index"], 0);
    assert!(certs[0]["subject"].as_str().unwrap().contains(SERVER_NAME));
    assert!(certs[0]["issuer"].as_str().unwrap().contains(CA_NAME));
    assert_eq!(certs[0]["is_ca"], false);
    assert!(certs[1]["subject"].as_str().unwrap().contains(CA_NAME));
    assert_eq!(certs[1]["is_ca"], true);
    assert!(!certs[0]["serial"].as_str().unwrap().is_empty());
    for c in certs {
        for k in ["not_before", "not_after"] {
            assert!(chrono::DateTime::parse_from_rfc3339(c[k].as_str().unwrap()).is_ok());
        }
    }
    let leaf_days = certs[0]["days_left"].as_f64().unwrap();
    let ca_days = certs[1]["days_left"].as_f64().unwrap();
    assert!((89.9..=90.01).contains(&leaf_days), "{leaf_days}");
    assert!((364.9..=365.01).contains(&ca_days), "{ca_days}");
    assert_eq!(o["min_days_left"], leaf_days);
    assert_eq!(out.verdict.status, Status::Ok, "{}", out.verdict.summary);
    assert_eq!(out.verdict.metrics["min_days_left"], leaf_days);
}

#[tokio::test]
async fn tls_file_expired_is_critical_and_soon_is_warning() {
    let dir = tempfile::tempdir().unwrap();
    let fresh = self_signed("fresh cert", -1, 200);
    let expired = self_signed("old cert", -30, -2);
    let out = tls_file(dir.path(), "expired.pem", &format!("{fresh}{expired}"))
        .await
        .unwrap();
    assert_eq!(
        out.verdict.status,
        Status::Critical,
        "{}",
        out.verdict.summary
    );
    assert!(
        out.verdict.summary.contains("CN=old cert"),
        "{}",
        out.verdict.summary
    );
    assert!(out.verdict.summary.contains("expired"));
    let min = out.observation["min_days_left"].as_f64().unwrap();
    assert!((-2.01..=-1.9).contains(&min), "{min}");

    let soon = self_signed("soon cert", -1, 10);
    let out = tls_file(dir.path(), "soon.pem", &format!("{fresh}{soon}"))
        .await
        .unwrap();
    assert_eq!(
        out.verdict.status,
        Status::Warning,
        "{}",
        out.verdict.summary
    );
    assert!(out.verdict.summary.contains("CN=soon cert"));
    assert!(
        out.verdict.summary.contains("expires in 10.0 days"),
        "{}",
        out.verdict.summary
    );

    // The threshold is configurable.
    let out = run_in(dir.path(), "tls_file:\n  path: soon.pem\n  warn_days: 7\n")
        .await
        .unwrap();
    assert_eq!(out.verdict.status, Status::Ok, "{}", out.verdict.summary);
}

#[tokio::test]
async fn tls_file_that_cannot_be_read_is_a_probe_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new();
    let key_only = pki.leaf(-1, 10).key_pem;
    for (name, content, needle) in [
        (
            "garbage.pem",
            "this is not a certificate\n",
            "no PEM certificate",
        ),
        ("key.pem", key_only.as_str(), "no PEM certificate"),
        (
            "broken.pem",
            "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n",
            "broken.pem",
        ),
    ] {
        match tls_file(dir.path(), name, content).await {
            Err(e) => assert!(e.to_string().contains(needle), "{name}: {e}"),
            Ok(out) => panic!("{name}: expected an error, got {:?}", out.verdict),
        }
    }
    let err = run_in(dir.path(), "tls_file:\n  path: missing.pem\n")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("cannot read"), "{err}");
    assert!(err.to_string().contains("missing.pem"), "{err}");
}
