//! Splunk Enterprise Security Content Update (ESCU) detections: YAML files under `detections/`
//! whose `search` is SPL built from the repository's `macros/`.
//!
//! - [`repo`]: finds the repository root (a folder with `macros/` and `detections/`) and loads
//!   its macros.
//! - [`rule`]: one detection → `ir::Rule` (metadata, tags, RBA, tests; the search expanded and
//!   lowered by `spl`; its spans placed in the file with `ruleyaml::Placement`, through the
//!   macro calls).
//! - [`facts`]: the page rows of a detection (risk, RBA, data model, schedule, macros, tests).

pub mod facts;
pub mod repo;
pub mod rule;

pub use facts::facts;
pub use repo::Repo;
pub use rule::{looks_like_escu, parse_file, FileResult};
