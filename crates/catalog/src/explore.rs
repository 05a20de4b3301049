//! The indicator explorer: the most used indicators across sources, raw or canonical.

use std::collections::BTreeMap;

use rusqlite::params;
use serde::Serialize;

use crate::query::{Catalog, Counts};

/// One indicator and how many rules use it.
#[derive(Debug, Clone, Serialize)]
pub struct IndicatorRow {
    pub field: String,
    pub kind: String,
    /// Normalised (lower-cased unless cased) value.
    pub value: String,
    pub corpus: Counts,
}

/// What search facets look at, per rule.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    pub status: Option<String>,
    pub tactics: Vec<String>,
    /// Log sources, tables and data models the rule reads (`process_creation`, `DeviceProcessEvents`).
    pub telemetry: Vec<String>,
    /// Canonical fields its predicates use.
    pub fields: Vec<String>,
    /// ATT&CK technique ids.
    pub techniques: Vec<String>,
}

impl Catalog {
    /// Facets of the rules with these ids.
    pub fn facets(&self, ids: &[String]) -> anyhow::Result<std::collections::HashMap<String, Facets>> {
        let mut out = std::collections::HashMap::new();
        for id in ids {
            let Some(r) = self.rule(id)? else { continue };
            let mut telemetry = Vec::new();
            for t in r.declared.iter().chain(&r.derived) {
                let name = match t {
                    ir::Telemetry::LogSource { category, service, product } => category.clone().or_else(|| service.clone()).or_else(|| product.clone()),
                    ir::Telemetry::Table { name } => Some(name.clone()),
                    ir::Telemetry::DataModel { node } => Some(node.clone()),
                    ir::Telemetry::WinEvent { .. } => None,
                };
                if let Some(n) = name.filter(|n| !telemetry.contains(n)) {
                    telemetry.push(n);
                }
            }
            let mut fields: Vec<String> = r.logic.stages.iter().flat_map(|s| s.predicates()).filter_map(|p| p.canonical.clone()).collect();
            fields.sort();
            fields.dedup();
            let techniques = r.attack.iter().map(|a| a.technique.clone()).collect();
            out.insert(id.clone(), Facets { status: r.status.clone(), tactics: r.tactics.clone(), telemetry, fields, techniques });
        }
        Ok(out)
    }

    /// Indicators by the number of rules that use them, most used first; `field` narrows to one
    /// field. `canonical`: count canonical indicators (duplicates once) instead of raw ones.
    pub fn top_indicators(&self, canonical: bool, field: Option<&str>, limit: usize) -> anyhow::Result<Vec<IndicatorRow>> {
        let (f, k, v, count) = if canonical { ("canonical", "ckind", "cnorm", "grp") } else { ("field", "kind", "norm", "rule") };
        let sql = format!(
            "SELECT {f}, {k}, {v}, source, COUNT(DISTINCT {count}) FROM indicators
             WHERE {f} IS NOT NULL AND (?1 IS NULL OR {f} = ?1) GROUP BY 1, 2, 3, 4"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![field], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?, r.get::<_, i64>(4)?))
        })?;
        let mut by: BTreeMap<(String, String, String), Counts> = BTreeMap::new();
        for row in rows {
            let (f, k, v, source, n) = row?;
            let c = by.entry((f, k, v)).or_default();
            c.total += n as usize;
            c.by_source.insert(source, n as usize);
        }
        let mut out: Vec<IndicatorRow> =
            by.into_iter().map(|((field, kind, value), corpus)| IndicatorRow { field, kind, value, corpus }).collect();
        out.sort_by(|a, b| b.corpus.total.cmp(&a.corpus.total).then_with(|| (&a.field, &a.kind, &a.value).cmp(&(&b.field, &b.kind, &b.value))));
        out.truncate(limit);
        Ok(out)
    }
}
