//! A HyperBDR console as `patrol.yaml` defines it once (`consoles:`), and what every user of
//! it derives from that one definition: the [`Connection`] of the client, the host and port
//! its reachability check connects to, and how checks name consoles (`console: NAME | [NAME,
//! ...] | all`).
//!
//! ```yaml
//! consoles:
//!   main:
//!     url: https://10.0.0.5:10443
//!     username: ops
//!     password: "${secret:hyperbdr_password}"
//!     timezone: Asia/Shanghai
//! ```

use super::client::Connection;
use crate::config::{Dur, Text, Zone};
use crate::tls::TlsOptions;
use schemars::JsonSchema;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_saphyr::Spanned;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// One HyperBDR console: where it is, how patrol logs in, and how its answers are read.
/// Every `hyperbdr` check and log collector names a console instead of repeating this.
#[derive(Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Base URL, `scheme://host[:port]` (e.g. `https://10.0.0.5:10443`); without a port the
    /// scheme's (443 for https, 80 for http). The derived reachability check connects to this
    /// host and port.
    pub url: Text,
    /// The console user patrol logs in as.
    pub username: Text,
    /// That user's password; use `${secret:NAME}` (never stored, logged or printed).
    pub password: Text,
    /// `X-SCENE` header: `dr` or `migration`. Default: dr.
    #[serde(default)]
    pub scene: Scene,
    /// `X-LANG` header: `en` or `zh` (the language of the console's messages). Default: en.
    #[serde(default)]
    pub lang: Lang,
    /// IANA zone of the console's times written without an offset (`YYYY-MM-DD HH:MM:SS`):
    /// set it to the console's own zone (e.g. `Asia/Shanghai`), or its local times are read
    /// hours off. Default: UTC.
    #[serde(default)]
    pub timezone: Zone,
    /// A PEM file of CA certificates to trust instead of the system's (a private console
    /// CA). A relative path resolves against the folder of `patrol.yaml`.
    #[serde(default)]
    pub ca_file: Option<Text>,
    /// Accept any certificate. DANGEROUS: the answers may come from anyone on the path.
    /// Default: false.
    #[serde(default)]
    pub insecure: bool,
    /// Give up one request after this long (a check's own timeout still bounds it).
    /// Default: 30s.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// Items asked for per page of a list (the console may give fewer). Default: 100.
    #[serde(default = "default_page_size")]
    pub page_size: u32,
    /// After a refused login (bad credentials), no login to this console for this long, or
    /// until its configuration changes, whatever the number of checks: an account-lockout
    /// policy never locks the user. Default: 15m.
    #[serde(default = "default_login_backoff")]
    pub login_backoff: Dur,
    /// A console time further than this in the future makes the check UNKNOWN (the clock or
    /// `timezone` is wrong), never OK. Default: 5m.
    #[serde(default = "default_max_clock_skew")]
    pub max_clock_skew: Dur,
    /// How often the two checks patrol derives for this console run:
    /// `hyperbdr-console-reachable@NAME` (TCP to the url's host and port) and
    /// `hyperbdr-console-api@NAME` (login and one cheap call). Default: 1m.
    #[serde(default = "default_check_every")]
    pub check_every: Dur,
}

/// The password is never shown, not even a literal one (`patrol explain` prints probes).
impl fmt::Debug for ConsoleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"***")
            .field("scene", &self.scene)
            .field("lang", &self.lang)
            .field("timezone", &self.timezone)
            .field("ca_file", &self.ca_file)
            .field("insecure", &self.insecure)
            .field("timeout", &self.timeout)
            .field("page_size", &self.page_size)
            .field("login_backoff", &self.login_backoff)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("check_every", &self.check_every)
            .finish()
    }
}

fn default_timeout() -> Dur {
    Dur::secs(30)
}
fn default_page_size() -> u32 {
    100
}
fn default_login_backoff() -> Dur {
    Dur::secs(15 * 60)
}
fn default_max_clock_skew() -> Dur {
    Dur::secs(5 * 60)
}
fn default_check_every() -> Dur {
    Dur::secs(60)
}

/// `X-SCENE`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Scene {
    /// Disaster recovery.
    #[default]
    Dr,
    /// Migration.
    Migration,
}

/// `X-LANG`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Chinese.
    Zh,
}

impl Scene {
    pub fn as_str(self) -> &'static str {
        match self {
            Scene::Dr => "dr",
            Scene::Migration => "migration",
        }
    }
}

impl Lang {
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }
}

