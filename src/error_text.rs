//! Human text for library errors (reqwest, rustls, io) that wrap their cause in layers, used
//! by the probes and the shared clients.

/// The innermost source of an error: for library errors that wrap layers of "error sending
/// request", the part that says what actually went wrong.
pub fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(s) = cur.source() {
        cur = s;
    }
    cur.to_string()
}

/// A human text for an error and all its sources, without repeating a source that its parent
/// already quoted.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer: {0}")]
    struct Outer(#[source] Inner);

    #[derive(Debug, thiserror::Error)]
    #[error("inner")]
    struct Inner;

    #[test]
    fn a_cause_quoted_by_its_parent_is_not_repeated() {
        assert_eq!(error_chain(&Outer(Inner)), "outer: inner");
        assert_eq!(root_cause(&Outer(Inner)), "inner");
    }
}
