//! # Rule reference: what a rule sees and what it can call
//!
//! A rule is a [Rhai](https://rhai.rs) script. It reads the observation of one check run and
//! ends with a verdict. Rhai's standard language is available (variables, `if`, `for`, `while`,
//! `fn`, arrays, maps, string functions, `switch`, `try`/`catch`), with these exceptions that
//! keep the daemon safe: no `import`, no `eval`, no files, no network, no `sleep`; `print` and
//! `debug` go to the log, not to the terminal. Limits from `rule_limits` in `patrol.yaml`
//! (operations, call depth, string and collection sizes, a wall-clock timeout of 1s by default)
//! stop a runaway rule. Reading a variable or map property that does not exist is an error, not
//! `()`. Any error ends the run as UNKNOWN with the rule file and line, e.g.
//! `rule rules/disk-usage.rhai:12: Property not found: usd_percent`; data the rule needs but
//! does not get (see "Data a rule needs") ends it as UNKNOWN naming the field instead.
//!
//! ## Variables
//!
//! | Name | Type | What |
//! |---|---|---|
//! | `probe` | map | The observation the probe produced (its shape depends on the probe kind). |
//! | `params` | map | The check's `params:`. Read optional values with `param(name, default)`. |
//! | `check` | map | `#{id, name, tags}` of the check being judged. |
//! | `history` | array | Earlier results of this check, oldest first: `#{time, unix, status, summary, metrics}`; `time` is an RFC 3339 string (`unix` the same time in Unix seconds), `status` is `"ok"`, `"warning"`, `"critical"` or `"unknown"`, `metrics` a map of numbers. |
//! | `now` | Time | The time of this run (fixed in rule fixtures). |
//!
//! ## Verdict
//!
//! The last verdict function called wins; a script may also end with (or `return`) a verdict.
//! A script that ends without calling one is UNKNOWN "rule returned no verdict".
//!
//! | Function | Returns | Example |
//! |---|---|---|
//! | `ok(message)` | Verdict | `ok("all 3 paths below 80%")` |
//! | `warning(message)` | Verdict | `warning("/var is 85.0% full")` |
//! | `critical(message)` | Verdict | `return critical("cannot connect: " + probe.error);` |
//! | `unknown(message)` | Verdict | `unknown("no paths observed")` |
//!
//! A Verdict value has the properties `status` (string) and `summary`.
//!
//! ## Recording numbers and details
//!
//! | Function | Returns | Example |
//! |---|---|---|
//! | `metric(name, number)` | `()` | `metric("used_percent:/var", p.used_percent)` — a number worth charting (int or float; must be finite). Metrics are kept in `history` for the next runs. |
//! | `fact(name, value)` | `()` | `fact("last_line", line.text)` — any value (map, array, string, number, Time) shown next to the summary. |
//! | `param(name, default)` | value | `let warn = param("warn_percent", 80.0);` — `params[name]` if the check sets it, else `default`. An integer param is turned into a float when the default is a float. |
//! | `param(name)` | value | `let host = param("host");` — a required param; missing is an error naming it. |
//!
//! ## Time
//!
//! `now` and the results of `parse_time` are **Time** values. Time values compare with
//! `<`, `<=`, `>`, `>=`, `==`, `!=`; `t2 - t1` is the difference in seconds (float);
//! `t + seconds` and `t - seconds` shift a Time. `t.unix` is the Unix time in seconds;
//! `"${t}"` prints RFC 3339 (UTC). Wherever a function below takes a time `t`, it accepts a
//! Time, an RFC 3339 string (`"2026-03-29T01:30:00Z"`, `"2026-03-29T09:30:00+08:00"`), a
//! local time without an offset (`"2026-03-29 09:30:00"`, see below) or a Unix time in seconds
//! (int or float). Times relative to "now" use the run's `now`.
//!
//! **Times without an offset** are wall-clock times on the console's clock. They are read in
//! the zone `time_zone()` names: the observation's `console.timezone` (probes that talk to a
//! console set it), else the check's `timezone`. With neither, such a time makes the run
//! UNKNOWN ("time '2026-03-01 10:00:00' has no UTC offset and no console time zone is set to
//! read it in"): it is never read as UTC.
//!
//! | Function | Returns | Example |
//! |---|---|---|
//! | `parse_time(text)` | Time | `parse_time("2026-03-29T01:30:00Z")` — RFC 3339, or a local time in the console's zone. |
//! | `parse_time(text, format, zone)` | Time | `parse_time("29/03/2026 02:30", "%d/%m/%Y %H:%M", "Europe/Berlin")` — a local time in a [strftime format](https://docs.rs/chrono/latest/chrono/format/strftime/) and an IANA zone (or an offset like `"+08:00"`). |
//! | `parse_local_time(text, zone)` | Time | `parse_local_time("2026-03-29 09:30:00", "Asia/Shanghai")` — a local time written `YYYY-MM-DD HH:MM[:SS[.fff]]` (a `T` or `/` separators also work). |
//! | `from_unix(seconds)` | Time | `from_unix(1774747800)` |
//! | `format_time(t, format)` | string | `format_time(now, "%Y-%m-%d %H:%M")` — in UTC. |
//! | `format_time(t, format, zone)` | string | `format_time(now, "%H:%M %Z", "Asia/Shanghai")` |
//! | `time_zone()` | string | `` `(zone ${time_zone()})` `` — the zone times without an offset are read in; `""` when none is known. |
//! | `seconds_since(t)` | float | `seconds_since(probe.last_seen) > 300` |
//! | `hours_since(t)` | float | `hours_since(task.finished_at) > 2 * param("rpo_hours", 24)` |
//! | `days_since(t)` | float | `days_since(backup.time)` |
//! | `seconds_until(t)` | float | `seconds_until(lease.expires)` |
//! | `hours_until(t)` | float | `hours_until(window.start)` |
//! | `days_until(t)` | float | `days_until(cert.not_after) < 30` — negative once `t` is past. |
//!
//! Local times in a zone with daylight saving time: a time that occurs twice (clocks go back)
//! is the first occurrence; a time that does not exist (clocks go forward) is read with the
//! offset before the change, i.e. 02:30 on the day Europe/Berlin skips 02:00–03:00 is 03:30
//! CEST.
//!
//! ## Data a rule needs
//!
//! Missing data is never OK. These functions read what a rule needs from a map of the
//! observation and end the run at once as **UNKNOWN** when it is not there or not usable,
//! with a summary that names the field (and the item, from its `name`, `display_name`, `id`
//! or `resource_id`), e.g. `app03: hosts[2].rpo_target_seconds missing` or
//! `aws-prod-src: accounts[0].credential.expires_at is not a time: 42`. They work inside the
//! rule's own functions and closures too. `path` is one key or several joined by dots
//! (`"credential.expires_at"`); the optional `place` says where the map sits in the
//! observation (`` `hosts[${i}]` ``) and starts the field's name in messages. Null counts as
//! missing, except in the `maybe_*` functions, which give `()` for a null (the console saying
//! "none", e.g. a key that never expires) and still fail on an absent key.
//!
//! | Function | Returns | Example |
//! |---|---|---|
//! | `need(map, path)` / `need(map, path, place)` | value | `need(t, "status", "tasks[0]")` — any value but null. |
//! | `maybe(map, path[, place])` | value or `()` | `maybe(probe, "nagios")` — null gives `()`; an absent key is still a data problem. |
//! | `need_num(map, path[, place])` | int or float | `need_num(h, "rpo_target_seconds", at)` — a number ≥ 0 (sizes, counts, durations, ratios): a negative one is a data problem. |
//! | `maybe_num(map, path[, place])` | number or `()` | `maybe_num(s, "quota_bytes", at)` — null gives `()` (e.g. no quota). |
//! | `need_str(map, path[, place])` | string | `need_str(a, "status", at)` |
//! | `need_bool(map, path[, place])` | bool | `need_bool(m, "online", at)` |
//! | `need_map(map, path[, place])` | map | `need_map(a, "credential", at)` |
//! | `need_list(map, path[, place])` | array | `need_list(probe, "hosts.hosts")` — also UNKNOWN when the map holding the list (a list answer: a `total` and this one list) has a `total` larger than the list ("hosts.hosts: the console says 130 hosts, got 50"). |
//! | `need_str_list(map, path[, place])` | array | `need_str_list(p, "granted", at)` — `need_list` whose items are all texts. |
//! | `need_time(map, path[, place])` | Time | `need_time(c, "expires_at", at)` — RFC 3339 or a local time in the console's zone; a number or other text is a data problem. |
//! | `need_past_time(map, path[, place])` | Time | `need_past_time(h, "last_sync_success_at", at)` — a time that has happened: more than `max_clock_skew` ahead of `now` is a data problem naming the value and the zone ("… 2026-03-01 10:00:00 is 8h in the future (zone Asia/Shanghai): clock or time zone wrong?"). |
//! | `maybe_time(map, path[, place])` / `maybe_past_time(map, path[, place])` | Time or `()` | `maybe_time(cred, "expires_at", at)` — null gives `()`. |
//! | `cannot_judge(message)` | — | `cannot_judge("no storage reports its quota")` — ends the run at once as UNKNOWN with `message` (also from inside a function, where `return unknown(...)` only leaves the function). |
//! | `param_seconds(name, default)` | float | `param_seconds("min_gap", "6h")` — a param given as seconds or as a duration text (`"90s"`, `"5m"`, `"6h"`, `"2d"`). |
//!
//! The allowed clock skew is the check's param `max_clock_skew` (seconds or a duration text);
//! without it, the console's (`probe.console.max_clock_skew_seconds`, which probes that talk
//! to a console set from its `max_clock_skew`), else 5 minutes. `param_seconds("max_clock_skew",
//! …)` falls back to the console's value the same way.
//!
//! ## Numbers and text
//!
//! | Function | Returns | Example |
//! |---|---|---|
//! | `percent(part, whole)` | float | `percent(used, total)` — `100 * part / whole`, 0 when `whole` is 0. |
//! | `round_to(x, digits)` | float | `round_to(93.456, 1)` → `93.5` |
//! | `fmt_num(x, digits)` | string | `fmt_num(93.456, 1)` → `"93.5"` (for summaries) |
//! | `human_bytes(bytes)` | string | `human_bytes(17179869184)` → `"16.0 GiB"` |
//! | `human_duration(seconds)` | string | `human_duration(93784)` → `"1d 2h"` |
//! | `join(array, separator)` | string | `join(["a", "b", 3], ", ")` → `"a, b, 3"` |
//!
//! ## Trends (forecasting from history)
//!
//! A linear least-squares fit of one metric against time over `history` (entries without that
//! metric are skipped), plus the current value at `now` if one is passed.
//!
//! | Function | Returns | Example |
//! |---|---|---|
//! | `trend(history, metric)` / `trend(history, metric, current)` | map or `()` | `let t = trend(history, "used_percent:/", p.used_percent);` → `#{slope_per_day, intercept, points, r2}`: the change per day, the fitted value at `now`, how many points were fitted, and the fit quality (0–1). `()` with fewer than 2 points or all at one time. |
//! | `predict(trend, t)` | float | `t.predict(now + 86400)` — the fitted value at time `t`. |
//! | `days_until_value(history, metric, target)` / `days_until_value(history, metric, target, current)` | float | `days_until_value(history, "used_percent:/", 100.0, p.used_percent)` — days from `now` until the fitted line reaches `target`, counted from `current` if given (else from the fitted value at `now`); `0` if already there; `-1` if the line moves away from `target` (or is flat), or with fewer than 3 points. This is the "days to full" helper. |
//!
//! ## Example
//!
//! ```rhai
//! let warn = param("warn_percent", 80.0);
//! let worst = probe.paths[0];
//! for p in probe.paths {
//!     metric(`used_percent:${p.path}`, p.used_percent);
//!     if p.used_percent > worst.used_percent { worst = p; }
//! }
//! if worst.used_percent >= warn {
//!     warning(`${worst.path} is ${fmt_num(worst.used_percent, 1)}% full`)
//! } else {
//!     ok(`fullest is ${worst.path} at ${fmt_num(worst.used_percent, 1)}%`)
//! }
//! ```

