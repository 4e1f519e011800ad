//! `log` probe: counts the lines added to log files since the previous run that match named
//! regular expressions.
//!
//! Each run reads on from where the previous one stopped (offsets are kept per file in the
//! check's probe state). On the very first run the probe starts at the end of the existing
//! files, so old history does not alert, unless `from_start: true`; a file that appears later
//! (a new daily log, or a path added to the check) is read from its beginning. Rotation is followed: when a path names a new file, the rest of
//! the old one is read first if it can still be found (renamed to `app.log.1`,
//! `app.log-20240601`, or anywhere the globs reach), then the new file from its beginning. A
//! file that shrank (truncated, e.g. `copytruncate`) is read again from its beginning. A line
//! still being written (no newline yet) waits for the next run. Each run reads at most 64 MiB
//! so a huge backlog cannot stall the daemon; the rest follows in later runs. Compressed files
//! (`.gz`, `.bz2`, `.xz`, `.zst`, `.zip`) matched by a glob are skipped.
//!
//! Observation:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | `files` | list | one entry per file read in this run |
//! | `files[].path` | string | the file |
//! | `files[].size` | int | its size when read |
//! | `files[].from_offset`, `files[].to_offset` | int | the byte range read in this run |
//! | `files[].rotated` | bool | the path now names another file, or this is the rotated-away old file |
//! | `files[].truncated` | bool | the file shrank since the last run and was read from its beginning |
//! | `files[].matches` | int | matching lines in this file |
//! | `files[].remaining_bytes` | int | bytes left for the next run (read cap reached, or a partial line) |
//! | `matches` | int | matching lines in all files (a line matching several patterns counts once) |
//! | `by_pattern` | map | pattern name → matching lines |
//! | `last_lines` | list | the last `max_lines` matching lines: `{file, pattern, text}` (`pattern`: the first matching name) |
//! | `lines_scanned` | int | lines read in this run |
//!
//! Default verdict: OK when no line matched, else WARNING "N matching lines in the last run
//! (error: 3, timeout: 1)". Metrics: `matches`, `lines_scanned`, `by_pattern.<name>`.

use super::{Probe, ProbeContext, ProbeError, ProbeOutput};
use crate::config::Text;
use crate::status::Verdict;
use futures::future::BoxFuture;
use regex::bytes::{Regex, RegexSet};
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Configuration of the `log` probe.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LogProbe {
    /// Log files to follow: paths or glob patterns such as `/var/log/app/*.log` (relative:
    /// against the folder of `patrol.yaml`). Each must match at least one file unless
    /// `missing_ok`.
    pub paths: Vec<Text>,
    /// Named regular expressions (Rust regex syntax), e.g. `error: "(?i)\\berror\\b"`. A line
    /// matches when any of them matches it.
    pub patterns: BTreeMap<String, Pattern>,
    /// Lines matching this regular expression are ignored even when a pattern matches them.
    #[serde(default)]
    pub exclude: Option<Pattern>,
    /// How many of the last matching lines the observation keeps; 1 to 10000.
    #[serde(
        default = "default_max_lines",
        deserialize_with = "crate::config::bounds::max_lines"
    )]
    pub max_lines: usize,
    /// On the first run of the check, read existing files from their beginning instead of
    /// starting at their end.
    #[serde(default)]
    pub from_start: bool,
    /// A path that matches no file is not an error (for logs that appear only later).
    #[serde(default)]
    pub missing_ok: bool,
}

fn default_max_lines() -> usize {
    20
}

/// A regular expression, checked when the check file is read.
#[derive(Clone)]
pub struct Pattern {
    source: String,
    regex: Regex,
}

impl Pattern {
    pub fn new(source: &str) -> Result<Pattern, String> {
        Regex::new(source)
            .map(|regex| Pattern {
                source: source.to_string(),
                regex,
            })
            .map_err(|e| format!("invalid regular expression {source:?}: {e}"))
    }
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

impl fmt::Debug for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.source)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Pattern::new(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Pattern {
    fn schema_name() -> Cow<'static, str> {
        "Regex".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "regex",
            "description": "A regular expression (Rust regex syntax; (?i) for case-insensitive)."
        })
    }
}

