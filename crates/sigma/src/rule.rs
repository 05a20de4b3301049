//! One YAML document -> one `ir::Rule` (detection, correlation or meta filter).

use std::collections::BTreeMap;

use ir::{
    Agg, AttackRef, CmpOp, Correlation, CorrelationKind, Diagnostic, Expr, Logic, Op, Predicate, Quant, Rule, Source,
    Span, Stage, StageKind, Telemetry, Value,
};

use crate::cond::{self, Cond, Pipe};
use crate::detection::Lower;
use crate::yaml::{value_offsets, LineIndex, Node, NodeKind};

/// JSON nesting kept for `meta` values; deeper parts are kept as their YAML text.
const MAX_JSON_DEPTH: usize = 64;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Detection,
    Correlation,
    Filter,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Detection => "detection",
            Kind::Correlation => "correlation",
            Kind::Filter => "filter",
        }
    }
}

/// The kind of a document's root, or why it is none.
pub fn classify(root: &Node) -> Result<Kind, String> {
    let corr = root.get("correlation");
    let is_corr = corr.is_some_and(|c| c.as_map().is_some() && c.get("type").is_some());
    if root.get("detection").is_some() {
        return Ok(Kind::Detection);
    }
    if is_corr {
        return Ok(Kind::Correlation);
    }
    if root.get("filter").is_some_and(|f| f.as_map().is_some()) && root.get("logsource").is_some() {
        return Ok(Kind::Filter);
    }
    if let Some(c) = corr {
        return Err(if c.as_map().is_some() {
            "its `correlation` section has no `type` (event_count, value_count, temporal, ...) and there is no `detection`".into()
        } else {
            "its `correlation` is not a correlation section (expected a map with `type`, `rules`, ...) and there is no `detection`".into()
        });
    }
    Err("expected a `detection`, `correlation` (with `type`) or `filter` (with `logsource`) section".into())
}

/// Whether a document root is recognisably Sigma (before any merging).
pub fn is_sigma_root(root: &Node) -> bool {
    root.get("detection").is_some()
        || root.get("correlation").is_some()
        || (root.get("filter").is_some() && root.get("logsource").is_some())
}

/// Deep merge for legacy collections: maps are merged key by key, anything else is replaced.
pub fn merge(base: &Node, over: &Node) -> Node {
    match (&base.kind, &over.kind) {
        (NodeKind::Map(bp), NodeKind::Map(op)) => {
            let mut pairs = bp.clone();
            for (k, v) in op {
                let key = k.as_str();
                match pairs.iter_mut().rev().find(|(bk, _)| bk.as_str().is_some() && bk.as_str() == key) {
                    Some(slot) => {
                        let merged = merge(&slot.1, v);
                        *slot = (k.clone(), merged);
                    }
                    None => pairs.push((k.clone(), v.clone())),
                }
            }
            Node { kind: NodeKind::Map(pairs), start: over.start, end: over.end }
        }
        _ => over.clone(),
    }
}

/// The root without its `action` key.
pub fn without_action(root: &Node) -> Node {
    match &root.kind {
        NodeKind::Map(pairs) => Node {
            kind: NodeKind::Map(pairs.iter().filter(|(k, _)| k.as_str() != Some("action")).cloned().collect()),
            start: root.start,
            end: root.end,
        },
        _ => root.clone(),
    }
}

pub struct DocInfo<'a> {
    pub origin: &'a str,
    pub path: &'a str,
    pub doc_index: usize,
    pub raw_start: usize,
    pub raw_end: usize,
    pub diags: Vec<Diagnostic>,
}

