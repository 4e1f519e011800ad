//! The engine: sandbox settings, per-evaluation state, value conversion and error reporting.

use super::functions::{self, DataProblem, RuleTime, RuleVerdict, RuleZone};
use super::pool::{RulePool, stack_size};
use super::{CheckInfo, CompiledRule, HistoryEntry, RuleError, RuleInput, memory};
use crate::config::RuleLimits;
use crate::config::bounds;
use crate::redact::Redactor;
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

/// How much memory one evaluation may hold, in units of the largest string a rule may build:
/// 256 × 1 MiB = 256 MiB by default, at least 16 MiB. Rhai checks the size of strings, arrays
/// and maps a rule builds, but not a map grown by `m[key] = value`, so a runaway rule could
/// otherwise eat gigabytes before its deadline. Counted per evaluation (see `memory`): a rule
/// is stopped for its own allocations, never for another rule's.
const MEMORY_BUDGET_STRINGS: u64 = 256;
const MIN_MEMORY_BUDGET: u64 = 16 * 1024 * 1024;

/// The most a rule may write with `print` and `debug` in one run; the rest is dropped and
/// the log says so. A rule printing in a loop must not flood the log.
pub(crate) const MAX_RULE_OUTPUT: usize = 16 * 1024;

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
    pub rule: rhai::ImmutableString,
    /// Masks secrets in what the rule prints.
    pub redactor: Redactor,
    /// Bytes of `print`/`debug` output written so far in this run.
    pub printed: usize,
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

/// One engine shared by every rule. Evaluations run on the engine's own threads (see
/// `pool`), sized for the deepest call nesting its limits allow.
pub struct RuleEngine {
    inner: Arc<Inner>,
    pool: RulePool,
}

/// What an evaluation needs, shared with the rule threads.
struct Inner {
    engine: Engine,
    limits: RuleLimits,
    redactor: Redactor,
}

impl std::fmt::Debug for RuleEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleEngine")
            .field("limits", &self.inner.limits)
            .finish_non_exhaustive()
    }
}

/// `limits` with every value brought into its range (a configuration is checked when it is
/// read; this keeps a limit built in code from turning a safeguard off with 0).
fn in_range(limits: &RuleLimits) -> RuleLimits {
    let (op_lo, op_hi) = bounds::RULE_OPERATIONS;
    let (s_lo, s_hi) = bounds::RULE_STRING;
    let (c_lo, c_hi) = bounds::RULE_COLLECTION;
    let (t_lo, t_hi) = bounds::RULE_TIMEOUT;
    RuleLimits {
        max_operations: limits.max_operations.clamp(op_lo, op_hi),
        timeout: crate::config::Dur(limits.timeout.as_duration().clamp(t_lo, t_hi)),
        max_string_size: limits.max_string_size.clamp(s_lo, s_hi),
        max_collection_size: limits.max_collection_size.clamp(c_lo, c_hi),
        max_call_levels: limits.max_call_levels.clamp(1, bounds::MAX_CALL_LEVELS),
    }
}

/// Writes what a rule prints (`print`, or `debug` with its line) to the log: masked, and at
/// most [`MAX_RULE_OUTPUT`] bytes per run, then one line saying the rest was cut.
fn rule_output(text: &str, debug_line: Option<usize>) {
    let written = with_state(|s| {
        let room = MAX_RULE_OUTPUT.saturating_sub(s.printed);
        if room == 0 {
            return None;
        }
        // Mask before cutting, and only as much as can be kept (plus the longest secret, so
        // that a secret crossing the cut is masked whole rather than half shown).
        let longest = s.redactor.values().first().map_or(0, String::len);
        let mut masked = s.redactor.text(prefix(text, room.saturating_add(longest)));
        let cut = masked.len() > room || text.len() > room.saturating_add(longest);
        if masked.len() > room {
            masked.truncate(floor_char_boundary(&masked, room));
        }
        s.printed = if cut {
            MAX_RULE_OUTPUT
        } else {
            s.printed + masked.len()
        };
        Some((s.rule.clone(), masked, cut))
    })
    .flatten();
    let Some((rule, text, cut)) = written else {
        return;
    };
    match debug_line {
        None => tracing::info!(target: "patrol::rule", rule = %rule, "{text}"),
        Some(line) => tracing::debug!(target: "patrol::rule", rule = %rule, line, "{text}"),
    }
    if cut {
        tracing::warn!(
            target: "patrol::rule",
            rule = %rule,
            "... output cut: the rule printed more than {} KiB in this run; the rest is not logged",
            MAX_RULE_OUTPUT / 1024
        );
    }
}

/// The first `max` bytes of `text`, at a character boundary.
fn prefix(text: &str, max: usize) -> &str {
    &text[..floor_char_boundary(text, max)]
}

