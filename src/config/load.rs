//! Reading `patrol.yaml` and every check file into a [`Config`], collecting every problem
//! as a [`Diagnostic`] instead of stopping at the first.

use super::diagnostic::Diagnostic;
use super::files::{self, ConfigLimits, MAX_CONFIG_FILE_BYTES, MAX_RULE_FILE_BYTES};
use super::interp::{InterpContext, with_context};
use super::model::{AlertingPolicy, CheckDef, RootConfig, SecretSource};
use super::types::Misfire;
use crate::redact::Redactor;
use serde::Deserialize;
use serde_saphyr::Spanned;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// A check as the rest of patrol sees it: its definition plus what loading resolved.
#[derive(Debug, Clone)]
pub struct Check {
    pub def: CheckDef,
    pub id: String,
    pub name: String,
    /// The file and line the check's document starts at (its `id:`).
    pub file: PathBuf,
    pub line: usize,
    pub zone: chrono_tz::Tz,
    pub misfire: Misfire,
    pub rule: Option<RuleRef>,
    pub alerting: AlertingPolicy,
    pub depends_on: Vec<String>,
    /// The console this check runs against (a `hyperbdr` check's instance, or a check
    /// derived for the console).
    pub console: Option<String>,
    /// The id as written in the check file (`hyperbdr-rpo-delay` of
    /// `hyperbdr-rpo-delay@main`); the same as `id` for a check that is not expanded.
    pub base_id: String,
}

/// Which rule judges a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleRef {
    /// A rule file under a rules folder, by name.
    Named(String),
    /// A script written in the check file; `line_offset` is added to script line numbers.
    Inline {
        script: String,
        file: PathBuf,
        line_offset: usize,
    },
}

/// A rule file found in a rules folder.
#[derive(Debug, Clone)]
pub struct RuleSource {
    pub name: String,
    pub path: PathBuf,
    pub source: String,
}

/// Everything read from the configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: RootConfig,
    /// The root config file.
    pub path: PathBuf,
    /// The folder of the root config; relative paths resolve against it.
    pub base_dir: PathBuf,
    pub checks: Vec<Arc<Check>>,
    pub rules: BTreeMap<String, RuleSource>,
    /// Masks every secret value.
    pub redactor: Redactor,
}

impl Config {
    pub fn check(&self, id: &str) -> Option<&Arc<Check>> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// The checks an id names: the check itself, or every console's instance of an
    /// expanded check (`hyperbdr-rpo-delay` → `hyperbdr-rpo-delay@main`, `...@site-b`).
    pub fn instances(&self, id: &str) -> Vec<&Arc<Check>> {
        match self.check(id) {
            Some(c) => vec![c],
            None => self
                .checks
                .iter()
                .filter(|c| c.console.is_some() && c.base_id == id)
                .collect(),
        }
    }

    pub fn store_path(&self) -> PathBuf {
        self.base_dir.join(&self.root.store.path)
    }
}

/// A configuration and the problems found while reading it. Checks with problems are left
/// out of `config.checks`; the others are usable.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    pub problems: Vec<Diagnostic>,
}

/// The part of the root config needed before anything else can be interpolated.
#[derive(Deserialize, Default)]
struct RootPrelude {
    #[serde(default)]
    vars: BTreeMap<String, String>,
    #[serde(default)]
    secrets: BTreeMap<String, SecretSource>,
    #[serde(default)]
    limits: ConfigLimits,
}

