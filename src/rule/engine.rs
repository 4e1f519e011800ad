//! The engine: sandbox settings, per-evaluation state, value conversion and error reporting.

use super::functions::{self, DataProblem, RuleTime, RuleVerdict, RuleZone};
use super::{CompiledRule, HistoryEntry, RuleError, RuleInput};
use crate::config::RuleLimits;
use crate::status::{Status, Verdict};
use chrono::{DateTime, SecondsFormat, Utc};
use rhai::{Dynamic, Engine, EvalAltResult, Map, Position, Scope};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The names a rule finds in its scope, in the order they are pushed.
pub(crate) const SCOPE_NAMES: [&str; 5] = ["probe", "params", "check", "history", "now"];

/// How often (in Rhai operations) the wall-clock deadline is looked at: often enough to stop
/// within milliseconds, rarely enough that reading the clock costs nothing measurable.
const DEADLINE_CHECK_EVERY: u64 = 256;

/// The tokens `on_progress` terminates a run with, so the reason can be told.
const TIMEOUT_TOKEN: &str = "patrol-rule-timeout";
const MEMORY_TOKEN: &str = "patrol-rule-memory";

/// How much the process may grow (resident memory) during one evaluation, in units of the
/// largest string a rule may build: 256 × 1 MiB = 256 MiB by default, at least 16 MiB. Rhai
/// checks the size of strings, arrays and maps a rule builds, but not a map grown by
/// `m[key] = value`, so a runaway rule could otherwise eat gigabytes before its deadline.
const RSS_GROWTH_STRINGS: u64 = 256;
const MIN_RSS_GROWTH_KIB: u64 = 16 * 1024;

/// How often (wall clock) a running evaluation looks at the process's memory. Reading /proc
/// costs microseconds, so short rules never do it.
const MEMORY_CHECK_EVERY: Duration = Duration::from_millis(5);

/// State of the evaluation running on this thread. Rhai calls registered functions on the
/// thread that called `eval`, so a thread-local is a cheap, lock-free home for the verdict,
/// metrics and facts a rule records, and for what `now`, `param` and the deadline need.
pub(crate) struct EvalState {
    pub verdict: Option<RuleVerdict>,
    pub metrics: BTreeMap<String, f64>,
    pub facts: BTreeMap<String, serde_json::Value>,
    pub now: DateTime<Utc>,
    /// A copy of the `params` map for `param()` (params are small; a shared value would save
    /// the copy but could end up inside arrays or maps, which Rhai's size checks assume never
    /// happens).
    pub params: Dynamic,
    /// The zone times without an offset are read in (`probe.console.timezone`, else the
    /// check's); `None`: such times are a data problem, never read as UTC.
    pub zone: Option<RuleZone>,
    /// The console's allowed clock skew (`probe.console.max_clock_skew_seconds`): the default
    /// of the `max_clock_skew` param.
    pub console_skew: Option<f64>,
    pub deadline: Instant,
    /// When to look at memory next, and the resident size (KiB) at the first look.
    pub next_memory_check: Instant,
    pub rss_start_kib: Option<u64>,
    pub max_rss_growth_kib: u64,
    pub rule: rhai::ImmutableString,
    /// Masks the rule's `print` and `debug` output before it is logged.
    pub redactor: crate::redact::Redactor,
}

thread_local! {
    static STATE: RefCell<Option<EvalState>> = const { RefCell::new(None) };
}

/// Runs `f` with the current evaluation's state; `None` outside an evaluation.
pub(crate) fn with_state<R>(f: impl FnOnce(&mut EvalState) -> R) -> Option<R> {
    STATE.with(|s| s.borrow_mut().as_mut().map(f))
}

/// The evaluation's `now`, or the wall clock outside an evaluation.
pub(crate) fn current_now() -> DateTime<Utc> {
    with_state(|s| s.now).unwrap_or_else(Utc::now)
}

