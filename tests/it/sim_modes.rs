//! The HyperBDR simulator's console modes (examples/hyperbdr-sim), spoken to over real HTTP:
//! console-zone times, any port, tokens that expire after N requests, a page size cap,
//! missing fields, account lockout, and several consoles in one process.
//!
//! A plain HTTP/1.1 client over `TcpStream` keeps this test free of the patrol crate.

use crate::sim;

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

struct Resp {
    status: u16,
    body: Value,
}

/// One request, `Connection: close`, the whole answer read back.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Resp {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    let payload = body.map(Value::to_string).unwrap_or_default();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-SCENE: dr\r\nX-LANG: en\r\n"
    );
    if let Some(t) = token {
        req.push_str(&format!("X-Auth-Token: {t}\r\n"));
    }
    if body.is_some() {
        req.push_str("Content-Type: application/json\r\n");
    }
    req.push_str(&format!(
        "Content-Length: {}\r\n\r\n{payload}",
        payload.len()
    ));
    stream.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, rest) = text.split_once("\r\n\r\n").expect("headers end");
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase()
            .starts_with("transfer-encoding: chunked")
    });
    let body_text = if chunked {
        dechunk(rest)
    } else {
        rest.to_string()
    };
    let body = serde_json::from_str(&body_text).unwrap_or(Value::Null);
    Resp { status, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn login_as(s: &sim::Sim, password: &str) -> Resp {
    http(
        s.addr(),
        "POST",
        "/api/v2/loginNoImageCaptcha",
        None,
        Some(&json!({"username": s.username(), "password": password})),
    )
}

fn login(s: &sim::Sim) -> String {
    let r = login_as(s, s.password());
    assert_eq!(r.body["code"], "00000000", "{}", r.body);
    r.body["data"]["token"].as_str().expect("token").to_string()
}

fn get(s: &sim::Sim, token: &str, path: &str) -> Resp {
    http(s.addr(), "GET", path, Some(token), None)
}

fn data(s: &sim::Sim, token: &str, path: &str) -> Value {
    let r = get(s, token, path);
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    assert_eq!(r.body["code"], "00000000", "{path}: {}", r.body);
    r.body["data"].clone()
}

fn start(opts: sim::SimOptions) -> sim::Sim {
    sim::Sim::spawn(sim::SimOptions {
        listen: "127.0.0.1:0".into(),
        ..opts
    })
    .expect("simulator")
}

fn is_rfc3339(s: &str) -> bool {
    s.len() >= 20 && s.as_bytes()[10] == b'T' && DateTime::parse_from_rfc3339(s).is_ok()
}

fn local(s: &str, tz: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let n = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()?;
    (s.len() == 19).then_some(())?;
    tz.from_local_datetime(&n)
        .single()
        .map(|t| t.with_timezone(&Utc))
}

fn strings<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) => out.push(s),
        Value::Array(a) => a.iter().for_each(|x| strings(x, out)),
        Value::Object(m) => m.values().for_each(|x| strings(x, out)),
        _ => {}
    }
}