/// Reads only the root config (for commands that need the store path and nothing else).
/// An unusable root config is the only hard error.
pub fn load_root_only(
    path: &Path,
) -> Result<(RootConfig, PathBuf, Redactor, Vec<Diagnostic>), Vec<Diagnostic>> {
    let text = files::read_config_file(path, MAX_CONFIG_FILE_BYTES).map_err(|d| vec![d])?;
    // `patrol.yaml` in the current folder has an empty parent: paths stay relative
    // ("checks/x.yaml", not "./checks/x.yaml") in messages.
    let base_dir = path.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut problems = Vec::new();
    let prelude: RootPrelude = if text.trim().is_empty() {
        RootPrelude::default()
    } else {
        serde_saphyr::from_str(&text).map_err(|e| vec![yaml_diagnostic(path, &e, 0)])?
    };
    let ctx = read_secrets(&prelude, &base_dir, path, &text, &mut problems);
    let redactor = Redactor::new(ctx.secrets.values().cloned());
    let root: RootConfig = if text.trim().is_empty() {
        RootConfig::default()
    } else {
        match with_context(&ctx, || serde_saphyr::from_str(&text)) {
            Ok(root) => root,
            Err(e) => {
                // Keep what was found before (a secret that could not be read explains a
                // `${secret:...}` that fails here).
                problems.push(yaml_diagnostic(path, &e, 0));
                return Err(problems);
            }
        }
    };
    check_root(&root, path, &text, &mut problems);
    super::consoles::check_root(&root, path, &text, &mut problems);
    CONTEXT_CACHE.with(|c| *c.borrow_mut() = Some(ctx));
    Ok((root, base_dir, redactor, problems))
}

/// Reads every secret of the root config into the interpolation context; a secret that
/// cannot be read is a problem at its line, and `${secret:...}` of it fails later.
fn read_secrets(
    prelude: &RootPrelude,
    base_dir: &Path,
    path: &Path,
    text: &str,
    problems: &mut Vec<Diagnostic>,
) -> InterpContext {
    let mut secrets = BTreeMap::new();
    let mut unavailable = BTreeSet::new();
    for (name, source) in &prelude.secrets {
        let value = match source {
            SecretSource::Env(var) => std::env::var(var)
                .map_err(|_| format!("secret `{name}`: environment variable {var} is not set")),
            SecretSource::File(p) => {
                let full = base_dir.join(p);
                files::read_text(&full, prelude.limits.max_file_bytes)
                    .map(|s| s.trim_end_matches(['\n', '\r']).to_string())
                    .map_err(|e| format!("secret `{name}`: cannot read {}: {e}", full.display()))
            }
            SecretSource::Value(v) => Ok(v.clone()),
        };
        match value {
            Ok(v) => {
                secrets.insert(name.clone(), v);
            }
            Err(msg) => {
                let line = find_key_line(text, name);
                problems.push(Diagnostic::new(path, line, 1, msg));
                unavailable.insert(name.clone());
            }
        }
    }
    InterpContext {
        vars: prelude.vars.clone(),
        secrets,
        unavailable,
        base_dir: base_dir.to_path_buf(),
        max_file_bytes: prelude.limits.max_file_bytes,
    }
}

/// What serde cannot check in the root config: channel names that must exist, and limits.
fn check_root(root: &RootConfig, path: &Path, text: &str, problems: &mut Vec<Diagnostic>) {
    let known = |name: &String| root.channels.contains_key(name);
    let mut refs: Vec<(&str, &String)> = Vec::new();
    refs.extend(root.alerting.channels.iter().map(|c| ("alerting", c)));
    for r in &root.routes {
        refs.extend(r.channels.iter().map(|c| ("routes", c)));
    }
    if let Some(r) = &root.report {
        refs.extend(r.channels.iter().map(|c| ("report", c)));
    }
    for (section, name) in refs {
        if !known(name) {
            problems.push(Diagnostic::new(
                path,
                find_key_line(text, section),
                1,
                format!("{section}: unknown channel `{name}` (define it under `channels:`)"),
            ));
        }
    }
    if root.concurrency == 0 {
        problems.push(Diagnostic::new(
            path,
            find_key_line(text, "concurrency"),
            1,
            "concurrency must be at least 1",
        ));
    }
}

