//! An expanded search → `ir::Logic`: one stage per command, chained by their inputs.

use ir::{Diagnostic, Expr, Logic, Stage, StageKind, Telemetry};

use crate::expr;
use crate::pipeline::{split, Command};

#[derive(Debug, Clone, Default)]
pub struct Lowered {
    pub logic: Logic,
    /// Data model nodes read (`Endpoint.Processes`).
    pub models: Vec<String>,
    /// Fields the search groups by or keeps at the end.
    pub outputs: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// The position of `word` in `s` as a whole word outside quotes, case-insensitively.
fn find_word(s: &str, word: &str) -> Option<usize> {
    let lower = s.to_ascii_lowercase();
    let mut quote = false;
    let b = lower.as_bytes();
    let w = word.as_bytes();
    for i in 0..b.len() {
        if b[i] == b'"' {
            quote = !quote;
        }
        if quote || !lower[i..].starts_with(word) {
            continue;
        }
        let before = i == 0 || b[i - 1].is_ascii_whitespace() || b[i - 1] == b')';
        let after = b.get(i + w.len()).is_none_or(|c| c.is_ascii_whitespace() || *c == b'(');
        if before && after {
            return Some(i);
        }
    }
    None
}

fn fields(s: &str) -> Vec<String> {
    s.split([' ', ',']).map(str::trim).filter(|f| !f.is_empty()).map(str::to_string).collect()
}

/// `count min(_time) as firstTime values(x)` → aggregates.
fn aggs(s: &str) -> Vec<ir::Agg> {
    let mut out = Vec::new();
    let words: Vec<&str> = s.split_whitespace().collect();
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if w.contains('=') {
            i += 1;
            continue;
        }
        let (func, field) = match w.split_once('(') {
            Some((f, rest)) => (f.to_string(), Some(rest.trim_end_matches(')').to_string()).filter(|x| !x.is_empty())),
            None => (w.to_string(), None),
        };
        let mut alias = w.to_string();
        if words.get(i + 1).is_some_and(|x| x.eq_ignore_ascii_case("as")) {
            if let Some(a) = words.get(i + 2) {
                alias = a.trim_matches('"').to_string();
                i += 2;
            }
        }
        out.push(ir::Agg { func, field, alias });
        i += 1;
    }
    out
}

pub fn lower(search: &str) -> Lowered {
    let mut out = Lowered::default();
    let mut prev: Option<usize> = None;
    for cmd in split(search) {
        let kinds = stage_kinds(&cmd, &mut out);
        for kind in kinds {
            let id = out.logic.stages.len();
            let name = match &kind {
                StageKind::Source { .. } => "source".to_string(),
                _ => cmd.name.clone(),
            };
            out.logic.stages.push(Stage { id, name, kind, inputs: prev.into_iter().collect(), text: cmd.text.clone(), span: None });
            prev = Some(id);
        }
    }
    out.logic.output = prev.unwrap_or(0);
    out
}

/// `strict`: a failure is a syntax error (the search world, which this parser covers); otherwise
/// (where/eval, with arithmetic and functions this first cut does not read) it is unmodelled.
fn filter(text: &str, world: fn(&str) -> Result<Expr, String>, strict: bool, out: &mut Lowered) -> Option<StageKind> {
    match world(text) {
        Ok(Expr::Const { value: true }) => None,
        Ok(expr) => Some(StageKind::Filter { expr }),
        Err(why) => {
            let msg = format!("in `{}`: {why}", text.trim());
            out.diagnostics.push(if strict { Diagnostic::error("spl-syntax", msg, None) } else { Diagnostic::warning("spl-unmodeled", msg, None) });
            Some(StageKind::Filter { expr: Expr::Unmodeled { text: text.trim().to_string(), why } })
        }
    }
}

