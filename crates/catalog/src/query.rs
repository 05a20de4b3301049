use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use ir::Rule;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::store::SCHEMA_VERSION;

/// A built catalog, opened read-only.
pub struct Catalog {
    pub(crate) conn: Connection,
}

/// How many rules share something, in all and per source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub total: usize,
    pub by_source: BTreeMap<String, usize>,
}

#[derive(Debug, Serialize)]
pub struct Stats {
    pub rules: BTreeMap<String, usize>,
    pub failures: BTreeMap<String, usize>,
    /// Rules kept with error diagnostics, per source.
    pub with_errors: BTreeMap<String, usize>,
    pub by_kind: BTreeMap<String, BTreeMap<String, usize>>,
    pub by_status: BTreeMap<String, BTreeMap<String, usize>>,
    pub by_level: BTreeMap<String, BTreeMap<String, usize>>,
    pub failure_list: Vec<FailureRow>,
    /// Per source: how many predicates name a field with a canonical name.
    pub canonical: BTreeMap<String, CanonicalStats>,
}

/// Canonical-field coverage of one source's predicates.
#[derive(Debug, Default, Serialize)]
pub struct CanonicalStats {
    pub predicates: usize,
    pub with_canonical: usize,
    pub share: f64,
    /// The same, over rules that read Windows events (Windows log sources, Defender `Device*`
    /// tables and SecurityEvent, the CIM Endpoint data model).
    pub windows_predicates: usize,
    pub windows_with_canonical: usize,
    pub windows_share: f64,
    /// Fields without a canonical name, most frequent first: `[field, predicates]`.
    pub unmapped: Vec<(String, usize)>,
}

#[derive(Debug, Serialize)]
pub struct FailureRow {
    pub source: Option<String>,
    pub file: String,
    pub line: Option<u32>,
    pub col: Option<u32>,
    pub code: String,
    pub message: String,
}

/// A short description of a rule, for lists.
#[derive(Debug, Clone, Serialize)]
pub struct SearchHit {
    pub id: String,
    pub title: String,
    pub source: String,
    pub kind: String,
    pub level: Option<String>,
    pub file: String,
    /// bm25 rank (lower is better); 0 for non-search lists.
    pub rank: f64,
    /// For search results: the matching text, the matched words between `[` and `]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snippet: Option<String>,
}

/// A rule related to another, and how.
#[derive(Debug, Clone, Serialize)]
pub struct Related {
    /// `duplicate`, `narrower` (stricter: matches a subset), `broader`, or `same_technique`.
    pub relation: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub technique: Option<String>,
    #[serde(flatten)]
    pub rule: SearchHit,
}

/// What a RULE argument resolved to.
pub enum Found {
    One(Box<Rule>),
    Many(Vec<SearchHit>),
    None { suggestions: Vec<SearchHit> },
}

pub(crate) const HIT_COLS: &str = "r.id, r.title, r.source, r.kind, r.level, r.file";

pub(crate) fn hit(row: &rusqlite::Row, rank: f64) -> rusqlite::Result<SearchHit> {
    hit_at(row, 0, rank)
}

/// A hit from the [`HIT_COLS`] columns of a row, starting at column `first`.
fn hit_at(row: &rusqlite::Row, first: usize, rank: f64) -> rusqlite::Result<SearchHit> {
    Ok(SearchHit {
        id: row.get(first)?,
        title: row.get(first + 1)?,
        source: row.get(first + 2)?,
        kind: row.get(first + 3)?,
        level: row.get(first + 4)?,
        file: row.get(first + 5)?,
        rank,
        snippet: None,
    })
}

