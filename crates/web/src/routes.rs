//! URLs (the public interface): `/`, `/search?q=`, `/rules/{source}/{id}`, `/attack`,
//! `/indicators`, `/indicators/rules`, and `/api/stats`, `/api/search?q=`,
//! `/api/rules/{source}/{id}`, `/api/indicators`, `/api/coverage`, `/api/navigator`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use catalog::{Catalog, Page};
use ir::Telemetry;

use crate::guard::{AppError, Error};
use crate::pages::{self, counts, enc};

const SOURCES: [&str; 3] = ["sigma", "sentinel", "splunk"];

#[derive(Clone)]
struct App {
    db: Arc<PathBuf>,
}

type Params = Query<HashMap<String, String>>;

fn page_err(e: impl Into<AppError>) -> Error {
    Error { api: false, error: e.into() }
}

fn api_err(e: impl Into<AppError>) -> Error {
    Error { api: true, error: e.into() }
}

impl App {
    fn open(&self) -> Result<Catalog, AppError> {
        Catalog::open(&self.db).map_err(AppError::from)
    }
}

fn render(t: impl Template) -> Result<Response, Error> {
    t.render().map(|h| Html(h).into_response()).map_err(|e| page_err(AppError::Internal(e.to_string())))
}

/// Only known parameters, with valid values: anything else is a 400.
fn check(params: &HashMap<String, String>, allowed: &[&str]) -> Result<(), AppError> {
    for k in params.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(AppError::BadRequest(format!("unknown parameter `{k}`")));
        }
    }
    if let Some(s) = params.get("source").filter(|s| !s.is_empty()) {
        if !SOURCES.contains(&s.as_str()) {
            return Err(AppError::BadRequest(format!("unknown source `{s}` (sigma, sentinel, splunk)")));
        }
    }
    if let Some(l) = params.get("limit") {
        match l.parse::<usize>() {
            Ok(n) if (1..=1000).contains(&n) => {}
            _ => return Err(AppError::BadRequest("`limit` must be a number from 1 to 1000".into())),
        }
    }
    Ok(())
}

pub fn router(db: PathBuf) -> Router {
    let app = App { db: Arc::new(db) };
    Router::new()
        .route("/", get(home))
        .route("/search", get(search))
        .route("/rules/{source}/{id}", get(rule))
        .route("/rules/{source}/{id}/source", get(rule_source))
        .route("/attack", get(attack))
        .route("/attack/{technique}", get(technique))
        .route("/indicators", get(indicators))
        .route("/indicators/rules", get(indicator_rules))
        .route("/api/stats", get(api_stats))
        .route("/api/search", get(api_search))
        .route("/api/rules/{source}/{id}", get(api_rule))
        .route("/api/indicators", get(api_indicators))
        .route("/api/coverage", get(api_coverage))
        .route("/api/navigator", get(api_navigator))
        .route("/static/style.css", get(|| async { ([(header::CONTENT_TYPE, "text/css")], include_str!("../static/style.css")) }))
        .route("/static/app.js", get(|| async { ([(header::CONTENT_TYPE, "text/javascript")], include_str!("../static/app.js")) }))
        .fallback(|| async { Error { api: false, error: AppError::NotFound("no such page".into()) } })
        .layer(axum::middleware::map_response(crate::guard::headers))
        .with_state(app)
}

async fn home(State(app): State<App>) -> Result<Response, Error> {
    let cat = app.open().map_err(page_err)?;
    let stats = cat.stats().map_err(page_err)?;
    let total = stats.rules.values().sum();
    let techniques = cat.coverage().map_err(page_err)?.techniques.iter().filter(|t| t.rules.total > 0).count();
    render(pages::Home { stats, total, techniques })
}

fn do_search(cat: &Catalog, params: &HashMap<String, String>) -> Result<Vec<catalog::SearchHit>, AppError> {
    let q = params.get("q").map(String::as_str).unwrap_or("").trim();
    let limit: usize = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(100);
    let source = params.get("source").map(String::as_str).unwrap_or("");
    if q.is_empty() {
        return Ok(Vec::new());
    }
    let mut hits = cat.search(q, if source.is_empty() { limit } else { 1000 })?;
    if !source.is_empty() {
        hits.retain(|h| h.source == source);
        hits.truncate(limit);
    }
    Ok(hits)
}

