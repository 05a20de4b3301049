use ir::{Predicate, Rule, Telemetry};
use serde::Serialize;

use crate::query::{Catalog, Counts, Related};

/// Everything a rule page shows (terminal, JSON, web): the rule plus what the catalog knows
/// about it. The JSON keys are the public interface.
#[derive(Debug, Serialize)]
pub struct Page {
    #[serde(flatten)]
    pub rule: Rule,
    /// `origin/path`.
    pub file: String,
    pub telemetry: TelemetryView,
    pub stages: Vec<StageView>,
    pub indicators: Vec<IndicatorView>,
    /// Rules related by logic (duplicate, narrower, broader) or by ATT&CK technique.
    pub related: Vec<Related>,
}

#[derive(Debug, Serialize)]
pub struct TelemetryView {
    pub declared: Vec<Telemetry>,
    pub derived: Vec<Telemetry>,
}

#[derive(Debug, Serialize)]
pub struct StageView {
    pub id: usize,
    pub name: String,
    pub kind: &'static str,
    pub text: String,
    pub predicates: Vec<Predicate>,
}

#[derive(Debug, Serialize)]
pub struct IndicatorView {
    pub field: Option<String>,
    pub kind: &'static str,
    pub value: String,
    pub cased: bool,
    pub negated: bool,
    pub stage: String,
    /// Rules in the catalog (this one included) with the same (field, kind, value).
    pub corpus: Counts,
    /// The canonical field (`process.parent.name`), when the field has one.
    pub canonical: Option<String>,
    /// The canonical form's kind and value (a path's `endswith` on its last component is the
    /// name's `eq`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_kind: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canonical_value: Option<String>,
    /// Rules in the catalog, of every source, with the same canonical indicator.
    pub canonical_corpus: Option<Counts>,
}

impl Page {
    pub fn new(catalog: &Catalog, rule: Rule) -> anyhow::Result<Page> {
        let mut indicators = Vec::new();
        for ind in vocab::indicators(&rule) {
            let corpus = catalog.indicator_counts(ind.field.as_deref().unwrap_or(""), ind.kind.as_str(), &ind.norm())?;
            let canonical_corpus = match &ind.canonical {
                Some(c) => Some(catalog.canonical_counts(&c.field, c.kind.as_str(), &c.value)?),
                None => None,
            };
            indicators.push(IndicatorView {
                canonical: ind.canonical.as_ref().map(|c| c.field.clone()),
                canonical_kind: ind.canonical.as_ref().map(|c| c.kind.as_str()),
                canonical_value: ind.canonical.as_ref().map(|c| c.value.clone()),
                canonical_corpus,
                field: ind.field,
                kind: ind.kind.as_str(),
                value: ind.value,
                cased: ind.cased,
                negated: ind.negated,
                stage: ind.stage,
                corpus,
            });
        }
        indicators.sort_by(|a, b| (&a.field, a.kind, &a.value).cmp(&(&b.field, b.kind, &b.value)));
        let stages = rule
            .logic
            .stages
            .iter()
            .map(|s| StageView {
                id: s.id,
                name: s.name.clone(),
                kind: s.kind.name(),
                text: s.text.clone(),
                predicates: s.predicates().into_iter().cloned().collect(),
            })
            .collect();
        let related = catalog.related(&rule.id, 30)?;
        Ok(Page {
            related,
            file: format!("{}/{}", rule.origin, rule.path),
            telemetry: TelemetryView { declared: rule.declared.clone(), derived: rule.derived.clone() },
            stages,
            indicators,
            rule,
        })
    }
}

/// The line a span points at (in the rule's own text, which starts at file line `raw_line`) with a
/// caret under the offending text.
pub fn caret(raw: &str, raw_line: u32, span: ir::Span) -> Option<String> {
    let line = raw.lines().nth(span.line.checked_sub(raw_line)? as usize)?;
    let col = (span.col.max(1) - 1) as usize;
    let width = if span.end > span.start { (span.end - span.start).min(line.len().saturating_sub(col)).max(1) } else { 1 };
    let lead: String = line.chars().take(col).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    Some(format!("{line}\n{lead}{}", "^".repeat(width)))
}