/// What a rule printed, as it may be logged: the one place where rule output is masked
/// (`print` and `debug` both come here), with the rule's name.
fn rule_output(text: &str) -> (rhai::ImmutableString, String) {
    with_state(|s| (s.rule.clone(), s.redactor.text(text)))
        .unwrap_or_else(|| (rhai::ImmutableString::new(), text.to_string()))
}

/// Installs an evaluation's state and restores the previous one when dropped (also on unwind).
struct StateGuard {
    previous: Option<EvalState>,
}

impl StateGuard {
    fn install(state: EvalState) -> StateGuard {
        let previous = STATE.with(|s| s.borrow_mut().replace(state));
        StateGuard { previous }
    }

    fn take(mut self) -> Option<EvalState> {
        let previous = self.previous.take();
        let current = STATE.with(|s| std::mem::replace(&mut *s.borrow_mut(), previous));
        std::mem::forget(self);
        current
    }
}

impl Drop for StateGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        // `try_with`: during thread teardown the slot may already be gone.
        let _ = STATE.try_with(|s| {
            if let Ok(mut slot) = s.try_borrow_mut() {
                *slot = previous;
            }
        });
    }
}

/// One engine shared by every rule.
pub struct RuleEngine {
    engine: Engine,
    limits: RuleLimits,
    redactor: crate::redact::Redactor,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine")
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl RuleEngine {
    pub fn new(limits: &RuleLimits) -> RuleEngine {
        let mut engine = Engine::new();

        // Sandbox: no modules, no eval, nothing printed to stdout.
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        engine.set_max_modules(0);
        engine.disable_symbol("eval");
        engine.disable_symbol("import");
        engine.on_print(|text| {
            let (rule, text) = rule_output(text);
            tracing::info!(target: "patrol::rule", rule = %rule, "{text}");
        });
        engine.on_debug(|text, _source, pos| {
            let (rule, text) = rule_output(text);
            tracing::debug!(target: "patrol::rule", rule = %rule, line = pos.line().unwrap_or(0), "{text}");
        });

        // Mistakes are errors, not silent `()`.
        engine.set_strict_variables(true);
        engine.set_fail_on_invalid_map_property(true);

        // Limits: each turns into an error, which turns into UNKNOWN.
        engine.set_max_operations(limits.max_operations);
        engine.set_max_call_levels(limits.max_call_levels);
        engine.set_max_expr_depths(64, 32);
        engine.set_max_string_size(limits.max_string_size);
        engine.set_max_array_size(limits.max_collection_size);
        engine.set_max_map_size(limits.max_collection_size);
        engine.on_progress(|ops| {
            if ops % DEADLINE_CHECK_EVERY != 0 {
                return None;
            }
            with_state(|s| {
                let now = Instant::now();
                if now >= s.deadline {
                    return Some(Dynamic::from(TIMEOUT_TOKEN));
                }
                if now >= s.next_memory_check {
                    s.next_memory_check = now + MEMORY_CHECK_EVERY;
                    let rss = resident_kib()?;
                    let start = *s.rss_start_kib.get_or_insert(rss);
                    if rss.saturating_sub(start) > s.max_rss_growth_kib {
                        return Some(Dynamic::from(MEMORY_TOKEN));
                    }
                }
                None
            })
            .flatten()
        });

        functions::register(&mut engine);

        RuleEngine {
            engine,
            limits: limits.clone(),
            redactor: crate::redact::Redactor::default(),
        }
    }

    /// Masks these secrets in what rules print (`print`, `debug`) before it is logged.
    pub fn with_redactor(mut self, redactor: crate::redact::Redactor) -> RuleEngine {
        self.redactor = redactor;
        self
    }

    /// How much the process may grow during one evaluation (KiB).
    fn max_rss_growth_kib(&self) -> u64 {
        (self.limits.max_string_size as u64 / 1024)
            .saturating_mul(RSS_GROWTH_STRINGS)
            .max(MIN_RSS_GROWTH_KIB)
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &RuleLimits {
        &self.limits
    }

    /// Compiles `source`; `origin` and `line_offset` locate errors (an inline rule's lines are
    /// shifted to the check file's: Rhai's line + `line_offset`).
    pub fn compile(
        &self,
        name: &str,
        source: &str,
        origin: &Path,
        line_offset: usize,
    ) -> Result<CompiledRule, RuleError> {
        // The scope only tells the compiler which names exist (strict variables); the values
        // are pushed as plain variables so the optimiser cannot fold them in.
        let mut scope = Scope::new();
        for name in SCOPE_NAMES {
            scope.push(name, ());
        }
        let ast = self
            .engine
            .compile_with_scope(&scope, source)
            .map_err(|err| {
                let pos = err.position();
                let mut message = err.err_type().to_string();
                if message.contains("'import'") || message.contains("'eval'") {
                    message.push_str(" (rules cannot import modules or evaluate code)");
                }
                RuleError {
                    file: origin.to_path_buf(),
                    line: pos.line().unwrap_or(0) + line_offset,
                    column: pos.position().unwrap_or(0),
                    message,
                }
            })?;
        Ok(CompiledRule {
            name: name.to_string(),
            origin: origin.to_path_buf(),
            line_offset,
            label: name.into(),
            ast: Arc::new(ast),
        })
    }

    /// Reads and compiles a rule file (`rules/NAME.rhai`).
    pub fn compile_file(&self, name: &str, path: &Path) -> Result<CompiledRule, RuleError> {
        let source = std::fs::read_to_string(path).map_err(|err| RuleError {
            file: path.to_path_buf(),
            line: 0,
            column: 0,
            message: format!("cannot read rule: {err}"),
        })?;
        self.compile(name, &source, path, 0)
    }

    /// Compiles and runs a rule in one go (for one-off runs): a compile error is an UNKNOWN
    /// verdict naming the file, line and column.
    pub fn run_source(
        &self,
        name: &str,
        source: &str,
        origin: &Path,
        line_offset: usize,
        input: &RuleInput<'_>,
    ) -> Verdict {
        match self.compile(name, source, origin, line_offset) {
            Ok(rule) => self.evaluate(&rule, input),
            Err(err) => Verdict::unknown(format!("rule {err}")),
        }
    }

    /// Runs a rule. Never fails: a rule error or a limit hit is an UNKNOWN verdict naming the
    /// rule file and line. Times without an offset are read in `probe.console.timezone` (or
    /// are a data problem): see [`RuleEngine::evaluate_in_zone`].
    pub fn evaluate(&self, rule: &CompiledRule, input: &RuleInput<'_>) -> Verdict {
        self.evaluate_in_zone(rule, input, None)
    }

    /// [`RuleEngine::evaluate`], with `zone` (the check's time zone, an IANA name or an
    /// offset) for times written without an offset when the observation names no
    /// `console.timezone`. Without either such times make the run UNKNOWN: they are never
    /// read as UTC.
    pub fn evaluate_in_zone(
        &self,
        rule: &CompiledRule,
        input: &RuleInput<'_>,
        zone: Option<&str>,
    ) -> Verdict {
        let outcome = catch_unwind(AssertUnwindSafe(|| self.evaluate_inner(rule, input, zone)));
        match outcome {
            Ok(verdict) => verdict,
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_string());
                tracing::error!(rule = %rule.name, "rule evaluation panicked: {what}");
                Verdict::unknown(format!(
                    "rule {}: internal error while evaluating: {what}",
                    rule.origin.display()
                ))
            }
        }
    }