/// Lowers one (merged) document root of kind `kind`.
pub fn lower(lines: &LineIndex, root: &Node, kind: Kind, info: DocInfo) -> Rule {
    let text = lines.text();
    let mut diags = info.diags;
    let raw_end = trim_trailing_blank(text, info.raw_start, info.raw_end);
    let raw = text.get(info.raw_start..raw_end).unwrap_or("").to_string();
    let raw_line = lines.pos(info.raw_start).0;
    let doc_span = lines.span(root.start, root.start);

    let s = |k: &str| root.get(k).and_then(scalar_string);
    let title = match s("title") {
        Some(t) => t,
        None => {
            diags.push(Diagnostic::warning("missing-title", "the rule has no `title`", Some(doc_span)));
            String::new()
        }
    };
    let own_id = s("id");
    let id = own_id.clone().unwrap_or_else(|| ir::short_hash(&["sigma", info.path, &info.doc_index.to_string()]));
    let author = root.get("author").and_then(|n| match &n.kind {
        NodeKind::Seq(items) => {
            let v: Vec<String> = items.iter().filter_map(scalar_string).collect();
            (!v.is_empty()).then(|| v.join(", "))
        }
        _ => scalar_string(n),
    });
    let tags = str_list(root.get("tags"));
    let (attack, tactics) = attack_from_tags(&tags);

    let consumed: &[&str] = match kind {
        Kind::Detection => &["detection"],
        Kind::Correlation => &["correlation", "generate"],
        Kind::Filter => &["filter"],
    };
    const META_KEYS: [&str; 12] = [
        "title",
        "id",
        "name",
        "description",
        "status",
        "level",
        "author",
        "date",
        "modified",
        "references",
        "falsepositives",
        "tags",
    ];
    let mut meta = BTreeMap::new();
    for (k, v) in root.as_map().unwrap_or(&[]) {
        let Some(key) = k.as_str() else { continue };
        if META_KEYS.contains(&key) || consumed.contains(&key) {
            continue;
        }
        meta.insert(key.to_string(), to_json(text, v, 0));
    }

    let mut declared = Vec::new();
    if let Some(ls) = root.get("logsource") {
        if ls.as_map().is_some() {
            for k in ["product", "category", "service"] {
                if let Some(v) = ls.get(k).filter(|v| !v.is_scalar()) {
                    let sp = lines.span(v.start, v.end);
                    diags.push(Diagnostic::warning(
                        "bad-logsource",
                        format!("`logsource.{k}` must be a single value; it is ignored"),
                        Some(sp),
                    ));
                }
            }
            let f = |k: &str| ls.get(k).and_then(scalar_string);
            declared.push(Telemetry::LogSource {
                product: f("product"),
                category: f("category"),
                service: f("service"),
            });
        } else {
            let sp = lines.span(ls.start, ls.end);
            diags.push(Diagnostic::error(
                "bad-logsource",
                "`logsource` must be a map of product, category and service",
                Some(sp),
            ));
        }
    }

    let logic = match kind {
        Kind::Detection => {
            // `classify` made sure the section is there; the root stands in otherwise.
            let (k, det) = root.get_pair("detection").unwrap_or((root, root));
            let top_timeframe = root.get("timeframe");
            detection_logic(lines, k, det, &[], top_timeframe, &mut meta, &mut diags)
        }
        Kind::Filter => {
            // `classify` made sure the section is there; the root stands in otherwise.
            let (k, f) = root.get_pair("filter").unwrap_or((root, root));
            match f.get("rules") {
                Some(r) if !r.is_null() => {
                    let list: Vec<serde_json::Value> = match &r.kind {
                        NodeKind::Seq(_) => match to_json(text, r, 0) {
                            serde_json::Value::Array(a) => a,
                            other => vec![other],
                        },
                        _ => vec![to_json(text, r, 0)],
                    };
                    meta.insert("filter_rules".into(), serde_json::Value::Array(list));
                }
                _ => {
                    let sp = lines.span(k.start, k.end);
                    diags.push(Diagnostic::error(
                        "missing-rules",
                        "the meta filter has no `rules` list naming the rules it applies to",
                        Some(sp),
                    ));
                }
            }
            detection_logic(lines, k, f, &["rules"], None, &mut meta, &mut diags)
        }
        Kind::Correlation => {
            // `classify` made sure the section is there; the root stands in otherwise.
            let (k, c) = root.get_pair("correlation").unwrap_or((root, root));
            correlation_logic(lines, k, c, root.get("generate"), &mut diags)
        }
    };

    Rule {
        id,
        own_id,
        source: Source::Sigma,
        origin: info.origin.to_string(),
        path: info.path.to_string(),
        doc_index: info.doc_index,
        kind: kind.as_str().to_string(),
        title,
        name: s("name"),
        description: s("description").unwrap_or_default(),
        status: s("status"),
        level: s("level").map(|l| l.to_lowercase()),
        author,
        date: s("date"),
        modified: s("modified"),
        references: str_list(root.get("references")),
        falsepositives: str_list(root.get("falsepositives")),
        tags,
        meta,
        attack,
        tactics,
        declared,
        derived: Vec::new(),
        logic,
        raw,
        raw_line,
        diagnostics: diags,
    }
}