/// The id of the reachability check derived for console `name`.
pub fn reachable_check_id(name: &str) -> String {
    format!("hyperbdr-console-reachable@{name}")
}

/// The id of the API check derived for console `name`.
pub fn api_check_id(name: &str) -> String {
    format!("hyperbdr-console-api@{name}")
}

/// The endpoint of the API check: one host, not every page of the list.
pub const API_CHECK_PATH: &str = "/api/v2/getHosts";

/// A console name: lower-case letters, digits and `-` (it becomes part of check ids).
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

impl ConsoleConfig {
    /// What is wrong with this definition (the name is checked apart).
    pub fn validate(&self) -> Result<(), String> {
        self.host_port()?;
        if self.page_size == 0 {
            return Err("page_size must be at least 1".into());
        }
        if self.check_every.as_duration() < Duration::from_secs(1) {
            return Err("check_every must be at least 1s".into());
        }
        if self.timeout.as_duration().is_zero() {
            return Err("timeout must be more than 0s".into());
        }
        Ok(())
    }

    /// The host and port of the url (the scheme's default port when it names none).
    pub fn host_port(&self) -> Result<(String, u16), String> {
        let raw = self.url.value().trim();
        let shown = self.url.display();
        let url = reqwest::Url::parse(raw).map_err(|e| {
            format!("url {shown:?} is not a URL ({e}): write scheme://host[:port], e.g. https://10.0.0.5:10443")
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("url {shown:?} must start with https:// or http://"));
        }
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("url {shown:?} names no host"))?;
        let port = url
            .port_or_known_default()
            .ok_or_else(|| format!("url {shown:?} names no port"))?;
        // `[::1]` in a URL is `::1` to a socket.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        // Host names are case-blind, but a placeholder (`CONSOLE`) is recognised as written.
        let host = match crate::config::placeholder::url_host(raw) {
            Some(written) if written.eq_ignore_ascii_case(host) => written.to_string(),
            _ => host.to_string(),
        };
        Ok((host, port))
    }

    /// The client connection to this console named `name`. `ca_file` resolves against
    /// `base_dir`; the request timeout is `timeout` (or `request_timeout` when the check sets
    /// one), never more than `cap`.
    pub fn connection(
        &self,
        name: &str,
        base_dir: &Path,
        request_timeout: Option<Duration>,
        cap: Duration,
    ) -> Connection {
        let mut conn = Connection::new(
            self.url.value(),
            self.username.value(),
            self.password.value(),
        );
        conn.name = name.to_string();
        conn.scene = self.scene.as_str().into();
        conn.lang = self.lang.as_str().into();
        conn.tls = TlsOptions::from_config(!self.insecure, self.ca_file.as_ref(), base_dir);
        conn.timeout = request_timeout
            .unwrap_or(self.timeout.as_duration())
            .min(cap);
        conn.page_size = self.page_size;
        conn.console_timezone = self.timezone.0;
        conn.login_backoff = self.login_backoff.as_duration();
        conn.max_clock_skew = self.max_clock_skew.as_duration();
        conn
    }
}

/// A console a check was expanded for: its name and definition.
#[derive(Debug, Clone)]
pub struct NamedConsole {
    pub name: String,
    pub config: Arc<ConsoleConfig>,
}

/// Which consoles a check names: `console: main`, `console: [site-a, site-b]` or
/// `console: all`.
#[derive(Debug, Clone, PartialEq)]
pub enum ConsoleSelect {
    /// Every console (`all`).
    All,
    /// One console by name.
    One(String),
    /// Several consoles, each where it is written.
    Many(Vec<Spanned<String>>),
}

