//! The HTML body of an alert email: the same sections as the text body, as tables, every
//! value escaped, only web links as anchors.

use super::render::{RenderOptions, Section, footer_text, output_title};
use crate::alert::present::escape_html;
use std::fmt::Write as _;

const CELL: &str = "padding:2px 12px 2px 0;vertical-align:top;";

pub(super) fn html_body(subject: &str, views: &[Section<'_>], opts: &RenderOptions) -> String {
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title></head>\n\
         <body style=\"font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:14px;color:#222;\">\n",
        escape_html(subject)
    );
    if views.len() > 1 {
        let _ = writeln!(
            h,
            "<p><b>{} alerts</b>, worst first:</p>\n<ul>",
            views.len()
        );
        for v in views {
            let _ = writeln!(
                h,
                "<li><span style=\"color:{}\">{}</span></li>",
                v.color,
                escape_html(&v.headline)
            );
        }
        h.push_str("</ul>\n");
    }
    for v in views {
        if views.len() > 1 {
            h.push_str("<hr>\n");
        }
        html_section(&mut h, v, views.len() > 1);
    }
    let footer = footer_text(views, opts);
    let _ = write!(
        h,
        "<hr>\n<p style=\"color:#666;font-size:12px;\">{}</p>\n</body></html>\n",
        escape_html(&footer).replace('\n', "<br>\n")
    );
    h
}

fn html_table(h: &mut String, rows: &[(String, String)]) {
    h.push_str("<table style=\"border-collapse:collapse;\">\n");
    for (k, v) in rows {
        let _ = writeln!(
            h,
            "<tr><td style=\"{CELL}color:#555;\">{}</td><td style=\"{CELL}\">{}</td></tr>",
            escape_html(k),
            escape_html(v)
        );
    }
    h.push_str("</table>\n");
}

fn html_section(h: &mut String, v: &Section<'_>, grouped: bool) {
    let e = v.e;
    let _ = writeln!(
        h,
        "<h2 style=\"color:{};font-size:18px;\">{}</h2>",
        v.color,
        escape_html(&v.headline)
    );
    if let Some(summary) = v.long_summary {
        let _ = writeln!(
            h,
            "<p style=\"white-space:pre-wrap;\"><b>{}</b></p>",
            escape_html(summary)
        );
    }
    let mut rows: Vec<(String, String)> = v
        .rows
        .iter()
        .map(|(l, val)| (l.to_string(), val.clone()))
        .collect();
    let link_row = v.link.as_ref().map(|link| {
        // Only web links become anchors; anything else is shown as text.
        if link.starts_with("https://") || link.starts_with("http://") {
            format!("<a href=\"{0}\">{0}</a>", escape_html(link))
        } else {
            escape_html(link)
        }
    });
    h.push_str("<table style=\"border-collapse:collapse;\">\n");
    for (k, val) in rows.drain(..) {
        let _ = writeln!(
            h,
            "<tr><td style=\"{CELL}color:#555;\">{}</td><td style=\"{CELL}\">{}</td></tr>",
            escape_html(&k),
            escape_html(&val)
        );
    }
    if let Some(link) = link_row {
        let _ = writeln!(
            h,
            "<tr><td style=\"{CELL}color:#555;\">Status page</td><td style=\"{CELL}\">{link}</td></tr>"
        );
    }
    h.push_str("</table>\n");
    for (title, rows) in [("Facts", &v.facts), ("Metrics", &v.metrics)] {
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(h, "<h3 style=\"font-size:15px;\">{title}</h3>");
        html_table(h, rows);
    }
    h.push_str("<h3 style=\"font-size:15px;\">Runbook</h3>\n");
    if e.check.description.trim().is_empty() {
        h.push_str("<p><i>The check file has no description.</i></p>\n");
    } else {
        let _ = writeln!(
            h,
            "<p style=\"white-space:pre-wrap;\">{}</p>",
            escape_html(e.check.description.trim())
        );
    }
    if let Some((out, cut)) = v.output {
        let _ = writeln!(
            h,
            "<h3 style=\"font-size:15px;\">{}{}</h3>\n<pre style=\"background:#f5f5f5;padding:8px;white-space:pre-wrap;font-size:12px;\">{}</pre>",
            output_title(e),
            if cut { " (last 10 KB)" } else { "" },
            escape_html(out)
        );
    }
    if !e.suppressed_dependents.is_empty() {
        let _ = writeln!(
            h,
            "<p>Held back while this check is bad ({}): {}</p>",
            e.suppressed_dependents.len(),
            escape_html(&e.suppressed_dependents.join(", "))
        );
    }
    if grouped {
        let _ = writeln!(
            h,
            "<p style=\"color:#555;\">Why this was sent: {}</p>",
            escape_html(&e.reason)
        );
    }
}
