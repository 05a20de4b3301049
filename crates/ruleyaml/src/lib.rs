//! Rule files in YAML whose query is text in another language (Sentinel's KQL, Splunk's SPL):
//! what both front ends need from the YAML side, written once.
//!
//! - [`load`]: the documents, read as the vendors' tooling reads them ([`lenient`]), or the
//!   parse error as a located diagnostic.
//! - [`string`], [`strings`], [`to_json`]: typed reads of metadata, and metadata kept as it is.
//! - [`position`]: where each character of a key's value sits in the file, so spans of the
//!   parsed query point into it.

pub mod lenient;
pub mod position;

pub use position::Placement;

use ir::{Diagnostic, Span};
use yaml_rust2::{Yaml, YamlLoader};

/// The documents of a YAML file.
pub struct Loaded {
    pub docs: Vec<Yaml>,
    /// Read only after indenting quoted lines that start at column 0 (see [`lenient`]).
    pub lenient: bool,
}

/// Loads `text`; quoted lines at column 0, which YAML refuses and PyYAML (the vendors' tooling)
/// reads, are read as PyYAML does. Otherwise the error, located.
pub fn load(text: &str) -> Result<Loaded, Diagnostic> {
    match YamlLoader::load_from_str(text) {
        Ok(docs) => Ok(Loaded { docs, lenient: false }),
        Err(e) => match lenient::indent_quoted(text).and_then(|fixed| YamlLoader::load_from_str(&fixed).ok()) {
            Some(docs) => Ok(Loaded { docs, lenient: true }),
            None => {
                let m = e.marker();
                let span = Span { start: m.index(), end: m.index(), line: m.line().max(1) as u32, col: m.col() as u32 + 1 };
                Err(Diagnostic::error("invalid-yaml", format!("invalid YAML: {}", e.info()), Some(span)))
            }
        },
    }
}

/// The warning a file read leniently carries.
pub fn lenient_warning() -> Diagnostic {
    Diagnostic::warning(
        "lenient-yaml",
        "quoted lines start at column 0: YAML wants them indented; read as the vendor's tooling (PyYAML) reads them",
        None,
    )
}

/// A scalar as text (trimmed; `None` when missing or empty).
pub fn string(doc: &Yaml, key: &str) -> Option<String> {
    match &doc[key] {
        Yaml::String(s) | Yaml::Real(s) => Some(s.trim().to_string()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

/// A list of strings (a single string is a list of one); empty entries are left out.
pub fn strings(doc: &Yaml, key: &str) -> Vec<String> {
    match &doc[key] {
        Yaml::Array(a) => a.iter().filter_map(|y| y.as_str().map(|s| s.trim().to_string())).filter(|s| !s.is_empty()).collect(),
        Yaml::String(s) => vec![s.trim().to_string()],
        _ => Vec::new(),
    }
}

/// YAML → JSON, for metadata kept as it is.
pub fn to_json(y: &Yaml) -> serde_json::Value {
    match y {
        Yaml::String(s) | Yaml::Real(s) => serde_json::Value::String(s.clone()),
        Yaml::Integer(i) => serde_json::json!(i),
        Yaml::Boolean(b) => serde_json::json!(b),
        Yaml::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => serde_json::Value::Object(
            h.iter().filter_map(|(k, v)| Some((k.as_str().map(str::to_string).or_else(|| k.as_i64().map(|i| i.to_string()))?, to_json(v)))).collect(),
        ),
        _ => serde_json::Value::Null,
    }
}
