//! Log export as an operator uses it: `patrol logs export` against local files, commands and
//! real OpenSSH servers (Debian's sshd, started here on loopback), the bundle opened with the
//! system `tar` and checked against its manifest, `patrol logs verify` on a good and a
//! tampered bundle.

use crate::common;
use common::daemon::{Daemon, Opts};
use common::receiver::JsonReceiver;
use common::{LONG, free_port, patrol, stdout, wait_until, write_tree};
use sha2::{Digest, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// `patrol logs export ARGS -o BUNDLE`.
fn export(config: &Path, args: &[&str], bundle: &Path) -> std::process::Output {
    let mut all = vec!["logs", "export"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", bundle.to_str().expect("utf8")]);
    patrol(config, &all)
}

/// What a command printed, both streams (for failure messages).
fn printed(out: &std::process::Output) -> String {
    format!("{}\n{}", stdout(out), common::stderr(out))
}

fn ago(secs: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(secs)
}

fn set_mtime(path: &Path, t: SystemTime) {
    std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open")
        .set_modified(t)
        .expect("set mtime");
}

/// A line stamped `secs` ago, as most of the components write them (UTC, no offset).
fn stamped(secs: i64, text: &str) -> String {
    let t = chrono::Utc::now() - chrono::Duration::seconds(secs);
    format!("{} {text}\n", t.format("%Y-%m-%d %H:%M:%S"))
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).expect("gzip");
    e.finish().expect("gzip")
}

/// Extracts a bundle with the system `tar`; returns the bundle's top folder.
fn untar(bundle: &Path, into: &Path) -> PathBuf {
    std::fs::create_dir_all(into).expect("mkdir");
    let st = Command::new("tar")
        .arg("-xzf")
        .arg(bundle)
        .arg("-C")
        .arg(into)
        .status()
        .expect("tar");
    assert!(st.success(), "tar -xzf failed");
    let mut tops: Vec<PathBuf> = std::fs::read_dir(into)
        .expect("read")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(tops.len(), 1, "one top folder: {tops:?}");
    tops.remove(0)
}

fn manifest(top: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(top.join("manifest.json")).expect("manifest"))
        .expect("manifest json")
}

