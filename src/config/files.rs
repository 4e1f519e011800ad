//! Reading the files a configuration is made of — `patrol.yaml`, check files, rule files,
//! `${file:PATH}` references and secret files — so that no file can hurt the process: only
//! regular files are read (a FIFO, a device or a folder is an error, never a hang), never more
//! than a size limit (checked before reading and enforced while reading), and only with LF or
//! CRLF line endings (a bare CR would make a whole file one line).

use super::diagnostic::Diagnostic;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;

/// The largest `patrol.yaml` or check file read.
pub const MAX_CONFIG_FILE_BYTES: u64 = 4 << 20;
/// The largest rule file read (a rule is a short script; the shipped ones are a few KiB).
pub const MAX_RULE_FILE_BYTES: u64 = 1 << 20;
/// Default of `limits.max_file_bytes`.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 1 << 20;
/// The highest `limits.max_file_bytes` accepted.
pub const MAX_FILE_BYTES_CEILING: u64 = 64 << 20;

/// Limits on what patrol reads while it loads its configuration.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfigLimits {
    /// The largest file a `${file:PATH}` reference or a secret's `file:` may read, in bytes;
    /// only regular files are read (a FIFO, a device or a folder is an error). Default:
    /// 1048576 (1 MiB); 1 to 67108864 (64 MiB).
    #[serde(
        default = "default_max_file_bytes",
        deserialize_with = "deserialize_max_file_bytes"
    )]
    pub max_file_bytes: u64,
}

impl Default for ConfigLimits {
    fn default() -> Self {
        ConfigLimits {
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

fn default_max_file_bytes() -> u64 {
    DEFAULT_MAX_FILE_BYTES
}

fn deserialize_max_file_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let n = u64::deserialize(d)?;
    if (1..=MAX_FILE_BYTES_CEILING).contains(&n) {
        Ok(n)
    } else {
        Err(serde::de::Error::custom(format!(
            "max_file_bytes {n} is out of range: 1 to {MAX_FILE_BYTES_CEILING} (64 MiB)"
        )))
    }
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadError {
    /// Opening or reading failed.
    Io(String),
    /// Not a regular file: what it is instead.
    NotRegular(&'static str),
    /// Larger than the limit (its size when known up front).
    TooLarge { size: Option<u64>, limit: u64 },
    /// Not UTF-8 text.
    NotText,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::NotRegular(kind) => {
                write!(f, "it is {kind}, not a regular file")
            }
            ReadError::TooLarge {
                size: Some(size),
                limit,
            } if *size < 1024 => write!(
                f,
                "it is {size} bytes, more than the limit of {}",
                human_bytes(*limit)
            ),
            ReadError::TooLarge {
                size: Some(size),
                limit,
            } => write!(
                f,
                "it is {} ({size} bytes), more than the limit of {}",
                human_bytes(*size),
                human_bytes(*limit)
            ),
            ReadError::TooLarge { size: None, limit } => {
                write!(f, "it is larger than the limit of {}", human_bytes(*limit))
            }
            ReadError::NotText => write!(f, "it is not UTF-8 text"),
        }
    }
}

/// `1 MiB`, `512 KiB`, `37 bytes`.
pub fn human_bytes(n: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * 1024;
    const GIB: u64 = 1024 * MIB;
    match n {
        n if n >= GIB => format!("{:.1} GiB", n as f64 / GIB as f64),
        n if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        n if n >= MIB => format!("{:.1} MiB", n as f64 / MIB as f64),
        n if n >= KIB && n % KIB == 0 => format!("{} KiB", n / KIB),
        n if n >= KIB => format!("{:.1} KiB", n as f64 / KIB as f64),
        n => format!("{n} bytes"),
    }
}

/// The largest certificate or CA bundle read (`ca_file`, the `tls_file` probe's `path`).
pub const MAX_PEM_FILE_BYTES: u64 = 4 << 20;

/// Reads a regular file as UTF-8 text, at most `limit` bytes. Never blocks on a FIFO or a
/// device: the file is opened non-blocking and its type checked before anything is read.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    String::from_utf8(read_bytes(path, limit)?).map_err(|_| ReadError::NotText)
}

/// [`read_text`] for any bytes.
pub fn read_bytes(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        // A FIFO opened for reading waits for a writer unless opened non-blocking; for a
        // regular file the flag changes nothing.
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    let meta = file.metadata().map_err(|e| ReadError::Io(e.to_string()))?;
    let kind = meta.file_type();
    if !kind.is_file() {
        return Err(ReadError::NotRegular(if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a FIFO (named pipe)"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "a special file"
        }));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: Some(meta.len()),
            limit,
        });
    }
    // The size can lie (files under /proc say 0, a file may grow while read): read one byte
    // more than the limit at most, and tell a file that is too large by it.
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: None, limit });
    }
    Ok(bytes)
}

