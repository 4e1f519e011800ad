/// `patrol schema`: the JSON Schema of check files (or of patrol.yaml with `--root`).
pub fn schema(root: bool) -> anyhow::Result<u8> {
    let schema = if root {
        crate::config::schema::root_schema()
    } else {
        crate::config::schema::check_schema()
    };
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(0)
}
