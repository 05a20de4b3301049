//! Page models; the templates in `templates/` render them (askama escapes every `{{ }}`).

use askama::Template;
use catalog::{Counts, IndicatorRow, Page, SearchHit, Stats};

/// `3 (sigma 2, splunk 1)`.
pub fn counts(c: &Counts) -> String {
    if c.total == 0 {
        return "0".into();
    }
    let parts: Vec<String> = c.by_source.iter().map(|(s, n)| format!("{s} {n}")).collect();
    format!("{} ({})", c.total, parts.join(", "))
}

/// A query string value, percent-encoded.
pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct Home {
    pub stats: Stats,
    pub total: usize,
    pub techniques: usize,
}

#[derive(Template)]
#[template(path = "search.html")]
pub struct Search {
    pub q: String,
    /// Per hit: its techniques.
    pub techniques: Vec<String>,
    pub source: String,
    pub level: String,
    pub kind: String,
    pub technique: String,
    pub status: String,
    pub tactic: String,
    pub telemetry: String,
    pub field: String,
    /// Values present in the results, for the facet menus.
    pub levels: Vec<String>,
    pub kinds: Vec<String>,
    pub statuses: Vec<String>,
    pub tactics: Vec<String>,
    pub telemetries: Vec<String>,
    pub fields: Vec<String>,
    pub hits: Vec<SearchHit>,
    pub sources: Vec<&'static str>,
}

pub struct IndicatorLine {
    pub field: String,
    pub kind: String,
    pub value: String,
    pub corpus: String,
    pub corpus_link: String,
    pub canonical: String,
    pub canonical_link: String,
}

pub struct RelatedLine {
    pub relation: String,
    pub source: String,
    pub id: String,
    pub title: String,
}

#[derive(Template)]
#[template(path = "rule.html")]
pub struct Rule {
    pub page: Page,
    pub declared: Vec<String>,
    pub derived: Vec<String>,
    pub indicators: Vec<IndicatorLine>,
    pub related: Vec<RelatedLine>,
    pub notes: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
    /// Source-specific facts: schedule, trigger, entities (Sentinel); risk, RBA, macros, tests (Splunk).
    pub extras: Vec<(String, String)>,
    /// Splunk: the search after macro expansion.
    pub expanded: String,
    /// The rule's text, highlighted.
    pub body: Vec<crate::highlight::Piece>,
}

pub struct Cell {
    pub id: String,
    pub name: String,
    pub n: usize,
    pub heat: usize,
    /// A sub-technique, shown under its parent.
    pub sub: bool,
}

pub struct Column {
    pub name: String,
    pub cells: Vec<Cell>,
}

#[derive(Template)]
#[template(path = "attack.html")]
pub struct Attack {
    /// `detections`, `hunting`, or all.
    pub kind: String,
    pub source: String,
    pub version: String,
    pub columns: Vec<Column>,
    pub sources: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "indicators.html")]
pub struct Indicators {
    pub field: String,
    pub rows: Vec<IndicatorRow>,
}

#[derive(Template)]
#[template(path = "list.html")]
pub struct List {
    pub title: String,
    pub hits: Vec<SearchHit>,
}

/// A diagnostic: `file:line:col: message`, and the source line with a caret under the spot.
pub struct Diagnostic {
    pub text: String,
    pub caret: String,
}
