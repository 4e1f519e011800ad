//! Masking of secrets in exported logs, with a count per kind for the manifest.
//!
//! | name | masks |
//! |---|---|
//! | `configured-secret` | the value of every secret under `secrets:` in patrol.yaml |
//! | `private-key` | PEM private key blocks |
//! | `authorization` | the value of `Authorization:` headers (`Bearer …`, `Basic …`) |
//! | `url-credentials` | the password in `scheme://user:password@host` |
//! | `password` | values of `password`, `passwd`, `pwd`, `user_password`, `reset_password`, `auth_cert` |
//! | `token` | values of `token`, `access_token`, `refresh_token`, `X-Auth-Token`, `api_key`, `apikey`, `session_id` |
//! | `secret-key` | values of `secret_key`, `secret_access_key`, `secretAccessKey`, `access_key_secret`, `sk`, `secret` |
//! | `access-key` | values of `access_key`, `access_key_id`, `accessKeyId`, `ak`, and AWS/Alibaba key ids (`AKIA…`, `ASIA…`, `LTAI…`) |
//!
//! Keys match case-insensitively, quoted or not, with `=` or `:` (`"password": "x"`,
//! `password=x`, `Password: x`); the key stays, the value becomes `***`. With
//! `redact.enabled: false` only `configured-secret` stays: patrol's own secrets never leave
//! in a bundle.

use super::{LogsError, RedactConfig};
use crate::redact::{MASK, Redactor};
use regex::bytes::{Captures, Regex};
use std::collections::BTreeMap;

/// One compiled rule: every match (or its `value` group) becomes `***`.
struct Rule {
    name: String,
    regex: Regex,
}

/// The redaction of one export.
pub struct LogRedactor {
    rules: Vec<Rule>,
    /// False with `redact.enabled: false`: only configured secrets are masked.
    enabled: bool,
}

const KEY_TAIL: &str = r#"["']?\s*[:=]\s*["']?"#;
const VALUE: &str = r#"(?P<value>[^\s"',;&<>]+)"#;