async fn search(State(app): State<App>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["q", "source", "limit", "level", "kind", "technique", "status", "tactic", "telemetry", "field"]).map_err(page_err)?;
    let cat = app.open().map_err(page_err)?;
    let mut hits = do_search(&cat, &params).map_err(page_err)?;
    let facet = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    if let Some(l) = facet("level") {
        hits.retain(|h| h.level.as_deref() == Some(l.as_str()));
    }
    if let Some(k) = facet("kind") {
        hits.retain(|h| h.kind == k);
    }
    if let Some(t) = facet("technique") {
        let ids: std::collections::HashSet<String> = cat.technique_rules(&t).map_err(page_err)?.into_iter().map(|h| h.id).collect();
        hits.retain(|h| ids.contains(&h.id));
    }
    // Facets that need the rule itself: status, tactic, telemetry read, canonical field.
    let ids: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
    let facets = cat.facets(&ids).map_err(page_err)?;
    let want = |k: &str| facet(k);
    let (status, tactic, telemetry, field) = (want("status"), want("tactic"), want("telemetry"), want("field"));
    hits.retain(|h| {
        let Some(f) = facets.get(&h.id) else { return false };
        status.as_ref().is_none_or(|s| f.status.as_deref() == Some(s.as_str()))
            && tactic.as_ref().is_none_or(|t| f.tactics.contains(t))
            && telemetry.as_ref().is_none_or(|t| f.telemetry.iter().any(|x| x.eq_ignore_ascii_case(t)))
            && field.as_ref().is_none_or(|c| f.fields.contains(c))
    });
    let values = |get: &dyn Fn(&catalog::Facets) -> Vec<String>| -> Vec<String> {
        let mut v: Vec<String> = hits.iter().filter_map(|h| facets.get(&h.id)).flat_map(get).collect();
        v.sort();
        v.dedup();
        v
    };
    let statuses = values(&|f| f.status.clone().into_iter().collect());
    let tactics = values(&|f| f.tactics.clone());
    let telemetries = values(&|f| f.telemetry.clone());
    let fields = values(&|f| f.fields.clone());
    let mut levels: Vec<String> = hits.iter().filter_map(|h| h.level.clone()).collect();
    levels.sort();
    levels.dedup();
    let mut kinds: Vec<String> = hits.iter().map(|h| h.kind.clone()).collect();
    kinds.sort();
    kinds.dedup();
    let techniques = hits.iter().map(|h| facets.get(&h.id).map(|f| f.techniques.join(" ")).unwrap_or_default()).collect();
    render(pages::Search {
        techniques,
        status: status.unwrap_or_default(),
        tactic: tactic.unwrap_or_default(),
        telemetry: telemetry.unwrap_or_default(),
        field: field.unwrap_or_default(),
        statuses,
        tactics,
        telemetries,
        fields,
        level: facet("level").unwrap_or_default(),
        kind: facet("kind").unwrap_or_default(),
        technique: facet("technique").unwrap_or_default(),
        levels,
        kinds,
        q: params.get("q").cloned().unwrap_or_default(),
        source: params.get("source").cloned().unwrap_or_default(),
        hits,
        sources: SOURCES.to_vec(),
    })
}

fn load_page(app: &App, source: &str, id: &str) -> Result<(Catalog, Page), AppError> {
    if !SOURCES.contains(&source) {
        return Err(AppError::NotFound(format!("no source `{source}`")));
    }
    let cat = app.open()?;
    let rule = cat.rule(id)?.filter(|r| r.source.as_str() == source).ok_or_else(|| AppError::NotFound(format!("no {source} rule `{id}`")))?;
    let page = Page::new(&cat, rule)?;
    Ok((cat, page))
}

