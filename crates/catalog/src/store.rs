use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use ir::Rule;
use rusqlite::{params, Connection};

use crate::ingest::FileFailure;

/// Bumped whenever the tables change; `open` refuses other versions with a clear message.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE rules(
  n INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  own_id TEXT,
  source TEXT NOT NULL,
  origin TEXT NOT NULL,
  path TEXT NOT NULL,
  file TEXT NOT NULL,
  abs TEXT NOT NULL,
  doc_index INTEGER NOT NULL,
  kind TEXT NOT NULL,
  title TEXT NOT NULL,
  name TEXT,
  status TEXT,
  level TEXT,
  errors INTEGER NOT NULL,
  json TEXT NOT NULL
);
CREATE INDEX rules_own_id ON rules(own_id);
CREATE INDEX rules_title ON rules(title COLLATE NOCASE);
CREATE INDEX rules_path ON rules(path);
CREATE TABLE failures(
  origin TEXT NOT NULL, path TEXT NOT NULL, source TEXT,
  line INTEGER, col INTEGER, code TEXT NOT NULL, message TEXT NOT NULL
);
CREATE TABLE indicators(
  rule INTEGER NOT NULL REFERENCES rules(n),
  source TEXT NOT NULL,
  field TEXT NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  norm TEXT NOT NULL,
  cased INTEGER NOT NULL,
  negated INTEGER NOT NULL,
  stage TEXT NOT NULL,
  canonical TEXT,
  ckind TEXT,
  cnorm TEXT,
  -- the rule's duplicate group (rules with the same logic share it): canonical counts count
  -- each group once
  grp INTEGER NOT NULL
);
CREATE INDEX indicators_key ON indicators(field, kind, norm);
CREATE INDEX indicators_canonical ON indicators(canonical, ckind, cnorm);
-- rule `other` is `relation` (duplicate, narrower, broader, overlapping, shares_indicators) to rule `rule`.
CREATE TABLE relations(rule INTEGER NOT NULL, other INTEGER NOT NULL, relation TEXT NOT NULL);
CREATE INDEX relations_rule ON relations(rule);
CREATE TABLE techniques(rule INTEGER NOT NULL, technique TEXT NOT NULL);
CREATE INDEX techniques_technique ON techniques(technique);
-- The loaded ATT&CK bundle (empty when `build` was given none).
CREATE TABLE attack_tactics(ord INTEGER NOT NULL, id TEXT NOT NULL, shortname TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE attack_techniques(
  id TEXT PRIMARY KEY, name TEXT NOT NULL, full_name TEXT NOT NULL, parent TEXT, tactics TEXT NOT NULL, deprecated INTEGER NOT NULL
);
CREATE TABLE fields(
  source TEXT NOT NULL,
  field TEXT NOT NULL,
  canonical TEXT,
  windows INTEGER NOT NULL,
  n INTEGER NOT NULL
);
CREATE VIRTUAL TABLE fts USING fts5(title, description, tags, fields, vals, ident, tokenize = 'unicode61 remove_diacritics 2');
";

fn write_attack(tx: &rusqlite::Transaction, a: &attack::Attack) -> anyhow::Result<()> {
    tx.execute("INSERT INTO meta VALUES('attack_version', ?1)", params![a.version.as_deref().unwrap_or("")])?;
    let mut ins = tx.prepare("INSERT INTO attack_tactics VALUES(?1, ?2, ?3, ?4)")?;
    for (i, t) in a.tactics.iter().enumerate() {
        ins.execute(params![i as i64, t.id, t.shortname, t.name])?;
    }
    let mut ins = tx.prepare("INSERT INTO attack_techniques VALUES(?1, ?2, ?3, ?4, ?5, ?6)")?;
    for t in a.techniques.values() {
        ins.execute(params![t.id, t.name, a.full_name(&t.id).unwrap_or_default(), t.parent, t.tactics.join(","), t.deprecated])?;
    }
    Ok(())
}

/// Per rule, the smallest index among the rules it duplicates (transitively): one group per logic.
fn duplicate_groups(n: usize, relations: &[(usize, usize, vocab::Relation)]) -> Vec<usize> {
    let mut parent: Vec<usize> = (0..n).collect();
    fn root(parent: &mut [usize], mut x: usize) -> usize {
        while parent[x] != x {
            parent[x] = parent[parent[x]];
            x = parent[x];
        }
        x
    }
    for &(a, b, r) in relations {
        if r == vocab::Relation::Duplicate && a < n && b < n {
            let (ra, rb) = (root(&mut parent, a), root(&mut parent, b));
            parent[ra.max(rb)] = ra.min(rb);
        }
    }
    (0..n).map(|i| root(&mut parent, i)).collect()
}

/// Whether a rule reads Windows events: a Windows Sigma log source, a Defender `Device*` table or
/// `SecurityEvent`/`WindowsEvent`, or the CIM Endpoint data model (what the canonical-field
/// coverage goal is measured on).
fn reads_windows(r: &Rule) -> bool {
    r.declared.iter().chain(&r.derived).any(|t| match t {
        ir::Telemetry::LogSource { product, .. } => product.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("windows")),
        ir::Telemetry::WinEvent { .. } => true,
        ir::Telemetry::Table { name } => name.starts_with("Device") || name == "SecurityEvent" || name == "WindowsEvent",
        ir::Telemetry::DataModel { node } => node.starts_with("Endpoint"),
    })
}

