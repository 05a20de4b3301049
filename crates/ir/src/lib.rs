//! The rule model: every language front end lowers into these types, and everything after
//! (catalog, vocabulary, engine, web) is written once against them.

mod diag;
mod lines;
mod logic;
mod rule;

pub use diag::{Diagnostic, Severity, Span};
pub use lines::LineIndex;
pub use logic::{
    Agg, CmpOp, Correlation, CorrelationKind, Expr, Logic, Op, Predicate, Quant, SortKey, Stage,
    StageId, StageKind, Value,
};
pub use rule::{AttackRef, Rule, Source, Telemetry};

/// A short, stable id for rules that declare none: 16 hex digits of SHA-256 over the parts.
pub fn short_hash(parts: &[&str]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}