fn telemetry_line(t: &Telemetry) -> String {
    match t {
        Telemetry::WinEvent { provider, channel, event_id, title } => format!(
            "{} {} {} {}",
            provider.as_deref().unwrap_or("-"),
            channel.as_deref().unwrap_or("-"),
            event_id.map(|i| i.to_string()).unwrap_or_else(|| "any".into()),
            title.as_deref().unwrap_or("")
        ),
        Telemetry::LogSource { product, category, service } => {
            format!("log source {}", [product, category, service].iter().filter_map(|x| x.as_deref()).collect::<Vec<_>>().join(" / "))
        }
        Telemetry::Table { name } => format!("table {name}"),
        Telemetry::DataModel { node } => format!("data model {node}"),
    }
}

async fn rule(State(app): State<App>, Path((source, id)): Path<(String, String)>) -> Result<Response, Error> {
    let (_cat, page) = load_page(&app, &source, &id).map_err(page_err)?;
    let indicators = page
        .indicators
        .iter()
        .map(|i| {
            let field = i.field.clone().unwrap_or_else(|| "(keyword)".into());
            let kind = format!("{}{}{}", if i.negated { "not " } else { "" }, i.kind, if i.cased { " cased" } else { "" });
            let corpus_link = format!("/indicators/rules?field={}&kind={}&value={}", enc(&field), enc(i.kind), enc(&i.value));
            let (canonical, canonical_link) = match (&i.canonical, i.canonical_kind, &i.canonical_value, &i.canonical_corpus) {
                (Some(f), Some(k), Some(v), Some(c)) => {
                    (format!("{f} {k} {v} — {}", counts(c)), format!("/indicators/rules?canonical=1&field={}&kind={}&value={}", enc(f), enc(k), enc(v)))
                }
                _ => ("-".into(), String::new()),
            };
            pages::IndicatorLine { field, kind, value: i.value.clone(), corpus: counts(&i.corpus), corpus_link, canonical, canonical_link }
        })
        .collect();
    let related = page
        .related
        .iter()
        .map(|r| pages::RelatedLine {
            relation: match &r.technique {
                Some(t) => format!("{} {t}", r.relation),
                None => r.relation.clone(),
            },
            source: r.rule.source.clone(),
            id: r.rule.id.clone(),
            title: r.rule.title.clone(),
        })
        .collect();
    let notes = page.rule.meta.get("attack_notes").and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|n| n.as_str().map(str::to_string)).collect()).unwrap_or_default();
    let diagnostics = page
        .rule
        .diagnostics
        .iter()
        .map(|d| pages::Diagnostic {
            text: format!("{}:{}", page.file, d.located()),
            caret: d.span.and_then(|s| catalog::caret(&page.rule.raw, page.rule.raw_line, s)).unwrap_or_default(),
        })
        .collect();
    let (extras, expanded) = extras(&page.rule);
    render(pages::Rule {
        body: crate::highlight::pieces(&page.rule.raw),
        extras,
        expanded,
        declared: page.telemetry.declared.iter().map(telemetry_line).collect(),
        derived: page.telemetry.derived.iter().map(telemetry_line).collect(),
        indicators,
        related,
        notes,
        diagnostics,
        page,
    })
}

/// What a Sentinel or Splunk page shows beyond the common sections.
fn extras(r: &ir::Rule) -> (Vec<(String, String)>, String) {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
    let list = |v: &serde_json::Value| v.as_array().map(|a| a.iter().map(text).collect::<Vec<_>>().join(", ")).unwrap_or_else(|| text(v));
    let mut out = Vec::new();
    match r.source {
        ir::Source::Sentinel => {
            for (label, key) in [("Frequency", "queryFrequency"), ("Period", "queryPeriod"), ("Trigger", "triggerOperator"), ("Threshold", "triggerThreshold")] {
                if let Some(v) = r.meta.get(key) {
                    out.push((label.to_string(), text(v)));
                }
            }
            if let Some(v) = r.meta.get("output_fields") {
                out.push(("Output fields".into(), list(v)));
            }
            for e in r.meta.get("entityMappings").and_then(|v| v.as_array()).into_iter().flatten() {
                let cols: Vec<String> = e["fieldMappings"]
                    .as_array()
                    .map(|f| f.iter().map(|x| format!("{}={}", text(&x["identifier"]), text(&x["columnName"]))).collect())
                    .unwrap_or_default();
                out.push((format!("Entity {}", text(&e["entityType"])), cols.join(", ")));
            }
        }
        ir::Source::Splunk => out = catalog::splunk_facts(r),
        ir::Source::Sigma => {}
    }
    let expanded = r.meta.get("expanded_search").map(text).unwrap_or_default();
    (out, expanded)
}

