//! The lossless KQL syntax tree. Every node has its span (byte range and 1-based line:col of its
//! start, relative to the parsed text); the token list in [`Query::tokens`], trivia included,
//! covers every byte of the text, so nothing is lost: comments, spacing and broken parts
//! (kept as `Error` nodes with their text) are all there.
//!
//! Left-associative chains of one precedence level (`a and b and c`, `a + b - c`) and paths
//! (`a.b[0].c`) are flat lists, so the tree's depth only grows with real nesting (parentheses,
//! calls, sub-queries), which the parser caps.

use ir::Span;

use crate::lexer::Token;

/// A whole query: statements separated by `;`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub statements: Vec<Statement>,
    /// Every token of the text in order, whitespace and comments included.
    pub tokens: Vec<Token>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    Let(Let),
    /// A tabular (or scalar) expression whose result is the query's result.
    Query(Expr),
    /// `set name = value`, `declare query_parameters(...)`, `alias database ...`: kept as text.
    Other {
        keyword: String,
        span: Span,
    },
    /// A statement that did not parse; its text stays in the token list.
    Error(ErrorNode),
}

impl Statement {
    pub fn span(&self) -> Span {
        match self {
            Statement::Let(l) => l.span,
            Statement::Query(e) => e.span,
            Statement::Other { span, .. } => *span,
            Statement::Error(e) => e.span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ErrorNode {
    pub message: String,
    pub span: Span,
}

/// `let name = value`.
#[derive(Debug, Clone, PartialEq)]
pub struct Let {
    pub name: Name,
    pub value: LetValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum LetValue {
    /// A scalar or tabular expression (`5`, `dynamic([...])`, `materialize(T | ...)`, `T | where ...`).
    Expr(Expr),
    /// A lambda: `(a:string, T:(*)) { body }`; `view` when written `view (...) {...}`.
    Function(Function),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub params: Vec<Param>,
    pub body: Body,
    pub view: bool,
    pub span: Span,
}

/// A function parameter: `name: type = default`; tabular ones have a schema type `(*)`, `(a:string)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: Name,
    /// The type as written: `string`, `(*)`, `(Col:string)`.
    pub ty: String,
    pub tabular: bool,
    pub default: Option<Expr>,
    pub span: Span,
}

/// `{ let ...; let ...; expr }`
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    pub statements: Vec<Statement>,
    pub span: Span,
}

/// A name as written: plain (`DeviceId`, `$left`), or bracketed (`['My Col']`) with `quoted` set.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The name itself (brackets and quotes removed).
    pub name: String,
    pub quoted: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LiteralKind {
    Int,
    Real,
    /// One or more adjacent string literals (concatenated).
    Str,
    Timespan,
    Bool,
    /// A typed literal: `datetime(...)`, `timespan(...)`, `guid(...)`, `long(...)`, ...
    Typed,
}

/// Precedence level of a binary operator, loosest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Or = 1,
    And = 2,
    /// `==`, `!=`, `<>`, `in`, `!in`, `in~`, `!in~`, `has_any`, `has_all`, `between`, `!between`.
    Equality = 3,
    /// `<`, `<=`, `>`, `>=`.
    Relational = 4,
    Additive = 5,
    Multiplicative = 6,
    /// `=~`, `!~`, `has`, `contains`, `startswith`, `matches regex`, `like`, `:`, ... and `!` forms.
    StringOp = 7,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BinOp {
    /// The operator as one word: `==`, `=~`, `!has`, `matches regex`, `and`.
    pub op: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Name(Name),
    Literal {
        kind: LiteralKind,
        text: String,
    },
    /// `*` (in `count(*)`, `* has "x"`, `search *`).
    Star,
    /// A name glued to `*`: `Security*` (union sources, project-away columns).
    Wildcard(String),
    Paren(Box<Expr>),
    /// `first op rest[0].1 op rest[1].1 ...`, all operators of one precedence level.
    Binary {
        level: Level,
        first: Box<Expr>,
        rest: Vec<(BinOp, Expr)>,
    },
    /// `-x`, `+x`.
    Unary {
        op: String,
        expr: Box<Expr>,
    },
    /// `left in (a, b, c)` and `in~`, `!in`, `!in~`, `has_any`, `has_all`.
    InList {
        left: Box<Expr>,
        op: BinOp,
        items: Vec<Expr>,
    },
    /// `left between (low .. high)`, `!between`.
    Between {
        left: Box<Expr>,
        negated: bool,
        low: Box<Expr>,
        high: Box<Expr>,
    },
    /// `name(args)`.
    Call {
        name: Name,
        args: Vec<Expr>,
    },
    /// `base.a[0].f(x)`: member access, indexing and dotted calls.
    Path {
        base: Box<Expr>,
        segments: Vec<Segment>,
    },
    /// `name = expr` inside argument and column lists; `(a, b) = expr` has several names.
    Named {
        names: Vec<Name>,
        expr: Box<Expr>,
    },
    /// `dynamic(...)`: the value inside.
    Dynamic(Box<Expr>),
    /// `[a, b]` inside `dynamic(...)`.
    Array(Vec<Expr>),
    /// `{"k": v}` inside `dynamic(...)`.
    Object(Vec<(Expr, Expr)>),
    /// `datatable (a:string, b:int) [ values ]`.
    Datatable {
        columns: Vec<ColumnDecl>,
        values: Vec<Expr>,
    },
    /// `externaldata (a:string) [ urls ] with (...)`.
    ExternalData {
        columns: Vec<ColumnDecl>,
        urls: Vec<Expr>,
    },
    /// `source | op | op`.
    Pipe {
        source: Box<Expr>,
        ops: Vec<Operator>,
    },
    /// A pipeline without a source, inside `mv-apply ... on ( ... )`.
    SubPipe {
        ops: Vec<Operator>,
    },
    /// A source-position operator: `union A, B`, `search "x"`, `find ...`, `evaluate f()`,
    /// `print x = 1`, `range x from 1 to 5 step 1`.
    SourceOp(Box<Operator>),
    Error(ErrorNode),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    Member(Name),
    Index(Expr),
    Call(Name, Vec<Expr>),
}

/// `name: type` in a schema.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDecl {
    pub name: Name,
    pub ty: String,
    pub span: Span,
}

/// `hint.strategy = broadcast`, `kind = inner`, `isfuzzy = true`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpParam {
    pub name: String,
    pub value: String,
    pub span: Span,
}

