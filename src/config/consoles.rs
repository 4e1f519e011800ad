//! HyperBDR consoles in the configuration: checking `consoles:` and every reference to a
//! console, expanding each `hyperbdr` check into one check per console it names
//! (`ID@CONSOLE`), and adding the two checks every console gets without a check file:
//!
//! - `hyperbdr-console-reachable@NAME`: a TCP connect to the host and port of its url;
//! - `hyperbdr-console-api@NAME`: log in and fetch one host; depends on the reachable check.
//!
//! Every expanded check of a console depends on its API check, so one console fault is one
//! alert (the API check's, listing the checks it holds) instead of one per check.

use super::diagnostic::Diagnostic;
use super::load::{CheckDoc, find_key_line};
use super::model::{AlertingOverride, CheckDef, OnFailure, RootConfig};
use super::schedule_expr::ScheduleExpr;
use super::types::{Dur, Json, Text};
use crate::hyperbdr::console::{
    self, ConsoleConfig, ConsoleSelect, NamedConsole, api_check_id, reachable_check_id,
};
use crate::logs::CollectorSpec;
use crate::probe::ProbeSpec;
use crate::probe::hyperbdr::HyperbdrProbe;
use crate::probe::tcp::TcpProbe;
use serde_saphyr::{Location, Spanned};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Base ids of the derived checks (their instances are `BASE@NAME`).
pub const DERIVED: [&str; 2] = ["hyperbdr-console-reachable", "hyperbdr-console-api"];

/// The usable consoles, by name: those whose definition has no problem.
pub(super) fn usable(root: &RootConfig) -> BTreeMap<String, Arc<ConsoleConfig>> {
    root.consoles
        .iter()
        .filter(|(name, c)| console::valid_name(name) && c.validate().is_ok())
        .map(|(name, c)| (name.clone(), Arc::new(c.clone())))
        .collect()
}

/// The line of console `name`'s key under `consoles:` in the root config's text.
pub(super) fn console_line(text: &str, name: &str) -> usize {
    let start = find_key_line(text, "consoles");
    let key = format!("{name}:");
    text.lines()
        .enumerate()
        .skip(start)
        .find(|(_, l)| {
            let t = l.trim_start();
            t.len() < l.len() && (t.starts_with(&key) || t.starts_with(&format!("\"{name}\":")))
        })
        .map(|(i, _)| i + 1)
        .unwrap_or(start)
}

/// The column of `key:` on line `line` of `text` (1-based), or `fallback`.
fn key_column(text: &str, line: usize, key: &str, fallback: usize) -> usize {
    text.lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.find(&format!("{key}:")))
        .map(|i| i + 1)
        .unwrap_or(fallback)
}

/// Problems of `consoles:` itself and of the log collectors that name consoles.
pub(super) fn check_root(
    root: &RootConfig,
    path: &Path,
    text: &str,
    problems: &mut Vec<Diagnostic>,
) {
    for (name, c) in &root.consoles {
        let line = console_line(text, name);
        if !console::valid_name(name) {
            problems.push(Diagnostic::new(
                path,
                line,
                1,
                format!(
                    "console name {name:?}: use lower-case letters, digits and `-` (it becomes part of check ids, e.g. hyperbdr-rpo-delay@{})",
                    suggest_name(name)
                ),
            ));
        }
        if let Err(e) = c.validate() {
            problems.push(Diagnostic::new(
                path,
                line,
                1,
                format!("console `{name}`: {e}"),
            ));
        }
    }
    let names: Vec<&str> = root.consoles.keys().map(String::as_str).collect();
    for (source, spec) in &root.logs.sources {
        for c in &spec.collect {
            let CollectorSpec::Hyperbdr(h) = c else {
                continue;
            };
            for (key, at) in h.moved_keys() {
                let line = at.line() as usize;
                problems.push(Diagnostic::new(
                    path,
                    line,
                    key_column(text, line, key, at.column() as usize),
                    format!(
                        "logs source `{source}`: {}",
                        console::moved_key_message(key, &names, "hyperbdr log collector")
                    ),
                ));
            }
            match &h.console {
                Some(n) if !root.consoles.contains_key(&n.value) => {
                    problems.push(Diagnostic::new(
                        path,
                        n.referenced.line() as usize,
                        n.referenced.column() as usize,
                        format!(
                            "logs source `{source}`: unknown console `{}` ({})",
                            n.value,
                            known(&names)
                        ),
                    ));
                }
                None if names.len() != 1 => {
                    let what = if names.is_empty() {
                        "patrol.yaml defines no console: add `consoles: {main: {url: https://CONSOLE:10443, username: ops, password: \"${secret:hyperbdr_password}\"}}`".to_string()
                    } else {
                        format!(
                            "name the console it collects from (`console: NAME`; {})",
                            known(&names)
                        )
                    };
                    problems.push(Diagnostic::new(
                        path,
                        find_key_line(text, source),
                        1,
                        format!("logs source `{source}`: the hyperbdr log collector needs a console: {what}"),
                    ));
                }
                _ => {}
            }
        }
    }
}

