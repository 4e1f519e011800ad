//! Value types of the configuration that check their own syntax while they are read, so that
//! serde-saphyr reports a bad value at its file:line:column.

use super::interp::interpolate_current;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A string that may contain `${env:..}`, `${file:..}`, `${var:..}` or `${secret:..}`.
/// It keeps its template: printing or serializing a `Text` shows the template, never a secret.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Text {
    value: String,
    template: String,
    secret: bool,
}

impl Text {
    /// A literal text (no interpolation).
    pub fn literal(s: impl Into<String>) -> Text {
        let s = s.into();
        Text {
            value: s.clone(),
            template: s,
            secret: false,
        }
    }
    /// The interpolated value. Do not log it when [`Text::is_secret`].
    pub fn value(&self) -> &str {
        &self.value
    }
    /// The text as written in the file.
    pub fn template(&self) -> &str {
        &self.template
    }
    pub fn is_secret(&self) -> bool {
        self.secret
    }
    /// The value when it holds no secret, else the template.
    pub fn display(&self) -> &str {
        if self.secret {
            &self.template
        } else {
            &self.value
        }
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.display())
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let template = String::deserialize(d)?;
        let r = interpolate_current(&template).map_err(serde::de::Error::custom)?;
        Ok(Text {
            value: r.value,
            template,
            secret: r.uses_secret,
        })
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.display())
    }
}

impl JsonSchema for Text {
    fn schema_name() -> Cow<'static, str> {
        "Text".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A string; may use ${env:NAME}, ${env:NAME:-default}, ${file:PATH}, ${var:name}, ${secret:name}."
        })
    }
}

/// Any YAML value (for `params`), with `${...}` interpolated in every string.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Json {
    pub value: serde_json::Value,
    /// True when a `${secret:...}` was used somewhere inside.
    pub uses_secret: bool,
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(d)?;
        let mut uses_secret = false;
        let value = interpolate_json(raw, &mut uses_secret).map_err(serde::de::Error::custom)?;
        Ok(Json { value, uses_secret })
    }
}

fn interpolate_json(v: serde_json::Value, secret: &mut bool) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => {
            let r = interpolate_current(&s)?;
            *secret |= r.uses_secret;
            Value::String(r.value)
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| interpolate_json(i, secret))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, interpolate_json(v, secret)?)))
                .collect::<Result<_, String>>()?,
        ),
        other => other,
    })
}

impl JsonSchema for Json {
    fn schema_name() -> Cow<'static, str> {
        "AnyValue".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "description": "Any value; strings may use ${...} references." })
    }
}

/// A value written either as a whole number or as text (`30` or `"30s"`, `3` or `"3 of 5"`),
/// returned as text for the caller's own parser.
pub fn number_or_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::N(n) => n.to_string(),
        Raw::S(s) => s,
    })
}

/// A duration written as `30s`, `5m`, `1h30m`, `2d` (or a number of seconds).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Dur(pub Duration);

impl Dur {
    pub fn secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
    pub fn as_duration(self) -> Duration {
        self.0
    }
}

impl fmt::Debug for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// The longest duration written anywhere (ten years): beyond it no setting means anything,
/// and clocks and timers would overflow. Settings have tighter ranges (`config::bounds`).
pub const MAX_DURATION: Duration = Duration::from_secs(3650 * 86_400);

impl FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Dur, String> {
        let t = s.trim();
        let d = match t.parse::<u64>() {
            Ok(n) => Duration::from_secs(n),
            Err(_) => humantime::parse_duration(t).map_err(|e| {
                format!("invalid duration {s:?}: {e} (write e.g. 30s, 5m, 1h30m, 2d)")
            })?,
        };
        if d > MAX_DURATION {
            return Err(format!(
                "invalid duration {s:?}: longer than 3650d (ten years)"
            ));
        }
        Ok(Dur(d))
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl JsonSchema for Dur {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "A duration: 30s, 5m, 1h30m, 2d, or a number of seconds.",
            "anyOf": [
                {"type": "string", "pattern": "^\\s*([0-9]+\\s*[a-zA-Z]+\\s*)+$"},
                {"type": "integer", "minimum": 0}
            ]
        })
    }
}

/// An IANA time zone name such as `Asia/Shanghai` or `UTC`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Zone(pub chrono_tz::Tz);