/// Every file listed in the manifest is in the extracted bundle with that size and SHA-256,
/// and nothing else is.
fn assert_matches_manifest(top: &Path, m: &serde_json::Value) {
    let files = m["files"].as_array().expect("files");
    for f in files {
        let path = top.join(f["path"].as_str().expect("path"));
        let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(
            data.len() as u64,
            f["size"].as_u64().expect("size"),
            "{path:?}"
        );
        let sha: String = Sha256::digest(&data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(sha, f["sha256"].as_str().expect("sha"), "{path:?}");
        assert!(f["origin"].as_str().is_some_and(|o| !o.is_empty()));
    }
    let mut on_disk = Vec::new();
    walk(top, &mut on_disk);
    assert_eq!(
        on_disk.len(),
        files.len() + 1,
        "bundle holds the listed files and the manifest"
    );
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn all_text(top: &Path) -> String {
    let mut files = Vec::new();
    walk(top, &mut files);
    files
        .iter()
        .map(|f| String::from_utf8_lossy(&std::fs::read(f).expect("read")).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn paths(m: &serde_json::Value) -> Vec<String> {
    m["files"]
        .as_array()
        .expect("files")
        .iter()
        .map(|f| f["path"].as_str().expect("path").to_string())
        .collect()
}

const PLANTED: &[&str] = &[
    "hunter22-pw",
    "eyJhbGciOiJIUzI1NiJ9.payload.sig",
    "AKIAIOSFODNN7EXAMPLE",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "tok-5f0c1d2e3a",
    "planted-console-secret",
    "cmd-token-777",
];

#[test]
fn local_files_and_commands_are_exported_filtered_redacted_and_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let log = d.join("opt/installer/production/logs");
    std::fs::create_dir_all(&log).expect("mkdir");
    // The live log: one line from two days ago (outside --since 24h), the rest from the last
    // hour, with secrets planted in the shapes real logs have.
    let live = [
        stamped(2 * 86400, "old line that must not be exported"),
        stamped(3600, "login ok user=ops password=hunter22-pw"),
        "  continuation of the login line\n".to_string(),
        stamped(
            3000,
            "GET /api/v2/getHosts Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig",
        ),
        stamped(
            2900,
            "cloud account ak=AKIAIOSFODNN7EXAMPLE sk=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        stamped(
            2800,
            r#"{"X-Auth-Token": "tok-5f0c1d2e3a", "result": "ok"}"#,
        ),
        stamped(2700, "config loaded with planted-console-secret inside"),
        stamped(60, "owl: collection finished"),
    ]
    .concat();
    std::fs::write(log.join("owl.log"), &live).expect("write");
    // Rotated yesterday evening, no timestamps inside: kept whole.
    std::fs::write(log.join("owl.log.1"), "rotated plain line\n").expect("write");
    set_mtime(&log.join("owl.log.1"), ago(5 * 3600));
    // Rotated and compressed, inside the window: unpacked into the bundle.
    std::fs::write(
        log.join("owl.log.2.gz"),
        gzip(&stamped(20 * 3600, "gz line inside the window")),
    )
    .expect("write");
    set_mtime(&log.join("owl.log.2.gz"), ago(19 * 3600));
    // Compressed and older than the window: left out.
    std::fs::write(
        log.join("owl.log.3.gz"),
        gzip(&stamped(4 * 86400, "ancient")),
    )
    .expect("write");
    set_mtime(&log.join("owl.log.3.gz"), ago(4 * 86400));
    std::fs::write(log.join("unrelated.txt"), "not matched by the glob\n").expect("write");

    let root = r#"
secrets:
  console_pw: { value: planted-console-secret }
logs:
  sources:
    console:
      collect:
        - local: { paths: ["opt/installer/production/logs/owl.log*"] }
        - command: { shell: "echo hmctl status; echo token=cmd-token-777", name: hmctl-status.txt }
"#;
    write_tree(d, &[("patrol.yaml", root)]);
    let config = d.join("patrol.yaml");
    let listed = stdout(&patrol(&config, &["logs", "sources"]));
    assert!(
        listed.contains("console  local") && listed.contains("hmctl-status.txt"),
        "{listed}"
    );
    let bundle = d.join("out/console.tar.gz");
    let out = export(&config, &["--since", "24h"], &bundle);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    assert!(
        text.contains("SOURCE") && text.contains("console"),
        "{text}"
    );
    assert!(
        text.contains(&format!("bundle: {}", bundle.display())),
        "{text}"
    );
    // Written atomically: no temporary file is left beside it.
    let left: Vec<_> = std::fs::read_dir(d.join("out")).expect("read").collect();
    assert_eq!(left.len(), 1);

    let top = untar(&bundle, &d.join("x"));
    let m = manifest(&top);
    assert_eq!(m["format"], "patrol-log-bundle");
    assert_eq!(m["version"], 1);
    assert_eq!(m["patrol_version"], env!("CARGO_PKG_VERSION"));
    let from = chrono::DateTime::parse_from_rfc3339(m["window"]["from"].as_str().expect("from"))
        .expect("rfc3339");
    let to = chrono::DateTime::parse_from_rfc3339(m["window"]["to"].as_str().expect("to"))
        .expect("rfc3339");
    assert_eq!((to - from).num_hours(), 24);
    assert_matches_manifest(&top, &m);
    let p = paths(&m);
    let host = m["files"][0]["host"].as_str().expect("host").to_string();
    let base = format!(
        "console/{host}/{}",
        log.to_str().expect("utf8").trim_start_matches('/')
    );
    for want in ["owl.log", "owl.log.1", "owl.log.2"] {
        assert!(p.contains(&format!("{base}/{want}")), "{want} in {p:?}");
    }
    assert!(
        p.contains(&format!("console/{host}/commands/hmctl-status.txt")),
        "{p:?}"
    );
    assert!(
        !p.iter()
            .any(|x| x.contains("owl.log.3") || x.contains("unrelated")),
        "{p:?}"
    );

    let exported = all_text(&top);
    assert!(exported.contains("owl: collection finished"));
    assert!(exported.contains("continuation of the login line"));
    assert!(exported.contains("gz line inside the window"));
    assert!(exported.contains("rotated plain line"));
    assert!(!exported.contains("old line that must not be exported"));
    assert!(!exported.contains("ancient"));
    for secret in PLANTED {
        assert!(
            !exported.contains(secret),
            "{secret} leaked into the bundle"
        );
    }
    assert!(exported.contains("password=***"));
    let counts = &m["redaction"]["counts"];
    for (rule, n) in [
        ("password", 1),
        ("authorization", 1),
        ("access-key", 1),
        ("secret-key", 1),
        ("token", 2),
        ("configured-secret", 1),
    ] {
        assert_eq!(counts[rule], n, "{rule}: {counts}");
    }
    assert_eq!(m["redaction"]["total"], 7);
    assert_eq!(m["failed"].as_array().map(Vec::len), Some(0));

    let v = patrol(&config, &["logs", "verify", bundle.to_str().expect("utf8")]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    assert!(
        stdout(&v).contains(&format!("ok: {} files match", p.len())),
        "{}",
        stdout(&v)
    );

    // Someone edits one file and packs the bundle again with the system tar.
    let edited = top.join(format!("{base}/owl.log"));
    std::fs::write(&edited, "nothing to see here\n").expect("write");
    let tampered = d.join("tampered.tar.gz");
    let st = Command::new("tar")
        .arg("-czf")
        .arg(&tampered)
        .arg("-C")
        .arg(d.join("x"))
        .arg(top.file_name().expect("name"))
        .status()
        .expect("tar");
    assert!(st.success());
    let v = patrol(
        &config,
        &["logs", "verify", tampered.to_str().expect("utf8")],
    );
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
    assert!(
        stdout(&v).contains(&format!("FAILED: {base}/owl.log: changed")),
        "{}",
        stdout(&v)
    );
    // A truncated file is no bundle at all.
    let bytes = std::fs::read(&bundle).expect("read");
    let cut = d.join("cut.tar.gz");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).expect("write");
    let v = patrol(&config, &["logs", "verify", cut.to_str().expect("utf8")]);
    assert_eq!(v.status.code(), Some(1), "{}", stdout(&v));
}

#[test]
fn from_to_window_applies_to_modification_times_and_lines_and_caps_keep_the_newest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let at = |s: &str| -> SystemTime {
        let t = chrono::DateTime::parse_from_rfc3339(s).expect("time");
        SystemTime::UNIX_EPOCH + Duration::from_secs(t.timestamp() as u64)
    };
    write_tree(
        d,
        &[
            (
                "var/log/sgateway/s3block_20250610.log",
                "2025-06-09 23:59:59 before\n2025-06-10 00:00:00 first inside\n2025-06-10 11:59:59 last inside\n    trace of last inside\n2025-06-10 12:00:01 after\n",
            ),
            (
                "var/log/sgateway/s3block_20250601.log",
                "2025-06-01 10:00:00 long before\n",
            ),
            ("var/log/big/new.log", &format!("{}\n", "n".repeat(79))),
            (
                "var/log/big/old.log",
                "old-1 ....................\nold-2 ....................\n",
            ),
        ],
    );
    set_mtime(
        &d.join("var/log/sgateway/s3block_20250610.log"),
        at("2025-06-10T13:00:00Z"),
    );
    set_mtime(
        &d.join("var/log/sgateway/s3block_20250601.log"),
        at("2025-06-01T10:00:00Z"),
    );
    set_mtime(&d.join("var/log/big/new.log"), at("2025-06-10T10:00:00Z"));
    set_mtime(&d.join("var/log/big/old.log"), at("2025-06-10T09:00:00Z"));
    let root = r#"
logs:
  sources:
    cloud-sync-gateway:
      collect:
        - local: { paths: ["var/log/sgateway/*.log"] }
    capped:
      max_bytes: 120
      collect:
        - local: { paths: ["var/log/big/*.log"] }
"#;
    write_tree(d, &[("patrol.yaml", root)]);
    let config = d.join("patrol.yaml");
    let bundle = d.join("w.tar.gz");
    let out = export(
        &config,
        &[
            "--from",
            "2025-06-10 00:00:00",
            "--to",
            "2025-06-10T12:00:00Z",
        ],
        &bundle,
    );
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let top = untar(&bundle, &d.join("x"));
    let m = manifest(&top);
    assert_matches_manifest(&top, &m);
    assert_eq!(m["window"]["from"], "2025-06-10T00:00:00Z");
    assert_eq!(m["window"]["to"], "2025-06-10T12:00:00Z");
    let files = m["files"].as_array().expect("files");
    let gw: Vec<&serde_json::Value> = files
        .iter()
        .filter(|f| f["source"] == "cloud-sync-gateway")
        .collect();
    assert_eq!(
        gw.len(),
        1,
        "the file last written before the window is left out: {gw:?}"
    );
    let text =
        std::fs::read_to_string(top.join(gw[0]["path"].as_str().expect("path"))).expect("read");
    assert_eq!(
        text,
        "2025-06-10 00:00:00 first inside\n2025-06-10 11:59:59 last inside\n    trace of last inside\n"
    );
    assert_eq!(gw[0]["lines_dropped"], 2);

    // The 120-byte cap of `capped`: the newest file (80 bytes) whole, the older one's tail.
    let capped: Vec<&serde_json::Value> =
        files.iter().filter(|f| f["source"] == "capped").collect();
    let total: u64 = capped
        .iter()
        .map(|f| f["size"].as_u64().expect("size"))
        .sum();
    assert!(total <= 120, "{capped:?}");
    let newest = capped
        .iter()
        .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with("new.log")))
        .expect("new.log");
    assert_eq!(newest["size"], 80);
    assert_eq!(newest["truncated"], false);
    let older = capped
        .iter()
        .find(|f| f["path"].as_str().is_some_and(|p| p.ends_with("old.log")))
        .expect("old.log");
    assert_eq!(older["truncated"], true);
    let tail =
        std::fs::read_to_string(top.join(older["path"].as_str().expect("path"))).expect("read");
    assert!(tail.starts_with("old-2"), "{tail:?}");
}

