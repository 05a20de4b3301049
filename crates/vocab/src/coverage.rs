use ir::{Diagnostic, Op, Rule, Telemetry, Value};

use crate::logsources::{logsources, EventRef};

/// The events a rule really reads: its declared log source resolved through the data file,
/// narrowed (or, when the log source does not resolve, built) by the EventIDs and channels
/// its logic requires.
pub fn event_coverage(rule: &Rule) -> Vec<Telemetry> {
    let ls = logsources();
    let mut base: Vec<EventRef> = Vec::new();
    for t in &rule.declared {
        if let Telemetry::LogSource { product, category, service } = t {
            base.extend(ls.resolve(product.as_deref(), category.as_deref(), service.as_deref()));
        }
    }
    let mut ids: Vec<u32> = Vec::new();
    let mut channels: Vec<String> = Vec::new();
    for (p, positive) in rule.logic.predicates_with_polarity() {
        if !positive || p.negated || p.op != Op::Eq {
            continue;
        }
        let Some(field) = p.field.as_deref() else { continue };
        if field.eq_ignore_ascii_case("EventID") || field.eq_ignore_ascii_case("EventCode") {
            ids.extend(p.values.iter().filter_map(as_id));
        } else if field.eq_ignore_ascii_case("Channel") || field.eq_ignore_ascii_case("Provider_Name") {
            channels.extend(p.values.iter().map(Value::text));
        }
    }
    ids.sort_unstable();
    ids.dedup();

    let mut refs: Vec<EventRef> = Vec::new();
    if ids.is_empty() {
        refs = base;
        if refs.is_empty() {
            refs.extend(channels.iter().filter_map(|c| ls.alias_of(c)).map(|a| EventRef { alias: a.into(), event_id: None }));
        }
    } else {
        let aliases: Vec<&str> = channels.iter().filter_map(|c| ls.alias_of(c)).collect();
        for id in ids {
            let exact: Vec<&EventRef> = base.iter().filter(|e| e.event_id == Some(id)).collect();
            if !exact.is_empty() {
                refs.extend(exact.into_iter().cloned());
            } else if let Some(e) = base.iter().find(|e| e.event_id.is_none()) {
                refs.push(EventRef { alias: e.alias.clone(), event_id: Some(id) });
            } else if !aliases.is_empty() {
                refs.extend(aliases.iter().map(|a| EventRef { alias: (*a).into(), event_id: Some(id) }));
            } else {
                refs.push(EventRef { alias: String::new(), event_id: Some(id) });
            }
        }
    }
    let mut out: Vec<Telemetry> = refs.iter().map(to_telemetry).collect();
    out.dedup();
    out
}

/// Where the declared log source and the logic disagree: the logic requires an EventID that
/// none of the log source's events carries (so, read as declared, the rule can never fire).
pub fn telemetry_findings(rule: &Rule) -> Vec<Diagnostic> {
    let ls = logsources();
    let mut out = Vec::new();
    for t in &rule.declared {
        let Telemetry::LogSource { product, category, service } = t else { continue };
        let base = ls.resolve(product.as_deref(), category.as_deref(), service.as_deref());
        // A log source that admits any EventID of its channel constrains nothing here.
        if base.is_empty() || base.iter().any(|e| e.event_id.is_none()) {
            continue;
        }
        // EventIDs every match needs: those of predicates that hold on the positive path.
        let mut required: Vec<(u32, Option<ir::Span>)> = Vec::new();
        for (p, positive) in rule.logic.predicates_with_polarity() {
            let Some(field) = p.field.as_deref() else { continue };
            if positive && !p.negated && p.op == Op::Eq && (field.eq_ignore_ascii_case("EventID") || field.eq_ignore_ascii_case("EventCode")) {
                required.extend(p.values.iter().filter_map(as_id).map(|id| (id, p.span)));
            }
        }
        let carried: Vec<String> = base.iter().filter_map(|e| e.event_id.map(|id| format!("{} {id}", e.alias))).collect();
        for (id, span) in required {
            if !base.iter().any(|e| e.event_id == Some(id)) {
                let what = category.as_deref().or(service.as_deref()).unwrap_or("-");
                out.push(Diagnostic::warning(
                    "telemetry-mismatch",
                    format!("the logic asks for EventID {id}, which log source `{what}` does not carry (it carries {})", carried.join(", ")),
                    span,
                ));
            }
        }
    }
    out
}

fn as_id(v: &Value) -> Option<u32> {
    match v {
        Value::Int(i) => u32::try_from(*i).ok(),
        Value::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn to_telemetry(r: &EventRef) -> Telemetry {
    let ls = logsources();
    let p = ls.providers.get(&r.alias);
    Telemetry::WinEvent {
        provider: p.and_then(|p| p.provider.clone()),
        channel: p.and_then(|p| p.channel.clone()),
        event_id: r.event_id,
        title: r.event_id.and_then(|id| ls.title(&r.alias, id)).map(str::to_string),
    }
}
