//! The `s3_credentials` and `sample_restore` probes against a real S3-compatible server:
//! s3s-fs (the library behind `cargo install s3s-fs`), served over HTTP by each test on a free
//! loopback port with a temporary folder and a known key. It checks SigV4 signatures, so a
//! wrong secret is really refused.
//! The sample-restore cases also run the shipped check files through the `patrol` binary,
//! with the cursor kept in the SQLite store between runs.

use crate::common;
use crate::common::net;

use crate::common::probe;
use hyper_util::rt::TokioIo;
use patrol::probe::ProbeOutput;
use patrol::status::Status;
use rusty_s3::actions::{CreateBucket, DeleteObject, PutObject};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const ACCESS_KEY: &str = "PATROLTESTKEY0001";
const SECRET_KEY: &str = "patrol-test-secret-Zq83xT";
const BUCKET: &str = "backups";

// ---------------------------------------------------------------- the server

/// A running s3s-fs with one bucket, on a thread with its own runtime (a test may block its
/// own thread running the `patrol` binary while the server answers); stops when dropped.
struct S3Server {
    endpoint: String,
    _stop: tokio::sync::oneshot::Sender<()>,
    _root: tempfile::TempDir,
}

impl S3Server {
    async fn start() -> S3Server {
        let root = tempfile::tempdir().unwrap();
        let fs = s3s_fs::FileSystem::new(root.path()).expect("s3s-fs");
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                loop {
                    let stream = tokio::select! {
                        accepted = listener.accept() => match accepted {
                            Ok((stream, _)) => stream,
                            Err(_) => continue,
                        },
                        _ = &mut stopped => return,
                    };
                    let service = service.clone();
                    tokio::spawn(async move {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        let server = S3Server {
            endpoint,
            _stop: stop,
            _root: root,
        };
        server
            .send(|b, c| CreateBucket::new(b, c).sign(TTL), "PUT", Vec::new())
            .await;
        server
    }

    fn bucket(&self) -> Bucket {
        Bucket::new(
            self.endpoint.parse().unwrap(),
            UrlStyle::Path,
            BUCKET,
            "us-east-1",
        )
        .unwrap()
    }

    async fn send(
        &self,
        sign: impl Fn(&Bucket, &Credentials) -> reqwest::Url,
        method: &str,
        body: Vec<u8>,
    ) {
        patrol::tls::ensure_crypto_provider();
        let url = sign(&self.bucket(), &Credentials::new(ACCESS_KEY, SECRET_KEY));
        let resp = reqwest::Client::new()
            .request(method.parse().unwrap(), url)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(
            status.is_success(),
            "{method}: {status} {}",
            resp.text().await.unwrap()
        );
    }

    async fn put(&self, key: &str, bytes: &[u8]) {
        self.send(
            |b, c| PutObject::new(b, Some(c), key).sign(TTL),
            "PUT",
            bytes.to_vec(),
        )
        .await;
    }

    async fn delete(&self, key: &str) {
        self.send(
            |b, c| DeleteObject::new(b, Some(c), key).sign(TTL),
            "DELETE",
            Vec::new(),
        )
        .await;
    }
}

const TTL: Duration = Duration::from_secs(60);

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Distinct content of backup item `i`.
fn item(i: usize) -> Vec<u8> {
    format!("backup block {i:03} ").repeat(50 + i).into_bytes()
}

// ---------------------------------------------------------------- running the probe in-process

async fn run_probe(yaml: &str, state: &Value) -> ProbeOutput {
    let dir = tempfile::tempdir().unwrap();
    probe::run_probe("s3-test", yaml, dir.path(), state, Duration::from_secs(20))
        .await
        .unwrap()
}

fn credentials_yaml(endpoint: &str, bucket: &str, key: &str, secret: &str) -> String {
    format!(
        "s3_credentials:\n  endpoint: {endpoint}\n  bucket: {bucket}\n  access_key: {key}\n  secret_key: {secret}\n"
    )
}

// ---------------------------------------------------------------- s3_credentials

#[tokio::test]
async fn the_right_key_is_valid() {
    let s3 = S3Server::start().await;
    let out = run_probe(
        &credentials_yaml(&s3.endpoint, BUCKET, ACCESS_KEY, SECRET_KEY),
        &Value::Null,
    )
    .await;
    let o = &out.observation;
    assert_eq!(o["result"], "valid", "{o:#}");
    assert_eq!(o["http_status"], 200);
    assert_eq!(o["code"], Value::Null);
    assert_eq!(o["access_key"], "*************0001");
    assert_eq!(out.verdict.status, Status::Ok, "{}", out.verdict.summary);
    assert!(
        out.verdict
            .summary
            .starts_with("key *************0001 is valid for bucket backups at http://127.0.0.1:"),
        "{}",
        out.verdict.summary
    );
    assert_eq!(out.verdict.metrics["valid"], 1.0);
    assert!(!o.to_string().contains(SECRET_KEY));
}

#[tokio::test]
async fn a_wrong_secret_is_an_invalid_key() {
    let s3 = S3Server::start().await;
    let out = run_probe(
        &credentials_yaml(&s3.endpoint, BUCKET, ACCESS_KEY, "not-the-secret"),
        &Value::Null,
    )
    .await;
    let o = &out.observation;
    assert_eq!(o["result"], "invalid_key", "{o:#}");
    assert_eq!(o["http_status"], 403);
    assert_eq!(o["code"], "SignatureDoesNotMatch");
    assert_eq!(out.verdict.status, Status::Critical);
    assert!(
        out.verdict
            .summary
            .starts_with("invalid_key: bucket backups at http://127.0.0.1:")
    );
    assert!(!o.to_string().contains("not-the-secret"));
}

#[tokio::test]
async fn an_unknown_key_id_is_an_invalid_key() {
    let s3 = S3Server::start().await;
    let out = run_probe(
        &credentials_yaml(&s3.endpoint, BUCKET, "NOSUCHKEY", SECRET_KEY),
        &Value::Null,
    )
    .await;
    assert_eq!(
        out.observation["result"], "invalid_key",
        "{:#}",
        out.observation
    );
    assert_eq!(out.observation["http_status"], 403);
    assert_eq!(out.verdict.status, Status::Critical);
}

#[tokio::test]
async fn a_missing_bucket_is_reported() {
    let s3 = S3Server::start().await;
    let out = run_probe(
        &credentials_yaml(&s3.endpoint, "no-such-bucket", ACCESS_KEY, SECRET_KEY),
        &Value::Null,
    )
    .await;
    assert_eq!(
        out.observation["result"], "no_such_bucket",
        "{:#}",
        out.observation
    );
    assert_eq!(out.observation["http_status"], 404);
    assert_eq!(out.observation["code"], "NoSuchBucket");
    assert_eq!(out.verdict.status, Status::Critical);
}

#[tokio::test]
async fn nothing_listening_is_unreachable() {
    let port = net::closed_port().await;
    let out = run_probe(
        &credentials_yaml(
            &format!("http://127.0.0.1:{port}"),
            BUCKET,
            ACCESS_KEY,
            SECRET_KEY,
        ),
        &Value::Null,
    )
    .await;
    let o = &out.observation;
    assert_eq!(o["result"], "unreachable", "{o:#}");
    assert_eq!(o["http_status"], Value::Null);
    assert!(
        o["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot connect: "),
        "{o:#}"
    );
    assert!(!o["detail"].as_str().unwrap().contains("X-Amz-Signature"));
    assert_eq!(out.verdict.status, Status::Critical);
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let pki = net::Pki::new();
    let srv = net::serve(Some(net::server_config(&pki.leaf(-1, 30)))).await;
    let out = run_probe(
        &credentials_yaml(&srv.url("https", ""), BUCKET, ACCESS_KEY, SECRET_KEY),
        &Value::Null,
    )
    .await;
    let o = &out.observation;
    assert_eq!(o["result"], "tls_error", "{o:#}");
    assert!(
        o["detail"]
            .as_str()
            .unwrap()
            .starts_with("TLS handshake failed"),
        "{o:#}"
    );
    assert_eq!(out.verdict.status, Status::Critical);
}

// ---------------------------------------------------------------- through the patrol binary

/// A patrol folder whose config loads the shipped HyperBDR S3 checks (plus `extra` check
/// files), with the connection in vars and the secret in an environment variable.
fn patrol_dir(endpoint: &str, extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = env!("CARGO_MANIFEST_DIR");
    let mut checks = vec![
        format!("{repo}/checks/hyperbdr/s3-credentials.yaml"),
        format!("{repo}/checks/hyperbdr/sample-restore.yaml"),
    ];
    checks.extend(extra.iter().map(|(name, _)| name.to_string()));
    let config = format!(
        "store: {{ path: patrol.db }}\n\
         checks: [{}]\n\
         rules: [{repo}/rules]\n\
         vars:\n  s3_endpoint: {endpoint}\n  s3_region: us-east-1\n  s3_bucket: {BUCKET}\n  \
         s3_access_key: {ACCESS_KEY}\n  sample_restore_prefix: daily/\n\
         secrets:\n  s3_secret_key: {{ env: PATROL_TEST_S3_SECRET }}\n",
        checks.join(", ")
    );
    common::write_tree(dir.path(), &[("patrol.yaml", &config)]);
    common::write_tree(dir.path(), extra);
    dir
}

/// `patrol run CHECK --json` with the secret in the environment: (exit code, the run, stdout).
fn patrol_run(dir: &Path, check: &str, secret: &str) -> (i32, Value, String) {
    let out = common::patrol_env(
        &dir.join("patrol.yaml"),
        &[("PATROL_TEST_S3_SECRET", secret)],
        &["run", check, "--json"],
    );
    let stdout = common::stdout(&out);
    let runs: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}\nstdout: {stdout}\nstderr: {}", common::stderr(&out)));
    (out.status.code().unwrap(), runs[0].clone(), stdout)
}

/// Every file of the store (the database and its WAL) holds no trace of `secret`.
fn assert_store_clean(dir: &Path, secret: &str) {
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("patrol.db") {
            seen += 1;
            let bytes = std::fs::read(&path).unwrap();
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{name} holds the secret"
            );
        }
    }
    assert!(seen > 0, "no store written");
}

