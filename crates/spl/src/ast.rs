//! The SPL syntax tree. Every node carries the byte range it was read from, so the text of any
//! node is `&src[span.start..span.end]` and the tokens (kept in [`Parsed::tokens`]) give the
//! whole text back: nothing is lost, not even comments.

use crate::lexer::Token;

/// A byte range of the parsed text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub pipeline: Pipeline,
    pub tokens: Vec<Token>,
    pub errors: Vec<Error>,
    /// Accepted as Splunk accepts it, but worth a word (trailing commas in `IN` lists ...).
    pub notes: Vec<Error>,
}

/// A syntax error (or note): what was expected, where.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub span: Span,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub commands: Vec<Command>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Lower-cased name; `search` for a pipeline's leading bare search.
    pub name: String,
    /// The name as written (`None` for an implicit `search`).
    pub name_span: Option<Span>,
    pub span: Span,
    pub body: Body,
}

/// A literal as written: a bare word or a quoted string.
#[derive(Debug, Clone, PartialEq)]
pub struct Lit {
    /// The value (quotes removed, escapes read).
    pub text: String,
    pub quoted: bool,
    pub span: Span,
}

/// `key=value` options of a command (`summariesonly=true`, `max=0`, `type=outer`).
#[derive(Debug, Clone, PartialEq)]
pub struct Opt {
    pub key: String,
    pub value: Lit,
    pub span: Span,
}

/// A field name with `as` alias when given.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldAs {
    pub field: Lit,
    pub alias: Option<Lit>,
}

/// An aggregate call: `count`, `dc(user)`, `values(Processes.process) as process`.
#[derive(Debug, Clone, PartialEq)]
pub struct AggCall {
    pub func: String,
    /// The argument as written (`user`, `eval(x>1)`), when any.
    pub arg: Option<Lit>,
    pub alias: Option<Lit>,
    pub span: Span,
}

/// The body of a command, read by its argument grammar (or the generic one).
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `search` (and a leading bare search): the search world.
    Search(Option<Search>),
    /// `where`: the eval world.
    Where(Eval),
    /// `eval a=..., b=...`.
    Eval(Vec<(Lit, Eval)>),
    /// `tstats [opts] aggs [from datamodel=X.Y] [where search] [by fields]`.
    Tstats {
        opts: Vec<Opt>,
        aggs: Vec<AggCall>,
        model: Option<Lit>,
        filter: Option<Search>,
        by: Vec<FieldAs>,
    },
    /// `stats`, `eventstats`, `streamstats`, `chart`, `timechart`, `top`, `rare`.
    Stats {
        opts: Vec<Opt>,
        aggs: Vec<AggCall>,
        by: Vec<FieldAs>,
    },
    /// `rename a as b, c as d`.
    Rename(Vec<(Lit, Lit)>),
    /// `table`, `fields [+|-]`.
    Fields { remove: bool, fields: Vec<Lit> },
    /// `lookup [opts] table field [as f] ... [OUTPUT|OUTPUTNEW field [as f] ...]`.
    Lookup {
        opts: Vec<Opt>,
        table: Option<Lit>,
        inputs: Vec<FieldAs>,
        output: Option<String>,
        outputs: Vec<FieldAs>,
    },
    /// `inputlookup [opts] table [where search]`.
    InputLookup {
        opts: Vec<Opt>,
        table: Option<Lit>,
        filter: Option<Search>,
    },
    /// `rex [field=x] [mode=sed] "regex"`.
    Rex { opts: Vec<Opt>, regex: Option<Lit> },
    /// `regex field=re` / `regex field!=re` / `regex re`.
    Regex {
        field: Option<Lit>,
        negated: bool,
        regex: Option<Lit>,
    },
    /// `bin`/`bucket [opts] field [as f]`.
    Bin {
        opts: Vec<Opt>,
        field: Option<FieldAs>,
    },
    /// `join [opts] fields [subsearch]`.
    Join {
        opts: Vec<Opt>,
        fields: Vec<Lit>,
        sub: Option<Pipeline>,
    },
    /// `append`, `appendpipe`, `appendcols`, `union`, `map`: a subsearch.
    Sub {
        opts: Vec<Opt>,
        sub: Option<Pipeline>,
    },
    /// `mvexpand field [limit=n]`.
    MvExpand { field: Option<Lit>, opts: Vec<Opt> },
    /// `dedup [n] fields [opts]`, `sort [n] [+|-]fields`, `fillnull [value=x] fields`,
    /// `transaction fields [opts]`, `spath`, `convert`, `foreach`: options and field lists.
    Fielded {
        count: Option<u64>,
        opts: Vec<Opt>,
        fields: Vec<Lit>,
        calls: Vec<AggCall>,
    },
    /// Any other command: its arguments as read by the generic grammar.
    Generic(Vec<Arg>),
}