// ---------------------------------------------------------------------------------------
// Real OpenSSH servers on loopback.

/// A `sshd` child process with its own host key; killed when dropped.
struct Sshd {
    child: Child,
    port: u16,
    host_pub: String,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let st = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "patrol-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(st.success());
}

/// Starts Debian's sshd on a free loopback port. `extra` overrides its config.
fn sshd(dir: &Path, name: &str, authorized: &Path, extra: &str) -> Sshd {
    std::fs::create_dir_all("/run/sshd").expect("privilege separation dir");
    let host_key = dir.join(format!("{name}_host_key"));
    keygen(&host_key);
    let port = free_port();
    let cfg = dir.join(format!("{name}_sshd_config"));
    std::fs::write(
        &cfg,
        format!(
            // sshd takes the first value of a keyword: `extra` goes first to override.
            "{extra}\nPort {port}\nListenAddress 127.0.0.1\nHostKey {}\nPidFile {}/{name}.pid\n\
             AuthorizedKeysFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             Subsystem sftp internal-sftp\nLogLevel ERROR\n",
            host_key.display(),
            dir.display(),
            authorized.display()
        ),
    )
    .expect("sshd_config");
    let child = Command::new("/usr/sbin/sshd")
        .args(["-D", "-e", "-f"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join(format!("{name}_sshd.log"))).expect("log"))
        .spawn()
        .expect("start /usr/sbin/sshd (apt-get install openssh-server)");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "sshd did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
    let host_pub = std::fs::read_to_string(host_key.with_extension("pub"))
        .or_else(|_| std::fs::read_to_string(format!("{}.pub", host_key.display())))
        .expect("host pub");
    Sshd {
        child,
        port,
        host_pub,
    }
}

