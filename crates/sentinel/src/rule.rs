//! One Sentinel YAML file → one `ir::Rule`.

use std::collections::BTreeMap;

use ir::{AttackRef, Diagnostic, Rule, Source, Span, Telemetry};
use ruleyaml::{string, strings, to_json, Placement};
use yaml_rust2::Yaml;

use crate::functions::Functions;

/// What a file gave: its rule (or none), and the reasons a Sentinel file gave none.
#[derive(Debug, Default)]
pub struct FileResult {
    pub rules: Vec<Rule>,
    pub failures: Vec<Diagnostic>,
    /// Whether the file is a Sentinel rule at all (YAML with a top-level `query`).
    pub is_sentinel: bool,
}

/// A quick look, before any parsing: a top-level `query:` key and no Sigma `detection:`.
pub fn looks_like_sentinel(text: &str) -> bool {
    let top = |k: &str| text.lines().any(|l| l.strip_prefix(k).is_some_and(|r| r.starts_with(':')));
    top("query") && !top("detection")
}

/// Metadata keys kept under `meta` as they are.
const META_KEYS: [&str; 12] = [
    "queryFrequency",
    "queryPeriod",
    "triggerOperator",
    "triggerThreshold",
    "requiredDataConnectors",
    "entityMappings",
    "customDetails",
    "alertDetailsOverride",
    "eventGroupingSettings",
    "incidentConfiguration",
    "suppressionDuration",
    "suppressionEnabled",
];

pub fn parse_file(origin: &str, path: &str, text: &str, functions: &Functions) -> FileResult {
    let mut out = FileResult { is_sentinel: looks_like_sentinel(text), ..Default::default() };
    if !out.is_sentinel {
        return out;
    }
    let loaded = match ruleyaml::load(text) {
        Ok(l) => l,
        Err(d) => {
            out.failures.push(d);
            return out;
        }
    };
    let lenient = loaded.lenient;
    let docs = loaded.docs;
    let Some(doc) = docs.into_iter().next() else {
        out.failures.push(Diagnostic::error("empty", "the file holds no YAML document", None));
        return out;
    };
    let Some(query) = doc["query"].as_str().map(str::to_string) else {
        out.failures.push(Diagnostic::error("no-query", "`query` must be a string of KQL", Some(key_span(text, "query"))));
        return out;
    };
    let mut rule = build(origin, path, text, &doc, &query, functions);
    if lenient {
        rule.diagnostics.push(ruleyaml::lenient_warning());
    }
    out.rules.push(rule);
    out
}

