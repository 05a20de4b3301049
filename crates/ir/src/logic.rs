use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{Span, Telemetry};

pub type StageId = usize;

/// A rule's logic: named stages forming a small dataflow graph; `output` is the stage whose
/// result is the rule's result. Sigma: stage 0 is the condition, then one stage per selection.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Logic {
    pub stages: Vec<Stage>,
    pub output: StageId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    pub id: StageId,
    pub name: String,
    #[serde(flatten)]
    pub kind: StageKind,
    /// Stages whose rows flow into this one (dataflow inputs, not `Ref`s inside expressions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inputs: Vec<StageId>,
    /// The source text this stage came from.
    #[serde(default)]
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

impl Stage {
    /// Every predicate of this stage, in source order.
    pub fn predicates(&self) -> Vec<&Predicate> {
        let mut out = Vec::new();
        match &self.kind {
            StageKind::Condition { expr } | StageKind::Selection { expr } | StageKind::Filter { expr } => {
                expr.collect_predicates(&mut out)
            }
            StageKind::Aggregate { having: Some(expr), .. } => expr.collect_predicates(&mut out),
            _ => {}
        }
        out
    }

    /// The same predicates, to annotate (canonical fields).
    pub fn predicates_mut(&mut self) -> Vec<&mut Predicate> {
        let mut out = Vec::new();
        match &mut self.kind {
            StageKind::Condition { expr } | StageKind::Selection { expr } | StageKind::Filter { expr } => {
                expr.collect_predicates_mut(&mut out)
            }
            StageKind::Aggregate { having: Some(expr), .. } => expr.collect_predicates_mut(&mut out),
            _ => {}
        }
        out
    }
}

/// What a stage does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum StageKind {
    /// Where the rows come from (a log source, table, data model).
    Source { telemetry: Vec<Telemetry> },
    /// A boolean combination of other stages (`Ref`s), evaluated on the same event: the Sigma condition.
    Condition { expr: Expr },
    /// A named group of predicates evaluated on one event (a Sigma selection or filter).
    Selection { expr: Expr },
    /// Keeps the rows of its input for which `expr` holds (KQL `where`, SPL `search`/`where`).
    Filter { expr: Expr },
    /// Keeps or produces these output fields.
    Project { fields: Vec<String> },
    /// Groups rows and computes aggregates; `having` filters the groups.
    Aggregate {
        #[serde(default)]
        by: Vec<String>,
        aggs: Vec<Agg>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        having: Option<Expr>,
        /// Time window in seconds, when the aggregation is bounded in time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within_secs: Option<u64>,
    },
    /// A Sigma correlation over other rules' matches.
    Correlation(Correlation),
    /// Something the front end could not model; counted and shown, never dropped.
    Unmodeled { why: String },
    /// A named scalar or list (KQL scalar `let`, `dynamic([...])`, a one-column `datatable`):
    /// `values` when it is constant, else `expr` holds the expression's text.
    Let {
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        values: Vec<Value>,
        /// The value is a list (`dynamic([...])`, a `datatable` column), even of one element.
        #[serde(default)]
        list: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expr: Option<String>,
    },
    /// A named tabular expression (KQL tabular `let`); its input is the expression's result.
    View {
        #[serde(default)]
        materialized: bool,
    },
    /// A user function declaration (KQL `let f = (a:string) {...}`); each call is an `Invoke`.
    Function {
        #[serde(default)]
        params: Vec<String>,
    },
    /// A call of a user function (KQL `f(T)`, `invoke f()`); inputs: the function body's result
    /// for this call, then the piped input.
    Invoke { function: String },
    /// Adds computed fields (KQL `extend`).
    Extend { fields: Vec<String> },
    /// Drops fields (KQL `project-away`).
    ProjectAway { fields: Vec<String> },
    /// Renames fields, as (new name, old name) pairs (KQL `project-rename`).
    Rename { fields: Vec<(String, String)> },
    /// Joins input 0 (left) with input 1 (right) on (left field, right field) pairs.
    Join {
        /// `inner`, `innerunique`, `leftouter`, `leftanti`, ...
        mode: String,
        /// The query did not name the kind (KQL then uses `innerunique`).
        #[serde(default)]
        implicit_mode: bool,
        #[serde(default)]
        on: Vec<(String, String)>,
        /// Hints such as (`hint.strategy`, `broadcast`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        hints: Vec<(String, String)>,
    },
    /// Enriches input 0 with the rows of input 1 (a dimension table) (KQL `lookup`).
    Lookup {
        mode: String,
        #[serde(default)]
        on: Vec<(String, String)>,
    },
    /// All rows of all inputs (KQL `union`).
    Union {
        #[serde(default)]
        fuzzy: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        withsource: Option<String>,
    },
    /// One row per element of these dynamic fields (KQL `mv-expand`).
    MvExpand { fields: Vec<String> },
    /// Extracts `outputs` from the text of `field` (KQL `parse`, `parse-where`, `parse-kv`).
    Parse {
        field: String,
        #[serde(default)]
        outputs: Vec<String>,
        /// `simple`, `regex`, `relaxed`, `kv` when given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mode: Option<String>,
    },
    /// Orders rows.
    Sort { by: Vec<SortKey> },
    /// Keeps `count` rows, the first ones after ordering by `by` when given (KQL `take`, `top`).
    Take {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        by: Vec<SortKey>,
    },
    /// Distinct rows over these fields.
    Distinct { fields: Vec<String> },
    /// A plugin call (KQL `evaluate bag_unpack(x)`); `args` as written.
    Evaluate {
        plugin: String,
        #[serde(default)]
        args: Vec<String>,
    },
    /// Any other operator, by its name (KQL `render`, `serialize`, `mv-apply`, `as`, ...).
    Operator { op: String },
}

