//! One ESCU detection YAML → one `ir::Rule`.

use std::collections::BTreeMap;

use ir::{AttackRef, Diagnostic, Rule, Source, Span, Telemetry};
use yaml_rust2::{Yaml, YamlLoader};

#[derive(Debug, Default)]
pub struct FileResult {
    pub rules: Vec<Rule>,
    pub failures: Vec<Diagnostic>,
    /// A detection at all: a YAML file under `detections/` with a top-level `search`.
    pub is_escu: bool,
}

/// Detections live under `detections/` (baselines and investigations are not detections).
pub fn looks_like_escu(path: &str, text: &str) -> bool {
    let in_detections = path.split('/').any(|c| c == "detections");
    in_detections && text.lines().any(|l| l.starts_with("search:"))
}

fn string(doc: &Yaml, key: &str) -> Option<String> {
    match &doc[key] {
        Yaml::String(s) | Yaml::Real(s) => Some(s.trim().to_string()),
        Yaml::Integer(i) => Some(i.to_string()),
        _ => None,
    }
    .filter(|s| !s.is_empty())
}

fn strings(doc: &Yaml, key: &str) -> Vec<String> {
    match &doc[key] {
        Yaml::Array(a) => a.iter().filter_map(|y| y.as_str().map(|s| s.trim().to_string())).collect(),
        Yaml::String(s) => vec![s.trim().to_string()],
        _ => Vec::new(),
    }
}

fn to_json(y: &Yaml) -> serde_json::Value {
    match y {
        Yaml::String(s) | Yaml::Real(s) => serde_json::Value::String(s.clone()),
        Yaml::Integer(i) => serde_json::json!(i),
        Yaml::Boolean(b) => serde_json::json!(b),
        Yaml::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        Yaml::Hash(h) => serde_json::Value::Object(h.iter().filter_map(|(k, v)| Some((k.as_str()?.to_string(), to_json(v)))).collect()),
        _ => serde_json::Value::Null,
    }
}

pub fn parse_file(origin: &str, path: &str, text: &str, repo: &crate::Repo) -> FileResult {
    let macros = &repo.macros;
    let mut out = FileResult { is_escu: looks_like_escu(path, text), ..Default::default() };
    if !out.is_escu {
        return out;
    }
    let docs = match YamlLoader::load_from_str(text) {
        Ok(d) => d,
        Err(e) => {
            let m = e.marker();
            let span = Span { start: m.index(), end: m.index(), line: m.line().max(1) as u32, col: m.col() as u32 + 1 };
            out.failures.push(Diagnostic::error("invalid-yaml", format!("invalid YAML: {}", e.info()), Some(span)));
            return out;
        }
    };
    let Some(doc) = docs.into_iter().next() else { return out };
    let Some(search) = string(&doc, "search") else {
        out.failures.push(Diagnostic::error("no-search", "`search` must be a string of SPL", None));
        return out;
    };
    let own_id = string(&doc, "id");
    let id = own_id.clone().unwrap_or_else(|| ir::short_hash(&["splunk", path, "0"]));
    let tags = &doc["tags"];
    let mut meta: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for k in ["version", "data_source", "how_to_implement", "drilldown_searches", "rba", "tests", "type"] {
        if !doc[k].is_badvalue() {
            meta.insert(k.to_string(), to_json(&doc[k]));
        }
    }
    for k in ["analytic_story", "confidence", "impact", "risk_score", "message", "observable", "required_fields", "security_domain", "product", "asset_type"] {
        if !tags[k].is_badvalue() {
            meta.insert(k.to_string(), to_json(&tags[k]));
        }
    }
    let attack: Vec<AttackRef> =
        strings(tags, "mitre_attack_id").into_iter().map(|t| AttackRef { technique: t.to_ascii_uppercase(), name: None }).collect();

    // Expand, then lower.
    let expanded = macros.expand(&search);
    let mut diagnostics = expanded.diagnostics.clone();
    let lowered = spl::lower(&expanded.text);
    diagnostics.extend(lowered.diagnostics.iter().cloned());
    let used: Vec<serde_json::Value> = expanded
        .used
        .iter()
        .map(|name| {
            let def = macros
                .by_key
                .iter()
                .find(|(k, _)| k.as_str() == name || k.starts_with(&format!("{name}(")))
                .map(|(_, m)| m.definition.clone())
                .or_else(|| match name.as_str() {
                    "drop_dm_object_name" => Some("(built in) rename X.* as *".into()),
                    n if n.ends_with("_filter") => Some("(not defined) search *".into()),
                    _ => None,
                });
            serde_json::json!({"name": name, "definition": def})
        })
        .collect();
    meta.insert("macros".into(), serde_json::Value::Array(used));
    meta.insert("expanded_search".into(), serde_json::Value::String(expanded.text.clone()));
    if !lowered.outputs.is_empty() {
        meta.insert("output_fields".into(), serde_json::json!(lowered.outputs));
    }
    let derived: Vec<Telemetry> = lowered.models.iter().map(|m| Telemetry::DataModel { node: m.clone() }).collect();
    // Declared data sources, resolved through `data_sources/` into the Windows events they are.
    let mut declared = Vec::new();
    for ds in strings(&doc, "data_source") {
        match repo.data_sources.get(&ds) {
            Some(d) => {
                let channel = d.source.as_deref().and_then(|s| s.split_once(':')).map(|(_, c)| c.to_string());
                if d.event_id.is_some() || channel.is_some() {
                    declared.push(Telemetry::WinEvent { provider: None, channel, event_id: d.event_id, title: Some(ds.clone()) });
                }
            }
            None => diagnostics.push(Diagnostic::warning("unknown-data-source", format!("data source `{ds}` is not in data_sources/"), None)),
        }
    }
    let kind_name = string(&doc, "type").unwrap_or_else(|| "detection".into()).to_ascii_lowercase();
    if let Some(dep) = repo.deployments.get(&kind_name) {
        meta.insert("deployment".into(), dep.clone());
    }
    out.rules.push(Rule {
        id,
        own_id,
        source: Source::Splunk,
        origin: origin.to_string(),
        path: path.to_string(),
        doc_index: 0,
        kind: kind_name,
        title: string(&doc, "name").unwrap_or_else(|| path.to_string()),
        name: None,
        description: string(&doc, "description").unwrap_or_default(),
        status: string(&doc, "status").map(|s| s.to_ascii_lowercase()),
        level: None,
        author: string(&doc, "author"),
        date: string(&doc, "date"),
        modified: None,
        references: strings(&doc, "references"),
        falsepositives: string(&doc, "known_false_positives").into_iter().collect(),
        tags: strings(tags, "analytic_story"),
        meta,
        attack,
        tactics: Vec::new(),
        declared,
        derived,
        logic: lowered.logic,
        raw: text.to_string(),
        raw_line: 1,
        diagnostics,
    });
    out
}
