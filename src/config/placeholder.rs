//! Placeholder values: what `patrol init` writes where only the operator knows the answer
//! (`CHANGE-ME`, the host `CONSOLE`, ...) and host names reserved for examples
//! (`example.com`, `console.example`). `validate` warns about the ones left in place
//! ([`scan`]); the HyperBDR client refuses to log in with them ([`console_problem`]), so a
//! run says what to fill in instead of "failed to lookup address", and a placeholder
//! password never costs a failed login.
//!
//! Bottom layer: imports nothing of patrol.

/// The value `patrol init` writes for a secret or a name only the operator knows.
pub const CHANGE_ME: &str = "CHANGE-ME";

/// Host names `patrol init` writes for the operator to replace.
const HOST_WORDS: &[&str] = &["CONSOLE", "OBJECT-STORAGE-HOST", "GATEWAY-HOST"];

/// Other values `patrol init` writes for the operator to replace.
const VALUE_WORDS: &[&str] = &[CHANGE_ME, "BUCKET", "ACCESS-KEY-ID"];

/// Why `host` is a placeholder, or None: one of init's upper-case host words, or a name
/// reserved for examples (RFC 2606: `example.com`/`.net`/`.org` and their subdomains, and
/// the `.example` top-level domain).
pub fn placeholder_host(host: &str) -> Option<String> {
    let host = host.trim().trim_end_matches('.');
    if HOST_WORDS.contains(&host) || host == CHANGE_ME {
        return Some(format!("the placeholder host {host}"));
    }
    if is_example_name(host) {
        return Some(format!("the example host {host}"));
    }
    None
}

/// Whether a dotted name is reserved for examples.
fn is_example_name(name: &str) -> bool {
    let labels: Vec<String> = name.split('.').map(str::to_ascii_lowercase).collect();
    let n = labels.len();
    if n < 2 || labels.iter().any(String::is_empty) {
        return false;
    }
    labels[n - 1] == "example"
        || (labels[n - 2] == "example" && matches!(labels[n - 1].as_str(), "com" | "net" | "org"))
}

/// The host of `scheme://[user@]host[:port][/path]` (brackets of an IPv6 address removed).
pub fn url_host(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next();
    }
    let host = hostport.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// What is still a placeholder in a console's settings, as the run should say it, or None.
/// `console` is its name under `consoles:` in patrol.yaml. Checked before any login: a
/// placeholder host would fail with "failed to lookup address", a placeholder user or
/// password would cost a failed login (and count towards the account's lockout).
pub fn console_problem(console: &str, url: &str, username: &str, password: &str) -> Option<String> {
    let name = if console.is_empty() { "main" } else { console };
    if let Some(what) = url_host(url).and_then(placeholder_host) {
        return Some(format!(
            "the console url still has {what}: set consoles.{name}.url in patrol.yaml"
        ));
    }
    if username.trim() == CHANGE_ME {
        return Some(format!(
            "the console user is still the placeholder {CHANGE_ME}: set consoles.{name}.username in patrol.yaml"
        ));
    }
    if password.trim() == CHANGE_ME {
        return Some(format!(
            "the password of console {name} is still the placeholder {CHANGE_ME}: write the real one into its secret's file (secrets/hyperbdr-password as `patrol init` writes it)"
        ));
    }
    None
}

/// A placeholder found in a configuration text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters) where the placeholder starts.
    pub column: usize,
    /// The placeholder as written.
    pub text: String,
    /// What to do about it.
    pub message: String,
}

/// Every placeholder left in a YAML text, outside comments: `CHANGE-ME` and init's other
/// upper-case words (`CONSOLE`, `OBJECT-STORAGE-HOST`, `BUCKET`, ...) as whole words, and
/// names reserved for examples (`smtp.example.com`, `ops@example.com`, `console.example`).
pub fn scan(text: &str) -> Vec<Found> {
    let mut found = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let code = strip_comment(line);
        for (start, word) in words(code) {
            let column = code[..start].chars().count() + 1;
            let message = if HOST_WORDS.contains(&word) {
                format!(
                    "placeholder host {word} left in place: write the real host name or address"
                )
            } else if VALUE_WORDS.contains(&word) {
                format!("placeholder {word} left in place: write the real value")
            } else if word.contains('.') && is_example_name(word) {
                format!(
                    "example host name {word} left in place: write the real host (names under example.com/.net/.org and .example never resolve to your site)"
                )
            } else {
                continue;
            };
            found.push(Found {
                line: i + 1,
                column,
                text: word.to_string(),
                message,
            });
        }
    }
    found
}

