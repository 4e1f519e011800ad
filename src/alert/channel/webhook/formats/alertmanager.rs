//! The Alertmanager (v4) webhook payload.

use crate::alert::event::{AlertEvent, MessageKind};
use crate::alert::present::{rfc3339, severity};
use serde_json::{Map, Value, json};

/// Alertmanager's zero time: `endsAt` of an alert that is still firing.
const AM_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The Alertmanager (v4) webhook payload, so that anything that receives Alertmanager
/// notifications (incident tools, bridges) receives patrol's. Per alert: `labels` `alertname`
/// (the check's name), `check` (its id), `severity` (the status it is or was in), `tags`
/// (comma-separated); `annotations` `summary`, `description` (the runbook), `reason`, `type`;
/// `startsAt` since when it is bad, `endsAt` the resolve time (zero time while firing).
/// `groupKey` is stable for the same check (or the same set of incidents) so that receivers
/// can deduplicate; `externalURL` is the origin of the events' status-page links.
pub fn alertmanager(events: &[AlertEvent], receiver: &str) -> Value {
    let alerts: Vec<Map<String, Value>> = events.iter().map(am_alert).collect();
    let firing = events
        .iter()
        .any(|e| !matches!(e.kind, MessageKind::Resolved | MessageKind::Report));

    let common = |field: &str| -> Map<String, Value> {
        let mut it = alerts.iter().filter_map(|a| a.get(field)?.as_object());
        let Some(first) = it.next() else {
            return Map::new();
        };
        let mut common = first.clone();
        for other in it {
            common.retain(|k, v| other.get(k) == Some(v));
        }
        common
    };
    let common_labels = common("labels");
    let common_annotations = common("annotations");

    let mut checks: Vec<&str> = events.iter().map(|e| e.check.id.as_str()).collect();
    checks.sort_unstable();
    checks.dedup();
    let (group_labels, group_key) = match checks.as_slice() {
        [one] => (
            json!({"check": one}),
            format!(
                "{{}}/{{receiver={}}}:{{check={}}}",
                am_quote(receiver),
                am_quote(one)
            ),
        ),
        _ => {
            let mut incidents: Vec<&str> = events.iter().map(|e| e.incident_id.as_str()).collect();
            incidents.sort_unstable();
            incidents.dedup();
            (
                json!({}),
                format!(
                    "{{}}/{{receiver={}}}:{{incidents={}}}",
                    am_quote(receiver),
                    am_quote(&incidents.join(","))
                ),
            )
        }
    };
    let external_url = events
        .iter()
        .filter_map(|e| e.url.as_deref())
        .find_map(origin)
        .unwrap_or_default();

    json!({
        "version": "4",
        "groupKey": group_key,
        "truncatedAlerts": 0,
        "status": if firing { "firing" } else { "resolved" },
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "alerts": alerts,
    })
}

fn am_quote(s: &str) -> String {
    format!("{s:?}")
}

fn am_alert(e: &AlertEvent) -> Map<String, Value> {
    // A report is not an alert: it goes out as an already resolved `PatrolReport` alert, so
    // that receivers that only know Alertmanager still see it (and page nobody for it).
    let report = e.kind == MessageKind::Report;
    let resolved = e.kind == MessageKind::Resolved || report;
    let mut labels = Map::new();
    let alertname = if report {
        "PatrolReport"
    } else {
        &e.check.name
    };
    labels.insert("alertname".into(), json!(alertname));
    labels.insert("check".into(), json!(e.check.id));
    labels.insert("severity".into(), json!(severity(e).as_str()));
    if !e.check.tags.is_empty() {
        labels.insert("tags".into(), json!(e.check.tags.join(",")));
    }
    if let Some(c) = &e.check.console {
        labels.insert("console".into(), json!(c));
    }
    let mut annotations = Map::new();
    annotations.insert("summary".into(), json!(e.result.summary));
    // Not a label: labels must stay the same from firing to resolved.
    annotations.insert("type".into(), json!(e.kind.as_str()));
    if !e.check.description.is_empty() {
        annotations.insert("description".into(), json!(e.check.description));
    }
    if !e.reason.is_empty() {
        annotations.insert("reason".into(), json!(e.reason));
    }
    if !e.suppressed_dependents.is_empty() {
        annotations.insert(
            "suppressed_dependents".into(),
            json!(e.suppressed_dependents.join(",")),
        );
    }
    let mut a = Map::new();
    a.insert(
        "status".into(),
        json!(if resolved { "resolved" } else { "firing" }),
    );
    a.insert("labels".into(), Value::Object(labels));
    a.insert("annotations".into(), Value::Object(annotations));
    a.insert("startsAt".into(), json!(rfc3339(e.state.since)));
    a.insert(
        "endsAt".into(),
        json!(if resolved {
            rfc3339(e.created_at)
        } else {
            AM_ZERO_TIME.to_string()
        }),
    );
    a.insert(
        "generatorURL".into(),
        json!(e.url.clone().unwrap_or_default()),
    );
    a.insert("fingerprint".into(), json!(e.fingerprint));
    a
}

/// `https://host:port` of a URL.
fn origin(u: &str) -> Option<String> {
    let url = reqwest::Url::parse(u).ok()?;
    let host = url.host_str()?;
    Some(match url.port() {
        Some(p) => format!("{}://{host}:{p}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_of_a_link() {
        assert_eq!(
            origin("https://patrol.example:8443/checks/x?y=1").as_deref(),
            Some("https://patrol.example:8443")
        );
        assert_eq!(origin("not a url"), None);
    }
}
