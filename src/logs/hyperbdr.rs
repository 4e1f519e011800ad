//! `hyperbdr` collector: the console's own log collection ("Download Logs") for one resource.
//!
//! ```yaml
//! logs:
//!   sources:
//!     sync-proxy:
//!       collect:
//!         - hyperbdr:
//!             url: ${var:hyperbdr_url}
//!             username: ${var:hyperbdr_username}
//!             password: ${secret:hyperbdr_password}
//!             resource_type: sync_proxy
//!             resource_id: proxy-1
//! ```
//!
//! patrol logs in (`POST /api/v2/loginNoImageCaptcha`), asks for a collection over the export
//! window (`POST /api/v2/om/log-collections`), polls `GET /api/v2/om/log-collections` while
//! its status is `collecting`, and downloads every listed file when it is `available`. A host
//! the console reports offline (HTTP 400 "offline hosts cannot collect logs") and a
//! collection that ends `failed` are reported as this collector's failure; the other sources
//! are exported as usual. `logs.transfer_timeout` bounds the wait and the downloads.

use super::{Collected, JobContext, JobOutput};
use crate::config::{Dur, Text};
use crate::probe::hyperbdr::client::{Connection, ConsoleClient};
use chrono::{DateTime, SecondsFormat, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

/// Configuration of the `hyperbdr` collector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HyperbdrCollector {
    /// Base URL of the console, e.g. `https://console:10443`.
    pub url: Text,
    /// Console user.
    pub username: Text,
    /// Console password (use `${secret:name}`).
    pub password: Text,
    /// `dr` or `migration` (sent as `X-SCENE`). Default: `dr`.
    #[serde(default = "default_scene")]
    pub scene: String,
    /// Kind of resource: `console`, `sync_proxy`, `linux_host`, `windows_host` or
    /// `cloud_sync_gateway`.
    pub resource_type: ResourceType,
    /// The resource's id in the console (also the host folder in the bundle).
    pub resource_id: String,
    /// Wait between status polls. Default: 1s.
    #[serde(default = "default_poll")]
    pub poll_interval: Dur,
    /// Accept any TLS certificate (self-signed consoles). Default: false.
    #[serde(default)]
    pub insecure: bool,
}

fn default_scene() -> String {
    "dr".into()
}
fn default_poll() -> Dur {
    Dur::secs(1)
}

/// A resource type of the console's log collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Console,
    SyncProxy,
    LinuxHost,
    WindowsHost,
    CloudSyncGateway,
}

impl ResourceType {
    fn as_str(self) -> &'static str {
        match self {
            ResourceType::Console => "console",
            ResourceType::SyncProxy => "sync_proxy",
            ResourceType::LinuxHost => "linux_host",
            ResourceType::WindowsHost => "windows_host",
            ResourceType::CloudSyncGateway => "cloud_sync_gateway",
        }
    }
}

/// Requests a collection for the window, waits for it and downloads its files.
pub async fn collect(cfg: &HyperbdrCollector, ctx: &JobContext) -> Result<JobOutput, String> {
    let mut conn = Connection::new(cfg.url.value(), cfg.username.value(), cfg.password.value());
    conn.scene = cfg.scene.clone();
    conn.verify_tls = !cfg.insecure;
    conn.timeout = ctx.transfer_timeout;
    let console = ConsoleClient::new(&conn).map_err(|e| e.to_string())?;
    let work = async {
        let body = json!({
            "resource_type": cfg.resource_type.as_str(),
            "resource_id": cfg.resource_id,
            "from": ctx.window.from.to_rfc3339_opts(SecondsFormat::Secs, true),
            "to": ctx.window.to.to_rfc3339_opts(SecondsFormat::Secs, true),
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
                "collecting" => tokio::time::sleep(cfg.poll_interval.as_duration()).await,
                "available" => return download(&console, &id, &entry).await,
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
    match tokio::time::timeout(ctx.transfer_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "the collection was not available within {}",
            humantime::format_duration(ctx.transfer_timeout)
        )),
    }
}

const COLLECTIONS: &str = "/api/v2/om/log-collections";

async fn download(console: &ConsoleClient, id: &str, entry: &Value) -> Result<JobOutput, String> {
    let mtime = entry
        .get("completed_at")
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| Some(Utc::now()));
    let mut out = JobOutput::default();
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
            Ok(b) => out.files.push(Collected {
                rel: name.trim_start_matches('/').to_string(),
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
