//! Runs rules over events. The engine evaluates the `ir` model, not a rule language: any front
//! end whose rules lower into selections, conditions and correlations runs here.
//!
//! - [`route`]: which events a rule may see (log source → provider/channel/EventID, from vocab's
//!   data files) and which field map applies (Security 4688 `NewProcessName` read as `Image`).
//! - [`matcher`]: one predicate compiled (lower-cased needles, aho-corasick, regexes, CIDR).
//! - [`lowered`]: an event's values lower-cased once, shared by the prefilter and substring tests.
//! - [`placeholders`]: values for `%name%` under Sigma's `expand` modifier, from a YAML file.
//! - [`compile`]: a rule's stages → one boolean tree of matchers.
//! - [`prefilter`]: per kind of event, one automaton per field over every rule's anchor strings,
//!   so that only rules that can match are evaluated.
//! - [`ruleset`]: many rules together, what cannot run and why, per-event candidate lookup.
//! - [`correlate`]: sliding windows over matches (Sigma correlations, legacy `| count()`).
//! - [`hunt`]: read logs in parallel, match, order matches by event time, run the windows.
//! - [`regress`]: Sigma regression cases (`info.yml` + EVTX/JSON) replayed against their rule.
//! - [`alert`]: alerts and their table / JSON lines / CSV output.

pub mod alert;
pub mod compile;
pub mod correlate;
mod grams;
pub mod hunt;
pub mod lowered;
pub mod matcher;
mod memo;
pub mod placeholders;
pub mod prefilter;
pub mod regress;
pub mod route;
pub mod ruleset;
mod search;

pub use alert::{write_alerts, Alert, Format};
pub use hunt::{hunt, HuntOptions, HuntResult};
pub use regress::{find_cases, run_case, CaseResult, CaseSpec, Count, RuleIndex};
pub use ruleset::{RuleSet, Skipped};