impl<'de> Deserialize<'de> for ConsoleSelect {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ConsoleSelect;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a console name, a list of console names, or `all`")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ConsoleSelect, E> {
                Ok(if v.trim() == "all" {
                    ConsoleSelect::All
                } else {
                    ConsoleSelect::One(v.trim().to_string())
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ConsoleSelect, A::Error> {
                let mut names = Vec::new();
                while let Some(n) = seq.next_element::<Spanned<String>>()? {
                    names.push(n);
                }
                if names.is_empty() {
                    return Err(de::Error::custom(
                        "an empty list names no console: name one, several, or write `all`",
                    ));
                }
                Ok(ConsoleSelect::Many(names))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for ConsoleSelect {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "ConsoleSelect".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A console name under `consoles:` in patrol.yaml, a list of names, or `all`.",
            "anyOf": [
                { "type": "string" },
                { "type": "array", "items": { "type": "string" }, "minItems": 1 }
            ]
        })
    }
}

/// A key that moved from a check (or log collector) to the console definition. Accepted by
/// the parser only so that `validate` can say where it is and what to write instead.
pub type Moved = Option<Spanned<de::IgnoredAny>>;

/// What to write instead of a moved key, for the message at its place. `consoles` are the
/// names defined in `patrol.yaml`.
pub fn moved_key_message(key: &str, consoles: &[&str], kind: &str) -> String {
    let name = consoles
        .iter()
        .copied()
        .find(|n| valid_name(n))
        .unwrap_or("main");
    let target = match key {
        "console_timezone" => "timezone",
        other => other,
    };
    if consoles.is_empty() {
        format!(
            "`{key}` is no longer a key of the {kind}: define the console once in patrol.yaml \
             (`consoles: {{{name}: {{url: https://CONSOLE:10443, username: ops, password: \
             \"${{secret:hyperbdr_password}}\", timezone: Asia/Shanghai}}}}`), remove this line \
             and write `console: {name}`"
        )
    } else {
        format!(
            "`{key}` is no longer a key of the {kind}: it is the console's `{target}`, set once \
             under `consoles:` in patrol.yaml (defined: {}); remove this line and write \
             `console: {name}`",
            consoles.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn console(url: &str) -> ConsoleConfig {
        serde_saphyr::from_str(&format!("url: {url}\nusername: ops\npassword: x\n"))
            .expect("console")
    }

    #[test]
    fn host_and_port_come_from_the_url_with_scheme_defaults() {
        assert_eq!(
            console("https://10.0.0.5:10443").host_port(),
            Ok(("10.0.0.5".into(), 10443))
        );
        assert_eq!(
            console("https://console.example").host_port(),
            Ok(("console.example".into(), 443))
        );
        assert_eq!(
            console("http://127.0.0.1").host_port(),
            Ok(("127.0.0.1".into(), 80))
        );
        assert_eq!(
            console("https://[::1]:8443/prefix").host_port(),
            Ok(("::1".into(), 8443))
        );
        let e = console("ftp://x").host_port().unwrap_err();
        assert!(e.contains("https://"), "{e}");
        let e = console("10.0.0.5:10443").host_port().unwrap_err();
        assert!(e.contains("scheme://host"), "{e}");
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = console("https://c:10443");
        assert_eq!(c.scene, Scene::Dr);
        assert_eq!(c.timezone.0, chrono_tz::UTC);
        assert_eq!(c.timeout, Dur::secs(30));
        assert_eq!(c.page_size, 100);
        assert_eq!(c.login_backoff, Dur::secs(900));
        assert_eq!(c.max_clock_skew, Dur::secs(300));
        assert_eq!(c.check_every, Dur::secs(60));
        let conn = c.connection(
            "main",
            Path::new("/etc/patrol"),
            None,
            Duration::from_secs(10),
        );
        assert_eq!(conn.name, "main");
        assert_eq!(conn.timeout, Duration::from_secs(10));
        assert_eq!(conn.login_backoff, Duration::from_secs(900));
    }

    #[test]
    fn debug_output_hides_even_a_literal_password() {
        let c: ConsoleConfig =
            serde_saphyr::from_str("url: https://c\nusername: ops\npassword: hunter2-literal\n")
                .expect("console");
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn names_are_lower_case_words() {
        assert!(valid_name("main"));
        assert!(valid_name("site-2"));
        assert!(!valid_name("Site"));
        assert!(!valid_name("a_b"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
    }

    #[test]
    fn selections_read_a_name_a_list_or_all() {
        #[derive(Deserialize)]
        struct W {
            console: Spanned<ConsoleSelect>,
        }
        let w: W = serde_saphyr::from_str("console: all\n").expect("all");
        assert_eq!(w.console.value, ConsoleSelect::All);
        let w: W = serde_saphyr::from_str("console: main\n").expect("one");
        assert_eq!(w.console.value, ConsoleSelect::One("main".into()));
        assert_eq!(w.console.referenced.column(), 10);
        let w: W = serde_saphyr::from_str("console:\n  - a\n  - b\n").expect("many");
        let ConsoleSelect::Many(names) = w.console.value else {
            panic!("many");
        };
        assert_eq!(names[1].value, "b");
        assert_eq!(names[1].referenced.line(), 3);
        assert!(serde_saphyr::from_str::<W>("console: []\n").is_err());
    }
}
