//! One ESCU detection YAML → one `ir::Rule`.

use std::collections::BTreeMap;

use ir::{AttackRef, Diagnostic, Rule, Source, Span, Telemetry};
use ruleyaml::{string, strings, to_json, Placement};

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

pub fn parse_file(origin: &str, path: &str, text: &str, repo: &crate::Repo) -> FileResult {
    let macros = &repo.macros;
    let mut out = FileResult {
        is_escu: looks_like_escu(path, text),
        ..Default::default()
    };
    if !out.is_escu {
        return out;
    }
    // Splunk's tooling reads quoted lines at column 0; so do we (with a warning).
    let loaded = match ruleyaml::load(text) {
        Ok(l) => l,
        Err(d) => {
            out.failures.push(d);
            return out;
        }
    };
    let lenient_note = loaded.lenient;
    let docs = loaded.docs;
    let Some(doc) = docs.into_iter().next() else {
        return out;
    };
    let Some(search) = string(&doc, "search") else {
        out.failures.push(Diagnostic::error(
            "no-search",
            "`search` must be a string of SPL",
            None,
        ));
        return out;
    };
    let own_id = string(&doc, "id");
    let id = own_id
        .clone()
        .unwrap_or_else(|| ir::short_hash(&["splunk", path, "0"]));
    let tags = &doc["tags"];
    let mut meta: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    for k in [
        "version",
        "data_source",
        "how_to_implement",
        "drilldown_searches",
        "rba",
        "tests",
        "type",
    ] {
        if !doc[k].is_badvalue() {
            meta.insert(k.to_string(), to_json(&doc[k]));
        }
    }
    for k in [
        "analytic_story",
        "confidence",
        "impact",
        "risk_score",
        "message",
        "observable",
        "required_fields",
        "security_domain",
        "product",
        "asset_type",
    ] {
        if !tags[k].is_badvalue() {
            meta.insert(k.to_string(), to_json(&tags[k]));
        }
    }
    let attack: Vec<AttackRef> = strings(tags, "mitre_attack_id")
        .into_iter()
        .map(|t| AttackRef {
            technique: t.to_ascii_uppercase(),
            name: None,
        })
        .collect();

    // Expand, then parse and lower; spans go back to the file (through the macro calls).
    let expanded = macros.expand(&search);
    let place = Placement::find(text, "search", &search);
    let mut lowered = spl::lower(&expanded.text);
    let mut diagnostics: Vec<Diagnostic> = expanded.diagnostics.clone();
    if lenient_note {
        diagnostics.push(ruleyaml::lenient_warning());
    }
    for d in &mut diagnostics {
        if d.code == "unknown-macro" {
            let name = d.message.split('`').nth(1).unwrap_or("").split('(').next().unwrap_or("");
            if let Some(why) = repo.broken_macros.get(name) {
                d.message = format!("{}: its file does not parse ({why})", d.message);
            }
        }
        d.span = d
            .span
            .and_then(|s| place.as_ref().map(|p| p.span(s.start, s.end)));
    }
    let to_file = |s: Span| -> (Option<Span>, Option<String>) {
        let (start, end, mac) = expanded.written_span(s.start, s.end);
        (
            place.as_ref().map(|p| p.span(start, end)),
            mac.map(str::to_string),
        )
    };
    for mut d in std::mem::take(&mut lowered.diagnostics) {
        if let Some(s) = d.span {
            let (span, mac) = to_file(s);
            if let Some(m) = mac {
                let (ls, le) = (
                    s.start.min(expanded.text.len()),
                    s.end.min(expanded.text.len()),
                );
                let at = expanded.text.get(ls..le).unwrap_or("");
                d.message = format!("{} (in the expansion of macro `{m}`, at `{at}`)", d.message);
            }
            d.span = span;
        }
        diagnostics.push(d);
    }
    lowered.logic.map_spans(|s| to_file(s).0);
    if !lowered.post_aggregation.is_empty() {
        meta.insert(
            "post_aggregation_filters".into(),
            serde_json::json!(lowered.post_aggregation),
        );
    }
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
    meta.insert(
        "expanded_search".into(),
        serde_json::Value::String(expanded.text.clone()),
    );
    if !lowered.outputs.is_empty() {
        meta.insert("output_fields".into(), serde_json::json!(lowered.outputs));
    }
    let mut derived: Vec<Telemetry> = lowered.models.iter().map(|m| Telemetry::DataModel { node: m.clone() }).collect();
    derived.extend(derived_events(&lowered.logic));
    // Declared data sources, resolved through `data_sources/` into the Windows events they are.
    let mut declared = Vec::new();
    for ds in strings(&doc, "data_source") {
        match repo.data_sources.get(&ds) {
            Some(d) => {
                let channel = d
                    .source
                    .as_deref()
                    .and_then(|s| s.split_once(':'))
                    .map(|(_, c)| c.to_string());
                if d.event_id.is_some() || channel.is_some() {
                    declared.push(Telemetry::WinEvent {
                        provider: None,
                        channel,
                        event_id: d.event_id,
                        title: Some(ds.clone()),
                    });
                }
            }
            None => diagnostics.push(Diagnostic::warning(
                "unknown-data-source",
                format!("data source `{ds}` is not in data_sources/"),
                None,
            )),
        }
    }
    let kind_name = string(&doc, "type")
        .unwrap_or_else(|| "detection".into())
        .to_ascii_lowercase();
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

/// Windows events a raw-event search reads, from its own first filter: the channels named by
/// `source`/`sourcetype` (`XmlWinEventLog:Security`) or `Channel`, and its `EventCode`/`EventID`
/// values. Negated tests say what is not read, so they are left out.
fn derived_events(logic: &ir::Logic) -> Vec<Telemetry> {
    let Some(stage) = logic.stages.iter().find(|s| matches!(s.kind, ir::StageKind::Filter { .. })) else { return Vec::new() };
    let (mut channels, mut ids): (Vec<String>, Vec<u32>) = (Vec::new(), Vec::new());
    for p in stage.predicates() {
        if p.negated || p.op != ir::Op::Eq {
            continue;
        }
        let field = p.field.as_deref().unwrap_or("");
        for v in &p.values {
            let t = v.text();
            if field.eq_ignore_ascii_case("EventCode") || field.eq_ignore_ascii_case("EventID") {
                ids.extend(t.parse::<u32>().ok());
                continue;
            }
            let channel = match field {
                "source" | "sourcetype" => t.strip_prefix("XmlWinEventLog:").or_else(|| t.strip_prefix("WinEventLog:")).map(str::to_string),
                "Channel" => Some(t.clone()),
                _ => None,
            };
            let Some(mut c) = channel.filter(|c| !c.is_empty() && !c.contains('*')) else { continue };
            // `Channel=security` and `source=XmlWinEventLog:Security` are one channel.
            if c.chars().next().is_some_and(char::is_lowercase) && !c.contains('/') {
                c = c[..1].to_uppercase() + &c[1..];
            }
            if !channels.iter().any(|k| k.eq_ignore_ascii_case(&c)) {
                channels.push(c);
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    let chans: Vec<Option<String>> = if channels.is_empty() { vec![None] } else { channels.into_iter().map(Some).collect() };
    let mut out = Vec::new();
    for c in &chans {
        if ids.is_empty() {
            if c.is_some() {
                out.push(Telemetry::WinEvent { provider: None, channel: c.clone(), event_id: None, title: None });
            }
            continue;
        }
        for id in &ids {
            out.push(Telemetry::WinEvent { provider: None, channel: c.clone(), event_id: Some(*id), title: None });
        }
    }
    out
}