fn item_paths(run: &Value) -> Vec<String> {
    run["observation"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn the_shipped_credential_check_tells_right_from_wrong_secret() {
    let s3 = S3Server::start().await;
    let dir = patrol_dir(&s3.endpoint, &[]);

    let (code, run, stdout) = patrol_run(dir.path(), "hyperbdr-s3-credentials", SECRET_KEY);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(run["status"], "ok");
    assert!(
        run["summary"]
            .as_str()
            .unwrap()
            .starts_with("key *************0001 is valid for bucket backups")
    );
    assert!(!stdout.contains(SECRET_KEY));

    let wrong = "wrong-secret-value-42";
    let (code, run, stdout) = patrol_run(dir.path(), "hyperbdr-s3-credentials", wrong);
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(run["status"], "critical");
    assert!(
        run["summary"]
            .as_str()
            .unwrap()
            .contains("is rejected by bucket backups at http://127.0.0.1:"),
        "{stdout}"
    );
    assert_eq!(run["facts"]["code"], "SignatureDoesNotMatch");
    assert!(!stdout.contains(wrong));
    assert_store_clean(dir.path(), SECRET_KEY);
    assert_store_clean(dir.path(), wrong);
}

#[tokio::test]
async fn sample_restore_from_s3_covers_every_object_and_names_the_bad_ones() {
    let s3 = S3Server::start().await;
    // 12 objects and their sha256sum manifest under daily/; the shipped check restores 5 a run.
    let mut sums = String::new();
    for i in 0..12 {
        let key = format!("vol-1/{i:06}.blk");
        s3.put(&format!("daily/{key}"), &item(i)).await;
        sums.push_str(&format!("{}  {key}\n", sha256_hex(&item(i))));
    }
    s3.put("daily/SHA256SUMS", sums.as_bytes()).await;
    let dir = patrol_dir(&s3.endpoint, &[]);
    let check = "hyperbdr-sample-restore";

    // ceil(12 / 5) = 3 runs cover every object; each run starts where the last one stopped,
    // although every run is a new process: the cursor is in the store.
    let mut covered = BTreeSet::new();
    for (n, start) in [(1, 0), (2, 5), (3, 10)] {
        let (code, run, stdout) = patrol_run(dir.path(), check, SECRET_KEY);
        assert_eq!(code, 0, "run {n}: {stdout}");
        let o = &run["observation"];
        assert_eq!(o["start"], start, "run {n}");
        assert_eq!(o["manifest_status"], "ok");
        assert_eq!(o["total"], 12);
        assert_eq!(o["runs_per_pass"], 3);
        assert_eq!(o["verified"], 5);
        assert!(!stdout.contains(SECRET_KEY));
        covered.extend(item_paths(&run));
        if n < 3 {
            assert_eq!(o["covered"], n * 5);
            assert_eq!(o["pass_complete"], false);
        }
        for i in o["items"].as_array().unwrap() {
            assert_eq!(i["status"], "ok", "{i}");
            assert_eq!(i["actual_sha256"], i["expected_sha256"]);
        }
        if n == 3 {
            assert_eq!(o["covered"], 12);
            assert_eq!(o["pass_complete"], true);
            assert_eq!(
                run["summary"],
                "5/5 items verified (12/12 covered in this pass), full coverage every 3 runs"
            );
        }
    }
    assert_eq!(covered.len(), 12, "{covered:?}");

    // The next run restores 3..=7: corrupt 000004 (same size, other bytes) and delete 000006.
    let mut bad = item(4);
    bad[10] ^= 0x20;
    s3.put("daily/vol-1/000004.blk", &bad).await;
    s3.delete("daily/vol-1/000006.blk").await;
    let (code, run, stdout) = patrol_run(dir.path(), check, SECRET_KEY);
    assert_eq!(code, 2, "{stdout}");
    assert_eq!(run["status"], "critical");
    let summary = run["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(
            "2 of 5 restored items failed verification: vol-1/000004.blk corrupted (sha256 "
        ),
        "{summary}"
    );
    assert!(summary.ends_with("; vol-1/000006.blk missing"), "{summary}");
    let items = run["observation"]["items"].as_array().unwrap();
    let four = items
        .iter()
        .find(|i| i["path"] == "vol-1/000004.blk")
        .unwrap();
    assert_eq!(four["status"], "corrupted");
    assert_eq!(four["actual_sha256"], sha256_hex(&bad));
    let six = items
        .iter()
        .find(|i| i["path"] == "vol-1/000006.blk")
        .unwrap();
    assert_eq!(six["status"], "missing");
    assert!(
        six["error"].as_str().unwrap().contains("NoSuchKey"),
        "{six}"
    );

    // The rotation moves on (8..=11, 0) but the two bad objects are restored again: still bad.
    let (code, run, _) = patrol_run(dir.path(), check, SECRET_KEY);
    assert_eq!(code, 2);
    assert_eq!(run["observation"]["start"], 8);
    let rechecked: Vec<_> = run["observation"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|i| i["rechecked"] == true)
        .map(|i| {
            (
                i["path"].as_str().unwrap().to_string(),
                i["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        rechecked,
        [
            ("vol-1/000004.blk".to_string(), "corrupted".to_string()),
            ("vol-1/000006.blk".to_string(), "missing".to_string())
        ]
    );

    // Repaired: the next run restores 1..=5 and rechecks 000006; all verify, the check recovers.
    s3.put("daily/vol-1/000004.blk", &item(4)).await;
    s3.put("daily/vol-1/000006.blk", &item(6)).await;
    let (code, run, stdout) = patrol_run(dir.path(), check, SECRET_KEY);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(run["observation"]["verified"], 6);
    assert_eq!(item_paths(&run)[0], "vol-1/000006.blk");
    assert_eq!(run["observation"]["items"][0]["rechecked"], true);
    assert_store_clean(dir.path(), SECRET_KEY);
}

#[tokio::test]
async fn sample_restore_without_its_manifest_is_critical() {
    let s3 = S3Server::start().await;
    s3.put("daily/vol-1/000000.blk", &item(0)).await;
    let dir = patrol_dir(&s3.endpoint, &[]);
    let (code, run, _) = patrol_run(dir.path(), "hyperbdr-sample-restore", SECRET_KEY);
    assert_eq!(code, 2);
    assert_eq!(run["observation"]["manifest_status"], "missing");
    assert!(
        run["summary"]
            .as_str()
            .unwrap()
            .starts_with("backup manifest daily/SHA256SUMS is missing: NoSuchKey (HTTP 404)"),
        "{}",
        run["summary"]
    );
}

#[tokio::test]
async fn sample_restore_with_a_wrong_secret_cannot_read_the_manifest() {
    let s3 = S3Server::start().await;
    let dir = patrol_dir(&s3.endpoint, &[]);
    let (code, run, stdout) = patrol_run(dir.path(), "hyperbdr-sample-restore", "bad-secret-x");
    assert_eq!(code, 3, "{stdout}");
    assert_eq!(run["observation"]["manifest_status"], "unreadable");
    assert!(
        run["summary"]
            .as_str()
            .unwrap()
            .contains("SignatureDoesNotMatch"),
        "{stdout}"
    );
    assert!(!stdout.contains("bad-secret-x"));
    assert_store_clean(dir.path(), "bad-secret-x");
}

#[tokio::test]
async fn sample_restore_from_a_folder_with_a_json_manifest() {
    // A local backup folder: five files and a JSON manifest with sizes, restored two a run.
    let dir = patrol_dir(
        "http://127.0.0.1:9",
        &[(
            "dir-restore.yaml",
            "id: dir-restore\nschedule: \"@daily\"\nprobe:\n  sample_restore:\n    dir: backup\n    manifest: manifest.json\n    count: 2\n    scratch_dir: scratch\nrule: hyperbdr-sample-restore\n",
        )],
    );
    let backup = dir.path().join("backup");
    std::fs::create_dir_all(backup.join("db")).unwrap();
    std::fs::create_dir_all(dir.path().join("scratch")).unwrap();
    let names = ["db/a.dump", "db/b.dump", "c.tar", "d.tar", "e.img"];
    let mut manifest = Vec::new();
    for (i, name) in names.iter().enumerate() {
        std::fs::write(backup.join(name), item(i)).unwrap();
        manifest.push(serde_json::json!({"path": name, "sha256": sha256_hex(&item(i)), "size": item(i).len()}));
    }
    std::fs::write(
        backup.join("manifest.json"),
        Value::from(manifest).to_string(),
    )
    .unwrap();

    let mut covered = BTreeSet::new();
    for n in 1..=3 {
        let (code, run, stdout) = patrol_run(dir.path(), "dir-restore", "not-set-9Zq4");
        assert_eq!(code, 0, "run {n}: {stdout}");
        assert_eq!(run["observation"]["manifest_format"], "json");
        covered.extend(item_paths(&run));
    }
    assert_eq!(
        covered.len(),
        5,
        "ceil(5/2) = 3 runs cover all: {covered:?}"
    );
    // The scratch directories are gone.
    assert_eq!(
        std::fs::read_dir(dir.path().join("scratch"))
            .unwrap()
            .count(),
        0
    );

    // Run 4 restores b and c (positions 1 and 2): corrupt b, remove c.
    let mut bad = item(1);
    bad[0] ^= 1;
    std::fs::write(backup.join("db/b.dump"), &bad).unwrap();
    std::fs::remove_file(backup.join("c.tar")).unwrap();
    let (code, run, stdout) = patrol_run(dir.path(), "dir-restore", "not-set-9Zq4");
    assert_eq!(code, 2, "{stdout}");
    let summary = run["summary"].as_str().unwrap();
    assert!(
        summary.starts_with("2 of 2 restored items failed verification: db/b.dump corrupted"),
        "{summary}"
    );
    assert!(summary.ends_with("; c.tar missing"), "{summary}");

    // Run 5 restores d and e, and rechecks b and c: a truncated d is a size mismatch.
    std::fs::write(backup.join("d.tar"), &item(3)[..10]).unwrap();
    let (code, run, _) = patrol_run(dir.path(), "dir-restore", "not-set-9Zq4");
    assert_eq!(code, 2);
    let statuses: Vec<(String, String)> = run["observation"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["path"].as_str().unwrap().into(),
                i["status"].as_str().unwrap().into(),
            )
        })
        .collect();
    let expect = [
        ("db/b.dump", "corrupted"),
        ("c.tar", "missing"),
        ("d.tar", "size_mismatch"),
        ("e.img", "ok"),
    ];
    assert_eq!(
        statuses,
        expect.map(|(p, s)| (p.to_string(), s.to_string())),
        "{:#}",
        run["observation"]
    );
    assert!(
        run["summary"]
            .as_str()
            .unwrap()
            .contains("d.tar has 10 bytes, manifest ")
    );
}

#[tokio::test]
async fn sample_restore_from_an_unreachable_store_is_unknown() {
    let port = net::closed_port().await;
    let yaml = format!(
        "sample_restore:\n  s3:\n    endpoint: http://127.0.0.1:{port}\n    bucket: {BUCKET}\n    prefix: daily\n    access_key: {ACCESS_KEY}\n    secret_key: {SECRET_KEY}\n  count: 3\n"
    );
    let previous = serde_json::json!({"cursor": 4, "covered": 4, "passes": 1, "paths_digest": "x", "failed": []});
    let out = run_probe(&yaml, &previous).await;
    let o = &out.observation;
    assert_eq!(o["manifest_status"], "unreadable", "{o:#}");
    assert_eq!(o["manifest"], "daily/SHA256SUMS");
    assert!(
        o["manifest_error"]
            .as_str()
            .unwrap()
            .starts_with("cannot connect: "),
        "{o:#}"
    );
    assert_eq!(out.verdict.status, Status::Unknown);
    // The cursor is kept for when the store is back.
    assert!(out.state.is_none());
}