fn trim_trailing_blank(text: &str, start: usize, end: usize) -> usize {
    let slice = text.get(start..end).unwrap_or("");
    let trimmed = slice.trim_end();
    let mut e = start + trimmed.len();
    // Keep the line break that ends the last line.
    if text[e..end.max(e)].starts_with("\r\n") {
        e += 2;
    } else if text[e..end.max(e)].starts_with('\n') {
        e += 1;
    }
    e
}

/// Text of a non-null scalar.
fn scalar_string(n: &Node) -> Option<String> {
    n.text().map(str::to_string)
}

/// A list of strings, or a single string.
fn str_list(n: Option<&Node>) -> Vec<String> {
    match n {
        None => Vec::new(),
        Some(n) => match &n.kind {
            NodeKind::Seq(items) => items.iter().filter_map(scalar_string).collect(),
            NodeKind::Scalar { .. } => scalar_string(n).into_iter().collect(),
            NodeKind::Map(_) => Vec::new(),
        },
    }
}

/// ATT&CK techniques and tactics named by `attack.*` tags.
pub fn attack_from_tags(tags: &[String]) -> (Vec<AttackRef>, Vec<String>) {
    let mut attack: Vec<AttackRef> = Vec::new();
    let mut tactics: Vec<String> = Vec::new();
    for tag in tags {
        let t = tag.trim().to_ascii_lowercase();
        let Some(rest) = t.strip_prefix("attack.") else { continue };
        if is_id(rest, 't') {
            let technique = rest.to_ascii_uppercase();
            if !attack.iter().any(|a| a.technique == technique) {
                attack.push(AttackRef { technique, name: None });
            }
        } else if is_id(rest, 'g')
            || is_id(rest, 's')
            || rest.starts_with("ds") && rest[2..].bytes().all(|b| b.is_ascii_digit())
        {
            // Groups, software and data sources are not tactics.
        } else if rest.len() >= 3 && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'_' || b == b'-') {
            let tactic = rest.replace('_', "-");
            if !tactics.contains(&tactic) {
                tactics.push(tactic);
            }
        }
    }
    (attack, tactics)
}

/// `t1234`, `t1234.001` (with `prefix` = 't').
fn is_id(s: &str, prefix: char) -> bool {
    let Some(rest) = s.strip_prefix(prefix) else { return false };
    let (main, sub) = match rest.split_once('.') {
        Some((m, s)) => (m, Some(s)),
        None => (rest, None),
    };
    let digits = |x: &str, n: usize| x.len() == n && x.bytes().all(|b| b.is_ascii_digit());
    digits(main, 4) && sub.is_none_or(|s| prefix == 't' && digits(s, 3))
}

/// YAML node -> JSON (typed scalars; maps keep the last of duplicate keys).
pub fn to_json(text: &str, n: &Node, depth: usize) -> serde_json::Value {
    use serde_json::Value as J;
    if depth >= MAX_JSON_DEPTH {
        return J::String(n.src(text).to_string());
    }
    match &n.kind {
        NodeKind::Scalar { .. } => match n.value() {
            Some(Value::Null) | None => J::Null,
            Some(Value::Bool(b)) => J::Bool(b),
            Some(Value::Int(i)) => J::from(i),
            Some(Value::Float(f)) => serde_json::Number::from_f64(f)
                .map(J::Number)
                .unwrap_or_else(|| J::String(n.as_str().unwrap_or("").into())),
            Some(Value::Str(s)) => J::String(s),
        },
        NodeKind::Seq(items) => J::Array(items.iter().map(|i| to_json(text, i, depth + 1)).collect()),
        NodeKind::Map(pairs) => {
            let mut m = serde_json::Map::new();
            for (k, v) in pairs {
                let key = match k.as_str() {
                    Some(s) => s.to_string(),
                    None => k.src(text).to_string(),
                };
                m.insert(key, to_json(text, v, depth + 1));
            }
            J::Object(m)
        }
    }
}