use super::engine::{current_now, dynamic_to_json, with_state};
use crate::status::Status;
use chrono::{
    DateTime, FixedOffset, LocalResult, NaiveDateTime, Offset, SecondsFormat, TimeZone, Utc,
};
use rhai::{Array, Dynamic, Engine, EvalAltResult, FLOAT, INT, ImmutableString, Map};
use std::fmt::Write as _;

type Res<T> = Result<T, Box<EvalAltResult>>;

fn err<T>(message: impl Into<String>) -> Res<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(message.into()),
        rhai::Position::NONE,
    )))
}

/// What the rule's data lacks (a field missing, null, of the wrong type or negative, a time in
/// the future, a list shorter than its `total`): the run ends as UNKNOWN with this message as
/// its summary, without the rule's file and line (the rule is fine; the data is not).
#[derive(Debug, Clone)]
pub struct DataProblem(pub String);

fn problem<T>(message: impl Into<String>) -> Res<T> {
    Err(Box::new(EvalAltResult::ErrorRuntime(
        Dynamic::from(DataProblem(message.into())),
        rhai::Position::NONE,
    )))
}

/// A point in time as a rule sees it (`now`, `parse_time(...)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RuleTime(pub DateTime<Utc>);

/// What `ok(...)` and friends return.
#[derive(Debug, Clone)]
pub struct RuleVerdict {
    pub status: Status,
    pub summary: ImmutableString,
}

/// Registers everything a rule may call on `engine`.
pub(crate) fn register(engine: &mut Engine) {
    register_verdicts(engine);
    register_recording(engine);
    register_time(engine);
    register_numbers(engine);
    register_trend(engine);
    register_data(engine);

    // `sleep` blocks the thread where no deadline can interrupt it. Functions registered on the
    // engine are found before the standard package's, so these shadow it.
    engine.register_fn("sleep", |_: INT| -> Res<()> {
        err("sleep is not available in rules")
    });
    engine.register_fn("sleep", |_: FLOAT| -> Res<()> {
        err("sleep is not available in rules")
    });
}

