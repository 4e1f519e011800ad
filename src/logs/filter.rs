//! The time window applied to files (modification time) and to lines (leading timestamps),
//! and unpacking of rotated `.gz` files.

use super::Window;
use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use regex::bytes::Regex;
use std::io::Read;
use std::sync::LazyLock;

/// A file last modified before the window holds nothing from it. A file without a known
/// modification time is kept (its lines are still filtered).
pub fn file_in_window(mtime: Option<DateTime<Utc>>, window: &Window) -> bool {
    mtime.is_none_or(|m| m >= window.from)
}

/// A `.gz` file unpacked, with the `.gz` dropped from its name; anything else unchanged.
/// A file that claims to be gzip but is not is an error.
pub fn unpack(rel: &str, content: Vec<u8>) -> Result<(String, Vec<u8>), String> {
    let is_gz = rel.ends_with(".gz") || content.starts_with(&[0x1f, 0x8b]);
    if !is_gz {
        return Ok((rel.to_string(), content));
    }
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(&content[..])
        .read_to_end(&mut out)
        .map_err(|e| format!("cannot unpack {rel}: {e}"))?;
    let name = rel.strip_suffix(".gz").unwrap_or(rel).to_string();
    Ok((name, out))
}

// A timestamp near the start of a line: `2026-03-01 00:14:40`, `2026-03-01T00:14:40.123Z`,
// `[2026/03/01 00:14:40 +08:00]`, `I 2026-03-01 00:14:40,123`.
static STAMP: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(\d{4})[-/](\d{2})[-/](\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?(Z|[+-]\d{2}:?\d{2})?",
    )
    .unwrap_or_else(|e| panic!("built-in regex: {e}"))
});

/// How far into a line a timestamp is looked for.
const STAMP_SEARCH_BYTES: usize = 48;

/// The timestamp a line starts with (within its first 48 bytes), in `zone` when it carries
/// no offset.
pub fn line_time(line: &[u8], zone: chrono_tz::Tz) -> Option<DateTime<Utc>> {
    let head = &line[..line.len().min(STAMP_SEARCH_BYTES)];
    let c = STAMP.captures(head)?;
    let num =
        |i: usize| -> Option<u32> { std::str::from_utf8(c.get(i)?.as_bytes()).ok()?.parse().ok() };
    let date = NaiveDate::from_ymd_opt(num(1)? as i32, num(2)?, num(3)?)?;
    let mut nanos = 0;
    if let Some(frac) = c.get(7) {
        let digits = std::str::from_utf8(frac.as_bytes()).ok()?;
        nanos = format!("{digits:0<9}").parse().ok()?;
    }
    let naive = date.and_hms_nano_opt(num(4)?, num(5)?, num(6)?, nanos)?;
    match c.get(8).map(|m| m.as_bytes()) {
        Some(b"Z") => Some(Utc.from_utc_datetime(&naive)),
        Some(off) => {
            let s = std::str::from_utf8(off).ok()?.replace(':', "");
            let sign = if s.starts_with('-') { -1 } else { 1 };
            let h: i32 = s.get(1..3)?.parse().ok()?;
            let m: i32 = s.get(3..5)?.parse().ok()?;
            let offset = chrono::FixedOffset::east_opt(sign * (h * 3600 + m * 60))?;
            offset
                .from_local_datetime(&naive)
                .single()
                .map(|d| d.with_timezone(&Utc))
        }
        None => zone
            .from_local_datetime(&naive)
            .earliest()
            .map(|d| d.with_timezone(&Utc)),
    }
}

/// What the line filter did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filtered {
    pub content: Vec<u8>,
    /// Some line carried a timestamp (so the window was applied to lines).
    pub timestamped: bool,
    pub lines_dropped: usize,
}

/// Keeps the lines inside the window. A line without a timestamp follows the line before it
/// (continuations, stack traces); lines before the first timestamp are kept. A file with no
/// timestamped line is returned whole.
pub fn filter_lines(content: &[u8], window: &Window, zone: chrono_tz::Tz) -> Filtered {
    let mut out = Vec::with_capacity(content.len());
    let mut keep = true;
    let mut timestamped = false;
    let mut dropped = 0;
    for line in content.split_inclusive(|b| *b == b'\n') {
        if let Some(t) = line_time(line, zone) {
            timestamped = true;
            keep = t >= window.from && t <= window.to;
        }
        if keep {
            out.extend_from_slice(line);
        } else {
            dropped += 1;
        }
    }
    Filtered {
        content: out,
        timestamped,
        lines_dropped: dropped,
    }
}

/// The last at most `max` bytes of `content`, starting at a line when one starts within.
pub fn tail(content: &[u8], max: usize) -> Vec<u8> {
    if content.len() <= max {
        return content.to_vec();
    }
    let start = content.len() - max;
    let rest = &content[start..];
    match rest.iter().position(|b| *b == b'\n') {
        Some(i) if i + 1 < rest.len() => rest[i + 1..].to_vec(),
        _ => rest.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .map(|d| d.with_timezone(&Utc))
            .unwrap()
    }

    #[test]
    fn timestamps_in_common_shapes() {
        let z = chrono_tz::UTC;
        assert_eq!(
            line_time(b"2026-03-01 00:14:40 ERROR x", z),
            Some(t("2026-03-01T00:14:40Z"))
        );
        assert_eq!(
            line_time(b"[2026/03/01 08:14:40 +08:00] x", z),
            Some(t("2026-03-01T00:14:40Z"))
        );
        assert_eq!(
            line_time(b"I 2026-03-01T00:14:40.5Z x", z),
            Some(t("2026-03-01T00:14:40.5Z"))
        );
        assert_eq!(
            line_time(b"2026-03-01 08:14:40,123 x", chrono_tz::Asia::Shanghai),
            Some(t("2026-03-01T00:14:40.123Z"))
        );
        assert_eq!(line_time(b"    at foo.bar(Baz.java:12)", z), None);
    }

    #[test]
    fn lines_follow_their_timestamps() {
        let w = Window {
            from: t("2026-03-01T00:00:00Z"),
            to: t("2026-03-01T12:00:00Z"),
        };
        let text = b"2026-02-28 23:00:00 old\n  trace old\n2026-03-01 01:00:00 new\n  trace new\n2026-03-01 13:00:00 late\n";
        let f = filter_lines(text, &w, chrono_tz::UTC);
        assert_eq!(f.content, b"2026-03-01 01:00:00 new\n  trace new\n");
        assert!(f.timestamped);
        assert_eq!(f.lines_dropped, 3);
        let plain = filter_lines(b"no stamps\nat all\n", &w, chrono_tz::UTC);
        assert_eq!(plain.content, b"no stamps\nat all\n");
        assert!(!plain.timestamped);
    }

    #[test]
    fn tail_starts_at_a_line() {
        assert_eq!(tail(b"aaaa\nbbbb\ncccc\n", 7), b"cccc\n");
        assert_eq!(tail(b"ab", 7), b"ab");
    }
}