/// Time span `30s`, `5m`, `1h`, `2d`, `1w`, `1M`, `1y` -> seconds.
pub fn parse_timespan(s: &str) -> Option<u64> {
    let s = s.trim();
    let unit = s.chars().last()?;
    let num = s[..s.len() - unit.len_utf8()].trim();
    let n: u64 = num.parse().ok()?;
    let mult = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' | 'D' => 86_400,
        'w' | 'W' => 7 * 86_400,
        'M' => 30 * 86_400,
        'y' | 'Y' => 365 * 86_400,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// The text of a `key: value` item as written, its continuation lines dedented by the key's
/// indentation.
fn item_text(text: &str, lines: &LineIndex, key: &Node, value: &Node) -> String {
    let mut end = value.end.max(key.end);
    if value.is_null() && value.start == value.end {
        // `name:` with nothing after it: keep the colon.
        let rest = &text[end..];
        let gap = rest.len() - rest.trim_start_matches([' ', '\t']).len();
        if rest[gap..].starts_with(':') {
            end += gap + 1;
        }
    }
    let slice = text.get(key.start..end).unwrap_or("");
    let indent = key.start - lines.line_start(key.start);
    let mut out = String::with_capacity(slice.len());
    for (i, line) in slice.split_inclusive('\n').enumerate() {
        if i == 0 {
            out.push_str(line);
        } else {
            let lead = line.bytes().take(indent).take_while(|b| *b == b' ').count();
            out.push_str(&line[lead..]);
        }
    }
    out
}

fn span_of(lines: &LineIndex, a: &Node, b: &Node) -> Span {
    lines.span(a.start, b.end.max(a.end))
}

/// Maps a byte range of a scalar's value to a span in the file.
fn value_span(lines: &LineIndex, offs: &[usize], a: usize, b: usize) -> Span {
    let last = offs.len().saturating_sub(1);
    let s = offs.get(a.min(last)).copied().unwrap_or(0);
    let e = if b > a { offs.get((b - 1).min(last)).map(|x| x + 1).unwrap_or(s) } else { s };
    lines.span(s, crate::yaml::floor_char(lines.text(), e.max(s)))
}

/// Stages of a detection (or meta filter) section: condition first, then one per search
/// identifier, then the aggregation if the condition has one.
fn detection_logic(
    lines: &LineIndex,
    det_key: &Node,
    det: &Node,
    skip: &[&str],
    top_timeframe: Option<&Node>,
    meta: &mut BTreeMap<String, serde_json::Value>,
    diags: &mut Vec<Diagnostic>,
) -> Logic {
    let text = lines.text();
    let mut stages = vec![Stage {
        id: 0,
        name: "condition".into(),
        kind: StageKind::Condition { expr: Expr::Const { value: false } },
        inputs: Vec::new(),
        text: String::new(),
        span: None,
    }];
    let Some(pairs) = det.as_map() else {
        let why = format!(
            "`{}` must be a map of search identifiers and a `condition`",
            det_key.as_str().unwrap_or("detection")
        );
        diags.push(Diagnostic::error("bad-detection", why.clone(), Some(span_of(lines, det_key, det))));
        stages[0].kind = StageKind::Condition { expr: Expr::Unmodeled { text: det.src(text).to_string(), why } };
        stages[0].span = Some(lines.span(det.start, det.end));
        return Logic { stages, output: 0 };
    };

    // Search identifiers, in file order.
    let mut names: Vec<(String, usize)> = Vec::new();
    for (k, v) in pairs {
        let name = k.as_str().unwrap_or("");
        if name == "condition" || name == "timeframe" || skip.contains(&name) {
            continue;
        }
        let id = stages.len();
        let expr = Lower { lines, diags }.item(k, v);
        stages.push(Stage {
            id,
            name: name.to_string(),
            kind: StageKind::Selection { expr },
            inputs: Vec::new(),
            text: item_text(text, lines, k, v),
            span: Some(span_of(lines, k, v)),
        });
        names.push((name.to_string(), id));
    }
    if names.is_empty() {
        diags.push(Diagnostic::error(
            "no-selection",
            "the detection has no search identifier (selection, filter, keywords ...)",
            Some(span_of(lines, det_key, det)),
        ));
    }

    // Time window of a legacy aggregation.
    let mut within_secs = None;
    if let Some(tf) = det.get("timeframe").or(top_timeframe) {
        match tf.text().and_then(parse_timespan) {
            Some(secs) => within_secs = Some(secs),
            None => diags.push(Diagnostic::error(
                "bad-timeframe",
                format!(
                    "`timeframe: {}` is not a time span; expected a number and a unit, e.g. 30s, 5m, 1h, 1d",
                    tf.src(text)
                ),
                Some(lines.span(tf.start, tf.end)),
            )),
        }
        if det.get("timeframe").is_some() {
            meta.insert("timeframe".into(), to_json(text, tf, 0));
        }
    }

    // The condition.
    let Some((ckey, cval)) = det.get_pair("condition") else {
        let why = "the detection has no `condition`".to_string();
        diags.push(Diagnostic::error(
            "missing-condition",
            format!("{why}; expected e.g. `condition: selection`"),
            Some(lines.span(det_key.start, det_key.end)),
        ));
        stages[0].kind = StageKind::Condition { expr: Expr::Unmodeled { text: String::new(), why } };
        stages[0].span = Some(lines.span(det_key.start, det_key.end));
        return Logic { stages, output: 0 };
    };
    let conds: Vec<&Node> = match &cval.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        _ => vec![cval],
    };
    let mut exprs = Vec::new();
    let mut pipes = Vec::new();
    let mut texts = Vec::new();
    for c in &conds {
        let Some(ctext) = c.text().filter(|_| c.is_scalar()) else {
            let why = "the condition must be a string such as `selection and not filter`".to_string();
            diags.push(Diagnostic::error(
                "bad-condition",
                why.clone(),
                Some(lines.span(c.start.min(ckey.end.max(c.start)), c.end)),
            ));
            exprs.push(Expr::Unmodeled { text: c.src(text).to_string(), why });
            continue;
        };
        texts.push(ctext.to_string());
        let offs = value_offsets(text, c);
        match cond::parse(ctext) {
            Err(e) => {
                let sp = value_span(lines, &offs, e.start, e.end.max(e.start));
                diags.push(Diagnostic::error("bad-condition", format!("invalid condition: {}", e.message), Some(sp)));
                exprs.push(Expr::Unmodeled { text: ctext.to_string(), why: e.message });
            }
            Ok(p) => {
                exprs.push(lower_cond(&p.expr, &names, lines, &offs, diags));
                if let Some(pipe) = p.pipe {
                    pipes.push((pipe, offs, ctext.to_string()));
                }
            }
        }
    }
    let expr = crate::detection::or_of(exprs);
    stages[0].kind = StageKind::Condition { expr };
    stages[0].text = texts.join("\n");
    stages[0].span = Some(lines.span(cval.start, cval.end));

    let mut output = 0;
    if !pipes.is_empty() {
        let id = stages.len();
        output = id;
        if pipes.len() > 1 || conds.len() > 1 {
            let why = "a list of conditions with aggregations is not modelled".to_string();
            diags.push(Diagnostic::warning(
                "unmodeled-aggregation",
                why.clone(),
                Some(lines.span(cval.start, cval.end)),
            ));
            stages.push(Stage {
                id,
                name: "aggregate".into(),
                kind: StageKind::Unmodeled { why },
                inputs: vec![0],
                text: String::new(),
                span: Some(lines.span(cval.start, cval.end)),
            });
        } else if let Some((pipe, offs, ctext)) = pipes.pop() {
            stages.push(aggregate_stage(lines, id, pipe, &offs, &ctext, within_secs, diags));
        }
    }
    Logic { stages, output }
}