thread_local! {
    // The interpolation context of the last root config read on this thread, reused for its
    // check files without reading the secrets twice.
    static CONTEXT_CACHE: std::cell::RefCell<Option<InterpContext>> = const { std::cell::RefCell::new(None) };
}

/// Reads the root config, every check file and the list of rule files.
pub fn load(path: &Path) -> Result<Loaded, Vec<Diagnostic>> {
    let (root, base_dir, redactor, mut problems) = load_root_only(path)?;
    let ctx = CONTEXT_CACHE
        .with(|c| c.borrow_mut().take())
        .unwrap_or_default();

    let rules = discover_rules(&root, &base_dir, path, &mut problems);
    let files = check_files(&root, &base_dir, path, &mut problems);
    let parsed = parse_check_files(&files, &ctx, &mut problems);
    let (defs, _) = unique_ids(parsed, &mut problems);
    let root_text = files::read_text(path, MAX_CONFIG_FILE_BYTES).unwrap_or_default();
    let docs = super::consoles::expand(defs, &root, path, &root_text, &mut problems);
    let ids: HashMap<String, (PathBuf, usize)> = docs
        .iter()
        .map(|d| (d.def.id.value.clone(), (d.file.clone(), d.line)))
        .collect();
    let checks: Vec<Arc<Check>> = docs
        .into_iter()
        .filter_map(|doc| resolve_check(doc, &root, &rules, &ids, &mut problems))
        .collect();
    let checks = without_cycles(checks, &mut problems);

    Ok(Loaded {
        config: Config {
            root,
            path: path.to_path_buf(),
            base_dir,
            checks,
            rules,
            redactor,
        },
        problems,
    })
}

/// One check document as read: its definition, its file, and the number of lines before
/// the document in that file (document line 1 is file line `offset + 1`).
pub(super) struct CheckDoc {
    pub(super) def: CheckDef,
    pub(super) file: PathBuf,
    pub(super) offset: usize,
    /// The file line of its `id:` (set once the id is known to be unique).
    pub(super) line: usize,
    /// The console of a per-console instance or derived check.
    pub(super) console: Option<String>,
    /// The id as written (before `@CONSOLE`).
    pub(super) base_id: String,
}

/// The check files the root config names: its `checks:` files, and the `*.yaml`/`*.yml`
/// under its `checks:` folders.
fn check_files(
    root: &RootConfig,
    base_dir: &Path,
    path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in &root.checks {
        let full = base_dir.join(entry);
        if full.is_dir() {
            collect_yaml(&full, &mut files);
        } else if full.is_file() {
            files.push(full);
        } else {
            problems.push(Diagnostic::new(
                path,
                find_key_line(
                    &files::read_text(path, MAX_CONFIG_FILE_BYTES).unwrap_or_default(),
                    "checks",
                ),
                1,
                format!("check path {} does not exist", full.display()),
            ));
        }
    }
    files
}

/// Parses every document of every check file; a document serde rejects, or whose probe
/// rejects its own configuration, is a problem and left out.
fn parse_check_files(
    files: &[PathBuf],
    ctx: &InterpContext,
    problems: &mut Vec<Diagnostic>,
) -> Vec<CheckDoc> {
    let mut parsed = Vec::new();
    for file in files {
        let text = match files::read_config_file(file, MAX_CONFIG_FILE_BYTES) {
            Ok(t) => t,
            Err(d) => {
                problems.push(d);
                continue;
            }
        };
        for (offset, chunk) in split_documents(&text) {
            if chunk.lines().all(|l| {
                let t = l.trim();
                t.is_empty() || t.starts_with('#')
            }) {
                continue;
            }
            match with_context(ctx, || serde_saphyr::from_str::<CheckDef>(&chunk)) {
                Ok(def) => {
                    // Rules serde cannot express (one of two fields) are the probe's own.
                    if let Err(msg) = def.probe.validate() {
                        let line = chunk
                            .lines()
                            .position(|l| l.starts_with("probe:"))
                            .map(|i| i + 1 + offset)
                            .unwrap_or(offset + 1);
                        problems.push(Diagnostic::new(file, line, 1, format!("probe: {msg}")));
                        continue;
                    }
                    parsed.push(CheckDoc {
                        base_id: def.id.value.clone(),
                        def,
                        file: file.clone(),
                        offset,
                        line: 0,
                        console: None,
                    })
                }
                Err(e) => problems.push(yaml_diagnostic(file, &e, offset)),
            }
        }
    }
    parsed
}