fn keyed(keys: &str) -> String {
    format!(r#"(?im)(?:^|[^A-Za-z0-9_-])(?:{keys}){KEY_TAIL}{VALUE}"#)
}

fn built_in() -> Vec<(&'static str, String)> {
    vec![
        (
            "private-key",
            r"(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?-----END [A-Z ]*PRIVATE KEY-----".into(),
        ),
        (
            "authorization",
            r#"(?i)(?:proxy-)?authorization["']?\s*[:=]\s*["']?(?P<value>[^\r\n"']+)"#.into(),
        ),
        (
            "url-credentials",
            r"(?i)[a-z][a-z0-9+.-]*://[^/\s:@]+:(?P<value>[^@\s/]+)@".into(),
        ),
        (
            "password",
            keyed("password|passwd|pwd|user_password|reset_password|auth_cert"),
        ),
        (
            "token",
            keyed(
                "token|access_token|refresh_token|auth_token|x-auth-token|api_key|apikey|api-key|session_id",
            ),
        ),
        (
            "secret-key",
            keyed(
                "secret_?key|secret_?access_?key|aws_secret_access_key|access_key_secret|sk|secret",
            ),
        ),
        (
            "access-key",
            keyed("access_?key|access_?key_?id|aws_access_key_id|ak"),
        ),
        (
            "access-key",
            r"\b(?P<value>(?:AKIA|ASIA|LTAI)[A-Za-z0-9]{12,28})\b".into(),
        ),
    ]
}

impl LogRedactor {
    /// The rules in force: none when redaction is off.
    pub fn new(cfg: &RedactConfig, secrets: &Redactor) -> Result<LogRedactor, LogsError> {
        let mut rules = Vec::new();
        let values = secrets.values();
        if !values.is_empty() {
            let alt: Vec<String> = values.iter().map(|v| regex::escape(v)).collect();
            let regex = Regex::new(&format!("(?P<value>{})", alt.join("|")))
                .map_err(|e| LogsError::Pattern("configured-secret".into(), e.to_string()))?;
            rules.push(Rule {
                name: "configured-secret".into(),
                regex,
            });
        }
        if !cfg.enabled {
            return Ok(LogRedactor {
                rules,
                enabled: false,
            });
        }
        for (name, re) in built_in() {
            let regex =
                Regex::new(&re).map_err(|e| LogsError::Pattern(name.into(), e.to_string()))?;
            rules.push(Rule {
                name: name.into(),
                regex,
            });
        }
        for p in &cfg.patterns {
            let regex = Regex::new(&p.regex)
                .map_err(|e| LogsError::Pattern(p.name.clone(), e.to_string()))?;
            rules.push(Rule {
                name: p.name.clone(),
                regex,
            });
        }
        Ok(LogRedactor {
            rules,
            enabled: true,
        })
    }

    /// Redaction is turned off (configured secrets are masked all the same).
    pub fn is_off(&self) -> bool {
        !self.enabled
    }

    /// `content` with every match masked, and how many masks each rule made.
    pub fn apply(&self, content: Vec<u8>) -> (Vec<u8>, BTreeMap<String, u64>) {
        let mut counts = BTreeMap::new();
        let mut text = content;
        for rule in &self.rules {
            let mut n = 0u64;
            let replaced = rule.regex.replace_all(&text, |c: &Captures| {
                let whole = c.get(0).map(|m| m.as_bytes()).unwrap_or_default();
                match c.name("value") {
                    // Already masked by an earlier rule: leave it, do not count it twice.
                    Some(v) if v.as_bytes() == MASK.as_bytes() => whole.to_vec(),
                    Some(v) => {
                        n += 1;
                        let start = v.start() - c.get(0).map(|m| m.start()).unwrap_or(0);
                        let mut out = whole[..start].to_vec();
                        out.extend_from_slice(MASK.as_bytes());
                        out.extend_from_slice(&whole[start + v.len()..]);
                        out
                    }
                    None => {
                        n += 1;
                        MASK.as_bytes().to_vec()
                    }
                }
            });
            if n > 0 {
                text = replaced.into_owned();
                *counts.entry(rule.name.clone()).or_insert(0) += n;
            }
        }
        (text, counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn redact(text: &str, secrets: &[&str]) -> (String, BTreeMap<String, u64>) {
        let r = LogRedactor::new(
            &RedactConfig::default(),
            &Redactor::new(secrets.iter().map(|s| s.to_string())),
        )
        .unwrap();
        let (out, counts) = r.apply(text.as_bytes().to_vec());
        (String::from_utf8(out).unwrap(), counts)
    }

    #[test]
    fn masks_values_and_keeps_keys() {
        let (out, counts) = redact(
            "login password=hunter22 ok\n{\"user_password\": \"s3cr3t!\", \"token\":\"abc.def\"}\nAuthorization: Bearer eyJhbGciOi.xyz\nak=AKIAIOSFODNN7EXAMPLE sk=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\nurl https://ops:pw123@console:10443/x\nsaw planted-value-42 here\n",
            &["planted-value-42"],
        );
        for gone in [
            "hunter22",
            "s3cr3t!",
            "abc.def",
            "eyJhbGciOi",
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI",
            "pw123",
            "planted-value-42",
        ] {
            assert!(!out.contains(gone), "{gone} left in:\n{out}");
        }
        assert!(out.contains("password=***"), "{out}");
        assert!(out.contains("\"token\":\"***\""), "{out}");
        assert!(out.contains("Authorization: ***"), "{out}");
        assert_eq!(counts["password"], 2);
        assert_eq!(counts["token"], 1);
        assert_eq!(counts["authorization"], 1);
        assert_eq!(counts["access-key"], 1);
        assert_eq!(counts["secret-key"], 1);
        assert_eq!(counts["url-credentials"], 1);
        assert_eq!(counts["configured-secret"], 1);
    }

    #[test]
    fn ordinary_words_are_left_alone() {
        let (out, counts) = redact("break: now\nthe task finished\npasswords are fine\n", &[]);
        assert_eq!(out, "break: now\nthe task finished\npasswords are fine\n");
        assert!(counts.is_empty());
    }
}
