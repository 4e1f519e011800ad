//! JSON Schema of the check-file format, generated from the same types that read it.

use super::model::{CheckDef, RootConfig};

/// The JSON Schema of one check document, for yaml-language-server
/// (`# yaml-language-server: $schema=patrol-check.schema.json`).
pub fn check_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(CheckDef);
    schema.insert("title".into(), "patrol check file".into());
    schema.into()
}

/// The JSON Schema of the root `patrol.yaml`.
pub fn root_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(RootConfig);
    schema.insert("title".into(), "patrol root configuration".into());
    schema.into()
}