    fn evaluate_inner(
        &self,
        rule: &CompiledRule,
        input: &RuleInput<'_>,
        zone: Option<&str>,
    ) -> Verdict {
        let params = match json_to_dynamic(input.params) {
            d if d.is_map() => d,
            _ => Dynamic::from_map(Map::new()),
        };
        let timeout = self.limits.timeout.as_duration();
        let started = Instant::now();
        let guard = StateGuard::install(EvalState {
            verdict: None,
            metrics: BTreeMap::new(),
            facts: BTreeMap::new(),
            now: input.now,
            params: params.clone(),
            zone: functions::rule_zone(input.observation, zone),
            console_skew: functions::console_skew(input.observation),
            deadline: started + timeout,
            next_memory_check: started + MEMORY_CHECK_EVERY,
            rss_start_kib: None,
            max_rss_growth_kib: self.max_rss_growth_kib(),
            rule: rule.label.clone(),
            redactor: self.redactor.clone(),
        });

        let mut scope = Scope::with_capacity(SCOPE_NAMES.len());
        scope.push("probe", json_to_dynamic(input.observation));
        scope.push("params", params);
        scope.push("check", check_to_dynamic(input.check));
        scope.push("history", history_to_dynamic(input.history));
        scope.push("now", RuleTime(input.now));

        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &rule.ast);
        let state = guard.take();

