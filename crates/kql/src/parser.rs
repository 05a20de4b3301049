//! Recursive-descent parser over the token list, with a Pratt parser for expressions.
//!
//! Error recovery: a broken operator keeps what parsed and its leftover text becomes a junk
//! `ErrorNode`, skipping to the next `|`, `;` or closing bracket at the same nesting level; a
//! broken statement becomes `Statement::Error` up to the next `;`. Every loop consumes at least
//! one token per turn and skipping never goes back, so parsing is linear in the input. Nesting
//! deeper than [`MAX_DEPTH`] is reported once and skipped, so the stack stays bounded.

use ir::{Diagnostic, Span};

use crate::ast::*;
use crate::lexer::{string_value, Token, TokenKind};
use ir::LineIndex;

/// Deepest nesting of expressions (parentheses, calls, sub-queries, unary signs) parsed.
pub const MAX_DEPTH: usize = 128;
/// No more diagnostics than this per parse (a garbage input would otherwise give one per token).
const MAX_DIAGNOSTICS: usize = 100;

/// Operators whose parameters (`kind=`, `isfuzzy=`, ...) are read before their arguments;
/// `hint.*` parameters are read for every operator.
fn param_names(op: &str) -> &'static [&'static str] {
    match op {
        "join" | "lookup" => &["kind", "withsource"],
        "union" => &["kind", "isfuzzy", "withsource", "with_source"],
        "mv-expand" | "mvexpand" => &["bagexpansion", "with_itemindex", "kind"],
        "mv-apply" | "mvapply" => &["with_itemindex"],
        "parse" | "parse-where" => &["kind", "flags"],
        "search" | "find" => &["kind", "withsource", "with_source", "datascope"],
        "make-series" => &["kind"],
        "datatable" | "externaldata" | "external_data" => &["kind"],
        _ => &[],
    }
}

/// Operators KQL has that are parsed as a generic node (their text is kept, no warning).
const KNOWN_GENERIC: &[&str] = &[
    "fork",
    "facet",
    "partition",
    "reduce",
    "scan",
    "consume",
    "sample-distinct",
    "top-hitters",
    "top-nested",
    "make-graph",
    "graph-match",
    "graph-to-table",
    "graph-merge",
    "graph-shortest-paths",
    "graph-mark-components",
    "project-smart",
    "macro-expand",
    "execute-and-cache",
    "assert-schema",
    "partition-by",
    "print",
];

pub(crate) struct Parser<'t> {
    text: &'t str,
    toks: Vec<Token>,
    /// Indices (into `toks`) of the significant tokens.
    sig: Vec<usize>,
    pos: usize,
    pub diags: Vec<Diagnostic>,
    depth: usize,
    too_deep_reported: bool,
    lines: LineIndex<'t>,
}

#[derive(Clone, Copy)]
struct Tok {
    kind: TokenKind,
    start: usize,
    end: usize,
}

impl<'t> Parser<'t> {
    pub fn new(text: &'t str, toks: Vec<Token>, lines: LineIndex<'t>) -> Self {
        let sig = toks
            .iter()
            .enumerate()
            .filter(|(_, t)| !t.is_trivia())
            .map(|(i, _)| i)
            .collect();
        Parser {
            text,
            toks,
            sig,
            pos: 0,
            diags: Vec::new(),
            depth: 0,
            too_deep_reported: false,
            lines,
        }
    }

    pub fn into_tokens(self) -> (Vec<Token>, Vec<Diagnostic>) {
        (self.toks, self.diags)
    }

    pub fn span(&self, start: usize, end: usize) -> Span {
        self.lines.span(start, end)
    }

    // ----- token access -------------------------------------------------------------------

    fn tok(&self, k: usize) -> Option<Tok> {
        let i = *self.sig.get(self.pos + k)?;
        let t = self.toks.get(i)?;
        Some(Tok {
            kind: t.kind,
            start: t.start,
            end: t.end,
        })
    }