/// Keeps the documents with a valid id not seen before; returns them and where each id was
/// first defined.
fn unique_ids(
    parsed: Vec<CheckDoc>,
    problems: &mut Vec<Diagnostic>,
) -> (Vec<CheckDoc>, HashMap<String, (PathBuf, usize)>) {
    let mut first_seen: HashMap<String, (PathBuf, usize)> = HashMap::new();
    let mut ok_defs = Vec::new();
    for mut doc in parsed {
        let loc = doc.def.id.referenced;
        let (line, col) = (loc.line() as usize + doc.offset, loc.column() as usize);
        let id = doc.def.id.value.clone();
        if !valid_id(&id) {
            problems.push(Diagnostic::new(
                &doc.file,
                line,
                col,
                format!("invalid check id {id:?}: use letters, digits, `-`, `_` and `.`"),
            ));
            continue;
        }
        if let Some((f, l)) = first_seen.get(&id) {
            problems.push(Diagnostic::new(
                &doc.file,
                line,
                col,
                format!(
                    "duplicate check id `{id}` (first defined at {}:{l})",
                    f.display()
                ),
            ));
            continue;
        }
        first_seen.insert(id, (doc.file.clone(), line));
        doc.line = line;
        ok_defs.push(doc);
    }
    (ok_defs, first_seen)
}

/// A check document with its references resolved (rule, channels, log sources,
/// dependencies) and the root's defaults applied; `None` after reporting a problem.
fn resolve_check(
    doc: CheckDoc,
    root: &RootConfig,
    rules: &BTreeMap<String, RuleSource>,
    ids: &HashMap<String, (PathBuf, usize)>,
    problems: &mut Vec<Diagnostic>,
) -> Option<Arc<Check>> {
    let CheckDoc {
        def,
        file,
        offset,
        line,
        console,
        base_id,
    } = doc;
    let mut bad = false;
    let rule = match &def.rule {
        None => None,
        Some(spanned) => match resolve_rule(spanned, &file, offset, rules) {
            Ok(rule) => Some(rule),
            Err(d) => {
                problems.push(d);
                bad = true;
                None
            }
        },
    };
    if let Some(channels) = &def.alerting.channels {
        for name in channels.iter().filter(|c| !root.channels.contains_key(*c)) {
            problems.push(Diagnostic::new(
                &file,
                line,
                1,
                format!(
                    "check `{}`: alerting names unknown channel `{name}`",
                    def.id.value
                ),
            ));
            bad = true;
        }
    }
    for name in def
        .on_failure
        .export_logs
        .iter()
        .filter(|s| !root.logs.sources.contains_key(*s))
    {
        problems.push(Diagnostic::new(
            &file,
            line,
            1,
            format!(
                "check `{}`: on_failure.export_logs names unknown log source `{name}` (define it under `logs: sources:`)",
                def.id.value
            ),
        ));
        bad = true;
    }
    for dep in &def.depends_on {
        if !ids.contains_key(&dep.value) {
            let loc = dep.referenced;
            // The library's old console check is derived per console now.
            let hint = if dep.value == "hyperbdr-tcp-console" {
                " (remove it: every hyperbdr check depends on its console's derived \
                 hyperbdr-console-api@CONSOLE, which depends on hyperbdr-console-reachable@CONSOLE)"
            } else {
                ""
            };
            problems.push(Diagnostic::new(
                &file,
                loc.line() as usize + offset,
                loc.column() as usize,
                format!("depends_on names unknown check `{}`{hint}", dep.value),
            ));
            bad = true;
        }
    }
    if bad {
        return None;
    }
    let zone = def.timezone.unwrap_or(root.timezone).0;
    let misfire = def.misfire.unwrap_or_else(|| {
        if def.schedule.nominal_period() >= Duration::from_secs(86_400) {
            Misfire::RunOnce
        } else {
            Misfire::Skip
        }
    });
    let alerting = root.alerting.with(&def.alerting);
    Some(Arc::new(Check {
        id: def.id.value.clone(),
        name: def.name.clone().unwrap_or_else(|| def.id.value.clone()),
        file,
        line,
        zone,
        misfire,
        rule,
        alerting,
        depends_on: def.depends_on.iter().map(|d| d.value.clone()).collect(),
        console,
        base_id,
        def,
    }))
}

