//! Masking of secret values. Every text that leaves a run (observation, summary, facts,
//! metric names, output tails, rule output, receiver answers, log lines) goes through a
//! [`Redactor`] before it is stored, logged or printed.
//!
//! Masking comes before cutting. Where a text must be shortened, [`Redactor::head`] and
//! [`Redactor::tail`] mask the whole text first and cut what is left, so a cut never leaves
//! part of a secret behind; where only a piece of a longer stream was ever kept (the end of a
//! program's output, the first bytes of an HTTP body), [`Redactor::cut_start`] and
//! [`Redactor::cut_end`] also mask a piece of a secret that the cut left at the edge.

use std::sync::Arc;

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// The shortest piece of a secret, left at a cut edge, that is masked. Shorter pieces tell
/// nothing and would mask ordinary text.
const MIN_PIECE: usize = 3;

/// Secrets shorter than this are too easy to find in ordinary text (they rewrite words in
/// every output) and too easy to guess: `patrol validate` warns about them.
pub const SHORT_SECRET: usize = 8;

/// Knows the values of every configured secret and masks them wherever they appear.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    // Longest first, so that a secret containing another is masked whole.
    secrets: Arc<Vec<String>>,
}

impl Redactor {
    pub fn new(values: impl IntoIterator<Item = String>) -> Redactor {
        // Very short values would mask half the output ("a", "1") and protect nothing.
        let mut secrets: Vec<String> = values.into_iter().filter(|v| v.len() >= 3).collect();
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor {
            secrets: Arc::new(secrets),
        }
    }

    /// This redactor's secrets and `other`'s (a channel's own values plus every configured
    /// secret).
    pub fn merged(&self, other: &Redactor) -> Redactor {
        Redactor::new(self.secrets.iter().chain(other.secrets.iter()).cloned())
    }

    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The secret values, longest first (for maskers that work on bytes, like log export).
    pub fn values(&self) -> &[String] {
        &self.secrets
    }

    /// `text` with every secret value replaced by `***`.
    pub fn text(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in self.secrets.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
        out
    }

    /// The length of the longest secret (0 without secrets): how much more of a stream
    /// must be kept so that a secret cut at the edge can still be recognised.
    pub fn longest(&self) -> usize {
        self.secrets.first().map_or(0, String::len)
    }

    /// The beginning of a text that was cut after it: masked, and a piece of a secret at its
    /// very end (the cut went through the secret) masked too.
    pub fn cut_end(&self, text: &str) -> String {
        let mut out = self.text(text);
        if let Some(n) = self.piece_len(&out, |s, k| out.ends_with(&s[..k])) {
            out.truncate(out.len() - n);
            out.push_str(MASK);
        }
        out
    }

    /// The end of a text that was cut before it: masked, and a piece of a secret at its very
    /// beginning masked too.
    pub fn cut_start(&self, text: &str) -> String {
        let out = self.text(text);
        match self.piece_len(&out, |s, k| out.starts_with(&s[s.len() - k..])) {
            Some(n) => format!("{MASK}{}", &out[n..]),
            None => out,
        }
    }

    /// The longest proper piece (at least [`MIN_PIECE`] bytes) of any secret for which
    /// `found(secret, piece_len)` holds.
    fn piece_len(&self, text: &str, found: impl Fn(&str, usize) -> bool) -> Option<usize> {
        let mut best: Option<usize> = None;
        for s in self.secrets.iter() {
            for k in (MIN_PIECE..s.len().min(text.len() + 1)).rev() {
                if best.is_some_and(|b| b >= k) {
                    break;
                }
                // Both ends of the piece must be character boundaries of the secret.
                if s.is_char_boundary(k) && s.is_char_boundary(s.len() - k) && found(s, k) {
                    best = Some(k);
                    break;
                }
            }
        }
        best
    }

    /// At most `max` bytes from the beginning of `text`, masked before it is cut (a cut mask
    /// shows as `**`, never as part of a secret). The flag tells whether anything was cut.
    pub fn head(&self, text: &str, max: usize) -> (String, bool) {
        let mut out = self.text(text);
        if out.len() <= max {
            return (out, false);
        }
        let mut end = max;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
        (out, true)
    }

    /// At most `max` bytes from the end of `text`, masked before it is cut.
    pub fn tail(&self, text: &str, max: usize) -> (String, bool) {
        let out = self.text(text);
        if out.len() <= max {
            return (out, false);
        }
        let mut start = out.len() - max;
        while !out.is_char_boundary(start) {
            start += 1;
        }
        (out[start..].to_string(), true)
    }

    /// A JSON value with every string (and every object key) masked.
    pub fn json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        if self.secrets.is_empty() {
            return value.clone();
        }
        match value {
            Value::String(s) => Value::String(self.text(s)),
            Value::Array(items) => Value::Array(items.iter().map(|v| self.json(v)).collect()),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.text(k), self.json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_strings_keys_and_nested_values() {
        let r = Redactor::new(["hunter2".to_string(), "x".to_string()]);
        assert_eq!(r.text("pw=hunter2;"), "pw=***;");
        // one-letter values are not treated as secrets
        assert_eq!(r.text("x"), "x");
        let v = serde_json::json!({"a": ["hunter2", 1], "hunter2": {"b": "say hunter2"}});
        assert_eq!(
            r.json(&v),
            serde_json::json!({"a": ["***", 1], "***": {"b": "say ***"}})
        );
    }

    #[test]
    fn masking_comes_before_cutting() {
        let r = Redactor::new(["nv7f3a9cQ-2kLp8Z".to_string()]);
        let text = "token=nv7f3a9cQ-2kLp8Z end";
        // Cut through the secret, the secret is still gone.
        assert_eq!(r.head(text, 12), ("token=*** en".to_string(), true));
        assert_eq!(r.head(text, 8), ("token=**".to_string(), true));
        assert_eq!(r.tail(text, 7), ("*** end".to_string(), true));
        assert_eq!(r.head("short", 9), ("short".to_string(), false));
    }

    #[test]
    fn a_piece_of_a_secret_at_a_cut_edge_is_masked() {
        let r = Redactor::new(["nv7f3a9cQ-2kLp8Z".to_string()]);
        // The last 9 bytes of a stream that ended with the secret.
        assert_eq!(r.cut_start("Q-2kLp8Z\n"), "***\n");
        assert_eq!(r.cut_start("2kLp8Z: done"), "***: done");
        // The first bytes of a body that was cut inside the secret.
        assert_eq!(r.cut_end("key: nv7f3a9"), "key: ***");
        // Whole secrets and ordinary text are unaffected by the edge rule.
        assert_eq!(r.cut_end("x nv7f3a9cQ-2kLp8Z y"), "x *** y");
        assert_eq!(r.cut_start("ordinary"), "ordinary");
        // Pieces shorter than three bytes are ordinary text.
        assert_eq!(r.cut_start("Z: done"), "Z: done");
        assert_eq!(Redactor::default().cut_end("abc"), "abc");
        assert_eq!(r.longest(), 16);
    }
}
