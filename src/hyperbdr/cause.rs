//! Why a HyperBDR task failed, from the texts the console gives: step messages, step logs
//! (`error_reason`, `detail`, `traceback`), the task's `error.message` and the host's
//! `task_error_description`. Keywords follow the O&M page's "network, permissions, storage
//! space" plus the source side (agent, VSS) from the troubleshooting guide.
//!
//! Causes are tried in a fixed order over all the texts — permission, storage, source,
//! network — because the later ones use weaker words: "VSS snapshot create timeout" is a
//! source problem although it says "timeout", "insufficient permissions" is not storage.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// patrol's classification of a failed task.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// Timeouts, refused or reset connections, DNS, unreachable hosts, 502/504.
    Network,
    /// Access denied, forbidden, bad or expired keys and tokens, 401/403.
    Permission,
    /// Quota exceeded, no space, full disks or buckets, snapshot limits.
    Storage,
    /// The source side: agent offline, VSS, snapshot creation on the source.
    Source,
    /// None of the above matched.
    Unknown,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Network => "network",
            Cause::Permission => "permission",
            Cause::Storage => "storage",
            Cause::Source => "source",
            Cause::Unknown => "unknown",
        }
    }
}

/// Words per cause, lowercase. Numbers are matched as whole tokens.
const RULES: &[(Cause, &[&str])] = &[
    (
        Cause::Permission,
        &[
            "accessdenied",
            "access denied",
            "access is denied",
            "forbidden",
            "unauthorized",
            "unauthorised",
            "not authorized",
            "permission denied",
            "insufficient permission",
            "invalidaccesskeyid",
            "signaturedoesnotmatch",
            "invalidclienttokenid",
            "expiredtoken",
            "token expired",
            "expired token",
            "token has expired",
            "authfailure",
            "authentication failed",
            "invalid credentials",
            "401",
            "403",
            "权限",
            "拒绝访问",
            "认证失败",
        ],
    ),
    (
        Cause::Storage,
        &[
            "quota",
            "nospace",
            "no space",
            "enospc",
            "out of space",
            "insufficient",
            "disk full",
            "disk is full",
            "is full",
            "storage full",
            "bucket full",
            "snapshot limit",
            "limit exceeded",
            "limitexceeded",
            "配额",
            "空间不足",
        ],
    ),
    (
        Cause::Source,
        &[
            "agent offline",
            "agent is offline",
            "agent not running",
            "agent disconnected",
            "agent heartbeat",
            "vss",
            "snapshot create timeout",
            "source host",
            "source disk",
            "代理离线",
            "源端",
        ],
    ),
    (
        Cause::Network,
        &[
            "timeout",
            "timed out",
            "i/o timeout",
            "connection refused",
            "refused",
            "unreachable",
            "no route to host",
            "dns",
            "no such host",
            "name resolution",
            "connection reset",
            "reset by peer",
            "broken pipe",
            "bad gateway",
            "gateway timeout",
            "tls handshake",
            "unexpected eof",
            "502",
            "504",
            "超时",
            "网络",
            "连接失败",
        ],
    ),
];

/// The first keyword of `words` found in `text` (lowercased).
fn find(text: &str, words: &[&str]) -> bool {
    words.iter().any(|w| {
        if w.bytes().all(|b| b.is_ascii_digit()) {
            // "403" as a token, not inside "14030".
            text.match_indices(w).any(|(i, _)| {
                let before = text[..i].chars().next_back();
                let after = text[i + w.len()..].chars().next();
                !before.is_some_and(|c| c.is_ascii_alphanumeric())
                    && !after.is_some_and(|c| c.is_ascii_alphanumeric())
            })
        } else {
            text.contains(w)
        }
    })
}

/// The cause and the text that decided it (`None` for unknown).
pub fn classify<S: AsRef<str>>(texts: &[S]) -> (Cause, Option<&str>) {
    let lowered: Vec<String> = texts.iter().map(|t| t.as_ref().to_lowercase()).collect();
    for (cause, words) in RULES {
        for (i, text) in lowered.iter().enumerate() {
            if find(text, words) {
                return (*cause, Some(texts[i].as_ref()));
            }
        }
    }
    (Cause::Unknown, None)
}

fn push(out: &mut Vec<String>, v: Option<&Value>) {
    if let Some(s) = v.and_then(Value::as_str) {
        let s = s.trim();
        if !s.is_empty() && !out.iter().any(|o| o == s) {
            out.push(s.to_string());
        }
    }
}

