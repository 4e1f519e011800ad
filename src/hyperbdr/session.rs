//! One session per console, process-wide: its token, its login guard, and the one login in
//! flight. Every client of a console (all its checks, log export) shares it.
//!
//! - **Key.** A console is its name plus a SHA-256 fingerprint of URL, user, password and
//!   scene: a changed configuration (the password corrected, say) is a fresh start, without
//!   the old token or back-off.
//! - **Single flight.** A login happens under the console's lock; tasks that wait for it take
//!   its outcome (the token, or the error) instead of trying again, so 24 checks starting
//!   together make one login request.
//! - **Login guard.** A refused login (the console's error envelope or HTTP 401/403 on the
//!   login endpoint) stops every login to that console until `refused_at + login_backoff`,
//!   whatever the number of checks, so an account-lockout policy never locks the user.
//!   Transport errors and 5xx answers are not refusals. The guard is also written to a small
//!   file next to the store (see [`set_guard_file`]) and read before every login, so that a
//!   `patrol run` started by cron a minute later, or a daemon beside it, honours it too; the
//!   file holds the console's name, the user, the times,
//!   the console's message and a salted HMAC of the login fingerprint, never the password.

use super::client::{Connection, ConsoleError};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock};

/// A console as the process knows it: name + fingerprint of what the login depends on.
#[derive(Clone, PartialEq, Eq, Hash)]
struct ConsoleKey {
    name: String,
    fingerprint: [u8; 32],
}

/// A refused login and how long no login is tried.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub at: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// What the console said (`console error 10010001: invalid credentials`).
    pub reason: String,
}

/// How a login attempt failed.
pub(crate) enum LoginFailure {
    /// The console refused the credentials: back off.
    Refused(String),
    /// Anything else (console down, 5xx, no token): the next check may try again.
    Other(ConsoleError),
}

#[derive(Default)]
struct State {
    token: Option<String>,
    refused: Option<Refusal>,
    /// The outcome of the last login attempt, for the tasks that waited for it.
    last: Option<Result<String, ConsoleError>>,
    /// The guard file may hold an entry for this console (removed after a good login).
    persisted: bool,
}

/// The shared session of one console.
pub(crate) struct Session {
    key: ConsoleKey,
    state: tokio::sync::Mutex<State>,
    /// Login attempts finished; a task that sees it move while it waited takes their outcome.
    attempts: AtomicU64,
}

static SESSIONS: LazyLock<Mutex<HashMap<ConsoleKey, Arc<Session>>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

/// The session of the console `conn` describes (created on first use).
pub(crate) fn session(conn: &Connection) -> Arc<Session> {
    let key = ConsoleKey {
        name: conn.name.clone(),
        fingerprint: Sha256::digest(login_material(conn)).into(),
    };
    let mut all = SESSIONS.lock().unwrap_or_else(|p| p.into_inner());
    all.entry(key.clone())
        .or_insert_with(|| {
            Arc::new(Session {
                key,
                state: tokio::sync::Mutex::new(State::default()),
                attempts: AtomicU64::new(0),
            })
        })
        .clone()
}

/// What a login depends on, each part length-prefixed so no two settings run together.
fn login_material(conn: &Connection) -> Vec<u8> {
    let mut out = Vec::new();
    for part in [
        conn.url.trim_end_matches('/'),
        &conn.username,
        &conn.password,
        &conn.scene,
    ] {
        out.extend((part.len() as u64).to_le_bytes());
        out.extend(part.as_bytes());
    }
    out
}

impl Session {
    /// A token for `conn`: the cached one unless it is `stale` or expiring, else the outcome
    /// of the login in flight, else a new login (`login`) unless the guard forbids it.
    pub(crate) async fn token<F, Fut>(
        &self,
        conn: &Connection,
        stale: Option<&str>,
        usable: impl Fn(&str) -> bool,
        login: F,
    ) -> Result<String, ConsoleError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<String, LoginFailure>>,
    {
        let seen = self.attempts.load(Ordering::Acquire);
        let mut st = self.state.lock().await;
        match &st.token {
            Some(t) if Some(t.as_str()) != stale && usable(t) => return Ok(t.clone()),
            Some(_) => st.token = None,
            None => {}
        }
        // A login that ended while this task waited answers for it too.
        if self.attempts.load(Ordering::Acquire) != seen
            && let Some(Err(e)) = &st.last
        {
            return Err(e.clone());
        }
        if let Some(r) = &st.refused
            && Utc::now() < r.until
        {
            return Err(refused_error(conn, r));
        }
        // Another patrol process (a `patrol run` beside the daemon) may have been refused.
        if let Some(r) = load_refusal(conn).await {
            let e = refused_error(conn, &r);
            st.refused = Some(r);
            st.persisted = true;
            return Err(e);
        }

        let at = Utc::now();
        let outcome = match login().await {
            Ok(token) => {
                st.token = Some(token.clone());
                st.refused = None;
                if st.persisted {
                    st.persisted = false;
                    save_refusal(conn, None).await;
                }
                Ok(token)
            }
            Err(LoginFailure::Refused(reason)) => {
                let backoff =
                    chrono::Duration::from_std(conn.login_backoff).unwrap_or(chrono::Duration::MAX);
                let r = Refusal {
                    at,
                    until: at
                        .checked_add_signed(backoff)
                        .unwrap_or(DateTime::<Utc>::MAX_UTC),
                    reason,
                };
                tracing::warn!(
                    console = %self.key.name,
                    user = %conn.username,
                    until = %r.until,
                    reason = %r.reason,
                    "HyperBDR login refused: no login to this console until the back-off ends"
                );
                save_refusal(conn, Some(&r)).await;
                st.persisted = true;
                let e = refused_error(conn, &r);
                st.refused = Some(r);
                Err(e)
            }
            Err(LoginFailure::Other(e)) => Err(e),
        };
        st.last = Some(outcome.clone());
        self.attempts.fetch_add(1, Ordering::Release);
        outcome
    }
}