    fn text_of(&self, t: Tok) -> &'t str {
        self.text.get(t.start..t.end).unwrap_or("")
    }

    fn peek_text(&self, k: usize) -> &'t str {
        self.tok(k).map(|t| self.text_of(t)).unwrap_or("")
    }

    fn peek_kind(&self, k: usize) -> Option<TokenKind> {
        self.tok(k).map(|t| t.kind)
    }

    fn eof(&self) -> bool {
        self.pos >= self.sig.len()
    }

    fn at_punct(&self, p: &str) -> bool {
        self.punct_at(0, p)
    }

    fn punct_at(&self, k: usize, p: &str) -> bool {
        self.peek_kind(k) == Some(TokenKind::Punct) && self.peek_text(k) == p
    }

    fn at_word(&self, w: &str) -> bool {
        self.word_at(0, w)
    }

    fn word_at(&self, k: usize, w: &str) -> bool {
        self.peek_kind(k) == Some(TokenKind::Ident) && self.peek_text(k) == w
    }

    fn at_ident(&self) -> bool {
        self.peek_kind(0) == Some(TokenKind::Ident)
    }

    /// Tokens k and k+1 touch (no whitespace or comment between).
    fn glued(&self, k: usize) -> bool {
        match (self.tok(k), self.tok(k + 1)) {
            (Some(a), Some(b)) => a.end == b.start,
            _ => false,
        }
    }

    fn cur_start(&self) -> usize {
        self.tok(0).map(|t| t.start).unwrap_or(self.text.len())
    }

    fn prev_end(&self) -> usize {
        if self.pos == 0 {
            return 0;
        }
        self.sig
            .get(self.pos - 1)
            .and_then(|&i| self.toks.get(i))
            .map(|t| t.end)
            .unwrap_or(0)
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.tok(0)?;
        self.pos += 1;
        Some(t)
    }

    fn eat_punct(&mut self, p: &str) -> bool {
        if self.at_punct(p) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn eat_word(&mut self, w: &str) -> bool {
        if self.at_word(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// What to call the current token in a message.
    fn describe(&self) -> String {
        match self.tok(0) {
            None => "the end of the query".to_string(),
            Some(t) => {
                let s = self.text_of(t);
                let short: String = s.chars().take(30).collect();
                if short.len() < s.len() {
                    format!("`{short}…`")
                } else {
                    format!("`{short}`")
                }
            }
        }
    }

    fn error_at(&mut self, start: usize, end: usize, message: impl Into<String>) {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            return;
        }
        if self
            .diags
            .iter()
            .rev()
            .take(3)
            .any(|d| d.span.map(|s| s.start) == Some(start))
        {
            return;
        }
        let span = self.span(start, end);
        self.diags
            .push(Diagnostic::error("kql-syntax", message, Some(span)));
        if self.diags.len() == MAX_DIAGNOSTICS {
            self.diags.push(Diagnostic::error(
                "kql-syntax",
                "too many errors; later ones are not reported",
                None,
            ));
        }
    }

    fn warn_at(&mut self, start: usize, end: usize, code: &str, message: impl Into<String>) {
        if self.diags.len() >= MAX_DIAGNOSTICS {
            return;
        }
        let span = self.span(start, end);
        self.diags
            .push(Diagnostic::warning(code, message, Some(span)));
    }

    /// An error at the current token; returns an empty-span error node there.
    fn error_here(&mut self, message: String) -> Expr {
        let (s, e) = self
            .tok(0)
            .map(|t| (t.start, t.end))
            .unwrap_or((self.text.len(), self.text.len()));
        self.error_at(s, e, message.clone());
        Expr::error(message, self.span(s, s))
    }

    fn expect_punct(&mut self, p: &str) -> bool {
        if self.eat_punct(p) {
            return true;
        }
        let msg = format!("expected `{p}`, found {}", self.describe());
        self.error_here(msg);
        false
    }

    fn expect_word(&mut self, w: &str) -> bool {
        if self.eat_word(w) {
            return true;
        }
        let msg = format!("expected `{w}`, found {}", self.describe());
        self.error_here(msg);
        false
    }

    /// At a token that ends an operator: end, `|`, `;`, or a closing bracket.
    fn at_stop(&self) -> bool {
        match self.tok(0) {
            None => true,
            Some(t) => {
                t.kind == TokenKind::Punct && matches!(self.text_of(t), "|" | ";" | ")" | "]" | "}")
            }
        }
    }

    /// Skips tokens, keeping brackets balanced, up to (not including) a `;` or unmatched closing
    /// bracket at this level — and `|` when `stop_at_pipe`. Returns the skipped byte range.
    fn skip_junk(&mut self, stop_at_pipe: bool) -> Option<(usize, usize)> {
        let start = self.cur_start();
        let from = self.pos;
        let mut depth = 0usize;
        while let Some(t) = self.tok(0) {
            if t.kind == TokenKind::Punct {
                match self.text_of(t) {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => {
                        if depth == 0 {
                            break;
                        }
                        depth -= 1;
                    }
                    ";" if depth == 0 => break,
                    "|" if depth == 0 && stop_at_pipe => break,
                    _ => {}
                }
            }
            self.pos += 1;
        }
        (self.pos > from).then(|| (start, self.prev_end()))
    }

    /// Enters one nesting level; false (after reporting once and skipping the rest of this
    /// bracket) when too deep.
    fn enter(&mut self) -> bool {
        if self.depth >= MAX_DEPTH {
            self.too_deep();
            return false;
        }
        self.depth += 1;
        true
    }

    /// Reports (once) that nesting is too deep and skips the rest of the current bracket.
    fn too_deep(&mut self) {
        if !self.too_deep_reported {
            self.too_deep_reported = true;
            let s = self.cur_start();
            self.error_at(
                s,
                s,
                format!(
                    "expression nested deeper than {MAX_DEPTH} levels; the rest of it is skipped"
                ),
            );
        }
        self.skip_junk(false);
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn too_deep_node(&self) -> Expr {
        let s = self.prev_end();
        Expr::error("nested too deeply", self.span(s, s))
    }

    // ----- statements ---------------------------------------------------------------------

    /// Statements up to the end, or up to `closer` (not consumed) inside a function body.
    pub fn statements(&mut self, closer: Option<&str>) -> Vec<Statement> {
        let mut out = Vec::new();
        loop {
            while self.eat_punct(";") {}
            if self.eof() || closer.is_some_and(|c| self.at_punct(c)) {
                break;
            }
            let turn = self.pos;
            if self.at_punct(")") || self.at_punct("]") || self.at_punct("}") {
                let t = self.bump().expect("not at end");
                let msg = format!("unbalanced `{}`", self.text_of(t));
                self.error_at(t.start, t.end, msg.clone());
                out.push(Statement::Error(ErrorNode {
                    message: msg,
                    span: self.span(t.start, t.end),
                }));
                continue;
            }
            let stmt = self.statement();
            out.push(stmt);
            if self.eat_punct(";") || self.eof() || closer.is_some_and(|c| self.at_punct(c)) {
                continue;
            }
            // A statement should end here.
            let starts_line = self.starts_line();
            if starts_line && (self.at_ident() || self.at_punct("(")) {
                let s = self.prev_end();
                self.error_at(s, s, format!("expected `;` before {}", self.describe()));
            } else if !(self.at_punct(")") || self.at_punct("]") || self.at_punct("}")) {
                let msg = format!("unexpected {}", self.describe());
                let start = self.cur_start();
                if let Some((s, e)) = self.skip_junk(false) {
                    self.error_at(start, e, msg.clone());
                    out.push(Statement::Error(ErrorNode {
                        message: msg,
                        span: self.span(s, e),
                    }));
                }
            }
            if self.pos == turn {
                // Safety net: never loop without consuming.
                if let Some(t) = self.bump() {
                    let msg = format!("unexpected `{}`", self.text_of(t));
                    self.error_at(t.start, t.end, msg.clone());
                    out.push(Statement::Error(ErrorNode {
                        message: msg,
                        span: self.span(t.start, t.end),
                    }));
                }
            }
        }
        out
    }

    /// The current token is the first on its line.
    fn starts_line(&self) -> bool {
        let Some(t) = self.tok(0) else { return false };
        let p = self.prev_end();
        self.text
            .get(p..t.start)
            .is_some_and(|gap| gap.contains('\n') || gap.contains('\r'))
    }

    fn statement(&mut self) -> Statement {
        let start = self.cur_start();
        if self.at_word("let")
            && (self.peek_kind(1) == Some(TokenKind::Ident) || self.punct_at(1, "["))
        {
            return self.let_statement();
        }
        if (self.at_word("set")
            && self.peek_kind(1) == Some(TokenKind::Ident)
            && !self.punct_at(2, "|"))
            || (self.at_word("declare")
                && (self.word_at(1, "query_parameters") || self.word_at(1, "pattern")))
            || (self.at_word("alias") && self.word_at(1, "database"))
            || (self.at_word("restrict") && self.word_at(1, "access"))
        {
            let keyword = self.peek_text(0).to_string();
            self.skip_junk(false);
            return Statement::Other {
                keyword,
                span: self.span(start, self.prev_end()),
            };
        }
        Statement::Query(self.pipe_expr())
    }

    fn let_statement(&mut self) -> Statement {
        let start = self.cur_start();
        self.bump(); // let
        let name = self.name();
        if !self.expect_punct("=") {
            let end = self
                .skip_junk(false)
                .map(|(_, e)| e)
                .unwrap_or(self.prev_end());
            return Statement::Error(ErrorNode {
                message: "malformed `let`".into(),
                span: self.span(start, end),
            });
        }
        let value = if self.at_word("view") && self.punct_at(1, "(") {
            self.bump();
            LetValue::Function(self.function(true))
        } else if self.at_punct("(") && self.looks_like_lambda() {
            LetValue::Function(self.function(false))
        } else {
            LetValue::Expr(self.pipe_expr())
        };
        Statement::Let(Let {
            name,
            value,
            span: self.span(start, self.prev_end()),
        })
    }

    fn looks_like_lambda(&self) -> bool {
        (self.punct_at(1, ")") && self.punct_at(2, "{"))
            || (self.peek_kind(1) == Some(TokenKind::Ident) && self.punct_at(2, ":"))
            || (self.punct_at(1, "[")
                && self.peek_kind(2) == Some(TokenKind::Str)
                && self.punct_at(3, "]")
                && self.punct_at(4, ":"))
    }

    fn function(&mut self, view: bool) -> Function {
        let start = self.cur_start();
        self.expect_punct("(");
        let mut params = Vec::new();
        while !self.at_punct(")") && !self.eof() {
            let turn = self.pos;
            let pstart = self.cur_start();
            let name = self.name();
            let (ty, tabular) = if self.eat_punct(":") {
                self.type_text()
            } else {
                (String::new(), false)
            };
            let default = if self.eat_punct("=") {
                Some(self.expr())
            } else {
                None
            };
            params.push(Param {
                name,
                ty,
                tabular,
                default,
                span: self.span(pstart, self.prev_end()),
            });
            if !self.eat_punct(",") {
                break;
            }
            if self.pos == turn {
                break;
            }
        }
        if !self.expect_punct(")") {
            self.skip_junk(false);
            self.eat_punct(")");
        }
        let bstart = self.cur_start();
        let statements = if self.eat_punct("{") {
            if self.enter() {
                let s = self.statements(Some("}"));
                self.leave();
                self.expect_punct("}");
                s
            } else {
                self.eat_punct("}");
                Vec::new()
            }
        } else {
            let msg = format!(
                "expected `{{` to start the function body, found {}",
                self.describe()
            );
            self.error_here(msg);
            Vec::new()
        };
        let body = Body {
            statements,
            span: self.span(bstart, self.prev_end()),
        };
        Function {
            params,
            body,
            view,
            span: self.span(start, self.prev_end()),
        }
    }

    /// A parameter or column type: `string`, `dynamic`, `(*)`, `(a:string, b:int)`.
    fn type_text(&mut self) -> (String, bool) {
        let start = self.cur_start();
        if self.at_punct("(") {
            self.bump();
            self.skip_junk(false);
            self.expect_punct(")");
            let end = self.prev_end();
            return (self.text.get(start..end).unwrap_or("").to_string(), true);
        }
        match self.peek_kind(0) {
            Some(TokenKind::Ident) | Some(TokenKind::Typed) => {
                let t = self.bump().expect("token");
                (self.text_of(t).to_string(), false)
            }
            _ => {
                let msg = format!("expected a type, found {}", self.describe());
                self.error_here(msg);
                (String::new(), false)
            }
        }
    }

    /// A name: identifier (keywords included) or `['quoted name']`.
    fn name(&mut self) -> Name {
        if let Some(t) = self.tok(0) {
            if t.kind == TokenKind::Ident {
                self.pos += 1;
                return Name {
                    name: self.text_of(t).to_string(),
                    quoted: false,
                    span: self.span(t.start, t.end),
                };
            }
            if self.at_punct("[")
                && self.peek_kind(1) == Some(TokenKind::Str)
                && self.punct_at(2, "]")
            {
                let s = self.tok(1).expect("token");
                self.pos += 3;
                let name = string_value(self.text_of(s));
                return Name {
                    name,
                    quoted: true,
                    span: self.span(t.start, self.prev_end()),
                };
            }
        }
        let msg = format!("expected a name, found {}", self.describe());
        let e = self.error_here(msg);
        Name {
            name: String::new(),
            quoted: false,
            span: e.span,
        }
    }

    fn at_name(&self) -> bool {
        self.at_ident()
            || (self.at_punct("[")
                && self.peek_kind(1) == Some(TokenKind::Str)
                && self.punct_at(2, "]"))
    }

    // ----- tabular expressions ------------------------------------------------------------

    /// `source | op | op ...` (a scalar expression is a pipe without operators).
    pub fn pipe_expr(&mut self) -> Expr {
        let start = self.cur_start();
        let source = if self.at_punct("|") {
            let s = self.cur_start();
            self.error_at(s, s + 1, "expected a table or expression before `|`");
            Expr::error("missing source", self.span(s, s))
        } else {
            self.source_expr()
        };
        self.pipe_tail(source, start)
    }

    fn pipe_tail(&mut self, source: Expr, start: usize) -> Expr {
        if !self.at_punct("|") {
            return source;
        }
        let mut ops = Vec::new();
        while self.eat_punct("|") {
            ops.push(self.operator());
        }
        Expr {
            kind: ExprKind::Pipe {
                source: Box::new(source),
                ops,
            },
            span: self.span(start, self.prev_end()),
        }
    }

    fn source_expr(&mut self) -> Expr {
        const SOURCE_OPS: &[&str] = &["union", "search", "find", "print", "range", "evaluate"];
        if self.at_ident() && SOURCE_OPS.contains(&self.peek_text(0)) && self.source_op_follows() {
            return self.source_op();
        }
        self.expr()
    }

    // The helpers below are kept out of line so that the frames on the recursion path
    // (expression → parenthesis → pipe → expression) stay small, also in debug builds.
    #[inline(never)]
    fn source_op(&mut self) -> Expr {
        let start = self.cur_start();
        if self.depth + Self::OPERATOR_COST > MAX_DEPTH {
            self.too_deep();
            return self.too_deep_node();
        }
        let name = self.peek_text(0).to_string();
        self.bump();
        self.depth += Self::OPERATOR_COST;
        let op = self.operator_body(name, start);
        self.depth -= Self::OPERATOR_COST;
        let span = op.span;
        Expr {
            kind: ExprKind::SourceOp(Box::new(op)),
            span,
        }
    }

    /// After a source-operator word: does an operator follow (not a name used as a value)?
    fn source_op_follows(&self) -> bool {
        match self.tok(1) {
            None => self.peek_text(0) == "search" || self.peek_text(0) == "print",
            Some(t) => {
                let s = self.text_of(t);
                let value_follows = match t.kind {
                    TokenKind::Punct => {
                        matches!(
                            s,
                            "|" | ";" | ")" | "," | "=" | "." | "]" | "}" | "==" | "!=" | "<" | ">"
                        )
                    }
                    TokenKind::Ident => matches!(s, "and" | "or"),
                    _ => false,
                };
                !value_follows
            }
        }
    }

    /// One operator after `|`.
    /// Nesting budget an operator takes: operators hold sub-queries (`join (T | join (...))`)
    /// and their frames are larger than an expression's.
    const OPERATOR_COST: usize = 3;

    fn operator(&mut self) -> Operator {
        let start = self.cur_start();
        if !self.at_ident() {
            return self.bad_operator(start);
        }
        if self.depth + Self::OPERATOR_COST > MAX_DEPTH {
            self.too_deep();
            let span = self.span(start, self.prev_end().max(start));
            let message = "nested too deeply".to_string();
            return Operator {
                name: String::new(),
                params: vec![],
                kind: OpKind::Error(ErrorNode { message, span }),
                junk: None,
                span,
            };
        }
        self.depth += Self::OPERATOR_COST;
        let mut name = self.peek_text(0).to_string();
        self.bump();
        // Hyphenated operators: `project-away`, `mv-expand`, `make-series`, `top-nested`.
        while self.at_punct("-")
            && self.pos > 0
            && self.prev_end() == self.cur_start()
            && self.glued(0)
            && self.peek_kind(1) == Some(TokenKind::Ident)
        {
            name.push('-');
            name.push_str(self.peek_text(1));
            self.pos += 2;
        }
        let op = self.operator_body(name, start);
        self.depth -= Self::OPERATOR_COST;
        op
    }

    /// Text left over after an operator: reported, skipped up to the next `|`.
    #[cold]
    #[inline(never)]
    fn junk(&mut self, name: &str) -> Option<ErrorNode> {
        let msg = format!("unexpected {} in `{name}`", self.describe());
        let s = self.cur_start();
        let (s2, e) = self.skip_junk(true)?;
        self.error_at(s, e, msg.clone());
        Some(ErrorNode {
            message: msg,
            span: self.span(s2, e),
        })
    }

    #[cold]
    #[inline(never)]
    fn bad_operator(&mut self, start: usize) -> Operator {
        let msg = format!(
            "expected a query operator after `|`, found {}",
            self.describe()
        );
        let s = self.cur_start();
        let end = self.skip_junk(true).map(|(_, e)| e).unwrap_or(s);
        self.error_at(s, end.max(s), msg.clone());
        let span = self.span(start, end.max(start));
        Operator {
            name: String::new(),
            params: vec![],
            kind: OpKind::Error(ErrorNode { message: msg, span }),
            junk: None,
            span,
        }
    }

    fn op_params(&mut self, op: &str) -> Vec<OpParam> {
        let allowed = param_names(op);
        let mut out = Vec::new();
        loop {
            let start = self.cur_start();
            let name = if self.at_word("hint")
                && self.punct_at(1, ".")
                && self.peek_kind(2) == Some(TokenKind::Ident)
                && self.punct_at(3, "=")
            {
                let n = format!("hint.{}", self.peek_text(2));
                self.pos += 4;
                n
            } else if self.at_ident()
                && allowed.contains(&self.peek_text(0))
                && self.punct_at(1, "=")
            {
                let n = self.peek_text(0).to_string();
                self.pos += 2;
                n
            } else {
                break;
            };
            let value = match self.tok(0) {
                Some(t) if !matches!(t.kind, TokenKind::Punct) || self.text_of(t) == "-" => {
                    self.pos += 1;
                    let mut v = self.text_of(t).to_string();
                    if v == "-" {
                        if let Some(n) = self.bump() {
                            v.push_str(self.text_of(n));
                        }
                    } else if t.kind == TokenKind::Str {
                        v = string_value(&v);
                    }
                    v
                }
                _ => {
                    let msg = format!("expected a value for `{name}`, found {}", self.describe());
                    self.error_here(msg);
                    String::new()
                }
            };
            out.push(OpParam {
                name,
                value,
                span: self.span(start, self.prev_end()),
            });
        }
        out
    }

    fn operator_body(&mut self, name: String, start: usize) -> Operator {
        let params = self.op_params(&name);
        let f: fn(&mut Self, &str, usize) -> OpKind = match name.as_str() {
            "where" | "filter" => Self::op_where,
            "project" | "extend" | "project-rename" | "serialize" | "print" => Self::op_project,
            "project-away" | "project-keep" | "project-reorder" => Self::op_project_away,
            "summarize" => Self::op_summarize,
            "join" | "lookup" => Self::op_join,
            "union" => Self::op_union,
            "mv-expand" | "mvexpand" => Self::op_mv_expand,
            "mv-apply" | "mvapply" => Self::op_mv_apply,
            "parse" | "parse-where" => Self::op_parse,
            "parse-kv" => Self::op_parse_kv,
            "evaluate" => Self::op_evaluate,
            "make-series" => Self::op_make_series,
            "top" => Self::op_top,
            "sort" | "order" => Self::op_sort,
            "take" | "limit" | "sample" => Self::op_take,
            "distinct" => Self::op_distinct,
            "count" => Self::op_count,
            "as" => Self::op_as,
            "invoke" => Self::op_invoke,
            "render" => Self::op_render,
            "getschema" => Self::op_getschema,
            "search" => Self::op_search,
            "find" => Self::op_find,
            "range" => Self::op_range,
            _ => Self::op_generic,
        };
        let kind = f(self, &name, start);
        let junk = if self.at_stop() {
            None
        } else {
            self.junk(&name)
        };
        Operator {
            name,
            params,
            kind,
            junk,
            span: self.span(start, self.prev_end()),
        }
    }

    #[inline(never)]
    fn op_where(&mut self, _name: &str, _start: usize) -> OpKind {
        OpKind::Where(self.expr())
    }

    #[inline(never)]
    fn op_project(&mut self, _name: &str, _start: usize) -> OpKind {
        OpKind::Columns(self.named_list(&[]))
    }

    #[inline(never)]
    fn op_project_away(&mut self, _name: &str, _start: usize) -> OpKind {
        OpKind::NameList(self.name_patterns())
    }

    #[inline(never)]
    fn op_summarize(&mut self, _name: &str, _start: usize) -> OpKind {
        let aggs = if self.at_word("by") {
            Vec::new()
        } else {
            self.named_list(&["by"])
        };
        let by = if self.eat_word("by") {
            self.named_list(&[])
        } else {
            Vec::new()
        };
        OpKind::Summarize { aggs, by }
    }

    #[inline(never)]
    fn op_join(&mut self, _name: &str, _start: usize) -> OpKind {
        let right = self.join_right();
        let mut on = Vec::new();
        let mut where_ = None;
        if self.eat_word("on") {
            on = self.expr_list();
        } else if self.eat_word("where") {
            where_ = Some(self.expr());
        }
        OpKind::Join { right, on, where_ }
    }

    #[inline(never)]
    fn op_union(&mut self, _name: &str, _start: usize) -> OpKind {
        let mut items = vec![self.union_source()];
        while self.eat_punct(",") {
            items.push(self.union_source());
        }
        OpKind::Union(items)
    }

    #[inline(never)]
    fn op_mv_expand(&mut self, _name: &str, _start: usize) -> OpKind {
        let items = self.mv_items();
        let limit = if self.eat_word("limit") {
            Some(self.expr())
        } else {
            None
        };
        OpKind::MvExpand { items, limit }
    }

    #[inline(never)]
    fn op_mv_apply(&mut self, _name: &str, _start: usize) -> OpKind {
        let items = self.mv_items();
        if self.eat_word("limit") {
            self.expr();
        }
        if self.eat_word("id") {
            self.expr();
        }
        let on = if self.expect_word("on") && self.at_punct("(") {
            let s = self.cur_start();
            self.bump();
            let inner = if self.enter() {
                let e = self.sub_pipe();
                self.leave();
                e
            } else {
                self.too_deep_node()
            };
            self.expect_punct(")");
            Expr {
                kind: ExprKind::Paren(Box::new(inner)),
                span: self.span(s, self.prev_end()),
            }
        } else {
            self.error_here("expected `(` after `on`".into())
        };
        OpKind::MvApply {
            items,
            on: Box::new(on),
        }
    }

    #[inline(never)]
    fn op_parse(&mut self, _name: &str, _start: usize) -> OpKind {
        let source = self.expr();
        let pattern = if self.expect_word("with") {
            self.parse_pattern()
        } else {
            Vec::new()
        };
        OpKind::Parse { source, pattern }
    }

    #[inline(never)]
    fn op_parse_kv(&mut self, _name: &str, _start: usize) -> OpKind {
        let source = self.expr();
        let columns = if self.expect_word("as") {
            self.schema()
        } else {
            Vec::new()
        };
        let mut with = Vec::new();
        if self.eat_word("with") && self.expect_punct("(") {
            while self.at_ident() {
                let ps = self.cur_start();
                let n = self.peek_text(0).to_string();
                self.bump();
                let mut value = String::new();
                if self.eat_punct("=") {
                    let v = self.expr();
                    value = match &v.kind {
                        ExprKind::Literal {
                            kind: LiteralKind::Str,
                            text,
                        } => text.clone(),
                        _ => v.text(self.text).to_string(),
                    };
                }
                with.push(OpParam {
                    name: n,
                    value,
                    span: self.span(ps, self.prev_end()),
                });
                if !self.eat_punct(",") {
                    break;
                }
            }
            self.expect_punct(")");
        }
        OpKind::ParseKv {
            source,
            columns,
            with,
        }
    }

    #[inline(never)]
    fn op_evaluate(&mut self, _name: &str, _start: usize) -> OpKind {
        let call = self.unary();
        if self.eat_punct(":") {
            self.schema();
        }
        OpKind::Evaluate(call)
    }

    #[inline(never)]
    fn op_make_series(&mut self, _name: &str, _start: usize) -> OpKind {
        self.make_series()
    }

    #[inline(never)]
    fn op_top(&mut self, _name: &str, _start: usize) -> OpKind {
        let count = self.expr();
        let by = if self.expect_word("by") {
            self.order_list()
        } else {
            Vec::new()
        };
        OpKind::Top { count, by }
    }

    #[inline(never)]
    fn op_sort(&mut self, _name: &str, _start: usize) -> OpKind {
        if self.expect_word("by") {
            OpKind::Sort(self.order_list())
        } else {
            OpKind::Sort(Vec::new())
        }
    }

    #[inline(never)]
    fn op_take(&mut self, _name: &str, _start: usize) -> OpKind {
        OpKind::Take(self.expr())
    }

    #[inline(never)]
    fn op_distinct(&mut self, _name: &str, _start: usize) -> OpKind {
        if self.at_punct("*") {
            let t = self.bump().expect("token");
            OpKind::Distinct(vec![Expr {
                kind: ExprKind::Star,
                span: self.span(t.start, t.end),
            }])
        } else {
            OpKind::Distinct(self.named_list(&[]))
        }
    }

    #[inline(never)]
    fn op_count(&mut self, _name: &str, _start: usize) -> OpKind {
        if self.eat_word("as") {
            OpKind::Count(Some(self.name()))
        } else {
            OpKind::Count(None)
        }
    }

    #[inline(never)]
    fn op_as(&mut self, _name: &str, _start: usize) -> OpKind {
        OpKind::As(self.name())
    }

    #[inline(never)]
    fn op_invoke(&mut self, _name: &str, _start: usize) -> OpKind {
        OpKind::Invoke(self.unary())
    }

    #[inline(never)]
    fn op_render(&mut self, _name: &str, _start: usize) -> OpKind {
        let chart = if self.at_ident() {
            self.peek_text(0).to_string()
        } else {
            String::new()
        };
        self.skip_junk(true);
        OpKind::Render(chart)
    }

    #[inline(never)]
    fn op_getschema(&mut self, _name: &str, _start: usize) -> OpKind {
        OpKind::GetSchema
    }

    #[inline(never)]
    fn op_search(&mut self, _name: &str, _start: usize) -> OpKind {
        let tables = self.in_tables();
        let pred = if self.at_stop() {
            None
        } else if self.at_punct("*")
            && (self.tok(1).is_none() || matches!(self.peek_text(1), "|" | ";" | ")"))
        {
            let t = self.bump().expect("token");
            Some(Expr {
                kind: ExprKind::Star,
                span: self.span(t.start, t.end),
            })
        } else {
            Some(self.expr())
        };
        OpKind::Search { tables, pred }
    }

    #[inline(never)]
    fn op_find(&mut self, name: &str, _start: usize) -> OpKind {
        let mut extra = self.op_params(name);
        let tables = self.in_tables();
        extra.extend(self.op_params(name));
        let pred = if self.expect_word("where") {
            Some(self.expr())
        } else {
            None
        };
        if self.at_ident() && self.peek_text(0).starts_with("project") {
            self.skip_junk(true);
        }
        OpKind::Search { tables, pred }
    }

    #[inline(never)]
    fn op_range(&mut self, _name: &str, _start: usize) -> OpKind {
        let n = self.name();
        let from = if self.expect_word("from") {
            self.expr()
        } else {
            self.error_here("expected `from`".into())
        };
        let to = if self.expect_word("to") {
            self.expr()
        } else {
            self.error_here("expected `to`".into())
        };
        let step = if self.expect_word("step") {
            self.expr()
        } else {
            self.error_here("expected `step`".into())
        };
        OpKind::Range {
            name: n,
            from,
            to,
            step,
        }
    }

    #[inline(never)]
    fn op_generic(&mut self, name: &str, start: usize) -> OpKind {
        let other = name;
        {
            if !KNOWN_GENERIC.contains(&other) {
                let s = start;
                let e = s + other.len();
                self.warn_at(
                    s,
                    e,
                    "kql-unknown-operator",
                    format!("unknown query operator `{other}`; kept as text"),
                );
            }
            self.skip_junk(true);
            OpKind::Generic
        }
    }

    /// `on (...)` body of mv-apply: operators without a source.
    fn sub_pipe(&mut self) -> Expr {
        let start = self.cur_start();
        let mut ops = vec![self.operator()];
        while self.eat_punct("|") {
            ops.push(self.operator());
        }
        Expr {
            kind: ExprKind::SubPipe { ops },
            span: self.span(start, self.prev_end()),
        }
    }

    fn in_tables(&mut self) -> Vec<Expr> {
        let mut tables = Vec::new();
        if self.at_word("in") && self.punct_at(1, "(") {
            self.pos += 2;
            if !self.at_punct(")") {
                tables.push(self.union_source());
                while self.eat_punct(",") {
                    tables.push(self.union_source());
                }
            }
            self.expect_punct(")");
        }
        tables
    }

    fn join_right(&mut self) -> Expr {
        if self.at_punct("(") {
            self.postfix()
        } else {
            self.unary()
        }
    }

    fn union_source(&mut self) -> Expr {
        if self.at_punct("(") {
            return self.postfix();
        }
        if (self.at_ident() || self.at_punct("*")) && self.wildcard_follows() {
            return self.wildcard_name();
        }
        self.unary()
    }

    /// Is the current name glued to a `*` (a wildcard like `Security*`, `*Events`)?
    fn wildcard_follows(&self) -> bool {
        let mut k = 0;
        loop {
            let Some(t) = self.tok(k) else { return false };
            let s = self.text_of(t);
            if t.kind == TokenKind::Punct && s == "*" {
                return true;
            }
            if !self.glued(k) {
                return false;
            }
            k += 1;
            if k > 64 {
                return false;
            }
        }
    }

    /// Glued identifier pieces and `*`: `Security*`, `*_CL`, `Col*Name`.
    fn wildcard_name(&mut self) -> Expr {
        let start = self.cur_start();
        while let Some(t) = self.tok(0) {
            let ok = matches!(t.kind, TokenKind::Ident | TokenKind::Int)
                || (t.kind == TokenKind::Punct && self.text_of(t) == "*");
            if !ok {
                break;
            }
            self.pos += 1;
            if !(self.pos > 0 && self.tok(0).is_some_and(|n| n.start == t.end)) {
                break;
            }
        }
        let end = self.prev_end();
        let text = self.text.get(start..end).unwrap_or("").to_string();
        let span = self.span(start, end);
        if text.contains('*') {
            Expr {
                kind: ExprKind::Wildcard(text),
                span,
            }
        } else {
            Expr {
                kind: ExprKind::Name(Name {
                    name: text,
                    quoted: false,
                    span,
                }),
                span,
            }
        }
    }

    /// Column names or wildcards, with optional `asc`/`desc` (project-away/keep/reorder).
    fn name_patterns(&mut self) -> Vec<OrderBy> {
        let mut out = Vec::new();
        if self.at_stop() {
            return out;
        }
        loop {
            let start = self.cur_start();
            let expr = if self.at_ident() || self.at_punct("*") {
                self.wildcard_name()
            } else if self.at_name() {
                let n = self.name();
                let span = n.span;
                Expr {
                    kind: ExprKind::Name(n),
                    span,
                }
            } else {
                let msg = format!("expected a column name, found {}", self.describe());
                self.error_here(msg)
            };
            let desc = if self.eat_word("asc") || self.eat_word("granny-asc") {
                Some(false)
            } else if self.eat_word("desc") || self.eat_word("granny-desc") {
                Some(true)
            } else {
                None
            };
            out.push(OrderBy {
                expr,
                desc,
                span: self.span(start, self.prev_end()),
            });
            if !self.eat_punct(",") {
                break;
            }
        }
        out
    }

    fn mv_items(&mut self) -> Vec<Expr> {
        let mut items = Vec::new();
        loop {
            let start = self.cur_start();
            let e = self.named_expr();
            if self.eat_word("to") {
                // `to typeof(string)`
                if self.peek_kind(0) == Some(TokenKind::Typed) {
                    self.bump();
                } else {
                    self.unary();
                }
                items.push(Expr {
                    span: self.span(start, self.prev_end()),
                    ..e
                });
            } else {
                items.push(e);
            }
            if !self.eat_punct(",") {
                break;
            }
        }
        items
    }

    fn parse_pattern(&mut self) -> Vec<PatternPart> {
        let mut parts = Vec::new();
        loop {
            if self.at_stop() {
                break;
            }
            if self.eat_punct("*") {
                parts.push(PatternPart::Star);
            } else if self.peek_kind(0) == Some(TokenKind::Str) {
                parts.push(PatternPart::Text(self.primary()));
            } else if self.at_name() {
                let name = self.name();
                let ty = if self.eat_punct(":") {
                    Some(self.type_text().0)
                } else {
                    None
                };
                parts.push(PatternPart::Column { name, ty });
            } else {
                break;
            }
        }
        parts
    }

    fn make_series(&mut self) -> OpKind {
        let mut aggs = Vec::new();
        if !self.at_word("on") {
            loop {
                let e = self.named_expr();
                aggs.push(e);
                if self.at_word("default") && self.punct_at(1, "=") {
                    self.pos += 2;
                    self.expr();
                }
                if !self.eat_punct(",") {
                    break;
                }
            }
        }
        let on = if self.expect_word("on") {
            // Not a full expression: `on T in range(...)` is the axis and its range.
            Some(self.expr_bp(Level::Relational as u8))
        } else {
            None
        };
        let mut range = Vec::new();
        if self.at_word("in") && self.word_at(1, "range") {
            self.pos += 2;
            if self.expect_punct("(") {
                range = self.expr_list();
                self.expect_punct(")");
            }
        } else {
            for w in ["from", "to", "step"] {
                if self.eat_word(w) {
                    range.push(self.expr());
                }
            }
        }
        let by = if self.eat_word("by") {
            self.named_list(&[])
        } else {
            Vec::new()
        };
        OpKind::MakeSeries {
            aggs,
            on,
            range,
            by,
        }
    }

    // ----- lists --------------------------------------------------------------------------

    /// Comma-separated (named) expressions, ending before an operator stop or a word in `stops`.
    fn named_list(&mut self, stops: &[&str]) -> Vec<Expr> {
        let mut out = Vec::new();
        if self.at_stop() || stops.iter().any(|w| self.at_word(w)) {
            return out;
        }
        loop {
            out.push(self.named_expr());
            if !self.eat_punct(",") {
                break;
            }
            if self.at_stop() || stops.iter().any(|w| self.at_word(w)) {
                let s = self.prev_end();
                self.error_at(s.saturating_sub(1), s, "trailing `,` in a list");
                break;
            }
        }
        out
    }

    fn expr_list(&mut self) -> Vec<Expr> {
        let mut out = Vec::new();
        if self.at_stop() {
            return out;
        }
        loop {
            out.push(self.expr());
            if !self.eat_punct(",") {
                break;
            }
        }
        out
    }

    fn order_list(&mut self) -> Vec<OrderBy> {
        let mut out = Vec::new();
        loop {
            let start = self.cur_start();
            let expr = self.named_expr();
            let desc = if self.eat_word("asc") {
                Some(false)
            } else if self.eat_word("desc") {
                Some(true)
            } else {
                None
            };
            if self.at_word("nulls") && (self.word_at(1, "first") || self.word_at(1, "last")) {
                self.pos += 2;
            }
            out.push(OrderBy {
                expr,
                desc,
                span: self.span(start, self.prev_end()),
            });
            if !self.eat_punct(",") {
                break;
            }
        }
        out
    }

    /// `name = expr`, `(a, b) = expr`, `['a b'] = expr`, or an expression.
    fn named_expr(&mut self) -> Expr {
        let start = self.cur_start();
        let single = (self.at_ident() && self.punct_at(1, "="))
            || (self.at_punct("[")
                && self.peek_kind(1) == Some(TokenKind::Str)
                && self.punct_at(2, "]")
                && self.punct_at(3, "="));
        if single {
            let n = self.name();
            self.bump(); // =
            let expr = self.expr();
            return Expr {
                kind: ExprKind::Named {
                    names: vec![n],
                    expr: Box::new(expr),
                },
                span: self.span(start, self.prev_end()),
            };
        }
        if self.at_punct("(") && self.tuple_assign_follows() {
            self.bump();
            let mut names = vec![self.name()];
            while self.eat_punct(",") {
                names.push(self.name());
            }
            self.expect_punct(")");
            self.expect_punct("=");
            let expr = self.expr();
            return Expr {
                kind: ExprKind::Named {
                    names,
                    expr: Box::new(expr),
                },
                span: self.span(start, self.prev_end()),
            };
        }
        self.expr()
    }

    /// `(a, b, c) =` ahead?
    fn tuple_assign_follows(&self) -> bool {
        let mut k = 1;
        loop {
            if self.peek_kind(k) != Some(TokenKind::Ident) {
                return false;
            }
            k += 1;
            if self.punct_at(k, ")") {
                return self.punct_at(k + 1, "=");
            }
            if !self.punct_at(k, ",") {
                return false;
            }
            k += 1;
        }
    }

    /// A call argument or list item: a named expression, possibly continued by `| op ...`.
    fn arg(&mut self) -> Expr {
        let start = self.cur_start();
        if self.at_punct("*") && (self.punct_at(1, ",") || self.punct_at(1, ")")) {
            let t = self.bump().expect("token");
            return Expr {
                kind: ExprKind::Star,
                span: self.span(t.start, t.end),
            };
        }
        let e = if self.at_ident()
            && matches!(self.peek_text(0), "union" | "search" | "find" | "evaluate")
            && self.source_op_follows()
        {
            self.source_expr()
        } else {
            self.named_expr()
        };
        self.pipe_tail(e, start)
    }

    fn args(&mut self) -> Vec<Expr> {
        // At `(`.
        self.bump();
        let mut args = Vec::new();
        if self.eat_punct(")") {
            return args;
        }
        loop {
            args.push(self.arg());
            if !self.eat_punct(",") {
                break;
            }
        }
        if !self.expect_punct(")") {
            self.skip_junk(false);
            self.eat_punct(")");
        }
        args
    }

    fn schema(&mut self) -> Vec<ColumnDecl> {
        let mut cols = Vec::new();
        if !self.expect_punct("(") {
            return cols;
        }
        self.eat_punct(",");
        while !self.at_punct(")") && !self.eof() {
            let turn = self.pos;
            let start = self.cur_start();
            if self.at_punct("*") {
                self.bump();
            } else {
                let name = self.name();
                let ty = if self.expect_punct(":") {
                    self.type_text().0
                } else {
                    String::new()
                };
                cols.push(ColumnDecl {
                    name,
                    ty,
                    span: self.span(start, self.prev_end()),
                });
            }
            if !self.eat_punct(",") || self.pos == turn {
                break;
            }
        }
        if !self.expect_punct(")") {
            self.skip_junk(false);
            self.eat_punct(")");
        }
        cols
    }

    // ----- scalar expressions (Pratt) -----------------------------------------------------

    pub fn expr(&mut self) -> Expr {
        self.expr_bp(0)
    }

    /// The binary operator at the current token: level, number of tokens, canonical text.
    fn binop(&self) -> Option<(Level, usize, String)> {
        let t = self.tok(0)?;
        let s = self.text_of(t);
        let level = match t.kind {
            TokenKind::Punct => match s {
                "==" | "!=" | "<>" => Level::Equality,
                "<" | "<=" | ">" | ">=" => Level::Relational,
                "+" | "-" => Level::Additive,
                "*" | "/" | "%" => Level::Multiplicative,
                "=~" | "!~" | ":" => Level::StringOp,
                _ => return None,
            },
            TokenKind::Op => match s {
                "in~" | "!in" | "!in~" | "!between" => Level::Equality,
                _ => Level::StringOp,
            },
            TokenKind::Ident => match s {
                "or" => Level::Or,
                "and" => Level::And,
                "in" | "has_any" | "has_all" | "between" => Level::Equality,
                "has" | "has_cs" | "hasprefix" | "hasprefix_cs" | "hassuffix" | "hassuffix_cs"
                | "contains" | "contains_cs" | "containscs" | "notcontains" | "notcontainscs"
                | "startswith" | "startswith_cs" | "endswith" | "endswith_cs" | "like"
                | "likecs" | "notlike" | "notlikecs" | "notbetween" => Level::StringOp,
                "matches" if self.word_at(1, "regex") => {
                    return Some((Level::StringOp, 2, "matches regex".into()))
                }
                _ => return None,
            },
            _ => return None,
        };
        Some((level, 1, s.to_string()))
    }

    fn expr_bp(&mut self, min: u8) -> Expr {
        if !self.enter() {
            return self.too_deep_node();
        }
        let start = self.cur_start();
        let mut lhs = self.unary();
        let mut wraps = 0usize;
        while let Some((level, ntoks, op)) = self.binop() {
            if (level as u8) < min {
                break;
            }
            lhs = self.binary_step(lhs, start, level, ntoks, op, &mut wraps);
            if self.depth + wraps >= MAX_DEPTH {
                self.too_deep();
                break;
            }
        }
        self.leave();
        lhs
    }

    /// One binary operator and its right operand, joined to `lhs`.
    #[inline(never)]
    fn binary_step(
        &mut self,
        mut lhs: Expr,
        start: usize,
        level: Level,
        ntoks: usize,
        op: String,
        wraps: &mut usize,
    ) -> Expr {
        let ostart = self.cur_start();
        self.pos += ntoks;
        let opnode = BinOp {
            op: op.clone(),
            span: self.span(ostart, self.prev_end()),
        };
        let is_list = matches!(
            op.as_str(),
            "in" | "in~" | "!in" | "!in~" | "has_any" | "has_all"
        );
        let is_between = matches!(op.as_str(), "between" | "!between");
        if is_list {
            let items = self.list_operand(&op);
            lhs = Expr {
                kind: ExprKind::InList {
                    left: Box::new(lhs),
                    op: opnode,
                    items,
                },
                span: self.span(start, self.prev_end()),
            };
            *wraps += 1;
        } else if is_between {
            let (low, high) = self.between_operand();
            lhs = Expr {
                kind: ExprKind::Between {
                    left: Box::new(lhs),
                    negated: op.starts_with('!'),
                    low: Box::new(low),
                    high: Box::new(high),
                },
                span: self.span(start, self.prev_end()),
            };
            *wraps += 1;
        } else {
            let rhs = self.expr_bp(level as u8 + 1);
            let span = self.span(start, self.prev_end());
            match &mut lhs.kind {
                ExprKind::Binary { level: l, rest, .. } if *l == level => {
                    rest.push((opnode, rhs));
                    lhs.span = span;
                }
                _ => {
                    lhs = Expr {
                        kind: ExprKind::Binary {
                            level,
                            first: Box::new(lhs),
                            rest: vec![(opnode, rhs)],
                        },
                        span,
                    };
                    *wraps += 1;
                }
            }
        }
        lhs
    }

    /// `( a, b, c )` after `in`/`has_any`/...; items may be sub-queries.
    fn list_operand(&mut self, op: &str) -> Vec<Expr> {
        if !self.at_punct("(") {
            // Not valid KQL (the list needs parentheses), but clear enough: take one operand.
            let s = self.cur_start();
            let e = self.expr_bp(Level::Relational as u8);
            self.warn_at(
                s,
                self.prev_end().max(s),
                "kql-list-parens",
                format!("the list after `{op}` should be in parentheses"),
            );
            return vec![e];
        }
        self.bump();
        let mut items = Vec::new();
        if self.eat_punct(")") {
            return items;
        }
        loop {
            items.push(self.arg());
            if !self.eat_punct(",") {
                break;
            }
            if self.at_punct(")") {
                // A trailing comma: Kusto rejects it.
                let s = self.prev_end();
                self.error_at(s.saturating_sub(1), s, "trailing `,` in a list");
                break;
            }
        }
        if !self.at_punct(")") {
            let msg = format!("expected `,` or `)` in the list, found {}", self.describe());
            let s = self.cur_start();
            let e = self.skip_junk(false).map(|(_, e)| e).unwrap_or(s);
            self.error_at(s, e, msg.clone());
            items.push(Expr::error(msg, self.span(s, e)));
        }
        self.expect_punct(")");
        items
    }

    /// `( low .. high )` after `between`.
    fn between_operand(&mut self) -> (Expr, Expr) {
        if !self.expect_punct("(") {
            let e = self.error_here("expected `(low .. high)`".into());
            return (e.clone(), e);
        }
        let low = self.expr();
        let high = if self.expect_punct("..") {
            self.expr()
        } else {
            self.error_here("expected `..`".into())
        };
        if !self.expect_punct(")") {
            self.skip_junk(false);
            self.eat_punct(")");
        }
        (low, high)
    }

    fn unary(&mut self) -> Expr {
        if self.at_punct("-") || self.at_punct("+") {
            return self.signed();
        }
        self.postfix()
    }

    #[inline(never)]
    fn signed(&mut self) -> Expr {
        let Some(t) = self.bump() else {
            return self.error_here("expected an expression".into());
        };
        if !self.enter() {
            return self.too_deep_node();
        }
        let inner = self.unary();
        self.leave();
        Expr {
            kind: ExprKind::Unary {
                op: self.text_of(t).to_string(),
                expr: Box::new(inner),
            },
            span: self.span(t.start, self.prev_end()),
        }
    }

    fn postfix(&mut self) -> Expr {
        let start = self.cur_start();
        let base = self.primary();
        if !(self.at_punct(".") || self.at_punct("[")) {
            return base;
        }
        self.segments(base, start)
    }

    /// `.member`, `[index]`, `.call()` after a primary expression.
    #[inline(never)]
    fn segments(&mut self, base: Expr, start: usize) -> Expr {
        let mut segments = Vec::new();
        loop {
            if self.at_punct(".")
                && (self.peek_kind(1) == Some(TokenKind::Ident) || self.punct_at(1, "["))
            {
                self.bump();
                if self.at_punct("[") {
                    if self.peek_kind(1) == Some(TokenKind::Str) && self.punct_at(2, "]") {
                        let n = self.name();
                        segments.push(Segment::Member(n));
                    } else {
                        self.bump();
                        let idx = self.expr();
                        self.expect_punct("]");
                        segments.push(Segment::Index(idx));
                    }
                    continue;
                }
                let n = self.name();
                if self.at_punct("(") {
                    let args = self.args();
                    segments.push(Segment::Call(n, args));
                } else {
                    segments.push(Segment::Member(n));
                }
            } else if self.at_punct("[") && !matches!(base.kind, ExprKind::Error(_)) {
                self.bump();
                let idx = self.expr();
                if !self.expect_punct("]") {
                    self.skip_junk(false);
                    self.eat_punct("]");
                }
                segments.push(Segment::Index(idx));
            } else {
                break;
            }
        }
        if segments.is_empty() {
            return base;
        }
        Expr {
            kind: ExprKind::Path {
                base: Box::new(base),
                segments,
            },
            span: self.span(start, self.prev_end()),
        }
    }

    fn literal(&mut self, kind: LiteralKind) -> Expr {
        let t = self.bump().expect("token");
        Expr {
            kind: ExprKind::Literal {
                kind,
                text: self.text_of(t).to_string(),
            },
            span: self.span(t.start, t.end),
        }
    }

    fn primary(&mut self) -> Expr {
        let Some(t) = self.tok(0) else {
            return self.error_here("expected an expression, found the end of the query".into());
        };
        match t.kind {
            TokenKind::Int => self.literal(LiteralKind::Int),
            TokenKind::Real => self.literal(LiteralKind::Real),
            TokenKind::Timespan => self.literal(LiteralKind::Timespan),
            TokenKind::Typed => self.literal(LiteralKind::Typed),
            TokenKind::Str => self.strings(),
            TokenKind::Ident => self.ident_primary(),
            TokenKind::Punct if self.text_of(t) == "(" => self.paren(),
            _ => self.other_primary(),
        }
    }

    /// Adjacent string literals, concatenated.
    #[inline(never)]
    fn strings(&mut self) -> Expr {
        let start = self.cur_start();
        let mut value = String::new();
        while self.peek_kind(0) == Some(TokenKind::Str) {
            let Some(st) = self.bump() else { break };
            value.push_str(&string_value(self.text_of(st)));
        }
        Expr {
            kind: ExprKind::Literal {
                kind: LiteralKind::Str,
                text: value,
            },
            span: self.span(start, self.prev_end()),
        }
    }

    #[inline(never)]
    fn ident_primary(&mut self) -> Expr {
        let start = self.cur_start();
        let s = self.peek_text(0);
        if matches!(s, "true" | "false" | "TRUE" | "FALSE" | "True" | "False")
            && !self.punct_at(1, "(")
        {
            return self.literal(LiteralKind::Bool);
        }
        if self.punct_at(1, "(") {
            return match s {
                "dynamic" => self.dynamic(),
                "datatable" => self.datatable(),
                "externaldata" | "external_data" => self.externaldata(),
                _ => {
                    let name = self.name();
                    let args = self.args();
                    Expr {
                        kind: ExprKind::Call { name, args },
                        span: self.span(start, self.prev_end()),
                    }
                }
            };
        }
        if s == "datatable" && self.peek_kind(1) == Some(TokenKind::Ident) {
            return self.datatable();
        }
        let name = self.name();
        let span = name.span;
        Expr {
            kind: ExprKind::Name(name),
            span,
        }
    }

    /// `( pipe-expression )`
    #[inline(never)]
    fn paren(&mut self) -> Expr {
        let start = self.cur_start();
        self.bump();
        let inner = self.pipe_expr();
        if !self.at_punct(")") {
            self.missing_close_paren();
        }
        self.eat_punct(")");
        Expr {
            kind: ExprKind::Paren(Box::new(inner)),
            span: self.span(start, self.prev_end()),
        }
    }

    #[cold]
    #[inline(never)]
    fn missing_close_paren(&mut self) {
        let msg = format!("expected `)`, found {}", self.describe());
        let s0 = self.cur_start();
        let e0 = self.skip_junk(false).map(|(_, e)| e).unwrap_or(s0);
        self.error_at(s0, e0.max(s0), msg);
    }

    #[inline(never)]
    fn other_primary(&mut self) -> Expr {
        if self.at_punct("[") && self.peek_kind(1) == Some(TokenKind::Str) && self.punct_at(2, "]")
        {
            let name = self.name();
            let span = name.span;
            return Expr {
                kind: ExprKind::Name(name),
                span,
            };
        }
        if self.at_punct("*") {
            let start = self.cur_start();
            self.bump();
            return Expr {
                kind: ExprKind::Star,
                span: self.span(start, self.prev_end()),
            };
        }
        self.error_here(format!("expected an expression, found {}", self.describe()))
    }

    fn dynamic(&mut self) -> Expr {
        let start = self.cur_start();
        self.bump(); // dynamic
        self.bump(); // (
        let inner = if self.at_punct(")") {
            let s = self.cur_start();
            Expr {
                kind: ExprKind::Name(Name {
                    name: "null".into(),
                    quoted: false,
                    span: self.span(s, s),
                }),
                span: self.span(s, s),
            }
        } else {
            self.json_value()
        };
        if !self.expect_punct(")") {
            self.skip_junk(false);
            self.eat_punct(")");
        }
        Expr {
            kind: ExprKind::Dynamic(Box::new(inner)),
            span: self.span(start, self.prev_end()),
        }
    }

    fn json_value(&mut self) -> Expr {
        let start = self.cur_start();
        if self.at_punct("[") {
            self.bump();
            if !self.enter() {
                self.eat_punct("]");
                return self.too_deep_node();
            }
            let mut items = Vec::new();
            while !self.at_punct("]") && !self.eof() {
                let turn = self.pos;
                items.push(self.json_value());
                if !self.eat_punct(",") || self.pos == turn {
                    break;
                }
            }
            self.leave();
            if !self.expect_punct("]") {
                self.skip_junk(false);
                self.eat_punct("]");
            }
            return Expr {
                kind: ExprKind::Array(items),
                span: self.span(start, self.prev_end()),
            };
        }
        if self.at_punct("{") {
            self.bump();
            if !self.enter() {
                self.eat_punct("}");
                return self.too_deep_node();
            }
            let mut pairs = Vec::new();
            while !self.at_punct("}") && !self.eof() {
                let turn = self.pos;
                let key = if self.at_ident() {
                    self.literal(LiteralKind::Str)
                } else {
                    self.primary()
                };
                let value = if self.expect_punct(":") {
                    self.json_value()
                } else {
                    self.error_here("expected `:`".into())
                };
                pairs.push((key, value));
                if !self.eat_punct(",") || self.pos == turn {
                    break;
                }
            }
            self.leave();
            if !self.expect_punct("}") {
                self.skip_junk(false);
                self.eat_punct("}");
            }
            return Expr {
                kind: ExprKind::Object(pairs),
                span: self.span(start, self.prev_end()),
            };
        }
        self.expr()
    }

    fn datatable(&mut self) -> Expr {
        let start = self.cur_start();
        self.bump(); // datatable
        self.op_params("datatable");
        let columns = self.schema();
        let mut values = Vec::new();
        if self.expect_punct("[") {
            // The grammar allows an empty first value: `[, "a", "b"]`.
            self.eat_punct(",");
            while !self.at_punct("]") && !self.eof() {
                let turn = self.pos;
                values.push(self.expr());
                if !self.eat_punct(",") || self.pos == turn {
                    break;
                }
            }
            if !self.expect_punct("]") {
                self.skip_junk(false);
                self.eat_punct("]");
            }
        }
        Expr {
            kind: ExprKind::Datatable { columns, values },
            span: self.span(start, self.prev_end()),
        }
    }

    fn externaldata(&mut self) -> Expr {
        let start = self.cur_start();
        self.bump();
        self.op_params("externaldata");
        let columns = self.schema();
        let mut urls = Vec::new();
        if self.expect_punct("[") {
            while !self.at_punct("]") && !self.eof() {
                let turn = self.pos;
                urls.push(self.expr());
                if !self.eat_punct(",") || self.pos == turn {
                    break;
                }
            }
            if !self.expect_punct("]") {
                self.skip_junk(false);
                self.eat_punct("]");
            }
        }
        if self.at_word("with") && self.punct_at(1, "(") {
            self.pos += 2;
            self.skip_junk(false);
            self.expect_punct(")");
        }
        Expr {
            kind: ExprKind::ExternalData { columns, urls },
            span: self.span(start, self.prev_end()),
        }
    }
}