fn suggest_name(name: &str) -> String {
    let s: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() { "main".into() } else { s }
}

fn known(names: &[&str]) -> String {
    if names.is_empty() {
        "no console is defined under `consoles:`".into()
    } else {
        format!("defined: {}", names.join(", "))
    }
}

/// Expands every `hyperbdr` check into one check per console it names, adds the derived
/// checks of every console, and points dependencies on an expanded check at its instances.
/// A check with a problem (a moved key, an unknown console, no console at all) is reported
/// and left out.
pub(super) fn expand(
    docs: Vec<CheckDoc>,
    root: &RootConfig,
    root_path: &Path,
    root_text: &str,
    problems: &mut Vec<Diagnostic>,
) -> Vec<CheckDoc> {
    let consoles = usable(root);
    let all_names: Vec<&str> = root.consoles.keys().map(String::as_str).collect();

    // First pass: which consoles each check runs on.
    let mut out: Vec<CheckDoc> = Vec::new();
    // Base id -> console -> instance id.
    let mut instances: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    for doc in docs {
        let ProbeSpec::Hyperbdr(probe) = &doc.def.probe else {
            out.push(doc);
            continue;
        };
        let Some(names) = selected(&doc, probe, root, &all_names, problems) else {
            continue;
        };
        let base = doc.def.id.value.clone();
        if DERIVED.contains(&base.as_str()) {
            problems.push(Diagnostic::new(
                &doc.file,
                doc.line,
                1,
                format!(
                    "check id `{base}` is reserved: patrol adds `{base}@CONSOLE` for every console itself"
                ),
            ));
            continue;
        }
        for name in names {
            // A console with its own problem (reported at patrol.yaml) gets no instances.
            let Some(config) = consoles.get(&name) else {
                continue;
            };
            let id = format!("{base}@{name}");
            instances
                .entry(base.clone())
                .or_default()
                .insert(name.clone(), id.clone());
            out.push(instance(&doc, &name, config, id));
        }
    }

    // Dependencies on an expanded check name its instances: the same console's for an
    // instance, all of them otherwise. Instances depend on their console's API check.
    for doc in &mut out {
        let mut deps: Vec<Spanned<String>> = Vec::new();
        for dep in std::mem::take(&mut doc.def.depends_on) {
            match instances.get(&dep.value) {
                None => deps.push(dep),
                Some(per_console) => {
                    let same = doc.console.as_ref().and_then(|c| per_console.get(c));
                    let targets: Vec<&String> = match same {
                        Some(id) => vec![id],
                        None => per_console.values().collect(),
                    };
                    for id in targets {
                        deps.push(Spanned::new(id.clone(), dep.referenced, dep.defined));
                    }
                }
            }
        }
        if let Some(c) = &doc.console {
            let api = api_check_id(c);
            if !deps.iter().any(|d| d.value == api) {
                deps.push(unplaced(api));
            }
        }
        doc.def.depends_on = deps;
    }

    for (name, config) in &consoles {
        let line = console_line(root_text, name);
        for def in derived_checks(name, config) {
            out.push(CheckDoc {
                base_id: def
                    .id
                    .value
                    .split_once('@')
                    .map(|(b, _)| b.to_string())
                    .unwrap_or_default(),
                def,
                file: root_path.to_path_buf(),
                offset: 0,
                line,
                console: Some(name.clone()),
            });
        }
    }
    out
}

