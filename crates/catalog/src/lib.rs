//! The catalog: find rule files, parse them in parallel with the front ends, run the vocabulary
//! passes, and keep the result in one SQLite file (rules, indicators, full-text index).

mod build;
mod coverage;
mod enrich;
mod explore;
mod ingest;
mod page;
mod query;
mod store;
mod walk;

pub use build::{build, build_with, load, BuildSummary, Loaded, Progress};
pub use coverage::{Coverage, TechniqueRow};
pub use explore::{Facets, IndicatorRow};
pub use ingest::FileFailure;
pub use page::{caret, IndicatorView, Page, StageView};
pub use query::{CanonicalStats, Catalog, Counts, Found, Related, SearchHit, Stats};
pub use walk::RuleFile;
/// The page rows of a Splunk detection (risk, RBA, data model, schedule, macros, tests).
pub use splunk::facts as splunk_facts;
