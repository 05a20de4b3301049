//! Terminal text for summaries, stats, rule pages and rule lists.

use std::collections::BTreeMap;
use std::fmt::Write;

use catalog::{BuildSummary, Counts, Page, SearchHit, Stats};
use ir::{Predicate, Telemetry};

/// Left-aligned columns, two spaces apart.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width: Vec<usize> =
        (0..cols).map(|c| rows.iter().filter_map(|r| r.get(c)).map(|s| s.chars().count()).max().unwrap_or(0)).collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::from("  ");
        for (c, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if c + 1 < r.len() {
                line.push_str(&" ".repeat(width[c] - cell.chars().count() + 2));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn per_source(m: &BTreeMap<String, usize>) -> String {
    m.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", ")
}

pub fn counts(c: &Counts) -> String {
    if c.total == 0 {
        return "0".into();
    }
    format!("{} ({})", c.total, per_source(&c.by_source))
}

pub fn build_summary(s: &BuildSummary) -> String {
    let mut o = String::new();
    let total: usize = s.rules.values().sum();
    let _ = writeln!(o, "catalog {}", s.db.display());
    let _ = writeln!(o, "{} files read in {:.2} s", s.files, s.seconds);
    let _ = writeln!(o, "rules: {total} ({})", per_source(&s.rules));
    if !s.with_errors.is_empty() {
        let _ = writeln!(o, "rules kept with errors: {}", per_source(&s.with_errors));
    }
    let _ = writeln!(o, "failures (files or documents that gave no rule): {}", s.failures.len());
    for f in &s.failures {
        let _ = writeln!(o, "  {}/{}:{}", f.origin, f.path, f.diagnostic.located());
    }
    o
}

pub fn stats(s: &Stats) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Rules");
    let rows: Vec<Vec<String>> = s
        .rules
        .iter()
        .map(|(src, n)| {
            let kinds = s.by_kind.get(src).map(per_source).unwrap_or_default();
            vec![src.clone(), n.to_string(), kinds]
        })
        .collect();
    o.push_str(&table(&rows));
    for (title, m) in [("Status", &s.by_status), ("Level", &s.by_level)] {
        let _ = writeln!(o, "\n{title}");
        let rows: Vec<Vec<String>> = m.iter().map(|(src, c)| vec![src.clone(), per_source(c)]).collect();
        o.push_str(&table(&rows));
    }
    let _ = writeln!(o, "\nRules kept with error diagnostics: {}", if s.with_errors.is_empty() { "none".into() } else { per_source(&s.with_errors) });
    let _ = writeln!(o, "Failures (no rule produced): {}", if s.failures.is_empty() { "none".into() } else { per_source(&s.failures) });
    for f in &s.failure_list {
        let at = match (f.line, f.col) {
            (Some(l), Some(c)) => format!(":{l}:{c}"),
            _ => String::new(),
        };
        let _ = writeln!(o, "  {}{at}: [{}] {}", f.file, f.code, f.message);
    }
    if !s.canonical.is_empty() {
        let _ = writeln!(o, "\nCanonical fields (predicates whose field has a canonical name)");
        for (src, c) in &s.canonical {
            let top: Vec<String> = c.unmapped.iter().take(8).map(|(f, n)| format!("{f} {n}")).collect();
            let _ = writeln!(
                o,
                "  {src}: {:.1}% of {} predicates; rules reading Windows events {:.1}% of {}; most frequent unmapped: {}",
                c.share * 100.0,
                c.predicates,
                c.windows_share * 100.0,
                c.windows_predicates,
                if top.is_empty() { "none".into() } else { top.join(", ") }
            );
        }
    }
    o
}

