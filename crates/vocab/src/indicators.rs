use std::collections::HashSet;

use ir::{Op, Rule, Value};
use serde::Serialize;

use crate::canonical::canonical_form;
use crate::logsources::logsources;

/// A predicate value a rule matches literally: (field, kind, value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Indicator {
    /// Raw field name; `None` for keyword (field-less) searches.
    pub field: Option<String>,
    pub kind: Op,
    pub value: String,
    pub cased: bool,
    /// The predicate's own negation (`neq`, `!=`).
    pub negated: bool,
    /// Name of the stage the first occurrence sits in.
    pub stage: String,
    /// The canonical form (see `canonical_form`), when the field has a canonical name.
    pub canonical: Option<CanonicalIndicator>,
}

/// An indicator in the canonical vocabulary: what cross-source counts compare.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CanonicalIndicator {
    pub field: String,
    pub kind: Op,
    pub value: String,
}

impl Indicator {
    /// The counting key: values compare case-insensitively unless the predicate is cased.
    pub fn norm(&self) -> String {
        norm_value(&self.value, self.cased)
    }
}

pub fn norm_value(value: &str, cased: bool) -> String {
    if cased {
        value.to_string()
    } else {
        value.to_lowercase()
    }
}

/// The indicators of a rule, one per distinct (field, kind, value), in stage order. Predicates
/// on event-type fields (EventID, Channel ...) are event coverage, not indicators; `exists`,
/// field references, null, empty and `-` values match no literal and are left out.
pub fn indicators(rule: &Rule) -> Vec<Indicator> {
    let ls = logsources();
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for stage in &rule.logic.stages {
        for p in stage.predicates() {
            if matches!(p.op, Op::Exists | Op::FieldRef) {
                continue;
            }
            if p.field.as_deref().is_some_and(|f| ls.is_event_type_field(f)) {
                continue;
            }
            for v in &p.values {
                if matches!(v, Value::Null) {
                    continue;
                }
                let value = v.text();
                if value.is_empty() || value == "-" {
                    continue;
                }
                let canonical = p.canonical.as_deref().map(|c| {
                    let (field, kind, value) = canonical_form(c, p.op, &value);
                    CanonicalIndicator { field, kind, value }
                });
                let ind = Indicator {
                    field: p.field.clone(),
                    kind: p.op,
                    value,
                    cased: p.case_sensitive,
                    negated: p.negated,
                    stage: stage.name.clone(),
                    canonical,
                };
                // The same raw field can mean two things in one rule (KQL's InitiatingProcess*
                // is the parent in DeviceProcessEvents, the process in DeviceNetworkEvents).
                let key = (ind.field.clone(), ind.kind, ind.norm(), ind.negated, ind.canonical.as_ref().map(|c| c.field.clone()));
                if seen.insert(key) {
                    out.push(ind);
                }
            }
        }
    }
    out
}
