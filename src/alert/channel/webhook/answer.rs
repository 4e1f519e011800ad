//! What a receiver's answer means: delivered (with a receipt), worth a retry (with the
//! receiver's `Retry-After`), or a permanent failure. Anything quoted from the answer is
//! masked first.

use super::{WebhookChannel, WebhookFormat};
use crate::alert::channel::{DeliveryError, Receipt};
use crate::error_text::error_chain;
use reqwest::header::{HeaderValue, RETRY_AFTER};
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// How much of a receiver's answer is read (enough for any error message).
const MAX_ANSWER_BYTES: usize = 64 * 1024;
/// How much of the answer a receipt or an error quotes.
const QUOTE_BYTES: usize = 200;

impl WebhookChannel {
    /// The outcome of a request the receiver answered.
    pub(super) async fn outcome(&self, resp: reqwest::Response) -> Result<Receipt, DeliveryError> {
        let status = resp.status();
        let retry_after = parse_retry_after(resp.headers().get(RETRY_AFTER), SystemTime::now());
        let answer = read_capped(resp, MAX_ANSWER_BYTES).await;
        let quoted = self.quote(&answer);
        let code = status.as_u16();
        let line = match status.canonical_reason() {
            Some(r) => format!("HTTP {code} {r}"),
            None => format!("HTTP {code}"),
        };

        if status.is_success() {
            if let Some(err) = self.platform_error(&answer) {
                return Err(err);
            }
            let response = if quoted.is_empty() {
                format!("HTTP {code}")
            } else {
                format!("HTTP {code} {quoted}")
            };
            return Ok(Receipt { response });
        }
        let message = if quoted.is_empty() {
            format!("{line} from {}", self.url_shown)
        } else {
            format!("{line} from {}: {quoted}", self.url_shown)
        };
        if code == 408 || code == 429 || status.is_server_error() {
            Err(DeliveryError::Transient {
                message,
                retry_after,
            })
        } else if status.is_redirection() {
            Err(DeliveryError::Permanent {
                message: format!(
                    "{message} (a redirect: patrol does not follow redirects for a POST; \
                     configure the final url)"
                ),
            })
        } else {
            Err(DeliveryError::Permanent { message })
        }
    }

    /// A failed request (no HTTP answer): transient, except a request that cannot be built.
    pub(super) fn request_error(&self, e: reqwest::Error) -> DeliveryError {
        let e = e.without_url();
        let what = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "failed"
        };
        let message = self.redactor.text(&format!(
            "POST to {} {what}: {}",
            self.url_shown,
            error_chain(&e)
        ));
        if e.is_builder() {
            DeliveryError::Permanent { message }
        } else {
            DeliveryError::Transient {
                message,
                retry_after: None,
            }
        }
    }

    /// The first bytes of an answer, as text: secrets masked in the whole answer first (a
    /// receiver may echo the URL path or a header), then cut, so no cut leaves part of one.
    fn quote(&self, answer: &[u8]) -> String {
        let text = String::from_utf8_lossy(answer);
        let masked = if answer.len() >= MAX_ANSWER_BYTES {
            self.redactor.cut_end(&text)
        } else {
            self.redactor.text(&text)
        };
        let (quoted, _) = self.redactor.head(masked.trim(), QUOTE_BYTES);
        quoted.trim().replace(['\r', '\n'], " ")
    }

    /// DingTalk, WeCom and Feishu answer HTTP 200 with an error code in the body.
    fn platform_error(&self, answer: &[u8]) -> Option<DeliveryError> {
        let (platform, code_keys, msg_keys, rate_limited): (_, &[&str], &[&str], &[i64]) =
            match self.format {
                // 130101: sent too fast; 410100: rate limited.
                WebhookFormat::Dingtalk => {
                    ("DingTalk", &["errcode"], &["errmsg"], &[130101, 410100])
                }
                // -1: system busy; 45009: API frequency limit.
                WebhookFormat::Wecom => ("WeCom", &["errcode"], &["errmsg"], &[-1, 45009]),
                // 9499: too many requests; 11232: frequency limit.
                WebhookFormat::Feishu => (
                    "Feishu",
                    &["code", "StatusCode"],
                    &["msg", "StatusMessage"],
                    &[9499, 11232],
                ),
                _ => return None,
            };
        let v: Value = serde_json::from_slice(answer).ok()?;
        let code = code_keys.iter().find_map(|k| v.get(*k)?.as_i64())?;
        if code == 0 {
            return None;
        }
        let msg = msg_keys
            .iter()
            .find_map(|k| v.get(*k)?.as_str())
            .unwrap_or("");
        let message = self
            .redactor
            .text(&format!("{platform} answered error {code}: {msg}"));
        Some(if rate_limited.contains(&code) {
            DeliveryError::Transient {
                message,
                retry_after: None,
            }
        } else {
            DeliveryError::Permanent { message }
        })
    }
}

/// `Retry-After` as seconds or as an HTTP date (a past date means "now").
fn parse_retry_after(h: Option<&HeaderValue>, now: SystemTime) -> Option<Duration> {
    let s = h?.to_str().ok()?.trim();
    if let Ok(secs) = s.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(s).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Up to `cap` bytes of the answer's body; an unreadable body reads as empty (the status
/// already says what happened).
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        let room = cap - buf.len();
        buf.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if buf.len() >= cap {
            break;
        }
    }
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 06 Nov 1994 08:49:37
        let hv = |s: &str| HeaderValue::from_str(s).unwrap();
        assert_eq!(
            parse_retry_after(Some(&hv("7")), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            parse_retry_after(Some(&hv("Sun, 06 Nov 1994 08:50:07 GMT")), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after(Some(&hv("Sun, 06 Nov 1994 08:00:00 GMT")), now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after(Some(&hv("soon")), now), None);
        assert_eq!(parse_retry_after(None, now), None);
    }
}
