//! The vocabulary: facts kept as data files (log sources → events, event-type fields) and the
//! passes that read them — event coverage and indicators — written once for every language.

mod canonical;
mod coverage;
mod fields;
mod fieldmaps;
mod indicators;
mod logsources;
mod relations;

pub use canonical::{annotate, canonical_form, computed_fields, is_field_name};
pub use coverage::{event_coverage, telemetry_findings};
pub use fields::{fields, Fields};
pub use fieldmaps::field_maps;
pub use indicators::{indicators, norm_value, CanonicalIndicator, Indicator};
pub use logsources::{logsources, LogSources};
pub use relations::{normal_form, relate, relate_with, Case, Relation};