/// At most this many bytes are read per run, over all files.
const READ_CAP: u64 = 64 * 1024 * 1024;
/// A "line" this long without a newline is taken as a line anyway, so one endless line cannot
/// block a file.
const MAX_LINE: usize = 1024 * 1024;
/// Matching lines are kept up to this many bytes in `last_lines`.
const MAX_TEXT: usize = 2048;
const CHUNK: usize = 256 * 1024;
const COMPRESSED: [&str; 5] = [".gz", ".bz2", ".xz", ".zst", ".zip"];

/// What is remembered about one file between runs (the probe state maps path → this).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct FileState {
    dev: u64,
    inode: u64,
    offset: u64,
    size: u64,
    /// Found outside the globs (a rotated-away file): followed for one more run only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    detached: bool,
}

impl FileState {
    fn id(&self) -> FileId {
        (self.dev, self.inode)
    }
}

type FileId = (u64, u64);

fn file_id(meta: &Metadata) -> FileId {
    (meta.dev(), meta.ino())
}

/// Where reading a file starts.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Start {
    At(u64),
    /// First run: at the start of the last (possibly partial) line of the file.
    End,
}

#[derive(Debug)]
struct Job {
    path: PathBuf,
    id: FileId,
    start: Start,
    rotated: bool,
    detached: bool,
    /// Remember this file for the next run.
    keep: bool,
}

#[derive(Debug, Serialize)]
struct FileReport {
    path: String,
    size: u64,
    from_offset: u64,
    to_offset: u64,
    rotated: bool,
    truncated: bool,
    matches: u64,
    remaining_bytes: u64,
}

#[derive(Debug, Serialize)]
struct MatchedLine {
    file: String,
    pattern: String,
    text: String,
}

/// Counters of one run.
struct Scan<'a> {
    set: &'a RegexSet,
    names: &'a [String],
    exclude: Option<&'a Regex>,
    max_lines: usize,
    matches: u64,
    by_pattern: Vec<u64>,
    last_lines: VecDeque<MatchedLine>,
    lines_scanned: u64,
    /// Masks a matched line before it is cut to [`MAX_TEXT`].
    redactor: &'a crate::redact::Redactor,
}

impl Scan<'_> {
    /// Scans one line; true when it matched.
    fn line(&mut self, file: &str, mut line: &[u8]) -> bool {
        if let Some(stripped) = line.strip_suffix(b"\r") {
            line = stripped;
        }
        self.lines_scanned += 1;
        if self.exclude.is_some_and(|x| x.is_match(line)) {
            return false;
        }
        let hits = self.set.matches(line);
        let Some(first) = hits.iter().next() else {
            return false;
        };
        self.matches += 1;
        for i in hits.iter() {
            self.by_pattern[i] += 1;
        }
        if self.max_lines > 0 {
            // Masked before it is cut, so a cut never leaves part of a secret.
            let longer = line.len() > MAX_TEXT * 4;
            let raw = String::from_utf8_lossy(&line[..line.len().min(MAX_TEXT * 4)]);
            let masked = if longer {
                self.redactor.cut_end(&raw)
            } else {
                self.redactor.text(&raw)
            };
            let (mut text, cut) = self.redactor.head(&masked, MAX_TEXT);
            if cut || longer {
                text.push('…');
            }
            if self.last_lines.len() == self.max_lines {
                self.last_lines.pop_front();
            }
            self.last_lines.push_back(MatchedLine {
                file: file.to_string(),
                pattern: self.names[first].clone(),
                text,
            });
        }
        true
    }
}

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

fn is_compressed(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    COMPRESSED.iter().any(|ext| name.ends_with(ext))
}

