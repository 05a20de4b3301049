//! Lowering the syntax tree into the `ir` model: one stage per `let`, per pipeline source and
//! per operator, wired by `inputs` into a dataflow graph; `where` conditions become predicates.
//!
//! Modelling choices (see also the crate docs):
//! - `has` is `token`; `hasprefix`/`hassuffix` are `token` with the transform `prefix`/`suffix`
//!   (a term of the field starts/ends with the value); `:` is `has`.
//! - Values that are not literals but constant expressions (`ago(1d)`, `now()`, a `let` bound to
//!   one) are kept as their text with the transform `expr`; timespan and datetime literals are
//!   text with the transform `timespan`/`datetime`.
//! - A comparison with another column is `fieldref` (equality forms only); a comparison whose
//!   left side is not a plain column keeps the expression text as the field.
//! - Whatever has no such form is `Expr::Unmodeled` (or `StageKind::Unmodeled`) with a reason.

use std::collections::{HashMap, HashSet};

use ir::{
    Agg, Diagnostic, Expr as IrExpr, Logic, Op, Predicate, SortKey, Span, Stage, StageId,
    StageKind, Telemetry, Value,
};

use crate::ast::*;
use crate::lexer::timespan_seconds;

/// Nested calls of user or workspace functions followed at most.
const MAX_CALL_DEPTH: usize = 6;
/// Nesting of sub-queries (including inlined function bodies) lowered at most.
const MAX_NEST: usize = 160;
/// Stages created at most for one query (function inlining could otherwise multiply them).
const MAX_STAGES: usize = 200_000;

/// Scalar and aggregate functions of KQL: a call of one of these is a value, not a table.
const SCALAR_FNS: &[&str] = &[
    "abs",
    "acos",
    "ago",
    "any",
    "anyif",
    "arg_max",
    "arg_min",
    "argmax",
    "argmin",
    "array_concat",
    "array_index_of",
    "array_length",
    "array_slice",
    "array_sort_asc",
    "array_sort_desc",
    "array_split",
    "array_strcat",
    "array_sum",
    "arraylength",
    "asin",
    "atan",
    "avg",
    "avgif",
    "bag_has_key",
    "bag_keys",
    "bag_merge",
    "bag_pack",
    "bag_remove_keys",
    "base64_decode_toarray",
    "base64_decode_tostring",
    "base64_decodestring",
    "base64_encode_tostring",
    "bin",
    "bin_at",
    "binary_and",
    "binary_or",
    "buildschema",
    "case",
    "ceiling",
    "coalesce",
    "column_ifexists",
    "columnifexists",
    "cos",
    "count",
    "count_distinct",
    "countif",
    "countof",
    "cursor_after",
    "datetime_add",
    "datetime_diff",
    "datetime_part",
    "datetime_utc_to_local",
    "dayofmonth",
    "dayofweek",
    "dayofyear",
    "dcount",
    "dcountif",
    "endofday",
    "endofmonth",
    "endofweek",
    "endofyear",
    "estimate_data_size",
    "exp",
    "exp10",
    "exp2",
    "extract",
    "extract_all",
    "extractjson",
    "floor",
    "format_bytes",
    "format_datetime",
    "format_ipv4",
    "format_ipv4_mask",
    "format_timespan",
    "getmonth",
    "gettype",
    "getyear",
    "gzip_compress_to_base64_string",
    "gzip_decompress_from_base64_string",
    "has_any_index",
    "has_any_ipv4",
    "has_any_ipv4_prefix",
    "has_ipv4",
    "has_ipv4_prefix",
    "hash",
    "hash_md5",
    "hash_sha1",
    "hash_sha256",
    "hash_xxhash64",
    "hll",
    "hll_merge",
    "hourofday",
    "iff",
    "iif",
    "indexof",
    "indexof_regex",
    "ingestion_time",
    "ipv4_compare",
    "ipv4_is_in_any_range",
    "ipv4_is_in_range",
    "ipv4_is_match",
    "ipv4_is_private",
    "ipv4_netmask_suffix",
    "ipv6_compare",
    "ipv6_is_match",
    "isascii",
    "isempty",
    "isfinite",
    "isinf",
    "isnan",
    "isnotempty",
    "isnotnull",
    "isnull",
    "isutf8",
    "jaccard_index",
    "log",
    "log10",
    "log2",
    "make_bag",
    "make_bag_if",
    "make_datetime",
    "make_list",
    "make_list_if",
    "make_list_with_nulls",
    "make_set",
    "make_set_if",
    "make_string",
    "make_timespan",
    "makelist",
    "makeset",
    "max",
    "max_of",
    "maxif",
    "min",
    "min_of",
    "minif",
    "monthofyear",
    "new_guid",
    "next",
    "not",
    "now",
    "pack",
    "pack_all",
    "pack_array",
    "pack_dictionary",
    "parse_command_line",
    "parse_csv",
    "parse_ipv4",
    "parse_ipv4_mask",
    "parse_ipv6",
    "parse_json",
    "parse_path",
    "parse_url",
    "parse_urlquery",
    "parse_user_agent",
    "parse_version",
    "parse_xml",
    "parsejson",
    "percentile",
    "percentiles",
    "percentiles_array",
    "percentilesw",
    "percentw",
    "pow",
    "prev",
    "rand",
    "range",
    "regex_quote",
    "repeat",
    "replace",
    "replace_regex",
    "replace_string",
    "reverse",
    "round",
    "row_cumsum",
    "row_number",
    "row_rank",
    "row_rank_dense",
    "row_window_session",
    "series_decompose",
    "series_decompose_anomalies",
    "series_fill_linear",
    "series_fit_line",
    "series_outliers",
    "series_stats",
    "series_stats_dynamic",
    "set_difference",
    "set_has_element",
    "set_intersect",
    "set_union",
    "sign",
    "sin",
    "split",
    "sqrt",
    "startofday",
    "startofmonth",
    "startofweek",
    "startofyear",
    "stdev",
    "stdevif",
    "strcat",
    "strcat_array",
    "strcat_delim",
    "strcmp",
    "string_size",
    "strlen",
    "strrep",
    "substring",
    "sum",
    "sumif",
    "take_any",
    "take_anyif",
    "tan",
    "tobool",
    "toboolean",
    "todatetime",
    "todecimal",
    "todouble",
    "todynamic",
    "toguid",
    "tohex",
    "toint",
    "tolong",
    "tolower",
    "toobject",
    "toreal",
    "toscalar",
    "tostring",
    "totimespan",
    "toupper",
    "translate",
    "treepath",
    "trim",
    "trim_end",
    "trim_start",
    "unixtime_microseconds_todatetime",
    "unixtime_milliseconds_todatetime",
    "unixtime_nanoseconds_todatetime",
    "unixtime_seconds_todatetime",
    "url_decode",
    "url_encode",
    "url_encode_component",
    "variance",
    "varianceif",
    "week_of_year",
    "welch_test",
    "zip",
    "dynamic",
    "datetime",
    "timespan",
];

fn is_scalar_fn(name: &str) -> bool {
    SCALAR_FNS.contains(&name)
}

/// Result of lowering.
#[derive(Debug, Clone, PartialEq)]
pub struct Lowered {
    pub logic: Logic,
    /// Tables and functions the query reads (reachable from its result), in first-use order;
    /// for functions the callback resolved, the tables their bodies read follow them.
    pub tables: Vec<String>,
    /// The result's columns, as far as the query names them (after a `project` or `summarize`
    /// all of them; otherwise those it adds or keeps by name).
    pub outputs: Vec<String>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Values of a constant, with how to read them.
#[derive(Debug, Clone, PartialEq)]
struct Vals {
    values: Vec<Value>,
    /// `timespan`, `datetime` or `expr` (a constant expression kept as text).
    transform: Option<&'static str>,
    list: bool,
}

#[derive(Clone)]
enum Binding<'a> {
    Const {
        vals: Vals,
        stage: StageId,
    },
    /// A scalar that is not a literal: `constant` when it depends on no column or sub-query.
    Scalar {
        text: String,
        constant: bool,
        stage: StageId,
    },
    Table {
        stage: StageId,
    },
    Func {
        f: &'a Function,
    },
    /// A function parameter bound to an argument, read in the first `frame` frames.
    Arg {
        expr: &'a Expr,
        frame: usize,
    },
    /// A parameter without a value.
    Unbound,
}

/// Columns of a stage's result: `names`, plus unknown ones when `open`.
#[derive(Debug, Clone, Default)]
struct Cols {
    names: Vec<String>,
    open: bool,
}

impl Cols {
    fn open() -> Cols {
        Cols {
            names: Vec::new(),
            open: true,
        }
    }
    fn closed(names: Vec<String>) -> Cols {
        let mut c = Cols {
            names: Vec::new(),
            open: false,
        };
        for n in names {
            c.add(n);
        }
        c
    }
    /// Adds a column; past [`MAX_COLS`] names the result is only known to be wider (`open`),
    /// which keeps the per-stage copies small on very wide or very long queries.
    fn add(&mut self, n: String) {
        if self.names.len() >= MAX_COLS {
            self.open = true;
        } else if !self.names.contains(&n) {
            self.names.push(n);
        }
    }
}

/// Columns tracked by name per stage at most.
const MAX_COLS: usize = 256;

/// The lowering of one kind of operator: (cx, operator, input, scope limit, inputs, extra mark).
type LowerOp<'a> =
    fn(&mut Cx<'a>, &'a Operator, Option<StageId>, usize, &mut Vec<StageId>, usize) -> Step;

/// What lowering one operator gave: a stage to add, or the stage it already added.
#[allow(clippy::large_enum_variant)]
enum Step {
    Stage(StageKind, Cols),
    Done(StageId),
}

enum Operand {
    /// A column (`plain`) or an expression of columns, by its text; `ci` after `tolower()`.
    Field {
        name: Option<String>,
        plain: bool,
        ci: bool,
    },
    Vals(Vals),
    /// The result of a sub-query or a tabular `let`.
    Subquery,
    Other(String),
}

struct Spec {
    op: Op,
    negated: bool,
    cased: bool,
    all: bool,
    transform: Option<&'static str>,
}

