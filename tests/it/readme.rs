//! The README's reference is generated from the sources (scripts/readme-reference.py); this
//! test fails when a doc comment changed and the README was not regenerated.

use std::path::Path;

fn module_doc(path: &str) -> String {
    let text = std::fs::read_to_string(path).expect("source");
    let mut lines = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("//!") {
            lines.push(rest.strip_prefix(' ').unwrap_or(rest).to_string());
        } else if !lines.is_empty() {
            break;
        }
    }
    lines.join("\n").trim().to_string()
}

#[test]
fn readme_documents_every_probe_as_its_source_does() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    for probe in [
        "http",
        "tcp",
        "command",
        "disk",
        "system",
        "log",
        "tls_file",
        "hyperbdr",
        "s3_credentials",
        "sample_restore",
    ] {
        let doc = module_doc(&format!("src/probe/{probe}.rs"));
        assert!(!doc.is_empty(), "{probe} has no module doc");
        assert!(
            readme.contains(&doc),
            "README.md is out of date for the {probe} probe: run scripts/readme-reference.py"
        );
    }
}

#[test]
fn readme_documents_every_check_field_and_rule_function() {
    let readme = std::fs::read_to_string("README.md").expect("README.md");
    let schema = patrol::config::schema::check_schema();
    for (name, prop) in schema["properties"].as_object().expect("properties") {
        let desc = prop["description"]
            .as_str()
            .unwrap_or_default()
            .replace('\n', " ");
        assert!(
            readme.contains(&format!("| `{name}`")) && readme.contains(&desc),
            "README.md lacks check field `{name}` as documented: run scripts/readme-reference.py"
        );
    }
    let functions = module_doc("src/rule/functions.rs");
    for line in functions.lines().filter(|l| l.starts_with("| `")) {
        assert!(
            readme.contains(line),
            "README.md lacks rule reference line {line:?}"
        );
    }
    assert!(Path::new(".ci/run").exists());
    assert!(readme.contains(".ci/run"), "README names the test command");
}
