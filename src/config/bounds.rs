//! The range of every duration and count a configuration sets, in one place.
//!
//! A value outside its range is refused while the file is read, so `patrol validate` (and a
//! reload) reports it at its file:line:column, and no value can turn a safeguard off
//! (`timeout: 0s`), run a loop for ever (`retries: 2147483647`) or overflow a clock
//! (`timeout: 999999999999d`). Fields opt in with
//! `#[serde(deserialize_with = "bounds::NAME")]` (`bounds::NAME_opt` for an optional field,
//! which also needs `#[serde(default)]`); their doc comments repeat the range for the
//! reference.
//!
//! Every duration is also capped by [`super::types::MAX_DURATION`] wherever it is written.

use super::types::Dur;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use std::time::Duration;

const MS: Duration = Duration::from_millis(1);
const SEC: Duration = Duration::from_secs(1);
const MIN: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(86_400);

/// `1s`, `24h`, `366d`, `10ms`: the shortest exact form, for range messages.
pub fn short(d: Duration) -> String {
    let s = d.as_secs();
    if !d.subsec_nanos().is_multiple_of(1_000_000) {
        return humantime::format_duration(d).to_string();
    }
    if d.is_zero() {
        return "0s".into();
    }
    if d.subsec_millis() != 0 || s == 0 {
        return format!("{}ms", d.as_millis());
    }
    match s {
        s if s.is_multiple_of(86_400) && s / 86_400 != 1 => format!("{}d", s / 86_400),
        s if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        s if s.is_multiple_of(60) => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

fn check_dur(label: &str, d: Dur, min: Duration, max: Duration) -> Result<Dur, String> {
    if d.0 < min || d.0 > max {
        return Err(format!(
            "{label} {} is out of range: write a duration from {} to {}",
            short(d.0),
            short(min),
            short(max)
        ));
    }
    Ok(d)
}

fn check_count<T: Copy + PartialOrd + std::fmt::Display>(
    label: &str,
    n: T,
    min: T,
    max: T,
) -> Result<T, String> {
    if n < min || n > max {
        return Err(format!(
            "{label} {n} is out of range: write a number from {min} to {max}"
        ));
    }
    Ok(n)
}

/// One bounded duration setting: its deserializers and its range.
macro_rules! durations {
    ($($(#[$doc:meta])* $name:ident, $opt:ident: $label:literal, $min:expr, $max:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<Dur, D::Error> {
                check_dur($label, Dur::deserialize(d)?, $min, $max).map_err(D::Error::custom)
            }
            /// The same, for an optional field (which also needs `#[serde(default)]`).
            pub fn $opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Dur>, D::Error> {
                $name(d).map(Some)
            }
        )*
        /// Every bounded duration: (setting, shortest, longest), for documentation and tests.
        pub const DURATIONS: &[(&str, Duration, Duration)] = &[$(($label, $min, $max)),*];
    };
}

/// One bounded count setting: its deserializer and its range.
macro_rules! counts {
    ($($(#[$doc:meta])* $name:ident: $ty:ty, $label:literal, $min:expr, $max:expr;)*) => {
        $(
            $(#[$doc])*
            pub fn $name<'de, D: Deserializer<'de>>(d: D) -> Result<$ty, D::Error> {
                check_count($label, <$ty>::deserialize(d)?, $min, $max).map_err(D::Error::custom)
            }
        )*
        /// Every bounded count: (setting, lowest, highest), for documentation and tests.
        pub const COUNTS: &[(&str, u64, u64)] = &[$(($label, $min as u64, $max as u64)),*];
    };
}

durations! {
    /// A check's `timeout`.
    check_timeout, check_timeout_opt: "timeout", SEC, DAY;
    /// A check's `retry_delay`.
    retry_delay, retry_delay_opt: "retry_delay", Duration::ZERO, HOUR;
    /// A probe's or collector's own `timeout` (bounded again by the check's).
    probe_timeout, probe_timeout_opt: "timeout", Duration::from_millis(10), DAY;
    /// `on_failure.window` and log export windows.
    log_window, log_window_opt: "window", MIN, Duration::from_secs(366 * 86_400);
    /// `shutdown_grace`.
    shutdown_grace, shutdown_grace_opt: "shutdown_grace", Duration::ZERO, HOUR;
    /// `group_window`.
    group_window, group_window_opt: "group_window", Duration::ZERO, HOUR;
    /// `store.max_age`.
    store_max_age, store_max_age_opt: "max_age", HOUR, Duration::from_secs(3650 * 86_400);
    /// `web.refresh`.
    web_refresh, web_refresh_opt: "refresh", SEC, HOUR;
    /// `web.header_timeout`.
    web_header_timeout, web_header_timeout_opt: "header_timeout", Duration::from_millis(100), Duration::from_secs(600);
    /// `web.idle_timeout`.
    web_idle_timeout, web_idle_timeout_opt: "idle_timeout", SEC, HOUR;
    /// Timeouts of one network call or delivery (`delivery.timeout`, `self_heartbeat.timeout`,
    /// channel timeouts).
    call_timeout, call_timeout_opt: "timeout", Duration::from_millis(100), HOUR;
    /// Waits before retrying (`delivery.first_backoff`, `self_heartbeat.retry_delay`).
    backoff, backoff_opt: "backoff", Duration::from_millis(100), HOUR;
    /// `delivery.max_backoff`.
    max_backoff, max_backoff_opt: "max_backoff", SEC, DAY;
    /// `delivery.max_age`.
    delivery_max_age, delivery_max_age_opt: "max_age", MIN, Duration::from_secs(30 * 86_400);
    /// `rule_limits.timeout`.
    rule_timeout, rule_timeout_opt: "rule_limits.timeout", RULE_TIMEOUT.0, RULE_TIMEOUT.1;
    /// `alerting.repeat`.
    repeat, repeat_opt: "repeat", SEC, Duration::from_secs(366 * 86_400);
    /// A maintenance window's `duration`.
    maintenance, maintenance_opt: "duration", MIN, Duration::from_secs(31 * 86_400);
    /// How long a sample of the system probe takes (`cpu_sample`).
    sample, sample_opt: "cpu_sample", MS, Duration::from_secs(60);
    /// A heartbeat's `period`.
    heartbeat_period, heartbeat_period_opt: "period", SEC, Duration::from_secs(366 * 86_400);
    /// A heartbeat's `grace`.
    heartbeat_grace, heartbeat_grace_opt: "grace", Duration::ZERO, Duration::from_secs(366 * 86_400);
}

counts! {
    /// `concurrency`.
    concurrency: usize, "concurrency", 1, 1024;
    /// `history`.
    history: usize, "history", 0, 1000;
    /// A check's `retries` and `self_heartbeat.retries`.
    retries: u32, "retries", 0, 10;
    /// `alerting.recover_after`.
    recover_after: u32, "recover_after", 1, 1000;
    /// `alerting.flapping.window`.
    flap_window: usize, "window", 2, 1000;
    /// `store.max_runs_per_check`.
    max_runs: u32, "max_runs_per_check", 1, 10_000_000;
    /// `store.max_observation_bytes`.
    observation_bytes: usize, "max_observation_bytes", 1024, 64 << 20;
    /// `web.max_ping_body`.
    ping_body: usize, "max_ping_body", 0, 16 << 20;
    /// `web.max_connections`.
    web_connections: usize, "max_connections", 1, 65_536;
    /// How much output of a program is kept (`max_output_bytes`).
    output_bytes: usize, "max_output_bytes", 0, 16 << 20;
    /// How much of an HTTP body is read (`max_body_bytes`).
    body_bytes: u64, "max_body_bytes", 0, 64u64 << 20;
    /// How many matching lines the log probe keeps (`max_lines`).
    max_lines: usize, "max_lines", 1, 10_000;
    /// Items a sample restore verifies per run (`count`).
    sample_count: usize, "count", 1, 1000;
    /// Collectors run at the same time by a log export (`logs.parallel`).
    parallel: usize, "parallel", 1, 64;
    /// Size caps of log bundles and sources (`max_bundle_bytes`, `max_source_bytes`,
    /// `max_bytes`).
    bundle_bytes: u64, "max_bytes", 1, 1u64 << 40;
    /// `rule_limits.max_operations` (0 would mean unlimited).
    rule_operations: u64, "rule_limits.max_operations", RULE_OPERATIONS.0, RULE_OPERATIONS.1;
    /// `rule_limits.max_string_size` (0 would mean unlimited).
    rule_string: usize, "rule_limits.max_string_size", RULE_STRING.0, RULE_STRING.1;
    /// `rule_limits.max_collection_size` (0 would mean unlimited).
    rule_collection: usize, "rule_limits.max_collection_size", RULE_COLLECTION.0, RULE_COLLECTION.1;
    /// `rule_limits.max_call_levels` (rules run on threads whose stack fits the highest).
    rule_call_levels: usize, "rule_limits.max_call_levels", 1, MAX_CALL_LEVELS;
}

/// A share from 0 to 1 (`alerting.flapping.high`, `low`); NaN is refused.
pub fn share<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = f64::deserialize(d)?;
    if (0.0..=1.0).contains(&x) {
        Ok(x)
    } else {
        Err(D::Error::custom(format!(
            "{x} is out of range: write a share from 0 to 1 (0.5 is half)"
        )))
    }
}

/// A number of days from 0 to 3650 (`warn_days`); NaN is refused.
pub fn days<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let x = f64::deserialize(d)?;
    if (0.0..=3650.0).contains(&x) {
        Ok(x)
    } else {
        Err(D::Error::custom(format!(
            "{x} is out of range: write a number of days from 0 to 3650"
        )))
    }
}

/// `rule_limits.timeout`: (shortest, longest).
pub const RULE_TIMEOUT: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(60));
/// `rule_limits.max_operations`: (lowest, highest).
pub const RULE_OPERATIONS: (u64, u64) = (1000, 1_000_000_000);
/// `rule_limits.max_string_size`: (lowest, highest).
pub const RULE_STRING: (usize, usize) = (1024, 64 << 20);
/// `rule_limits.max_collection_size`: (lowest, highest).
pub const RULE_COLLECTION: (usize, usize) = (16, 10_000_000);

/// The deepest function nesting a rule may be allowed (`rule_limits.max_call_levels`); the
/// rule threads' stacks are sized for it.
pub const MAX_CALL_LEVELS: usize = 1000;

/// The longest and shortest period of `every <duration>` schedules.
pub const MIN_EVERY: Duration = SEC;
pub const MAX_EVERY: Duration = Duration::from_secs(366 * 86_400);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms() {
        assert_eq!(short(SEC), "1s");
        assert_eq!(short(DAY), "24h");
        assert_eq!(short(Duration::from_secs(366 * 86_400)), "366d");
        assert_eq!(short(Duration::from_millis(10)), "10ms");
        assert_eq!(short(Duration::ZERO), "0s");
        assert_eq!(short(Duration::from_secs(90)), "90s");
        assert_eq!(short(Duration::from_secs(60)), "1m");
    }

    #[test]
    fn every_range_is_sane() {
        for (name, lo, hi) in DURATIONS {
            assert!(lo <= hi, "{name}");
            assert!(*hi <= super::super::types::MAX_DURATION, "{name}");
        }
        for (name, lo, hi) in COUNTS {
            assert!(lo <= hi, "{name}");
        }
    }

    #[test]
    fn out_of_range_messages_name_the_range() {
        assert_eq!(
            check_dur("timeout", Dur::secs(0), SEC, DAY).unwrap_err(),
            "timeout 0s is out of range: write a duration from 1s to 24h"
        );
        assert_eq!(
            check_count("retries", 2_147_483_647u32, 0, 10).unwrap_err(),
            "retries 2147483647 is out of range: write a number from 0 to 10"
        );
    }
}
