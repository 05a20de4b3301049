//! Canonical fields and values: every predicate gets the canonical name of its field (from the
//! schema its rule reads: the Sigma log source, the KQL table of its pipeline, the CIM data model
//! of its SPL field), and every indicator a canonical form in which `endswith '\mmc.exe'` on a
//! path field and `== 'mmc.exe'` on the matching name field are one and the same.

use ir::{Logic, Op, Rule, Source, Stage, StageKind, Telemetry};

use crate::fields::fields;

/// Sets `Predicate::canonical` on every predicate of the rule (`None` where no map knows the field).
pub fn annotate(rule: &mut Rule) {
    let f = fields();
    let (category, service) = rule
        .declared
        .iter()
        .find_map(|t| match t {
            Telemetry::LogSource { category, service, .. } => Some((category.clone(), service.clone())),
            _ => None,
        })
        .unwrap_or_default();
    let models: Vec<String> = rule
        .declared
        .iter()
        .chain(&rule.derived)
        .filter_map(|t| match t {
            Telemetry::DataModel { node } => Some(node.clone()),
            _ => None,
        })
        .collect();
    let tables = stage_tables(&rule.logic);
    let ls = crate::logsources::logsources();
    let categories: Vec<&str> = rule
        .declared
        .iter()
        .filter_map(|t| match t {
            Telemetry::WinEvent { channel: Some(c), event_id: Some(id), .. } => Some(ls.categories_of(c, *id)),
            _ => None,
        })
        .flatten()
        .collect();
    let read: Vec<String> = rule
        .derived
        .iter()
        .filter_map(|t| match t {
            Telemetry::Table { name } => Some(name.clone()),
            _ => None,
        })
        .collect();
    let source = rule.source;
    for (i, stage) in rule.logic.stages.iter_mut().enumerate() {
        for p in stage.predicates_mut() {
            let Some(field) = p.field.as_deref() else { continue };
            let c = match source {
                Source::Sigma => f.sigma(category.as_deref(), service.as_deref(), field),
                Source::Sentinel => sentinel_field(f, &tables[i], field).or_else(|| {
                    // Otherwise: the meaning every table the rule reads agrees on.
                    agreed(read.iter().map(|t| f.table(t, field)))
                }),
                Source::Splunk => f.splunk(models.first().map(String::as_str), &categories, field),
            };
            p.canonical = c.map(str::to_string);
        }
    }
}

/// Whether a predicate's field is a field at all: KQL keeps the text of a left side that is not
/// a column (`Timestamp - ClickTime`, `strlen(x)`) as its field; those test computed values.
pub fn is_field_name(source: Source, field: &str) -> bool {
    let bad: &[char] = match source {
        Source::Sentinel => &[' ', '(', ')', '"', '\'', ',', '+', '-', '*', '/', '<', '>', '=', '!', '[', ']'],
        _ => &[' ', '(', ')', '"', ',', '+', '*', '<', '>', '=', '!'],
    };
    !field.is_empty() && !field.contains(bad)
}

/// Per stage, the columns the query computed before it (extend, aggregate results, rename
/// targets): predicates on them test the query's own values, not a schema field.
pub fn computed_fields(logic: &Logic) -> Vec<std::collections::BTreeSet<String>> {
    use std::collections::BTreeSet;
    let defined = |k: &StageKind| -> Vec<String> {
        match k {
            StageKind::Extend { fields } => fields.clone(),
            // KQL names an unnamed aggregate after it: `make_set(X)` → `set_X`, `count()` → `count_`.
            StageKind::Aggregate { aggs, .. } => aggs
                .iter()
                .flat_map(|a| {
                    // A wrapped aggregate (`tostring(makeset(X))`) is named after the inner one.
                    let (func, f) = match a.field.as_deref().and_then(|x| x.split_once('(')) {
                        Some((inner, rest)) if !inner.contains([' ', ',']) => (inner.trim().to_string(), rest.trim_end_matches(')').trim().to_string()),
                        _ => (a.func.clone(), a.field.clone().unwrap_or_default()),
                    };
                    let short = func.strip_prefix("make_").or_else(|| func.strip_prefix("make")).unwrap_or(&func).to_string();
                    [a.alias.clone(), format!("{}_{}", a.func, a.field.clone().unwrap_or_default()), format!("{func}_{f}"), format!("{short}_{f}")]
                })
                .collect(),
            // `(new, old)` pairs: the new names are the query's.
            StageKind::Rename { fields } => fields.iter().map(|(new, _)| new.clone()).collect(),
            StageKind::Parse { outputs, .. } => outputs.clone(),
            _ => Vec::new(),
        }
    };
    (0..logic.stages.len())
        .map(|id| {
            let mut out = BTreeSet::new();
            // An aggregate's `having` tests the aggregate's own results.
            if let Some(s @ Stage { kind: StageKind::Aggregate { .. }, .. }) = logic.stages.get(id) {
                out.extend(defined(&s.kind));
            }
            let mut todo: Vec<usize> = logic.stages.get(id).map(|s| s.inputs.clone()).unwrap_or_default();
            let mut seen = BTreeSet::new();
            while let Some(i) = todo.pop() {
                if !seen.insert(i) || seen.len() > 512 {
                    continue;
                }
                let Some(s) = logic.stages.get(i) else { continue };
                out.extend(defined(&s.kind));
                todo.extend(s.inputs.iter().copied());
            }
            out
        })
        .collect()
}

