//! The `email` channel against a real SMTP server: aiosmtpd (Python) on 127.0.0.1, started by
//! each test with `tests/fixtures/smtp/server.py`, with STARTTLS or implicit TLS under a test
//! CA made here (rcgen) and AUTH PLAIN/LOGIN. The server stores each message's raw bytes; they
//! are parsed as MIME with `mail-parser` and the subject, parts, headers and content asserted.
//!
//! Needs Python 3 with aiosmtpd: `apt-get install python3-aiosmtpd` (or `pip install
//! aiosmtpd`); `PATROL_TEST_PYTHON` names the interpreter when it is not `python3`.

use crate::common::net;
use crate::common::smtp::python_with_aiosmtpd;

use chrono::{DateTime, TimeZone, Utc};
use mail_parser::{MessageParser, MimeHeaders};
use net::{Leaf, Pki, closed_port, silent_server};
use patrol::alert::channel::email::{
    ChannelDefaults, EmailChannel, EmailConfig, EmailConfigError, test_event,
};
use patrol::alert::channel::{Channel, DeliveryError};
use patrol::alert::event::{AlertEvent, CheckInfo, MessageKind, ResultInfo, StateInfo};
use patrol::config::interp::{InterpContext, with_context};
use patrol::status::Status;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tempfile::TempDir;

const USER: &str = "alerts@example.test";
const PASSWORD: &str = "s3cr3t-Hunter2-pw";

// ---------------------------------------------------------------------------------------------
// The test SMTP server

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    None,
    Starttls,
    Implicit,
}

/// A running aiosmtpd; killed when dropped.
struct SmtpServer {
    child: Child,
    _stdin: ChildStdin,
    port: u16,
    dir: TempDir,
    /// PEM of the CA that signed the server's certificate (TLS modes).
    ca_file: Option<PathBuf>,
}

/// One message as the server received it.
struct Received {
    raw: Vec<u8>,
    meta: serde_json::Value,
}

impl SmtpServer {
    fn start(mode: Mode, auth: bool) -> SmtpServer {
        let dir = TempDir::new().unwrap();
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/smtp/server.py");
        let mut cmd = Command::new(python_with_aiosmtpd());
        cmd.arg(&script).arg("--dir").arg(&out);
        let mut ca_file = None;
        if mode != Mode::None {
            let pki = Pki::new();
            let leaf: Leaf = pki.leaf(-1, 30);
            let (cert, key, ca) = (
                dir.path().join("server.pem"),
                dir.path().join("server.key"),
                dir.path().join("ca.pem"),
            );
            std::fs::write(&cert, &leaf.cert_pem).unwrap();
            std::fs::write(&key, &leaf.key_pem).unwrap();
            std::fs::write(&ca, &pki.ca_pem).unwrap();
            let tls = if mode == Mode::Implicit {
                "implicit"
            } else {
                "starttls"
            };
            cmd.args(["--tls", tls])
                .arg("--cert")
                .arg(&cert)
                .arg("--key")
                .arg(&key);
            ca_file = Some(ca);
        }
        if auth {
            cmd.args(["--user", USER, "--password", PASSWORD]);
        }
        let stderr = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("READY ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| {
                let log =
                    std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                panic!("test SMTP server did not start: {line:?}\n{log}")
            });
        SmtpServer {
            child,
            _stdin: stdin,
            port,
            dir,
            ca_file,
        }
    }

    /// Every message received so far, in order.
    fn received(&self) -> Vec<Received> {
        let out = self.dir.path().join("mail");
        let mut names: Vec<PathBuf> = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .into_iter()
            .map(|p| Received {
                raw: std::fs::read(&p).unwrap(),
                meta: serde_json::from_slice(&std::fs::read(p.with_extension("json")).unwrap())
                    .unwrap(),
            })
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration and events

/// Reads an `email:` channel config from YAML the way the root config does, with the password
/// as `${secret:smtp}`.
fn config(yaml: &str, password: &str) -> EmailConfig {
    let mut ctx = InterpContext::default();
    ctx.secrets.insert("smtp".into(), password.into());
    with_context(&ctx, || serde_saphyr::from_str::<EmailConfig>(yaml))
        .unwrap_or_else(|e| panic!("{yaml}\n{e}"))
}

fn yaml_for(server: &SmtpServer, tls: &str, extra: &str) -> String {
    let mut y = format!(
        "host: 127.0.0.1\nport: {}\ntls: {tls}\nfrom: \"patrol <patrol@example.test>\"\n\
         to: [ops@example.test, \"On Call <oncall@example.test>\"]\ncc: [boss@example.test]\n\
         timeout: 20s\n",
        server.port
    );
    if let Some(ca) = &server.ca_file {
        y.push_str(&format!("ca_file: {}\n", ca.display()));
    }
    y.push_str(extra);
    y
}

fn auth_yaml() -> &'static str {
    "username: alerts@example.test\npassword: ${secret:smtp}\n"
}

