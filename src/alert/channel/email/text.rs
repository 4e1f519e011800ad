//! The plain-text body of an alert email: a list of the events when there are several, then
//! one section per event (its rows, facts, metrics, runbook and output), then the footer.

use super::render::{RenderOptions, Section, footer_text, output_title};
use crate::alert::present::one_line;
use std::fmt::Write as _;

fn indent(s: &str, by: &str) -> String {
    let mut out = String::new();
    for line in s.lines() {
        out.push_str(by);
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

pub(super) fn text_body(views: &[Section<'_>], opts: &RenderOptions) -> String {
    let grouped = views.len() > 1;
    let mut t = String::new();
    if views.len() > 1 {
        let _ = writeln!(t, "{} alerts, worst first:", views.len());
        for v in views {
            let _ = writeln!(t, "  {}", v.headline);
        }
        t.push('\n');
    }
    for (i, v) in views.iter().enumerate() {
        if views.len() > 1 {
            let _ = writeln!(t, "{}", "=".repeat(72));
            let _ = writeln!(t, "{}/{}", i + 1, views.len());
        }
        text_section(&mut t, v, grouped);
        t.push('\n');
    }
    t.push_str("-- \n");
    t.push_str(&footer_text(views, opts));
    t.push('\n');
    t
}

fn text_section(t: &mut String, v: &Section<'_>, grouped: bool) {
    let e = v.e;
    let _ = writeln!(t, "{}\n", v.headline);
    if let Some(summary) = v.long_summary {
        let _ = writeln!(t, "{summary}\n");
    }
    let width = v.rows.iter().map(|(l, _)| l.len()).max().unwrap_or(0) + 1;
    for (label, value) in &v.rows {
        let _ = writeln!(t, "{:<width$} {value}", format!("{label}:"), width = width);
    }
    if let Some(link) = &v.link {
        let _ = writeln!(t, "{:<width$} {link}", "Status page:", width = width);
    }
    for (title, rows) in [("Facts", &v.facts), ("Metrics", &v.metrics)] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(t, "\n{title}:");
        let w = rows
            .iter()
            .map(|(k, _)| k.chars().count())
            .max()
            .unwrap_or(0);
        for (k, val) in rows {
            let _ = writeln!(t, "  {k:<w$}  {}", one_line(val, 2000));
        }
    }
    let _ = writeln!(t, "\nRunbook:");
    if e.check.description.trim().is_empty() {
        let _ = writeln!(t, "  (the check file has no description)");
    } else {
        t.push_str(&indent(e.check.description.trim(), "  "));
    }
    if let Some((out, cut)) = v.output {
        let _ = writeln!(
            t,
            "\n{}{}:",
            output_title(e),
            if cut { " (last 10 KB)" } else { "" }
        );
        t.push_str(&indent(out, "  "));
    }
    if !e.suppressed_dependents.is_empty() {
        let _ = writeln!(
            t,
            "\nHeld back while this check is bad ({}): {}",
            e.suppressed_dependents.len(),
            e.suppressed_dependents.join(", ")
        );
    }
    // A single message says why in its footer.
    if grouped {
        let _ = writeln!(t, "\nWhy this was sent: {}", e.reason);
    }
}