/// Writes a complete catalog to a temporary file beside `db`, then renames it into place.
pub fn write(
    db: &Path,
    rules: &[Rule],
    indicators: &[Vec<vocab::Indicator>],
    failures: &[FileFailure],
    abs: &HashMap<(&str, &str), String>,
    relations: &[(usize, usize, vocab::Relation)],
    attack: Option<&attack::Attack>,
) -> anyhow::Result<()> {
    let dir = match db.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".rulelens-build-")
        .suffix(".db")
        .tempfile_in(&dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    {
        let mut conn = Connection::open(tmp.path())?;
        // The file is private until renamed: durability comes from the fsync below, not the journal.
        conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")?;
        conn.execute_batch(SCHEMA)?;
        let tx = conn.transaction()?;
        insert_all(&tx, rules, indicators, failures, abs, &duplicate_groups(rules.len(), relations))?;
        let mut ins_rel = tx.prepare("INSERT INTO relations VALUES(?1, ?2, ?3)")?;
        for (i, j, r) in relations {
            ins_rel.execute(params![*i as i64 + 1, *j as i64 + 1, r.as_str()])?;
        }
        drop(ins_rel);
        let mut ins_tech = tx.prepare("INSERT INTO techniques VALUES(?1, ?2)")?;
        for (i, r) in rules.iter().enumerate() {
            for a in &r.attack {
                ins_tech.execute(params![i as i64 + 1, a.technique])?;
            }
        }
        drop(ins_tech);
        if let Some(a) = attack {
            write_attack(&tx, a)?;
        }
        tx.commit()?;
        conn.execute_batch("INSERT INTO fts(fts) VALUES('optimize');")?;
        conn.close().map_err(|(_, e)| e)?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(db).with_context(|| format!("cannot move the new catalog into place at {}", db.display()))?;
    Ok(())
}

fn insert_all(
    tx: &rusqlite::Transaction,
    rules: &[Rule],
    indicators: &[Vec<vocab::Indicator>],
    failures: &[FileFailure],
    abs: &HashMap<(&str, &str), String>,
    groups: &[usize],
) -> anyhow::Result<()> {
    tx.execute("INSERT INTO meta VALUES('schema', ?1)", params![SCHEMA_VERSION.to_string()])?;
    tx.execute("INSERT INTO meta VALUES('rulelens', ?1)", params![env!("CARGO_PKG_VERSION")])?;
    let mut ins_rule = tx.prepare(
        "INSERT INTO rules(n, id, own_id, source, origin, path, file, abs, doc_index, kind, title, name, status, level, errors, json)
         VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    let mut ins_ind = tx.prepare("INSERT INTO indicators VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)")?;
    let mut field_counts: HashMap<(&str, String, Option<String>, bool), i64> = HashMap::new();
    let mut ins_fts = tx.prepare("INSERT INTO fts(rowid, title, description, tags, fields, vals, ident) VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
    for (i, r) in rules.iter().enumerate() {
        let n = i as i64 + 1;
        let errors = r.diagnostics.iter().filter(|d| d.severity == ir::Severity::Error).count() as i64;
        ins_rule.execute(params![
            n,
            r.id,
            r.own_id,
            r.source.as_str(),
            r.origin,
            r.path,
            format!("{}/{}", r.origin, r.path),
            abs.get(&(r.origin.as_str(), r.path.as_str())).map(String::as_str).unwrap_or(""),
            r.doc_index as i64,
            r.kind,
            r.title,
            r.name,
            r.status,
            r.level,
            errors,
            serde_json::to_string(r)?,
        ])?;
        let mut fields = Vec::new();
        let mut vals = Vec::new();
        for stage in &r.logic.stages {
            for p in stage.predicates() {
                fields.extend(p.field.clone());
                vals.extend(p.values.iter().map(|v| v.text()));
            }
        }
        let windows = reads_windows(r);
        // Predicates on columns the query computed, or on expressions, are not on a schema field:
        // not counted.
        let computed = vocab::computed_fields(&r.logic);
        for (si, stage) in r.logic.stages.iter().enumerate() {
            for p in stage.predicates() {
                if let Some(f) = p.field.as_ref().filter(|f| !computed[si].contains(*f) && vocab::is_field_name(r.source, f)) {
                    *field_counts.entry((r.source.as_str(), f.clone(), p.canonical.clone(), windows)).or_default() += 1;
                }
            }
        }
        for ind in &indicators[i] {
            let c = ind.canonical.as_ref();
            ins_ind.execute(params![
                n,
                r.source.as_str(),
                ind.field.as_deref().unwrap_or(""),
                ind.kind.as_str(),
                ind.value,
                ind.norm(),
                ind.cased,
                ind.negated,
                ind.stage,
                c.map(|c| c.field.as_str()),
                c.map(|c| c.kind.as_str()),
                c.map(|c| c.value.to_lowercase()),
                groups[i] as i64 + 1,
            ])?;
        }
        let ident = [r.id.as_str(), r.own_id.as_deref().unwrap_or(""), r.path.as_str(), r.author.as_deref().unwrap_or("")].join(" ");
        ins_fts.execute(params![n, r.title, r.description, r.tags.join(" "), fields.join(" "), vals.join(" "), ident])?;
    }
    let mut ins_field = tx.prepare("INSERT INTO fields VALUES(?1, ?2, ?3, ?4, ?5)")?;
    for ((source, field, canonical, windows), n) in &field_counts {
        ins_field.execute(params![source, field, canonical, windows, n])?;
    }
    let mut ins_fail = tx.prepare("INSERT INTO failures VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)")?;
    for f in failures {
        let d = &f.diagnostic;
        ins_fail.execute(params![
            f.origin,
            f.path,
            f.source.map(|s| s.as_str()),
            d.span.map(|s| s.line),
            d.span.map(|s| s.col),
            d.code,
            d.message,
        ])?;
    }
    Ok(())
}