fn message_text(msg: &Dynamic) -> ImmutableString {
    match msg.clone().into_immutable_string() {
        Ok(s) => s,
        Err(_) => msg.to_string().into(),
    }
}

fn record_verdict(status: Status, msg: &Dynamic) -> RuleVerdict {
    let v = RuleVerdict {
        status,
        summary: message_text(msg),
    };
    with_state(|s| s.verdict = Some(v.clone()));
    v
}

fn register_verdicts(engine: &mut Engine) {
    engine.register_type_with_name::<RuleVerdict>("Verdict");
    engine.register_fn("ok", |m: Dynamic| record_verdict(Status::Ok, &m));
    engine.register_fn("warning", |m: Dynamic| record_verdict(Status::Warning, &m));
    engine.register_fn("critical", |m: Dynamic| {
        record_verdict(Status::Critical, &m)
    });
    engine.register_fn("unknown", |m: Dynamic| record_verdict(Status::Unknown, &m));
    engine.register_get("status", |v: &mut RuleVerdict| -> ImmutableString {
        v.status.as_str().into()
    });
    engine.register_get("summary", |v: &mut RuleVerdict| v.summary.clone());
    engine.register_fn("to_string", |v: &mut RuleVerdict| -> String {
        format!("{}: {}", v.status, v.summary)
    });
    engine.register_fn("to_debug", |v: &mut RuleVerdict| -> String {
        format!("{}: {}", v.status, v.summary)
    });
}

/// A number from an int or float.
fn number(d: &Dynamic) -> Option<f64> {
    if let Ok(f) = d.as_float() {
        Some(f)
    } else {
        d.as_int().ok().map(|i| i as f64)
    }
}

fn register_recording(engine: &mut Engine) {
    engine.register_fn("metric", |name: &str, value: Dynamic| -> Res<()> {
        let Some(v) = number(&value) else {
            return err(format!(
                "metric '{name}' needs a number, got {}",
                value.type_name()
            ));
        };
        if !v.is_finite() {
            return err(format!("metric '{name}' is not a finite number ({v})"));
        }
        with_state(|s| s.metrics.insert(name.to_string(), v));
        Ok(())
    });
    engine.register_fn("fact", |name: &str, value: Dynamic| {
        let json = dynamic_to_json(&value);
        with_state(|s| s.facts.insert(name.to_string(), json));
    });
    engine.register_fn("param", |name: &str, default: Dynamic| -> Dynamic {
        let found = with_state(|s| {
            s.params
                .read_lock::<Map>()
                .and_then(|m| m.get(name).cloned())
        })
        .flatten();
        match found {
            Some(v) if v.is_unit() => default,
            Some(v) if default.is_float() && v.is_int() => {
                Dynamic::from_float(v.as_int().unwrap_or_default() as FLOAT)
            }
            Some(v) => v,
            None => default,
        }
    });
    engine.register_fn("param", |name: &str| -> Res<Dynamic> {
        match with_state(|s| {
            s.params
                .read_lock::<Map>()
                .and_then(|m| m.get(name).cloned())
        })
        .flatten()
        {
            Some(v) if !v.is_unit() => Ok(v),
            _ => err(format!(
                "missing parameter '{name}' (set it in the check's params)"
            )),
        }
    });
}

/// A time zone: an IANA name or a fixed offset like `+08:00`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

fn zone_of(zone: &str) -> Option<Zone> {
    if let Ok(tz) = zone.parse::<chrono_tz::Tz>() {
        return Some(Zone::Named(tz));
    }
    zone.parse::<FixedOffset>().ok().map(Zone::Fixed)
}

fn parse_zone(zone: &str) -> Res<Zone> {
    if let Some(z) = zone_of(zone) {
        return Ok(z);
    }
    err(format!(
        "unknown time zone '{zone}' (use an IANA name like \"Asia/Shanghai\" or an offset like \"+08:00\")"
    ))
}

/// A wall-clock time in a zone → UTC: first occurrence if ambiguous, the offset before the
/// change if it falls in a gap (what most schedulers and Temporal's "compatible" do).
fn local_to_utc<Tz: TimeZone>(tz: &Tz, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.with_timezone(&Utc)),
        LocalResult::Ambiguous(first, _) => Some(first.with_timezone(&Utc)),
        LocalResult::None => {
            // In a gap: take the offset in force two days before, which is the one before the
            // change (no zone changes twice within two days).
            let before = naive.checked_sub_signed(chrono::TimeDelta::days(2))?;
            let offset = tz.offset_from_local_datetime(&before).earliest()?;
            let fixed = offset.fix();
            fixed
                .from_local_datetime(&naive)
                .single()
                .map(|t| t.with_timezone(&Utc))
        }
    }
}

fn zone_to_utc(zone: &Zone, naive: NaiveDateTime) -> Option<DateTime<Utc>> {
    match zone {
        Zone::Named(tz) => local_to_utc(tz, naive),
        Zone::Fixed(off) => local_to_utc(off, naive),
    }
}

/// Parses RFC 3339 (also accepting a space instead of `T`).
pub(crate) fn parse_rfc3339(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .ok()
        .or_else(|| {
            if t.len() > 10 && t.as_bytes()[10] == b' ' {
                DateTime::parse_from_rfc3339(&format!("{}T{}", &t[..10], &t[11..])).ok()
            } else {
                None
            }
        })
        .map(|t| t.with_timezone(&Utc))
}

/// The formats `parse_local_time` tries, most common first.
const LOCAL_FORMATS: [&str; 8] = [
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y/%m/%d %H:%M:%S%.f",
    "%Y/%m/%d %H:%M",
    "%Y%m%d %H:%M:%S",
    "%Y%m%dT%H%M%S",
];

/// A wall-clock time without an offset in one of [`LOCAL_FORMATS`] (or a bare date: midnight).
fn parse_naive(text: &str) -> Option<NaiveDateTime> {
    let t = text.trim();
    LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })
}

pub(crate) fn parse_local(text: &str, zone: &str) -> Res<DateTime<Utc>> {
    let zone = parse_zone(zone)?;
    let Some(naive) = parse_naive(text) else {
        return err(format!(
            "cannot read local time '{text}' (expected YYYY-MM-DD HH:MM:SS)"
        ));
    };
    zone_to_utc(&zone, naive).map_or_else(
        || err(format!("local time '{text}' cannot be placed in its zone")),
        Ok,
    )
}

/// The zone a rule reads times without an offset in: the console's (`probe.console.timezone`,
/// set by probes that talk to a console), else the check's. `zone` is `None` when `name` is
/// not a zone patrol knows.
#[derive(Debug, Clone)]
pub(crate) struct RuleZone {
    pub name: String,
    pub zone: Option<Zone>,
}