        match result {
            Ok(value) => {
                let Some(state) = state else {
                    return Verdict::unknown("rule state lost");
                };
                let chosen = value.try_cast::<RuleVerdict>().or(state.verdict);
                match chosen {
                    Some(v) => Verdict {
                        status: v.status,
                        summary: v.summary.to_string(),
                        metrics: state.metrics,
                        facts: state.facts,
                    },
                    None => Verdict::unknown(format!(
                        "rule {}: rule returned no verdict",
                        rule.origin.display()
                    )),
                }
            }
            Err(err) => match data_problem(&err) {
                // The data is at fault, not the rule: say what is wrong with it, nothing more.
                Some(message) => Verdict::unknown(message),
                None => Verdict::new(
                    Status::Unknown,
                    format!(
                        "rule {}",
                        describe_error(&err, rule, timeout, started.elapsed())
                    ),
                ),
            },
        }
    }
}

/// The message of a [`DataProblem`] raised anywhere in the call chain (a `need_*` function,
/// `cannot_judge`, a time without a zone), also from inside a rule's function or closure.
fn data_problem(err: &EvalAltResult) -> Option<String> {
    let mut inner = err;
    loop {
        match inner {
            EvalAltResult::ErrorInFunctionCall(_, _, e, _)
            | EvalAltResult::ErrorInModule(_, e, _) => inner = e,
            EvalAltResult::ErrorRuntime(value, _) => {
                return value.read_lock::<DataProblem>().map(|p| p.0.clone());
            }
            _ => return None,
        }
    }
}

/// `origin:line: message` for a runtime error, with the innermost line (inside a function if
/// the error happened there) and the function call chain.
fn describe_error(
    err: &EvalAltResult,
    rule: &CompiledRule,
    timeout: Duration,
    elapsed: Duration,
) -> String {
    let mut calls = Vec::new();
    let mut inner = err;
    while let EvalAltResult::ErrorInFunctionCall(name, _, e, _) = inner {
        calls.push(name.clone());
        inner = e;
    }
    let pos = match inner.position() {
        p if p.is_none() => err.position(),
        p => p,
    };
    let message = match inner {
        EvalAltResult::ErrorTerminated(token, _)
            if token.clone().into_string().ok().as_deref() == Some(TIMEOUT_TOKEN) =>
        {
            format!(
                "timed out after {} (limit {})",
                humantime::format_duration(round_ms(elapsed)),
                humantime::format_duration(timeout)
            )
        }
        EvalAltResult::ErrorTerminated(token, _)
            if token.clone().into_string().ok().as_deref() == Some(MEMORY_TOKEN) =>
        {
            "stopped: memory grew too much (limit: 256 × max_string_size)".to_string()
        }
        EvalAltResult::ErrorTooManyOperations(_) => "too many operations (limit reached)".into(),
        EvalAltResult::ErrorStackOverflow(_) => "too many nested function calls".into(),
        EvalAltResult::ErrorRuntime(value, _) if value.is_string() => value.to_string(),
        other => {
            // Rhai appends " (line L, position P)"; the summary says where already.
            let text = other.to_string();
            let suffix = format!(" ({})", other.position());
            match text.strip_suffix(&suffix) {
                Some(t) if !other.position().is_none() => t.to_string(),
                _ => text,
            }
        }
    };
    let mut out = format!(
        "{}:{}: {message}",
        rule.origin.display(),
        line_of(pos, rule)
    );
    if !calls.is_empty() {
        calls.reverse();
        out.push_str(&format!(" (in function {})", calls.join(" ← ")));
    }
    out
}