impl Catalog {
    pub fn open(db: &Path) -> anyhow::Result<Catalog> {
        if !db.exists() {
            bail!("no catalog at {}: run `rulelens build DIR...` first (or pass --db FILE)", db.display());
        }
        let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .with_context(|| format!("cannot open catalog {}", db.display()))?;
        let version: Option<String> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| r.get(0))
            .optional()
            .ok()
            .flatten();
        if version.as_deref() != Some(&SCHEMA_VERSION.to_string()) {
            bail!(
                "{} is not a rulelens catalog of this version (schema {}, expected {SCHEMA_VERSION}): rebuild it with `rulelens build`",
                db.display(),
                version.unwrap_or_else(|| "none".into())
            );
        }
        Ok(Catalog { conn })
    }

    pub fn stats(&self) -> anyhow::Result<Stats> {
        let count_by = |col: &str| -> anyhow::Result<BTreeMap<String, BTreeMap<String, usize>>> {
            let sql = format!("SELECT source, COALESCE({col}, '(none)'), COUNT(*) FROM rules GROUP BY 1, 2");
            let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
            let mut st = self.conn.prepare(&sql)?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))?;
            for row in rows {
                let (s, k, n) = row?;
                out.entry(s).or_default().insert(k, n as usize);
            }
            Ok(out)
        };
        let simple = |sql: &str| -> anyhow::Result<BTreeMap<String, usize>> {
            let mut st = self.conn.prepare(sql)?;
            let rows = st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            let mut out = BTreeMap::new();
            for row in rows {
                let (k, n) = row?;
                out.insert(k, n as usize);
            }
            Ok(out)
        };
        let mut st = self.conn.prepare(
            "SELECT source, origin || '/' || path, line, col, code, message FROM failures ORDER BY origin, path, line",
        )?;
        let failure_list = st
            .query_map([], |r| {
                Ok(FailureRow {
                    source: r.get(0)?,
                    file: r.get(1)?,
                    line: r.get(2)?,
                    col: r.get(3)?,
                    code: r.get(4)?,
                    message: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Stats {
            rules: simple("SELECT source, COUNT(*) FROM rules GROUP BY 1")?,
            failures: simple("SELECT COALESCE(source, 'unknown'), COUNT(*) FROM failures GROUP BY 1")?,
            with_errors: simple("SELECT source, COUNT(*) FROM rules WHERE errors > 0 GROUP BY 1")?,
            by_kind: count_by("kind")?,
            by_status: count_by("status")?,
            by_level: count_by("level")?,
            failure_list,
            canonical: self.canonical_stats()?,
        })
    }

    fn canonical_stats(&self) -> anyhow::Result<BTreeMap<String, CanonicalStats>> {
        let mut out: BTreeMap<String, CanonicalStats> = BTreeMap::new();
        let mut unmapped: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
        let mut st = self.conn.prepare("SELECT source, field, canonical IS NOT NULL, windows, n FROM fields")?;
        let rows = st.query_map([], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, bool>(2)?, r.get::<_, bool>(3)?, r.get::<_, i64>(4)?))
        })?;
        for row in rows {
            let (source, field, mapped, windows, n) = row?;
            let n = n as usize;
            let s = out.entry(source.clone()).or_default();
            s.predicates += n;
            s.with_canonical += if mapped { n } else { 0 };
            if windows {
                s.windows_predicates += n;
                s.windows_with_canonical += if mapped { n } else { 0 };
            }
            if !mapped {
                *unmapped.entry(source).or_default().entry(field).or_default() += n;
            }
        }
        for (source, s) in out.iter_mut() {
            s.share = s.with_canonical as f64 / s.predicates.max(1) as f64;
            s.windows_share = s.windows_with_canonical as f64 / s.windows_predicates.max(1) as f64;
            let mut list: Vec<(String, usize)> = unmapped.remove(source).unwrap_or_default().into_iter().collect();
            list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            s.unmapped = list;
        }
        Ok(out)
    }

    fn rule_where(&self, cond: &str, arg: &str) -> anyhow::Result<Vec<(i64, SearchHit)>> {
        let sql = format!("SELECT r.n, {HIT_COLS} FROM rules r WHERE {cond} ORDER BY r.n");
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![arg], |row| {
            let n: i64 = row.get(0)?;
            let h = hit_at(row, 1, 0.0)?;
            Ok((n, h))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn rule(&self, id: &str) -> anyhow::Result<Option<Rule>> {
        let json: Option<String> =
            self.conn.query_row("SELECT json FROM rules WHERE id = ?1", params![id], |r| r.get(0)).optional()?;
        json.map(|j| serde_json::from_str(&j).context("catalog row is not a valid rule")).transpose()
    }

    /// Every rule of the catalog, in catalog order.
    pub fn all_rules(&self) -> anyhow::Result<Vec<Rule>> {
        let mut st = self.conn.prepare("SELECT json FROM rules ORDER BY n")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for json in rows {
            out.push(serde_json::from_str(&json?).context("catalog row is not a valid rule")?);
        }
        Ok(out)
    }

    /// Resolves RULE: an id, a declared id, a file path, or a title (case-insensitive).
    pub fn find(&self, arg: &str) -> anyhow::Result<Found> {
        let mut tries: Vec<Vec<(i64, SearchHit)>> = vec![
            self.rule_where("r.id = ?1", arg)?,
            self.rule_where("r.own_id = ?1", arg)?,
        ];
        let as_path = Path::new(arg);
        if let Ok(canon) = as_path.canonicalize() {
            tries.push(self.rule_where("r.abs = ?1", &canon.to_string_lossy())?);
        }
        let norm = arg.replace('\\', "/");
        tries.push(self.rule_where("r.file = ?1 OR r.path = ?1", &norm)?);
        tries.push(self.rule_where("r.title = ?1 COLLATE NOCASE", arg)?);
        for found in tries {
            match found.len() {
                0 => continue,
                1 => {
                    let id = &found[0].1.id;
                    let rule = self.rule(id)?.context("rule vanished from the catalog")?;
                    return Ok(Found::One(Box::new(rule)));
                }
                _ => return Ok(Found::Many(found.into_iter().map(|(_, h)| h).collect())),
            }
        }
        Ok(Found::None { suggestions: self.search(arg, 5)? })
    }

    /// How many rules use this (field, kind, normalised value), in all and per source.
    pub fn indicator_counts(&self, field: &str, kind: &str, norm: &str) -> anyhow::Result<Counts> {
        let mut st = self.conn.prepare_cached(
            "SELECT source, COUNT(DISTINCT rule) FROM indicators WHERE field = ?1 AND kind = ?2 AND norm = ?3 GROUP BY source",
        )?;
        let mut c = Counts::default();
        let rows = st.query_map(params![field, kind, norm], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (s, n) = row?;
            c.total += n as usize;
            c.by_source.insert(s, n as usize);
        }
        Ok(c)
    }

    /// How many rules use this canonical (field, kind, value), in all and per source; rules with
    /// the same logic (duplicates) count once.
    pub fn canonical_counts(&self, field: &str, kind: &str, value: &str) -> anyhow::Result<Counts> {
        let mut st = self.conn.prepare_cached(
            "SELECT source, COUNT(DISTINCT grp) FROM indicators WHERE canonical = ?1 AND ckind = ?2 AND cnorm = ?3 GROUP BY source",
        )?;
        let mut c = Counts::default();
        let rows = st.query_map(params![field, kind, value.to_lowercase()], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
        for row in rows {
            let (s, n) = row?;
            c.by_source.insert(s, n as usize);
        }
        // A group spanning sources counts once in the total.
        c.total = self.conn.query_row(
            "SELECT COUNT(DISTINCT grp) FROM indicators WHERE canonical = ?1 AND ckind = ?2 AND cnorm = ?3",
            params![field, kind, value.to_lowercase()],
            |r| r.get::<_, i64>(0),
        )? as usize;
        Ok(c)
    }

    /// The rules behind a canonical count.
    pub fn canonical_rules(&self, field: &str, kind: &str, value: &str) -> anyhow::Result<Vec<SearchHit>> {
        let sql = format!(
            "SELECT DISTINCT {HIT_COLS} FROM indicators i JOIN rules r ON r.n = i.rule
             WHERE i.canonical = ?1 AND i.ckind = ?2 AND i.cnorm = ?3 ORDER BY r.source, r.title"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![field, kind, value.to_lowercase()], |r| hit(r, 0.0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Rules related to rule `id`: by logic (duplicate, narrower, broader; any source), then by
    /// shared ATT&CK technique, at most `limit` of the latter.
    pub fn related(&self, id: &str, limit: usize) -> anyhow::Result<Vec<Related>> {
        let mut out = Vec::new();
        let sql = format!(
            "SELECT x.relation, {HIT_COLS} FROM relations x JOIN rules me ON me.n = x.rule JOIN rules r ON r.n = x.other
             WHERE me.id = ?1 ORDER BY x.relation, r.source, r.title"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![id], |row| {
            let relation: String = row.get(0)?;
            let h = hit_at(row, 1, 0.0)?;
            Ok(Related { relation, technique: None, rule: h })
        })?;
        for r in rows {
            out.push(r?);
        }
        let sql = format!(
            "SELECT DISTINCT t2.technique, {HIT_COLS} FROM rules me JOIN techniques t1 ON t1.rule = me.n
             JOIN techniques t2 ON t2.technique = t1.technique AND t2.rule != me.n JOIN rules r ON r.n = t2.rule
             WHERE me.id = ?1 ORDER BY t2.technique, r.source, r.title LIMIT ?2"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![id, limit as i64], |row| {
            let technique: String = row.get(0)?;
            let h = hit_at(row, 1, 0.0)?;
            Ok(Related { relation: "same_technique".into(), technique: Some(technique), rule: h })
        })?;
        for r in rows {
            let r = r?;
            if !out.iter().any(|o| o.rule.id == r.rule.id) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The rules that use an indicator.
    pub fn indicator_rules(&self, field: &str, kind: &str, norm: &str) -> anyhow::Result<Vec<SearchHit>> {
        let sql = format!(
            "SELECT DISTINCT {HIT_COLS} FROM indicators i JOIN rules r ON r.n = i.rule
             WHERE i.field = ?1 AND i.kind = ?2 AND i.norm = ?3 ORDER BY r.source, r.title"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![field, kind, norm], |r| hit(r, 0.0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Full-text search over title, description, tags, fields, values, ids and paths; best first.
    /// Words are matched as given (each word quoted, so `mmc.exe` or `T1021.003` need no escaping);
    /// a trailing `*` keeps its prefix meaning.
    pub fn search(&self, query: &str, limit: usize) -> anyhow::Result<Vec<SearchHit>> {
        let fts = fts_query(query);
        if fts.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {HIT_COLS}, bm25(fts, 10.0, 2.0, 5.0, 3.0, 3.0, 4.0) AS rank, snippet(fts, -1, '[', ']', '…', 12)
             FROM fts JOIN rules r ON r.n = fts.rowid WHERE fts MATCH ?1 ORDER BY rank LIMIT ?2"
        );
        let mut st = self.conn.prepare(&sql)?;
        let rows = st.query_map(params![fts, limit as i64], |r| {
            let rank: f64 = r.get(6)?;
            let mut h = hit(r, rank)?;
            h.snippet = r.get(7)?;
            Ok(h)
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// Turns user words into an FTS5 query: each word a quoted string (AND between them);
/// `OR` and `NOT` between words keep their meaning; `word*` stays a prefix query.
fn fts_query(q: &str) -> String {
    let mut parts = Vec::new();
    for w in q.split_whitespace() {
        if w == "OR" || w == "NOT" || w == "AND" {
            if !parts.is_empty() {
                parts.push(w.to_string());
            }
            continue;
        }
        let (body, prefix) = match w.strip_suffix('*') {
            Some(b) if !b.is_empty() => (b, true),
            _ => (w, false),
        };
        let body: String = body.chars().filter(|c| *c != '"').collect();
        if body.is_empty() {
            continue;
        }
        parts.push(format!("\"{body}\"{}", if prefix { "*" } else { "" }));
    }
    while matches!(parts.last().map(String::as_str), Some("OR" | "NOT" | "AND")) {
        parts.pop();
    }
    parts.join(" ")
}

#[cfg(test)]
mod tests {
    use super::fts_query;

    #[test]
    fn fts_query_quotes_words_and_keeps_operators() {
        assert_eq!(fts_query("mmc.exe"), "\"mmc.exe\"");
        assert_eq!(fts_query("dcom OR mmc NOT excel"), "\"dcom\" OR \"mmc\" NOT \"excel\"");
        assert_eq!(fts_query("lateral*  \"x"), "\"lateral\"* \"x\"");
        assert_eq!(fts_query("OR mmc OR"), "\"mmc\"");
        assert_eq!(fts_query("\"\" *"), "\"*\"");
    }
}
