//! `${env:NAME}`, `${env:NAME:-default}`, `${file:PATH}`, `${var:name}` and `${secret:name}`
//! interpolation of string values, done while a file is deserialized so that a bad reference
//! is reported at its file:line:column. `$${` stands for a literal `${`.

use super::files::{DEFAULT_MAX_FILE_BYTES, read_text};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;

/// What `${...}` references resolve against while one file is read.
#[derive(Debug, Clone)]
pub struct InterpContext {
    pub vars: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
    /// Secrets that are defined but whose source could not be read (reported separately).
    pub unavailable: std::collections::BTreeSet<String>,
    /// Relative `${file:...}` paths resolve against this folder (the root config's).
    pub base_dir: PathBuf,
    /// The largest file a `${file:...}` may read (`limits.max_file_bytes`).
    pub max_file_bytes: u64,
}

impl Default for InterpContext {
    fn default() -> Self {
        InterpContext {
            vars: BTreeMap::new(),
            secrets: BTreeMap::new(),
            unavailable: Default::default(),
            base_dir: PathBuf::new(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

thread_local! {
    static CONTEXT: RefCell<Option<Rc<InterpContext>>> = const { RefCell::new(None) };
}

/// Runs `f` (a deserialization) with `ctx` as the interpolation context.
pub fn with_context<R>(ctx: &InterpContext, f: impl FnOnce() -> R) -> R {
    let previous = CONTEXT.with(|c| c.replace(Some(Rc::new(ctx.clone()))));
    let out = f();
    CONTEXT.with(|c| *c.borrow_mut() = previous);
    out
}

/// Interpolates `template` with the current context (none: only `env` and `file` resolve).
pub(crate) fn interpolate_current(template: &str) -> Result<Interpolated, String> {
    let ctx = CONTEXT.with(|c| c.borrow().clone());
    let empty = InterpContext::default();
    interpolate(template, ctx.as_deref().unwrap_or(&empty))
}

/// The result of interpolating one string.
#[derive(Debug, Clone, PartialEq)]
pub struct Interpolated {
    pub value: String,
    /// True when a `${secret:...}` contributed to `value`.
    pub uses_secret: bool,
}

/// Replaces every `${kind:arg}` in `template`.
pub fn interpolate(template: &str, ctx: &InterpContext) -> Result<Interpolated, String> {
    let mut out = String::with_capacity(template.len());
    let mut uses_secret = false;
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos..];
        if let Some(tail) = after.strip_prefix("$${") {
            out.push_str("${");
            rest = tail;
            continue;
        }
        let Some(body_start) = after.strip_prefix("${") else {
            out.push('$');
            rest = &after[1..];
            continue;
        };
        let Some(end) = body_start.find('}') else {
            return Err(format!("unterminated `${{` in {template:?}"));
        };
        let body = &body_start[..end];
        rest = &body_start[end + 1..];
        let (kind, arg) = body
            .split_once(':')
            .ok_or_else(|| format!("`${{{body}}}` needs a kind: env:, file:, var: or secret:"))?;
        match kind {
            "env" => {
                let (name, default) = match arg.split_once(":-") {
                    Some((n, d)) => (n, Some(d)),
                    None => (arg, None),
                };
                match (std::env::var(name), default) {
                    (Ok(v), Some(d)) if v.is_empty() => out.push_str(d),
                    (Ok(v), _) => out.push_str(&v),
                    (Err(_), Some(d)) => out.push_str(d),
                    (Err(_), None) => {
                        return Err(format!(
                            "environment variable {name} is not set (write ${{env:{name}:-default}} to give a default)"
                        ));
                    }
                }
            }
            "file" => {
                let path = resolve(&ctx.base_dir, arg);
                // Regular files only, bounded: `${file:/dev/zero}` or a FIFO must neither
                // eat the memory nor hang the load.
                let text = read_text(&path, ctx.max_file_bytes).map_err(|e| {
                    format!("`${{file:{arg}}}`: cannot read {}: {e}", path.display())
                })?;
                out.push_str(text.trim_end_matches(['\n', '\r']));
            }
            "var" => match ctx.vars.get(arg) {
                Some(v) => out.push_str(v),
                None => {
                    return Err(format!(
                        "unknown variable `{arg}` (define it under `vars:` in patrol.yaml)"
                    ));
                }
            },
            "secret" => match ctx.secrets.get(arg) {
                Some(v) => {
                    out.push_str(v);
                    uses_secret = true;
                }
                None if ctx.unavailable.contains(arg) => {
                    return Err(format!(
                        "secret `{arg}` is not available (its source could not be read)"
                    ));
                }
                None => {
                    return Err(format!(
                        "unknown secret `{arg}` (define it under `secrets:` in patrol.yaml)"
                    ));
                }
            },
            other => {
                return Err(format!(
                    "unknown reference kind `{other}` in `${{{body}}}`: use env:, file:, var: or secret:"
                ));
            }
        }
    }
    out.push_str(rest);
    Ok(Interpolated {
        value: out,
        uses_secret,
    })
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> InterpContext {
        InterpContext {
            vars: [("site".to_string(), "dr-east".to_string())].into(),
            secrets: [("pw".to_string(), "s3cr3t".to_string())].into(),
            unavailable: Default::default(),
            base_dir: std::env::temp_dir(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }

    #[test]
    fn resolves_every_kind() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "abc\n").unwrap();
        let mut c = ctx();
        c.base_dir = dir.path().to_path_buf();
        let r = interpolate(
            "${var:site}/${file:token}/${env:PATROL_SURELY_UNSET:-dflt}/${secret:pw}/$${literal}/$5",
            &c,
        )
        .unwrap();
        assert_eq!(r.value, "dr-east/abc/dflt/s3cr3t/${literal}/$5");
        assert!(r.uses_secret);
        let plain = interpolate("${var:site}", &c).unwrap();
        assert!(!plain.uses_secret);
    }

    #[test]
    fn bad_references_are_errors() {
        let c = ctx();
        assert!(
            interpolate("${env:PATROL_SURELY_UNSET}", &c)
                .unwrap_err()
                .contains("not set")
        );
        assert!(
            interpolate("${var:nope}", &c)
                .unwrap_err()
                .contains("unknown variable")
        );
        assert!(
            interpolate("${secret:nope}", &c)
                .unwrap_err()
                .contains("unknown secret")
        );
        assert!(
            interpolate("${bogus:x}", &c)
                .unwrap_err()
                .contains("unknown reference kind")
        );
        assert!(
            interpolate("${novalue", &c)
                .unwrap_err()
                .contains("unterminated")
        );
        assert!(
            interpolate("${file:/nonexistent/x}", &c)
                .unwrap_err()
                .contains("cannot read")
        );
    }
}