/// An ordering: `expr asc nulls last`.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderBy {
    pub expr: Expr,
    /// `Some(true)` desc, `Some(false)` asc, `None` not written (KQL's default is desc).
    pub desc: Option<bool>,
    pub span: Span,
}

/// One piece of a `parse` pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum PatternPart {
    Star,
    Text(Expr),
    Column { name: Name, ty: Option<String> },
}

/// A tabular operator after `|`.
#[derive(Debug, Clone, PartialEq)]
pub struct Operator {
    /// Operator keyword as written, hyphenated forms joined: `where`, `project-away`, `mv-expand`.
    pub name: String,
    pub params: Vec<OpParam>,
    pub kind: OpKind,
    /// Text after the operator that did not parse (reported), if any.
    pub junk: Option<ErrorNode>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum OpKind {
    /// `where`, `filter`.
    Where(Expr),
    /// `project`, `extend`, `project-rename`, `serialize`, `print`: (named) expressions.
    Columns(Vec<Expr>),
    /// `project-away`, `project-keep`, `project-reorder`: names or wildcards with an optional order.
    NameList(Vec<OrderBy>),
    /// `summarize aggs by keys`.
    Summarize { aggs: Vec<Expr>, by: Vec<Expr> },
    /// `join`, `lookup`.
    Join {
        right: Expr,
        on: Vec<Expr>,
        where_: Option<Expr>,
    },
    /// `union A, (B | ...)`.
    Union(Vec<Expr>),
    /// `mv-expand a, b to typeof(string) limit N`.
    MvExpand {
        items: Vec<Expr>,
        limit: Option<Expr>,
    },
    /// `mv-apply items on ( subquery )`.
    MvApply { items: Vec<Expr>, on: Box<Expr> },
    /// `parse`, `parse-where`: source `with` pattern.
    Parse {
        source: Expr,
        pattern: Vec<PatternPart>,
    },
    /// `parse-kv source as (cols) with (params)`.
    ParseKv {
        source: Expr,
        columns: Vec<ColumnDecl>,
        with: Vec<OpParam>,
    },
    /// `evaluate plugin(args)`.
    Evaluate(Expr),
    /// `make-series aggs on axis from a to b step c by keys`, `in range(a, b, c)` form too.
    MakeSeries {
        aggs: Vec<Expr>,
        on: Option<Expr>,
        range: Vec<Expr>,
        by: Vec<Expr>,
    },
    /// `top N by expr`.
    Top { count: Expr, by: Vec<OrderBy> },
    /// `sort by`, `order by`.
    Sort(Vec<OrderBy>),
    /// `take N`, `limit N`, `sample N`.
    Take(Expr),
    /// `distinct a, b` (`*` as a `Star` expression).
    Distinct(Vec<Expr>),
    /// `count`, `count as Name`.
    Count(Option<Name>),
    /// `as Name`.
    As(Name),
    /// `invoke f(args)`.
    Invoke(Expr),
    /// `render chart ...`.
    Render(String),
    /// `getschema`.
    GetSchema,
    /// `search [in (tables)] predicate`, `find [in (tables)] where predicate [project ...]`.
    Search {
        tables: Vec<Expr>,
        pred: Option<Expr>,
    },
    /// `range x from a to b step c`.
    Range {
        name: Name,
        from: Expr,
        to: Expr,
        step: Expr,
    },
    /// Any other operator (known but not modelled, or unknown): its text is in the span.
    Generic,
    /// An operator that did not parse.
    Error(ErrorNode),
}

impl Expr {
    pub fn error(message: impl Into<String>, span: Span) -> Expr {
        Expr {
            kind: ExprKind::Error(ErrorNode {
                message: message.into(),
                span,
            }),
            span,
        }
    }

    /// The expression with parentheses (and `materialize`-free wrappers) removed.
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let ExprKind::Paren(inner) = &e.kind {
            e = inner;
        }
        e
    }

    /// The text of this expression in `text` (the text that was parsed).
    pub fn text<'t>(&self, text: &'t str) -> &'t str {
        text.get(self.span.start..self.span.end).unwrap_or("")
    }

    /// The plain name, when this expression is one (after parentheses).
    pub fn as_name(&self) -> Option<&str> {
        match &self.unparen().kind {
            ExprKind::Name(n) => Some(&n.name),
            _ => None,
        }
    }
}