/// The line without its comment: a `#` at the start or after a blank, outside quotes.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (i, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && prev.is_whitespace() => return &line[..i],
            None => {}
        }
        prev = c;
    }
    line
}

/// The words of a line with their byte offsets: runs of letters, digits, `-`, `_` and `.`
/// (dots and hyphens at the ends trimmed, so `CONSOLE:10443` and `example.com.` give the name).
fn words(code: &str) -> Vec<(usize, &str)> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (i, c) in code
        .char_indices()
        .chain(std::iter::once((code.len(), ' ')))
    {
        match (start, is_word(c)) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let raw = &code[s..i];
                let trimmed = raw.trim_start_matches(['.', '-']);
                let offset = s + (raw.len() - trimmed.len());
                let word = trimmed.trim_end_matches(['.', '-']);
                if !word.is_empty() {
                    out.push((offset, word));
                }
                start = None;
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert!(placeholder_host("CONSOLE").is_some());
        assert!(placeholder_host("GATEWAY-HOST").is_some());
        assert!(placeholder_host("console.example").is_some());
        assert!(placeholder_host("smtp.example.com").is_some());
        assert!(placeholder_host("Example.ORG").is_some());
        assert!(placeholder_host("10.0.0.5").is_none());
        assert!(placeholder_host("console").is_none());
        assert!(placeholder_host("example").is_none());
        assert!(placeholder_host("examples.com").is_none());
        assert!(placeholder_host("example.com.cn").is_none());
    }

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://CONSOLE:10443"), Some("CONSOLE"));
        assert_eq!(url_host("http://u@h.example/x?y"), Some("h.example"));
        assert_eq!(url_host("https://[::1]:10443/"), Some("::1"));
        assert_eq!(url_host("https://:10443"), None);
    }

    #[test]
    fn console_problems() {
        let m = console_problem("main", "https://CONSOLE:10443", "ops", "pw").unwrap();
        assert_eq!(
            m,
            "the console url still has the placeholder host CONSOLE: set consoles.main.url in patrol.yaml"
        );
        let m = console_problem("site-a", "https://10.0.0.5:10443", "CHANGE-ME", "pw").unwrap();
        assert!(m.contains("consoles.site-a.username"), "{m}");
        let m = console_problem("main", "https://10.0.0.5", "ops", "CHANGE-ME\n").unwrap();
        assert!(m.contains("placeholder CHANGE-ME"), "{m}");
        assert!(console_problem("main", "https://10.0.0.5:10443", "ops", "s3cret").is_none());
    }

    #[test]
    fn scan_finds_values_not_comments() {
        let text = "consoles:\n  main:\n    url: https://CONSOLE:10443   # https://CONSOLE:10443\n    username: CHANGE-ME\n# to: [ops@example.com]\n    to: [\"ops@example.com\"]\n  s3_bucket: BUCKET\n  name: \"a # CONSOLE\"\n  host: smtp.example.com.\n";
        let found: Vec<(usize, usize, String)> = scan(text)
            .into_iter()
            .map(|f| (f.line, f.column, f.text))
            .collect();
        let want: Vec<(usize, usize, String)> = [
            (3, 18, "CONSOLE"),
            (4, 15, "CHANGE-ME"),
            (6, 15, "example.com"),
            (7, 14, "BUCKET"),
            (8, 14, "CONSOLE"),
            (9, 9, "smtp.example.com"),
        ]
        .into_iter()
        .map(|(l, c, t)| (l, c, t.to_string()))
        .collect();
        assert_eq!(found, want);
    }

    #[test]
    fn ordinary_words_pass() {
        assert!(scan("url: https://console.corp:10443\nname: HyperBDR console\nexamples: [../examples/x]\n").is_empty());
        assert!(scan("password: \"${secret:hyperbdr_password}\"\n").is_empty());
    }
}