/// `[127.0.0.1]:PORT ssh-ed25519 AAAA...`
fn known_line(host: &str, port: u16, public: &str) -> String {
    let mut parts = public.split_whitespace();
    let (alg, key) = (parts.next().expect("alg"), parts.next().expect("key"));
    format!("[{host}]:{port} {alg} {key}\n")
}

/// A port that accepts connections and never says a word.
fn silent_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    port
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().expect("id");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn ssh_hosts_linux_and_windows_paths_bad_keys_and_silent_hosts() {
    let dir = tempfile::Builder::new()
        .prefix("ssh-logs")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    let d = dir.path();
    let user_key = d.join("user_key");
    keygen(&user_key);
    let authorized = d.join("authorized_keys");
    std::fs::copy(d.join("user_key.pub"), &authorized).expect("authorized_keys");

    // A Linux agent host: its logs at their real paths below `linux/`.
    let linux_root = d.join("linux");
    let agent = linux_root.join("var/log/egisplus-agent");
    std::fs::create_dir_all(&agent).expect("mkdir");
    std::fs::write(
        agent.join("agent-syncer.log"),
        [
            stamped(7200, "sync started"),
            stamped(7100, "s3 upload secret_key=LinuxSecretKey123 ok"),
            stamped(90000, "yesterday's news"),
        ]
        .concat(),
    )
    .expect("write");
    std::fs::write(
        agent.join("linux_agent.log.1.gz"),
        gzip(&stamped(10000, "rotated agent line")),
    )
    .expect("write");
    let linux = sshd(d, "linux", &authorized, "");

    // A Windows host as OpenSSH for Windows shows it over SFTP: `/C:/Program Files (x86)/...`.
    // Here a real sshd chrooted into `win/` serves exactly those paths.
    // sshd refuses a chroot below a folder others may write to (such as /tmp, where a
    // checkout may live): the chroot gets a folder of its own under root-owned /run.
    let win_dir = tempfile::Builder::new()
        .prefix("patrol-test-win")
        .tempdir_in("/run")
        .expect("tempdir in /run (the SSH tests run as root)");
    let win_root = win_dir.path().join("win");
    let win_log = win_root.join("C:/Program Files (x86)/DiskSync-Agent/log");
    std::fs::create_dir_all(&win_log).expect("mkdir");
    std::fs::write(
        win_log.join("DiskSync.log"),
        stamped(600, "[INFO] heartbeat sent password=WinPassw0rd!"),
    )
    .expect("write");
    std::fs::write(win_log.join("notes.txt"), "not a .log\n").expect("write");
    let windows = sshd(
        d,
        "windows",
        &authorized,
        &format!(
            "ChrootDirectory {}\nForceCommand internal-sftp",
            win_root.display()
        ),
    );

    // known_hosts: the right keys for 127.0.0.1, a wrong one for `localhost`.
    let other = d.join("other_host_key");
    keygen(&other);
    let other_pub = std::fs::read_to_string(d.join("other_host_key.pub")).expect("pub");
    let known = [
        known_line("127.0.0.1", linux.port, &linux.host_pub),
        known_line("127.0.0.1", windows.port, &windows.host_pub),
        known_line("localhost", linux.port, &other_pub),
    ]
    .concat();
    std::fs::write(d.join("known_hosts"), known).expect("known_hosts");
    let silent = silent_port();

    let root = format!(
        r#"
secrets:
  ssh_key: {{ file: user_key }}
logs:
  known_hosts: known_hosts
  connect_timeout: 2s
  parallel: 4
  sources:
    linux-host:
      collect:
        - ssh:
            hosts: ["127.0.0.1:{lp}", "localhost:{lp}", "127.0.0.1:{silent}"]
            user: {user}
            key: ${{secret:ssh_key}}
            paths: ["{agent}/*.log*"]
    windows-host:
      collect:
        - ssh:
            hosts: ["127.0.0.1:{wp}"]
            user: {user}
            key_file: user_key
            paths: ['C:\Program Files (x86)\DiskSync-Agent\log\*.log']
"#,
        lp = linux.port,
        wp = windows.port,
        user = current_user(),
        agent = agent.display(),
    );
    write_tree(d, &[("patrol.yaml", &root)]);
    let config = d.join("patrol.yaml");
    let bundle = d.join("hosts.tar.gz");
    let out = export(&config, &[], &bundle);
    let text = stdout(&out);
    // Two hosts failed, the others were exported: exit 1, and the table says which.
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));
    let row = |host: &str| -> String {
        text.lines()
            .find(|l| l.contains(host))
            .unwrap_or_else(|| panic!("no row for {host} in:\n{text}"))
            .to_string()
    };
    assert!(
        row(&format!("127.0.0.1:{}", linux.port)).contains(" ok "),
        "{text}"
    );
    assert!(
        row(&format!("127.0.0.1:{}", windows.port)).contains(" ok "),
        "{text}"
    );
    let changed = row(&format!("localhost:{}", linux.port));
    assert!(
        changed.contains("FAILED") && changed.contains("HOST KEY CHANGED"),
        "{changed}"
    );
    assert!(
        changed.contains(&format!("[localhost]:{}", linux.port)) && changed.contains("SHA256:"),
        "{changed}"
    );
    let quiet = row(&format!("127.0.0.1:{silent}"));
    assert!(
        quiet.contains("FAILED") && quiet.contains("within 2s"),
        "{quiet}"
    );
    assert!(text.contains("2 of 4 collectors failed"), "{text}");
    // Not a terminal: one progress line per host as it finishes, instead of a bar.
    let progress = common::stderr(&out);
    assert!(
        progress.contains(&format!(
            "windows-host ssh 127.0.0.1:{}: ok, 1 file(s)",
            windows.port
        )),
        "{progress}"
    );

    let top = untar(&bundle, &d.join("x"));
    let m = manifest(&top);
    assert_matches_manifest(&top, &m);
    let p = paths(&m);
    let lin = format!(
        "linux-host/127.0.0.1_{}/{}",
        linux.port,
        agent.to_str().expect("utf8").trim_start_matches('/')
    );
    assert!(p.contains(&format!("{lin}/agent-syncer.log")), "{p:?}");
    assert!(p.contains(&format!("{lin}/linux_agent.log.1")), "{p:?}");
    let win = format!(
        "windows-host/127.0.0.1_{}/C/Program Files (x86)/DiskSync-Agent/log/DiskSync.log",
        windows.port
    );
    assert!(p.contains(&win), "{p:?}");
    assert!(!p.iter().any(|x| x.ends_with("notes.txt")));
    let origin = m["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == win.as_str())
        .map(|f| f["origin"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default();
    assert!(
        origin.ends_with("/C:/Program Files (x86)/DiskSync-Agent/log/DiskSync.log"),
        "{origin}"
    );
    let exported = all_text(&top);
    assert!(exported.contains("sync started") && exported.contains("rotated agent line"));
    assert!(exported.contains("heartbeat sent"));
    assert!(!exported.contains("yesterday's news"));
    for secret in ["LinuxSecretKey123", "WinPassw0rd!"] {
        assert!(!exported.contains(secret), "{secret} leaked");
    }
    let failed = m["failed"].as_array().expect("failed");
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed.iter().all(
        |f| f["source"] == "linux-host" && f["reason"].as_str().is_some_and(|r| !r.is_empty())
    ));
    let sources = m["sources"].as_array().expect("sources");
    let status = |n: &str| {
        sources
            .iter()
            .find(|s| s["name"] == n)
            .map(|s| s["status"].clone())
    };
    assert_eq!(status("linux-host"), Some("partial".into()));
    assert_eq!(status("windows-host"), Some("ok".into()));

    // A host that is not in known_hosts at all is refused too.
    std::fs::write(
        d.join("known_hosts"),
        known_line("127.0.0.1", windows.port, &windows.host_pub),
    )
    .expect("write");
    let out = export(&config, &["linux-host"], &d.join("h2.tar.gz"));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        row_in(&text, &format!("127.0.0.1:{}", linux.port)).contains("is unknown"),
        "{text}"
    );
}