/// The one value all give (`None` if any gives none, or two differ, or there are none).
fn agreed<'a>(mut it: impl Iterator<Item = Option<&'a str>>) -> Option<&'a str> {
    let first = it.next()??;
    it.all(|x| x == Some(first)).then_some(first)
}

/// A column after the stages of a KQL query: the tables its rows can come from, nearest first
/// (the pipeline's own source, then the right sides of joins and lookups). The first source
/// that knows the column decides, when its tables (a union) agree; `X1` is the right side's
/// `X` (KQL renames a joined column that the left side has too).
fn sentinel_field<'a>(f: &'a crate::fields::Fields, sources: &[Vec<String>], field: &str) -> Option<&'a str> {
    let pick = |sources: &[Vec<String>], field: &str| -> Option<Option<&'a str>> {
        for tables in sources {
            let known: Vec<&str> = tables.iter().filter(|t| f.knows_table(t)).filter_map(|t| f.table(t, field)).collect();
            if let Some(first) = known.first() {
                return Some(known.iter().all(|k| k == first).then_some(*first));
            }
        }
        None
    };
    if let Some(found) = pick(sources, field) {
        return found;
    }
    if let Some(base) = field.strip_suffix('1').filter(|b| !b.is_empty() && sources.len() > 1) {
        if let Some(found) = pick(&sources[1..], base) {
            return found;
        }
    }
    // Columns every table has (`TimeGenerated`), whatever the tables.
    sources.iter().flatten().find_map(|t| f.table(t, field).filter(|_| !f.knows_table(t)))
}

/// Per stage, the tables its rows can come from: each source reached through the inputs, the
/// first-input chain first. An ASIM parser stands for itself (not the tables it reads).
fn stage_tables(logic: &Logic) -> Vec<Vec<Vec<String>>> {
    let f = fields();
    (0..logic.stages.len())
        .map(|id| {
            let mut out = Vec::new();
            let mut todo = std::collections::VecDeque::from([id]);
            let mut seen = std::collections::BTreeSet::new();
            while let Some(i) = todo.pop_front() {
                if !seen.insert(i) || seen.len() > 256 {
                    continue;
                }
                let Some(stage) = logic.stages.get(i) else { continue };
                if let StageKind::Source { telemetry } = &stage.kind {
                    let names: Vec<String> = telemetry
                        .iter()
                        .filter_map(|t| match t {
                            Telemetry::Table { name } => Some(name.clone()),
                            _ => None,
                        })
                        .collect();
                    match names.first() {
                        Some(first) if f.is_parser(first) => out.push(vec![first.clone()]),
                        Some(_) => out.push(names),
                        None => {}
                    }
                    continue;
                }
                todo.extend(stage.inputs.iter().copied());
            }
            out
        })
        .collect()
}

/// The canonical form of an indicator: (field, kind, value). A path field matched on its last
/// component (`endswith '\mmc.exe'`, or `'*\mmc.exe'`) becomes the name field matched exactly.
pub fn canonical_form(canonical: &str, kind: Op, value: &str) -> (String, Op, String) {
    let f = fields();
    if let Some(name_field) = f.name_of(canonical) {
        let base = value.strip_prefix('\\').or_else(|| value.strip_prefix('/'));
        if let (Op::EndsWith, Some(base)) = (kind, base) {
            if !base.is_empty() && !base.contains(['\\', '/']) {
                return (name_field.to_string(), Op::Eq, base.to_string());
            }
        }
    }
    (canonical.to_string(), kind, value.to_string())
}

#[cfg(test)]
mod tests {
    use super::canonical_form;
    use ir::Op;

    #[test]
    fn a_path_suffix_is_the_name() {
        assert_eq!(canonical_form("process.executable", Op::EndsWith, "\\mmc.exe"), ("process.name".into(), Op::Eq, "mmc.exe".into()));
        assert_eq!(canonical_form("process.parent.executable", Op::EndsWith, "\\svchost.exe").0, "process.parent.name");
        // A longer suffix says more than the name: it stays on the path field.
        assert_eq!(canonical_form("process.executable", Op::EndsWith, "\\system32\\mmc.exe").1, Op::EndsWith);
        // Without the separator it is a suffix of the name, not the name (`xmmc.exe` matches).
        assert_eq!(canonical_form("process.executable", Op::EndsWith, "mmc.exe").1, Op::EndsWith);
        assert_eq!(canonical_form("process.name", Op::Eq, "mmc.exe"), ("process.name".into(), Op::Eq, "mmc.exe".into()));
    }
}
