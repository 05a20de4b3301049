//! The Sentinel rule format: a YAML document whose `query` is KQL (analytic rules: scheduled,
//! NRT ...; hunting queries). The YAML gives the metadata; `kql` parses and lowers the query into
//! stages and predicates; spans inside the query are placed in the file by `ruleyaml::Placement`.
//!
//! - [`rule`]: one YAML file → `ir::Rule` (metadata, connectors, tactics, entity mappings).
//! - [`functions`]: workspace functions (parsers) of a content folder, for calls by name.

pub mod functions;
pub mod rule;

pub use functions::Functions;
pub use rule::{looks_like_sentinel, parse_file, FileResult};