fn floor_char_boundary(text: &str, max: usize) -> usize {
    if max >= text.len() {
        return text.len();
    }
    let mut i = max;
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl RuleEngine {
    /// An engine with `limits` (each brought into its range) whose rules' output is not
    /// masked: see [`RuleEngine::with_redactor`].
    pub fn new(limits: &RuleLimits) -> RuleEngine {
        RuleEngine::with_redactor(limits, Redactor::default())
    }

    /// An engine with `limits` whose rules' `print` and `debug` output is masked by
    /// `redactor` before it is logged.
    pub fn with_redactor(limits: &RuleLimits, redactor: Redactor) -> RuleEngine {
        let limits = in_range(limits);
        let mut engine = Engine::new();

        // Sandbox: no modules, no eval, nothing printed to stdout.
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        engine.set_max_modules(0);
        engine.disable_symbol("eval");
        engine.disable_symbol("import");
        engine.on_print(|text| rule_output(text, None));
        engine.on_debug(|text, _source, pos| rule_output(text, Some(pos.line().unwrap_or(0))));

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
            // This evaluation's own allocations (a thread-local count: cheap enough for
            // every operation).
            if memory::over_budget() {
                return Some(Dynamic::from(MEMORY_TOKEN));
            }
            if ops % DEADLINE_CHECK_EVERY != 0 {
                return None;
            }
            with_state(|s| (Instant::now() >= s.deadline).then(|| Dynamic::from(TIMEOUT_TOKEN)))
                .flatten()
        });

        functions::register(&mut engine);

        let pool = RulePool::new(stack_size(limits.max_call_levels));
        RuleEngine {
            inner: Arc::new(Inner {
                engine,
                limits,
                redactor,
            }),
            pool,
        }
    }

    /// The limits this engine enforces.
    pub fn limits(&self) -> &RuleLimits {
        &self.inner.limits
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
            .inner
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
        // Regular files of at most 1 MiB, LF or CRLF line endings (as the loader reads them).
        let source =
            crate::config::files::read_config_file(path, crate::config::files::MAX_RULE_FILE_BYTES)
                .map_err(|d| RuleError {
                    file: path.to_path_buf(),
                    line: d.line,
                    column: d.column,
                    message: d.message.replace("cannot read:", "cannot read rule:"),
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
        // The rule thread needs its own copy of the input (observations are small next to
        // what evaluating costs).
        let inner = self.inner.clone();
        let rule = rule.clone();
        let owned = OwnedInput {
            observation: input.observation.clone(),
            params: input.params.clone(),
            check: input.check.clone(),
            history: input.history.to_vec(),
            now: input.now,
        };
        let zone = zone.map(str::to_string);
        let origin = rule.origin.clone();
        self.pool
            .run(move || {
                let input = RuleInput {
                    observation: &owned.observation,
                    params: &owned.params,
                    check: &owned.check,
                    history: &owned.history,
                    now: owned.now,
                };
                inner.evaluate_guarded(&rule, &input, zone.as_deref())
            })
            .unwrap_or_else(|| {
                Verdict::unknown(format!(
                    "rule {}: could not be evaluated (no rule thread could be started; see the log)",
                    origin.display()
                ))
            })
    }
}

/// A rule's input, owned, for the trip to a rule thread.
struct OwnedInput {
    observation: serde_json::Value,
    params: serde_json::Value,
    check: CheckInfo,
    history: Vec<HistoryEntry>,
    now: DateTime<Utc>,
}

impl Inner {
    /// How many bytes one evaluation may hold.
    fn memory_budget(&self) -> u64 {
        (self.limits.max_string_size as u64)
            .saturating_mul(MEMORY_BUDGET_STRINGS)
            .max(MIN_MEMORY_BUDGET)
    }

    /// Evaluates on this (rule) thread; a panic is an UNKNOWN verdict.
    fn evaluate_guarded(
        &self,
        rule: &CompiledRule,
        input: &RuleInput<'_>,
        zone: Option<&str>,
    ) -> Verdict {
        memory::arm(self.memory_budget());
        let outcome = catch_unwind(AssertUnwindSafe(|| self.evaluate_inner(rule, input, zone)));
        memory::disarm();
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
            rule: rule.label.clone(),
            redactor: self.redactor.clone(),
            printed: 0,
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
        // The scope's values are this evaluation's: free them while it is still accounted.
        drop(scope);
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
                        describe_error(
                            &err,
                            rule,
                            timeout,
                            started.elapsed(),
                            self.memory_budget()
                        )
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
    memory_budget: u64,
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
            format!(
                "stopped: memory grew too much (this rule held more than {}; limit: 256 × max_string_size)",
                crate::config::files::human_bytes(memory_budget)
            )
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