/// `LateralMovement` → `lateral-movement` (the ATT&CK tactic shortname).
fn tactic_name(t: &str) -> String {
    let mut out = String::new();
    for (i, c) in t.trim().chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 && !out.ends_with('-') {
            out.push('-');
        }
        if c == ' ' || c == '_' {
            if !out.ends_with('-') {
                out.push('-');
            }
            continue;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The kind of rule: the `kind` key (scheduled, nrt ...), else a hunting query.
fn kind(doc: &Yaml, path: &str) -> String {
    if let Some(k) = string(doc, "kind") {
        return k.to_ascii_lowercase();
    }
    let p = path.to_ascii_lowercase();
    if p.contains("hunting") || doc["queryFrequency"].is_badvalue() {
        "hunting".into()
    } else {
        "scheduled".into()
    }
}

/// Where `key:` starts in the file (for diagnostics about the key).
fn key_span(text: &str, key: &str) -> Span {
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.strip_prefix(key).is_some_and(|r| r.starts_with(':')) {
            return Span { start: offset, end: offset + key.len(), line: i as u32 + 1, col: 1 };
        }
        offset += line.len();
    }
    Span::default()
}

fn build(origin: &str, path: &str, text: &str, doc: &Yaml, query: &str, functions: &Functions) -> Rule {
    let mut diagnostics = Vec::new();
    let own_id = string(doc, "id");
    let id = own_id.clone().unwrap_or_else(|| ir::short_hash(&["sentinel", path, "0"]));
    let title = string(doc, "name").or_else(|| string(doc, "displayName")).unwrap_or_else(|| path.to_string());

    let mut meta: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for k in META_KEYS {
        if !doc[k].is_badvalue() {
            meta.insert(k.to_string(), to_json(&doc[k]));
        }
    }
    if let Some(v) = string(doc, "version") {
        meta.insert("version".into(), serde_json::Value::String(v));
    }
    // Connectors declare the tables a rule expects.
    let mut declared = Vec::new();
    if let Yaml::Array(conns) = &doc["requiredDataConnectors"] {
        for c in conns {
            for t in strings(c, "dataTypes") {
                let t = Telemetry::Table { name: t };
                if !declared.contains(&t) {
                    declared.push(t);
                }
            }
        }
    }
    let mut attack = Vec::new();
    for t in strings(doc, "relevantTechniques") {
        let t = t.to_ascii_uppercase();
        if t.starts_with('T') && t[1..].chars().all(|c| c.is_ascii_digit() || c == '.') {
            if !attack.iter().any(|a: &AttackRef| a.technique == t) {
                attack.push(AttackRef { technique: t, name: None });
            }
        } else {
            diagnostics.push(Diagnostic::warning(
                "bad-technique",
                format!("`{t}` in relevantTechniques is not a technique id"),
                Some(key_span(text, "relevantTechniques")),
            ));
        }
    }
    if doc["relevantTechniques"].is_badvalue() && !doc["requiredtechniques"].is_badvalue() {
        diagnostics.push(Diagnostic::warning(
            "misspelled-key",
            "`requiredtechniques` is not a Sentinel key (`relevantTechniques` is): Sentinel drops these techniques",
            Some(key_span(text, "requiredtechniques")),
        ));
    }
    let tactics: Vec<String> = strings(doc, "tactics").iter().map(|t| tactic_name(t)).collect();

    // The query: parsed, lowered, spans moved into the file.
    let place = Placement::find(text, "query", query);
    let to_file = |s: Span| place.as_ref().map(|p| p.span(s.start, s.end));
    let parsed = kql::parse(query);
    let lowered = kql::lower(&parsed, query, &|name| functions.get(name));
    let mut logic = lowered.logic;
    logic.map_spans(to_file);
    let mut kdiags: Vec<Diagnostic> = parsed.diagnostics.into_iter().chain(lowered.diagnostics).collect();
    for d in &mut kdiags {
        d.span = d.span.and_then(to_file);
    }
    diagnostics.extend(kdiags);
    for name in lowered.tables.iter().filter(|t| functions.ambiguous.contains(*t)) {
        diagnostics.push(Diagnostic::warning(
            "ambiguous-function",
            format!("function `{name}` is defined differently by several parser files: not resolved"),
            None,
        ));
    }
    for name in &lowered.tables {
        if let Some(note) = functions.notes.get(name) {
            diagnostics.push(Diagnostic { severity: ir::Severity::Info, code: "parser-name".into(), message: format!("`{name}` resolved from {note}"), span: None });
        }
    }
    if !lowered.outputs.is_empty() {
        meta.insert("output_fields".into(), serde_json::json!(lowered.outputs));
    }
    let derived: Vec<Telemetry> = lowered.tables.iter().map(|t| Telemetry::Table { name: t.clone() }).collect();
    // Connectors that say one thing and a query that reads another.
    let declared_names: Vec<&str> = declared
        .iter()
        .filter_map(|t| match t {
            Telemetry::Table { name } => Some(name.as_str()),
            _ => None,
        })
        .collect();
    if !declared_names.is_empty() {
        for t in &lowered.tables {
            if !declared_names.iter().any(|d| d.eq_ignore_ascii_case(t)) && functions.get(t).is_none() {
                diagnostics.push(Diagnostic::warning(
                    "connector-mismatch",
                    format!("the query reads `{t}`, which no required data connector declares ({})", declared_names.join(", ")),
                    Some(key_span(text, "requiredDataConnectors")),
                ));
            }
        }
    }

    Rule {
        id,
        own_id,
        source: Source::Sentinel,
        origin: origin.to_string(),
        path: path.to_string(),
        doc_index: 0,
        kind: kind(doc, path),
        title,
        name: None,
        description: string(doc, "description").unwrap_or_default(),
        status: string(doc, "status").map(|s| s.to_ascii_lowercase()),
        level: string(doc, "severity").map(|s| s.to_ascii_lowercase()),
        author: doc["metadata"]["author"]["name"].as_str().map(str::to_string),
        date: None,
        modified: string(doc, "lastUpdatedDateUTC"),
        references: Vec::new(),
        falsepositives: Vec::new(),
        tags: strings(doc, "tags"),
        meta,
        attack,
        tactics,
        declared,
        derived,
        logic,
        raw: text.to_string(),
        raw_line: 1,
        diagnostics,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "id: 11111111-0000-4000-8000-000000000001
name: Office spawning a shell
description: |
  Word starts cmd.exe.
severity: Medium
requiredDataConnectors:
  - connectorId: MicrosoftThreatProtection
    dataTypes:
      - DeviceProcessEvents
queryFrequency: 1h
queryPeriod: 1h
triggerOperator: gt
triggerThreshold: 0
tactics:
  - Execution
  - DefenseEvasion
relevantTechniques:
  - T1204.002
query: |
  DeviceProcessEvents
  | where InitiatingProcessFileName =~ \"winword.exe\"
  | where FileName in~ (\"cmd.exe\", \"powershell.exe\")
  | project DeviceName, ProcessCommandLine
entityMappings:
  - entityType: Host
    fieldMappings:
      - identifier: FullName
        columnName: DeviceName
kind: Scheduled
version: 1.0.1
";

    #[test]
    fn metadata_stages_and_spans_in_the_file() {
        let r = parse_file("o", "Detections/x.yaml", RULE, &Functions::default());
        assert!(r.is_sentinel && r.failures.is_empty());
        let rule = &r.rules[0];
        assert_eq!((rule.kind.as_str(), rule.level.as_deref()), ("scheduled", Some("medium")));
        assert_eq!(rule.tactics, ["execution", "defense-evasion"]);
        assert_eq!(rule.attack[0].technique, "T1204.002");
        assert_eq!(rule.meta["queryFrequency"], "1h");
        assert_eq!(rule.meta["entityMappings"][0]["entityType"], "Host");
        assert_eq!(rule.derived, [Telemetry::Table { name: "DeviceProcessEvents".into() }]);
        assert!(rule.diagnostics.is_empty(), "{:?}", rule.diagnostics);
        let preds: Vec<&ir::Predicate> = rule.logic.stages.iter().flat_map(|s| s.predicates()).collect();
        let winword = preds.iter().find(|p| p.field.as_deref() == Some("InitiatingProcessFileName")).unwrap();
        // Line 21 of the file (the `where` under `query: |`).
        assert_eq!(winword.span.map(|s| s.line), Some(21));
        assert!(!winword.case_sensitive);
    }

    #[test]
    fn broken_yaml_and_queries_are_located() {
        let r = parse_file("o", "x.yaml", "name: x\nquery: |\n  T\n bad: [\n", &Functions::default());
        assert!(r.rules.is_empty());
        assert!(r.failures[0].span.is_some_and(|s| s.line >= 3), "{:?}", r.failures);
        let r = parse_file("o", "x.yaml", &RULE.replace("| where FileName in~", "| where FileName in~ ((("), &Functions::default());
        let err = r.rules[0].diagnostics.iter().find(|d| d.severity == ir::Severity::Error).expect("parse error");
        assert_eq!(err.span.map(|s| s.line), Some(22), "{err:?}");
    }

    #[test]
    fn not_sentinel() {
        assert!(!looks_like_sentinel("title: x\ndetection:\n  s: {a: 1}\n  condition: s\nquery: x\n"));
        assert!(!parse_file("o", "x.yml", "title: x\n", &Functions::default()).is_sentinel);
    }
}
