//! The syntax tree → `ir::Logic`: one or more stages per command, chained by their inputs;
//! subsearches are stages of their own, inputs of the stage that uses them.
//!
//! Predicates of the search world compare case-insensitively and read wildcards: `x` is `eq`,
//! `*x*` `contains`, `x*` `startswith`, `*x` `endswith`, other patterns `wildcard`, `*` alone
//! `exists`; `x!=v` is `x` exists and a negated predicate (`NOT x=v` also keeps events without
//! `x`); a bare term is a `contains` on no field. In the eval
//! world (`where`) `=`/`==`/`!=` compare case-sensitively, `like` patterns become wildcards,
//! `match()` a regex, `isnull`/`isnotnull` `exists`, `lower(x)`/`upper(x)` = "v" a
//! case-insensitive predicate on `x`, `cidrmatch` a `cidr`. What cannot be modelled becomes
//! `Expr::Unmodeled` with the reason.

use ir::{LineIndex, 
    Agg, Diagnostic, Expr, Logic, Op, Predicate, SortKey, Stage, StageKind, Telemetry, Value,
};

use crate::ast::{self, Arg, Body, Command, Eval, Lit, Parsed, Pipeline, Search};

#[derive(Debug, Clone, Default)]
pub struct Lowered {
    pub logic: Logic,
    /// Data model nodes read (`Endpoint.Processes`).
    pub models: Vec<String>,
    /// Fields the search groups by or keeps at the end.
    pub outputs: Vec<String>,
    /// Filters applied after an aggregation (`| where count > 5`), as written.
    pub post_aggregation: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses and lowers an (expanded) search. Spans are relative to `search`.
pub fn lower(search: &str) -> Lowered {
    lower_parsed(&crate::parser::parse(search), search)
}

pub fn lower_parsed(parsed: &Parsed, src: &str) -> Lowered {
    let mut cx = Cx {
        src,
        lines: LineIndex::new(src),
        out: Lowered::default(),
    };
    for e in &parsed.errors {
        let d = Diagnostic::error("spl-syntax", e.message.clone(), Some(cx.span(e.span)));
        cx.out.diagnostics.push(d);
    }
    for n in &parsed.notes {
        let d = Diagnostic {
            severity: ir::Severity::Info,
            code: "spl-lenient".into(),
            message: n.message.clone(),
            span: Some(cx.span(n.span)),
        };
        cx.out.diagnostics.push(d);
    }
    let out = cx.pipeline(&parsed.pipeline, None, true);
    cx.out.logic.output = out.unwrap_or(0);
    cx.out
}

struct Cx<'a> {
    src: &'a str,
    lines: LineIndex<'a>,
    out: Lowered,
}

fn pred(
    field: Option<&str>,
    op: Op,
    values: Vec<Value>,
    cased: bool,
    negated: bool,
    raw: &str,
    span: Option<ir::Span>,
) -> Predicate {
    Predicate {
        field: field.map(str::to_string),
        op,
        values,
        all: false,
        case_sensitive: cased,
        negated,
        transforms: Vec::new(),
        flags: String::new(),
        raw: raw.trim().to_string(),
        canonical: None,
        span,
    }
}

fn literal(v: &str) -> Value {
    match v.parse::<i64>() {
        Ok(i) if !v.starts_with('0') || v == "0" => Value::Int(i),
        _ => match v.parse::<f64>() {
            Ok(f)
                if v.contains('.')
                    && !v.starts_with('.')
                    && !v.ends_with('.')
                    && v.matches('.').count() == 1 =>
            {
                Value::Float(f)
            }
            _ => Value::Str(v.into()),
        },
    }
}

/// The operator a search-world value's wildcards give, and the value without them.
fn wildcard_op(value: &str) -> (Op, Value) {
    let stars = value.matches('*').count();
    let inner = value.trim_matches('*');
    if value == "*" {
        (Op::Exists, Value::Bool(true))
    } else if stars == 0 {
        (Op::Eq, literal(value))
    } else if stars == 2 && value.starts_with('*') && value.ends_with('*') && !inner.contains('*') {
        (Op::Contains, Value::Str(inner.into()))
    } else if stars == 1 && value.ends_with('*') {
        (Op::StartsWith, Value::Str(inner.into()))
    } else if stars == 1 && value.starts_with('*') {
        (Op::EndsWith, Value::Str(inner.into()))
    } else {
        (Op::Wildcard, Value::Str(value.into()))
    }
}

