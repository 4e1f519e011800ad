//! `hyperbdr` collector: the console's own log collection ("Download Logs") for one resource.
//!
//! ```yaml
//! logs:
//!   sources:
//!     sync-proxy:
//!       collect:
//!         - hyperbdr:
//!             console: main          # a name under `consoles:` (default: the only one)
//!             resource_type: sync_proxy
//!             resource_id: proxy-1
//! ```
//!
//! patrol logs in to the console (url, user, password, TLS of its definition under
//! `consoles:`; `POST /api/v2/loginNoImageCaptcha`), asks for a collection over the export
//! window (`POST /api/v2/om/log-collections`), polls `GET /api/v2/om/log-collections` while
//! its status is `collecting`, and downloads every listed file when it is `available`. A host
//! the console reports offline (HTTP 400 "offline hosts cannot collect logs") and a
//! collection that ends `failed` are reported as this collector's failure; the other sources
//! are exported as usual. `logs.transfer_timeout` bounds the wait and the downloads.

use super::{Collected, JobContext, JobOutput};
use crate::config::Dur;
use crate::hyperbdr::client::ConsoleClient;
use crate::hyperbdr::console::Moved;
use crate::hyperbdr::logs::CollectionRequest;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_saphyr::Spanned;

/// Configuration of the `hyperbdr` collector.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HyperbdrCollector {
    /// The console to collect from: a name under `consoles:` in `patrol.yaml`. Default: the
    /// only console (with several, name one).
    #[serde(default)]
    #[schemars(with = "Option<String>")]
    pub console: Option<Spanned<String>>,
    /// Kind of resource: `console`, `sync_proxy`, `linux_host`, `windows_host` or
    /// `cloud_sync_gateway`.
    pub resource_type: ResourceType,
    /// The resource's id in the console (also the host folder in the bundle).
    pub resource_id: String,
    /// Wait between status polls. Default: 1s.
    #[serde(default = "default_poll")]
    pub poll_interval: Dur,

    // Keys that moved to the console (`consoles:` in patrol.yaml): read only so that
    // `validate` can point at them and say what to write instead.
    #[serde(default)]
    #[schemars(skip)]
    pub url: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub username: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub password: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub scene: Moved,
    #[serde(default)]
    #[schemars(skip)]
    pub insecure: Moved,
}

impl HyperbdrCollector {
    /// The keys written here that belong to the console now, with where they are.
    pub fn moved_keys(&self) -> Vec<(&'static str, serde_saphyr::Location)> {
        let keys: [(&'static str, &Moved); 5] = [
            ("url", &self.url),
            ("username", &self.username),
            ("password", &self.password),
            ("scene", &self.scene),
            ("insecure", &self.insecure),
        ];
        keys.into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|s| (k, s.referenced)))
            .collect()
    }
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
    let named = match &cfg.console {
        Some(n) => ctx.consoles.get_key_value(&n.value),
        None if ctx.consoles.len() == 1 => ctx.consoles.iter().next(),
        None => None,
    };
    let Some((name, console)) = named else {
        return Err(match &cfg.console {
            Some(n) => format!(
                "unknown console `{}` (see `consoles:` in patrol.yaml)",
                n.value
            ),
            None => {
                "no console named: write `console: NAME` (see `consoles:` in patrol.yaml)".into()
            }
        });
    };
    // Downloads may be large: each request may take the whole transfer timeout.
    let conn = console.connection(
        name,
        &ctx.base_dir,
        Some(ctx.transfer_timeout),
        ctx.transfer_timeout,
    );
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