/// The consoles a hyperbdr check names, or `None` after reporting why it cannot run.
fn selected(
    doc: &CheckDoc,
    probe: &HyperbdrProbe,
    root: &RootConfig,
    all_names: &[&str],
    problems: &mut Vec<Diagnostic>,
) -> Option<Vec<String>> {
    let at = |loc: Location| (loc.line() as usize + doc.offset, loc.column() as usize);
    let text =
        super::files::read_text(&doc.file, super::files::MAX_CONFIG_FILE_BYTES).unwrap_or_default();
    let mut bad = false;
    for (key, loc) in probe.moved_keys() {
        let (line, col) = at(loc);
        problems.push(Diagnostic::new(
            &doc.file,
            line,
            key_column(&text, line, key, col),
            format!(
                "check `{}`: {}",
                doc.def.id.value,
                console::moved_key_message(key, all_names, "hyperbdr probe")
            ),
        ));
        bad = true;
    }
    if root.consoles.is_empty() {
        if !bad {
            problems.push(Diagnostic::new(
                &doc.file,
                doc.line,
                1,
                format!(
                    "check `{}` uses the hyperbdr probe, but patrol.yaml defines no console: add `consoles: {{main: {{url: https://CONSOLE:10443, username: ops, password: \"${{secret:hyperbdr_password}}\", timezone: Asia/Shanghai}}}}` (a check then runs once per console, or names one with `console: main`)",
                    doc.def.id.value
                ),
            ));
        }
        return None;
    }
    let unknown = |name: &str, loc: Location, problems: &mut Vec<Diagnostic>| {
        let (line, col) = at(loc);
        problems.push(Diagnostic::new(
            &doc.file,
            line,
            col,
            format!(
                "check `{}`: unknown console `{name}` ({})",
                doc.def.id.value,
                known(all_names)
            ),
        ));
    };
    let names: Vec<String> = match &probe.console {
        None => all_names.iter().map(|n| n.to_string()).collect(),
        Some(sel) => match &sel.value {
            ConsoleSelect::All => all_names.iter().map(|n| n.to_string()).collect(),
            ConsoleSelect::One(n) => {
                if !root.consoles.contains_key(n) {
                    unknown(n, sel.referenced, problems);
                    bad = true;
                }
                vec![n.clone()]
            }
            ConsoleSelect::Many(list) => {
                let mut v: Vec<String> = Vec::new();
                for n in list {
                    if !root.consoles.contains_key(&n.value) {
                        unknown(&n.value, n.referenced, problems);
                        bad = true;
                    } else if !v.contains(&n.value) {
                        v.push(n.value.clone());
                    }
                }
                v
            }
        },
    };
    (!bad).then_some(names)
}

/// One check per console: `ID@NAME`, "NAME (CONSOLE)", tag `console:NAME`, the console set
/// on its probe.
fn instance(doc: &CheckDoc, name: &str, config: &Arc<ConsoleConfig>, id: String) -> CheckDoc {
    let mut def = doc.def.clone();
    let base = def.id.value.clone();
    def.id.value = id;
    def.name = Some(format!(
        "{} ({name})",
        def.name.as_deref().unwrap_or(base.as_str())
    ));
    let tag = format!("console:{name}");
    if !def.tags.contains(&tag) {
        def.tags.push(tag);
    }
    if let ProbeSpec::Hyperbdr(p) = &mut def.probe {
        p.console = None;
        p.target = Some(NamedConsole {
            name: name.to_string(),
            config: config.clone(),
        });
    }
    CheckDoc {
        def,
        file: doc.file.clone(),
        offset: doc.offset,
        line: doc.line,
        console: Some(name.to_string()),
        base_id: base,
    }
}

fn unplaced(value: String) -> Spanned<String> {
    Spanned::new(value, Location::UNKNOWN, Location::UNKNOWN)
}

