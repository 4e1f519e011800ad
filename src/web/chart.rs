//! Inline SVG charts of a check's metrics over time, drawn on the server (no JavaScript),
//! with the thresholds its params (or facts) give.
//!
//! A threshold is a number under a key with a level word — `warn`, `warning`, `crit`,
//! `critical` — and other words naming the metric: `warn_percent` and `critical_percent`
//! draw on `used_percent:/var`, `warn_latency_ms` on `latency_ms`,
//! `critical_seconds_since_success` on `seconds_since_success`. A metric takes the most
//! specific match (`swap_warn_percent` over `warn_percent` for `swap_used_percent`).

use crate::alert::present::{self, escape_html};
use crate::status::Status;
use crate::store::RunBrief;
use std::fmt::Write;

/// A horizontal line on a chart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Threshold {
    /// `warning` or `critical`.
    pub level: &'static str,
    pub key: String,
    pub value: f64,
}

/// Splits `warn_latency_ms` into (`warning`, [latency, ms]).
fn parse_key(key: &str) -> Option<(&'static str, Vec<&str>)> {
    let mut level = None;
    let mut rest = Vec::new();
    for token in key.split('_') {
        match token {
            "warn" | "warning" => level = Some("warning"),
            "crit" | "critical" => level = Some("critical"),
            t if !t.is_empty() => rest.push(t),
            _ => {}
        }
    }
    level.filter(|_| !rest.is_empty()).map(|l| (l, rest))
}

/// The thresholds that apply to `metric`, from number-valued entries of `sources`
/// (params, then facts).
pub(crate) fn thresholds_for(metric: &str, sources: &[&serde_json::Value]) -> Vec<Threshold> {
    let base = metric.split(':').next().unwrap_or(metric);
    let tokens: Vec<&str> = base.split('_').collect();
    let mut best: Vec<(usize, Threshold)> = Vec::new();
    for src in sources {
        let Some(map) = src.as_object() else { continue };
        for (key, value) in map {
            let Some(v) = value.as_f64() else { continue };
            let Some((level, words)) = parse_key(key) else {
                continue;
            };
            if !words.iter().all(|w| tokens.contains(w)) {
                continue;
            }
            let t = Threshold {
                level,
                key: key.clone(),
                value: v,
            };
            match best.iter_mut().find(|(_, b)| b.level == level) {
                Some((n, b)) if words.len() > *n => {
                    *n = words.len();
                    *b = t;
                }
                Some(_) => {}
                None => best.push((words.len(), t)),
            }
        }
    }
    best.into_iter().map(|(_, t)| t).collect()
}

fn color(s: Status) -> &'static str {
    match s {
        Status::Ok => "#2e7d32",
        Status::Warning => "#e6a100",
        Status::Critical => "#c62828",
        Status::Unknown => "#6d6d9c",
    }
}

fn num(v: f64) -> String {
    if v.abs() >= 1000.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
    }
}

/// The SVG of one metric over `runs` (oldest first), or None when no run has it.
/// Times are in `zone` (the page's), worded by `alert::present`.
pub(crate) fn svg(
    metric: &str,
    runs: &[RunBrief],
    thresholds: &[Threshold],
    zone: chrono_tz::Tz,
) -> Option<String> {
    let points: Vec<(&RunBrief, f64)> = runs
        .iter()
        .filter_map(|r| r.metrics.get(metric).map(|v| (r, *v)))
        .filter(|(_, v)| v.is_finite())
        .collect();
    let (first, last) = (points.first()?, points.last()?);
    let (w, h, left, right, top, bottom) = (600.0, 170.0, 52.0, 8.0, 10.0, 22.0);
    let mut lo = points.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
    let mut hi = points.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
    for t in thresholds {
        lo = lo.min(t.value);
        hi = hi.max(t.value);
    }
    if (hi - lo).abs() < f64::EPSILON {
        lo -= 1.0;
        hi += 1.0;
    }
    let t0 = first.0.started_at.timestamp_millis() as f64;
    let t1 = last.0.started_at.timestamp_millis() as f64;
    let span = (t1 - t0).max(1.0);
    let x = |r: &RunBrief| {
        if points.len() == 1 {
            left + (w - left - right) / 2.0
        } else {
            left + (r.started_at.timestamp_millis() as f64 - t0) / span * (w - left - right)
        }
    };
    let y = |v: f64| top + (hi - v) / (hi - lo) * (h - top - bottom);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" data-metric="{m}" viewBox="0 0 {w} {h}" role="img" aria-label="{m} over time" xmlns="http://www.w3.org/2000/svg">"#,
        m = escape_html(metric)
    );
    let _ = write!(
        s,
        r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="#fafafa" stroke="#ddd"/>"##,
        w - left - right,
        h - top - bottom
    );
    for (v, anchor) in [(hi, top + 4.0), (lo, h - bottom)] {
        let _ = write!(
            s,
            r##"<text x="{}" y="{anchor}" font-size="11" text-anchor="end" fill="#555">{}</text>"##,
            left - 4.0,
            num(v)
        );
    }
    for (r, anchor, align) in [(first.0, left, "start"), (last.0, w - right, "end")] {
        let _ = write!(
            s,
            r##"<text x="{anchor}" y="{}" font-size="11" text-anchor="{align}" fill="#555">{}</text>"##,
            h - 6.0,
            r.started_at.with_timezone(&zone).format("%m-%d %H:%M")
        );
    }
    for t in thresholds {
        let c = if t.level == "critical" {
            "#c62828"
        } else {
            "#e6a100"
        };
        let ty = y(t.value);
        let _ = write!(
            s,
            r#"<line class="threshold" data-level="{lvl}" x1="{left}" x2="{}" y1="{ty:.1}" y2="{ty:.1}" stroke="{c}" stroke-dasharray="6 4"/><text x="{}" y="{:.1}" font-size="11" text-anchor="end" fill="{c}">{} {}</text>"#,
            w - right,
            w - right - 2.0,
            ty - 3.0,
            escape_html(&t.key),
            num(t.value),
            lvl = t.level,
        );
    }
    let line: Vec<String> = points
        .iter()
        .map(|(r, v)| format!("{:.1},{:.1}", x(r), y(*v)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline class="series" fill="none" stroke="#1565c0" stroke-width="1.5" points="{}"/>"##,
        line.join(" ")
    );
    for (r, v) in &points {
        let _ = write!(
            s,
            r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{}"><title>{} {}: {}</title></circle>"#,
            x(r),
            y(*v),
            color(r.status),
            present::time(r.started_at, zone),
            r.status.as_str(),
            num(*v)
        );
    }
    s.push_str("</svg>");
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn thresholds_take_the_most_specific_key() {
        let params = json!({"warn_percent": 80, "critical_percent": 90, "swap_warn_percent": 50,
            "fill_warn_days": 7, "name": "x"});
        let t = thresholds_for("used_percent:/var", &[&params]);
        assert_eq!(t.len(), 2);
        assert!(t.iter().any(|t| t.level == "warning" && t.value == 80.0));
        let swap = thresholds_for("swap_used_percent", &[&params]);
        assert!(swap.iter().any(|t| t.level == "warning" && t.value == 50.0));
        let facts = json!({"critical_seconds_since_success": 4200});
        let hb = thresholds_for("seconds_since_success", &[&json!({}), &facts]);
        assert_eq!(hb[0].value, 4200.0);
        assert!(thresholds_for("latency_ms", &[&params]).is_empty());
    }
}