impl StageKind {
    pub fn name(&self) -> &'static str {
        match self {
            StageKind::Source { .. } => "source",
            StageKind::Condition { .. } => "condition",
            StageKind::Selection { .. } => "selection",
            StageKind::Filter { .. } => "filter",
            StageKind::Project { .. } => "project",
            StageKind::Aggregate { .. } => "aggregate",
            StageKind::Correlation(_) => "correlation",
            StageKind::Unmodeled { .. } => "unmodeled",
            StageKind::Let { .. } => "let",
            StageKind::View { .. } => "view",
            StageKind::Function { .. } => "function",
            StageKind::Invoke { .. } => "invoke",
            StageKind::Extend { .. } => "extend",
            StageKind::ProjectAway { .. } => "project_away",
            StageKind::Rename { .. } => "rename",
            StageKind::Join { .. } => "join",
            StageKind::Lookup { .. } => "lookup",
            StageKind::Union { .. } => "union",
            StageKind::MvExpand { .. } => "mv_expand",
            StageKind::Parse { .. } => "parse",
            StageKind::Sort { .. } => "sort",
            StageKind::Take { .. } => "take",
            StageKind::Distinct { .. } => "distinct",
            StageKind::Evaluate { .. } => "evaluate",
            StageKind::Operator { .. } => "operator",
        }
    }
}

/// One ordering key of a `Sort` or `Take` stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortKey {
    pub field: String,
    /// Descending (KQL's default order).
    #[serde(default)]
    pub desc: bool,
}

/// One aggregate function: `count()`, `count(User)`, `sum(Bytes)`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Agg {
    pub func: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Name the result is referred to by (`count(User)` when none was given).
    pub alias: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CorrelationKind {
    EventCount,
    ValueCount,
    Temporal,
    TemporalOrdered,
    ValueSum,
    ValueAvg,
    ValuePercentile,
    ValueMedian,
}

impl CorrelationKind {
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "event_count" => Self::EventCount,
            "value_count" => Self::ValueCount,
            "temporal" => Self::Temporal,
            "temporal_ordered" => Self::TemporalOrdered,
            "value_sum" => Self::ValueSum,
            "value_avg" => Self::ValueAvg,
            "value_percentile" => Self::ValuePercentile,
            "value_median" => Self::ValueMedian,
            _ => return None,
        })
    }
}

/// Comparison used by thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl CmpOp {
    pub fn holds(self, left: f64, right: f64) -> bool {
        match self {
            CmpOp::Lt => left < right,
            CmpOp::Le => left <= right,
            CmpOp::Gt => left > right,
            CmpOp::Ge => left >= right,
            CmpOp::Eq => left == right,
            CmpOp::Ne => left != right,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Correlation {
    #[serde(rename = "type")]
    pub kind: CorrelationKind,
    /// Referenced rules, by id or name, as written.
    pub rules: Vec<String>,
    #[serde(default)]
    pub group_by: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timespan_secs: Option<u64>,
    /// All thresholds must hold (e.g. `gte: 10` and `lt: 100`).
    #[serde(default)]
    pub condition: Vec<(CmpOp, f64)>,
    /// The field a value_* correlation counts or sums.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Alias -> (rule -> field): one group-by name for fields named differently per rule.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub aliases: BTreeMap<String, BTreeMap<String, String>>,
    #[serde(default)]
    pub generate: bool,
}

/// Quantifier of `1 of x*`, `all of them`, `3 of sel*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quant {
    All,
    Any,
    AtLeast(u32),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Expr {
    And { of: Vec<Expr> },
    Or { of: Vec<Expr> },
    Not { expr: Box<Expr> },
    Pred(Predicate),
    /// The boolean result of another stage on the same row.
    Ref { stage: StageId, name: String },
    /// `quant of pattern`: how many of the matched stages must hold.
    Quant { quant: Quant, pattern: String, of: Vec<StageId> },
    /// Constant truth (e.g. an empty `search *`).
    Const { value: bool },
    Unmodeled { text: String, why: String },
}

impl Expr {
    pub fn collect_predicates_mut<'a>(&'a mut self, out: &mut Vec<&'a mut Predicate>) {
        match self {
            Expr::And { of } | Expr::Or { of } => of.iter_mut().for_each(|e| e.collect_predicates_mut(out)),
            Expr::Not { expr } => expr.collect_predicates_mut(out),
            Expr::Pred(p) => out.push(p),
            _ => {}
        }
    }

    pub fn collect_predicates<'a>(&'a self, out: &mut Vec<&'a Predicate>) {
        match self {
            Expr::And { of } | Expr::Or { of } => of.iter().for_each(|e| e.collect_predicates(out)),
            Expr::Not { expr } => expr.collect_predicates(out),
            Expr::Pred(p) => out.push(p),
            _ => {}
        }
    }
}