/// The two checks every console gets.
fn derived_checks(name: &str, c: &Arc<ConsoleConfig>) -> Vec<CheckDef> {
    // `usable` let only consoles with a host and port through.
    let (host, port) = c.host_port().unwrap_or_default();
    let url = c.url.display().to_string();
    let schedule: ScheduleExpr = format!("every {}", c.check_every)
        .parse()
        .unwrap_or_else(|_| ScheduleExpr::daily_at_eight());
    let request = c.timeout.as_duration();
    let tags = vec![
        "hyperbdr".to_string(),
        "console".to_string(),
        format!("console:{name}"),
    ];
    let check = |id: String, title: String, description: String, timeout: Duration| CheckDef {
        id: unplaced(id),
        name: Some(title),
        description,
        tags: tags.clone(),
        schedule: schedule.clone(),
        timezone: None,
        misfire: None,
        timeout: Dur(timeout),
        retries: 0,
        retry_delay: Dur::secs(2),
        probe: ProbeSpec::Tcp(TcpProbe {
            host: Text::literal(""),
            port: 0,
            tls: false,
            server_name: None,
            tls_verify: true,
            ca_file: None,
            timeout: None,
        }),
        rule: None,
        params: Json::default(),
        alerting: AlertingOverride::default(),
        depends_on: Vec::new(),
        enabled: true,
        on_failure: OnFailure::default(),
    };
    let mut reachable = check(
        reachable_check_id(name),
        format!("HyperBDR console {name} reachable"),
        format!(
            "patrol reaches the HyperBDR console {name} on TCP {host}:{port} (from its url {url}); \
             agents and sync proxies need this port too. If it is not reachable, check that the \
             console VM runs, and open the port in firewalls and security groups between this \
             host and the console. While it fails, the console's other checks are held."
        ),
        request + Duration::from_secs(1),
    );
    reachable.probe = ProbeSpec::Tcp(TcpProbe {
        host: Text::literal(host),
        port,
        tls: false,
        server_name: None,
        tls_verify: true,
        ca_file: None,
        timeout: None,
    });
    let mut api = check(
        api_check_id(name),
        format!("HyperBDR console {name} API"),
        format!(
            "patrol logs in to the HyperBDR console {name} ({url}) and fetches one host \
             (GET {}). When it fails the API does not work for any check: a refused login \
             (password changed, account locked), an HTTP error or an error envelope (a console \
             service is down: run `hmctl status` on the console and restart the failing \
             service). While it fails, every other check of this console is held and listed \
             in this alert.",
            console::API_CHECK_PATH
        ),
        // A login and one call, each bounded by the console's request timeout.
        request * 2 + Duration::from_secs(2),
    );
    api.probe = ProbeSpec::Hyperbdr(HyperbdrProbe::api_check(NamedConsole {
        name: name.to_string(),
        config: c.clone(),
    }));
    api.depends_on = vec![unplaced(reachable_check_id(name))];
    vec![reachable, api]
}

