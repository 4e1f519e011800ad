//! The identity and signatures of a webhook delivery: the delivery id (the same on every
//! retry), Standard Webhooks signing, and the DingTalk and Feishu robots' own signing.

use super::WebhookSetupError;
use crate::alert::event::AlertEvent;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// The id of a delivery: the event's id, or for a group `grp_` + the first 32 hex digits of
/// SHA-256 over the sorted event ids. Stable across retries; used as `webhook-id`.
pub fn delivery_id(events: &[AlertEvent]) -> String {
    match events {
        [one] => one.event_id.clone(),
        many => {
            let mut ids: Vec<&str> = many.iter().map(|e| e.event_id.as_str()).collect();
            ids.sort_unstable();
            let digest = Sha256::digest(ids.join("\n").as_bytes());
            let hex: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
            format!("grp_{hex}")
        }
    }
}

/// The key of a Standard Webhooks secret: base64 after an optional `whsec_` prefix.
pub fn decode_whsec(secret: &str) -> Result<Vec<u8>, WebhookSetupError> {
    let b64 = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key = BASE64.decode(b64.trim()).map_err(|_| {
        WebhookSetupError::Secret(
            "not a Standard Webhooks secret: expected `whsec_` followed by base64".into(),
        )
    })?;
    if key.is_empty() {
        return Err(WebhookSetupError::Secret("the secret is empty".into()));
    }
    Ok(key)
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return Vec::new();
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` (Standard Webhooks).
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", BASE64.encode(mac))
}

/// DingTalk: base64 HMAC-SHA256 of "{timestamp_ms}\n{secret}" keyed with the secret.
pub fn dingtalk_sign(secret: &str, ts_ms: &str) -> String {
    let to_sign = format!("{ts_ms}\n{secret}");
    BASE64.encode(hmac_sha256(secret.as_bytes(), &[to_sign.as_bytes()]))
}

/// Feishu: base64 HMAC-SHA256 of nothing, keyed with "{timestamp}\n{secret}".
pub fn feishu_sign(secret: &str, ts: &str) -> String {
    let key = format!("{ts}\n{secret}");
    BASE64.encode(hmac_sha256(key.as_bytes(), &[]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    #[test]
    fn whsec_secrets_decode() {
        assert_eq!(decode_whsec("whsec_aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_whsec("aGVsbG8=").unwrap(), b"hello");
        let e = decode_whsec("whsec_not base64!").unwrap_err();
        assert!(!e.to_string().contains("not base64!"));
    }

    #[test]
    fn group_ids_are_stable_and_order_free() {
        let now = Utc::now();
        let mut a = crate::alert::channel::webhook::test_event("x", now, None);
        a.event_id = "a".into();
        let mut b = a.clone();
        b.event_id = "b".into();
        let ab = delivery_id(&[a.clone(), b.clone()]);
        assert_eq!(ab, delivery_id(&[b.clone(), a.clone()]));
        assert!(ab.starts_with("grp_") && ab.len() == 36);
        assert_eq!(delivery_id(std::slice::from_ref(&a)), "a");
    }
}