/// The previous run's state; `None` on the first run.
fn previous_state(state: &serde_json::Value) -> Option<BTreeMap<String, FileState>> {
    let map = state.as_object()?;
    Some(
        map.iter()
            .filter_map(|(k, v)| Some((k.clone(), FileState::deserialize(v).ok()?)))
            .collect(),
    )
}

/// The offset just after the last newline before `size` (where the last, possibly partial,
/// line begins): existing lines are skipped, a line being written is not.
fn start_of_last_line(file: &mut File, size: u64) -> io::Result<u64> {
    let window = size.min(64 * 1024);
    file.seek(SeekFrom::Start(size - window))?;
    let mut buf = vec![0u8; window as usize];
    file.read_exact(&mut buf)?;
    Ok(match buf.iter().rposition(|&b| b == b'\n') {
        Some(i) => size - window + i as u64 + 1,
        None if window == size => 0,
        None => size,
    })
}

impl LogProbe {
    /// Expands the configured paths into existing regular files (sorted, without duplicates).
    fn expand(&self, base_dir: &Path) -> Result<Vec<(PathBuf, Metadata)>, ProbeError> {
        let mut out: Vec<(PathBuf, Metadata)> = Vec::new();
        for p in &self.paths {
            let full = base_dir.join(p.value());
            let mut found = 0usize;
            let candidates: Vec<PathBuf> = if has_glob_chars(p.value()) {
                let pattern = full.to_string_lossy();
                glob::glob(&pattern)
                    .map_err(|e| {
                        ProbeError::Config(format!("invalid glob pattern {}: {e}", p.display()))
                    })?
                    // Unreadable folders are skipped, like a shell's glob does.
                    .filter_map(Result::ok)
                    .filter(|f| !is_compressed(f))
                    .collect()
            } else {
                vec![full]
            };
            for f in candidates {
                match std::fs::metadata(&f) {
                    Ok(m) if m.is_file() => {
                        found += 1;
                        out.push((f, m));
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(ProbeError::Failed(format!(
                            "cannot stat {}: {e}",
                            f.display()
                        )));
                    }
                }
            }
            if found == 0 && !self.missing_ok {
                return Err(ProbeError::Failed(format!(
                    "no log file matches {}",
                    p.display()
                )));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out.dedup_by(|a, b| a.0 == b.0);
        Ok(out)
    }

    /// Decides, for every file, where to read from; rotated-away files come first so that
    /// lines keep their order.
    fn plan(
        &self,
        matched: &[(PathBuf, Metadata)],
        prev: Option<&BTreeMap<String, FileState>>,
    ) -> Vec<Job> {
        let mut jobs = Vec::new();
        let mut rest = Vec::new();
        let mut seen: HashSet<FileId> = HashSet::new();
        let by_id: HashMap<FileId, &FileState> = prev
            .into_iter()
            .flat_map(|p| p.values().map(|s| (s.id(), s)))
            .collect();
        for (path, meta) in matched {
            let id = file_id(meta);
            if !seen.insert(id) {
                continue; // a hard link or a second glob reaching the same file
            }
            let key = path.to_string_lossy();
            let job = |start, rotated| Job {
                path: path.clone(),
                id,
                start,
                rotated,
                detached: false,
                keep: true,
            };
            let Some(prev) = prev else {
                let start = if self.from_start {
                    Start::At(0)
                } else {
                    Start::End
                };
                rest.push(job(start, false));
                continue;
            };
            match prev.get(key.as_ref()) {
                Some(s) if s.id() == id => rest.push(job(Start::At(s.offset), false)),
                same_path => match by_id.get(&id) {
                    // A followed file that was renamed onto a path the globs reach.
                    Some(s) => jobs.push(job(Start::At(s.offset), true)),
                    // New file; `rotated` when the path named another file before.
                    None => rest.push(job(Start::At(0), same_path.is_some())),
                },
            }
        }

        // Followed files that no glob reaches any more (renamed by rotation, or the path is
        // gone): look for them next to where they were, by inode.
        if let Some(prev) = prev {
            let mut listings: HashMap<PathBuf, Vec<PathBuf>> = HashMap::new();
            for (old_path, s) in prev {
                if seen.contains(&s.id()) {
                    continue;
                }
                let old_path = Path::new(old_path);
                let (Some(dir), Some(name)) = (old_path.parent(), old_path.file_name()) else {
                    continue;
                };
                let name = name.to_string_lossy().into_owned();
                let entries = listings.entry(dir.to_path_buf()).or_insert_with(|| {
                    std::fs::read_dir(dir)
                        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
                        .unwrap_or_default()
                });
                let found = entries.iter().find_map(|p| {
                    let n = p.file_name()?.to_string_lossy();
                    if !n.starts_with(&name) || is_compressed(p) {
                        return None;
                    }
                    let m = std::fs::metadata(p).ok()?;
                    (m.is_file() && file_id(&m) == s.id()).then(|| (p.clone(), m))
                });
                let Some((path, meta)) = found else {
                    continue; // rotated away and gone (deleted or compressed)
                };
                // Nothing new since last time: stop following it.
                if meta.len() == s.offset || !seen.insert(s.id()) {
                    continue;
                }
                // A rotated-away file is followed for one more run after it was found (a
                // program may write to it until it reopens its log), then forgotten.
                jobs.push(Job {
                    path,
                    id: s.id(),
                    start: Start::At(s.offset),
                    rotated: true,
                    detached: true,
                    keep: !s.detached,
                });
            }
        }
        jobs.extend(rest);
        jobs
    }
}

/// What reading one file gave.
struct Read1 {
    report: FileReport,
    state: FileState,
}

fn read_file(
    job: &Job,
    scan: &mut Scan<'_>,
    budget: &mut u64,
    deadline: Instant,
) -> Result<Option<Read1>, ProbeError> {
    let shown = job.path.to_string_lossy().into_owned();
    let mut file = match File::open(&job.path) {
        Ok(f) => f,
        // Rotated between listing and opening: the next run sees the new layout.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ProbeError::Failed(format!("cannot read {shown}: {e}"))),
    };
    let meta = file.metadata()?;
    if file_id(&meta) != job.id {
        return Ok(None);
    }
    let size = meta.len();
    let mut truncated = false;
    let from = match job.start {
        Start::End => start_of_last_line(&mut file, size)?,
        Start::At(offset) if offset > size => {
            truncated = true;
            0
        }
        Start::At(offset) => offset,
    };
    file.seek(SeekFrom::Start(from))?;

    let to_read = (size - from).min(*budget);
    let mut reader = file.take(to_read);
    let mut pending: Vec<u8> = Vec::new();
    let mut consumed = from;
    let mut matches = 0u64;
    let mut chunk = vec![0u8; CHUNK];
    let mut read_total = 0u64;
    loop {
        if Instant::now() >= deadline {
            break;
        }
        let n = match reader.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(ProbeError::Failed(format!("cannot read {shown}: {e}"))),
        };
        read_total += n as u64;
        pending.extend_from_slice(&chunk[..n]);
        let mut line_start = 0;
        while let Some(nl) = pending[line_start..].iter().position(|&b| b == b'\n') {
            let end = line_start + nl;
            if scan.line(&shown, &pending[line_start..end]) {
                matches += 1;
            }
            line_start = end + 1;
        }
        consumed += line_start as u64;
        pending.drain(..line_start);
        if pending.len() >= MAX_LINE {
            if scan.line(&shown, &pending) {
                matches += 1;
            }
            consumed += pending.len() as u64;
            pending.clear();
        }
    }
    *budget = budget.saturating_sub(read_total);
    Ok(Some(Read1 {
        report: FileReport {
            path: shown,
            size,
            from_offset: from,
            to_offset: consumed,
            rotated: job.rotated,
            truncated,
            matches,
            remaining_bytes: size.saturating_sub(consumed),
        },
        state: FileState {
            dev: job.id.0,
            inode: job.id.1,
            offset: consumed,
            size,
            detached: job.detached,
        },
    }))
}

impl Probe for LogProbe {
    fn kind(&self) -> &'static str {
        "log"
    }
    fn run<'a>(
        &'a self,
        ctx: &'a ProbeContext<'a>,
    ) -> BoxFuture<'a, Result<ProbeOutput, ProbeError>> {
        Box::pin(async move {
            let probe = self.clone();
            let base_dir = ctx.base_dir.to_path_buf();
            let redactor = ctx.redactor.clone();
            let prev = previous_state(ctx.state);
            // Stop reading well before the runner's timeout; the rest follows next run.
            let deadline = Instant::now() + ctx.timeout.mul_f64(0.7);
            let work = tokio::task::spawn_blocking(move || {
                probe.scan(&base_dir, prev.as_ref(), deadline, &redactor)
            });
            match tokio::time::timeout(ctx.timeout.mul_f64(0.9), work).await {
                Ok(Ok(r)) => r,
                Ok(Err(e)) => Err(ProbeError::Failed(format!("internal error: {e}"))),
                Err(_) => Err(ProbeError::Failed(
                    "log files could not be read in time (hung file system?)".into(),
                )),
            }
        })
    }
}