/// The rule's source text, as the catalog stored it (never read from disk again).
async fn rule_source(State(app): State<App>, Path((source, id)): Path<(String, String)>) -> Result<Response, Error> {
    let (_cat, page) = load_page(&app, &source, &id).map_err(page_err)?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], page.rule.raw).into_response())
}

async fn attack(State(app): State<App>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["source", "kind"]).map_err(page_err)?;
    let source = params.get("source").cloned().unwrap_or_default();
    let kind = params.get("kind").cloned().unwrap_or_default();
    if !matches!(kind.as_str(), "" | "detections" | "hunting") {
        return Err(page_err(AppError::BadRequest("`kind` is detections or hunting".into())));
    }
    let cov = app.open().and_then(|c| c.coverage().map_err(AppError::from)).map_err(page_err)?;
    let n = |t: &catalog::TechniqueRow| {
        let c = match kind.as_str() {
            "detections" => &t.detections,
            "hunting" => &t.hunting,
            _ => &t.rules,
        };
        if source.is_empty() { c.total } else { c.by_source.get(&source).copied().unwrap_or(0) }
    };
    // Parents count their sub-techniques' rules too; sub-techniques with rules follow their parent.
    let subtotal = |parent: &str| -> usize {
        cov.techniques.iter().filter(|t| t.id == parent || t.id.starts_with(&format!("{parent}."))).map(n).sum()
    };
    let max = cov.techniques.iter().filter(|t| !t.id.contains('.')).map(|t| subtotal(&t.id)).max().unwrap_or(0).max(1);
    let heat = |count: usize| if count == 0 { 0 } else { (1 + (count * 4) / max).min(5) };
    let columns = cov
        .tactics
        .iter()
        .map(|tac| {
            let mut parents: Vec<&catalog::TechniqueRow> =
                cov.techniques.iter().filter(|t| t.tactics.contains(&tac.shortname) && !t.id.contains('.')).collect();
            parents.sort_by(|a, b| subtotal(&b.id).cmp(&subtotal(&a.id)).then_with(|| a.id.cmp(&b.id)));
            let mut cells = Vec::new();
            for p in parents {
                let total = subtotal(&p.id);
                cells.push(pages::Cell { id: p.id.clone(), name: p.name.clone().unwrap_or_default(), n: total, heat: heat(total), sub: false });
                let mut subs: Vec<&catalog::TechniqueRow> =
                    cov.techniques.iter().filter(|t| t.id.starts_with(&format!("{}.", p.id)) && n(t) > 0).collect();
                subs.sort_by(|a, b| n(b).cmp(&n(a)).then_with(|| a.id.cmp(&b.id)));
                for s in subs {
                    let name = s.name.clone().unwrap_or_default();
                    let short = name.split_once(": ").map(|x| x.1.to_string()).unwrap_or(name);
                    cells.push(pages::Cell { id: s.id.clone(), name: short, n: n(s), heat: heat(n(s)), sub: true });
                }
            }
            pages::Column { name: tac.name.clone(), cells }
        })
        .collect();
    render(pages::Attack {
        kind,
        source,
        version: cov.attack_version.map(|v| format!("v{v}")).unwrap_or_else(|| "(no bundle loaded: build --attack FILE)".into()),
        columns,
        sources: SOURCES.to_vec(),
    })
}

