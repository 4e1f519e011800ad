//! The console's own log collection ("Download Logs") for one resource: ask for a collection
//! over a time window (`POST /api/v2/om/log-collections`), poll `GET
//! /api/v2/om/log-collections` while its status is `collecting`, and download every listed
//! file once it is `available`. A collection that ends otherwise (`failed`) is an error that
//! quotes the console's reason. The `hyperbdr` log collector (`src/logs/hyperbdr.rs`) is the
//! configuration around it.

use super::client::ConsoleClient;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::time::Duration;

const COLLECTIONS: &str = "/api/v2/om/log-collections";

/// What to collect.
#[derive(Debug, Clone)]
pub struct CollectionRequest<'a> {
    /// `console`, `sync_proxy`, `linux_host`, `windows_host` or `cloud_sync_gateway`.
    pub resource_type: &'a str,
    /// The resource's id in the console.
    pub resource_id: &'a str,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Wait between status polls.
    pub poll_interval: Duration,
    /// Bounds the wait and the downloads together.
    pub timeout: Duration,
}

/// One downloaded file.
#[derive(Debug, Clone)]
pub struct LogFile {
    /// The file's name as the console lists it (no leading `/`).
    pub name: String,
    /// The URL it was downloaded from.
    pub origin: String,
    /// When the collection completed (now, when the console does not say).
    pub mtime: Option<DateTime<Utc>>,
    pub content: Vec<u8>,
}

/// What a finished collection gave.
#[derive(Debug, Clone, Default)]
pub struct Collection {
    pub files: Vec<LogFile>,
    /// Files that could not be downloaded while others could.
    pub warnings: Vec<String>,
}

/// Requests a collection for the window, waits for it and downloads its files.
pub async fn collect(
    console: &ConsoleClient,
    req: &CollectionRequest<'_>,
) -> Result<Collection, String> {
    let work = async {
        let body = json!({
            "resource_type": req.resource_type,
            "resource_id": req.resource_id,
            "from": req.from.to_rfc3339_opts(SecondsFormat::Secs, true),
            "to": req.to.to_rfc3339_opts(SecondsFormat::Secs, true),
        });
        let created = console
            .post_data(COLLECTIONS, &body)
            .await
            .map_err(|e| e.to_string())?;
        let id = created
            .get("id")
            .and_then(Value::as_str)
            .ok_or("the console accepted the collection without an id")?
            .to_string();
        loop {
            let listed = console
                .get_all_pages(COLLECTIONS, &[])
                .await
                .map_err(|e| e.to_string())?;
            let entry = listed
                .get("log_collections")
                .and_then(Value::as_array)
                .and_then(|l| {
                    l.iter()
                        .find(|c| c.get("id").and_then(Value::as_str) == Some(&id))
                })
                .cloned()
                .ok_or_else(|| format!("collection {id} is not listed by the console"))?;
            let status = entry.get("status").and_then(Value::as_str).unwrap_or("");
            match status {
                "collecting" => tokio::time::sleep(req.poll_interval).await,
                "available" => return download(console, &id, &entry).await,
                other => {
                    let why = ["error", "message", "reason"]
                        .iter()
                        .find_map(|k| entry.get(k).and_then(Value::as_str))
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    return Err(format!("collection {id} ended `{other}`{why}"));
                }
            }
        }
    };
    match tokio::time::timeout(req.timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the collection was not available within {}",
            humantime::format_duration(req.timeout)
        )),
    }
}

async fn download(console: &ConsoleClient, id: &str, entry: &Value) -> Result<Collection, String> {
    let mtime = entry
        .get("completed_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| Some(Utc::now()));
    let mut out = Collection::default();
    let files = entry
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if files.is_empty() {
        out.warnings.push(format!("collection {id} holds no files"));
    }
    for f in files {
        let Some(name) = f.get("name").and_then(Value::as_str) else {
            continue;
        };
        let url = f
            .get("url")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("/api/v2/om/log-collections/{id}/files/{name}"));
        let bytes = console.get_bytes(&url).await.map_err(|e| e.to_string());
        match bytes {
            Ok(b) => out.files.push(LogFile {
                name: name.trim_start_matches('/').to_string(),
                origin: format!("{}{url}", console.connection().url),
                mtime,
                content: b,
            }),
            Err(e) => out.warnings.push(format!("{name}: {e}")),
        }
    }
    if out.files.is_empty() && !out.warnings.is_empty() {
        return Err(out.warnings.join("; "));
    }
    Ok(out)
}