/// Dependency cycles among `checks` (by id), each as the ids around the cycle.
pub(super) fn cycles(deps: &BTreeMap<String, Vec<String>>) -> Vec<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Open,
        Done,
    }
    fn visit(
        id: &str,
        deps: &BTreeMap<String, Vec<String>>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
        found: &mut Vec<Vec<String>>,
    ) {
        match marks.get(id) {
            Some(Mark::Done) => return,
            Some(Mark::Open) => {
                if let Some(i) = path.iter().position(|p| p == id) {
                    let mut cycle = path[i..].to_vec();
                    cycle.push(id.to_string());
                    found.push(cycle);
                }
                return;
            }
            None => {}
        }
        marks.insert(id.to_string(), Mark::Open);
        path.push(id.to_string());
        for d in deps.get(id).into_iter().flatten() {
            if deps.contains_key(d) {
                visit(d, deps, marks, path, found);
            }
        }
        path.pop();
        marks.insert(id.to_string(), Mark::Done);
    }
    let mut marks = BTreeMap::new();
    let mut found = Vec::new();
    for id in deps.keys() {
        visit(id, deps, &mut marks, &mut Vec::new(), &mut found);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_found_once_each() {
        let deps: BTreeMap<String, Vec<String>> = [
            ("a", vec!["b"]),
            ("b", vec!["c"]),
            ("c", vec!["a"]),
            ("d", vec!["a"]),
            ("e", vec![]),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
        .collect();
        let c = cycles(&deps);
        assert_eq!(c, vec![vec!["a", "b", "c", "a"]]);
    }

    #[test]
    fn checks_expand_per_console_with_their_parents() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = "consoles:\n  site-a:\n    url: https://10.0.0.5:10443\n    username: ops\n    password: x\n    check_every: 30s\n  site-b:\n    url: http://10.0.0.6\n    username: ops\n    password: x\n";
        std::fs::write(dir.path().join("patrol.yaml"), root).expect("write");
        std::fs::create_dir_all(dir.path().join("checks")).expect("mkdir");
        let checks = "id: rpo\nname: RPO\ntags: [t]\nschedule: every 1h\nprobe:\n  hyperbdr:\n    fetch: { hosts: /api/v2/getHosts }\n---\nid: only-b\nschedule: every 1h\ndepends_on: [rpo]\nprobe:\n  hyperbdr:\n    console: site-b\n---\nid: local\nschedule: every 1h\ndepends_on: [rpo]\nprobe:\n  tcp: { host: 127.0.0.1, port: 1 }\n";
        std::fs::write(dir.path().join("checks/c.yaml"), checks).expect("write");
        let loaded = super::super::load(&dir.path().join("patrol.yaml")).expect("loads");
        assert!(loaded.problems.is_empty(), "{:?}", loaded.problems);
        let c = &loaded.config;
        let ids: Vec<&str> = c.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "rpo@site-a",
                "rpo@site-b",
                "only-b@site-b",
                "local",
                "hyperbdr-console-reachable@site-a",
                "hyperbdr-console-api@site-a",
                "hyperbdr-console-reachable@site-b",
                "hyperbdr-console-api@site-b",
            ]
        );
        let rpo = c.check("rpo@site-a").expect("rpo@site-a");
        assert_eq!(rpo.name, "RPO (site-a)");
        assert_eq!(rpo.def.tags, ["t", "console:site-a"]);
        assert_eq!(rpo.console.as_deref(), Some("site-a"));
        assert_eq!(rpo.base_id, "rpo");
        assert_eq!(rpo.depends_on, ["hyperbdr-console-api@site-a"]);
        // An instance depends on the same console's instance; other checks on all of them.
        let only_b = c.check("only-b@site-b").expect("only-b");
        assert_eq!(
            only_b.depends_on,
            ["rpo@site-b", "hyperbdr-console-api@site-b"]
        );
        let local = c.check("local").expect("local");
        assert_eq!(local.depends_on, ["rpo@site-a", "rpo@site-b"]);
        assert_eq!(c.instances("rpo").len(), 2);
        assert_eq!(c.instances("local").len(), 1);
        // The derived parents: host and port from the url, the console's schedule.
        let reach = c
            .check("hyperbdr-console-reachable@site-b")
            .expect("reachable");
        let ProbeSpec::Tcp(t) = &reach.def.probe else {
            panic!("tcp");
        };
        assert_eq!((t.host.value(), t.port), ("10.0.0.6", 80));
        let api = c.check("hyperbdr-console-api@site-a").expect("api");
        assert_eq!(api.depends_on, ["hyperbdr-console-reachable@site-a"]);
        assert_eq!(api.def.schedule.to_string(), "every 30s");
        assert_eq!(api.file, dir.path().join("patrol.yaml"));
        assert_eq!(api.line, 2);
    }

    #[test]
    fn console_keys_are_found_under_consoles() {
        let text = "vars:\n  main: x\nconsoles:\n  main:\n    url: http://x\n  site-b:\n    url: http://y\n";
        assert_eq!(console_line(text, "main"), 4);
        assert_eq!(console_line(text, "site-b"), 6);
    }
}