fn stage_kinds(cmd: &Command, out: &mut Lowered) -> Vec<StageKind> {
    let a = cmd.args.as_str();
    match cmd.name.as_str() {
        "tstats" => {
            let mut kinds = Vec::new();
            let from = find_word(a, "from");
            let whr = find_word(a, "where");
            let by = find_word(a, "by");
            let model = a
                .split_whitespace()
                .find_map(|w| w.strip_prefix("datamodel="))
                .or_else(|| from.and_then(|f| a[f + 4..].split_whitespace().next()))
                .map(|m| m.trim_matches('"').to_string());
            if let Some(m) = &model {
                out.models.push(m.clone());
                kinds.push(StageKind::Source { telemetry: vec![Telemetry::DataModel { node: m.clone() }] });
            }
            if let Some(w) = whr {
                let end = by.filter(|b| *b > w).unwrap_or(a.len());
                kinds.extend(filter(&a[w + 5..end], expr::search, true, out));
            }
            let head_end = [from, whr, by].into_iter().flatten().min().unwrap_or(a.len());
            let by_fields = by.map(|b| fields(&a[b + 2..])).unwrap_or_default();
            out.outputs = by_fields.clone();
            kinds.push(StageKind::Aggregate { by: by_fields, aggs: aggs(&a[..head_end]), having: None, within_secs: None });
            kinds
        }
        "search" => filter(a, expr::search, true, out).into_iter().collect(),
        "where" => filter(a, expr::condition, false, out).into_iter().collect(),
        "stats" | "eventstats" | "streamstats" | "chart" | "timechart" => {
            let by = find_word(a, "by");
            let by_fields = by.map(|b| fields(&a[b + 2..])).unwrap_or_default();
            if cmd.name == "stats" {
                out.outputs = by_fields.clone();
            }
            vec![StageKind::Aggregate { by: by_fields, aggs: aggs(&a[..by.unwrap_or(a.len())]), having: None, within_secs: None }]
        }
        "rename" => {
            let words: Vec<&str> = a.split([' ', ',']).filter(|w| !w.is_empty()).collect();
            let pairs = words.chunks(3).filter(|c| c.len() == 3 && c[1].eq_ignore_ascii_case("as")).map(|c| (c[0].trim_matches('"').to_string(), c[2].trim_matches('"').to_string())).collect();
            vec![StageKind::Rename { fields: pairs }]
        }
        "table" | "fields" => {
            let f = fields(a);
            if cmd.name == "table" {
                out.outputs = f.clone();
            }
            vec![StageKind::Project { fields: f }]
        }
        "eval" => vec![StageKind::Extend { fields: a.split(',').filter_map(|x| x.split_once('=')).map(|(f, _)| f.trim().to_string()).collect() }],
        "dedup" | "sort" | "head" | "tail" | "fillnull" | "convert" | "lookup" | "inputlookup" | "rex" | "regex" | "bin" | "bucket" | "join"
        | "append" | "appendpipe" | "mvexpand" | "spath" | "transaction" | "foreach" | "makemv" | "iplocation" | "outputlookup" | "return" => {
            vec![StageKind::Operator { op: cmd.name.clone() }]
        }
        _ => vec![StageKind::Operator { op: cmd.name.clone() }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tstats_search_where_stats() {
        let l = lower("| tstats summariesonly=true count min(_time) as firstTime from datamodel=Endpoint.Processes where Processes.process_name=cmd.exe (Processes.process=\"*whoami*\" OR Processes.process=\"*net user*\") by Processes.dest Processes.user | rename Processes.* as * | where count > 5 | search *");
        assert_eq!(l.models, ["Endpoint.Processes"]);
        let kinds: Vec<&str> = l.logic.stages.iter().map(|s| s.kind.name()).collect();
        assert_eq!(kinds, ["source", "filter", "aggregate", "rename", "filter"]);
        let preds = l.logic.stages[1].predicates();
        assert_eq!(preds.len(), 3);
        assert_eq!(l.outputs, ["Processes.dest", "Processes.user"]);
        assert!(l.diagnostics.is_empty());
    }
}