fn and(mut v: Vec<Expr>) -> Expr {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Expr::And { of: v }
    }
}

fn or(mut v: Vec<Expr>) -> Expr {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Expr::Or { of: v }
    }
}

/// Values of one `IN` list: one predicate per operator (values of the same kind together).
fn merge_any(preds: Vec<Predicate>) -> Expr {
    let mut groups: Vec<Predicate> = Vec::new();
    for p in preds {
        match groups
            .iter_mut()
            .find(|g| g.op == p.op && g.negated == p.negated)
        {
            Some(g) => g.values.extend(p.values),
            None => groups.push(p),
        }
    }
    or(groups.into_iter().map(Expr::Pred).collect())
}

fn flip(op: &str) -> &str {
    match op {
        "<" => ">",
        "<=" => ">=",
        ">" => "<",
        ">=" => "<=",
        o => o,
    }
}

fn cmp_op(op: &str) -> Option<(Op, bool)> {
    Some(match op {
        "=" | "==" => (Op::Eq, false),
        "!=" => (Op::Eq, true),
        "<" => (Op::Lt, false),
        "<=" => (Op::Le, false),
        ">" => (Op::Gt, false),
        ">=" => (Op::Ge, false),
        _ => return None,
    })
}

impl<'a> Cx<'a> {
    fn span(&self, s: ast::Span) -> ir::Span {
        self.lines.span(s.start, s.end)
    }

