//! The KQL (Kusto Query Language) front end of rulelens: a hand-written lexer, a
//! recursive-descent parser with a Pratt expression parser that builds a lossless syntax tree
//! with byte spans and error recovery, and the lowering of that tree into the `ir` model.
//!
//! ```
//! let text = "SecurityEvent | where EventID == 4688 and CommandLine has \"-enc\"";
//! let parsed = kql::parse(text);
//! assert!(!parsed.has_errors());
//! let lowered = kql::lower(&parsed, text, &|_| None);
//! assert_eq!(lowered.tables, ["SecurityEvent"]);
//! ```
//!
//! Spans are relative to the parsed text: byte offsets and 1-based line:column (columns count
//! characters). [`shift_span`] moves them into the file the query came from.
//!
//! How predicates are modelled: `==`/`=~` are `eq` cased / not cased, `!=`, `<>`, `!~` negated;
//! `has` (and `:`) is `token`, `has_cs` cased; `hasprefix`/`hassuffix` are `token` with the
//! transform `prefix`/`suffix`; `contains`, `startswith`, `endswith` (and `_cs`, `!` forms) map
//! to their ops; `matches regex` is `regex` (cased); `in`, `in~`, `!in`, `!in~` are `eq` with
//! several values; `has_any` is `token` with several values, `has_all` the same with `all`;
//! `between (a .. b)` is `ge a` and `le b` (`!between` their negation); `<` ... `>=` are
//! `lt` ... `ge`; `isnotempty`/`isnotnull` are `exists` (`isempty`/`isnull` negated). Constants
//! from `let` (scalars, `dynamic([...])` lists, one-column `datatable`s) are inlined;
//! `tolower(x)`/`toupper(x)` make the predicate case-insensitive on `x`; `tostring(x)` and other
//! conversions are looked through. A left side that is not a column keeps the expression text
//! as the field. Constant expressions that are not literals (`ago(1d)`) are values kept as text
//! with the transform `expr`; timespan and datetime literals carry `timespan`/`datetime`. A
//! comparison of two columns with `==`-like operators is `fieldref`. IPv4 functions used as
//! conditions are `cidr` (`ipv4_is_private`, `ipv4_is_in_range`, `ipv4_is_match`) or `token`
//! (`has_ipv4`, `has_any_ipv4`). Comparisons of constants fold to `Expr::Const`. Anything else
//! (a column compared with a sub-query's result, `<` between two columns, `like`, ...) is
//! `Expr::Unmodeled` with its text and the reason.
//!
//! Stages: each `let` is a named stage (`let` for scalars and lists, `view` for tables,
//! `function` for lambdas); each pipeline is a `source` stage (a table or workspace function)
//! and one stage per operator, wired by `inputs`; join, union and lookup right sides and
//! sub-queries (`toscalar(...)`, `in (T | ...)`) are stages of their own, inputs of the stage
//! that uses them. A call of a `let` lambda inlines its body with the arguments bound (so
//! `table(name)` resolves per call) under an `invoke` stage.
//!
//! Diagnostic codes: `kql-lex` and `kql-syntax` (errors: the text is not valid KQL; the broken
//! part is an error node), `kql-unknown-operator`, `kql-list-parens` (warnings: parsed anyway),
//! and from lowering `kql-join-key`, `kql-join-where`, `kql-function-syntax`, `kql-too-large`.

pub mod ast;
pub mod lexer;
mod lower;
mod parser;

use ir::{Diagnostic, Severity, Span};

pub use lower::Lowered;
pub use parser::MAX_DEPTH;

/// A parsed query: the lossless tree and what went wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub ast: ast::Query,
    /// Lexer and parser diagnostics (errors for invalid KQL, warnings for doubtful parts).
    pub diagnostics: Vec<Diagnostic>,
}

impl Parsed {
    /// Did any part of the text fail to parse (an error node)?
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }

    /// The first error, if any.
    pub fn first_error(&self) -> Option<&Diagnostic> {
        self.diagnostics
            .iter()
            .find(|d| d.severity == Severity::Error)
    }
}

/// Parses KQL text. Never panics; invalid parts become error nodes with diagnostics and the
/// rest still parses.
pub fn parse(text: &str) -> Parsed {
    let (tokens, lex_errors) = lexer::lex(text);
    let lines = ir::LineIndex::new(text);
    let mut diagnostics: Vec<Diagnostic> = lex_errors
        .iter()
        .take(100)
        .map(|e| {
            Diagnostic::error(
                "kql-lex",
                e.message.clone(),
                Some(lines.span(e.start, e.end)),
            )
        })
        .collect();
    let mut p = parser::Parser::new(text, tokens, lines);
    let statements = p.statements(None);
    let span = p.span(0, text.len());
    let (tokens, diags) = p.into_tokens();
    diagnostics.extend(diags);
    diagnostics.sort_by_key(|d| d.span.map(|s| s.start).unwrap_or(usize::MAX));
    Parsed {
        ast: ast::Query {
            statements,
            tokens,
            span,
        },
        diagnostics,
    }
}

/// Lowers a parsed query into the `ir` model. `text` is the text given to [`parse`];
/// `functions` returns the body of a workspace function (a parser) by name, when known, so the
/// tables it reads are found.
pub fn lower(parsed: &Parsed, text: &str, functions: &dyn Fn(&str) -> Option<String>) -> Lowered {
    let cx = lower::Cx::new(text, functions, 0, Default::default());
    cx.run(&parsed.ast).0
}

/// The line holding `span`'s start, and under it a caret line marking the span (to its line's
/// end when it runs over several lines).
pub fn caret(text: &str, span: Span) -> String {
    let start = span.start.min(text.len());
    let start = (0..=start)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    let line_start = text[..start]
        .rfind(['\n', '\r'])
        .map(|i| i + 1)
        .unwrap_or(0);
    let line_end = text[start..]
        .find(['\n', '\r'])
        .map(|i| start + i)
        .unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let end = span.end.clamp(start, line_end);
    let end = (end..=line_end)
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(line_end);
    let mut marks = String::new();
    for c in text[line_start..start].chars() {
        marks.push(if c == '\t' { '\t' } else { ' ' });
    }
    let width = text[start..end].chars().count().max(1);
    marks.extend(std::iter::repeat_n('^', width));
    format!("{line}\n{marks}")
}

/// Where a query's text sits in its file: for a YAML block scalar, the file line of the
/// query's first line, the file byte offset of its first character, and the indentation that
/// YAML removed from every line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Origin {
    /// Lines of the file before the query's first line.
    pub line_offset: u32,
    /// File byte offset of the query's first character.
    pub byte_offset: usize,
    /// Columns (bytes) of indentation stripped from each line.
    pub indent: u32,
}

/// Moves a span relative to the query text into file coordinates (see [`Origin`]). Byte
/// offsets assume every line of the block carried the indentation (blank lines may not, so
/// they are then approximate; line:col are exact).
pub fn shift_span(span: Span, origin: Origin) -> Span {
    let extra = origin.indent as usize * (span.line.saturating_sub(1) as usize);
    Span {
        start: origin.byte_offset + span.start + extra,
        end: origin.byte_offset + span.end + extra,
        line: span.line + origin.line_offset,
        col: span.col + origin.indent,
    }
}

/// Every diagnostic's span shifted by [`shift_span`].
pub fn shift_diagnostics(diags: &mut [Diagnostic], origin: Origin) {
    for d in diags {
        if let Some(s) = d.span {
            d.span = Some(shift_span(s, origin));
        }
    }
}