fn channel(cfg: &EmailConfig) -> EmailChannel {
    EmailChannel::new("ops-mail", cfg, &ChannelDefaults::default()).unwrap()
}

fn t(min: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0)
        .single()
        .unwrap()
        + chrono::Duration::minutes(min)
}

fn event(check: &str, kind: MessageKind, status: Status, incident: &str, at: i64) -> AlertEvent {
    let mut facts = BTreeMap::new();
    facts.insert("mount".to_string(), serde_json::json!("/var"));
    facts.insert("free".to_string(), serde_json::json!("7%"));
    let mut metrics = BTreeMap::new();
    metrics.insert("used_pct".to_string(), 93.0);
    AlertEvent {
        event_id: format!("ev-{check}-{kind:?}-{at}"),
        kind,
        reason: "the check is not OK".into(),
        incident_id: incident.into(),
        fingerprint: check.into(),
        check: CheckInfo {
            id: check.into(),
            name: check.into(),
            description: format!("Runbook for {check}: free space or grow the volume."),
            tags: vec!["disk".into()],
            schedule: "every 5m".into(),
            timezone: "Asia/Shanghai".into(),
            console: None,
        },
        state: StateInfo {
            current: status,
            previous: Some(Status::Ok),
            since: t(0),
            consecutive_failures: 3,
        },
        result: ResultInfo {
            summary: format!("{check} is {}", status.as_str()),
            metrics,
            facts,
            output_tail: Some(format!("{check} output line\n")),
            started_at: t(at),
            duration_ms: 1200,
        },
        suppressed_dependents: vec![],
        url: None,
        created_at: t(at),
    }
}

/// A parsed received message: headers, both bodies and the parts' MIME types.
struct Mail {
    subject: String,
    message_id: String,
    in_reply_to: String,
    references: String,
    headers: BTreeMap<String, String>,
    text: String,
    html: String,
    root_type: String,
    part_types: Vec<String>,
}

fn parse(raw: &[u8]) -> Mail {
    let msg = MessageParser::default().parse(raw).expect("parses as MIME");
    let ctype = |p: &mail_parser::MessagePart<'_>| {
        p.content_type()
            .map(|c| format!("{}/{}", c.ctype(), c.subtype().unwrap_or("")))
            .unwrap_or_default()
    };
    let mut text = String::new();
    let mut html = String::new();
    let mut part_types = Vec::new();
    for p in msg.parts.iter().skip(1) {
        let ty = ctype(p);
        match ty.as_str() {
            "text/plain" => text = p.text_contents().unwrap_or_default().to_string(),
            "text/html" => html = p.text_contents().unwrap_or_default().to_string(),
            _ => {}
        }
        part_types.push(ty);
    }
    let headers = msg
        .headers_raw()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Mail {
        subject: msg.subject().unwrap_or_default().to_string(),
        message_id: msg
            .header_raw("Message-ID")
            .unwrap_or_default()
            .trim()
            .to_string(),
        in_reply_to: msg
            .header_raw("In-Reply-To")
            .unwrap_or_default()
            .trim()
            .to_string(),
        references: msg
            .header_raw("References")
            .unwrap_or_default()
            .trim()
            .to_string(),
        headers,
        text,
        html,
        root_type: ctype(msg.root_part()),
        part_types,
    }
}