/// The zone for one evaluation: `observation.console.timezone` if it is a text, else
/// `fallback` (the check's time zone).
pub(crate) fn rule_zone(
    observation: &serde_json::Value,
    fallback: Option<&str>,
) -> Option<RuleZone> {
    let console = observation
        .get("console")
        .and_then(|c| c.get("timezone"))
        .and_then(serde_json::Value::as_str)
        .map(str::trim)
        .filter(|z| !z.is_empty());
    let name = console.or(fallback.map(str::trim).filter(|z| !z.is_empty()))?;
    Some(RuleZone {
        name: name.to_string(),
        zone: zone_of(name),
    })
}

/// The console's allowed clock skew in seconds (`observation.console.max_clock_skew_seconds`,
/// a number ≥ 0), when the probe names one.
pub(crate) fn console_skew(observation: &serde_json::Value) -> Option<f64> {
    observation
        .get("console")?
        .get("max_clock_skew_seconds")?
        .as_f64()
        .filter(|s| s.is_finite() && *s >= 0.0)
}

fn current_zone() -> Option<RuleZone> {
    with_state(|s| s.zone.clone()).flatten()
}

/// "zone Asia/Shanghai", for messages about times.
fn zone_text() -> String {
    match current_zone() {
        Some(z) => format!("zone {}", z.name),
        None => "no console time zone set".to_string(),
    }
}

/// Why a text is not a time.
enum TimeTextError {
    /// Not a time at all.
    NotATime,
    /// A local time, but no (valid) zone to read it in: the reason.
    NoZone(String),
}

/// A time written as text: RFC 3339 (with its offset), or a local time without an offset read
/// in the evaluation's zone — never silently as UTC.
fn read_time_text(text: &str) -> Result<DateTime<Utc>, TimeTextError> {
    if let Some(t) = parse_rfc3339(text) {
        return Ok(t);
    }
    let Some(naive) = parse_naive(text) else {
        return Err(TimeTextError::NotATime);
    };
    match current_zone() {
        Some(RuleZone {
            zone: Some(zone), ..
        }) => zone_to_utc(&zone, naive).ok_or(TimeTextError::NotATime),
        Some(RuleZone { name, zone: None }) => Err(TimeTextError::NoZone(format!(
            "the console's time zone '{name}' is not a time zone patrol knows"
        ))),
        None => Err(TimeTextError::NoZone(
            "no console time zone is set to read it in (it is not read as UTC)".to_string(),
        )),
    }
}

pub(crate) fn parse_with_format(text: &str, format: &str, zone: &str) -> Res<DateTime<Utc>> {
    // A format with its own offset (%z, %:z) names the instant by itself.
    if let Ok(t) = DateTime::parse_from_str(text.trim(), format) {
        return Ok(t.with_timezone(&Utc));
    }
    let zone = parse_zone(zone)?;
    let naive = match NaiveDateTime::parse_from_str(text.trim(), format) {
        Ok(n) => n,
        Err(e) => {
            // A date-only format is midnight.
            match chrono::NaiveDate::parse_from_str(text.trim(), format) {
                Ok(d) => d.and_hms_opt(0, 0, 0).unwrap_or_default(),
                Err(_) => return err(format!("cannot read '{text}' as '{format}': {e}")),
            }
        }
    };
    zone_to_utc(&zone, naive).map_or_else(
        || err(format!("local time '{text}' cannot be placed in its zone")),
        Ok,
    )
}

/// A time argument: Time, RFC 3339 string or Unix seconds.
pub(crate) fn to_time(d: &Dynamic) -> Res<DateTime<Utc>> {
    if let Some(t) = d.read_lock::<RuleTime>() {
        return Ok(t.0);
    }
    if let Ok(s) = d.as_immutable_string_ref() {
        return match read_time_text(&s) {
            Ok(t) => Ok(t),
            Err(TimeTextError::NotATime) => err(format!(
                "cannot read '{}' as a time (RFC 3339, or YYYY-MM-DD HH:MM:SS in the console's zone)",
                s.as_str()
            )),
            Err(TimeTextError::NoZone(why)) => {
                problem(format!("time '{}' has no UTC offset and {why}", s.as_str()))
            }
        };
    }
    if let Some(secs) = number(d) {
        return from_unix(secs);
    }
    err(format!(
        "expected a time (Time, RFC 3339 string or Unix seconds), got {}",
        d.type_name()
    ))
}