fn spec(op: &str) -> Option<Spec> {
    let s = |op, negated, cased| Spec {
        op,
        negated,
        cased,
        all: false,
        transform: None,
    };
    let t = |negated, cased, tf| Spec {
        op: Op::Token,
        negated,
        cased,
        all: false,
        transform: Some(tf),
    };
    Some(match op {
        "==" => s(Op::Eq, false, true),
        "!=" | "<>" => s(Op::Eq, true, true),
        "=~" => s(Op::Eq, false, false),
        "!~" => s(Op::Eq, true, false),
        "has" | ":" => s(Op::Token, false, false),
        "!has" => s(Op::Token, true, false),
        "has_cs" => s(Op::Token, false, true),
        "!has_cs" => s(Op::Token, true, true),
        "hasprefix" => t(false, false, "prefix"),
        "!hasprefix" => t(true, false, "prefix"),
        "hasprefix_cs" => t(false, true, "prefix"),
        "!hasprefix_cs" => t(true, true, "prefix"),
        "hassuffix" => t(false, false, "suffix"),
        "!hassuffix" => t(true, false, "suffix"),
        "hassuffix_cs" => t(false, true, "suffix"),
        "!hassuffix_cs" => t(true, true, "suffix"),
        "contains" => s(Op::Contains, false, false),
        "!contains" | "notcontains" => s(Op::Contains, true, false),
        "contains_cs" | "containscs" => s(Op::Contains, false, true),
        "!contains_cs" | "notcontainscs" => s(Op::Contains, true, true),
        "startswith" => s(Op::StartsWith, false, false),
        "!startswith" => s(Op::StartsWith, true, false),
        "startswith_cs" => s(Op::StartsWith, false, true),
        "!startswith_cs" => s(Op::StartsWith, true, true),
        "endswith" => s(Op::EndsWith, false, false),
        "!endswith" => s(Op::EndsWith, true, false),
        "endswith_cs" => s(Op::EndsWith, false, true),
        "!endswith_cs" => s(Op::EndsWith, true, true),
        "matches regex" => s(Op::Regex, false, true),
        "<" => s(Op::Lt, false, true),
        "<=" => s(Op::Le, false, true),
        ">" => s(Op::Gt, false, true),
        ">=" => s(Op::Ge, false, true),
        "in" => s(Op::Eq, false, true),
        "!in" => s(Op::Eq, true, true),
        "in~" => s(Op::Eq, false, false),
        "!in~" => s(Op::Eq, true, false),
        "has_any" => s(Op::Token, false, false),
        "has_all" => Spec {
            op: Op::Token,
            negated: false,
            cased: false,
            all: true,
            transform: None,
        },
        _ => return None,
    })
}

/// Whitespace runs collapsed to one space (for fields and values kept as text).
fn compact(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for w in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

/// Text inside a typed literal's parentheses: `datetime(2020-01-01)` → `2020-01-01`.
fn typed_inner(text: &str) -> (&str, &str) {
    let open = text.find('(').unwrap_or(text.len());
    let ty = &text[..open];
    let inner = text
        .get(open + 1..text.len().saturating_sub(1))
        .unwrap_or("")
        .trim();
    let inner = inner.trim_matches(|c| c == '"' || c == '\'');
    (ty, inner)
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(h) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok();
    }
    text.parse().ok()
}

pub(crate) struct Cx<'a> {
    text: &'a str,
    functions: &'a dyn Fn(&str) -> Option<String>,
    stages: Vec<Stage>,
    cols: Vec<Cols>,
    frames: Vec<HashMap<String, Binding<'a>>>,
    diags: Vec<Diagnostic>,
    /// Stages of sub-queries met while lowering the current operator's expressions.
    extra: Vec<StageId>,
    call_depth: usize,
    /// Depth of workspace-function resolution (bodies from the callback).
    fn_depth: usize,
    /// Tables read by each resolved function (`None`: unknown function).
    fn_cache: HashMap<String, Option<Vec<String>>>,
    over_budget: Option<StageId>,
    search_mode: bool,
    /// Current nesting of tabular expressions being lowered.
    nest: usize,
}

impl<'a> Cx<'a> {
    pub fn new(
        text: &'a str,
        functions: &'a dyn Fn(&str) -> Option<String>,
        fn_depth: usize,
        fn_cache: HashMap<String, Option<Vec<String>>>,
    ) -> Self {
        Cx {
            text,
            functions,
            stages: Vec::new(),
            cols: Vec::new(),
            frames: vec![HashMap::new()],
            diags: Vec::new(),
            extra: Vec::new(),
            call_depth: 0,
            fn_depth,
            fn_cache,
            over_budget: None,
            search_mode: false,
            nest: 0,
        }
    }

    pub fn run(mut self, query: &'a Query) -> (Lowered, HashMap<String, Option<Vec<String>>>) {
        let out = self.statements(&query.statements);
        let output = out
            .or_else(|| self.stages.len().checked_sub(1))
            .unwrap_or(0);
        let tables = self.tables_from(output);
        let outputs = self
            .cols
            .get(output)
            .map(|c| c.names.clone())
            .unwrap_or_default();
        let lowered = Lowered {
            logic: Logic {
                stages: self.stages,
                output,
            },
            tables,
            outputs,
            diagnostics: self.diags,
        };
        (lowered, self.fn_cache)
    }

