//! Schedule expressions: cron with seconds (6 fields), classic 5-field cron, `@hourly`,
//! `@daily`, `@weekly`, `@monthly`, `@yearly`, and `every <duration>`.
//!
//! Next fire times are computed in the check's own time zone from wall-clock time, so a
//! `0 30 2 * * *` check stays at 02:30 local time on both sides of a DST change.

use super::types::Dur;
use chrono::{DateTime, TimeZone, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

#[derive(Clone)]
pub enum ScheduleExpr {
    Cron { source: String, cron: Box<Cron> },
    Every { source: String, every: Duration },
}

impl ScheduleExpr {
    /// `0 0 8 * * *`.
    pub fn daily_at_eight() -> ScheduleExpr {
        match "0 0 8 * * *".parse() {
            Ok(s) => s,
            Err(_) => ScheduleExpr::Every {
                source: "every 1d".into(),
                every: Duration::from_secs(86_400),
            },
        }
    }

    pub fn source(&self) -> &str {
        match self {
            ScheduleExpr::Cron { source, .. } | ScheduleExpr::Every { source, .. } => source,
        }
    }

    /// The first fire time strictly after `after`, evaluated in `tz`.
    pub fn next_after<Tz: TimeZone>(&self, after: DateTime<Utc>, tz: &Tz) -> Option<DateTime<Utc>> {
        match self {
            ScheduleExpr::Cron { cron, .. } => cron
                .find_next_occurrence(&after.with_timezone(tz), false)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            ScheduleExpr::Every { every, .. } => {
                // Aligned to the Unix epoch so that restarts keep the same phase.
                let period = every.as_millis().max(1) as i64;
                let now = after.timestamp_millis();
                let next = (now.div_euclid(period) + 1) * period;
                DateTime::from_timestamp_millis(next)
            }
        }
    }

    /// The last fire time at or before `at` (used for misfire catch-up).
    pub fn prev_at_or_before<Tz: TimeZone>(
        &self,
        at: DateTime<Utc>,
        tz: &Tz,
    ) -> Option<DateTime<Utc>> {
        match self {
            ScheduleExpr::Cron { cron, .. } => cron
                .find_previous_occurrence(&at.with_timezone(tz), true)
                .ok()
                .map(|t| t.with_timezone(&Utc)),
            ScheduleExpr::Every { every, .. } => {
                let period = every.as_millis().max(1) as i64;
                let now = at.timestamp_millis();
                DateTime::from_timestamp_millis(now.div_euclid(period) * period)
            }
        }
    }

    /// The typical time between two runs (smallest gap among the next few fire times).
    pub fn nominal_period(&self) -> Duration {
        match self {
            ScheduleExpr::Every { every, .. } => *every,
            ScheduleExpr::Cron { .. } => {
                let mut t = Utc
                    .with_ymd_and_hms(2025, 1, 6, 0, 0, 0)
                    .single()
                    .unwrap_or_default();
                let mut best: Option<Duration> = None;
                for _ in 0..8 {
                    let Some(n) = self.next_after(t, &Utc) else {
                        break;
                    };
                    if let Some(m) = self.next_after(n, &Utc) {
                        let gap = (m - n).to_std().unwrap_or_default();
                        best = Some(best.map_or(gap, |b| b.min(gap)));
                    }
                    t = n;
                }
                best.unwrap_or(Duration::from_secs(86_400))
            }
        }
    }
}

impl FromStr for ScheduleExpr {
    type Err = String;
    fn from_str(s: &str) -> Result<ScheduleExpr, String> {
        let t = s.trim();
        if let Some(d) = t.strip_prefix("every ") {
            let every = d.parse::<Dur>()?.0;
            if every < Duration::from_secs(1) {
                return Err(format!("schedule {s:?}: the period must be at least 1s"));
            }
            return Ok(ScheduleExpr::Every {
                source: t.to_string(),
                every,
            });
        }
        let pattern = match t {
            "@yearly" | "@annually" => "0 0 0 1 1 *",
            "@monthly" => "0 0 0 1 * *",
            "@weekly" => "0 0 0 * * 0",
            "@daily" | "@midnight" => "0 0 0 * * *",
            "@hourly" => "0 0 * * * *",
            other if other.starts_with('@') => {
                return Err(format!(
                    "unknown schedule {s:?}: use @hourly, @daily, @weekly, @monthly, @yearly, cron or `every <duration>`"
                ));
            }
            other => other,
        };
        let fields = pattern.split_whitespace().count();
        if !(5..=6).contains(&fields) {
            return Err(format!(
                "invalid cron {s:?}: expected 5 fields (min hour day month weekday) or 6 (with seconds first), found {fields}"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(pattern)
            .map_err(|e| format!("invalid cron {s:?}: {e}"))?;
        Ok(ScheduleExpr::Cron {
            source: t.to_string(),
            cron: Box::new(cron),
        })
    }
}

impl fmt::Debug for ScheduleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source())
    }
}

impl fmt::Display for ScheduleExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.source())
    }
}

impl<'de> Deserialize<'de> for ScheduleExpr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for ScheduleExpr {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.source())
    }
}

impl JsonSchema for ScheduleExpr {
    fn schema_name() -> Cow<'static, str> {
        "Schedule".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Cron with seconds (`0 30 7 * * *`), 5-field cron (`30 7 * * *`), @hourly/@daily/@weekly/@monthly/@yearly, or `every 10m`."
        })
    }
}