/// A generic argument.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Opt(Opt),
    Lit(Lit),
    /// `name(...)`, the inside kept as text.
    Call {
        name: String,
        inner: String,
        span: Span,
    },
    Group(Vec<Arg>, Span),
    Sub(Pipeline),
    /// A comparison operator kept as written (`<`, `!=`).
    Op(String, Span),
}

/// The search world (the `search` command, `tstats ... where`).
#[derive(Debug, Clone, PartialEq)]
pub enum Search {
    And(Vec<Search>),
    Or(Vec<Search>),
    Not(Box<Search>, Span),
    /// `field op value`; `op` is `=`, `!=`, `<`, `<=`, `>`, `>=` (`==` read as `=`).
    Cmp {
        field: Lit,
        op: String,
        value: Lit,
        span: Span,
    },
    /// `field op func(...)`: a computed value (`_time>=relative_time(now(),"-1d")`).
    CmpCall {
        field: Lit,
        op: String,
        call: String,
        span: Span,
    },
    /// `field IN (a, b, ...)`.
    In {
        field: Lit,
        values: Vec<Lit>,
        span: Span,
    },
    /// A bare term or quoted phrase.
    Term(Lit),
    /// `TERM(x)`, `CASE(x)` and other calls.
    Call {
        name: String,
        args: Vec<Lit>,
        span: Span,
    },
    Sub(Box<Pipeline>),
    /// `( ... )`, kept so the group's span covers its parentheses.
    Group(Box<Search>, Span),
}

/// The eval world (`where`, `eval`).
#[derive(Debug, Clone, PartialEq)]
pub enum Eval {
    Field(String, Span),
    Str(String, Span),
    Num(String, Span),
    Call {
        name: String,
        args: Vec<Eval>,
        span: Span,
    },
    Unary {
        op: String,
        expr: Box<Eval>,
        span: Span,
    },
    /// `op`: `OR`, `XOR`, `AND`, `=`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`, `+`, `-`, `.`,
    /// `*`, `/`, `%`.
    Binary {
        op: String,
        left: Box<Eval>,
        right: Box<Eval>,
        span: Span,
    },
    In {
        expr: Box<Eval>,
        list: Vec<Eval>,
        span: Span,
    },
    /// What could not be read, kept as text (an error was reported for it).
    Bad(Span),
}

impl Eval {
    pub fn span(&self) -> Span {
        match self {
            Eval::Field(_, s) | Eval::Str(_, s) | Eval::Num(_, s) | Eval::Bad(s) => *s,
            Eval::Call { span, .. }
            | Eval::Unary { span, .. }
            | Eval::Binary { span, .. }
            | Eval::In { span, .. } => *span,
        }
    }
}

impl Search {
    pub fn span(&self) -> Span {
        match self {
            Search::And(v) | Search::Or(v) => v
                .iter()
                .map(Search::span)
                .reduce(Span::to)
                .unwrap_or_default(),
            Search::Not(_, s)
            | Search::Group(_, s)
            | Search::Cmp { span: s, .. }
            | Search::CmpCall { span: s, .. }
            | Search::In { span: s, .. }
            | Search::Call { span: s, .. } => *s,
            Search::Term(l) => l.span,
            Search::Sub(p) => p.span,
        }
    }
}