impl LogProbe {
    fn scan(
        &self,
        base_dir: &Path,
        prev: Option<&BTreeMap<String, FileState>>,
        deadline: Instant,
        redactor: &crate::redact::Redactor,
    ) -> Result<ProbeOutput, ProbeError> {
        if self.paths.is_empty() {
            return Err(ProbeError::Config("`paths` is empty".into()));
        }
        if self.patterns.is_empty() {
            return Err(ProbeError::Config("`patterns` is empty".into()));
        }
        let names: Vec<String> = self.patterns.keys().cloned().collect();
        let set = RegexSet::new(self.patterns.values().map(Pattern::as_str))
            .map_err(|e| ProbeError::Config(format!("invalid patterns: {e}")))?;

        let matched = self.expand(base_dir)?;
        let jobs = self.plan(&matched, prev);

        let mut scan = Scan {
            set: &set,
            names: &names,
            exclude: self.exclude.as_ref().map(|p| &p.regex),
            max_lines: self.max_lines,
            matches: 0,
            by_pattern: vec![0; names.len()],
            last_lines: VecDeque::new(),
            lines_scanned: 0,
            redactor,
        };
        let mut budget = READ_CAP;
        let mut files = Vec::new();
        let mut state = serde_json::Map::new();
        for job in &jobs {
            match read_file(job, &mut scan, &mut budget, deadline)? {
                Some(r) => {
                    if job.keep {
                        state.insert(r.report.path.clone(), json!(r.state));
                    }
                    files.push(r.report);
                }
                None => {
                    // Changed under our feet: keep what we knew for the next run.
                    let key = job.path.to_string_lossy();
                    if let Some(s) = prev.and_then(|p| p.get(key.as_ref())) {
                        state.insert(key.into_owned(), json!(s));
                    }
                }
            }
        }

        let by_pattern: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .zip(&scan.by_pattern)
            .map(|(n, c)| (n.clone(), json!(c)))
            .collect();
        let mut verdict = if scan.matches == 0 {
            Verdict::ok(format!(
                "no matching lines in the last run ({} lines in {} files)",
                scan.lines_scanned,
                files.len()
            ))
        } else {
            let counts: Vec<String> = names
                .iter()
                .zip(&scan.by_pattern)
                .filter(|(_, c)| **c > 0)
                .map(|(n, c)| format!("{n}: {c}"))
                .collect();
            Verdict::warning(format!(
                "{} matching lines in the last run ({})",
                scan.matches,
                counts.join(", ")
            ))
        };
        verdict
            .metrics
            .insert("matches".into(), scan.matches as f64);
        verdict
            .metrics
            .insert("lines_scanned".into(), scan.lines_scanned as f64);
        for (n, c) in names.iter().zip(&scan.by_pattern) {
            verdict.metrics.insert(format!("by_pattern.{n}"), *c as f64);
        }

        let observation = json!({
            "files": files,
            "matches": scan.matches,
            "by_pattern": by_pattern,
            "last_lines": scan.last_lines,
            "lines_scanned": scan.lines_scanned,
        });
        Ok(ProbeOutput {
            observation,
            verdict,
            state: Some(serde_json::Value::Object(state)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn scan_parts() -> (RegexSet, Vec<String>) {
        (
            RegexSet::new(["error"]).expect("regex"),
            vec!["error".to_string()],
        )
    }

    fn job_for(path: &Path, start: u64) -> Job {
        let meta = std::fs::metadata(path).expect("stat");
        Job {
            path: path.to_path_buf(),
            id: file_id(&meta),
            start: Start::At(start),
            rotated: false,
            detached: false,
            keep: true,
        }
    }

    #[test]
    fn read_cap_stops_at_a_line_boundary_and_resumes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("big.log");
        std::fs::write(&path, "error 1\nerror 2\nerror 3\n").expect("write");
        let (set, names) = scan_parts();
        let mut scan = Scan {
            set: &set,
            names: &names,
            exclude: None,
            max_lines: 10,
            matches: 0,
            by_pattern: vec![0],
            last_lines: VecDeque::new(),
            lines_scanned: 0,
            redactor: &crate::redact::Redactor::default(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        // 12 bytes: one whole line and part of the next
        let mut budget = 12;
        let r = read_file(&job_for(&path, 0), &mut scan, &mut budget, deadline)
            .expect("read")
            .expect("same file");
        assert_eq!(budget, 0);
        assert_eq!(r.report.to_offset, 8);
        assert_eq!(r.report.remaining_bytes, 16);
        assert_eq!(scan.matches, 1);
        let mut budget = 1000;
        let r = read_file(&job_for(&path, 8), &mut scan, &mut budget, deadline)
            .expect("read")
            .expect("same file");
        assert_eq!(r.report.to_offset, 24);
        assert_eq!(scan.matches, 3);
        assert_eq!(scan.lines_scanned, 3);
    }

    #[test]
    fn an_endless_line_is_cut_rather_than_blocking_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("one.log");
        let mut text = "error ".repeat(MAX_LINE / 6 + 10);
        text.push_str("tail");
        std::fs::write(&path, &text).expect("write");
        let (set, names) = scan_parts();
        let mut scan = Scan {
            set: &set,
            names: &names,
            exclude: None,
            max_lines: 10,
            matches: 0,
            by_pattern: vec![0],
            last_lines: VecDeque::new(),
            lines_scanned: 0,
            redactor: &crate::redact::Redactor::default(),
        };
        let mut budget = READ_CAP;
        let deadline = Instant::now() + Duration::from_secs(60);
        let r = read_file(&job_for(&path, 0), &mut scan, &mut budget, deadline)
            .expect("read")
            .expect("same file");
        assert!(
            r.report.to_offset >= MAX_LINE as u64,
            "{}",
            r.report.to_offset
        );
        assert_eq!(scan.matches, 1);
        assert!(scan.last_lines[0].text.len() <= MAX_TEXT + '…'.len_utf8());
    }

    #[test]
    fn state_of_another_shape_is_ignored_entry_by_entry() {
        let prev = previous_state(&json!({
            "/var/log/a.log": {"dev": 1, "inode": 2, "offset": 3, "size": 4},
            "junk": 5
        }))
        .expect("object");
        assert_eq!(prev.len(), 1);
        assert_eq!(prev["/var/log/a.log"].offset, 3);
        assert!(previous_state(&serde_json::Value::Null).is_none());
    }
}