/// Where a text has a bare CR (a line ending of classic Mac OS): (line, column), 1-based.
/// YAML and Rhai would read such a file as one long line (a `#` or `//` comment would swallow
/// the rest of it), so it is refused with a clear message instead.
pub fn bare_cr(text: &str) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let at = bytes
        .iter()
        .enumerate()
        .position(|(i, &b)| b == b'\r' && bytes.get(i + 1) != Some(&b'\n'))?;
    let before = &text[..at];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before, |nl| &before[nl + 1..])
        .chars()
        .count()
        + 1;
    Some((line, column))
}

/// The message for a text with a bare CR.
pub const BARE_CR_MESSAGE: &str = "this file ends its lines with a bare CR (classic Mac line endings); patrol reads LF or CRLF line endings: convert the file (e.g. `tr '\\r' '\\n'`)";

/// Reads a configuration file (`patrol.yaml`, a check file, a rule file) of at most `limit`
/// bytes; any problem is a diagnostic located in that file.
pub fn read_config_file(path: &Path, limit: u64) -> Result<String, Diagnostic> {
    let text = read_text(path, limit)
        .map_err(|e| Diagnostic::new(path, 1, 1, format!("cannot read: {e}")))?;
    if let Some((line, column)) = bare_cr(&text) {
        return Err(Diagnostic::new(path, line, column, BARE_CR_MESSAGE));
    }
    Ok(text)
}

/// The folder to run programs in for a configuration in `base_dir`: `patrol.yaml` in the
/// current folder has an empty parent, and an empty path is no folder at all (`chdir("")`
/// fails).
pub fn dir_or_dot(base_dir: &Path) -> &Path {
    if base_dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        base_dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_regular_files_within_the_limit() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        std::fs::write(&p, "hello").expect("write");
        assert_eq!(read_text(&p, 5).as_deref(), Ok("hello"));
        assert_eq!(
            read_text(&p, 4),
            Err(ReadError::TooLarge {
                size: Some(5),
                limit: 4
            })
        );
        assert_eq!(
            read_text(dir.path(), 5),
            Err(ReadError::NotRegular("a folder"))
        );
        assert_eq!(
            read_text(Path::new("/dev/zero"), 5),
            Err(ReadError::NotRegular("a character device"))
        );
    }

    #[test]
    fn finds_bare_carriage_returns() {
        assert_eq!(bare_cr("a: 1\r\nb: 2\r\n"), None);
        assert_eq!(bare_cr("a: 1\nb: 2\rc: 3"), Some((2, 5)));
        assert_eq!(bare_cr("\r"), Some((1, 1)));
    }

    #[test]
    fn empty_base_dir_means_here() {
        assert_eq!(dir_or_dot(Path::new("")), Path::new("."));
        assert_eq!(dir_or_dot(Path::new("etc")), Path::new("etc"));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(1 << 20), "1 MiB");
        assert_eq!(human_bytes(16 << 20), "16 MiB");
        assert_eq!(human_bytes(1_500), "1.5 KiB");
        assert_eq!(human_bytes(12), "12 bytes");
    }
}