pub fn coverage(c: &catalog::Coverage) -> String {
    let mut o = String::new();
    let covered: Vec<&catalog::TechniqueRow> = c.techniques.iter().filter(|t| t.rules.total > 0).collect();
    let _ = writeln!(
        o,
        "ATT&CK {}: {} techniques named by rules{}",
        c.attack_version.as_deref().map(|v| format!("v{v}")).unwrap_or_else(|| "(no bundle loaded: build --attack FILE)".into()),
        covered.len(),
        if c.techniques.len() > covered.len() { format!(" of {} in the bundle", c.techniques.len()) } else { String::new() }
    );
    let mut rows = vec![vec!["Technique".into(), "Name".into(), "Rules".into(), "Detections".into(), "Hunting".into()]];
    for t in covered {
        rows.push(vec![t.id.clone(), t.name.clone().unwrap_or_default(), counts(&t.rules), counts(&t.detections), counts(&t.hunting)]);
    }
    o.push_str(&table(&rows));
    o
}

pub fn indicator_rows(rows: &[catalog::IndicatorRow]) -> String {
    let mut t = vec![vec!["Rules".into(), "Field".into(), "Kind".into(), "Value".into()]];
    t.extend(rows.iter().map(|r| vec![counts(&r.corpus), r.field.clone(), r.kind.clone(), r.value.clone()]));
    table(&t)
}

pub fn hits(h: &[SearchHit]) -> String {
    let rows: Vec<Vec<String>> = h
        .iter()
        .map(|h| vec![h.id.clone(), h.source.clone(), h.level.clone().unwrap_or_default(), h.title.clone(), h.file.clone()])
        .collect();
    table(&rows)
}

fn telemetry(t: &Telemetry) -> Vec<String> {
    match t {
        Telemetry::WinEvent { provider, channel, event_id, title } => vec![
            provider.clone().unwrap_or_else(|| "-".into()),
            channel.clone().unwrap_or_else(|| "-".into()),
            event_id.map(|i| i.to_string()).unwrap_or_else(|| "any".into()),
            title.clone().unwrap_or_default(),
        ],
        Telemetry::LogSource { product, category, service } => {
            vec![logsource(product, category, service)]
        }
        Telemetry::Table { name } => vec!["table".into(), name.clone()],
        Telemetry::DataModel { node } => vec!["data model".into(), node.clone()],
    }
}