fn from_unix(secs: f64) -> Res<DateTime<Utc>> {
    if !secs.is_finite() {
        return err("Unix time is not a finite number");
    }
    let whole = secs.floor();
    let nanos = ((secs - whole) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
        .map_or_else(|| err(format!("Unix time {secs} is out of range")), Ok)
}

fn secs_between(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

fn shift(t: RuleTime, secs: f64) -> Res<RuleTime> {
    if !secs.is_finite() {
        return err("cannot shift a time by a non-finite number of seconds");
    }
    let delta = chrono::TimeDelta::try_milliseconds((secs * 1000.0).round() as i64);
    delta
        .and_then(|d| t.0.checked_add_signed(d))
        .map(RuleTime)
        .map_or_else(|| err("time out of range"), Ok)
}

fn format_in(t: DateTime<Utc>, format: &str, zone: Option<&str>) -> Res<String> {
    use chrono::format::{Item, StrftimeItems};
    // Reject bad formats up front: chrono's Display would panic on them.
    if StrftimeItems::new(format).any(|i| matches!(i, Item::Error)) {
        return err(format!("invalid time format '{format}'"));
    }
    let mut out = String::new();
    let res = match zone.map(parse_zone).transpose()? {
        None => write!(out, "{}", t.format(format)),
        Some(Zone::Named(tz)) => write!(out, "{}", t.with_timezone(&tz).format(format)),
        Some(Zone::Fixed(off)) => write!(out, "{}", t.with_timezone(&off).format(format)),
    };
    match res {
        Ok(()) => Ok(out),
        Err(_) => err(format!("cannot format time with '{format}'")),
    }
}

fn register_time(engine: &mut Engine) {
    engine.register_type_with_name::<RuleTime>("Time");
    let show = |t: &mut RuleTime| -> String { t.0.to_rfc3339_opts(SecondsFormat::AutoSi, true) };
    engine.register_fn("to_string", show);
    engine.register_fn("to_debug", show);
    engine.register_get("unix", |t: &mut RuleTime| -> INT { t.0.timestamp() });

    engine.register_fn("==", |a: RuleTime, b: RuleTime| a == b);
    engine.register_fn("!=", |a: RuleTime, b: RuleTime| a != b);
    engine.register_fn("<", |a: RuleTime, b: RuleTime| a < b);
    engine.register_fn("<=", |a: RuleTime, b: RuleTime| a <= b);
    engine.register_fn(">", |a: RuleTime, b: RuleTime| a > b);
    engine.register_fn(">=", |a: RuleTime, b: RuleTime| a >= b);
    engine.register_fn("-", |a: RuleTime, b: RuleTime| -> FLOAT {
        secs_between(b.0, a.0)
    });
    engine.register_fn("+", |a: RuleTime, s: INT| shift(a, s as f64));
    engine.register_fn("+", |a: RuleTime, s: FLOAT| shift(a, s));
    engine.register_fn("-", |a: RuleTime, s: INT| shift(a, -(s as f64)));
    engine.register_fn("-", |a: RuleTime, s: FLOAT| shift(a, -s));

    engine.register_fn("parse_time", |text: &str| -> Res<RuleTime> {
        to_time(&Dynamic::from(ImmutableString::from(text))).map(RuleTime)
    });
    engine.register_fn(
        "parse_time",
        |text: &str, format: &str, zone: &str| -> Res<RuleTime> {
            parse_with_format(text, format, zone).map(RuleTime)
        },
    );
    engine.register_fn(
        "parse_local_time",
        |text: &str, zone: &str| -> Res<RuleTime> { parse_local(text, zone).map(RuleTime) },
    );
    engine.register_fn("from_unix", |secs: Dynamic| -> Res<RuleTime> {
        match number(&secs) {
            Some(s) => from_unix(s).map(RuleTime),
            None => err(format!(
                "from_unix needs a number, got {}",
                secs.type_name()
            )),
        }
    });
    engine.register_fn("format_time", |t: Dynamic, format: &str| -> Res<String> {
        format_in(to_time(&t)?, format, None)
    });
    engine.register_fn(
        "format_time",
        |t: Dynamic, format: &str, zone: &str| -> Res<String> {
            format_in(to_time(&t)?, format, Some(zone))
        },
    );

    engine.register_fn("seconds_since", |t: Dynamic| -> Res<FLOAT> {
        Ok(secs_between(to_time(&t)?, current_now()))
    });
    engine.register_fn("hours_since", |t: Dynamic| -> Res<FLOAT> {
        Ok(secs_between(to_time(&t)?, current_now()) / 3600.0)
    });
    engine.register_fn("days_since", |t: Dynamic| -> Res<FLOAT> {
        Ok(secs_between(to_time(&t)?, current_now()) / 86400.0)
    });
    engine.register_fn("seconds_until", |t: Dynamic| -> Res<FLOAT> {
        Ok(secs_between(current_now(), to_time(&t)?))
    });
    engine.register_fn("hours_until", |t: Dynamic| -> Res<FLOAT> {
        Ok(secs_between(current_now(), to_time(&t)?) / 3600.0)
    });
    engine.register_fn("days_until", |t: Dynamic| -> Res<FLOAT> {
        Ok(secs_between(current_now(), to_time(&t)?) / 86400.0)
    });
}

fn num_arg(name: &str, d: &Dynamic) -> Res<f64> {
    number(d).map_or_else(
        || err(format!("{name} needs numbers, got {}", d.type_name())),
        Ok,
    )
}

/// `100 * part / whole`, 0 when `whole` is 0.
pub fn percent(part: f64, whole: f64) -> f64 {
    if whole == 0.0 {
        0.0
    } else {
        100.0 * part / whole
    }
}

/// `17179869184` → `16.0 GiB`.
pub fn human_bytes(bytes: f64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let sign = if bytes < 0.0 { "-" } else { "" };
    let mut v = bytes.abs();
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{sign}{v:.0} B")
    } else {
        format!("{sign}{v:.1} {}", UNITS[unit])
    }
}

/// `93784` → `1d 2h`: the two largest units.
pub fn human_duration(seconds: f64) -> String {
    if !seconds.is_finite() {
        return seconds.to_string();
    }
    let sign = if seconds < 0.0 { "-" } else { "" };
    let total = seconds.abs().round() as u64;
    let (d, h, m, s) = (
        total / 86400,
        total % 86400 / 3600,
        total % 3600 / 60,
        total % 60,
    );
    let text = if d > 0 {
        if h > 0 {
            format!("{d}d {h}h")
        } else {
            format!("{d}d")
        }
    } else if h > 0 {
        if m > 0 {
            format!("{h}h {m}m")
        } else {
            format!("{h}h")
        }
    } else if m > 0 {
        if s > 0 {
            format!("{m}m {s}s")
        } else {
            format!("{m}m")
        }
    } else {
        format!("{s}s")
    };
    format!("{sign}{text}")
}

fn register_numbers(engine: &mut Engine) {
    engine.register_fn("percent", |part: Dynamic, whole: Dynamic| -> Res<FLOAT> {
        Ok(percent(
            num_arg("percent", &part)?,
            num_arg("percent", &whole)?,
        ))
    });
    engine.register_fn("round_to", |x: Dynamic, digits: INT| -> Res<FLOAT> {
        let x = num_arg("round_to", &x)?;
        let f = 10f64.powi(digits.clamp(0, 15) as i32);
        Ok((x * f).round() / f)
    });
    engine.register_fn("fmt_num", |x: Dynamic, digits: INT| -> Res<String> {
        let x = num_arg("fmt_num", &x)?;
        Ok(format!("{:.*}", digits.clamp(0, 15) as usize, x))
    });
    engine.register_fn("human_bytes", |x: Dynamic| -> Res<String> {
        Ok(human_bytes(num_arg("human_bytes", &x)?))
    });
    engine.register_fn("human_duration", |x: Dynamic| -> Res<String> {
        Ok(human_duration(num_arg("human_duration", &x)?))
    });
    engine.register_fn("join", |items: &mut Array, sep: &str| -> Res<String> {
        let mut out = String::new();
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(&message_text(item));
        }
        Ok(out)
    });
}

/// A straight line fitted to (days from now, value) points.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Trend {
    /// Change of the value per day.
    pub slope_per_day: f64,
    /// The fitted value at `now` (x = 0).
    pub intercept: f64,
    /// How many points were fitted.
    pub points: usize,
    /// Coefficient of determination, 0–1 (1 when the values do not vary).
    pub r2: f64,
}

impl Trend {
    /// Least-squares fit of `(x, y)` points; `None` with fewer than 2 points or all at one x.
    pub fn fit(points: &[(f64, f64)]) -> Option<Trend> {
        let n = points.len();
        if n < 2 {
            return None;
        }
        let nf = n as f64;
        let mx = points.iter().map(|p| p.0).sum::<f64>() / nf;
        let my = points.iter().map(|p| p.1).sum::<f64>() / nf;
        let (mut sxx, mut sxy, mut syy) = (0.0, 0.0, 0.0);
        for (x, y) in points {
            sxx += (x - mx) * (x - mx);
            sxy += (x - mx) * (y - my);
            syy += (y - my) * (y - my);
        }
        if sxx <= f64::EPSILON {
            return None;
        }
        let slope = sxy / sxx;
        let r2 = if syy <= f64::EPSILON {
            1.0
        } else {
            (sxy * sxy) / (sxx * syy)
        };
        Some(Trend {
            slope_per_day: slope,
            intercept: my - slope * mx,
            points: n,
            r2,
        })
    }

    /// Days from x = 0 until the line reaches `target`, starting from `base` (the current
    /// value) if given, else from the intercept. `Some(0)` if already there; `None` if the
    /// line is flat or moves away from `target`.
    pub fn days_until(&self, target: f64, base: Option<f64>) -> Option<f64> {
        let base = base.unwrap_or(self.intercept);
        let gap = target - base;
        if gap == 0.0 {
            return Some(0.0);
        }
        if self.slope_per_day == 0.0 || !self.slope_per_day.is_finite() {
            return None;
        }
        let days = gap / self.slope_per_day;
        if days >= 0.0 {
            Some(days)
        } else if (gap > 0.0) == (self.slope_per_day < 0.0) {
            // Moving away from the target.
            None
        } else {
            Some(0.0)
        }
    }
}

