//! Plain-text tables and time formatting shared by the subcommands.

use chrono::{DateTime, Utc};

/// Prints rows as aligned columns; the last column is not padded (it holds summaries).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == cols {
                l.push_str(cell);
            } else {
                l.push_str(cell);
                l.push_str(&" ".repeat(widths[i] - cell.chars().count() + 2));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// A time in the configured zone, short: `2026-11-28 18:30:05 CST`.
pub fn time(t: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    t.with_timezone(&zone)
        .format("%Y-%m-%d %H:%M:%S %Z")
        .to_string()
}

pub fn opt_time(t: Option<DateTime<Utc>>, zone: chrono_tz::Tz) -> String {
    t.map(|t| time(t, zone)).unwrap_or_else(|| "-".into())
}

/// `1.2s`, `340ms`.
pub fn duration_ms(ms: u64) -> String {
    if ms >= 1000 {
        format!("{:.1}s", ms as f64 / 1000.0)
    } else {
        format!("{ms}ms")
    }
}

/// One line, at most `max` characters.
pub fn one_line(s: &str, max: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() > max {
        let cut: String = first.chars().take(max.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        first.to_string()
    }
}

/// The root config and its store, for commands that only read results.
pub fn root_and_store(
    config: &std::path::Path,
    writable: bool,
) -> anyhow::Result<(crate::config::RootConfig, crate::store::Store)> {
    use anyhow::Context;
    let (root, base_dir, _, _) = crate::config::load_root_only(config).map_err(|p| {
        let lines: Vec<String> = p.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}", lines.join("\n"))
    })?;
    let path = base_dir.join(&root.store.path);
    let store = if writable {
        crate::store::Store::open(&path)
    } else {
        crate::store::Store::open_read_only(&path)
    }
    .with_context(|| format!("opening the store {}", path.display()))?;
    Ok((root, store))
}