fn logsource(product: &Option<String>, category: &Option<String>, service: &Option<String>) -> String {
    [("product", product), ("category", category), ("service", service)]
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `Image endswith \mmc.exe` with the flags that change its meaning.
pub fn predicate(p: &Predicate) -> String {
    let field = p.field.clone().unwrap_or_else(|| "(keyword)".into());
    let mut op = String::new();
    if p.negated {
        op.push_str("not ");
    }
    op.push_str(p.op.as_str());
    if p.all {
        op.push_str(" all");
    }
    if p.case_sensitive && p.op != ir::Op::Regex {
        op.push_str(" cased");
    }
    if !p.flags.is_empty() {
        let _ = write!(op, " /{}", p.flags);
    }
    for t in &p.transforms {
        let _ = write!(op, " |{t}");
    }
    let vals: Vec<String> = p.values.iter().map(|v| if matches!(v, ir::Value::Null) { "null".into() } else { v.text() }).collect();
    format!("{field} {op} {}", vals.join(" | "))
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

pub fn page(p: &Page) -> String {
    let r = &p.rule;
    let mut o = String::new();
    let _ = writeln!(o, "Detection rules › {}\n", titlecase(r.source.as_str()));
    let _ = writeln!(o, "{}\n", r.title);
    let mut meta: Vec<Vec<String>> = vec![vec!["Id".into(), r.id.clone()]];
    let mut push = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            meta.push(vec![k.into(), v]);
        }
    };
    push("Kind", Some(r.kind.clone()));
    push("Status", r.status.clone());
    push("Severity", r.level.clone());
    for t in &r.declared {
        if let Telemetry::LogSource { product, category, service } = t {
            push("Log source", Some(logsource(product, category, service)));
        }
    }
    push("Author", r.author.clone());
    push("Date", r.date.clone());
    push("Modified", r.modified.clone());
    push("Source", Some(format!("{} (origin {})", p.file, r.origin)));
    o.push_str(&table(&meta));
    if !r.description.is_empty() {
        let _ = writeln!(o, "\n{}", r.description.trim());
    }
    if !r.references.is_empty() {
        let _ = writeln!(o, "\nReferences");
        for x in &r.references {
            let _ = writeln!(o, "  {x}");
        }
    }
    if !r.falsepositives.is_empty() {
        let _ = writeln!(o, "\nFalse positives");
        for x in &r.falsepositives {
            let _ = writeln!(o, "  {x}");
        }
    }

    let _ = writeln!(o, "\nMITRE ATT&CK coverage");
    if r.attack.is_empty() && r.tactics.is_empty() {
        let _ = writeln!(o, "  (no ATT&CK tags)");
    }
    if !r.tactics.is_empty() {
        let _ = writeln!(o, "  tactics: {}", r.tactics.join(", "));
    }
    for a in &r.attack {
        let _ = writeln!(o, "  {}{}", a.technique, a.name.as_ref().map(|n| format!("  {n}")).unwrap_or_default());
    }
    if let Some(notes) = r.meta.get("attack_notes").and_then(|v| v.as_array()) {
        for n in notes.iter().filter_map(|n| n.as_str()) {
            let _ = writeln!(o, "  note: {n}");
        }
    }

    let _ = writeln!(o, "\nEvent coverage");
    let events: Vec<&Telemetry> = p.telemetry.derived.iter().filter(|t| matches!(t, Telemetry::WinEvent { .. })).collect();
    let others: Vec<&Telemetry> = p.telemetry.derived.iter().filter(|t| !matches!(t, Telemetry::WinEvent { .. })).collect();
    if p.telemetry.derived.is_empty() {
        let _ = writeln!(o, "  (the log source does not resolve to known events)");
    }
    if !events.is_empty() {
        let mut rows = vec![vec!["Provider".into(), "Channel".into(), "Event ID".into(), "Title".into()]];
        rows.extend(events.into_iter().map(telemetry));
        o.push_str(&table(&rows));
    }
    for t in others {
        let _ = writeln!(o, "  reads {}", telemetry(t).join(" "));
    }
    let declared: Vec<String> = p
        .telemetry
        .declared
        .iter()
        .filter(|t| !matches!(t, Telemetry::LogSource { .. }))
        .map(|t| telemetry(t).join(" "))
        .collect();
    if !declared.is_empty() {
        let _ = writeln!(o, "  declared by the rule's metadata: {}", declared.join(", "));
    }
    if r.source == ir::Source::Splunk {
        let _ = writeln!(o, "\nSplunk");
        let rows = catalog::splunk_facts(r);
        let shown = |k: &str| !k.starts_with("Macro") && !k.starts_with("Test");
        let width = rows.iter().filter(|(k, _)| shown(k)).map(|(k, _)| k.chars().count()).max().unwrap_or(0);
        for (k, v) in rows.iter().filter(|(k, _)| shown(k)) {
            let _ = writeln!(o, "  {k:<width$}  {v}");
        }
        let macros: Vec<&(String, String)> = rows.iter().filter(|(k, _)| k.starts_with("Macro")).collect();
        if !macros.is_empty() {
            let _ = writeln!(o, "  macros:");
            for (k, v) in macros {
                let _ = writeln!(o, "    {} = {v}", k.trim_start_matches("Macro ").trim());
            }
        }
        if let Some(x) = r.meta.get("expanded_search").and_then(|v| v.as_str()) {
            let _ = writeln!(o, "  expanded search:");
            o.push_str(&indent(x.trim(), "    "));
        }
        for (k, v) in rows.iter().filter(|(k, _)| k.starts_with("Test")) {
            let _ = writeln!(o, "  {}: {v}", k.to_lowercase());
        }
    }
    if r.source == ir::Source::Sentinel {
        let m = |k: &str| r.meta.get(k).map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()));
        let _ = writeln!(o, "\nSchedule and alert");
        for (label, key) in [("Frequency", "queryFrequency"), ("Period", "queryPeriod"), ("Trigger", "triggerOperator")] {
            if let Some(v) = m(key) {
                let v = if key == "triggerOperator" { format!("{v} {}", m("triggerThreshold").unwrap_or_default()) } else { v };
                let _ = writeln!(o, "  {label:<10} {v}");
            }
        }
        if let Some(outs) = r.meta.get("output_fields").and_then(|v| v.as_array()) {
            let outs: Vec<&str> = outs.iter().filter_map(|v| v.as_str()).collect();
            let _ = writeln!(o, "  Output fields: {}", outs.join(", "));
        }
        if let Some(ents) = r.meta.get("entityMappings").and_then(|v| v.as_array()) {
            for e in ents {
                let cols: Vec<String> = e["fieldMappings"]
                    .as_array()
                    .map(|f| f.iter().map(|x| format!("{}={}", x["identifier"].as_str().unwrap_or(""), x["columnName"].as_str().unwrap_or(""))).collect())
                    .unwrap_or_default();
                let _ = writeln!(o, "  Entity {}: {}", e["entityType"].as_str().unwrap_or("?"), cols.join(", "));
            }
        }
    }

    let _ = writeln!(o, "\nRule body ({})\n", if r.source == ir::Source::Sigma { "yaml" } else { "text" });
    o.push_str(&indent(r.raw.trim_end(), "  "));

    let _ = writeln!(o, "\nStages and predicates");
    for s in &p.stages {
        let _ = writeln!(o, "\nStage {}: {}  [{}]", s.id, s.name, s.kind);
        if !s.text.is_empty() {
            o.push_str(&indent(s.text.trim_end(), "  "));
        }
        if !s.predicates.is_empty() && s.kind != "condition" {
            let _ = writeln!(o, "  predicates:");
            for pr in &s.predicates {
                let _ = writeln!(o, "    {}", predicate(pr));
            }
        }
    }

    let _ = writeln!(o, "\nIndicators");
    let _ = writeln!(o, "  Each row is a field, kind and value the rule matches; corpus = rules in this catalog (this one included) that match the same.");
    if p.indicators.is_empty() {
        let _ = writeln!(o, "  (none)");
    } else {
        let mut rows = vec![vec!["Field".into(), "Kind".into(), "Value".into(), "Corpus".into(), "Canonical (all sources)".into()]];
        for i in &p.indicators {
            let mut kind = i.kind.to_string();
            if i.negated {
                kind = format!("not {kind}");
            }
            if i.cased {
                kind.push_str(" cased");
            }
            let canonical = match (&i.canonical, i.canonical_kind, &i.canonical_value, &i.canonical_corpus) {
                (Some(f), Some(k), Some(v), Some(c)) => format!("{f} {k} {v} — {}", counts(c)),
                _ => "-".into(),
            };
            rows.push(vec![i.field.clone().unwrap_or_else(|| "(keyword)".into()), kind, i.value.clone(), counts(&i.corpus), canonical]);
        }
        o.push_str(&table(&rows));
    }

    if !p.related.is_empty() {
        let _ = writeln!(o, "\nRelated rules");
        let _ = writeln!(o, "  narrower = stricter (matches a subset of this rule's events), broader = looser, duplicate = same logic, overlapping = can match the same events on a shared test, shares_indicators = two or more uncommon indicators in common");
        let rows: Vec<Vec<String>> = p
            .related
            .iter()
            .map(|x| {
                let how = match &x.technique {
                    Some(t) => format!("{} {t}", x.relation),
                    None => x.relation.clone(),
                };
                vec![how, x.rule.source.clone(), x.rule.title.clone(), x.rule.id.clone()]
            })
            .collect();
        o.push_str(&table(&rows));
    }

    if !r.diagnostics.is_empty() {
        let _ = writeln!(o, "\nDiagnostics");
        for d in &r.diagnostics {
            let sev = format!("{:?}", d.severity).to_lowercase();
            let _ = writeln!(o, "  {}:{} {sev} [{}] {}", p.file, d.span.map(|s| format!("{}:{}", s.line, s.col)).unwrap_or_default(), d.code, d.message);
            if let Some(c) = d.span.and_then(|s| catalog::caret(&r.raw, r.raw_line, s)) {
                o.push_str(&indent(&c, "      "));
            }
        }
    }
    o
}

fn titlecase(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}
