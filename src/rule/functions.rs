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
//! `rule rules/disk-usage.rhai:12: Property not found: usd_percent`.
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
//! Time, an RFC 3339 string (`"2026-03-29T01:30:00Z"`, `"2026-03-29T09:30:00+08:00"`) or a Unix
//! time in seconds (int or float). Times relative to "now" use the run's `now`.
//!
//! | Function | Returns | Example |
//! |---|---|---|
//! | `parse_time(text)` | Time | `parse_time("2026-03-29T01:30:00Z")` — RFC 3339. |
//! | `parse_time(text, format, zone)` | Time | `parse_time("29/03/2026 02:30", "%d/%m/%Y %H:%M", "Europe/Berlin")` — a local time in a [strftime format](https://docs.rs/chrono/latest/chrono/format/strftime/) and an IANA zone (or an offset like `"+08:00"`). |
//! | `parse_local_time(text, zone)` | Time | `parse_local_time("2026-03-29 09:30:00", "Asia/Shanghai")` — a local time written `YYYY-MM-DD HH:MM[:SS[.fff]]` (a `T` or `/` separators also work). |
//! | `from_unix(seconds)` | Time | `from_unix(1774747800)` |
//! | `format_time(t, format)` | string | `format_time(now, "%Y-%m-%d %H:%M")` — in UTC. |
//! | `format_time(t, format, zone)` | string | `format_time(now, "%H:%M %Z", "Asia/Shanghai")` |
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
enum Zone {
    Named(chrono_tz::Tz),
    Fixed(FixedOffset),
}

fn parse_zone(zone: &str) -> Res<Zone> {
    if let Ok(tz) = zone.parse::<chrono_tz::Tz>() {
        return Ok(Zone::Named(tz));
    }
    if let Ok(off) = zone.parse::<FixedOffset>() {
        return Ok(Zone::Fixed(off));
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

pub(crate) fn parse_local(text: &str, zone: &str) -> Res<DateTime<Utc>> {
    let zone = parse_zone(zone)?;
    let t = text.trim();
    let naive = LOCAL_FORMATS
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(t, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        });
    let Some(naive) = naive else {
        return err(format!(
            "cannot read local time '{text}' (expected YYYY-MM-DD HH:MM:SS)"
        ));
    };
    zone_to_utc(&zone, naive).map_or_else(
        || err(format!("local time '{text}' cannot be placed in its zone")),
        Ok,
    )
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
        return parse_rfc3339(&s).map_or_else(
            || {
                err(format!(
                    "cannot read '{}' as an RFC 3339 time (for a local time use parse_local_time(text, zone))", s.as_str()
                ))
            },
            Ok,
        );
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
        parse_rfc3339(text).map(RuleTime).map_or_else(
            || err(format!("cannot read '{text}' as an RFC 3339 time")),
            Ok,
        )
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