/// Captures this thread's log lines (the test runtime is single-threaded).
#[derive(Clone, Default)]
struct LogBuf(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuf {
    type Writer = LogBuf;
    fn make_writer(&'a self) -> LogBuf {
        self.clone()
    }
}

// ---------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn starttls_with_auth_delivers_a_multipart_alert() {
    let server = SmtpServer::start(Mode::Starttls, true);
    let cfg = config(
        &yaml_for(
            &server,
            "starttls",
            &format!(
                "{}timezone: Asia/Shanghai\nstatus_page_url: https://status.example.test/\n",
                auth_yaml()
            ),
        ),
        PASSWORD,
    );
    let ch = channel(&cfg);
    let mut e = event(
        "disk-root",
        MessageKind::Firing,
        Status::Critical,
        "disk-root#1",
        133,
    );
    e.check.name = "Disk <root> & co".into();
    e.result.summary = "/ is 93% full <b>now</b>".into();
    e.result
        .facts
        .insert("<script>".into(), serde_json::json!("x < y & \"z\""));
    e.result.output_tail = Some(format!(
        "{}\nFilesystem  Use%\n/dev/sda1   93% <script>alert(1)</script>\n",
        "x".repeat(12 * 1024)
    ));
    e.state.previous = Some(Status::Warning);
    e.suppressed_dependents = vec!["backup-sync".into(), "restore-test".into()];
    e.reason = "severity rose from WARNING to CRITICAL".into();

    let receipt = ch.send(std::slice::from_ref(&e)).await.unwrap();
    assert_eq!(receipt.response, "250 2.0.0 Ok: queued as PATROLTEST001");

    let got = server.received();
    assert_eq!(got.len(), 1);
    let meta = &got[0].meta;
    assert_eq!(meta["tls"], true, "sent after STARTTLS: {meta}");
    assert_eq!(meta["authenticated"], true);
    assert_eq!(meta["login"], USER);
    assert_eq!(meta["mail_from"], "patrol@example.test");
    assert_eq!(
        meta["rcpt_tos"],
        serde_json::json!([
            "ops@example.test",
            "oncall@example.test",
            "boss@example.test"
        ])
    );
    let raw = String::from_utf8_lossy(&got[0].raw);
    assert!(!raw.contains(PASSWORD));

    let m = parse(&got[0].raw);
    assert_eq!(
        m.subject,
        "[CRITICAL] Disk <root> & co — / is 93% full <b>now</b>"
    );
    assert_eq!(m.root_type, "multipart/alternative");
    assert_eq!(m.part_types, vec!["text/plain", "text/html"]);
    // Headers.
    assert!(m.message_id.starts_with("<alert.") && m.message_id.ends_with("@patrol>"));
    assert_eq!(m.headers["auto-submitted"], "auto-generated");
    assert_eq!(m.headers["x-patrol-check"], "disk-root");
    assert_eq!(m.headers["x-patrol-status"], "critical");
    assert_eq!(m.headers["x-patrol-event"], "firing");
    assert!(m.in_reply_to.starts_with("<incident.") && m.in_reply_to.ends_with("@patrol>"));
    assert_eq!(m.references, m.in_reply_to);
    assert!(m.headers["cc"].contains("boss@example.test"));

    // The plain-text body.
    let text = &m.text;
    for needle in [
        "/ is 93% full <b>now</b>",
        "CRITICAL (was WARNING)",
        "Since:",
        "2026-11-28 16:00 CST (2026-11-28 08:00 UTC) (bad for 2h13m)",
        "3 in a row",
        "every 5m (time zone Asia/Shanghai)",
        "2026-11-28 18:13 CST (2026-11-28 10:13 UTC), took 1.2s",
        "mount",
        "/var",
        "used_pct",
        "93",
        "Runbook for disk-root: free space or grow the volume.",
        "Output (last 10 KB):",
        "/dev/sda1   93% <script>alert(1)</script>",
        "https://status.example.test/checks/disk-root",
        "backup-sync, restore-test",
        "Sent by patrol",
        "because severity rose from WARNING to CRITICAL.",
    ] {
        assert!(text.contains(needle), "text lacks {needle:?}:\n{text}");
    }
    // The output tail is cut to 10 KB.
    assert!(text.len() < 14 * 1024, "text is {} bytes", text.len());

    // The HTML body: everything escaped, facts as a table, the link as an anchor.
    let html = &m.html;
    assert!(!html.contains("<script>"), "unescaped script in HTML");
    assert!(!html.contains("<b>now</b>"));
    assert!(!html.contains("<root>"));
    for needle in [
        "Disk &lt;root&gt; &amp; co",
        "/ is 93% full &lt;b&gt;now&lt;/b&gt;",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "x &lt; y &amp; &quot;z&quot;",
        ">mount</td>",
        ">/var</td>",
        ">used_pct</td>",
        "<pre",
        "Runbook for disk-root: free space or grow the volume.",
        "<a href=\"https://status.example.test/checks/disk-root\">",
        "CST (2026-11-28 08:00 UTC)",
        "backup-sync, restore-test",
        "severity rose from WARNING to CRITICAL",
    ] {
        assert!(html.contains(needle), "HTML lacks {needle:?}:\n{html}");
    }
    assert!(html.contains("<table"), "facts are a table");
}