fn row_in(text: &str, host: &str) -> String {
    text.lines()
        .find(|l| l.contains(host))
        .unwrap_or_default()
        .to_string()
}

// ---------------------------------------------------------------------------------------
// The HyperBDR console's own log collection, served by the simulator in-process.

use crate::sim;

#[test]
fn hyperbdr_collections_wait_while_collecting_and_report_offline_hosts_and_failures() {
    let s = sim::Sim::spawn(sim::SimOptions {
        listen: "127.0.0.1:0".into(),
        scenario: "log-host-offline".into(),
        ..sim::SimOptions::default()
    })
    .expect("simulator");
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    // The console is defined once; a collector of the only console need not name it.
    let collector = |rt: &str, id: &str| {
        format!(
            "        - hyperbdr: {{ resource_type: {rt}, resource_id: {id}, poll_interval: 300ms }}\n"
        )
    };
    let root = format!(
        "consoles:\n  main:\n    url: \"{url}\"\n    username: ops\n    password: \"${{secret:console_pw}}\"\n    timezone: Asia/Shanghai\nsecrets:\n  console_pw: {{ value: {pw} }}\nlogs:\n  sources:\n    console:\n      timezone: Asia/Shanghai\n      collect:\n{}    sync-proxy:\n      timezone: Asia/Shanghai\n      collect:\n{}    windows-host:\n      collect:\n{}",
        collector("console", "console-1"),
        collector("sync_proxy", "proxy-1"),
        collector("windows_host", "h-002"),
        pw = s.password(),
        url = s.url(),
    );
    write_tree(d, &[("patrol.yaml", &root)]);
    let config = d.join("patrol.yaml");
    let bundle = d.join("hb.tar.gz");
    let out = export(&config, &["--since", "6h"], &bundle);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{}", printed(&out));
    let offline = row_in(&text, "h-002");
    assert!(
        offline.contains("FAILED") && offline.contains("offline hosts cannot collect logs"),
        "{text}"
    );
    assert!(row_in(&text, "console-1").contains(" ok "), "{text}");
    assert!(row_in(&text, "proxy-1").contains(" ok "), "{text}");
    // Each collection was polled while `collecting` before it became `available`.
    assert!(
        s.requests("/api/v2/om/log-collections") >= 2 + 2 * 2,
        "{}",
        s.state()
    );

    let top = untar(&bundle, &d.join("x"));
    let m = manifest(&top);
    assert_matches_manifest(&top, &m);
    let p = paths(&m);
    for want in [
        "console/console-1/porter.log",
        "console/console-1/owl.log",
        "console/console-1/oneway.log",
        "sync-proxy/proxy-1/hamal-period.log",
        "sync-proxy/proxy-1/hamal-period-subprocess.log",
    ] {
        assert!(p.contains(&want.to_string()), "{want} in {p:?}");
    }
    let owl = std::fs::read_to_string(top.join("console/console-1/owl.log")).expect("owl");
    assert!(
        owl.lines().count() >= 30 && owl.contains("INFO [owl] sync round"),
        "{owl}"
    );
    // The simulator stamps lines in the console's zone; read in that zone, all are inside.
    let f = m["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == "console/console-1/owl.log")
        .cloned()
        .expect("owl entry");
    assert_eq!(f["lines_dropped"], 0, "{f}");
    assert!(
        f["origin"]
            .as_str()
            .is_some_and(|o| o.starts_with(&s.url()) && o.contains("/files/owl.log"))
    );
    assert_eq!(m["failed"][0]["source"], "windows-host");
    assert!(!text.contains(s.password()));

    // Collections that end `failed`: every source is reported, the bundle is still written.
    s.set_scenario("log-collection-failed");
    let bundle2 = d.join("hb2.tar.gz");
    let out = export(&config, &["console"], &bundle2);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        row_in(&text, "console-1")
            .contains("ended `failed`: collector on console-1 did not answer"),
        "{text}"
    );
    let top = untar(&bundle2, &d.join("y"));
    let m = manifest(&top);
    assert_eq!(m["files"].as_array().map(Vec::len), Some(0));
    assert_eq!(m["sources"][0]["status"], "failed");
    let v = patrol(
        &config,
        &["logs", "verify", bundle2.to_str().expect("utf8")],
    );
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
}