fn aggregate_stage(
    lines: &LineIndex,
    id: usize,
    pipe: Pipe,
    offs: &[usize],
    ctext: &str,
    within_secs: Option<u64>,
    diags: &mut Vec<Diagnostic>,
) -> Stage {
    match pipe {
        Pipe::Near { text, start, end } => {
            let sp = value_span(lines, offs, start, end);
            let why = "`near` (events close in time, legacy Sigma) is not modelled; use a temporal correlation rule"
                .to_string();
            diags.push(Diagnostic::warning("unmodeled-near", why.clone(), Some(sp)));
            Stage {
                id,
                name: "aggregate".into(),
                kind: StageKind::Unmodeled { why },
                inputs: vec![0],
                text,
                span: Some(sp),
            }
        }
        Pipe::Agg(a) => {
            let sp = value_span(lines, offs, a.start, a.end);
            let alias = format!("{}({})", a.func, a.field.as_deref().unwrap_or(""));
            let atext = ctext.get(a.start..a.end).unwrap_or("").trim().to_string();
            let (op, negated) = match a.cmp {
                CmpOp::Gt => (Op::Gt, false),
                CmpOp::Ge => (Op::Ge, false),
                CmpOp::Lt => (Op::Lt, false),
                CmpOp::Le => (Op::Le, false),
                CmpOp::Eq => (Op::Eq, false),
                CmpOp::Ne => (Op::Eq, true),
            };
            let having = Expr::Pred(Predicate {
                field: Some(alias.clone()),
                op,
                values: vec![a.threshold],
                all: false,
                case_sensitive: false,
                negated,
                transforms: Vec::new(),
                flags: String::new(),
                raw: atext.clone(),
                canonical: None,
                span: Some(sp),
            });
            Stage {
                id,
                name: "aggregate".into(),
                kind: StageKind::Aggregate {
                    by: a.by,
                    aggs: vec![Agg { func: a.func, field: a.field, alias }],
                    having: Some(having),
                    within_secs,
                },
                inputs: vec![0],
                text: atext,
                span: Some(sp),
            }
        }
    }
}

