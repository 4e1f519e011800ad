//! Masking of secret values. Every text that leaves a run (observation, summary, facts,
//! output tails, log lines) goes through a [`Redactor`] before it is stored, logged or printed.

use std::sync::Arc;

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

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
}