// ---------------------------------------------------------------------------------------
// From checks: a firing alert exports the check's log sources and names the bundle.

/// The first string under any `log_bundle` key.
fn find_bundle(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::Object(m) => m
            .get("log_bundle")
            .and_then(|b| b.as_str().map(str::to_string))
            .or_else(|| m.values().find_map(find_bundle)),
        serde_json::Value::Array(a) => a.iter().find_map(find_bundle),
        _ => None,
    }
}

#[test]
fn a_firing_check_exports_its_log_sources_and_the_alert_names_the_bundle() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let receiver = JsonReceiver::start();
    let port = receiver.port;
    let root = format!(
        r#"store: {{ path: patrol.db }}
group_window: 1s
alerting: {{ channels: [hook], flapping: {{ enabled: false }} }}
channels:
  hook:
    webhook: {{ url: "http://127.0.0.1:{port}/hook" }}
logs:
  output: bundles
  sources:
    sync-proxy:
      collect:
        - local: {{ paths: ["var/log/hamal/*.log"] }}
"#
    );
    let check = r#"id: proxy-sync
schedule: every 1s
probe:
  command: { argv: [sh, -c, "echo 'SYNC CRITICAL - hamal stopped'; exit 2"] }
on_failure: { export_logs: [sync-proxy], window: 2h }
"#;
    write_tree(
        d,
        &[
            ("patrol.yaml", &root),
            ("checks/proxy.yaml", check),
            (
                "var/log/hamal/hamal-period.log",
                &stamped(600, "ERROR upload to bucket failed: i/o timeout"),
            ),
        ],
    );
    let config = d.join("patrol.yaml");
    let v = patrol(&config, &["validate"]);
    assert_eq!(v.status.code(), Some(0), "{}", printed(&v));
    let mut daemon = Daemon::start(&config, Opts::default());
    let bundle = wait_until("a firing alert naming its log bundle", LONG, || {
        receiver.bodies().iter().find_map(find_bundle)
    });
    daemon.kill();
    let bundle = PathBuf::from(bundle.expect("a firing alert naming its log bundle"));
    assert!(
        bundle.starts_with(d.join("bundles")),
        "{}",
        bundle.display()
    );
    let v = patrol(&config, &["logs", "verify", bundle.to_str().expect("utf8")]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
    let top = untar(&bundle, &d.join("x"));
    let m = manifest(&top);
    assert_eq!(m["trigger"], "proxy-sync");
    assert!(all_text(&top).contains("upload to bucket failed"));

    // A check naming a source that does not exist is a configuration error.
    write_tree(
        d,
        &[(
            "checks/proxy.yaml",
            &check.replace("[sync-proxy]", "[nope]"),
        )],
    );
    let v = patrol(&config, &["validate"]);
    assert_ne!(v.status.code(), Some(0));
    assert!(
        stdout(&v).contains("unknown log source `nope`")
            || common::stderr(&v).contains("unknown log source `nope`")
    );
}