#[tokio::test]
async fn firing_reminder_and_resolve_form_one_thread() {
    let server = SmtpServer::start(Mode::None, false);
    let cfg = config(&yaml_for(&server, "none", ""), PASSWORD);
    let ch = channel(&cfg);
    let firing = event(
        "memory",
        MessageKind::Firing,
        Status::Critical,
        "memory#7",
        1,
    );
    let reminder = event(
        "memory",
        MessageKind::Reminder,
        Status::Critical,
        "memory#7",
        61,
    );
    let mut resolved = event("memory", MessageKind::Resolved, Status::Ok, "memory#7", 133);
    resolved.state.previous = Some(Status::Critical);
    resolved.reason = "the check recovered (1 OK run in a row)".into();
    let other = event(
        "memory",
        MessageKind::Firing,
        Status::Warning,
        "memory#8",
        200,
    );
    for e in [&firing, &reminder, &resolved, &other] {
        ch.send(std::slice::from_ref(e)).await.unwrap();
    }
    // The delivery worker retries with the same event: same Message-ID.
    ch.send(std::slice::from_ref(&firing)).await.unwrap();

    let mails: Vec<Mail> = server.received().iter().map(|r| parse(&r.raw)).collect();
    assert_eq!(mails.len(), 5);
    let (f, rem, res, oth, retry) = (&mails[0], &mails[1], &mails[2], &mails[3], &mails[4]);
    assert_eq!(f.subject, "[CRITICAL] memory — memory is critical");
    assert_eq!(
        rem.subject,
        "[REMINDER] memory — memory is critical (critical for 1h1m)"
    );
    assert_eq!(
        res.subject,
        "[RESOLVED] memory — memory is ok (bad for 2h13m)"
    );
    assert!(
        res.text.contains("OK, was CRITICAL for 2h13m"),
        "{}",
        res.text
    );
    assert_eq!(res.headers["x-patrol-status"], "ok");
    assert_eq!(res.headers["x-patrol-event"], "resolved");

    let root = &f.references;
    assert!(root.starts_with("<incident.") && root.ends_with("@patrol>"));
    for m in [rem, res] {
        assert_eq!(&m.in_reply_to, root, "{}", m.subject);
        assert_eq!(&m.references, root, "{}", m.subject);
    }
    assert_ne!(&oth.references, root, "another incident is another thread");
    let ids: std::collections::BTreeSet<&str> = [f, rem, res, oth]
        .iter()
        .map(|m| m.message_id.as_str())
        .collect();
    assert_eq!(ids.len(), 4, "Message-IDs are unique");
    assert!(!ids.contains(root.as_str()));
    assert_eq!(retry.message_id, f.message_id);
}

#[tokio::test]
async fn a_group_of_three_is_one_message_listing_all() {
    let server = SmtpServer::start(Mode::None, false);
    let ch = channel(&config(&yaml_for(&server, "none", ""), PASSWORD));
    let mut load = event("load", MessageKind::Firing, Status::Warning, "load#1", 10);
    load.result.summary = "load average 9.5".into();
    let disk = event(
        "disk-root",
        MessageKind::Firing,
        Status::Critical,
        "disk-root#1",
        10,
    );
    let memory = event(
        "memory",
        MessageKind::Firing,
        Status::Unknown,
        "memory#1",
        10,
    );
    let receipt = ch.send(&[load, disk, memory]).await.unwrap();
    assert!(receipt.response.starts_with("250 "), "{}", receipt.response);

    let got = server.received();
    assert_eq!(got.len(), 1, "one message for the group");
    let m = parse(&got[0].raw);
    assert_eq!(m.subject, "[CRITICAL] 3 alerts: disk-root, memory, load");
    assert_eq!(m.headers["x-patrol-check"], "disk-root, memory, load");
    assert_eq!(m.headers["x-patrol-status"], "critical");
    assert_eq!(m.references.split_whitespace().count(), 3);
    for body in [&m.text, &m.html] {
        let d = body.find("disk-root is critical").expect("disk listed");
        let mem = body.find("memory is unknown").expect("memory listed");
        let l = body.find("load average 9.5").expect("load listed");
        assert!(d < mem && mem < l, "worst first");
        assert!(body.contains("Runbook for load"));
        assert!(body.contains("Runbook for memory"));
        assert_eq!(
            body.matches("Why this was sent: the check is not OK")
                .count(),
            3
        );
    }
}

