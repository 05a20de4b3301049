//! ATT&CK coverage: techniques × sources, split into detections and hunting queries, and the
//! ATT&CK Navigator layer of it.

use std::collections::BTreeMap;

use rusqlite::OptionalExtension;
use serde::Serialize;

use crate::query::{Catalog, Counts};

#[derive(Debug, Serialize)]
pub struct Coverage {
    /// The ATT&CK release of the bundle given to `build --attack` (None: no bundle loaded).
    pub attack_version: Option<String>,
    pub tactics: Vec<TacticRow>,
    /// Every technique some rule names, and every technique of the bundle; most covered first.
    pub techniques: Vec<TechniqueRow>,
}

#[derive(Debug, Serialize)]
pub struct TacticRow {
    pub id: String,
    pub shortname: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
pub struct TechniqueRow {
    pub id: String,
    pub name: Option<String>,
    pub tactics: Vec<String>,
    /// All rules naming the technique.
    pub rules: Counts,
    pub detections: Counts,
    pub hunting: Counts,
}

impl Catalog {
    pub fn coverage(&self) -> anyhow::Result<Coverage> {
        let attack_version: Option<String> = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'attack_version'", [], |r| r.get(0))
            .optional()?;
        let mut st = self.conn.prepare("SELECT id, shortname, name FROM attack_tactics ORDER BY ord")?;
        let tactics = st
            .query_map([], |r| Ok(TacticRow { id: r.get(0)?, shortname: r.get(1)?, name: r.get(2)? }))?
            .collect::<Result<Vec<_>, _>>()?;
        let mut rows: BTreeMap<String, TechniqueRow> = BTreeMap::new();
        let mut st = self.conn.prepare("SELECT id, full_name, tactics FROM attack_techniques WHERE deprecated = 0")?;
        let known = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?)))?;
        for k in known {
            let (id, name, tactics) = k?;
            let tactics = tactics.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
            rows.insert(id.clone(), TechniqueRow { id, name: Some(name), tactics, rules: Counts::default(), detections: Counts::default(), hunting: Counts::default() });
        }
        let mut st = self.conn.prepare(
            "SELECT t.technique, r.source, r.kind = 'hunting', COUNT(DISTINCT r.n) FROM techniques t JOIN rules r ON r.n = t.rule GROUP BY 1, 2, 3",
        )?;
        let counts = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?, r.get::<_, i64>(3)?)))?;
        for c in counts {
            let (id, source, hunting, n) = c?;
            let n = n as usize;
            let row = rows.entry(id.clone()).or_insert_with(|| TechniqueRow {
                id,
                name: None,
                tactics: Vec::new(),
                rules: Counts::default(),
                detections: Counts::default(),
                hunting: Counts::default(),
            });
            for c in [&mut row.rules, if hunting { &mut row.hunting } else { &mut row.detections }] {
                c.total += n;
                *c.by_source.entry(source.clone()).or_default() += n;
            }
        }
        let mut techniques: Vec<TechniqueRow> = rows.into_values().collect();
        techniques.sort_by(|a, b| b.rules.total.cmp(&a.rules.total).then_with(|| a.id.cmp(&b.id)));
        Ok(Coverage { attack_version, tactics, techniques })
    }

    /// The rules naming a technique or one of its sub-techniques (`T1021` covers `T1021.003`).
    pub fn technique_rules(&self, id: &str) -> anyhow::Result<Vec<crate::SearchHit>> {
        let id = id.to_ascii_uppercase();
        let sql = format!(
            "SELECT DISTINCT {} FROM techniques t JOIN rules r ON r.n = t.rule WHERE t.technique = ?1 OR t.technique LIKE ?2 ORDER BY r.source, r.title",
            crate::query::HIT_COLS
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(rusqlite::params![id, format!("{id}.%")], |r| crate::query::hit(r, 0.0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// An ATT&CK Navigator layer (format 4.5): one score per technique, the number of rules of
    /// `source` (all sources when `None`) that name it.
    pub fn navigator(&self, source: Option<&str>) -> anyhow::Result<serde_json::Value> {
        let cov = self.coverage()?;
        let mut techniques = Vec::new();
        let mut max = 0;
        for t in &cov.techniques {
            let score = match source {
                Some(s) => t.rules.by_source.get(s).copied().unwrap_or(0),
                None => t.rules.total,
            };
            if score == 0 {
                continue;
            }
            max = max.max(score);
            let split: Vec<String> = t.rules.by_source.iter().map(|(s, n)| format!("{s} {n}")).collect();
            techniques.push(serde_json::json!({
                "techniqueID": t.id,
                "score": score,
                "comment": split.join(", "),
                "enabled": true,
            }));
        }
        let scope = source.unwrap_or("all sources");
        Ok(serde_json::json!({
            "name": format!("rulelens: {scope}"),
            "versions": {"attack": cov.attack_version.as_deref().map(|v| v.trim_end_matches('+').split('.').next().unwrap_or(v)).unwrap_or("18"), "navigator": "5.1.0", "layer": "4.5"},
            "domain": "enterprise-attack",
            "description": format!("Rules per technique ({scope}), from a rulelens catalog"),
            "techniques": techniques,
            "gradient": {"colors": ["#ffffff", "#8ec843", "#2e7d32"], "minValue": 0, "maxValue": max.max(1)},
            "legendItems": [],
            "showTacticRowBackground": false,
        }))
    }
}