/// Leaves out the checks on a `depends_on` cycle (each would wait for the other), reporting
/// every cycle once.
fn without_cycles(checks: Vec<Arc<Check>>, problems: &mut Vec<Diagnostic>) -> Vec<Arc<Check>> {
    let deps: BTreeMap<String, Vec<String>> = checks
        .iter()
        .map(|c| (c.id.clone(), c.depends_on.clone()))
        .collect();
    let cycles = super::consoles::cycles(&deps);
    if cycles.is_empty() {
        return checks;
    }
    let mut out_of: BTreeSet<String> = BTreeSet::new();
    for cycle in cycles {
        if let Some(first) = checks.iter().find(|c| c.id == cycle[0]) {
            problems.push(Diagnostic::new(
                &first.file,
                first.line,
                1,
                format!("depends_on forms a cycle: {}", cycle.join(" → ")),
            ));
        }
        out_of.extend(cycle);
    }
    checks
        .into_iter()
        .filter(|c| !out_of.contains(&c.id))
        .collect()
}

/// A check's `rule:`: the name of a rule file (which must exist), or an inline script.
fn resolve_rule(
    spanned: &Spanned<String>,
    file: &Path,
    offset: usize,
    rules: &BTreeMap<String, RuleSource>,
) -> Result<RuleRef, Diagnostic> {
    let text = spanned.value.clone();
    let loc = spanned.referenced;
    if looks_like_rule_name(&text) {
        let name = text.trim().trim_end_matches(".rhai").to_string();
        if rules.contains_key(&name) {
            return Ok(RuleRef::Named(name));
        }
        let known: Vec<&str> = rules.keys().map(String::as_str).collect();
        return Err(Diagnostic::new(
            file,
            loc.line() as usize + offset,
            loc.column() as usize,
            format!(
                "unknown rule `{name}` (no {name}.rhai in the rules folders; known: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    // A block scalar (`rule: |`) starts on the line after its indicator.
    let file_text = files::read_text(file, MAX_CONFIG_FILE_BYTES).unwrap_or_default();
    let indicator = file_text
        .lines()
        .nth((loc.line() as usize + offset).saturating_sub(1))
        .map(|l| {
            let rest = l
                .get((loc.column() as usize).saturating_sub(1)..)
                .unwrap_or("");
            rest.starts_with('|') || rest.starts_with('>')
        })
        .unwrap_or(false);
    let line_offset = loc.line() as usize + offset - usize::from(!indicator);
    Ok(RuleRef::Inline {
        script: text,
        file: file.to_path_buf(),
        line_offset,
    })
}

fn discover_rules(
    root: &RootConfig,
    base_dir: &Path,
    config_path: &Path,
    problems: &mut Vec<Diagnostic>,
) -> BTreeMap<String, RuleSource> {
    let mut rules = BTreeMap::new();
    for dir in &root.rules {
        let full = base_dir.join(dir);
        if !full.is_dir() {
            // The default `rules` folder may simply not exist yet.
            if root.rules.len() != 1 || dir != Path::new("rules") {
                problems.push(Diagnostic::new(
                    config_path,
                    1,
                    1,
                    format!("rules folder {} does not exist", full.display()),
                ));
            }
            continue;
        }
        let mut files = Vec::new();
        collect_ext(&full, &["rhai"], &mut files);
        for path in files {
            let Some(name) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
            else {
                continue;
            };
            match files::read_config_file(&path, MAX_RULE_FILE_BYTES) {
                Ok(source) => {
                    if let Some(prev) = rules.get(&name).map(|r: &RuleSource| r.path.clone()) {
                        problems.push(Diagnostic::new(
                            &path,
                            1,
                            1,
                            format!("duplicate rule name `{name}` (also {})", prev.display()),
                        ));
                        continue;
                    }
                    rules.insert(name.clone(), RuleSource { name, path, source });
                }
                Err(d) => problems.push(d),
            }
        }
    }
    rules
}

fn collect_yaml(dir: &Path, out: &mut Vec<PathBuf>) {
    collect_ext(dir, &["yaml", "yml"], out);
}

fn collect_ext(dir: &Path, exts: &[&str], out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            collect_ext(&p, exts, out);
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| exts.contains(&e))
        {
            out.push(p);
        }
    }
}

/// Splits a multi-document YAML text at `---` / `...` lines. Each chunk keeps its place:
/// the returned offset is the number of lines before it, so chunk line 1 is file line
/// `offset + 1`.
pub(crate) fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 0;
    for (i, line) in text.lines().enumerate() {
        let is_marker = |m: &str| {
            line.strip_prefix(m)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
        };
        if is_marker("---") || is_marker("...") {
            docs.push((start, std::mem::take(&mut current)));
            start = i + 1;
            // Content after `--- ` on the same line (rare) is kept as the first line.
            let rest = line[3..].trim_start();
            if is_marker("---") && !rest.is_empty() && !rest.starts_with('#') {
                start = i;
                current.push_str(&" ".repeat(4));
                current.push_str(rest);
                current.push('\n');
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    docs.push((start, current));
    docs
}

fn yaml_diagnostic(file: &Path, e: &serde_saphyr::Error, offset: usize) -> Diagnostic {
    let (line, col) = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize))
        .unwrap_or((1, 1));
    Diagnostic::new(
        file,
        line + offset,
        col,
        clean_message(&e.without_snippet().to_string()),
    )
}

/// serde-saphyr prefixes its messages with "error: line L column C: "; the diagnostic
/// already says where.
fn clean_message(msg: &str) -> String {
    let first = msg.lines().next().unwrap_or(msg).trim();
    let mut m = first.strip_prefix("error: ").unwrap_or(first);
    if let Some(rest) = m.strip_prefix("line ")
        && let Some(idx) = rest.find(": ")
        && rest[..idx].contains("column")
    {
        m = &rest[idx + 2..];
    }
    let mut m = m.replace(", set DuplicateKeyPolicy in Options if acceptable", "");
    // Custom errors carry the position again at the end.
    if let Some(idx) = m.rfind(" at line ")
        && m[idx..].contains(", column ")
    {
        m.truncate(idx);
    }
    m
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn looks_like_rule_name(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
}

/// Secrets that masking cannot protect well, as warnings at their line: values shorter than
/// [`crate::redact::SHORT_SECRET`] characters, and plain words or numbers. Masking replaces
/// every occurrence of a secret's value in every output, so a value like `unused` rewrites
/// that word wherever it appears (and is easy to guess). Never shows the value itself.
pub fn weak_secrets(path: &Path) -> Vec<Diagnostic> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    if text.trim().is_empty() {
        return Vec::new();
    }
    let Ok(prelude) = serde_saphyr::from_str::<RootPrelude>(&text) else {
        return Vec::new();
    };
    let base_dir = path.parent().unwrap_or(Path::new(""));
    // Unreadable secrets are problems that loading reports already.
    let mut unreadable = Vec::new();
    let ctx = read_secrets(&prelude, base_dir, path, &text, &mut unreadable);
    ctx.secrets
        .iter()
        .filter_map(|(name, value)| {
            let chars = value.chars().count();
            let why = if chars < 3 {
                format!("is {chars} characters long and is not masked at all")
            } else if chars < crate::redact::SHORT_SECRET {
                format!(
                    "is only {chars} characters long: masking rewrites that text wherever it appears"
                )
            } else if value.chars().all(|c| c.is_alphabetic())
                || value.chars().all(|c| c.is_ascii_digit())
            {
                "is a plain word or number: masking rewrites it wherever it appears".to_string()
            } else {
                return None;
            };
            Some(Diagnostic::new(
                path,
                find_key_line(&text, name),
                1,
                format!(
                    "secret `{name}` {why}; use at least {} characters that are not a \
                     word (a placeholder like `x9-not-set-7Qz` in examples)",
                    crate::redact::SHORT_SECRET
                ),
            ))
        })
        .collect()
}

/// The line of the first `key:` in a text (for problems found after parsing).
pub(super) fn find_key_line(text: &str, key: &str) -> usize {
    let pat = format!("{key}:");
    text.lines()
        .position(|l| l.trim_start().starts_with(&pat))
        .map(|i| i + 1)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_and_word_like_secrets_are_warned_about_without_their_value() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("patrol.yaml");
        std::fs::write(
            &path,
            "secrets:\n  s3:\n    value: unused\n  word:\n    value: changeme\n  \
             good:\n    value: x9-unused-7Qz\n  tiny:\n    value: ab\n",
        )
        .expect("write");
        let warnings = weak_secrets(&path);
        let text: Vec<String> = warnings.iter().map(ToString::to_string).collect();
        assert_eq!(warnings.len(), 3, "{text:?}");
        assert!(
            text[0].contains(":2:1: secret `s3` is only 6 characters"),
            "{text:?}"
        );
        assert!(
            text[1].contains("`tiny` is 2 characters long and is not masked"),
            "{text:?}"
        );
        assert!(text[2].contains("`word` is a plain word"), "{text:?}");
        assert!(text.iter().all(|t| !t.contains("changeme")), "{text:?}");
    }

    #[test]
    fn typed_values_are_rejected_where_they_are_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("patrol.yaml");
        std::fs::write(
            &path,
            "maintenance:\n  - name: patching\n    start: \"25:00\"\n    duration: 1h\n",
        )
        .expect("write");
        let problems = load_root_only(&path).expect_err("bad start");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!((problems[0].line, problems[0].column), (3, 12));
        assert_eq!(
            problems[0].message,
            "invalid start time \"25:00\": write HH:MM, e.g. 02:30"
        );

        std::fs::write(&path, "alerting:\n  after: \"5 of 3\"\n").expect("write");
        let problems = load_root_only(&path).expect_err("bad after");
        assert_eq!((problems[0].line, problems[0].column), (2, 10));
        assert_eq!(
            problems[0].message,
            "invalid `after` \"5 of 3\": 5 of 3 can never happen"
        );
    }

    #[test]
    fn splits_documents_keeping_line_offsets() {
        let docs = split_documents("a: 1\n---\nb: 2\nc: 3\n--- # x\nd: 4\n");
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0], (0, "a: 1\n".to_string()));
        assert_eq!(docs[1], (2, "b: 2\nc: 3\n".to_string()));
        assert_eq!(docs[2], (5, "d: 4\n".to_string()));
    }

    #[test]
    fn cleans_saphyr_prefix() {
        assert_eq!(
            clean_message(
                "error: line 2 column 1: duplicate mapping key: id, set DuplicateKeyPolicy in Options if acceptable"
            ),
            "duplicate mapping key: id"
        );
    }
}