async fn technique(State(app): State<App>, Path(id): Path<String>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["source"]).map_err(page_err)?;
    if !id.starts_with(['T', 't']) || !id[1..].chars().all(|c| c.is_ascii_digit() || c == '.') || id.len() > 12 {
        return Err(page_err(AppError::NotFound(format!("no technique `{id}`"))));
    }
    let cat = app.open().map_err(page_err)?;
    let mut hits = cat.technique_rules(&id).map_err(page_err)?;
    if let Some(s) = params.get("source").filter(|s| !s.is_empty()) {
        hits.retain(|h| &h.source == s);
    }
    let name = cat.coverage().map_err(page_err)?.techniques.into_iter().find(|t| t.id.eq_ignore_ascii_case(&id)).and_then(|t| t.name);
    render(pages::List { title: format!("{} {}", id.to_ascii_uppercase(), name.unwrap_or_default()), hits })
}

async fn indicators(State(app): State<App>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["field", "limit"]).map_err(page_err)?;
    let field = params.get("field").cloned().filter(|f| !f.is_empty());
    let limit = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(200);
    let rows = app.open().and_then(|c| c.top_indicators(true, field.as_deref(), limit).map_err(AppError::from)).map_err(page_err)?;
    render(pages::Indicators { field: field.unwrap_or_default(), rows })
}

async fn indicator_rules(State(app): State<App>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["field", "kind", "value", "canonical"]).map_err(page_err)?;
    let (Some(field), Some(kind), Some(value)) = (params.get("field"), params.get("kind"), params.get("value")) else {
        return Err(page_err(AppError::BadRequest("`field`, `kind` and `value` are needed".into())));
    };
    let cat = app.open().map_err(page_err)?;
    let canonical = params.get("canonical").is_some_and(|c| c == "1");
    let hits = if canonical { cat.canonical_rules(field, kind, value) } else { cat.indicator_rules(field, kind, &value.to_lowercase()) }.map_err(page_err)?;
    render(pages::List { title: format!("{field} {kind} {value}"), hits })
}

async fn api_stats(State(app): State<App>) -> Result<Response, Error> {
    let s = app.open().and_then(|c| c.stats().map_err(AppError::from)).map_err(api_err)?;
    Ok(Json(s).into_response())
}

async fn api_search(State(app): State<App>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["q", "source", "limit"]).map_err(api_err)?;
    let cat = app.open().map_err(api_err)?;
    let hits = do_search(&cat, &params).map_err(api_err)?;
    Ok(Json(serde_json::json!({ "results": hits })).into_response())
}

async fn api_rule(State(app): State<App>, Path((source, id)): Path<(String, String)>) -> Result<Response, Error> {
    let (_cat, page) = load_page(&app, &source, &id).map_err(api_err)?;
    Ok(Json(page).into_response())
}

async fn api_indicators(State(app): State<App>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["field", "limit", "canonical"]).map_err(api_err)?;
    let canonical = params.get("canonical").is_none_or(|c| c != "0");
    let limit = params.get("limit").and_then(|l| l.parse().ok()).unwrap_or(200);
    let rows = app.open().and_then(|c| c.top_indicators(canonical, params.get("field").map(String::as_str), limit).map_err(AppError::from)).map_err(api_err)?;
    Ok(Json(serde_json::json!({ "indicators": rows })).into_response())
}

async fn api_coverage(State(app): State<App>) -> Result<Response, Error> {
    let c = app.open().and_then(|c| c.coverage().map_err(AppError::from)).map_err(api_err)?;
    Ok(Json(c).into_response())
}

async fn api_navigator(State(app): State<App>, Query(params): Params) -> Result<Response, Error> {
    check(&params, &["source"]).map_err(api_err)?;
    let source = params.get("source").filter(|s| !s.is_empty()).map(String::as_str);
    let layer = app.open().and_then(|c| c.navigator(source).map_err(AppError::from)).map_err(api_err)?;
    Ok(([(header::CONTENT_DISPOSITION, "attachment; filename=\"rulelens-layer.json\"")], Json(layer)).into_response())
}