    fn slice(&self, span: Span) -> &'a str {
        self.text.get(span.start..span.end).unwrap_or("")
    }

    fn add(
        &mut self,
        name: impl Into<String>,
        kind: StageKind,
        inputs: Vec<StageId>,
        span: Span,
        cols: Cols,
    ) -> StageId {
        if self.stages.len() >= MAX_STAGES {
            if let Some(id) = self.over_budget {
                return id;
            }
            self.diags.push(Diagnostic::warning(
                "kql-too-large",
                format!("more than {MAX_STAGES} stages; the rest is one unmodelled stage"),
                Some(span),
            ));
        }
        let id = self.stages.len();
        let text = self.slice(span).trim().to_string();
        let stage = if self.stages.len() >= MAX_STAGES {
            self.over_budget = Some(id);
            Stage {
                id,
                name: "unmodeled".into(),
                kind: StageKind::Unmodeled {
                    why: "query too large".into(),
                },
                inputs: vec![],
                text,
                span: Some(span),
            }
        } else {
            Stage {
                id,
                name: name.into(),
                kind,
                inputs,
                text,
                span: Some(span),
            }
        };
        self.stages.push(stage);
        self.cols.push(cols);
        id
    }

    fn cols_of(&self, id: Option<StageId>) -> Cols {
        id.and_then(|i| self.cols.get(i))
            .cloned()
            .unwrap_or_else(Cols::open)
    }

    fn bind(&mut self, name: &str, b: Binding<'a>) {
        if let Some(f) = self.frames.last_mut() {
            f.insert(name.to_string(), b);
        }
    }

    fn lookup(&self, name: &str, lim: usize) -> Option<&Binding<'a>> {
        self.frames.iter().take(lim).rev().find_map(|f| f.get(name))
    }

    fn lim(&self) -> usize {
        self.frames.len()
    }

    /// Tables read by the stages reachable from `output`, in stage order.
    fn tables_from(&self, output: StageId) -> Vec<String> {
        let mut seen = vec![false; self.stages.len()];
        let mut todo = vec![output];
        while let Some(id) = todo.pop() {
            let Some(s) = self.stages.get(id) else {
                continue;
            };
            if std::mem::replace(&mut seen[id], true) {
                continue;
            }
            todo.extend(s.inputs.iter().copied());
        }
        let mut out: Vec<String> = Vec::new();
        for s in self.stages.iter().filter(|s| seen[s.id]) {
            if let StageKind::Source { telemetry } = &s.kind {
                for t in telemetry {
                    if let Telemetry::Table { name } = t {
                        if !out.contains(name) {
                            out.push(name.clone());
                        }
                    }
                }
            }
        }
        out
    }

    // ----- statements ---------------------------------------------------------------------

    /// Lowers statements; returns the stage of the last query statement.
    fn statements(&mut self, stmts: &'a [Statement]) -> Option<StageId> {
        let mut out = None;
        for st in stmts {
            match st {
                Statement::Let(l) => self.let_stmt(l),
                Statement::Query(e) => out = Some(self.tabular(e, self.lim())),
                Statement::Other { .. } => {}
                Statement::Error(e) => {
                    self.add(
                        "error",
                        StageKind::Unmodeled {
                            why: format!("syntax error: {}", e.message),
                        },
                        vec![],
                        e.span,
                        Cols::open(),
                    );
                }
            }
        }
        out
    }

    fn let_stmt(&mut self, l: &'a Let) {
        let name = l.name.name.as_str();
        match &l.value {
            LetValue::Function(f) => {
                let params = f.params.iter().map(|p| p.name.name.clone()).collect();
                self.add(
                    name,
                    StageKind::Function { params },
                    vec![],
                    l.span,
                    Cols::open(),
                );
                self.bind(name, Binding::Func { f });
            }
            LetValue::Expr(e) => {
                let lim = self.lim();
                if let ExprKind::Error(err) = &e.unparen().kind {
                    let why = format!("syntax error: {}", err.message);
                    let stage = self.add(
                        name,
                        StageKind::Unmodeled { why },
                        vec![],
                        l.span,
                        Cols::open(),
                    );
                    self.bind(name, Binding::Table { stage });
                } else if let Some(vals) = self.const_vals(e, lim) {
                    let kind = StageKind::Let {
                        values: vals.values.clone(),
                        list: vals.list,
                        expr: None,
                    };
                    let cols = match &e.unparen().kind {
                        ExprKind::Datatable { columns, .. } => {
                            Cols::closed(columns.iter().map(|c| c.name.name.clone()).collect())
                        }
                        _ => Cols::open(),
                    };
                    let stage = self.add(name, kind, vec![], l.span, cols);
                    self.bind(name, Binding::Const { vals, stage });
                } else if self.is_tabular(e, lim) {
                    let materialized = matches!(&e.unparen().kind, ExprKind::Call { name, .. } if name.name == "materialize");
                    let out = self.tabular(e, lim);
                    let cols = self.cols_of(Some(out));
                    let stage = self.add(
                        name,
                        StageKind::View { materialized },
                        vec![out],
                        l.span,
                        cols,
                    );
                    self.bind(name, Binding::Table { stage });
                } else {
                    let mark = self.extra.len();
                    self.scan(e, lim);
                    let inputs: Vec<StageId> = self.extra.drain(mark..).collect();
                    let constant = inputs.is_empty() && self.is_constant(e, lim);
                    let text = compact(e.text(self.text));
                    let stage = self.add(
                        name,
                        StageKind::Let {
                            values: vec![],
                            list: false,
                            expr: Some(text.clone()),
                        },
                        inputs,
                        l.span,
                        Cols::open(),
                    );
                    self.bind(
                        name,
                        Binding::Scalar {
                            text,
                            constant,
                            stage,
                        },
                    );
                }
            }
        }
    }

    // ----- classification -----------------------------------------------------------------

    /// The constant value(s) of an expression: literals, `dynamic([...])`, `pack_array(...)`,
    /// one-column `datatable`s, and `let`s bound to those.
    fn const_vals(&self, e: &'a Expr, lim: usize) -> Option<Vals> {
        let e = e.unparen();
        match &e.kind {
            ExprKind::Literal { .. } => self.literal_vals(e),
            ExprKind::Unary { op, expr } => {
                let mut v = self.const_vals(expr, lim)?;
                if op == "-" {
                    for x in &mut v.values {
                        match x {
                            Value::Int(i) => *i = i.checked_neg()?,
                            Value::Float(f) => *f = -*f,
                            Value::Str(s) if v.transform == Some("timespan") => s.insert(0, '-'),
                            _ => return None,
                        }
                    }
                }
                Some(v)
            }
            ExprKind::Dynamic(inner) => {
                let mut values = Vec::new();
                let list = matches!(inner.kind, ExprKind::Array(_));
                self.flatten_dynamic(inner, &mut values, 0)?;
                Some(Vals {
                    values,
                    transform: None,
                    list,
                })
            }
            ExprKind::Call { name, args } if name.name == "pack_array" => {
                let mut values = Vec::new();
                for a in args {
                    values.extend(self.const_vals(a, lim)?.values);
                }
                Some(Vals {
                    values,
                    transform: None,
                    list: true,
                })
            }
            ExprKind::Call { name, args }
                if name.name == "array_concat" || name.name == "set_union" =>
            {
                let mut values = Vec::new();
                for a in args {
                    let v = self.const_vals(a, lim)?;
                    if v.transform.is_some() {
                        return None;
                    }
                    values.extend(v.values);
                }
                Some(Vals {
                    values,
                    transform: None,
                    list: true,
                })
            }
            ExprKind::Call { name, args } if name.name == "split" && args.len() == 2 => {
                let text = self.const_str(&args[0], lim)?;
                let sep = self.const_str(&args[1], lim)?;
                if sep.is_empty() {
                    return None;
                }
                Some(Vals {
                    values: text
                        .split(sep.as_str())
                        .map(|x| Value::Str(x.to_string()))
                        .collect(),
                    transform: None,
                    list: true,
                })
            }
            ExprKind::Call { name, args } if name.name == "strcat" => {
                let mut out = String::new();
                for a in args {
                    out.push_str(&self.const_str(a, lim)?);
                }
                Some(Vals {
                    values: vec![Value::Str(out)],
                    transform: None,
                    list: false,
                })
            }
            ExprKind::Call { name, args }
                if (name.name == "tolower" || name.name == "toupper") && args.len() == 1 =>
            {
                let t = self.const_str(&args[0], lim)?;
                let t = if name.name == "tolower" {
                    t.to_lowercase()
                } else {
                    t.to_uppercase()
                };
                Some(Vals {
                    values: vec![Value::Str(t)],
                    transform: None,
                    list: false,
                })
            }
            ExprKind::Datatable { columns, values } if columns.len() == 1 => {
                let mut out = Vec::new();
                for v in values {
                    out.extend(self.const_vals(v, lim)?.values);
                }
                Some(Vals {
                    values: out,
                    transform: None,
                    list: true,
                })
            }
            ExprKind::Name(n) => match self.lookup(&n.name, lim)? {
                Binding::Const { vals, .. } => Some(vals.clone()),
                Binding::Arg { expr, frame } => self.const_vals(expr, *frame),
                _ => None,
            },
            _ => None,
        }
    }

    /// A constant single string (no transform).
    fn const_str(&self, e: &'a Expr, lim: usize) -> Option<String> {
        let v = self.const_vals(e, lim)?;
        if v.transform.is_some() || v.list || v.values.len() != 1 {
            return None;
        }
        match v.values.into_iter().next()? {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    fn flatten_dynamic(&self, e: &'a Expr, out: &mut Vec<Value>, depth: usize) -> Option<()> {
        if depth > 64 {
            return None;
        }
        match &e.kind {
            ExprKind::Array(items) => {
                for i in items {
                    self.flatten_dynamic(i, out, depth + 1)?;
                }
                Some(())
            }
            ExprKind::Name(n) if n.name == "null" => {
                out.push(Value::Null);
                Some(())
            }
            ExprKind::Literal { .. } => {
                out.extend(self.literal_vals(e)?.values);
                Some(())
            }
            ExprKind::Unary { .. } => {
                out.extend(self.const_vals(e, 0)?.values);
                Some(())
            }
            _ => None,
        }
    }

    fn literal_vals(&self, e: &Expr) -> Option<Vals> {
        let ExprKind::Literal { kind, text } = &e.kind else {
            return None;
        };
        let one = |v: Value, tf: Option<&'static str>| {
            Some(Vals {
                values: vec![v],
                transform: tf,
                list: false,
            })
        };
        match kind {
            LiteralKind::Int => match parse_int(text) {
                Some(i) => one(Value::Int(i), None),
                None => one(
                    text.parse::<f64>()
                        .map(Value::Float)
                        .unwrap_or(Value::Str(text.clone())),
                    None,
                ),
            },
            LiteralKind::Real => one(
                text.parse::<f64>()
                    .map(Value::Float)
                    .unwrap_or(Value::Str(text.clone())),
                None,
            ),
            LiteralKind::Str => one(Value::Str(text.clone()), None),
            LiteralKind::Bool => one(Value::Bool(text.eq_ignore_ascii_case("true")), None),
            LiteralKind::Timespan => one(Value::Str(text.clone()), Some("timespan")),
            LiteralKind::Typed => {
                let (ty, inner) = typed_inner(text);
                if inner == "null" {
                    return one(Value::Null, None);
                }
                match ty {
                    "datetime" => one(Value::Str(inner.to_string()), Some("datetime")),
                    "timespan" | "time" => one(Value::Str(inner.to_string()), Some("timespan")),
                    "long" | "int" | "int64" | "int32" => one(
                        parse_int(inner)
                            .map(Value::Int)
                            .unwrap_or(Value::Str(inner.to_string())),
                        None,
                    ),
                    "real" | "double" | "decimal" => one(
                        inner
                            .parse::<f64>()
                            .map(Value::Float)
                            .unwrap_or(Value::Str(inner.to_string())),
                        None,
                    ),
                    "bool" => one(Value::Bool(inner.eq_ignore_ascii_case("true")), None),
                    _ => one(Value::Str(inner.to_string()), None),
                }
            }
        }
    }

    /// Depends on no column, table or sub-query (`ago(1d)`, `now() - 2h`, `"a"`).
    fn is_constant(&self, e: &'a Expr, lim: usize) -> bool {
        let e = e.unparen();
        match &e.kind {
            ExprKind::Literal { .. }
            | ExprKind::Dynamic(_)
            | ExprKind::Array(_)
            | ExprKind::Object(_) => true,
            ExprKind::Name(n) => match self.lookup(&n.name, lim) {
                Some(Binding::Const { .. }) => true,
                Some(Binding::Scalar { constant, .. }) => *constant,
                Some(Binding::Arg { expr, frame }) => self.is_constant(expr, *frame),
                _ => false,
            },
            ExprKind::Unary { expr, .. } => self.is_constant(expr, lim),
            ExprKind::Binary { first, rest, .. } => {
                self.is_constant(first, lim) && rest.iter().all(|(_, x)| self.is_constant(x, lim))
            }
            ExprKind::Call { name, args } => {
                is_scalar_fn(&name.name)
                    && name.name != "toscalar"
                    && args.iter().all(|a| self.is_constant(a, lim))
            }
            ExprKind::Path { base, segments } => {
                self.is_constant(base, lim)
                    && segments.iter().all(|s| match s {
                        Segment::Member(_) => true,
                        Segment::Index(i) => self.is_constant(i, lim),
                        Segment::Call(..) => false,
                    })
            }
            _ => false,
        }
    }

    /// Is this (a `let` value) a table rather than a scalar?
    fn is_tabular(&self, e: &'a Expr, lim: usize) -> bool {
        let e = e.unparen();
        match &e.kind {
            ExprKind::Pipe { .. }
            | ExprKind::SourceOp(_)
            | ExprKind::Datatable { .. }
            | ExprKind::ExternalData { .. }
            | ExprKind::Wildcard(_) => true,
            ExprKind::Name(n) => match self.lookup(&n.name, lim) {
                Some(Binding::Table { .. }) => true,
                Some(Binding::Func { f, .. }) => f.params.is_empty() && self.func_is_tabular(f),
                Some(Binding::Arg { expr, frame }) => self.is_tabular(expr, *frame),
                Some(_) => false,
                None => !matches!(n.name.as_str(), "null" | "true" | "false"),
            },
            ExprKind::Call { name, .. } => match name.name.as_str() {
                "materialize" | "table" | "totable" | "view" => true,
                "toscalar" => false,
                n => match self.lookup(n, lim) {
                    Some(Binding::Func { f, .. }) => self.func_is_tabular(f),
                    Some(_) => false,
                    None => !is_scalar_fn(n),
                },
            },
            ExprKind::Path { base, segments } => {
                matches!(&base.kind, ExprKind::Call { name, .. } if matches!(name.name.as_str(), "workspace" | "app" | "cluster" | "database"))
                    && !segments.is_empty()
            }
            _ => false,
        }
    }

    fn func_is_tabular(&self, f: &'a Function) -> bool {
        let Some(Statement::Query(e)) = f
            .body
            .statements
            .iter()
            .rev()
            .find(|s| matches!(s, Statement::Query(_)))
        else {
            return false;
        };
        match &e.unparen().kind {
            ExprKind::Pipe { .. }
            | ExprKind::SourceOp(_)
            | ExprKind::Datatable { .. }
            | ExprKind::ExternalData { .. } => true,
            ExprKind::Name(n) => {
                if let Some(p) = f.params.iter().find(|p| p.name.name == n.name) {
                    return p.tabular;
                }
                // A let inside the body, or a table.
                !f.body.statements.iter().any(|s| matches!(s, Statement::Let(l) if l.name.name == n.name && matches!(&l.value, LetValue::Expr(v) if !matches!(v.unparen().kind, ExprKind::Pipe { .. }) && self.const_vals(v, 0).is_some())))
            }
            ExprKind::Call { name, .. } => {
                matches!(
                    name.name.as_str(),
                    "materialize" | "table" | "totable" | "view"
                ) || !is_scalar_fn(&name.name)
            }
            _ => false,
        }
    }

    // ----- tabular expressions ------------------------------------------------------------

    fn unmodeled(&mut self, why: impl Into<String>, span: Span, inputs: Vec<StageId>) -> StageId {
        self.add(
            "unmodeled",
            StageKind::Unmodeled { why: why.into() },
            inputs,
            span,
            Cols::open(),
        )
    }

    /// Lowers a tabular expression; returns its result stage.
    fn tabular(&mut self, e: &'a Expr, lim: usize) -> StageId {
        let e = e.unparen();
        if self.nest >= MAX_NEST {
            return self.unmodeled("sub-queries nested too deeply", e.span, vec![]);
        }
        self.nest += 1;
        let id = match &e.kind {
            ExprKind::Pipe { source, ops } => {
                let mut cur = self.tabular(source, lim);
                for op in ops {
                    cur = self.operator(op, Some(cur), lim);
                }
                cur
            }
            _ => self.tabular_other(e, lim),
        };
        self.nest -= 1;
        id
    }

    /// `tabular` for everything but pipes (out of line: keeps the recursion's frames small).
    #[inline(never)]
    fn tabular_other(&mut self, e: &'a Expr, lim: usize) -> StageId {
        match &e.kind {
            ExprKind::Name(n) => match self.lookup(&n.name, lim).cloned() {
                Some(Binding::Table { stage })
                | Some(Binding::Const { stage, .. })
                | Some(Binding::Scalar { stage, .. }) => stage,
                Some(Binding::Func { f, .. }) => self.invoke(&n.name, f, &[], None, e.span, lim),
                Some(Binding::Arg { expr, frame }) => self.tabular(expr, frame),
                Some(Binding::Unbound) => self.add(
                    n.name.clone(),
                    StageKind::Source { telemetry: vec![] },
                    vec![],
                    e.span,
                    Cols::open(),
                ),
                None => self.source(&n.name, e.span),
            },
            ExprKind::Wildcard(w) => self.source(w, e.span),
            ExprKind::Call { name, args } => match name.name.as_str() {
                "materialize" | "totable" | "toscalar" | "view" if args.len() == 1 => {
                    self.tabular(&args[0], lim)
                }
                "table" if !args.is_empty() => match self
                    .const_vals(&args[0], lim)
                    .and_then(|v| v.values.into_iter().next())
                {
                    Some(Value::Str(t)) => self.source(&t, e.span),
                    _ => {
                        self.unmodeled("table() with a name that is not a constant", e.span, vec![])
                    }
                },
                n => match self.lookup(n, lim).cloned() {
                    Some(Binding::Func { f, .. }) => self.invoke(n, f, args, None, e.span, lim),
                    Some(Binding::Table { stage }) => stage,
                    _ if is_scalar_fn(n) => self.unmodeled(
                        format!("`{n}()` is a scalar, used as a table"),
                        e.span,
                        vec![],
                    ),
                    _ => {
                        let mark = self.extra.len();
                        for a in args {
                            self.scan(a, lim);
                        }
                        let inputs: Vec<StageId> = self.extra.drain(mark..).collect();
                        let id = self.source(n, e.span);
                        if !inputs.is_empty() {
                            if let Some(s) = self.stages.get_mut(id) {
                                s.inputs.extend(inputs);
                            }
                        }
                        id
                    }
                },
            },
            ExprKind::Path { base, segments } => {
                let cross = matches!(&base.kind, ExprKind::Call { name, .. } if matches!(name.name.as_str(), "workspace" | "app" | "cluster" | "database"));
                match (cross, segments.last()) {
                    (true, Some(Segment::Member(n))) | (true, Some(Segment::Call(n, _))) => {
                        self.source(&n.name, e.span)
                    }
                    _ => self.unmodeled("a path used as a table", e.span, vec![]),
                }
            }
            ExprKind::Datatable { columns, .. } => {
                let cols = Cols::closed(columns.iter().map(|c| c.name.name.clone()).collect());
                self.add(
                    "datatable",
                    StageKind::Source { telemetry: vec![] },
                    vec![],
                    e.span,
                    cols,
                )
            }
            ExprKind::ExternalData { columns, .. } => {
                let cols = Cols::closed(columns.iter().map(|c| c.name.name.clone()).collect());
                self.add(
                    "externaldata",
                    StageKind::Source { telemetry: vec![] },
                    vec![],
                    e.span,
                    cols,
                )
            }
            ExprKind::SourceOp(op) => self.operator(op, None, lim),
            ExprKind::Error(err) => {
                self.unmodeled(format!("syntax error: {}", err.message), e.span, vec![])
            }
            _ => {
                let mark = self.extra.len();
                self.scan(e, lim);
                let inputs: Vec<StageId> = self.extra.drain(mark..).collect();
                self.unmodeled(
                    "a scalar expression where a table is expected",
                    e.span,
                    inputs,
                )
            }
        }
    }

    /// A source stage for a table or workspace function.
    fn source(&mut self, name: &str, span: Span) -> StageId {
        let mut telemetry = vec![Telemetry::Table {
            name: name.to_string(),
        }];
        if let Some(tables) = self.resolve_function(name) {
            for t in tables {
                let t = Telemetry::Table { name: t };
                if !telemetry.contains(&t) {
                    telemetry.push(t);
                }
            }
        }
        self.add(
            name,
            StageKind::Source { telemetry },
            vec![],
            span,
            Cols::open(),
        )
    }

    /// The tables a workspace function's body reads, when the callback knows the function.
    fn resolve_function(&mut self, name: &str) -> Option<Vec<String>> {
        if let Some(c) = self.fn_cache.get(name) {
            return c.clone();
        }
        if self.fn_depth >= MAX_CALL_DEPTH {
            return None;
        }
        let body = (self.functions)(name)?;
        // Mark as in progress (cycles resolve to nothing).
        self.fn_cache.insert(name.to_string(), Some(Vec::new()));
        let parsed = crate::parse(&body);
        if parsed.has_errors() {
            self.diags.push(Diagnostic::warning(
                "kql-function-syntax",
                format!(
                    "the body of function `{name}` has syntax errors; its tables may be incomplete"
                ),
                None,
            ));
        }
        let cache = std::mem::take(&mut self.fn_cache);
        let cx = Cx::new(&body, self.functions, self.fn_depth + 1, cache);
        let (lowered, cache) = cx.run(&parsed.ast);
        self.fn_cache = cache;
        let tables: Vec<String> = lowered.tables.into_iter().filter(|t| t != name).collect();
        self.fn_cache.insert(name.to_string(), Some(tables.clone()));
        Some(tables)
    }

    /// Inlines a call of a `let` function: its body's stages with parameters bound, then an
    /// `Invoke` stage named after the function.
    fn invoke(
        &mut self,
        name: &str,
        f: &'a Function,
        args: &'a [Expr],
        piped: Option<StageId>,
        span: Span,
        lim: usize,
    ) -> StageId {
        if self.call_depth >= MAX_CALL_DEPTH {
            return self.unmodeled(
                format!("calls of `{name}` nested too deeply"),
                span,
                piped.into_iter().collect(),
            );
        }
        let mut frame: HashMap<String, Binding<'a>> = HashMap::new();
        let mut positional = args
            .iter()
            .filter(|a| !matches!(a.kind, ExprKind::Named { .. }));
        let mut piped_left = piped;
        for p in &f.params {
            let named = args.iter().find_map(|a| match &a.kind {
                ExprKind::Named { names, expr }
                    if names.len() == 1 && names[0].name == p.name.name =>
                {
                    Some(&**expr)
                }
                _ => None,
            });
            let b = if p.tabular && piped_left.is_some() {
                Binding::Table {
                    stage: piped_left.take().unwrap_or(0),
                }
            } else if let Some(arg) = named.or_else(|| positional.next()).or(p.default.as_ref()) {
                if p.tabular {
                    Binding::Table {
                        stage: self.tabular(arg, lim),
                    }
                } else {
                    Binding::Arg {
                        expr: arg,
                        frame: lim,
                    }
                }
            } else {
                Binding::Unbound
            };
            frame.insert(p.name.name.clone(), b);
        }
        self.frames.push(frame);
        self.call_depth += 1;
        let out = self.statements(&f.body.statements);
        self.call_depth -= 1;
        self.frames.pop();
        let mut inputs: Vec<StageId> = out.into_iter().collect();
        if let Some(p) = piped_left {
            inputs.push(p);
        }
        let cols = self.cols_of(out);
        self.add(
            name,
            StageKind::Invoke {
                function: name.to_string(),
            },
            inputs,
            span,
            cols,
        )
    }

    /// Lowers the sub-queries inside an expression (`toscalar(...)`, `in (T | ...)`, tabular
    /// lets used as values) into stages, recorded in `self.extra` as inputs of the current stage.
    fn scan(&mut self, e: &'a Expr, lim: usize) {
        self.scan_depth(e, lim, 0)
    }

    fn scan_depth(&mut self, e: &'a Expr, lim: usize, depth: usize) {
        if depth > 256 {
            return;
        }
        let d = depth + 1;
        match &e.kind {
            ExprKind::Pipe { .. } | ExprKind::SourceOp(_) => {
                let id = self.tabular(e, lim);
                self.extra.push(id);
            }
            ExprKind::Name(n) => {
                if let Some(Binding::Table { stage }) = self.lookup(&n.name, lim) {
                    let s = *stage;
                    self.extra.push(s);
                } else if let Some(Binding::Scalar {
                    stage,
                    constant: false,
                    ..
                }) = self.lookup(&n.name, lim)
                {
                    let s = *stage;
                    self.extra.push(s);
                }
            }
            ExprKind::Paren(x) => self.scan_depth(x, lim, d),
            ExprKind::Binary { first, rest, .. } => {
                self.scan_depth(first, lim, d);
                for (_, x) in rest {
                    self.scan_depth(x, lim, d);
                }
            }
            ExprKind::Unary { expr, .. } => self.scan_depth(expr, lim, d),
            ExprKind::InList { left, items, .. } => {
                self.scan_depth(left, lim, d);
                for x in items {
                    self.scan_depth(x, lim, d);
                }
            }
            ExprKind::Between {
                left, low, high, ..
            } => {
                self.scan_depth(left, lim, d);
                self.scan_depth(low, lim, d);
                self.scan_depth(high, lim, d);
            }
            ExprKind::Call { name, args } => {
                if matches!(name.name.as_str(), "toscalar" | "materialize" | "totable") {
                    if let Some(a) = args.first().filter(|a| self.is_tabular(a, lim)) {
                        let id = self.tabular(a, lim);
                        self.extra.push(id);
                        return;
                    }
                }
                for a in args {
                    self.scan_depth(a, lim, d);
                }
            }
            ExprKind::Path { base, segments } => {
                self.scan_depth(base, lim, d);
                for s in segments {
                    match s {
                        Segment::Index(x) => self.scan_depth(x, lim, d),
                        Segment::Call(_, args) => {
                            args.iter().for_each(|a| self.scan_depth(a, lim, d))
                        }
                        Segment::Member(_) => {}
                    }
                }
            }
            ExprKind::Named { expr, .. } => self.scan_depth(expr, lim, d),
            _ => {}
        }
    }

    fn scan_all(&mut self, es: impl IntoIterator<Item = &'a Expr>, lim: usize) {
        for e in es {
            self.scan(e, lim);
        }
    }

    // ----- operators ----------------------------------------------------------------------

    fn param(op: &Operator, name: &str) -> Option<String> {
        op.params
            .iter()
            .find(|p| p.name == name)
            .map(|p| p.value.clone())
    }

    fn operator(&mut self, op: &'a Operator, input: Option<StageId>, lim: usize) -> StageId {
        let mark = self.extra.len();
        let mut inputs: Vec<StageId> = input.into_iter().collect();
        // One out-of-line function per operator keeps this frame (on the recursion path of
        // nested sub-queries) small.
        let f: LowerOp<'a> = match &op.kind {
            OpKind::Where(..) => Self::lower_where,
            OpKind::Columns(..) => Self::lower_columns,
            OpKind::NameList(..) => Self::lower_name_list,
            OpKind::Summarize { .. } => Self::lower_summarize,
            OpKind::MakeSeries { .. } => Self::lower_make_series,
            OpKind::Join { .. } => Self::lower_join,
            OpKind::Union(..) => Self::lower_union,
            OpKind::MvExpand { .. } => Self::lower_mv_expand,
            OpKind::MvApply { .. } => Self::lower_mv_apply,
            OpKind::Parse { .. } => Self::lower_parse,
            OpKind::ParseKv { .. } => Self::lower_parse_kv,
            OpKind::Evaluate(..) => Self::lower_evaluate,
            OpKind::Top { .. } => Self::lower_top,
            OpKind::Sort(..) => Self::lower_sort,
            OpKind::Take(..) => Self::lower_take,
            OpKind::Distinct(..) => Self::lower_distinct,
            OpKind::Count(..) => Self::lower_count,
            OpKind::As(..) => Self::lower_as,
            OpKind::Invoke(..) => Self::lower_invoke,
            OpKind::Render(..) | OpKind::GetSchema | OpKind::Generic => Self::lower_render,
            OpKind::Search { .. } => Self::lower_search,
            OpKind::Range { .. } => Self::lower_range,
            OpKind::Error(..) => Self::lower_error,
        };
        match f(self, op, input, lim, &mut inputs, mark) {
            Step::Stage(kind, cols) => {
                inputs.extend(self.extra.drain(mark..));
                self.add(op.name.clone(), kind, inputs, op.span, cols)
            }
            Step::Done(id) => id,
        }
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_where(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Where(e) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan(e, lim);
            (
                StageKind::Filter {
                    expr: self.pred(e, lim),
                },
                in_cols,
            )
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_columns(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Columns(items) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan_all(items, lim);
            let fields: Vec<String> = items.iter().map(|x| self.column_name(x)).collect();
            match name.as_str() {
                "project" => (
                    StageKind::Project {
                        fields: fields.clone(),
                    },
                    Cols::closed(fields),
                ),
                "extend" | "serialize" if !(name == "serialize" && items.is_empty()) => {
                    let mut c = in_cols;
                    fields.iter().for_each(|f| c.add(f.clone()));
                    (StageKind::Extend { fields }, c)
                }
                "project-rename" => {
                    let mut pairs = Vec::new();
                    let mut c = in_cols;
                    for x in items {
                        if let ExprKind::Named { names, expr } = &x.kind {
                            let old = self.column_name(expr);
                            let new = names.first().map(|n| n.name.clone()).unwrap_or_default();
                            match c.names.iter_mut().find(|n| **n == old) {
                                Some(slot) => *slot = new.clone(),
                                None => c.add(new.clone()),
                            }
                            pairs.push((new, old));
                        }
                    }
                    (StageKind::Rename { fields: pairs }, c)
                }
                "print" => (
                    StageKind::Source { telemetry: vec![] },
                    Cols::closed(fields),
                ),
                _ => (StageKind::Operator { op: name.clone() }, in_cols),
            }
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_name_list(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::NameList(items) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            let fields: Vec<String> = items.iter().map(|o| self.column_name(&o.expr)).collect();
            match name.as_str() {
                "project-away" => {
                    let mut c = in_cols;
                    c.names.retain(|n| !fields.contains(n));
                    if fields.iter().any(|f| f.contains('*')) {
                        c.open = true;
                    }
                    (StageKind::ProjectAway { fields }, c)
                }
                "project-keep" => {
                    let wild = fields.iter().any(|f| f.contains('*'));
                    let c = if wild {
                        Cols {
                            names: fields
                                .iter()
                                .filter(|f| !f.contains('*'))
                                .cloned()
                                .collect(),
                            open: true,
                        }
                    } else {
                        Cols::closed(fields.clone())
                    };
                    (StageKind::Project { fields }, c)
                }
                _ => (StageKind::Operator { op: name.clone() }, in_cols),
            }
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_summarize(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Summarize { aggs, by } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan_all(aggs.iter().chain(by.iter()), lim);
            let (kind, cols) = self.aggregate(aggs, by, None, lim);
            (kind, cols)
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_make_series(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::MakeSeries {
            aggs,
            on,
            range,
            by,
        } = &op.kind
        else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan_all(
                aggs.iter()
                    .chain(by.iter())
                    .chain(on.iter())
                    .chain(range.iter()),
                lim,
            );
            let step = range.last().and_then(|s| self.seconds(s, lim));
            let (kind, mut cols) = self.aggregate(aggs, by, step, lim);
            if let Some(o) = on {
                cols.add(self.column_name(o));
            }
            (kind, cols)
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_join(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Join { right, on, where_ } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            let right_id = self.tabular(right, lim);
            inputs.push(right_id);
            let lookup = name == "lookup";
            let given = Self::param(op, "kind");
            let mode = given.clone().unwrap_or_else(|| {
                if lookup {
                    "leftouter".into()
                } else {
                    "innerunique".into()
                }
            });
            let mut pairs = Vec::new();
            // `on a, b` and `on $left.a == $right.b and $left.c == $right.d` alike.
            let mut keys: Vec<&'a Expr> = Vec::new();
            for x in on {
                match &x.unparen().kind {
                    ExprKind::Binary {
                        level: Level::And,
                        first,
                        rest,
                    } => {
                        keys.push(first);
                        keys.extend(rest.iter().map(|(_, k)| k));
                    }
                    _ => keys.push(x),
                }
            }
            for x in keys {
                match self.join_key(x) {
                    Some(p) => pairs.push(p),
                    None => self.diags.push(Diagnostic::warning(
                        "kql-join-key",
                        format!(
                            "join key `{}` is not a column pair; left out of `on`",
                            compact(x.text(self.text))
                        ),
                        Some(x.span),
                    )),
                }
            }
            if let Some(w) = where_ {
                self.diags.push(Diagnostic::warning(
                    "kql-join-where",
                    "join `where` condition is not modelled",
                    Some(w.span),
                ));
            }
            let right_cols = self.cols_of(Some(right_id));
            let cols = join_cols(&mode, in_cols, right_cols);
            if lookup {
                (StageKind::Lookup { mode, on: pairs }, cols)
            } else {
                let hints = op
                    .params
                    .iter()
                    .filter(|p| p.name.starts_with("hint."))
                    .map(|p| (p.name.clone(), p.value.clone()))
                    .collect();
                (
                    StageKind::Join {
                        mode,
                        implicit_mode: given.is_none(),
                        on: pairs,
                        hints,
                    },
                    cols,
                )
            }
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_union(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Union(items) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            let mut cols = if input.is_some() {
                in_cols
            } else {
                Cols {
                    names: vec![],
                    open: false,
                }
            };
            for x in items {
                let id = self.tabular(x, lim);
                inputs.push(id);
                let c = self.cols_of(Some(id));
                c.names.into_iter().for_each(|n| cols.add(n));
                cols.open |= c.open;
            }
            let fuzzy = Self::param(op, "isfuzzy").is_some_and(|v| v.eq_ignore_ascii_case("true"));
            let withsource =
                Self::param(op, "withsource").or_else(|| Self::param(op, "with_source"));
            if let Some(w) = &withsource {
                cols.add(w.clone());
            }
            (StageKind::Union { fuzzy, withsource }, cols)
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_mv_expand(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::MvExpand { items, .. } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan_all(items, lim);
            let fields: Vec<String> = items.iter().map(|x| self.column_name(x)).collect();
            let mut c = in_cols;
            fields.iter().for_each(|f| c.add(f.clone()));
            if let Some(ix) = Self::param(op, "with_itemindex") {
                c.add(ix);
            }
            (StageKind::MvExpand { fields }, c)
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_mv_apply(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::MvApply { items, on } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        {
            self.scan_all(items, lim);
            let id = self.add(
                name.clone(),
                StageKind::Operator { op: name.clone() },
                inputs.clone(),
                span,
                in_cols,
            );
            let mut cur = id;
            if let ExprKind::SubPipe { ops } = &on.unparen().kind {
                for o in ops {
                    cur = self.operator(o, Some(cur), lim);
                }
            }
            let extra: Vec<StageId> = self.extra.drain(mark..).collect();
            if let Some(s) = self.stages.get_mut(id) {
                s.inputs.extend(extra);
            }
            Step::Done(cur)
        }
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_parse(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Parse { source, pattern } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan(source, lim);
            let outputs: Vec<String> = pattern
                .iter()
                .filter_map(|p| match p {
                    PatternPart::Column { name, .. } => Some(name.name.clone()),
                    _ => None,
                })
                .collect();
            let mut c = in_cols;
            outputs.iter().for_each(|o| c.add(o.clone()));
            let field = self.field_text(source);
            (
                StageKind::Parse {
                    field,
                    outputs,
                    mode: Self::param(op, "kind"),
                },
                c,
            )
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_parse_kv(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::ParseKv {
            source, columns, ..
        } = &op.kind
        else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan(source, lim);
            let outputs: Vec<String> = columns.iter().map(|c| c.name.name.clone()).collect();
            let mut c = in_cols;
            outputs.iter().for_each(|o| c.add(o.clone()));
            (
                StageKind::Parse {
                    field: self.field_text(source),
                    outputs,
                    mode: Some("kv".into()),
                },
                c,
            )
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_evaluate(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Evaluate(call) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan(call, lim);
            let (plugin, args) = match &call.kind {
                ExprKind::Call { name, args } => (
                    name.name.clone(),
                    args.iter().map(|a| compact(a.text(self.text))).collect(),
                ),
                _ => (compact(call.text(self.text)), Vec::new()),
            };
            (StageKind::Evaluate { plugin, args }, Cols::open())
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_top(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Top { count, by } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            self.scan(count, lim);
            let keys = self.sort_keys(by);
            (
                StageKind::Take {
                    count: self.count(count, lim),
                    by: keys,
                },
                in_cols,
            )
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_sort(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Sort(by) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = (
            StageKind::Sort {
                by: self.sort_keys(by),
            },
            in_cols,
        );
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_take(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Take(e) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            if name == "sample" {
                (StageKind::Operator { op: name.clone() }, in_cols)
            } else {
                (
                    StageKind::Take {
                        count: self.count(e, lim),
                        by: vec![],
                    },
                    in_cols,
                )
            }
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_distinct(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Distinct(items) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            let fields: Vec<String> = items.iter().map(|x| self.column_name(x)).collect();
            let c = if fields.iter().any(|f| f == "*") {
                in_cols
            } else {
                Cols::closed(fields.clone())
            };
            (StageKind::Distinct { fields }, c)
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_count(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Count(alias) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            let alias = alias
                .as_ref()
                .map(|n| n.name.clone())
                .unwrap_or_else(|| "Count".into());
            let agg = Agg {
                func: "count".into(),
                field: None,
                alias: alias.clone(),
            };
            (
                StageKind::Aggregate {
                    by: vec![],
                    aggs: vec![agg],
                    having: None,
                    within_secs: None,
                },
                Cols::closed(vec![alias]),
            )
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_as(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::As(n) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        {
            let id = self.add(
                name.clone(),
                StageKind::Operator { op: name.clone() },
                std::mem::take(inputs),
                span,
                in_cols,
            );
            self.bind(&n.name, Binding::Table { stage: id });
            Step::Done(id)
        }
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_invoke(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Invoke(call) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            let (fname, args): (String, &'a [Expr]) = match &call.kind {
                ExprKind::Call { name, args } => (name.name.clone(), args.as_slice()),
                _ => (compact(call.text(self.text)), &[]),
            };
            if let Some(Binding::Func { f, .. }) = self.lookup(&fname, lim).cloned() {
                return Step::Done(self.invoke(&fname, f, args, input, span, lim));
            }
            self.scan_all(args, lim);
            (StageKind::Invoke { function: fname }, Cols::open())
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_render(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let (OpKind::Render(_) | OpKind::GetSchema | OpKind::Generic) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = (
            StageKind::Operator { op: name.clone() },
            if matches!(op.kind, OpKind::Render(_)) {
                in_cols
            } else {
                Cols::open()
            },
        );
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_search(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Search { tables, pred } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = {
            for t in tables {
                let id = self.tabular(t, lim);
                inputs.push(id);
            }
            if inputs.is_empty() {
                let id = self.add(
                    "*",
                    StageKind::Source { telemetry: vec![] },
                    vec![],
                    span,
                    Cols::open(),
                );
                inputs.push(id);
            }
            let expr = match pred {
                Some(p) => {
                    self.scan(p, lim);
                    self.search_mode = true;
                    let x = self.pred(p, lim);
                    self.search_mode = false;
                    x
                }
                None => IrExpr::Const { value: true },
            };
            (StageKind::Filter { expr }, Cols::open())
        };
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_range(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Range { name: n, .. } = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = (
            StageKind::Source { telemetry: vec![] },
            Cols::closed(vec![n.name.clone()]),
        );
        Step::Stage(kind, cols)
    }

    #[inline(never)]
    #[allow(unused_variables, clippy::ptr_arg)]
    fn lower_error(
        &mut self,
        op: &'a Operator,
        input: Option<StageId>,
        lim: usize,
        inputs: &mut Vec<StageId>,
        mark: usize,
    ) -> Step {
        let name = op.name.clone();
        let span = op.span;
        let in_cols = self.cols_of(input);
        let OpKind::Error(err) = &op.kind else {
            return Step::Stage(StageKind::Operator { op: name }, in_cols);
        };
        let (kind, cols) = (
            StageKind::Unmodeled {
                why: format!("syntax error: {}", err.message),
            },
            Cols::open(),
        );
        Step::Stage(kind, cols)
    }

    /// Seconds of a timespan expression (literal, `let` constant), if constant.
    fn seconds(&self, e: &'a Expr, lim: usize) -> Option<u64> {
        let v = self.const_vals(e, lim)?;
        if v.transform != Some("timespan") {
            return None;
        }
        match v.values.first()? {
            Value::Str(s) => timespan_seconds(s)
                .filter(|x| *x >= 0.0 && x.is_finite())
                .map(|x| x.round() as u64),
            _ => None,
        }
    }

    fn count(&self, e: &'a Expr, lim: usize) -> Option<u64> {
        match self.const_vals(e, lim)?.values.first()? {
            Value::Int(i) => u64::try_from(*i).ok(),
            _ => None,
        }
    }

    fn sort_keys(&self, by: &[OrderBy]) -> Vec<SortKey> {
        by.iter()
            .map(|o| SortKey {
                field: self.column_name(&o.expr),
                desc: o.desc.unwrap_or(true),
            })
            .collect()
    }

    fn aggregate(
        &mut self,
        aggs: &'a [Expr],
        by: &'a [Expr],
        within: Option<u64>,
        lim: usize,
    ) -> (StageKind, Cols) {
        let mut out = Vec::new();
        let mut open = false;
        for a in aggs {
            let (alias, expr) = match &a.kind {
                ExprKind::Named { names, expr } => (
                    names
                        .iter()
                        .map(|n| n.name.clone())
                        .collect::<Vec<_>>()
                        .join(", "),
                    &**expr,
                ),
                _ => (String::new(), a),
            };
            let agg = match &expr.unparen().kind {
                ExprKind::Call { name, args } => {
                    let field = args.first().map(|x| self.column_name(x));
                    let func = name.name.clone();
                    if matches!(func.as_str(), "arg_max" | "arg_min" | "argmax" | "argmin")
                        && args.iter().any(|x| matches!(x.kind, ExprKind::Star))
                    {
                        open = true;
                    }
                    let alias = if alias.is_empty() {
                        default_alias(&func, args, self)
                    } else {
                        alias
                    };
                    Agg { func, field, alias }
                }
                _ => {
                    let text = compact(expr.text(self.text));
                    Agg {
                        func: "expr".into(),
                        field: Some(text.clone()),
                        alias: if alias.is_empty() { text } else { alias },
                    }
                }
            };
            out.push(agg);
        }
        let by_names: Vec<String> = by.iter().map(|x| self.column_name(x)).collect();
        let mut within_secs = within;
        for b in by {
            let inner = match &b.kind {
                ExprKind::Named { expr, .. } => &**expr,
                _ => b,
            };
            if let ExprKind::Call { name, args } = &inner.unparen().kind {
                if matches!(name.name.as_str(), "bin" | "floor" | "bin_at") && args.len() >= 2 {
                    if let Some(s) = self.seconds(&args[1], lim) {
                        within_secs = within_secs.or(Some(s));
                    }
                }
            }
        }
        let mut cols = Cols::closed(by_names.clone());
        out.iter().for_each(|a| cols.add(a.alias.clone()));
        cols.open = open;
        (
            StageKind::Aggregate {
                by: by_names,
                aggs: out,
                having: None,
                within_secs,
            },
            cols,
        )
    }

    /// `$left.A == $right.B` → (A, B); `Key` → (Key, Key).
    fn join_key(&self, x: &'a Expr) -> Option<(String, String)> {
        let x = x.unparen();
        match &x.kind {
            ExprKind::Name(n) => Some((n.name.clone(), n.name.clone())),
            ExprKind::Binary {
                level: Level::Equality,
                first,
                rest,
            } if rest.len() == 1 && rest[0].0.op == "==" => {
                let side = |e: &Expr| -> Option<(bool, String)> {
                    match &e.unparen().kind {
                        ExprKind::Path { base, segments } if segments.len() == 1 => {
                            let left = match base.as_name()? {
                                "$left" => true,
                                "$right" => false,
                                _ => return None,
                            };
                            match &segments[0] {
                                Segment::Member(n) => Some((left, n.name.clone())),
                                _ => None,
                            }
                        }
                        ExprKind::Name(n) => Some((true, n.name.clone())),
                        _ => None,
                    }
                };
                let (a_left, a) = side(first)?;
                let (b_left, b) = side(&rest[0].1)?;
                match (a_left, b_left) {
                    (true, false) => Some((a, b)),
                    (false, true) => Some((b, a)),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The name a column expression gets (or has) in the result.
    fn column_name(&self, e: &Expr) -> String {
        match &e.kind {
            ExprKind::Named { names, .. } => names
                .iter()
                .map(|n| n.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            ExprKind::Name(n) => n.name.clone(),
            ExprKind::Star => "*".into(),
            ExprKind::Wildcard(w) => w.clone(),
            _ => compact(e.text(self.text)),
        }
    }

    /// A field as text: a plain column's name, else the expression's text.
    fn field_text(&self, e: &Expr) -> String {
        match &e.unparen().kind {
            ExprKind::Name(n) => n.name.clone(),
            _ => compact(e.text(self.text)),
        }
    }

    // ----- predicates ---------------------------------------------------------------------

    fn unmodeled_expr(&self, e: &Expr, why: impl Into<String>) -> IrExpr {
        IrExpr::Unmodeled {
            text: compact(e.text(self.text)),
            why: why.into(),
        }
    }

    /// A `where` condition as an `ir::Expr`.
    fn pred(&mut self, e: &'a Expr, lim: usize) -> IrExpr {
        self.pred_depth(e, lim, 0)
    }

    fn pred_depth(&mut self, e: &'a Expr, lim: usize, depth: usize) -> IrExpr {
        if depth > 256 {
            return self.unmodeled_expr(e, "condition nested too deeply");
        }
        let d = depth + 1;
        let whole = e;
        let e = e.unparen();
        match &e.kind {
            ExprKind::Binary {
                level: level @ (Level::Or | Level::And),
                first,
                rest,
            } => {
                let mut of = Vec::with_capacity(rest.len() + 1);
                for x in std::iter::once(&**first).chain(rest.iter().map(|(_, x)| x)) {
                    let p = self.pred_depth(x, lim, d);
                    // Flatten parenthesized groups of the same kind (not `between`'s pair).
                    let same = matches!(&x.unparen().kind, ExprKind::Binary { level: l, .. } if l == level);
                    match (level, p) {
                        (Level::Or, IrExpr::Or { of: inner })
                        | (Level::And, IrExpr::And { of: inner })
                            if same =>
                        {
                            of.extend(inner)
                        }
                        (_, p) => of.push(p),
                    }
                }
                if *level == Level::Or {
                    IrExpr::Or { of }
                } else {
                    IrExpr::And { of }
                }
            }
            ExprKind::Binary { first, rest, .. } if rest.len() == 1 => {
                self.compare(first, &rest[0].0.op, &rest[0].1, e, lim)
            }
            ExprKind::Binary { .. } => self.unmodeled_expr(e, "chained comparison"),
            ExprKind::InList { left, op, items } => self.in_list(left, &op.op, items, e, lim),
            ExprKind::Between {
                left,
                negated,
                low,
                high,
            } => {
                let field =
                    match self.operand(left, lim) {
                        Operand::Field { name, ci, .. } => (name, ci),
                        _ => return self.unmodeled_expr(
                            e,
                            "`between` on a value that is not a column or expression of columns",
                        ),
                    };
                let (Operand::Vals(lo), Operand::Vals(hi)) =
                    (self.operand(low, lim), self.operand(high, lim))
                else {
                    return self.unmodeled_expr(e, "`between` bounds are not constants");
                };
                let raw = compact(e.text(self.text));
                let mk = |op: Op, v: Vals| {
                    IrExpr::Pred(Predicate {
                        field: field.0.clone(),
                        op,
                        values: v.values,
                        all: false,
                        case_sensitive: true,
                        negated: false,
                        transforms: v.transform.map(|t| vec![t.to_string()]).unwrap_or_default(),
                        flags: String::new(),
                        raw: raw.clone(),
                        canonical: None,
                        span: Some(e.span),
                    })
                };
                let both = IrExpr::And {
                    of: vec![mk(Op::Ge, lo), mk(Op::Le, hi)],
                };
                if *negated {
                    IrExpr::Not {
                        expr: Box::new(both),
                    }
                } else {
                    both
                }
            }
            ExprKind::Call { name, args } => {
                let n = name.name.as_str();
                match (n, args.len()) {
                    ("not", 1) => IrExpr::Not {
                        expr: Box::new(self.pred_depth(&args[0], lim, d)),
                    },
                    (
                        "isnotempty" | "isnotnull" | "isempty" | "isnull" | "notempty" | "notnull",
                        1,
                    ) => match self.operand(&args[0], lim) {
                        Operand::Vals(v) if v.transform.is_none() && v.values.len() <= 1 => {
                            let empty = match v.values.first() {
                                None | Some(Value::Null) => true,
                                Some(Value::Str(s)) => s.is_empty() && n.ends_with("empty"),
                                _ => false,
                            };
                            IrExpr::Const {
                                value: empty == matches!(n, "isempty" | "isnull"),
                            }
                        }
                        Operand::Field { name: field, .. } => IrExpr::Pred(Predicate {
                            field,
                            op: Op::Exists,
                            values: vec![],
                            all: false,
                            case_sensitive: false,
                            negated: matches!(n, "isempty" | "isnull"),
                            transforms: vec![],
                            flags: String::new(),
                            raw: compact(e.text(self.text)),
                            canonical: None,
                            span: Some(e.span),
                        }),
                        _ => {
                            self.unmodeled_expr(e, format!("`{n}` of a value that is not a column"))
                        }
                    },
                    _ if self.lookup(n, lim).is_none() && IP_FNS.contains(&n) => {
                        self.ip_pred(n, args, e, lim)
                    }
                    _ => match self.lookup(n, lim).cloned() {
                        Some(Binding::Func { f, .. })
                            if !self.func_is_tabular(f) && self.call_depth < MAX_CALL_DEPTH =>
                        {
                            // A scalar user function: its body's expression with the arguments bound.
                            let Some(Statement::Query(body)) = f
                                .body
                                .statements
                                .iter()
                                .rev()
                                .find(|s| matches!(s, Statement::Query(_)))
                            else {
                                return self.unmodeled_expr(
                                    e,
                                    format!("call of function `{n}` without a body expression"),
                                );
                            };
                            let mut frame = HashMap::new();
                            let mut pos = args.iter();
                            for p in &f.params {
                                let b = match pos.next().or(p.default.as_ref()) {
                                    Some(a) => Binding::Arg {
                                        expr: a,
                                        frame: lim,
                                    },
                                    None => Binding::Unbound,
                                };
                                frame.insert(p.name.name.clone(), b);
                            }
                            self.frames.push(frame);
                            self.call_depth += 1;
                            let lim2 = self.lim();
                            let r = self.pred_depth(body, lim2, d);
                            self.call_depth -= 1;
                            self.frames.pop();
                            r
                        }
                        _ => self.unmodeled_expr(e, format!("condition computed by `{n}()`")),
                    },
                }
            }
            ExprKind::Literal {
                kind: LiteralKind::Bool,
                text,
            } => IrExpr::Const {
                value: text.eq_ignore_ascii_case("true"),
            },
            ExprKind::Literal {
                kind: LiteralKind::Str,
                text,
            } if self.search_mode => IrExpr::Pred(Predicate {
                field: None,
                op: Op::Token,
                values: vec![Value::Str(text.clone())],
                all: false,
                case_sensitive: false,
                negated: false,
                transforms: vec![],
                flags: String::new(),
                raw: compact(e.text(self.text)),
                canonical: None,
                span: Some(e.span),
            }),
            ExprKind::Star if self.search_mode => IrExpr::Const { value: true },
            ExprKind::Name(n) => match self.lookup(&n.name, lim).cloned() {
                Some(Binding::Arg { expr, frame }) => self.pred_depth(expr, frame, d),
                Some(Binding::Const { vals, .. }) => match vals.values.as_slice() {
                    [Value::Bool(b)] => IrExpr::Const { value: *b },
                    _ => self.unmodeled_expr(
                        whole,
                        "a constant that is not a boolean used as a condition",
                    ),
                },
                Some(Binding::Scalar { .. })
                | Some(Binding::Table { .. })
                | Some(Binding::Func { .. }) => {
                    self.unmodeled_expr(whole, "a computed value used as a condition")
                }
                _ => IrExpr::Pred(Predicate {
                    field: Some(n.name.clone()),
                    op: Op::Eq,
                    values: vec![Value::Bool(true)],
                    all: false,
                    case_sensitive: true,
                    negated: false,
                    transforms: vec![],
                    flags: String::new(),
                    raw: n.name.clone(),
                    canonical: None,
                    span: Some(e.span),
                }),
            },
            ExprKind::Error(err) => {
                self.unmodeled_expr(whole, format!("syntax error: {}", err.message))
            }
            _ => self.unmodeled_expr(whole, "not a condition the model has a form for"),
        }
    }

    /// IPv4 functions used as conditions: `ipv4_is_private(x)`, `ipv4_is_in_range(x, "10.0.0.0/8")`,
    /// `ipv4_is_in_any_range`, `ipv4_is_match(x, ip, prefix)` are `cidr`; `has_ipv4(x, ip)`,
    /// `has_any_ipv4(x, ips)` are `token` (`has_ipv4_prefix` forms with the transform `prefix`).
    fn ip_pred(&mut self, n: &str, args: &'a [Expr], e: &'a Expr, lim: usize) -> IrExpr {
        let Some(first) = args.first() else {
            return self.unmodeled_expr(e, format!("`{n}()` without arguments"));
        };
        let mut swap = false;
        let field = match self.operand(first, lim) {
            Operand::Field { name, .. } => name,
            Operand::Vals(_) if n == "ipv4_is_match" && args.len() >= 2 => {
                match self.operand(&args[1], lim) {
                    Operand::Field { name, .. } => {
                        swap = true;
                        name
                    }
                    _ => return self.unmodeled_expr(e, format!("`{n}()` of constants")),
                }
            }
            _ => return self.unmodeled_expr(e, format!("`{n}()` of a value that is not a column")),
        };
        let mut values = Vec::new();
        let rest: Vec<&'a Expr> = if swap {
            std::iter::once(first).chain(args.iter().skip(2)).collect()
        } else {
            args.iter().skip(1).collect()
        };
        let mut tf = None;
        let op = match n {
            "ipv4_is_private" => {
                values = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
                    .iter()
                    .map(|x| Value::Str(x.to_string()))
                    .collect();
                Op::Cidr
            }
            "ipv4_is_match" => {
                let (Some(ip), prefix) = (rest.first(), rest.get(1)) else {
                    return self.unmodeled_expr(e, "`ipv4_is_match()` without an address");
                };
                let ip = match self
                    .const_vals(ip, lim)
                    .and_then(|v| v.values.into_iter().next())
                {
                    Some(Value::Str(s)) => s,
                    _ => {
                        return self.unmodeled_expr(
                            e,
                            "`ipv4_is_match()` with an address that is not a constant",
                        )
                    }
                };
                let bits = match prefix.map(|p| {
                    self.const_vals(p, lim)
                        .and_then(|v| v.values.into_iter().next())
                }) {
                    None => 32,
                    Some(Some(Value::Int(b))) => b,
                    Some(_) => {
                        return self.unmodeled_expr(
                            e,
                            "`ipv4_is_match()` with a prefix that is not a constant",
                        )
                    }
                };
                let ip = ip.split('/').next().unwrap_or("").to_string();
                values.push(Value::Str(format!("{ip}/{bits}")));
                Op::Cidr
            }
            _ => {
                for a in &rest {
                    match self.const_vals(a, lim) {
                        Some(v) if v.transform.is_none() => values.extend(v.values),
                        _ => {
                            return self.unmodeled_expr(
                                e,
                                format!("`{n}()` with values that are not constants"),
                            )
                        }
                    }
                }
                if n.ends_with("_prefix") {
                    tf = Some("prefix");
                }
                if n.starts_with("has_") {
                    Op::Token
                } else {
                    Op::Cidr
                }
            }
        };
        let s = Spec {
            op,
            negated: false,
            cased: false,
            all: false,
            transform: tf,
        };
        self.make_pred(
            field,
            &s,
            false,
            Vals {
                values,
                transform: None,
                list: true,
            },
            e,
        )
    }

    /// What one side of a comparison is.
    fn operand(&self, e: &'a Expr, lim: usize) -> Operand {
        self.operand_depth(e, lim, 0)
    }

    fn operand_depth(&self, e: &'a Expr, lim: usize, depth: usize) -> Operand {
        if depth > 64 {
            return Operand::Other("operand nested too deeply".into());
        }
        let e = e.unparen();
        if let Some(v) = self.const_vals(e, lim) {
            return Operand::Vals(v);
        }
        match &e.kind {
            ExprKind::Name(n) => match self.lookup(&n.name, lim) {
                Some(Binding::Scalar {
                    text,
                    constant: true,
                    ..
                }) => Operand::Vals(Vals {
                    values: vec![Value::Str(text.clone())],
                    transform: Some("expr"),
                    list: false,
                }),
                Some(Binding::Scalar { .. }) | Some(Binding::Table { .. }) => Operand::Subquery,
                Some(Binding::Arg { expr, frame }) => self.operand_depth(expr, *frame, depth + 1),
                Some(Binding::Func { .. }) => {
                    Operand::Other(format!("function `{}` used as a value", n.name))
                }
                _ => Operand::Field {
                    name: Some(n.name.clone()),
                    plain: true,
                    ci: false,
                },
            },
            ExprKind::Star => Operand::Field {
                name: None,
                plain: true,
                ci: false,
            },
            ExprKind::Path { .. } if !self.is_constant(e, lim) => {
                if self.has_subquery(e) {
                    return Operand::Subquery;
                }
                let plain = matches!(&e.kind, ExprKind::Path { base, segments } if matches!(base.kind, ExprKind::Name(_)) && segments.iter().all(|s| !matches!(s, Segment::Call(..))));
                Operand::Field {
                    name: Some(compact(e.text(self.text))),
                    plain,
                    ci: false,
                }
            }
            ExprKind::Call { name, args }
                if args.len() == 1 && matches!(name.name.as_str(), "tolower" | "toupper") =>
            {
                match self.operand_depth(&args[0], lim, depth + 1) {
                    Operand::Field { name, plain, .. } => Operand::Field {
                        name,
                        plain,
                        ci: true,
                    },
                    Operand::Vals(mut v) => {
                        for x in &mut v.values {
                            if let Value::Str(s) = x {
                                *s = if name.name == "tolower" {
                                    s.to_lowercase()
                                } else {
                                    s.to_uppercase()
                                };
                            }
                        }
                        Operand::Vals(v)
                    }
                    other => other,
                }
            }
            ExprKind::Call { name, args }
                if args.len() == 1
                    && matches!(
                        name.name.as_str(),
                        "tostring"
                            | "toint"
                            | "tolong"
                            | "toreal"
                            | "todouble"
                            | "todecimal"
                            | "tobool"
                            | "toboolean"
                            | "todatetime"
                            | "totimespan"
                            | "toguid"
                    ) =>
            {
                self.operand_depth(&args[0], lim, depth + 1)
            }
            ExprKind::Call { name, .. } if name.name == "toscalar" => Operand::Subquery,
            ExprKind::Pipe { .. }
            | ExprKind::SourceOp(_)
            | ExprKind::Datatable { .. }
            | ExprKind::ExternalData { .. } => Operand::Subquery,
            ExprKind::Error(err) => Operand::Other(format!("syntax error: {}", err.message)),
            _ if self.is_constant(e, lim) => Operand::Vals(Vals {
                values: vec![Value::Str(compact(e.text(self.text)))],
                transform: Some("expr"),
                list: false,
            }),
            _ if self.has_subquery(e) => Operand::Subquery,
            _ => Operand::Field {
                name: Some(compact(e.text(self.text))),
                plain: false,
                ci: false,
            },
        }
    }

    fn has_subquery(&self, e: &Expr) -> bool {
        fn walk(e: &Expr, depth: usize) -> bool {
            if depth > 128 {
                return false;
            }
            match &e.kind {
                ExprKind::Pipe { .. } | ExprKind::SourceOp(_) => true,
                ExprKind::Call { name, args } => {
                    name.name == "toscalar" || args.iter().any(|a| walk(a, depth + 1))
                }
                ExprKind::Paren(x)
                | ExprKind::Unary { expr: x, .. }
                | ExprKind::Named { expr: x, .. } => walk(x, depth + 1),
                ExprKind::Binary { first, rest, .. } => {
                    walk(first, depth + 1) || rest.iter().any(|(_, x)| walk(x, depth + 1))
                }
                ExprKind::Path { base, segments } => {
                    walk(base, depth + 1)
                        || segments.iter().any(|s| match s {
                            Segment::Index(x) => walk(x, depth + 1),
                            Segment::Call(_, a) => a.iter().any(|x| walk(x, depth + 1)),
                            Segment::Member(_) => false,
                        })
                }
                _ => false,
            }
        }
        walk(e, 0)
    }

    fn make_pred(
        &self,
        field: Option<String>,
        s: &Spec,
        ci: bool,
        vals: Vals,
        whole: &Expr,
    ) -> IrExpr {
        let mut transforms = Vec::new();
        if let Some(t) = s.transform {
            transforms.push(t.to_string());
        }
        if let Some(t) = vals.transform {
            transforms.push(t.to_string());
        }
        IrExpr::Pred(Predicate {
            field,
            op: s.op,
            values: vals.values,
            all: s.all,
            case_sensitive: s.cased && !ci,
            negated: s.negated,
            transforms,
            flags: String::new(),
            raw: compact(whole.text(self.text)),
            canonical: None,
            span: Some(whole.span),
        })
    }

    fn compare(
        &mut self,
        lhs: &'a Expr,
        op: &str,
        rhs: &'a Expr,
        whole: &'a Expr,
        lim: usize,
    ) -> IrExpr {
        let Some(s) = spec(op) else {
            return self.unmodeled_expr(whole, format!("operator `{op}` has no form in the model"));
        };
        let (l, r) = (self.operand(lhs, lim), self.operand(rhs, lim));
        let eqish = matches!(op, "==" | "!=" | "<>" | "=~" | "!~");
        match (l, r) {
            (Operand::Field { name, ci, .. }, Operand::Vals(v)) => {
                self.make_pred(name, &s, ci, v, whole)
            }
            (Operand::Vals(v), Operand::Field { name, ci, .. }) => {
                let mirrored = match op {
                    "<" => ">",
                    ">" => "<",
                    "<=" => ">=",
                    ">=" => "<=",
                    o if eqish => o,
                    _ => {
                        return self
                            .unmodeled_expr(whole, format!("constant on the left of `{op}`"))
                    }
                };
                let s = spec(mirrored).unwrap_or(s);
                self.make_pred(name, &s, ci, v, whole)
            }
            (
                Operand::Field { name, ci, .. },
                Operand::Field {
                    name: Some(other),
                    plain: true,
                    ci: ci2,
                },
            ) if eqish && name.is_some() => {
                let vals = Vals {
                    values: vec![Value::Str(other)],
                    transform: None,
                    list: false,
                };
                let fs = Spec {
                    op: Op::FieldRef,
                    ..s
                };
                self.make_pred(name, &fs, ci || ci2, vals, whole)
            }
            (Operand::Field { .. }, Operand::Field { plain, .. }) => self.unmodeled_expr(
                whole,
                if plain {
                    format!("`{op}` between two columns")
                } else {
                    "compares with an expression of columns".to_string()
                },
            ),
            (_, Operand::Subquery) | (Operand::Subquery, _) => {
                self.unmodeled_expr(whole, "compares with the result of a sub-query")
            }
            (Operand::Vals(a), Operand::Vals(b))
                if eqish
                    && a.transform.is_none()
                    && b.transform.is_none()
                    && a.values.len() == 1
                    && b.values.len() == 1 =>
            {
                IrExpr::Const {
                    value: same_value(&a.values[0], &b.values[0], s.cased) != s.negated,
                }
            }
            (Operand::Vals(_), Operand::Vals(_)) => {
                self.unmodeled_expr(whole, "compares two constants")
            }
            (Operand::Other(why), _) | (_, Operand::Other(why)) => self.unmodeled_expr(whole, why),
        }
    }

    fn in_list(
        &mut self,
        left: &'a Expr,
        op: &str,
        items: &'a [Expr],
        whole: &'a Expr,
        lim: usize,
    ) -> IrExpr {
        let Some(s) = spec(op) else {
            return self.unmodeled_expr(whole, format!("operator `{op}` has no form in the model"));
        };
        let (field, ci) = match self.operand(left, lim) {
            Operand::Field { name, ci, .. } => (name, ci),
            Operand::Vals(v) if s.op == Op::Eq && v.transform.is_none() && v.values.len() == 1 => {
                // `"x" in (list)` with a constant list: fold.
                let mut found = false;
                for it in items {
                    match self.operand(it, lim) {
                        Operand::Vals(w) if w.transform.is_none() => {
                            found |= w
                                .values
                                .iter()
                                .any(|x| same_value(&v.values[0], x, s.cased))
                        }
                        _ => {
                            return self
                                .unmodeled_expr(whole, format!("constant on the left of `{op}`"))
                        }
                    }
                }
                return IrExpr::Const {
                    value: found != s.negated,
                };
            }
            Operand::Vals(_) => {
                return self.unmodeled_expr(whole, format!("constant on the left of `{op}`"))
            }
            Operand::Subquery => {
                return self.unmodeled_expr(whole, "compares with the result of a sub-query")
            }
            Operand::Other(why) => return self.unmodeled_expr(whole, why),
        };
        let mut vals = Vals {
            values: Vec::new(),
            transform: None,
            list: true,
        };
        for it in items {
            match self.operand(it, lim) {
                Operand::Vals(v) => {
                    vals.values.extend(v.values);
                    vals.transform = vals.transform.or(v.transform);
                }
                Operand::Subquery => {
                    return self.unmodeled_expr(whole, format!("`{op}` a sub-query's result"))
                }
                Operand::Field { .. } => {
                    return self.unmodeled_expr(whole, format!("`{op}` a list holding columns"))
                }
                Operand::Other(why) => return self.unmodeled_expr(whole, why),
            }
        }
        // An empty list stays a predicate with no values: `in ()` holds for no row, `!in ()` for all.
        self.make_pred(field, &s, ci, vals, whole)
    }
}

/// IPv4 functions that `ip_pred` models as conditions.
const IP_FNS: &[&str] = &[
    "ipv4_is_private",
    "ipv4_is_in_range",
    "ipv4_is_in_any_range",
    "ipv4_is_match",
    "has_ipv4",
    "has_any_ipv4",
    "has_ipv4_prefix",
    "has_any_ipv4_prefix",
];

/// Equality of two constants as KQL's `==` (`cased`) or `=~` would see it.
fn same_value(a: &Value, b: &Value, cased: bool) -> bool {
    match (a, b) {
        (Value::Str(x), Value::Str(y)) => {
            if cased {
                x == y
            } else {
                x.to_lowercase() == y.to_lowercase()
            }
        }
        (Value::Int(x), Value::Float(y)) | (Value::Float(y), Value::Int(x)) => (*x as f64) == *y,
        _ => a == b,
    }
}

/// KQL's default name of an aggregate without one: `count_`, `dcount_User`, `set_X`.
fn default_alias(func: &str, args: &[Expr], cx: &Cx) -> String {
    let arg = args.first().map(|a| match &a.unparen().kind {
        ExprKind::Name(n) => n.name.clone(),
        _ => String::new(),
    });
    let arg = arg.unwrap_or_default();
    let base = match func {
        "count" => return "count_".into(),
        "countif" => return "countif_".into(),
        "make_set" | "makeset" | "make_set_if" => "set",
        "make_list" | "makelist" | "make_list_if" | "make_list_with_nulls" => "list",
        "make_bag" | "make_bag_if" => "bag",
        "take_any" | "any" | "take_anyif" | "anyif" => "any",
        "arg_max" | "arg_min" | "argmax" | "argmin" => {
            return if arg.is_empty() {
                args.first()
                    .map(|a| cx.column_name(a))
                    .unwrap_or_else(|| func.to_string())
            } else {
                arg
            }
        }
        f => f,
    };
    if arg.is_empty() {
        format!("{base}_")
    } else {
        format!("{base}_{arg}")
    }
}

fn join_cols(mode: &str, left: Cols, right: Cols) -> Cols {
    match mode {
        "leftanti" | "anti" | "leftantisemi" | "leftsemi" => left,
        "rightanti" | "rightantisemi" | "rightsemi" => right,
        _ => {
            let mut c = left;
            let seen: HashSet<String> = c.names.iter().cloned().collect();
            for n in right.names {
                if seen.contains(&n) {
                    c.add(format!("{n}1"));
                } else {
                    c.add(n);
                }
            }
            c.open |= right.open;
            c
        }
    }
}