/// (days from `now`, value) points of `metric` in a Rhai `history` array, plus `current` at now.
fn history_points(history: &[Dynamic], metric: &str, current: Option<f64>) -> Vec<(f64, f64)> {
    let now = current_now();
    let mut points = Vec::with_capacity(history.len() + 1);
    for entry in history {
        let Some(map) = entry.read_lock::<Map>() else {
            continue;
        };
        // `unix` (set on history entries) saves parsing `time`.
        let secs = match map.get("unix").and_then(|u| u.as_int().ok()) {
            Some(unix) => (unix - now.timestamp()) as f64,
            None => match map.get("time").and_then(|t| to_time(t).ok()) {
                Some(time) => secs_between(now, time),
                None => continue,
            },
        };
        let value = map.get("metrics").and_then(|m| {
            m.read_lock::<Map>()
                .and_then(|m| m.get(metric).and_then(number))
        });
        if let Some(v) = value.filter(|v| v.is_finite()) {
            points.push((secs / 86400.0, v));
        }
    }
    if let Some(c) = current.filter(|c| c.is_finite()) {
        points.push((0.0, c));
    }
    points
}

fn trend_dynamic(history: &[Dynamic], metric: &str, current: Option<f64>) -> Dynamic {
    match Trend::fit(&history_points(history, metric, current)) {
        None => Dynamic::UNIT,
        Some(t) => {
            let mut map = Map::new();
            map.insert("slope_per_day".into(), Dynamic::from_float(t.slope_per_day));
            map.insert("intercept".into(), Dynamic::from_float(t.intercept));
            map.insert("points".into(), Dynamic::from_int(t.points as INT));
            map.insert("r2".into(), Dynamic::from_float(t.r2));
            Dynamic::from_map(map)
        }
    }
}

fn days_until_value(history: &[Dynamic], metric: &str, target: f64, current: Option<f64>) -> FLOAT {
    let points = history_points(history, metric, current);
    if points.len() < 3 {
        return -1.0;
    }
    Trend::fit(&points)
        .and_then(|t| t.days_until(target, current))
        .unwrap_or(-1.0)
}

fn register_trend(engine: &mut Engine) {
    engine.register_fn("trend", |h: &mut Array, metric: &str| {
        trend_dynamic(h, metric, None)
    });
    engine.register_fn(
        "trend",
        |h: &mut Array, metric: &str, current: Dynamic| -> Res<Dynamic> {
            let c = num_arg("trend", &current)?;
            Ok(trend_dynamic(h, metric, Some(c)))
        },
    );
    engine.register_fn("predict", |tr: Map, t: Dynamic| -> Res<FLOAT> {
        let get = |k: &str| tr.get(k).and_then(number);
        let (Some(slope), Some(intercept)) = (get("slope_per_day"), get("intercept")) else {
            return err("predict needs a trend (the map trend(...) returns)");
        };
        let days = secs_between(current_now(), to_time(&t)?) / 86400.0;
        Ok(intercept + slope * days)
    });
    engine.register_fn(
        "days_until_value",
        |h: &mut Array, metric: &str, target: Dynamic| -> Res<FLOAT> {
            let target = num_arg("days_until_value", &target)?;
            Ok(days_until_value(h, metric, target, None))
        },
    );
    engine.register_fn(
        "days_until_value",
        |h: &mut Array, metric: &str, target: Dynamic, current: Dynamic| -> Res<FLOAT> {
            let target = num_arg("days_until_value", &target)?;
            let current = num_arg("days_until_value", &current)?;
            Ok(days_until_value(h, metric, target, Some(current)))
        },
    );
}

/// How far in the future a time that should be past may lie when the check sets no
/// `max_clock_skew` param: clocks are never perfectly in step.
const DEFAULT_MAX_CLOCK_SKEW_SECS: f64 = 300.0;

/// Seconds from a number of seconds or a duration text (`"5m"`, `"6h"`, `"2d"`, `"1h 30m"`).
fn seconds_of(v: &Dynamic) -> Option<f64> {
    if let Some(n) = number(v) {
        return (n.is_finite() && n >= 0.0).then_some(n);
    }
    let text = v.clone().into_immutable_string().ok()?;
    humantime::parse_duration(text.trim())
        .ok()
        .map(|d| d.as_secs_f64())
}

/// The check's param `name`, unless missing or null.
fn param_value(name: &str) -> Option<Dynamic> {
    with_state(|s| {
        s.params
            .read_lock::<Map>()
            .and_then(|m| m.get(name).cloned())
    })
    .flatten()
    .filter(|v| !v.is_unit())
}

fn param_seconds(name: &str, default: &Dynamic) -> Res<FLOAT> {
    // The console knows its own clock's skew: it is the default of `max_clock_skew`.
    if name == "max_clock_skew"
        && param_value(name).is_none()
        && let Some(console) = with_state(|s| s.console_skew).flatten()
    {
        return Ok(console);
    }
    match param_value(name) {
        Some(v) => seconds_of(&v).map_or_else(
            || {
                err(format!(
                    "param '{name}' must be seconds or a duration like \"6h\" or \"2d\", got {}",
                    show(&v)
                ))
            },
            Ok,
        ),
        None => seconds_of(default).map_or_else(
            || {
                err(format!(
                    "param_seconds(\"{name}\", …): the default must be seconds or a duration like \"6h\""
                ))
            },
            Ok,
        ),
    }
}

/// A value as a message shows it: texts quoted and cut, lists and maps by kind.
fn show(v: &Dynamic) -> String {
    if v.is_unit() {
        return "null".into();
    }
    if v.is_string() {
        let text = v.to_string();
        let cut: String = text.chars().take(60).collect();
        let more = if cut.len() < text.len() { "…" } else { "" };
        return format!("{cut:?}{more}");
    }
    if let Some(a) = v.read_lock::<Array>() {
        return format!("a list of {}", a.len());
    }
    if v.is_map() {
        return "a map".into();
    }
    v.to_string()
}

/// `hosts[2].rpo_target_seconds`: where the rule says the map sits, then the path in it.
fn subject(place: &str, path: &str) -> String {
    match (place.is_empty(), path.is_empty()) {
        (true, true) => "value".into(),
        (true, false) => path.into(),
        (false, true) => place.into(),
        (false, false) => format!("{place}.{path}"),
    }
}

/// `"app03: "` when the map has a `name` (else a `display_name`, `id` or `resource_id`), so
/// the operator knows which item.
fn who(root: &Dynamic) -> String {
    let Some(map) = root.read_lock::<Map>() else {
        return String::new();
    };
    for key in ["name", "display_name", "id", "resource_id"] {
        if let Some(v) = map.get(key)
            && (v.is_string() || v.is_int())
        {
            let text = v.to_string();
            if !text.is_empty() {
                return format!("{text}: ");
            }
        }
    }
    String::new()
}

