//! JSON schema validation for tests: SARIF 2.1.0 and CycloneDX 1.5, against the official schemas
//! the project carries in tests/data/schemas/ (sources in the README there). Offline: a
//! reference the registry does not hold fails instead of being fetched.
//!
//! Use from any test target with `#[path = "../common/schema.rs"] mod schema;` (or
//! `#[path = "common/schema.rs"]` from a top-level test file).

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

/// The schemas on hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    Sarif210,
    CycloneDx15,
}

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/schemas")
}

fn load(name: &str) -> Value {
    let path = schema_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the schema {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// The SARIF schema with its one known erratum mended in memory: the `language` pattern
/// `^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$` (in `run` and in `toolComponent`) has a stray `]`
/// that JavaScript's legacy regex syntax reads as a literal but a strict ECMA 262 parser (the
/// validator's) rejects. Escaping it keeps the meaning; the file itself stays as published.
fn sarif_schema() -> Value {
    const ERRATUM: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";
    fn mend(value: &mut Value, count: &mut usize) {
        match value {
            Value::String(s) if s == ERRATUM => {
                *s = r"^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}\]?$".to_owned();
                *count += 1;
            }
            Value::Array(items) => items.iter_mut().for_each(|v| mend(v, count)),
            Value::Object(map) => map.values_mut().for_each(|v| mend(v, count)),
            _ => {}
        }
    }
    let mut schema = load("sarif-schema-2.1.0.json");
    let mut count = 0;
    mend(&mut schema, &mut count);
    assert_eq!(
        count, 2,
        "the SARIF schema's language patterns changed: revisit this mend"
    );
    schema
}

/// Ok, or every violation as `instance path: message`.
pub fn validate(schema: Schema, value: &Value) -> Result<(), Vec<String>> {
    let (root, extra): (Value, Vec<(&str, &str)>) = match schema {
        Schema::Sarif210 => (sarif_schema(), vec![]),
        Schema::CycloneDx15 => (
            load("bom-1.5.SNAPSHOT.schema.json"),
            vec![
                (
                    "http://cyclonedx.org/schema/spdx.SNAPSHOT.schema.json",
                    "spdx.SNAPSHOT.schema.json",
                ),
                (
                    "http://cyclonedx.org/schema/jsf-0.82.SNAPSHOT.schema.json",
                    "jsf-0.82.SNAPSHOT.schema.json",
                ),
            ],
        ),
    };
    let mut registry = jsonschema::Registry::new();
    for (uri, file) in extra {
        registry = registry
            .add(uri, load(file))
            .unwrap_or_else(|e| panic!("cannot register {file}: {e}"));
    }
    let registry = registry
        .prepare()
        .unwrap_or_else(|e| panic!("cannot prepare the schema registry: {e}"));
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&root)
        .unwrap_or_else(|e| panic!("cannot compile the {schema:?} schema: {e}"));
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors)
    }
}