impl Default for Zone {
    fn default() -> Zone {
        Zone(chrono_tz::UTC)
    }
}

impl FromStr for Zone {
    type Err = String;
    fn from_str(s: &str) -> Result<Zone, String> {
        s.parse::<chrono_tz::Tz>().map(Zone).map_err(|_| {
            format!("unknown time zone {s:?} (use an IANA name such as Europe/Berlin or UTC)")
        })
    }
}

impl<'de> Deserialize<'de> for Zone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for Zone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl JsonSchema for Zone {
    fn schema_name() -> Cow<'static, str> {
        "TimeZone".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "string", "description": "IANA time zone name, e.g. Asia/Shanghai."})
    }
}

/// What to do about a run that was due while the daemon was not running.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Misfire {
    /// Run once at start-up to catch up (default for daily and longer schedules).
    RunOnce,
    /// Wait for the next scheduled time (default for schedules shorter than a day).
    Skip,
}

/// The most runs `after:` may count (`1000`, `"3 of 1000"`).
pub const MAX_AFTER: u32 = 1000;

/// `after:` of an alerting policy — N non-OK runs among the last M (`3`, or `"3 of 5"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct After {
    /// Non-OK runs needed...
    pub n: u32,
    /// ...among this many recent runs (`n` when written as a plain number).
    pub of: u32,
}

impl Default for After {
    fn default() -> Self {
        After { n: 1, of: 1 }
    }
}

impl FromStr for After {
    type Err = String;
    fn from_str(text: &str) -> Result<After, String> {
        let t = text.trim();
        let parse = |s: &str| {
            s.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_AFTER).contains(n))
                .ok_or_else(|| {
                    format!(
                        "invalid `after` {text:?}: write a number from 1 to {MAX_AFTER} like 3, or \"3 of 5\""
                    )
                })
        };
        match t.split_once(" of ") {
            Some((n, m)) => {
                let (n, m) = (parse(n)?, parse(m)?);
                if n > m {
                    return Err(format!(
                        "invalid `after` {text:?}: {n} of {m} can never happen"
                    ));
                }
                Ok(After { n, of: m })
            }
            None => {
                let n = parse(t)?;
                Ok(After { n, of: n })
            }
        }
    }
}

impl<'de> Deserialize<'de> for After {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number_or_text(d)?.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for After {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.n == self.of {
            s.serialize_u32(self.n)
        } else {
            s.serialize_str(&format!("{} of {}", self.n, self.of))
        }
    }
}

impl JsonSchema for After {
    fn schema_name() -> Cow<'static, str> {
        "After".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "N non-OK runs in a row (3) or among the last M runs (\"3 of 5\").",
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "string", "pattern": "^\\s*[0-9]+\\s+of\\s+[0-9]+\\s*$"}
            ]
        })
    }
}

/// A local time of day written `HH:MM` (a maintenance window's `start`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TimeOfDay(pub chrono::NaiveTime);

impl TimeOfDay {
    pub fn time(self) -> chrono::NaiveTime {
        self.0
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.format("%H:%M"))
    }
}

impl FromStr for TimeOfDay {
    type Err = String;
    fn from_str(s: &str) -> Result<TimeOfDay, String> {
        chrono::NaiveTime::parse_from_str(s.trim(), "%H:%M")
            .map(TimeOfDay)
            .map_err(|_| format!("invalid start time {s:?}: write HH:MM, e.g. 02:30"))
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl JsonSchema for TimeOfDay {
    fn schema_name() -> Cow<'static, str> {
        "TimeOfDay".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "A local time of day, HH:MM (24-hour), e.g. 02:30.",
            "pattern": "^\\s*[0-9]{1,2}:[0-9]{2}\\s*$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_after() {
        assert_eq!("3 of 5".parse(), Ok(After { n: 3, of: 5 }));
        assert_eq!("2".parse(), Ok(After { n: 2, of: 2 }));
        assert!("5 of 3".parse::<After>().is_err());
        assert!("zero".parse::<After>().is_err());
    }

    #[test]
    fn parses_time_of_day() {
        let t: TimeOfDay = " 02:30 ".parse().expect("time");
        assert_eq!(t.to_string(), "02:30");
        assert_eq!(
            "25:00".parse::<TimeOfDay>(),
            Err("invalid start time \"25:00\": write HH:MM, e.g. 02:30".into())
        );
    }
}