/// The process's resident memory in KiB (Linux; `None` elsewhere).
fn resident_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().min(u64::MAX as u128) as u64)
}

fn line_of(pos: Position, rule: &CompiledRule) -> usize {
    pos.line().unwrap_or(0) + rule.line_offset
}

/// JSON → Rhai, directly (no serde round trip): integers stay integers where they fit.
pub(crate) fn json_to_dynamic(value: &serde_json::Value) -> Dynamic {
    use serde_json::Value;
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => dstr(s),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(map) => {
            // Inserting one by one beats `collect()` (which sorts a temporary Vec) for the
            // small maps observations are made of.
            let mut out = Map::new();
            for (k, v) in map {
                out.insert(k.as_str().into(), json_to_dynamic(v));
            }
            Dynamic::from_map(out)
        }
    }
}

/// Rhai → JSON for facts. Times become RFC 3339 strings, verdicts their status; anything else
/// without a JSON form becomes its display string. Non-finite floats become null.
pub(crate) fn dynamic_to_json(value: &Dynamic) -> serde_json::Value {
    use serde_json::Value;
    if value.is_unit() {
        return Value::Null;
    }
    if let Ok(b) = value.as_bool() {
        return Value::Bool(b);
    }
    if let Ok(i) = value.as_int() {
        return Value::from(i);
    }
    if let Ok(f) = value.as_float() {
        return serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number);
    }
    if let Ok(c) = value.as_char() {
        return Value::String(c.to_string());
    }
    if value.is_string() {
        return Value::String(value.to_string());
    }
    if let Some(arr) = value.read_lock::<rhai::Array>() {
        return Value::Array(arr.iter().map(dynamic_to_json).collect());
    }
    if let Some(map) = value.read_lock::<Map>() {
        return Value::Object(
            map.iter()
                .map(|(k, v)| (k.to_string(), dynamic_to_json(v)))
                .collect(),
        );
    }
    if let Some(t) = value.read_lock::<RuleTime>() {
        return Value::String(t.0.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    }
    if let Some(v) = value.read_lock::<RuleVerdict>() {
        return Value::String(v.status.as_str().to_string());
    }
    Value::String(value.to_string())
}

fn dstr(s: &str) -> Dynamic {
    Dynamic::from(rhai::ImmutableString::from(s))
}

fn check_to_dynamic(check: &super::CheckInfo) -> Dynamic {
    let mut map = Map::new();
    map.insert("id".into(), dstr(&check.id));
    map.insert("name".into(), dstr(&check.name));
    map.insert(
        "tags".into(),
        Dynamic::from_array(check.tags.iter().map(|t| dstr(t)).collect()),
    );
    Dynamic::from_map(map)
}

fn history_to_dynamic(history: &[HistoryEntry]) -> Dynamic {
    Dynamic::from_array(
        history
            .iter()
            .map(|h| {
                let mut map = Map::new();
                map.insert(
                    "time".into(),
                    Dynamic::from(h.time.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
                );
                map.insert("unix".into(), Dynamic::from_int(h.time.timestamp()));
                map.insert("status".into(), dstr(h.status.as_str()));
                map.insert("summary".into(), dstr(&h.summary));
                map.insert(
                    "metrics".into(),
                    Dynamic::from_map(
                        h.metrics
                            .iter()
                            .map(|(k, v)| (k.as_str().into(), Dynamic::from_float(*v)))
                            .collect(),
                    ),
                );
                Dynamic::from_map(map)
            })
            .collect(),
    )
}