fn refused_error(conn: &Connection, r: &Refusal) -> ConsoleError {
    ConsoleError::LoginRefused {
        username: conn.username.clone(),
        at: r.at,
        until: r.until,
        zone: conn.console_timezone,
        reason: r.reason.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// The guard file
// ---------------------------------------------------------------------------------------------

static GUARD_FILE: RwLock<Option<PathBuf>> = RwLock::new(None);
/// One writer at a time within the process (different consoles share the file).
static GUARD_WRITE: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

/// Where login refusals are kept across processes (`None`: in memory only). Set once the
/// configuration is known, to a file next to the store.
pub fn set_guard_file(path: Option<PathBuf>) {
    *GUARD_FILE.write().unwrap_or_else(|p| p.into_inner()) = path;
}

/// The guard file for a store at `store`: `patrol.db` → `patrol.login-guard.json`.
pub fn guard_file_for(store: &Path) -> PathBuf {
    store.with_extension("login-guard.json")
}

fn guard_file() -> Option<PathBuf> {
    GUARD_FILE.read().unwrap_or_else(|p| p.into_inner()).clone()
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct GuardFile {
    /// Key of the fingerprints' HMAC, random per file.
    salt: String,
    #[serde(default)]
    refusals: Vec<Stored>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    console: String,
    username: String,
    /// HMAC-SHA256(salt, URL, user, password, scene).
    fingerprint: String,
    #[serde(flatten)]
    refusal: Refusal,
}

fn fingerprint(salt: &str, conn: &Connection) -> String {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(salt.as_bytes()) else {
        return String::new();
    };
    mac.update(&login_material(conn));
    B64.encode(mac.finalize().into_bytes())
}

fn new_salt() -> String {
    use std::hash::{BuildHasher, Hasher};
    // Each RandomState is keyed from the OS's randomness; four of them make 256 bits.
    let mut bytes = Vec::with_capacity(32);
    for i in 0..4u64 {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(i);
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        bytes.extend(h.finish().to_le_bytes());
    }
    B64.encode(bytes)
}

async fn read_guard(path: &Path) -> Option<GuardFile> {
    let bytes = tokio::fs::read(path).await.ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(g) => Some(g),
        Err(e) => {
            tracing::warn!(file = %path.display(), error = %e, "ignoring an unreadable login guard file");
            None
        }
    }
}

/// The refusal in force for `conn` in the guard file.
async fn load_refusal(conn: &Connection) -> Option<Refusal> {
    let path = guard_file()?;
    let guard = read_guard(&path).await?;
    let fp = fingerprint(&guard.salt, conn);
    let now = Utc::now();
    guard
        .refusals
        .into_iter()
        .find(|s| s.console == conn.name && s.fingerprint == fp && now < s.refusal.until)
        .map(|s| s.refusal)
}

/// Records (or with `None` removes) the refusal of `conn` in the guard file; entries that
/// have ended are dropped. Failures are logged: the guard in memory still holds.
async fn save_refusal(conn: &Connection, refusal: Option<&Refusal>) {
    let Some(path) = guard_file() else {
        return;
    };
    let _one_writer = GUARD_WRITE.lock().await;
    let mut guard = read_guard(&path).await.unwrap_or_default();
    if guard.salt.is_empty() {
        guard.salt = new_salt();
        guard.refusals.clear();
    }
    let fp = fingerprint(&guard.salt, conn);
    let now = Utc::now();
    guard
        .refusals
        .retain(|s| now < s.refusal.until && !(s.console == conn.name && s.fingerprint == fp));
    if let Some(r) = refusal {
        guard.refusals.push(Stored {
            console: conn.name.clone(),
            username: conn.username.clone(),
            fingerprint: fp,
            refusal: r.clone(),
        });
    }
    if let Err(e) = write_private(&path, &guard).await {
        tracing::warn!(file = %path.display(), error = %e, "cannot write the login guard file; the back-off holds in this process only");
    }
}

/// Writes `guard` to `path` (mode 0600) through a temporary file and a rename.
async fn write_private(path: &Path, guard: &GuardFile) -> std::io::Result<()> {
    let text = serde_json::to_vec_pretty(guard).map_err(std::io::Error::other)?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut open = tokio::fs::OpenOptions::new();
    open.write(true).create(true).truncate(true);
    #[cfg(unix)]
    open.mode(0o600);
    {
        use tokio::io::AsyncWriteExt as _;
        let mut f = open.open(&tmp).await?;
        f.write_all(&text).await?;
        f.sync_all().await?;
    }
    tokio::fs::rename(&tmp, path).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_password_is_another_console() {
        let a = Connection::new("http://x:1", "ops", "one");
        let mut b = a.clone();
        b.password = "two".into();
        assert!(!Arc::ptr_eq(&session(&a), &session(&b)));
        assert!(Arc::ptr_eq(&session(&a), &session(&a.clone())));
        let mut c = a.clone();
        c.name = "site-b".into();
        assert!(!Arc::ptr_eq(&session(&a), &session(&c)));
        // The file's fingerprint depends on the salt and never shows the password.
        let f1 = fingerprint("salt-1", &a);
        assert_ne!(f1, fingerprint("salt-2", &a));
        assert_ne!(f1, fingerprint("salt-1", &b));
        assert_eq!(f1.len(), 43, "{f1}");
    }
}