#[tokio::test]
async fn implicit_tls_with_the_test_ca() {
    let server = SmtpServer::start(Mode::Implicit, true);
    let cfg = config(&yaml_for(&server, "implicit", auth_yaml()), PASSWORD);
    let ch = channel(&cfg);
    let e = event(
        "tls-check",
        MessageKind::Firing,
        Status::Warning,
        "tls-check#1",
        5,
    );
    let receipt = ch.send(&[e]).await.unwrap();
    assert_eq!(receipt.response, "250 2.0.0 Ok: queued as PATROLTEST001");
    let got = server.received();
    assert_eq!(got[0].meta["tls"], true);
    assert_eq!(
        parse(&got[0].raw).subject,
        "[WARNING] tls-check — tls-check is warning"
    );
}

#[tokio::test]
async fn without_the_ca_file_the_certificate_is_refused() {
    let server = SmtpServer::start(Mode::Starttls, true);
    let yaml = yaml_for(&server, "starttls", auth_yaml());
    let yaml: String = yaml
        .lines()
        .filter(|l| !l.starts_with("ca_file:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let ch = channel(&config(&yaml, PASSWORD));
    let e = event("disk", MessageKind::Firing, Status::Critical, "disk#1", 5);
    let err = ch.send(&[e]).await.unwrap_err();
    let DeliveryError::Transient { message, .. } = &err else {
        panic!("expected a transient TLS failure, got {err:?}");
    };
    assert!(message.contains("certificate"), "{message}");
    assert!(
        message.contains("ca_file"),
        "the message says what to do: {message}"
    );
    assert!(
        !message.contains("Connection error: Connection error"),
        "{message}"
    );
    assert!(!message.contains(PASSWORD));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn a_wrong_password_is_permanent_and_never_shown() {
    let server = SmtpServer::start(Mode::Starttls, true);
    let wrong = "wrong-Pa55word-xyz";
    let cfg = config(&yaml_for(&server, "starttls", auth_yaml()), wrong);
    let ch = channel(&cfg);
    let logs = LogBuf::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let e = event("disk", MessageKind::Firing, Status::Critical, "disk#1", 5);
    let err = ch.send(&[e]).await.unwrap_err();
    let DeliveryError::Permanent { message } = &err else {
        panic!("expected a permanent failure, got {err:?}");
    };
    assert!(message.contains("535"), "{message}");
    let logged = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logged.contains("email not sent"),
        "the failure is logged: {logged}"
    );
    for shown in [
        message.clone(),
        err.to_string(),
        format!("{err:?}"),
        logged,
        format!("{cfg:?}"),
        format!("{ch:?}"),
    ] {
        assert!(!shown.contains(wrong), "password leaked: {shown}");
    }
    assert!(format!("{cfg:?}").contains("${secret:smtp}"));
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn starttls_is_required_not_opportunistic() {
    // A server that does not offer STARTTLS: patrol must not fall back to plain text.
    let server = SmtpServer::start(Mode::None, false);
    let yaml = yaml_for(&server, "starttls", "");
    let ch = channel(&config(&yaml, PASSWORD));
    let e = event("disk", MessageKind::Firing, Status::Critical, "disk#1", 5);
    let err = ch.send(&[e]).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent { message } if message.contains("STARTTLS")),
        "{err:?}"
    );
    assert!(
        server.received().is_empty(),
        "nothing was sent in clear text"
    );
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    let port = closed_port().await;
    let yaml = format!(
        "host: 127.0.0.1\nport: {port}\ntls: none\nfrom: patrol@example.test\nto: [ops@example.test]\n"
    );
    let ch = channel(&config(&yaml, PASSWORD));
    let e = event("disk", MessageKind::Firing, Status::Critical, "disk#1", 5);
    let err = ch.send(&[e]).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Transient { message, .. } if message.contains(&format!("127.0.0.1:{port}"))),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_times_out_as_transient() {
    let addr = silent_server().await;
    let yaml = format!(
        "host: 127.0.0.1\nport: {}\ntls: starttls\nfrom: patrol@example.test\nto: [ops@example.test]\ntimeout: 1s\n",
        addr.port()
    );
    let ch = channel(&config(&yaml, PASSWORD));
    let e = event("disk", MessageKind::Firing, Status::Critical, "disk#1", 5);
    let started = Instant::now();
    let err = ch.send(&[e]).await.unwrap_err();
    assert!(matches!(err, DeliveryError::Transient { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn smtp_4xx_is_transient_and_5xx_is_permanent() {
    let server = SmtpServer::start(Mode::None, false);
    let base = yaml_for(&server, "none", "");
    let with_to = |to: &str| -> String {
        base.lines()
            .map(|l| {
                if l.starts_with("to:") {
                    format!("to: [{to}]\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    };
    let e = event("disk", MessageKind::Firing, Status::Critical, "disk#1", 5);

    let ch = channel(&config(&with_to("tempfail@example.test"), PASSWORD));
    let err = ch.send(std::slice::from_ref(&e)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Transient { message, .. } if message.contains("451")),
        "{err:?}"
    );

    let ch = channel(&config(&with_to("reject@example.test"), PASSWORD));
    let err = ch.send(std::slice::from_ref(&e)).await.unwrap_err();
    assert!(
        matches!(&err, DeliveryError::Permanent { message } if message.contains("550")),
        "{err:?}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn the_test_message() {
    let server = SmtpServer::start(Mode::Starttls, true);
    let ch = channel(&config(
        &yaml_for(&server, "starttls", auth_yaml()),
        PASSWORD,
    ));
    let e = test_event("ops-mail", Utc::now());
    assert_eq!(e.kind, MessageKind::Test);
    let receipt = ch.send(&[e]).await.unwrap();
    assert_eq!(receipt.response, "250 2.0.0 Ok: queued as PATROLTEST001");
    let m = parse(&server.received()[0].raw);
    assert_eq!(
        m.subject,
        "[TEST] patrol test message — test message for channel ops-mail"
    );
    assert!(
        m.in_reply_to.is_empty() && m.references.is_empty(),
        "tests are not threaded"
    );
    assert_eq!(m.headers["x-patrol-event"], "test");
    assert!(m.text.contains("patrol alert test ops-mail"), "{}", m.text);
}

#[test]
fn bad_configurations_are_refused_before_sending() {
    let defaults = ChannelDefaults::default();
    let build = |yaml: &str| EmailChannel::new("ops-mail", &config(yaml, PASSWORD), &defaults);
    let base = "host: smtp.example.test\nfrom: patrol@example.test\nto: [ops@example.test]\n";

    // A password in clear text to a remote server.
    let err = build(&format!("{base}tls: none\n{}", auth_yaml())).unwrap_err();
    assert!(err.to_string().contains("without TLS"), "{err}");
    assert!(!err.to_string().contains(PASSWORD));
    // ...is fine for a relay on this machine.
    let local = "host: localhost\nfrom: patrol@example.test\nto: [ops@example.test]\ntls: none\n";
    build(&format!("{local}{}", auth_yaml())).unwrap();

    let err =
        build("host: smtp.example.test\nfrom: patrol@example.test\nto: [\"not an address\"]\n")
            .unwrap_err();
    assert!(
        matches!(err, EmailConfigError::Address { field: "to", .. }),
        "{err}"
    );
    let err = build("host: smtp.example.test\nfrom: patrol@example.test\nto: []\n").unwrap_err();
    assert!(err.to_string().contains("at least one"), "{err}");
    let err = build(&format!("{base}username: someone\n")).unwrap_err();
    assert!(err.to_string().contains("go together"), "{err}");
    let err = build(&format!("{base}ca_file: /nonexistent/ca.pem\n")).unwrap_err();
    assert!(matches!(err, EmailConfigError::CaFile { .. }), "{err}");
    let err = build(&format!("{base}status_page_url: ftp://x\n")).unwrap_err();
    assert!(err.to_string().contains("status_page_url"), "{err}");
    let err = serde_saphyr::from_str::<EmailConfig>(&format!("{base}tls: sometimes\n"));
    assert!(err.is_err());
}