/// Every pair of strings at the same place in `utc` and `zoned` that is a time in `utc`.
fn time_pairs(utc: &Value, zoned: &Value, path: String, out: &mut Vec<(String, String, String)>) {
    match (utc, zoned) {
        (Value::String(a), Value::String(b)) if is_rfc3339(a) => {
            out.push((path, a.clone(), b.clone()));
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{path}: list lengths differ");
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                time_pairs(x, y, format!("{path}[{i}]"), out);
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for (k, x) in a {
                let y = b.get(k).unwrap_or_else(|| panic!("{path}.{k} missing"));
                time_pairs(x, y, format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

/// The endpoints with time fields, and a scenario where each has the interesting ones.
const TIMED: &[(&str, &str)] = &[
    ("rpo-5x", "/api/v2/getHosts"),
    (
        "rpo-5x",
        "/api/v2/getHostDetail?host_id=h-001&sheet=snapshot",
    ),
    ("task-stuck", "/api/v2/getTasks?page_size=50"),
    ("key-expiring", "/api/v2/getCloudAccounts"),
    ("green", "/api/v2/getLicenses"),
    ("green", "/api/v2/getStorages"),
    ("green", "/api/v2/om/modules"),
    ("critical-alert", "/api/v2/om/alerts"),
    ("green", "/api/v2/om/events"),
    ("green", "/api/v2/om/tunnels"),
    ("green", "/api/v2/om/policies"),
    ("green", "/api/v2/om/drills"),
];

#[test]
fn console_zone_mode_writes_every_time_local_at_the_same_instant() {
    let zone = chrono_tz::Asia::Shanghai;
    let s = start(sim::SimOptions {
        console_timezone: zone,
        ..Default::default()
    });
    let token = login(&s);
    for (scenario, path) in TIMED {
        s.set_scenario(scenario);
        s.set_times(sim::TimeStyle::Utc);
        let utc = data(&s, &token, path);
        s.set_times(sim::TimeStyle::Console);
        let zoned = data(&s, &token, path);

        // No RFC 3339 stamp is left anywhere in console mode.
        let mut all = Vec::new();
        strings(&zoned, &mut all);
        assert!(
            !all.iter().any(|t| is_rfc3339(t)),
            "{path}: an RFC 3339 time in console mode: {zoned}"
        );
        // Each time is the same instant, written in the console's zone.
        let mut pairs = Vec::new();
        time_pairs(&utc, &zoned, path.to_string(), &mut pairs);
        assert!(!pairs.is_empty(), "{path}: no time fields in {utc}");
        for (at, u, z) in pairs {
            let u = DateTime::parse_from_rfc3339(&u)
                .expect("utc")
                .with_timezone(&Utc);
            let z = local(&z, zone).unwrap_or_else(|| panic!("{at}: {z:?} is not local"));
            let gap = (u - z).num_seconds().abs();
            assert!(gap <= 5, "{at}: {u} in UTC mode, {z} in console mode");
        }
    }

    // The host 5x past its RPO reads the same in both styles: 5 h ago, not 8 h off.
    s.set_scenario("rpo-5x");
    for style in [
        sim::TimeStyle::Utc,
        sim::TimeStyle::Console,
        sim::TimeStyle::Mixed,
    ] {
        s.set_times(style);
        let hosts = data(&s, &token, "/api/v2/getHosts");
        let h = &hosts["hosts"][0];
        assert_eq!(h["id"], "h-001");
        let raw = h["last_sync_success_at"]
            .as_str()
            .expect("last_sync_success_at");
        let at = match style {
            sim::TimeStyle::Console => local(raw, zone).expect("local stamp"),
            _ => DateTime::parse_from_rfc3339(raw)
                .expect("rfc3339")
                .with_timezone(&Utc),
        };
        let delay = (Utc::now() - at).num_seconds();
        let rpo = h["rpo_target_seconds"].as_i64().expect("rpo");
        assert!(
            (delay - 5 * rpo).abs() <= 5,
            "{style}: delay {delay} s for {raw}"
        );
        // The other hosts are well inside their RPO.
        let other = hosts["hosts"][1]["last_sync_success_at"]
            .as_str()
            .expect("h-002");
        assert_ne!(other, raw);
    }

    // Mixed (the default) is as before: UTC `Z`, except the console's own task stamps.
    s.set_scenario("green");
    s.set_times(sim::TimeStyle::Mixed);
    let tasks = data(&s, &token, "/api/v2/getTasks");
    assert!(local(tasks["tasks"][0]["start_at"].as_str().expect("start"), zone).is_some());
    let hosts = data(&s, &token, "/api/v2/getHosts");
    assert!(is_rfc3339(
        hosts["hosts"][0]["last_sync_success_at"]
            .as_str()
            .expect("sync")
    ));

    // A time sent in the console's form is understood too.
    s.set_times(sim::TimeStyle::Console);
    let from = (Utc::now() - chrono::Duration::hours(2)).with_timezone(&zone);
    let path = format!(
        "/api/v2/om/network/throughput?resource_id=proxy-1&from={}",
        from.format("%Y-%m-%d%%20%H:%M:%S")
    );
    let series = data(&s, &token, &path);
    let n = series["points"].as_array().expect("points").len();
    assert!((23..=25).contains(&n), "{n} points in 2 h");
}

#[test]
fn any_port_fixed_or_ephemeral() {
    let ephemeral = start(sim::SimOptions::default());
    assert_ne!(ephemeral.addr().port(), 0);
    assert!(
        ephemeral
            .url()
            .ends_with(&format!(":{}", ephemeral.addr().port()))
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let fixed = sim::Sim::spawn(sim::SimOptions {
        listen: format!("127.0.0.1:{port}"),
        ..Default::default()
    })
    .expect("fixed port");
    assert_eq!(fixed.addr().port(), port);
    assert_eq!(fixed.url(), format!("http://127.0.0.1:{port}"));
    login(&fixed);
    // The port is taken now: a second console on it fails to start.
    let clash = sim::Sim::spawn(sim::SimOptions {
        listen: format!("127.0.0.1:{port}"),
        ..Default::default()
    });
    assert!(clash.is_err());
}

#[test]
fn a_token_expires_after_n_requests() {
    let s = start(sim::SimOptions {
        token_max_requests: Some(3),
        ..Default::default()
    });
    let token = login(&s);
    for _ in 0..3 {
        assert_eq!(get(&s, &token, "/api/v2/getLicenses").status, 200);
    }
    let r = get(&s, &token, "/api/v2/getLicenses");
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(r.body["code"], "10010401");
    // Gone for good, and a new login gives a fresh allowance.
    assert_eq!(get(&s, &token, "/api/v2/getLicenses").status, 401);
    let fresh = login(&s);
    assert_eq!(get(&s, &fresh, "/api/v2/getLicenses").status, 200);
    let st = s.stats();
    assert_eq!(st.tokens_expired, 1);
    assert_eq!(st.unauthorized, 2);
    assert_eq!(st.logins_ok, 2);
    assert_eq!(st.requests, 8, "{st:?}");

    // Switched at run time through /sim/modes.
    let r = http(
        s.addr(),
        "PUT",
        "/sim/modes",
        None,
        Some(&json!({"token_max_requests": null})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body["token_max_requests"], Value::Null);
    for _ in 0..5 {
        assert_eq!(get(&s, &fresh, "/api/v2/getLicenses").status, 200);
    }
}

#[test]
fn the_page_size_is_capped_and_total_stays_true() {
    let s = start(sim::SimOptions {
        scenario: "paging".into(),
        max_page_size: 7,
        ..Default::default()
    });
    let token = login(&s);
    let p1 = data(&s, &token, "/api/v2/getHosts?page=1&page_size=100");
    let p2 = data(&s, &token, "/api/v2/getHosts?page=2&page_size=100");
    assert_eq!(p1["total"], 130);
    assert_eq!(p2["total"], 130);
    let ids = |p: &Value| -> Vec<String> {
        p["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .map(|h| h["id"].as_str().expect("id").to_string())
            .collect()
    };
    assert_eq!(ids(&p1).len(), 7);
    assert_eq!(ids(&p1)[0], "h-001");
    assert_eq!(ids(&p2)[0], "h-008", "page 2 starts after the 7 of page 1");
    // Smaller pages than the cap are served as asked; the last page is short.
    let t = data(&s, &token, "/api/v2/getTasks?page_size=3");
    assert_eq!(t["tasks"].as_array().expect("tasks").len(), 3);
    let last = data(&s, &token, "/api/v2/getHosts?page=19&page_size=7");
    assert_eq!(ids(&last), vec!["h-127", "h-128", "h-129", "h-130"]);
    // The default cap is 50, as before.
    s.set_max_page_size(50);
    assert_eq!(
        ids(&data(&s, &token, "/api/v2/getHosts?page_size=100")).len(),
        50
    );
}

#[test]
fn named_fields_are_left_out() {
    let s = start(sim::SimOptions {
        scenario: "key-expiring".into(),
        drop_fields: vec![
            "last_sync_success_at".into(),
            "credential.expires_at".into(),
        ],
        ..Default::default()
    });
    let token = login(&s);
    let hosts = data(&s, &token, "/api/v2/getHosts");
    for h in hosts["hosts"].as_array().expect("hosts") {
        assert!(h.get("last_sync_success_at").is_none(), "{h}");
        assert!(h.get("last_snapshot_at").is_some(), "{h}");
    }
    // Dropped in getHostDetail too (the key anywhere).
    let detail = data(&s, &token, "/api/v2/getHostDetail?host_id=h-001");
    assert!(detail.get("last_sync_success_at").is_none(), "{detail}");
    let accounts = data(&s, &token, "/api/v2/getCloudAccounts");
    for a in accounts["cloud_accounts"].as_array().expect("accounts") {
        let c = &a["credential"];
        assert!(c.get("expires_at").is_none(), "{a}");
        assert!(c.get("created_at").is_some(), "{a}");
    }
    // `credential.expires_at` leaves the licences' own expires_at alone.
    let lic = data(&s, &token, "/api/v2/getLicenses");
    assert!(lic["licenses"][0].get("expires_at").is_some(), "{lic}");

    // The scenario without any key data.
    s.set_drop_fields(&[]);
    s.set_scenario("no-key-data");
    let accounts = data(&s, &token, "/api/v2/getCloudAccounts");
    let list = accounts["cloud_accounts"].as_array().expect("accounts");
    assert_eq!(list.len(), 2);
    for a in list {
        assert!(a.get("credential").is_none(), "{a}");
        assert!(a.get("status").is_some(), "{a}");
    }

    // The scenario without the fields the rules read.
    s.set_scenario("fields-missing");
    let pages = [
        ("/api/v2/getHosts", "hosts"),
        ("/api/v2/getTasks", "tasks"),
        ("/api/v2/getCloudAccounts", "cloud_accounts"),
        ("/api/v2/getStorages", "storages"),
        ("/api/v2/getLicenses", "licenses"),
        ("/api/v2/om/modules", "modules"),
        ("/api/v2/om/alerts", "alerts"),
        ("/api/v2/om/events", "events"),
        ("/api/v2/om/tunnels", "tunnels"),
        ("/api/v2/om/policies", "policies"),
        ("/api/v2/om/drills", "drills"),
        ("/api/v2/om/network/throughput", "series"),
    ];
    for (path, key) in pages {
        let d = data(&s, &token, path);
        let items = d[key].as_array().unwrap_or_else(|| panic!("{path}: {d}"));
        assert!(!items.is_empty(), "{path}");
        for item in items {
            assert!(
                item.get("id").is_some() || item.get("resource_id").is_some(),
                "{item}"
            );
            for f in sim::FIELDS_MISSING {
                let (list, field) = f.split_once('.').expect("list.field");
                if list == key {
                    assert!(item.get(field).is_none(), "{path}: {field} in {item}");
                }
            }
        }
    }
    // Every list the rules read lost something.
    for f in sim::FIELDS_MISSING {
        let list = f.split_once('.').expect("list.field").0;
        assert!(pages.iter().any(|(_, k)| *k == list), "{f}");
    }

    // Switched off again: all there.
    s.set_scenario("green");
    let hosts = data(&s, &token, "/api/v2/getHosts");
    assert!(hosts["hosts"][0].get("last_sync_success_at").is_some());
}

#[test]
fn the_account_locks_after_n_failed_logins_until_reset() {
    let s = start(sim::SimOptions {
        password: "sim-password".into(),
        lockout_after: Some(3),
        ..Default::default()
    });
    // A good login clears the count of failures in a row.
    login_as(&s, "wrong");
    login_as(&s, "wrong");
    login(&s);
    assert_eq!(s.stats().consecutive_failures, 0);
    for _ in 0..3 {
        let r = login_as(&s, "wrong");
        assert_eq!(r.body["code"], "10010001", "{}", r.body);
    }
    // Locked: the right password is refused too.
    let r = login_as(&s, "sim-password");
    assert_eq!(r.status, 200);
    assert_eq!(r.body["code"], "10010006", "{}", r.body);
    assert!(r.body["data"]["token"].is_null());
    assert!(r.body["error"].as_str().expect("error").contains("locked"));

    let st = http(s.addr(), "GET", "/sim/stats", None, None).body;
    assert_eq!(st["logins_ok"], 1, "{st}");
    assert_eq!(st["logins_failed"], 6, "{st}");
    assert_eq!(st["logins_refused_locked"], 1, "{st}");
    assert_eq!(st["locked"], true, "{st}");
    assert_eq!(st["lockouts"], 1, "{st}");
    assert_eq!(st["requests"], 7, "{st}");
    assert_eq!(st["console"], "main", "{st}");
    assert_eq!(st["modes"]["lockout_after"], 3, "{st}");
    assert_eq!(s.stats().logins_failed, 6);

    // POST /sim/reset unlocks and zeroes the counters.
    let r = http(s.addr(), "POST", "/sim/reset", None, None);
    assert_eq!(r.status, 200);
    assert_eq!(r.body["locked"], false, "{}", r.body);
    assert_eq!(r.body["logins_failed"], 0, "{}", r.body);
    login(&s);
    assert_eq!(s.stats().logins_ok, 1);

    // Without a lockout policy, failures are counted but never lock.
    s.set_lockout_after(None);
    for _ in 0..5 {
        login_as(&s, "wrong");
    }
    let st = s.stats();
    assert!(!st.locked);
    assert_eq!(st.logins_failed, 5);
    login(&s);
}

#[test]
fn several_consoles_run_independently() {
    let fleet = sim::Fleet::spawn(vec![
        sim::SimOptions {
            name: "site-a".into(),
            listen: "127.0.0.1:0".into(),
            scenario: "green".into(),
            console_timezone: chrono_tz::UTC,
            times: sim::TimeStyle::Console,
            ..Default::default()
        },
        sim::SimOptions {
            name: "site-b".into(),
            listen: "127.0.0.1:0".into(),
            scenario: "rpo-5x".into(),
            console_timezone: chrono_tz::Asia::Shanghai,
            times: sim::TimeStyle::Console,
            password: "other-password".into(),
            ..Default::default()
        },
    ])
    .expect("fleet");
    assert_eq!(fleet.names(), vec!["site-a", "site-b"]);
    let a = fleet.get("site-a").expect("a");
    let b = fleet.get("site-b").expect("b");
    assert_ne!(a.addr().port(), b.addr().port());

    // Own users, own scenarios, own zones.
    assert_eq!(login_as(a, "other-password").body["code"], "10010001");
    let ta = login(a);
    let tb = login(b);
    let ha = data(a, &ta, "/api/v2/getHosts");
    let hb = data(b, &tb, "/api/v2/getHosts");
    let at = |h: &Value, tz| {
        local(
            h["hosts"][0]["last_sync_success_at"].as_str().expect("t"),
            tz,
        )
    };
    let late_a = Utc::now() - at(&ha, chrono_tz::UTC).expect("site-a local");
    let late_b = Utc::now() - at(&hb, chrono_tz::Asia::Shanghai).expect("site-b local");
    assert!(late_a.num_minutes() < 30, "{late_a}");
    assert!((late_b.num_seconds() - 5 * 3600).abs() <= 5, "{late_b}");

    // A fault on one console leaves the other alone.
    a.set_scenario("http-500");
    assert_eq!(get(a, &ta, "/api/v2/getHosts").status, 500);
    assert_eq!(get(b, &tb, "/api/v2/getHosts").status, 200);
    assert_eq!(b.scenario(), "rpo-5x");

    // Own counters.
    let sa = http(a.addr(), "GET", "/sim/stats", None, None).body;
    let sb = http(b.addr(), "GET", "/sim/stats", None, None).body;
    assert_eq!(sa["console"], "site-a");
    assert_eq!(sb["console"], "site-b");
    assert_eq!(sa["logins_failed"], 1, "{sa}");
    assert_eq!(sb["logins_failed"], 0, "{sb}");
    assert_eq!(sb["console_timezone"], "Asia/Shanghai");
    assert_eq!(a.stats().requests, 4);
    assert_eq!(b.stats().requests, 3);

    // Names must differ; K consoles at once.
    let twice = sim::Fleet::spawn(vec![
        sim::SimOptions {
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        },
        sim::SimOptions {
            listen: "127.0.0.1:0".into(),
            ..Default::default()
        },
    ]);
    assert!(twice.is_err());
    let many = sim::Fleet::spawn_n(4, &sim::SimOptions::default(), |i| {
        if i == 2 {
            "proxy-offline".into()
        } else {
            "green".into()
        }
    })
    .expect("four consoles");
    assert_eq!(many.len(), 4);
    assert_eq!(
        many.get("site-3").expect("site-3").scenario(),
        "proxy-offline"
    );
    for s in many.consoles() {
        login(s);
        assert_eq!(s.stats().logins_ok, 1);
    }
}

#[test]
fn console_specs_and_scenarios_parse() {
    let c: sim::ConsoleSpec = "site-a:10443:rpo-5x:Asia/Shanghai".parse().expect("spec");
    assert_eq!(c.name, "site-a");
    assert_eq!(c.port, 10443);
    assert_eq!(c.scenario, "rpo-5x");
    assert_eq!(c.zone.as_deref(), Some("Asia/Shanghai"));
    let c: sim::ConsoleSpec = "b:0:green".parse().expect("spec");
    assert_eq!((c.port, c.zone), (0, None));
    assert!("b:0".parse::<sim::ConsoleSpec>().is_err());
    assert!("b:x:green".parse::<sim::ConsoleSpec>().is_err());
    assert!("b:1:no-such".parse::<sim::ConsoleSpec>().is_err());
    assert_eq!(
        "console".parse::<sim::TimeStyle>(),
        Ok(sim::TimeStyle::Console)
    );
    assert!("zulu".parse::<sim::TimeStyle>().is_err());

    // The new scenarios are listed and accepted, after the matrix's own.
    let names: Vec<&str> = sim::all_scenarios().map(|(n, _)| *n).collect();
    assert_eq!(
        &names[..sim::SCENARIOS.len()],
        sim::SCENARIOS.iter().map(|(n, _)| *n).collect::<Vec<_>>()
    );
    for n in ["rpo-5x", "fields-missing", "no-key-data"] {
        assert!(sim::is_scenario(n), "{n}");
    }
    let s = start(sim::SimOptions {
        scenario: "fields-missing".into(),
        ..Default::default()
    });
    let listed = http(s.addr(), "GET", "/sim/scenarios", None, None).body;
    assert_eq!(
        listed["scenarios"].as_array().expect("list").len(),
        names.len()
    );
    let r = http(
        s.addr(),
        "PUT",
        "/sim/modes",
        None,
        Some(&json!({"times": "zulu"})),
    );
    assert_eq!(r.status, 400);
    let r = http(
        s.addr(),
        "PUT",
        "/sim/modes",
        None,
        Some(&json!({"times": "console", "max_page_size": 5})),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(
        http(s.addr(), "GET", "/sim/modes", None, None).body["max_page_size"],
        5
    );
}
