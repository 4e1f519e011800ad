//! The documentation stays true to the source: the generated reference (`docs/src/reference`,
//! from `patrol schema` and the module docs) is up to date, every relative link in the README,
//! ARCHITECTURE.md, CONTRIBUTING.md and `docs/` resolves (file and heading), the book's
//! SUMMARY lists every page, and the README stays short with its two set-up commands first.
//! After changing a doc comment: `cargo run -- reference`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn generated_reference_is_up_to_date() {
    let out = repo().join("docs/src/reference");
    let result = Command::new(env!("CARGO_BIN_EXE_patrol"))
        .args(["reference", "--check", "--out"])
        .arg(&out)
        .output()
        .expect("run patrol reference --check");
    assert!(
        result.status.success(),
        "{}{}",
        String::from_utf8_lossy(&result.stdout),
        String::from_utf8_lossy(&result.stderr)
    );
    // The probe list is the schema's: every kind has its section in the generated page.
    let probes = std::fs::read_to_string(out.join("probes.md")).expect("probes.md");
    let schema = patrol::config::schema::check_schema();
    let kinds = schema["$defs"]["ProbeSpec"]["oneOf"]
        .as_array()
        .expect("ProbeSpec is a one-key enum");
    assert!(kinds.len() >= 11, "{kinds:?}");
    for kind in kinds {
        let name = kind["required"][0].as_str().expect("kind name");
        assert!(
            probes.contains(&format!("\n## `{name}`\n"))
                && probes.contains(&format!("`{name}` options")),
            "probes.md has no section for `{name}`"
        );
    }
}

#[test]
fn readme_is_short_and_opens_with_the_two_set_up_commands() {
    let readme = std::fs::read_to_string(repo().join("README.md")).expect("README.md");
    let lines = readme.lines().count();
    assert!(
        lines <= 250,
        "README.md has {lines} lines; move detail into docs/"
    );
    let setup = readme
        .split("\n## ")
        .find(|s| s.starts_with("Set up"))
        .expect("a `## Set up` section");
    let block = setup
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the set-up section opens with a sh block");
    let commands: Vec<&str> = block.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(commands.len(), 2, "exactly two commands: {commands:?}");
    assert!(commands[0].starts_with("cargo run -- "), "{commands:?}");
    assert!(commands[1].starts_with(".ci/run"), "{commands:?}");
    assert!(repo().join(".ci/run").exists());
}

/// Every Markdown file the link check covers.
fn markdown_files() -> Vec<PathBuf> {
    let mut files = vec![
        repo().join("README.md"),
        repo().join("ARCHITECTURE.md"),
        repo().join("CONTRIBUTING.md"),
    ];
    let mut dirs = vec![repo().join("docs")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read docs") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                // The built book, when someone ran mdbook here.
                if path != repo().join("docs/book") {
                    dirs.push(path);
                }
            } else if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// Markdown without fenced code blocks and inline code spans.
fn prose(text: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            out.push('\n');
            continue;
        }
        if in_code {
            out.push('\n');
            continue;
        }
        let mut in_span = false;
        for c in line.chars() {
            if c == '`' {
                in_span = !in_span;
            } else if !in_span {
                out.push(c);
            }
        }
        out.push('\n');
    }
    out
}

/// The targets of the inline links `[text](target)` of a Markdown text.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let prose = prose(text);
    let mut rest = prose.as_str();
    while let Some(i) = rest.find("](") {
        rest = &rest[i + 2..];
        if let Some(end) = rest.find(')') {
            found.push(rest[..end].trim().to_string());
            rest = &rest[end..];
        }
    }
    found
}

/// The anchors of a Markdown file's headings, as forges and mdBook make them: lower case,
/// spaces to `-`, other punctuation dropped, `-1`, `-2` ... for repeats.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        }
        if in_code || !line.starts_with('#') {
            continue;
        }
        let title = line.trim_start_matches('#');
        if !title.starts_with(' ') {
            continue;
        }
        let slug: String = title
            .trim()
            .chars()
            .filter_map(|c| {
                if c.is_alphanumeric() || c == '_' || c == '-' {
                    Some(c.to_ascii_lowercase())
                } else if c.is_whitespace() {
                    Some('-')
                } else {
                    None
                }
            })
            .collect();
        let n = seen.entry(slug.clone()).or_insert(0);
        out.push(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let book = repo().join("docs/src");
    let mut broken = Vec::new();
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("read");
        let fences = text
            .lines()
            .filter(|l| l.trim_start().starts_with("```"))
            .count();
        if fences % 2 != 0 {
            broken.push(format!("{}: a code block is not closed", file.display()));
        }
        let dir = file.parent().expect("parent");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, anchor) = match link.split_once('#') {
                Some((p, a)) => (p, Some(a)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            let at = format!(
                "{}: ({link})",
                file.strip_prefix(repo()).unwrap_or(&file).display()
            );
            let Ok(target) = target.canonicalize() else {
                broken.push(format!("{at}: no such file"));
                continue;
            };
            // In the built book only pages under docs/src exist.
            if file.starts_with(&book) && !target.starts_with(&book) {
                broken.push(format!(
                    "{at}: leaves docs/src (name the file in `code` instead)"
                ));
            }
            if let Some(anchor) = anchor {
                let target_text = std::fs::read_to_string(&target).unwrap_or_default();
                if !anchors(&target_text).iter().any(|a| a == anchor) {
                    broken.push(format!("{at}: no heading #{anchor}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_book_summary_lists_every_page() {
    let book = repo().join("docs/src");
    let summary = std::fs::read_to_string(book.join("SUMMARY.md")).expect("SUMMARY.md");
    let listed: Vec<PathBuf> = links(&summary).iter().map(|l| book.join(l)).collect();
    for page in markdown_files().iter().filter(|f| f.starts_with(&book)) {
        if page.file_name().is_some_and(|n| n == "SUMMARY.md") {
            continue;
        }
        assert!(
            listed.iter().any(|l| l == page),
            "{} is not in docs/src/SUMMARY.md",
            page.display()
        );
    }
    assert!(Path::new(&book.join("../book.toml")).exists());
}