/// A data problem about `path` of `root`: `"app03: hosts[2].rpo_target_seconds missing"`.
fn about<T>(root: &Dynamic, place: &str, path: &str, predicate: &str) -> Res<T> {
    problem(format!("{}{} {predicate}", who(root), subject(place, path)))
}

/// Walks the dot-separated `keys` from `cur`; `walked` is the path so far (for messages).
fn walk(
    root: &Dynamic,
    place: &str,
    cur: &Dynamic,
    keys: &[&str],
    walked: &str,
) -> Res<Option<Dynamic>> {
    let Some((key, rest)) = keys.split_first() else {
        return Ok((!cur.is_unit()).then(|| cur.clone()));
    };
    if cur.is_unit() {
        return about(root, place, walked, "is null");
    }
    let Some(map) = cur.read_lock::<Map>() else {
        return about(root, place, walked, &format!("is not a map: {}", show(cur)));
    };
    let here = if walked.is_empty() {
        (*key).to_string()
    } else {
        format!("{walked}.{key}")
    };
    match map.get(*key) {
        None => about(root, place, &here, "missing"),
        Some(next) => walk(root, place, next, rest, &here),
    }
}

/// The value at `path` in `root`: `None` for null; a data problem when a key is absent.
fn lookup(root: &Dynamic, path: &str, place: &str) -> Res<Option<Dynamic>> {
    let keys: Vec<&str> = path.split('.').collect();
    walk(root, place, root, &keys, "")
}

fn required(root: &Dynamic, path: &str, place: &str) -> Res<Dynamic> {
    match lookup(root, path, place)? {
        Some(v) => Ok(v),
        None => about(root, place, path, "is null"),
    }
}

/// A number ≥ 0, as it came (int or float).
fn check_num(root: &Dynamic, path: &str, place: &str, v: Dynamic) -> Res<Dynamic> {
    match number(&v) {
        Some(n) if n.is_finite() && n >= 0.0 => Ok(v),
        Some(n) if n < 0.0 => about(root, place, path, &format!("is negative: {v}")),
        _ => about(root, place, path, &format!("is not a number: {}", show(&v))),
    }
}

/// How far in the future a past event may lie: the check's `max_clock_skew` param, else the
/// console's, else 5 minutes.
fn max_clock_skew() -> Res<f64> {
    param_seconds(
        "max_clock_skew",
        &Dynamic::from_float(DEFAULT_MAX_CLOCK_SKEW_SECS),
    )
}

/// A time (a Time, RFC 3339, or a local time in the console's zone); with `past`, one more
/// than `max_clock_skew` ahead of `now` is a data problem naming the value and the zone.
fn check_time(root: &Dynamic, path: &str, place: &str, v: Dynamic, past: bool) -> Res<RuleTime> {
    let (t, text) = if let Some(t) = v.read_lock::<RuleTime>() {
        (t.0, t.0.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    } else if v.is_string() {
        let text = v.to_string();
        match read_time_text(&text) {
            Ok(t) => (t, text),
            Err(TimeTextError::NotATime) => {
                return about(root, place, path, &format!("is not a time: {}", show(&v)));
            }
            Err(TimeTextError::NoZone(why)) => {
                return about(
                    root,
                    place,
                    path,
                    &format!("{text} has no UTC offset and {why}"),
                );
            }
        }
    } else {
        return about(root, place, path, &format!("is not a time: {}", show(&v)));
    };
    if past {
        let ahead = secs_between(current_now(), t);
        if ahead > max_clock_skew()? {
            return about(
                root,
                place,
                path,
                &format!(
                    "{text} is {} in the future ({}): clock or time zone wrong?",
                    human_duration(ahead),
                    zone_text()
                ),
            );
        }
    }
    Ok(RuleTime(t))
}

/// A count from a `total` field: a whole number ≥ 0, or such a number as text.
fn count_of(v: &Dynamic) -> Option<u64> {
    if let Ok(i) = v.as_int() {
        return u64::try_from(i).ok();
    }
    if let Ok(f) = v.as_float() {
        return (f >= 0.0 && f.fract() == 0.0 && f < 1e18).then_some(f as u64);
    }
    v.clone()
        .into_immutable_string()
        .ok()
        .and_then(|s| s.trim().parse().ok())
}

fn check_list(root: &Dynamic, path: &str, place: &str) -> Res<Array> {
    let v = required(root, path, place)?;
    let Some(items) = v.read_lock::<Array>().map(|a| a.clone()) else {
        return about(root, place, path, &format!("is not a list: {}", show(&v)));
    };
    // A list answer is a map with a `total` (the console's count over all pages) and this one
    // list; a map with other lists beside it is something else and its `total` may not count
    // this list.
    let (parent, last) = match path.rsplit_once('.') {
        Some((p, l)) => (lookup(root, p, place)?.unwrap_or(Dynamic::UNIT), l),
        None => (root.clone(), path),
    };
    let total = parent.read_lock::<Map>().and_then(|m| {
        let lists = m.values().filter(|v| v.is_array()).count();
        if lists == 1 {
            m.get("total").and_then(count_of)
        } else {
            None
        }
    });
    if let Some(total) = total
        && (items.len() as u64) < total
    {
        return problem(format!(
            "{}{}: the console says {total} {last}, got {}",
            who(root),
            subject(place, path),
            items.len()
        ));
    }
    Ok(items)
}

/// Registers `name(map, path)` and `name(map, path, place)` for one checker.
fn register_need<T: Clone + Send + Sync + 'static>(
    engine: &mut Engine,
    name: &str,
    check: fn(&Dynamic, &str, &str) -> Res<T>,
) {
    engine.register_fn(name, move |root: &mut Dynamic, path: &str| -> Res<T> {
        check(root, path, "")
    });
    engine.register_fn(
        name,
        move |root: &mut Dynamic, path: &str, place: &str| -> Res<T> { check(root, path, place) },
    );
}

