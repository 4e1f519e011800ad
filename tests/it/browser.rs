//! The status page and a check page in a real browser: Debian's headless Chromium loads them
//! from a running `patrol daemon` with real results (a refused TCP port, an open one, a
//! command with a metric and thresholds); the test reads the DOM Chromium built and keeps
//! screenshots under target/screenshots/.

use crate::common;
use crate::common::web_daemon;

use common::write_tree;
use std::path::{Path, PathBuf};
use std::process::Command;
use web_daemon::{WebDaemon, http_get, ports, wait_runs};

/// Chromium with the test flags and a profile of its own (parallel runs must not share one;
/// the folder goes when the returned guard is dropped).
fn chromium() -> (Command, tempfile::TempDir) {
    let mut c = Command::new("chromium");
    c.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
    ]);
    let profile = tempfile::tempdir().expect("profile");
    c.arg(format!("--user-data-dir={}", profile.path().display()));
    (c, profile)
}

/// The DOM after Chromium loaded and laid out `url`.
fn dump_dom(url: &str) -> String {
    let (mut c, _profile) = chromium();
    let o = c
        .arg("--dump-dom")
        .arg(url)
        .output()
        .expect("run chromium (apt-get install chromium, see .ci/run)");
    let dom = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(
        dom.contains("</html>"),
        "chromium gave no page for {url}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dom
}

fn screenshot(url: &str, name: &str, size: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let file = dir.join(name);
    let _ = std::fs::remove_file(&file);
    let (mut c, _profile) = chromium();
    let o = c
        .arg(format!("--screenshot={}", file.display()))
        .arg(format!("--window-size={size}"))
        .arg(url)
        .output()
        .expect("run chromium");
    let bytes = std::fs::read(&file).unwrap_or_else(|e| {
        panic!(
            "no screenshot {} ({e}): {}",
            file.display(),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert!(bytes.len() > 5_000, "an empty-looking screenshot");
    file
}

/// The `<tr ...>` of a check's row in the status page's DOM.
fn row<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!(r#"data-check="{id}""#))
        .unwrap_or_else(|| panic!("no row for {id}"));
    let end = dom[start..].find("</tr>").map_or(dom.len(), |e| start + e);
    &dom[start..end]
}

fn count(dom: &str, status: &str) -> u32 {
    let at = dom
        .find(&format!(r#"data-status="{status}" class="count"#))
        .unwrap_or_else(|| panic!("no {status} count"));
    let rest = &dom[at..];
    let n = rest.find(r#"<span class="n">"#).expect("count number") + 16;
    rest[n..]
        .split('<')
        .next()
        .expect("n")
        .parse()
        .expect("number")
}

#[test]
fn status_page_and_check_page_in_headless_chromium() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (open, open_port, closed_port) = ports();
    write_tree(
        dir.path(),
        &[
            (
                "patrol.yaml",
                r#"
store: { path: patrol.db }
rules: []
web: { listen: "127.0.0.1:0", token: "${secret:t}" }
secrets: { t: { value: "page-secret-99" } }
"#,
            ),
            (
                "checks/all.yaml",
                &format!(
                    r#"
id: db-port
name: Database port
description: The replication database must accept connections.
tags: [network]
schedule: every 1s
probe: {{ tcp: {{ host: 127.0.0.1, port: {closed_port} }} }}
---
id: web-port
name: Web port
tags: [network]
schedule: every 1s
probe: {{ tcp: {{ host: 127.0.0.1, port: {open_port} }} }}
---
id: disk-used
name: Disk used
description: Space left on the backup volume.
tags: [local]
schedule: every 1s
probe: {{ command: {{ shell: "echo \"DISK OK - $(( $(date +%s) % 7 + 40 ))% used | used_percent=$(( $(date +%s) % 7 + 40 ));80;90\"" }} }}
params: {{ warn_percent: 80, critical_percent: 90 }}
---
# Prints a secret: what is stored and shown is masked.
id: leaky
schedule: every 1s
probe: {{ command: {{ shell: "echo 'OK - logged in with ${{secret:t}}'" }} }}
"#
                ),
            ),
        ],
    );
    let d = WebDaemon::start(dir.path());
    wait_runs(&d, &["db-port", "web-port", "disk-used", "leaky"], 4);

    // The status page: counts, the failing check first with its summary, a history strip.
    let dom = dump_dom(&d.url("/"));
    assert_eq!(count(&dom, "critical"), 1, "{dom}");
    assert_eq!(count(&dom, "ok"), 3, "{dom}");
    assert_eq!(count(&dom, "warning"), 0);
    let db = row(&dom, "db-port");
    assert!(db.contains(r#"data-status="critical""#), "{db}");
    assert!(
        db.contains("Connection refused"),
        "the failing row shows its summary: {db}"
    );
    assert!(
        db.contains(r#"<span class="critical" title="#),
        "history strip: {db}"
    );
    assert!(row(&dom, "web-port").contains(r#"data-status="ok""#));
    let first = dom.find(r#"data-check=""#).expect("rows");
    assert!(
        dom[first..].starts_with(r#"data-check="db-port""#),
        "worst first"
    );
    assert!(dom.contains(r#"http-equiv="refresh""#), "auto-refresh");
    assert!(row(&dom, "leaky").contains("logged in with ***"), "masked");
    assert!(!dom.contains("page-secret-99"), "no secret on the page");
    screenshot(&d.url("/"), "status.png", "1280,800");
    screenshot(&d.url("/"), "status-phone.png", "390,844");

    // Filters are plain links and forms, served filtered (no JavaScript): status and tag.
    let crit = http_get(&d.url("/?status=critical")).1;
    assert!(crit.contains(r#"data-check="db-port""#));
    assert!(!crit.contains(r#"data-check="web-port""#));
    let local = http_get(&d.url("/?tag=local")).1;
    assert!(local.contains(r#"data-check="disk-used""#));
    assert!(!local.contains(r#"data-check="db-port""#));

    // The check page: description, schedule, a chart with its thresholds, runs, observation.
    let page = dump_dom(&d.url("/checks/disk-used"));
    assert!(page.contains("Space left on the backup volume."));
    assert!(page.contains("every 1s"));
    let chart = page
        .find(r#"<svg class="chart" data-metric="used_percent""#)
        .map(|at| &page[at..at + page[at..].find("</svg>").expect("svg end")])
        .unwrap_or_else(|| panic!("no chart: {page}"));
    assert!(chart.contains("<polyline"), "{chart}");
    assert!(
        chart.contains(r#"data-level="warning""#),
        "warn line: {chart}"
    );
    assert!(
        chart.contains(r#"data-level="critical""#),
        "critical line: {chart}"
    );
    assert!(page.contains(r#"class="run status-ok""#));
    assert!(page.contains(r#"id="observation""#));
    assert!(page.contains("DISK OK"));
    screenshot(&d.url("/checks/disk-used"), "check.png", "1280,1400");

    let failing = dump_dom(&d.url("/checks/db-port"));
    assert!(failing.contains(r#"data-status="critical""#));
    assert!(failing.contains("The replication database must accept connections."));
    assert!(failing.contains("Connection refused"));
    for path in [
        "/checks/leaky",
        "/api/v1/checks/leaky",
        "/api/v1/checks/leaky/runs",
        "/metrics",
    ] {
        let (_, body) = http_get(&d.url(path));
        assert!(
            !body.contains("page-secret-99"),
            "{path} shows the secret: {body}"
        );
    }
    assert!(
        http_get(&d.url("/checks/leaky"))
            .1
            .contains("logged in with ***")
    );
    drop(open);
}