fn lower_cond(
    c: &Cond,
    names: &[(String, usize)],
    lines: &LineIndex,
    offs: &[usize],
    diags: &mut Vec<Diagnostic>,
) -> Expr {
    match c {
        Cond::And(v) => Expr::And { of: v.iter().map(|x| lower_cond(x, names, lines, offs, diags)).collect() },
        Cond::Or(v) => Expr::Or { of: v.iter().map(|x| lower_cond(x, names, lines, offs, diags)).collect() },
        Cond::Not(x) => Expr::Not { expr: Box::new(lower_cond(x, names, lines, offs, diags)) },
        Cond::Ref { name, start, end } => match names.iter().rev().find(|(n, _)| n == name) {
            Some((_, id)) => Expr::Ref { stage: *id, name: name.clone() },
            None => {
                let sp = value_span(lines, offs, *start, *end);
                let known: Vec<&str> = names.iter().map(|(n, _)| n.as_str()).collect();
                let why = format!(
                    "the condition names `{name}` but the detection has no search identifier `{name}` (it has: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                );
                diags.push(Diagnostic::error("missing-selection", why.clone(), Some(sp)));
                Expr::Unmodeled { text: name.clone(), why }
            }
        },
        Cond::Quant { quant, pattern, start, end } => {
            let mut of: Vec<usize> = Vec::new();
            for (n, id) in names {
                let hit = match pattern {
                    None => !n.starts_with('_'),
                    Some(p) => cond::name_matches(p, n),
                };
                if hit && !of.contains(id) {
                    of.push(*id);
                }
            }
            let pat = pattern.clone().unwrap_or_else(|| "them".into());
            let sp = value_span(lines, offs, *start, *end);
            if of.is_empty() {
                let why = format!("`{pat}` matches no search identifier of the detection");
                diags.push(Diagnostic::error("missing-selection", why.clone(), Some(sp)));
                return Expr::Unmodeled { text: pat, why };
            }
            if let Quant::AtLeast(n) = quant {
                if *n as usize > of.len() {
                    diags.push(Diagnostic::warning(
                        "quantifier-too-large",
                        format!("`{n} of {pat}` can never hold: the pattern matches {} search identifier(s)", of.len()),
                        Some(sp),
                    ));
                }
            }
            Expr::Quant { quant: *quant, pattern: pat, of }
        }
    }
}

const KINDS: &str =
    "event_count, value_count, temporal, temporal_ordered, value_sum, value_avg, value_percentile or value_median";

fn correlation_logic(
    lines: &LineIndex,
    key: &Node,
    c: &Node,
    top_generate: Option<&Node>,
    diags: &mut Vec<Diagnostic>,
) -> Logic {
    let text = lines.text();
    let span = span_of(lines, key, c);
    let stage = |kind: StageKind| Logic {
        stages: vec![Stage {
            id: 0,
            name: "correlation".into(),
            kind,
            inputs: Vec::new(),
            text: item_text(text, lines, key, c),
            span: Some(span),
        }],
        output: 0,
    };
    let mut err =
        |code: &str, msg: String, n: &Node| diags.push(Diagnostic::error(code, msg, Some(lines.span(n.start, n.end))));

    let tnode = c.get("type");
    let kind = match tnode.and_then(|t| t.text()) {
        Some(t) => match CorrelationKind::parse(t) {
            Some(k) => k,
            None => {
                let why = format!("unknown correlation type `{t}`; expected {KINDS}");
                err("bad-correlation", why.clone(), tnode.unwrap_or(c));
                return stage(StageKind::Unmodeled { why });
            }
        },
        None => {
            let why = format!("the correlation has no `type`; expected {KINDS}");
            err("bad-correlation", why.clone(), key);
            return stage(StageKind::Unmodeled { why });
        }
    };
    let rules = str_list(c.get("rules"));
    if rules.is_empty() {
        err(
            "bad-correlation",
            "the correlation has no `rules`: expected the ids or names of the rules it correlates".into(),
            c.get("rules").unwrap_or(key),
        );
    }
    let group_by = str_list(c.get("group-by").or(c.get("group_by")));
    let temporal = matches!(kind, CorrelationKind::Temporal | CorrelationKind::TemporalOrdered);
    let mut timespan_secs = None;
    match c.get("timespan").or(c.get("timeframe")) {
        Some(t) => match t.text().and_then(parse_timespan) {
            Some(s) => timespan_secs = Some(s),
            None => err(
                "bad-timespan",
                format!("`{}` is not a time span; expected a number and a unit, e.g. 30s, 5m, 1h, 1d", t.src(text)),
                t,
            ),
        },
        None => err("bad-correlation", "the correlation has no `timespan` (e.g. `timespan: 1h`)".into(), key),
    }
    let mut condition = Vec::new();
    let mut field = None;
    match c.get("condition") {
        Some(cn) => match cn.as_map() {
            Some(pairs) => {
                for (k, v) in pairs {
                    let name = k.as_str().unwrap_or("");
                    let op = match name {
                        "gt" => Some(CmpOp::Gt),
                        "gte" => Some(CmpOp::Ge),
                        "lt" => Some(CmpOp::Lt),
                        "lte" => Some(CmpOp::Le),
                        "eq" => Some(CmpOp::Eq),
                        "neq" => Some(CmpOp::Ne),
                        "field" => {
                            field = v.text().map(str::to_string);
                            if field.is_none() {
                                err("bad-correlation", "`field` must name a field".into(), v);
                            }
                            None
                        }
                        _ => {
                            err("bad-correlation", format!("unknown correlation condition `{name}`; expected gt, gte, lt, lte, eq, neq or field"), k);
                            None
                        }
                    };
                    if let Some(op) = op {
                        let n = match v.value() {
                            Some(Value::Int(i)) => Some(i as f64),
                            Some(Value::Float(f)) => Some(f),
                            Some(Value::Str(s)) => s.trim().parse::<f64>().ok(),
                            _ => None,
                        };
                        match n {
                            Some(n) => condition.push((op, n)),
                            None => err("bad-correlation", format!("`{name}: {}` needs a number", v.src(text)), v),
                        }
                    }
                }
            }
            None => err("bad-correlation", "the correlation `condition` must be a map such as `gte: 10`".into(), cn),
        },
        None if !temporal => {
            err("bad-correlation", "the correlation has no `condition` (e.g. `condition: {gte: 10}`)".into(), key)
        }
        None => {}
    }
    if field.is_none()
        && matches!(
            kind,
            CorrelationKind::ValueCount
                | CorrelationKind::ValueSum
                | CorrelationKind::ValueAvg
                | CorrelationKind::ValuePercentile
                | CorrelationKind::ValueMedian
        )
    {
        if let Some(cn) = c.get("condition") {
            err("bad-correlation", "a value_* correlation needs `field` in its condition".into(), cn);
        }
    }
    let mut aliases = BTreeMap::new();
    if let Some(a) = c.get("aliases") {
        match a.as_map() {
            Some(pairs) => {
                for (k, v) in pairs {
                    let mut per_rule = BTreeMap::new();
                    match v.as_map() {
                        Some(rp) => {
                            for (r, f) in rp {
                                if let (Some(r), Some(f)) = (r.as_str(), f.text()) {
                                    per_rule.insert(r.to_string(), f.to_string());
                                }
                            }
                        }
                        None => err("bad-correlation", "an alias maps rule names to field names".into(), v),
                    }
                    aliases.insert(k.as_str().unwrap_or("").to_string(), per_rule);
                }
            }
            None => err("bad-correlation", "`aliases` must be a map of alias -> rule -> field".into(), a),
        }
    }
    let generate = match c.get("generate").or(top_generate).map(|g| (g, g.value())) {
        Some((_, Some(Value::Bool(b)))) => b,
        Some((_, Some(Value::Null))) | None => false,
        Some((g, _)) => {
            err("bad-correlation", "`generate` must be true or false".into(), g);
            false
        }
    };
    stage(StageKind::Correlation(Correlation {
        kind,
        rules,
        group_by,
        timespan_secs,
        condition,
        field,
        aliases,
        generate,
    }))
}