/// The closed set of predicate operators; names are the public interface (`op`, indicator `kind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Eq,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
    Cidr,
    Lt,
    Le,
    Gt,
    Ge,
    Exists,
    /// Whole-token match (KQL `has`).
    Token,
    /// A glob (`*`, `?`, `\` escapes) that is none of contains/startswith/endswith.
    Wildcard,
    /// Compares with another field of the same event; the value is that field's name.
    FieldRef,
}

impl Op {
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Eq => "eq",
            Op::Contains => "contains",
            Op::StartsWith => "startswith",
            Op::EndsWith => "endswith",
            Op::Regex => "regex",
            Op::Cidr => "cidr",
            Op::Lt => "lt",
            Op::Le => "le",
            Op::Gt => "gt",
            Op::Ge => "ge",
            Op::Exists => "exists",
            Op::Token => "token",
            Op::Wildcard => "wildcard",
            Op::FieldRef => "fieldref",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl Value {
    /// The value as text (numbers as written in decimal; null as empty).
    pub fn text(&self) -> String {
        match self {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
        }
    }
}

/// One leaf test: `field op values`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Predicate {
    /// Raw field name; `None` for field-less keyword searches.
    pub field: Option<String>,
    pub op: Op,
    pub values: Vec<Value>,
    /// Values are combined with AND (Sigma `|all`, KQL `has_all`) instead of OR.
    #[serde(default)]
    pub all: bool,
    pub case_sensitive: bool,
    /// The predicate's own negation (`!=`, `!in~`, Sigma `neq`).
    pub negated: bool,
    /// Value or field transforms applied before matching, in order (Sigma `base64offset`,
    /// `utf16le`, `windash`, `expand`, time parts such as `hour`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transforms: Vec<String>,
    /// Regex flags (`i`, `m`, `s`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub flags: String,
    /// The key as written (`Image|endswith`), for display.
    #[serde(default)]
    pub raw: String,
    /// Canonical field, filled by the vocabulary pass.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canonical: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

impl Logic {
    /// Moves every stage's and predicate's span with `f` (e.g. from the query text into the
    /// file it came from); `None` drops a span that has no place there.
    pub fn map_spans(&mut self, f: impl Fn(Span) -> Option<Span>) {
        for stage in &mut self.stages {
            stage.span = stage.span.and_then(&f);
            for p in stage.predicates_mut() {
                p.span = p.span.and_then(&f);
            }
        }
    }

    /// Every predicate reachable from the output stage, with its polarity: `true` when the rule
    /// needs it to hold (not under an odd number of `not`s). Unreachable stages are left out.
    pub fn predicates_with_polarity(&self) -> Vec<(&Predicate, bool)> {
        let mut out = Vec::new();
        let mut seen = vec![[false; 2]; self.stages.len()];
        self.walk_stage(self.output, true, &mut seen, &mut out);
        out
    }

    fn walk_stage<'a>(&'a self, id: StageId, pos: bool, seen: &mut [[bool; 2]], out: &mut Vec<(&'a Predicate, bool)>) {
        let Some(stage) = self.stages.get(id) else { return };
        if std::mem::replace(&mut seen[id][pos as usize], true) {
            return;
        }
        match &stage.kind {
            StageKind::Condition { expr } | StageKind::Selection { expr } | StageKind::Filter { expr } => {
                self.walk_expr(expr, pos, seen, out)
            }
            _ => {}
        }
        for &input in &stage.inputs {
            self.walk_stage(input, pos, seen, out);
        }
    }

    fn walk_expr<'a>(&'a self, e: &'a Expr, pos: bool, seen: &mut [[bool; 2]], out: &mut Vec<(&'a Predicate, bool)>) {
        match e {
            Expr::And { of } | Expr::Or { of } => of.iter().for_each(|x| self.walk_expr(x, pos, seen, out)),
            Expr::Not { expr } => self.walk_expr(expr, !pos, seen, out),
            Expr::Pred(p) => out.push((p, pos)),
            Expr::Ref { stage, .. } => self.walk_stage(*stage, pos, seen, out),
            Expr::Quant { of, .. } => of.iter().for_each(|s| self.walk_stage(*s, pos, seen, out)),
            Expr::Const { .. } | Expr::Unmodeled { .. } => {}
        }
    }
}