/// A system account with a password, for the password-login case. sshd (without PAM) checks
/// the password against /etc/shadow, so the test needs a real account: it is created once
/// (the suite runs as root, as the chrooted Windows-style server above needs too).
fn password_account() -> (&'static str, &'static str) {
    const USER: &str = "patrol-sftp-test";
    const PASSWORD: &str = "Sftp-Pw-4-patrol!";
    let exists = Command::new("id")
        .arg(USER)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("id")
        .success();
    if !exists {
        let st = Command::new("useradd")
            .args(["--system", "--no-create-home", "--shell", "/bin/sh", USER])
            .status()
            .expect("useradd (the SSH tests run as root)");
        assert!(st.success(), "useradd {USER} failed: run the suite as root");
    }
    let mut chpasswd = Command::new("chpasswd")
        .stdin(Stdio::piped())
        .spawn()
        .expect("chpasswd");
    chpasswd
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{USER}:{PASSWORD}\n").as_bytes())
        .expect("write");
    assert!(chpasswd.wait().expect("chpasswd").success());
    (USER, PASSWORD)
}

#[test]
fn ssh_password_login_from_a_secret_and_a_wrong_password_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (user, password) = password_account();
    let dir = tempfile::Builder::new()
        .prefix("ssh-pw")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("tempdir");
    let d = dir.path();
    // The account is not the owner of the test's files: let it read them.
    std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let logs = d.join("var/log/hamal");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::write(
        logs.join("hamal-period.log"),
        stamped(300, "period sync done token=HamalTok3n"),
    )
    .expect("write");
    for p in [d.join("var"), d.join("var/log"), logs.clone()] {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::set_permissions(
        logs.join("hamal-period.log"),
        std::fs::Permissions::from_mode(0o644),
    )
    .expect("chmod");
    let none = d.join("no_keys");
    std::fs::write(&none, "").expect("write");
    let server = sshd(
        d,
        "pw",
        &none,
        &format!("PasswordAuthentication yes\nAllowUsers {user}\nForceCommand internal-sftp"),
    );
    std::fs::write(
        d.join("known_hosts"),
        known_line("127.0.0.1", server.port, &server.host_pub),
    )
    .expect("known_hosts");
    std::fs::write(d.join("ssh.pass"), format!("{password}\n")).expect("write");
    std::fs::write(d.join("wrong.pass"), "not-the-password\n").expect("write");
    let root = format!(
        r#"
secrets:
  ssh_password: {{ file: ssh.pass }}
  wrong_password: {{ file: wrong.pass }}
logs:
  known_hosts: known_hosts
  connect_timeout: 5s
  sources:
    sync-proxy:
      collect:
        - ssh:
            hosts: ["127.0.0.1:{port}"]
            user: {user}
            password: ${{secret:ssh_password}}
            paths: ["{logs}/*.log"]
    sync-proxy-wrong:
      collect:
        - ssh:
            hosts: ["127.0.0.1:{port}"]
            user: {user}
            password: ${{secret:wrong_password}}
            paths: ["{logs}/*.log"]
"#,
        port = server.port,
        logs = logs.display(),
    );
    write_tree(d, &[("patrol.yaml", &root)]);
    let config = d.join("patrol.yaml");

    let bundle = d.join("pw.tar.gz");
    let out = export(&config, &["sync-proxy"], &bundle);
    assert_eq!(out.status.code(), Some(0), "{}", printed(&out));
    let top = untar(&bundle, &d.join("x"));
    let m = manifest(&top);
    assert_matches_manifest(&top, &m);
    assert!(
        paths(&m).iter().any(|p| p.ends_with("hamal-period.log")),
        "{:?}",
        paths(&m)
    );
    let exported = all_text(&top);
    assert!(exported.contains("period sync done"), "{exported}");
    assert!(!exported.contains("HamalTok3n"), "token leaked");
    assert!(!exported.contains(password), "password leaked");

    let out = export(&config, &["sync-proxy-wrong"], &d.join("wrong.tar.gz"));
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(2), "{}", printed(&out));
    assert!(
        row_in(&text, &format!("127.0.0.1:{}", server.port)).contains("FAILED"),
        "{text}"
    );
    assert!(
        !printed(&out).contains("not-the-password"),
        "password printed"
    );
}