fn register_data(engine: &mut Engine) {
    engine.register_type_with_name::<DataProblem>("DataProblem");
    engine.register_fn("to_string", |p: &mut DataProblem| p.0.clone());
    engine.register_fn("to_debug", |p: &mut DataProblem| p.0.clone());

    register_need(engine, "need", required);
    register_need(engine, "maybe", |root, path, place| {
        Ok(lookup(root, path, place)?.unwrap_or(Dynamic::UNIT))
    });
    register_need(engine, "need_num", |root, path, place| {
        let v = required(root, path, place)?;
        check_num(root, path, place, v)
    });
    register_need(engine, "maybe_num", |root, path, place| {
        match lookup(root, path, place)? {
            None => Ok(Dynamic::UNIT),
            Some(v) => check_num(root, path, place, v),
        }
    });
    register_need(engine, "need_str", |root, path, place| {
        let v = required(root, path, place)?;
        match v.clone().into_immutable_string() {
            Ok(s) => Ok(s),
            Err(_) => about(root, place, path, &format!("is not a text: {}", show(&v))),
        }
    });
    register_need(engine, "need_bool", |root, path, place| {
        let v = required(root, path, place)?;
        match v.as_bool() {
            Ok(b) => Ok(b),
            Err(_) => about(
                root,
                place,
                path,
                &format!("is not true/false: {}", show(&v)),
            ),
        }
    });
    register_need(engine, "need_map", |root, path, place| {
        let v = required(root, path, place)?;
        match v.read_lock::<Map>().map(|m| m.clone()) {
            Some(m) => Ok(m),
            None => about(root, place, path, &format!("is not a map: {}", show(&v))),
        }
    });
    register_need(engine, "need_list", check_list);
    register_need(engine, "need_str_list", |root, path, place| {
        let items = check_list(root, path, place)?;
        for (i, item) in items.iter().enumerate() {
            if !item.is_string() {
                let at = format!("{}[{i}]", subject(place, path));
                return about(root, &at, "", &format!("is not a text: {}", show(item)));
            }
        }
        Ok(items)
    });
    register_need(engine, "need_time", |root, path, place| {
        let v = required(root, path, place)?;
        check_time(root, path, place, v, false)
    });
    register_need(engine, "need_past_time", |root, path, place| {
        let v = required(root, path, place)?;
        check_time(root, path, place, v, true)
    });
    register_need(engine, "maybe_time", |root, path, place| {
        match lookup(root, path, place)? {
            None => Ok(Dynamic::UNIT),
            Some(v) => check_time(root, path, place, v, false).map(Dynamic::from),
        }
    });
    register_need(
        engine,
        "maybe_past_time",
        |root, path, place| match lookup(root, path, place)? {
            None => Ok(Dynamic::UNIT),
            Some(v) => check_time(root, path, place, v, true).map(Dynamic::from),
        },
    );

    engine.register_fn("cannot_judge", |message: Dynamic| -> Res<()> {
        problem(message_text(&message).to_string())
    });
    engine.register_fn("time_zone", || -> ImmutableString {
        current_zone().map(|z| z.name.into()).unwrap_or_default()
    });
    engine.register_fn("param_seconds", |name: &str, default: Dynamic| {
        param_seconds(name, &default)
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        parse_rfc3339(s).unwrap()
    }

    #[test]
    fn local_time_across_berlin_spring_forward() {
        // 2026-03-29: Europe/Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC).
        let before = parse_local("2026-03-29 01:30:00", "Europe/Berlin").unwrap();
        assert_eq!(before, utc("2026-03-29T00:30:00Z"));
        let after = parse_local("2026-03-29 03:30:00", "Europe/Berlin").unwrap();
        assert_eq!(after, utc("2026-03-29T01:30:00Z"));
        // Wall clock says 2h apart; only 1h passed.
        assert_eq!(secs_between(before, after), 3600.0);
        // 02:30 does not exist that day: read with the offset before the change (+01:00).
        let gap = parse_local("2026-03-29 02:30:00", "Europe/Berlin").unwrap();
        assert_eq!(gap, utc("2026-03-29T01:30:00Z"));
    }

    #[test]
    fn local_time_across_berlin_fall_back() {
        // 2026-10-25: 03:00 CEST → 02:00 CET; 02:30 happens twice, the first one wins.
        let t = parse_local("2026-10-25 02:30", "Europe/Berlin").unwrap();
        assert_eq!(t, utc("2026-10-25T00:30:00Z"));
        let t = parse_with_format("25.10.2026 03:30", "%d.%m.%Y %H:%M", "Europe/Berlin").unwrap();
        assert_eq!(t, utc("2026-10-25T02:30:00Z"));
    }

    #[test]
    fn formats_and_zones() {
        let t = parse_local("2026-03-29 09:30:00", "Asia/Shanghai").unwrap();
        assert_eq!(t, utc("2026-03-29T01:30:00Z"));
        let t = parse_local("2026-03-29 09:30", "+08:00").unwrap();
        assert_eq!(t, utc("2026-03-29T01:30:00Z"));
        let t =
            parse_with_format("2026-03-29 09:30:00 +0800", "%Y-%m-%d %H:%M:%S %z", "UTC").unwrap();
        assert_eq!(t, utc("2026-03-29T01:30:00Z"));
        assert!(parse_local("yesterday", "UTC").is_err());
        assert!(parse_local("2026-03-29 09:30", "Mars/Olympus").is_err());
        assert_eq!(
            format_in(
                utc("2026-03-29T01:30:00Z"),
                "%H:%M %Z",
                Some("Europe/Berlin")
            )
            .unwrap(),
            "03:30 CEST"
        );
        assert!(format_in(utc("2026-03-29T01:30:00Z"), "%Q", None).is_err());
        assert_eq!(
            parse_rfc3339("2026-03-29 09:30:00+08:00"),
            Some(utc("2026-03-29T01:30:00Z"))
        );
    }

    #[test]
    fn trend_fit_is_least_squares() {
        // y = 2x + 10 exactly.
        let t = Trend::fit(&[(-3.0, 4.0), (-2.0, 6.0), (-1.0, 8.0), (0.0, 10.0)]).unwrap();
        assert!((t.slope_per_day - 2.0).abs() < 1e-12);
        assert!((t.intercept - 10.0).abs() < 1e-12);
        assert!((t.r2 - 1.0).abs() < 1e-12);
        assert_eq!(t.points, 4);
        assert!((t.days_until(20.0, None).unwrap() - 5.0).abs() < 1e-12);
        assert!((t.days_until(20.0, Some(12.0)).unwrap() - 4.0).abs() < 1e-12);
        assert_eq!(
            t.days_until(5.0, None),
            None,
            "moving away from a lower target"
        );
        assert_eq!(t.days_until(5.0, Some(30.0)), None);
        // Noisy points: slope of (0,1),(1,3),(2,2) is 0.5, intercept 1.5.
        let t = Trend::fit(&[(0.0, 1.0), (1.0, 3.0), (2.0, 2.0)]).unwrap();
        assert!((t.slope_per_day - 0.5).abs() < 1e-12);
        assert!((t.intercept - 1.5).abs() < 1e-12);
        assert!(t.r2 < 1.0 && t.r2 > 0.0);
        // Not enough to fit.
        assert_eq!(Trend::fit(&[(0.0, 1.0)]), None);
        assert_eq!(Trend::fit(&[(1.0, 1.0), (1.0, 2.0)]), None);
        // Flat line never reaches.
        let flat = Trend::fit(&[(0.0, 5.0), (1.0, 5.0)]).unwrap();
        assert_eq!(flat.days_until(10.0, None), None);
        assert_eq!(flat.days_until(5.0, None), Some(0.0));
    }

    #[test]
    fn number_helpers() {
        assert_eq!(percent(1.0, 0.0), 0.0);
        assert_eq!(percent(1.0, 4.0), 25.0);
        assert_eq!(human_bytes(17179869184.0), "16.0 GiB");
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_duration(93784.0), "1d 2h");
        assert_eq!(human_duration(45.0), "45s");
        assert_eq!(human_duration(-3600.0), "-1h");
    }
}
