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
use crate::hyperbdr::client::{Connection, ConsoleClient};
use crate::hyperbdr::logs::CollectionRequest;
use crate::tls::TlsOptions;
use schemars::JsonSchema;
use serde::Deserialize;

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
    conn.tls = TlsOptions {
        verify: !cfg.insecure,
        ca_file: None,
    };
    conn.timeout = ctx.transfer_timeout;
    let console = ConsoleClient::new(&conn).map_err(|e| e.to_string())?;
    let request = CollectionRequest {
        resource_type: cfg.resource_type.as_str(),
        resource_id: &cfg.resource_id,
        from: ctx.window.from,
        to: ctx.window.to,
        poll_interval: cfg.poll_interval.as_duration(),
        timeout: ctx.transfer_timeout,
    };
    let collection = crate::hyperbdr::logs::collect(&console, &request).await?;
    Ok(JobOutput {
        files: collection
            .files
            .into_iter()
            .map(|f| Collected {
                rel: f.name,
                origin: f.origin,
                mtime: f.mtime,
                content: f.content,
            })
            .collect(),
        warnings: collection.warnings,
    })
}