    fn text(&self, s: ast::Span) -> &'a str {
        self.src.get(s.start..s.end).unwrap_or("")
    }

    fn push(&mut self, name: &str, kind: StageKind, inputs: Vec<usize>, span: ast::Span) -> usize {
        let id = self.out.logic.stages.len();
        let text = self.text(span).trim().to_string();
        self.out.logic.stages.push(Stage {
            id,
            name: name.to_string(),
            kind,
            inputs,
            text,
            span: Some(self.span(span)),
        });
        id
    }

    /// Lowers a pipeline reading from `input`; returns its last stage. `main`: the detection's
    /// own pipeline (its outputs and models are the rule's).
    fn pipeline(&mut self, pl: &Pipeline, input: Option<usize>, main: bool) -> Option<usize> {
        let mut prev = input;
        let mut aggregated = false;
        for cmd in &pl.commands {
            let before = self.out.logic.stages.len();
            prev = self.command(cmd, prev, main);
            let added = &self.out.logic.stages[before..];
            if aggregated
                && added
                    .iter()
                    .any(|s| matches!(s.kind, StageKind::Filter { .. }))
                && main
            {
                self.out
                    .post_aggregation
                    .push(self.text(cmd.span).trim().to_string());
            }
            if added.iter().any(|s| {
                matches!(s.kind, StageKind::Aggregate { .. })
                    && !matches!(s.name.as_str(), "eventstats" | "streamstats")
            }) {
                aggregated = true;
            }
        }
        prev
    }

    fn command(&mut self, cmd: &Command, prev: Option<usize>, main: bool) -> Option<usize> {
        let inputs = |p: Option<usize>| p.into_iter().collect::<Vec<_>>();
        let name = cmd.name.as_str();
        let span = cmd.span;
        match &cmd.body {
            Body::Search(None) => prev,
            Body::Search(Some(s)) => {
                let mut subs = Vec::new();
                let expr = self.search(s, &mut subs);
                let mut ins = inputs(prev);
                ins.extend(subs);
                Some(self.push(name, StageKind::Filter { expr }, ins, span))
            }
            Body::Where(e) => {
                let expr = self.cond(e);
                Some(self.push(name, StageKind::Filter { expr }, inputs(prev), span))
            }
            Body::Eval(assigns) => {
                let fields = assigns.iter().map(|(f, _)| f.text.clone()).collect();
                Some(self.push(name, StageKind::Extend { fields }, inputs(prev), span))
            }
            Body::Tstats {
                aggs,
                model,
                filter,
                by,
                ..
            } => {
                let mut prev = prev;
                if let Some(m) = model {
                    if main {
                        self.out.models.push(m.text.clone());
                    }
                    let kind = StageKind::Source {
                        telemetry: vec![Telemetry::DataModel {
                            node: m.text.clone(),
                        }],
                    };
                    prev = Some(self.push("source", kind, inputs(prev), m.span));
                }
                if let Some(f) = filter {
                    let mut subs = Vec::new();
                    let expr = self.search(f, &mut subs);
                    let mut ins = inputs(prev);
                    ins.extend(subs);
                    prev = Some(self.push(name, StageKind::Filter { expr }, ins, f.span()));
                }
                let by: Vec<String> = by.iter().map(|f| f.field.text.clone()).collect();
                if main {
                    self.out.outputs = by.clone();
                }
                // The aggregation's own text: its aggregates and `by` fields.
                let mut text: Vec<&str> = aggs.iter().map(|a| self.text(a.span)).collect();
                if !by.is_empty() {
                    text.push("by");
                    text.extend(by.iter().map(String::as_str));
                }
                let text = text.join(" ");
                let kind = StageKind::Aggregate {
                    by: by.clone(),
                    aggs: self.aggs(aggs),
                    having: None,
                    within_secs: None,
                };
                let id = self.push(name, kind, inputs(prev), span);
                self.out.logic.stages[id].text = text;
                Some(id)
            }
            Body::Stats { aggs, by, .. } => {
                let by: Vec<String> = by.iter().map(|f| f.field.text.clone()).collect();
                if main && name == "stats" {
                    self.out.outputs = by.clone();
                }
                let kind = StageKind::Aggregate {
                    by,
                    aggs: self.aggs(aggs),
                    having: None,
                    within_secs: None,
                };
                Some(self.push(name, kind, inputs(prev), span))
            }
            Body::Rename(pairs) => {
                let fields = pairs
                    .iter()
                    .map(|(from, to)| (to.text.clone(), from.text.clone()))
                    .collect();
                Some(self.push(name, StageKind::Rename { fields }, inputs(prev), span))
            }
            Body::Fields { remove, fields } => {
                let fields: Vec<String> = fields.iter().map(|f| f.text.clone()).collect();
                if main && name == "table" {
                    self.out.outputs = fields.clone();
                }
                let kind = if *remove {
                    StageKind::ProjectAway { fields }
                } else {
                    StageKind::Project { fields }
                };
                Some(self.push(name, kind, inputs(prev), span))
            }
            Body::Lookup {
                inputs: keys,
                output,
                ..
            } => {
                let on = keys
                    .iter()
                    .map(|k| {
                        (
                            k.alias.as_ref().unwrap_or(&k.field).text.clone(),
                            k.field.text.clone(),
                        )
                    })
                    .collect();
                let mode = output
                    .clone()
                    .unwrap_or_else(|| "OUTPUT".into())
                    .to_ascii_lowercase();
                Some(self.push(name, StageKind::Lookup { mode, on }, inputs(prev), span))
            }
            Body::InputLookup { filter, .. } => {
                let mut prev = Some(self.push(
                    name,
                    StageKind::Operator {
                        op: "inputlookup".into(),
                    },
                    inputs(prev),
                    span,
                ));
                if let Some(f) = filter {
                    let mut subs = Vec::new();
                    let expr = self.search(f, &mut subs);
                    let mut ins = inputs(prev);
                    ins.extend(subs);
                    prev = Some(self.push(name, StageKind::Filter { expr }, ins, span));
                }
                prev
            }
            Body::Rex { opts, regex } => {
                let field = opt(opts, "field").unwrap_or("_raw").to_string();
                let mode = opt(opts, "mode").unwrap_or("regex").to_string();
                let outputs = regex
                    .as_ref()
                    .map(|r| named_groups(&r.text))
                    .unwrap_or_default();
                Some(self.push(
                    name,
                    StageKind::Parse {
                        field,
                        outputs,
                        mode: Some(mode),
                    },
                    inputs(prev),
                    span,
                ))
            }
            Body::Regex {
                field,
                negated,
                regex,
            } => {
                let f = field.as_ref().map(|f| f.text.as_str()).unwrap_or("_raw");
                let re = regex.as_ref().map(|r| r.text.clone()).unwrap_or_default();
                let p = pred(
                    Some(f),
                    Op::Regex,
                    vec![Value::Str(re)],
                    true,
                    *negated,
                    self.text(span),
                    Some(self.span(span)),
                );
                Some(self.push(
                    name,
                    StageKind::Filter {
                        expr: Expr::Pred(p),
                    },
                    inputs(prev),
                    span,
                ))
            }
            Body::Join { opts, fields, sub } => {
                let right = sub.as_ref().and_then(|s| self.pipeline(s, None, false));
                let mode = opt(opts, "type").map(str::to_ascii_lowercase);
                let on = fields
                    .iter()
                    .map(|f| (f.text.clone(), f.text.clone()))
                    .collect();
                let kind = StageKind::Join {
                    implicit_mode: mode.is_none(),
                    mode: mode.unwrap_or_else(|| "inner".into()),
                    on,
                    hints: Vec::new(),
                };
                let mut ins = inputs(prev);
                ins.extend(right);
                Some(self.push(name, kind, ins, span))
            }
            Body::Sub { sub, .. } if name == "foreach" => {
                let _ = sub;
                Some(self.push(
                    name,
                    StageKind::Operator { op: name.into() },
                    inputs(prev),
                    span,
                ))
            }
            Body::Sub { sub, .. } => {
                // appendpipe runs its subsearch on the current rows; the others on their own.
                let sub_input = if name == "appendpipe" { prev } else { None };
                let right = sub
                    .as_ref()
                    .and_then(|s| self.pipeline(s, sub_input, false));
                let mut ins = inputs(prev);
                ins.extend(right);
                Some(self.push(
                    name,
                    StageKind::Union {
                        fuzzy: false,
                        withsource: None,
                    },
                    ins,
                    span,
                ))
            }
            Body::MvExpand { field, .. } => {
                let fields = field.iter().map(|f| f.text.clone()).collect();
                Some(self.push(name, StageKind::MvExpand { fields }, inputs(prev), span))
            }
            Body::Fielded {
                count,
                opts,
                fields,
                ..
            } => {
                let names: Vec<String> = fields.iter().map(|f| f.text.clone()).collect();
                let kind = match name {
                    "dedup" => StageKind::Distinct { fields: names },
                    "sort" => StageKind::Sort {
                        by: names
                            .iter()
                            .filter(|f| !matches!(f.as_str(), "-" | "+" | "desc" | "d"))
                            .map(|f| SortKey {
                                field: f.trim_start_matches(['-', '+']).to_string(),
                                desc: f.starts_with('-'),
                            })
                            .collect(),
                    },
                    "head" | "tail" => StageKind::Take {
                        count: count
                            .or_else(|| opt(opts, "limit").and_then(|v| v.parse().ok()))
                            .or(Some(10)),
                        by: Vec::new(),
                    },
                    "top" | "rare" => StageKind::Aggregate {
                        by: names,
                        aggs: vec![Agg {
                            func: "count".into(),
                            field: None,
                            alias: "count".into(),
                        }],
                        having: None,
                        within_secs: None,
                    },
                    "spath" => StageKind::Parse {
                        field: opt(opts, "input").unwrap_or("_raw").to_string(),
                        outputs: opt(opts, "output")
                            .into_iter()
                            .map(str::to_string)
                            .collect(),
                        mode: Some("spath".into()),
                    },
                    _ => StageKind::Operator { op: name.into() },
                };
                Some(self.push(name, kind, inputs(prev), span))
            }
            Body::Bin { .. } => Some(self.push(
                name,
                StageKind::Operator { op: name.into() },
                inputs(prev),
                span,
            )),
            Body::Generic(args) => {
                let mut ins = inputs(prev);
                self.generic_subs(args, &mut ins);
                let op = if name.is_empty() {
                    "unknown".to_string()
                } else {
                    name.to_string()
                };
                Some(self.push(
                    if name.is_empty() { "unknown" } else { name },
                    StageKind::Operator { op },
                    ins,
                    span,
                ))
            }
        }
    }

    fn generic_subs(&mut self, args: &[Arg], ins: &mut Vec<usize>) {
        for a in args {
            match a {
                Arg::Sub(pl) => ins.extend(self.pipeline(pl, None, false)),
                Arg::Group(inner, _) => self.generic_subs(inner, ins),
                _ => {}
            }
        }
    }

    fn aggs(&self, aggs: &[ast::AggCall]) -> Vec<Agg> {
        aggs.iter()
            .map(|a| {
                let alias = a
                    .alias
                    .as_ref()
                    .map(|l| l.text.clone())
                    .unwrap_or_else(|| self.text(a.span).to_string());
                Agg {
                    func: a.func.to_ascii_lowercase(),
                    field: a.arg.as_ref().map(|l| l.text.clone()),
                    alias,
                }
            })
            .collect()
    }

    fn search_pred(
        &self,
        field: Option<&Lit>,
        value: &Lit,
        negated: bool,
        span: ast::Span,
    ) -> Predicate {
        let (op, v) = wildcard_op(&value.text);
        // A bare term matches anywhere in the event's text.
        let op = if field.is_none() && op == Op::Eq {
            Op::Contains
        } else {
            op
        };
        let v = if field.is_none() {
            Value::Str(value.text.trim_matches('*').to_string())
        } else {
            v
        };
        pred(
            field.map(|f| f.text.as_str()),
            op,
            vec![v],
            false,
            negated,
            self.text(span),
            Some(self.span(span)),
        )
    }

    /// The search world → `Expr`; subsearches are lowered as stages whose ids go to `subs`.
    fn search(&mut self, s: &Search, subs: &mut Vec<usize>) -> Expr {
        match s {
            Search::And(v) => and(v.iter().map(|x| self.search(x, subs)).collect()),
            Search::Or(v) => or(v.iter().map(|x| self.search(x, subs)).collect()),
            Search::Group(e, _) => self.search(e, subs),
            Search::Not(e, _) => Expr::Not {
                expr: Box::new(self.search(e, subs)),
            },
            Search::Cmp {
                field,
                op,
                value,
                span,
            } => match op.as_str() {
                "=" => Expr::Pred(self.search_pred(Some(field), value, false, *span)),
                // `x!=v` keeps only events that have `x` (unlike `NOT x=v`).
                "!=" => and(vec![
                    Expr::Pred(pred(Some(&field.text), Op::Exists, vec![Value::Bool(true)], false, false, self.text(*span), Some(self.span(*span)))),
                    Expr::Pred(self.search_pred(Some(field), value, true, *span)),
                ]),
                o => {
                    let (op, _) = cmp_op(o).expect("a comparison");
                    Expr::Pred(pred(
                        Some(&field.text),
                        op,
                        vec![literal(&value.text)],
                        false,
                        false,
                        self.text(*span),
                        Some(self.span(*span)),
                    ))
                }
            },
            Search::CmpCall { span, .. } => Expr::Unmodeled {
                text: self.text(*span).to_string(),
                why: "compares with a function's result".into(),
            },
            Search::In {
                field,
                values,
                span,
            } => merge_any(
                values
                    .iter()
                    .map(|v| self.search_pred(Some(field), v, false, *span))
                    .collect(),
            ),
            Search::Term(l) => Expr::Pred(self.search_pred(None, l, false, l.span)),
            Search::Call { name, args, span } => {
                match (name.to_ascii_uppercase().as_str(), args.as_slice()) {
                    ("TERM" | "CASE", [x]) => {
                        let mut p = self.search_pred(None, x, false, *span);
                        p.case_sensitive = name.eq_ignore_ascii_case("CASE");
                        Expr::Pred(p)
                    }
                    _ => Expr::Unmodeled {
                        text: self.text(*span).to_string(),
                        why: format!("the `{name}` search function is not modelled"),
                    },
                }
            }
            Search::Sub(pl) => {
                let out = self.pipeline(pl, None, false);
                subs.extend(out);
                let why = match out {
                    Some(id) => format!("the result of a subsearch (stage {id})"),
                    None => "the result of an empty subsearch".into(),
                };
                Expr::Unmodeled {
                    text: self.text(pl.span).to_string(),
                    why,
                }
            }
        }
    }

    /// The eval world as a condition.
    fn cond(&mut self, e: &Eval) -> Expr {
        let unmodeled = |why: &str| Expr::Unmodeled {
            text: self.text(e.span()).to_string(),
            why: why.into(),
        };
        match e {
            Eval::Binary {
                op, left, right, ..
            } if op.eq_ignore_ascii_case("AND") => and(vec![self.cond(left), self.cond(right)]),
            Eval::Binary {
                op, left, right, ..
            } if op.eq_ignore_ascii_case("OR") => or(vec![self.cond(left), self.cond(right)]),
            Eval::Unary { op, expr, .. } if op == "NOT" => Expr::Not {
                expr: Box::new(self.cond(expr)),
            },
            Eval::Binary {
                op,
                left,
                right,
                span,
            } if op == "LIKE" => match (&**left, &**right) {
                (Eval::Field(f, _), Eval::Str(pat, _)) => self.like(f, pat, *span),
                _ => unmodeled("`LIKE` on something other than a field and a pattern"),
            },
            Eval::Binary {
                op,
                left,
                right,
                span,
            } => {
                let Some((o, negated)) = cmp_op(op) else {
                    return unmodeled("an arithmetic expression used as a condition");
                };
                let (field, value, op_text, cased) = match (&**left, &**right) {
                    (f, v @ (Eval::Str(..) | Eval::Num(..))) => (f, v, op.as_str(), true),
                    (v @ (Eval::Str(..) | Eval::Num(..)), f) => (f, v, flip(op), true),
                    (Eval::Field(..), Eval::Field(..)) => return unmodeled("compares two fields"),
                    _ => return unmodeled("compares computed values"),
                };
                let (o, negated) = if op_text == op {
                    (o, negated)
                } else {
                    cmp_op(op_text).unwrap_or((o, negated))
                };
                // `lower(x)="v"` / `upper(x)="V"`: a case-insensitive test of x.
                let (field, cased) = match field {
                    Eval::Field(f, _) => (f.clone(), cased),
                    Eval::Call { name, args, .. }
                        if matches!(name.to_ascii_lowercase().as_str(), "lower" | "upper")
                            && matches!(args.as_slice(), [Eval::Field(..)]) =>
                    {
                        let Eval::Field(f, _) = &args[0] else {
                            unreachable!()
                        };
                        (f.clone(), false)
                    }
                    _ => return unmodeled("compares a computed value"),
                };
                let v = match value {
                    Eval::Str(s, _) => Value::Str(s.clone()),
                    Eval::Num(n, _) => literal(n),
                    _ => unreachable!("matched above"),
                };
                let cased = cased && matches!(v, Value::Str(_));
                let raw = self.text(*span);
                let at = Some(self.span(*span));
                let test = Expr::Pred(pred(Some(&field), o, vec![v], cased, negated, raw, at));
                if negated {
                    // A comparison with a missing field is null, which `where` drops.
                    and(vec![Expr::Pred(pred(Some(&field), Op::Exists, vec![Value::Bool(true)], false, false, raw, at)), test])
                } else {
                    test
                }
            }
            Eval::In { expr, list, span } => match &**expr {
                Eval::Field(f, _)
                    if list
                        .iter()
                        .all(|v| matches!(v, Eval::Str(..) | Eval::Num(..))) =>
                {
                    let vals = list
                        .iter()
                        .map(|v| match v {
                            Eval::Str(s, _) => Value::Str(s.clone()),
                            Eval::Num(n, _) => literal(n),
                            _ => unreachable!(),
                        })
                        .collect();
                    Expr::Pred(pred(
                        Some(f),
                        Op::Eq,
                        vals,
                        true,
                        false,
                        self.text(*span),
                        Some(self.span(*span)),
                    ))
                }
                _ => unmodeled("`IN` with computed values"),
            },
            Eval::Call { name, args, span } => self.call(name, args, *span),
            Eval::Field(..) => unmodeled("a bare field in a condition"),
            Eval::Bad(_) => unmodeled("not read (a syntax error)"),
            _ => unmodeled("not a condition"),
        }
    }

    fn like(&self, field: &str, pat: &str, span: ast::Span) -> Expr {
        let glob = pat.replace('%', "*").replace('_', "?");
        let (op, v) = wildcard_op(&glob);
        let p = pred(
            Some(field),
            op,
            vec![v],
            true,
            false,
            self.text(span),
            Some(self.span(span)),
        );
        Expr::Pred(p)
    }

    fn call(&mut self, name: &str, args: &[Eval], span: ast::Span) -> Expr {
        let raw = self.text(span);
        let sp = Some(self.span(span));
        let leaf = |f: &str, op: Op, v: Value, cased: bool, negated: bool| Expr::Pred(pred(Some(f), op, vec![v], cased, negated, raw, sp));
        match (name.to_ascii_lowercase().as_str(), args) {
            ("like", [Eval::Field(f, _), Eval::Str(pat, _)]) => self.like(f, pat, span),
            ("match", [Eval::Field(f, _), Eval::Str(re, _)]) => leaf(f, Op::Regex, Value::Str(re.clone()), true, false),
            ("isnotnull", [Eval::Field(f, _)]) => leaf(f, Op::Exists, Value::Bool(true), false, false),
            ("isnull", [Eval::Field(f, _)]) => leaf(f, Op::Exists, Value::Bool(true), false, true),
            ("cidrmatch", [Eval::Str(cidr, _), Eval::Field(f, _)]) => leaf(f, Op::Cidr, Value::Str(cidr.clone()), false, false),
            ("true", []) => Expr::Const { value: true },
            ("false", []) => Expr::Const { value: false },
            ("searchmatch", [Eval::Str(s, _)]) => {
                // The argument is a search of its own: read it as one.
                let inner = crate::parser::parse(s);
                match (&inner.pipeline.commands.as_slice(), inner.errors.is_empty()) {
                    (
                        [Command {
                            body: Body::Search(Some(q)),
                            ..
                        }],
                        true,
                    ) => {
                        let mut sub = Cx {
                            src: s,
                            lines: LineIndex::new(s),
                            out: Lowered::default(),
                        };
                        let mut subs = Vec::new();
                        let mut e = sub.search(q, &mut subs);
                        clear_spans(&mut e);
                        if subs.is_empty() {
                            e
                        } else {
                            Expr::Unmodeled {
                                text: raw.to_string(),
                                why: "searchmatch with a subsearch".into(),
                            }
                        }
                    }
                    _ => Expr::Unmodeled {
                        text: raw.to_string(),
                        why: "searchmatch of a search that does not parse".into(),
                    },
                }
            }
            _ => Expr::Unmodeled {
                text: raw.to_string(),
                why: format!("the `{name}` function is not modelled as a condition"),
            },
        }
    }
}

