//! SPL, first cut (issue 4 is not done: see docs/ARCHITECTURE.md). What works:
//!
//! - [`macros`]: macro expansion as Splunk does it: `name(n)` by arity, `$arg$` substitution,
//!   nesting, a missing `<detection>_filter` read as `search *`, `drop_dm_object_name(X)` read as
//!   renaming `X.*` to `*`, self-expanding macros reported instead of followed.
//! - [`pipeline`]: the search split into commands at top-level `|` (quotes, brackets and
//!   subsearches respected), ```` ``` ```` comments dropped, every command kept with its span.
//! - [`expr`]: the search command's expression world (implicit AND, OR binding tighter than AND,
//!   NOT, `IN`, comparisons, wildcards, bare terms) and a simple where/eval world.
//! - [`lower`]: tstats over a data model node, search/where filters, stats/rename/table stages.
//!
//! Not yet: a lossless AST, argument grammars per command, eval functions beyond comparisons,
//! `like`/`match`, subsearch lowering, fuzzing and the benchmark the issue asks for.

pub mod expr;
pub mod lower;
pub mod macros;
pub mod pipeline;

pub use lower::{lower, Lowered};
pub use macros::{Expanded, Macro, Macros};