/// The texts that describe a failed task, most telling first: the messages of its steps
/// (last first), their logs' `error_reason`, `detail` and `traceback`, then the task's
/// `error.message` (or `error` text) and the host's `task_error_description`.
pub fn evidence_texts(task: &Value, steps: Option<&Value>, host: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    let steps: Vec<&Value> = steps
        .and_then(Value::as_array)
        .map(|a| a.iter().rev().collect())
        .unwrap_or_default();
    for step in &steps {
        push(&mut out, step.get("message"));
    }
    for step in &steps {
        for log in step
            .get("logs")
            .and_then(Value::as_array)
            .map(|a| a.iter().rev().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            push(&mut out, log.get("error_reason"));
            push(&mut out, log.get("detail"));
        }
    }
    match task.get("error") {
        Some(Value::Object(e)) => push(&mut out, e.get("message")),
        other => push(&mut out, other),
    }
    push(&mut out, task.get("message"));
    if let Some(h) = host {
        push(&mut out, h.get("task_error_description"));
    }
    for step in &steps {
        for log in step
            .get("logs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            push(&mut out, log.get("traceback"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn one(text: &str) -> Cause {
        classify(&[text]).0
    }

    #[test]
    fn typical_messages_get_their_cause() {
        assert_eq!(one("dial tcp 100.64.1.9:443: i/o timeout"), Cause::Network);
        assert_eq!(one("connect: connection refused"), Cause::Network);
        assert_eq!(one("lookup obs.example.com: no such host"), Cause::Network);
        assert_eq!(one("HTTP 504 Gateway Timeout"), Cause::Network);
        assert_eq!(
            one("AccessDenied: User is not authorized to perform: ebs:PutSnapshotBlock"),
            Cause::Permission
        );
        assert_eq!(
            one("InvalidAccessKeyId: the key does not exist"),
            Cause::Permission
        );
        assert_eq!(one("HTTP 403 while listing the bucket"), Cause::Permission);
        assert_eq!(one("QuotaExceeded: snapshot quota"), Cause::Storage);
        assert_eq!(
            one("write /cache/blk: no space left on device"),
            Cause::Storage
        );
        assert_eq!(
            one("agent offline: VSS snapshot create timeout after 600 s"),
            Cause::Source
        );
        assert_eq!(one("上传超时"), Cause::Network);
        assert_eq!(one("配额不足"), Cause::Storage);
        assert_eq!(one("something odd happened"), Cause::Unknown);
        assert_eq!(one(""), Cause::Unknown);
    }

    #[test]
    fn numbers_match_as_tokens_only() {
        assert_eq!(one("PUT part 14030 done"), Cause::Unknown);
        assert_eq!(one("status=403"), Cause::Permission);
    }

    #[test]
    fn stronger_causes_win_over_all_texts() {
        // A timeout in one text, access denied in another: permission decides.
        let texts = ["upload timed out", "AccessDeniedException"];
        assert_eq!(
            classify(&texts),
            (Cause::Permission, Some("AccessDeniedException"))
        );
        // "insufficient permissions" is permission, not storage.
        assert_eq!(
            one("insufficient permission to create volume"),
            Cause::Permission
        );
    }

    #[test]
    fn evidence_comes_from_steps_logs_task_and_host() {
        let task =
            json!({"id": "t-990", "error": {"message": "upload part failed: RequestTimeout"}});
        let steps = json!([
            {"step": "prepare_volume", "status": "success", "message": ""},
            {"step": "upload_data", "status": "failed", "message": "",
             "logs": [{"detail": "PUT part 113", "error_reason": "dial tcp 100.64.1.9:443: i/o timeout",
                       "traceback": "Traceback ..."}]}
        ]);
        let host = json!({"task_error_description": "upload part failed: RequestTimeout"});
        let texts = evidence_texts(&task, Some(&steps), Some(&host));
        assert_eq!(
            texts,
            [
                "dial tcp 100.64.1.9:443: i/o timeout",
                "PUT part 113",
                "upload part failed: RequestTimeout",
                "Traceback ..."
            ]
        );
        assert_eq!(
            classify(&texts),
            (Cause::Network, Some("dial tcp 100.64.1.9:443: i/o timeout"))
        );
        // Without steps the task's own text still classifies.
        let texts = evidence_texts(&json!({"error": "QuotaExceeded"}), None, None);
        assert_eq!(classify(&texts).0, Cause::Storage);
    }
}