/// Spans of a search read from inside a string point into that string, not the search.
fn clear_spans(e: &mut Expr) {
    let mut v = Vec::new();
    e.collect_predicates_mut(&mut v);
    for p in v {
        p.span = None;
    }
}

fn opt<'o>(opts: &'o [ast::Opt], key: &str) -> Option<&'o str> {
    opts.iter()
        .find(|o| o.key.eq_ignore_ascii_case(key))
        .map(|o| o.value.text.as_str())
}

/// `(?<name>...)` / `(?P<name>...)` groups of a regex.
fn named_groups(re: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = re;
    while let Some(i) = rest.find("(?") {
        rest = &rest[i + 2..];
        let r = rest.strip_prefix('P').unwrap_or(rest);
        if let Some(r) = r.strip_prefix('<') {
            if let Some(end) = r.find('>') {
                let name = &r[..end];
                if !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    out.push(name.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(l: &Lowered, stage: usize) -> Vec<(String, Op, Vec<String>, bool)> {
        l.logic.stages[stage]
            .predicates()
            .iter()
            .map(|p| {
                (
                    p.field.clone().unwrap_or_default(),
                    p.op,
                    p.values.iter().map(Value::text).collect(),
                    p.negated,
                )
            })
            .collect()
    }

    #[test]
    fn tstats_search_where_stats() {
        let l = lower("| tstats summariesonly=true count min(_time) as firstTime from datamodel=Endpoint.Processes where Processes.process_name=cmd.exe (Processes.process=\"*whoami*\" OR Processes.process=\"*net user*\") by Processes.dest Processes.user | rename Processes.* as * | where count > 5 | search *");
        assert_eq!(l.models, ["Endpoint.Processes"]);
        let kinds: Vec<&str> = l.logic.stages.iter().map(|s| s.kind.name()).collect();
        assert_eq!(kinds, ["source", "filter", "aggregate", "rename", "filter"]);
        assert_eq!(preds(&l, 1).len(), 3);
        assert_eq!(l.outputs, ["Processes.dest", "Processes.user"]);
        assert!(l.diagnostics.is_empty(), "{:?}", l.diagnostics);
        assert_eq!(l.post_aggregation, ["where count > 5"]);
        // The predicate's span points at its text.
        let p = l.logic.stages[1].predicates()[0].span.unwrap();
        let src = "| tstats summariesonly=true count min(_time) as firstTime from datamodel=Endpoint.Processes where ";
        assert_eq!(
            (p.line, p.col, p.end - p.start),
            (
                1,
                src.len() as u32 + 1,
                "Processes.process_name=cmd.exe".len()
            )
        );
        let StageKind::Rename { fields } = &l.logic.stages[3].kind else {
            panic!()
        };
        assert_eq!(fields[0], ("*".to_string(), "Processes.*".to_string()));
    }

    #[test]
    fn search_and_where_predicates() {
        let l = lower("index=x a=1 b=x OR c=\"*y*\" NOT d=z* e IN (\"*.exe\", \"*.dll\", f) g!=2 | where like(p, \"%.ps1\") AND lower(u)=\"admin\" AND 5 < n AND isnull(q) AND match(r, \"^a\") AND s IN (\"x\", \"y\")");
        let p = preds(&l, 0);
        assert_eq!(p[1], ("a".into(), Op::Eq, vec!["1".into()], false));
        assert_eq!(p[3], ("c".into(), Op::Contains, vec!["y".into()], false));
        assert_eq!(p[4], ("d".into(), Op::StartsWith, vec!["z".into()], false));
        assert_eq!(
            p[5],
            (
                "e".into(),
                Op::EndsWith,
                vec![".exe".into(), ".dll".into()],
                false
            )
        );
        assert_eq!(p[6], ("e".into(), Op::Eq, vec!["f".into()], false));
        // `g!=2`: g exists, and is not 2.
        assert_eq!(p[7], ("g".into(), Op::Exists, vec!["true".into()], false));
        assert_eq!(p[8], ("g".into(), Op::Eq, vec!["2".into()], true));
        let w = &l.logic.stages[1].predicates();
        assert_eq!(
            (w[0].op, w[0].values[0].text(), w[0].case_sensitive),
            (Op::EndsWith, ".ps1".to_string(), true)
        );
        assert_eq!(
            (w[1].field.as_deref(), w[1].case_sensitive),
            (Some("u"), false)
        );
        assert_eq!((w[2].field.as_deref(), w[2].op), (Some("n"), Op::Gt));
        assert_eq!((w[3].op, w[3].negated), (Op::Exists, true));
        assert_eq!(w[4].op, Op::Regex);
        assert_eq!(w[5].values.len(), 2);
    }

    #[test]
    fn not_equal_needs_the_field() {
        // `x!=v` (both worlds) keeps only events with `x`; `NOT x=v` keeps the others too.
        for src in ["search x!=a", "| where x!=\"a\""] {
            let l = lower(src);
            assert_eq!(preds(&l, 0).iter().map(|p| (p.1, p.3)).collect::<Vec<_>>(), [(Op::Exists, false), (Op::Eq, true)], "{src}");
        }
        let l = lower("search NOT x=a");
        assert!(matches!(&l.logic.stages[0].kind, StageKind::Filter { expr: Expr::Not { .. } }));
        assert_eq!(preds(&l, 0).len(), 1);
    }

    #[test]
    fn subsearches_are_stages() {
        let l = lower("index=x [| inputlookup bad.csv | fields host] | join type=outer host [search index=y | stats count by host] | append [| makeresults] | appendpipe [stats count]");
        let names: Vec<(&str, &str, Vec<usize>)> = l
            .logic
            .stages
            .iter()
            .map(|s| (s.name.as_str(), s.kind.name(), s.inputs.clone()))
            .collect();
        assert_eq!(
            names,
            [
                ("inputlookup", "operator", vec![]),
                ("fields", "project", vec![0]),
                ("search", "filter", vec![1]),
                ("search", "filter", vec![]),
                ("stats", "aggregate", vec![3]),
                ("join", "join", vec![2, 4]),
                ("makeresults", "operator", vec![]),
                ("append", "union", vec![5, 6]),
                ("stats", "aggregate", vec![7]),
                ("appendpipe", "union", vec![7, 8]),
            ]
        );
        assert_eq!(l.logic.output, 9);
        let StageKind::Join { mode, .. } = &l.logic.stages[5].kind else {
            panic!()
        };
        assert_eq!(mode, "outer");
    }

    #[test]
    fn errors_become_located_diagnostics() {
        let l = lower("| tstats count where a=1\n  (b=2 | rename x");
        let d: Vec<(u32, u32, &str)> = l
            .diagnostics
            .iter()
            .map(|d| (d.span.unwrap().line, d.span.unwrap().col, d.code.as_str()))
            .collect();
        assert!(
            d.contains(&(2, 3, "spl-syntax")),
            "{d:?} {:?}",
            l.diagnostics
        );
        assert!(d.iter().any(|x| x.0 == 2 && x.1 > 3), "{d:?}");
    }
}
