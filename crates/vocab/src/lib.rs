//! The vocabulary: facts kept as data files (log sources → events, event-type fields) and the
//! passes that read them — event coverage and indicators — written once for every language.

mod coverage;
mod fieldmaps;
mod indicators;
mod logsources;

pub use coverage::event_coverage;
pub use fieldmaps::field_maps;
pub use indicators::{indicators, norm_value, Indicator};
pub use logsources::{logsources, LogSources};
