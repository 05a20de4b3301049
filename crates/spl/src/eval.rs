//! The eval world (`where`, `eval`): its own tokens over the command's text — bare words are
//! fields, `'quoted'` words are fields, `"quoted"` are strings — and the usual precedence, from
//! loosest: `OR`/`XOR`, `AND`, `NOT`, comparisons (`=`, `==`, `!=`, `<`, `<=`, `>`, `>=`, `LIKE`,
//! `IN`), `+ - .`, `* / %`, unary `-`. Keywords in any case.

use crate::ast::{Error, Eval, Span};
use crate::parser::MAX_DEPTH;

#[derive(Debug, Clone, Copy, PartialEq)]
enum T {
    Num,
    Str,
    Field,
    /// `'field name'`
    QField,
    Op,
    LParen,
    RParen,
    Comma,
    Other,
}

#[derive(Debug, Clone, Copy)]
struct Tok {
    t: T,
    start: usize,
    end: usize,
}

fn ident_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'_' | b'.'
                | b':'
                | b'@'
                | b'{'
                | b'}'
                | b'$'
                | b'#'
                | b'\\'
                | b'?'
                | b'&'
                | b';'
                | b'~'
                | b'^'
        )
        || b >= 0x80
}

fn lex(src: &str, lo: usize, hi: usize, errors: &mut Vec<Error>) -> Vec<Tok> {
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = lo;
    while i < hi {
        let start = i;
        let t = match b[i] {
            c if c.is_ascii_whitespace() => {
                i += 1;
                continue;
            }
            b'`' if src[i..hi].starts_with("```") => {
                i = src[i + 3..hi]
                    .find("```")
                    .map(|n| i + 3 + n + 3)
                    .unwrap_or(hi);
                continue;
            }
            _ if crate::lexer::template_len(&b[i..hi]).is_some() => {
                while i < hi {
                    if let Some(n) = crate::lexer::template_len(&b[i..hi]) {
                        i += n;
                    } else if ident_byte(b[i]) {
                        i += 1;
                    } else {
                        break;
                    }
                }
                T::Field
            }
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                let mut closed = false;
                while i < hi {
                    if b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == q {
                        closed = true;
                        i += 1;
                        break;
                    }
                    i += 1;
                }
                i = i.min(hi);
                // (An open `"` was reported by the search-level lexer already.)
                if !closed && q == b'\'' {
                    errors.push(Error {
                        span: Span::new(start, i),
                        message: "unterminated string".into(),
                    });
                }
                if q == b'"' {
                    T::Str
                } else {
                    T::QField
                }
            }
            b'(' => {
                i += 1;
                T::LParen
            }
            b')' => {
                i += 1;
                T::RParen
            }
            b',' => {
                i += 1;
                T::Comma
            }
            b'=' | b'<' | b'>' | b'!' => {
                i += if b.get(i + 1) == Some(&b'=') { 2 } else { 1 };
                if &src[start..i] == "!" {
                    T::Other
                } else {
                    T::Op
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' => {
                i += 1;
                T::Op
            }
            b'.' if !b.get(i + 1).is_some_and(|c| c.is_ascii_digit()) => {
                i += 1;
                T::Op
            }
            c if c.is_ascii_digit() || c == b'.' => {
                while i < hi && ident_byte(b[i]) {
                    i += 1;
                }
                let w = &src[start..i];
                if w.bytes().all(|c| c.is_ascii_digit() || c == b'.') || w.parse::<f64>().is_ok() {
                    T::Num
                } else {
                    T::Field
                }
            }
            c if ident_byte(c) => {
                while i < hi && ident_byte(b[i]) {
                    i += 1;
                }
                // `x."%"`: a trailing dot is the concatenation operator.
                while i > start + 1
                    && b[i - 1] == b'.'
                    && !b.get(i).is_some_and(|c| c.is_ascii_alphanumeric())
                {
                    i -= 1;
                }
                T::Field
            }
            _ => {
                i += 1;
                while i < hi && !src.is_char_boundary(i) {
                    i += 1;
                }
                T::Other
            }
        };
        out.push(Tok { t, start, end: i });
    }
    out
}

struct P<'a> {
    src: &'a str,
    toks: Vec<Tok>,
    i: usize,
    depth: usize,
    errors: Vec<Error>,
    end: usize,
    /// An error was reported: the rest was skipped, so no more errors for missing closers.
    failed: bool,
}

/// The eval expression in `src[lo..hi]`; errors go to `errors`.
pub(crate) fn read(src: &str, lo: usize, hi: usize, errors: &mut Vec<Error>) -> Eval {
    let mut p = P {
        src,
        toks: Vec::new(),
        i: 0,
        depth: 0,
        errors: Vec::new(),
        end: hi,
        failed: false,
    };
    p.toks = lex(src, lo, hi, &mut p.errors);
    let e = if p.toks.is_empty() {
        p.errors.push(Error {
            span: Span::new(lo, hi),
            message: "expected an expression".into(),
        });
        Eval::Bad(Span::new(lo, hi))
    } else {
        p.or()
    };
    if let Some(t) = p.toks.get(p.i).copied() {
        p.errors.push(Error {
            span: Span::new(t.start, t.end),
            message: format!("unexpected `{}` after the expression", &src[t.start..t.end]),
        });
    }
    errors.extend(p.errors);
    e
}

impl<'a> P<'a> {
    fn peek(&self) -> Option<Tok> {
        self.toks.get(self.i).copied()
    }

    fn word(&self) -> Option<String> {
        self.peek()
            .filter(|t| t.t == T::Field)
            .map(|t| self.src[t.start..t.end].to_ascii_uppercase())
    }

    fn op(&self) -> Option<&'a str> {
        self.peek()
            .filter(|t| t.t == T::Op)
            .map(|t| &self.src[t.start..t.end])
    }

    fn bad_here(&mut self, what: &str) -> Eval {
        let span = match self.peek() {
            Some(t) => Span::new(t.start, t.end),
            None => Span::new(self.end, self.end),
        };
        let found = self
            .peek()
            .map(|t| format!("`{}`", &self.src[t.start..t.end]))
            .unwrap_or_else(|| "the end".into());
        self.errors.push(Error {
            span,
            message: format!("expected {what}, found {found}"),
        });
        // Skip the rest: one error per expression.
        self.i = self.toks.len();
        self.failed = true;
        Eval::Bad(span)
    }

    fn binary(&self, op: &str, left: Eval, right: Eval) -> Eval {
        let span = left.span().to(right.span());
        Eval::Binary {
            op: op.to_string(),
            left: Box::new(left),
            right: Box::new(right),
            span,
        }
    }

    fn or(&mut self) -> Eval {
        let mut e = self.and();
        while let Some(w) = self.word().filter(|w| w == "OR" || w == "XOR") {
            self.i += 1;
            let r = self.and();
            e = self.binary(&w, e, r);
        }
        e
    }

    fn and(&mut self) -> Eval {
        let mut e = self.not();
        while self.word().as_deref() == Some("AND") {
            self.i += 1;
            let r = self.not();
            e = self.binary("AND", e, r);
        }
        e
    }

    fn not(&mut self) -> Eval {
        if self.depth >= MAX_DEPTH {
            return self.bad_here("less nesting (more than 64 levels)");
        }
        self.depth += 1;
        let out = if self.word().as_deref() == Some("NOT")
            && !self
                .toks
                .get(self.i + 1)
                .is_some_and(|t| t.t == T::LParen && t.start == self.toks[self.i].end)
        {
            let t = self.peek().expect("a word");
            self.i += 1;
            let e = self.not();
            let span = Span::new(t.start, e.span().end);
            Eval::Unary {
                op: "NOT".into(),
                expr: Box::new(e),
                span,
            }
        } else {
            self.cmp()
        };
        self.depth -= 1;
        out
    }

    fn cmp(&mut self) -> Eval {
        let mut e = self.add();
        loop {
            if let Some(op) = self
                .op()
                .filter(|o| matches!(*o, "=" | "==" | "!=" | "<" | "<=" | ">" | ">="))
            {
                self.i += 1;
                let r = self.add();
                e = self.binary(op, e, r);
            } else if self.word().as_deref() == Some("LIKE") {
                self.i += 1;
                let r = self.add();
                e = self.binary("LIKE", e, r);
            } else if self.word().as_deref() == Some("IN")
                && self.toks.get(self.i + 1).is_some_and(|t| t.t == T::LParen)
            {
                self.i += 2;
                let list = self.args();
                let span = Span::new(e.span().start, self.toks[self.i - 1].end);
                e = Eval::In {
                    expr: Box::new(e),
                    list,
                    span,
                };
            } else {
                return e;
            }
        }
    }

    fn add(&mut self) -> Eval {
        let mut e = self.mul();
        while let Some(op) = self.op().filter(|o| matches!(*o, "+" | "-" | ".")) {
            self.i += 1;
            let r = self.mul();
            e = self.binary(op, e, r);
        }
        e
    }

    fn mul(&mut self) -> Eval {
        let mut e = self.unary();
        while let Some(op) = self.op().filter(|o| matches!(*o, "*" | "/" | "%")) {
            self.i += 1;
            let r = self.unary();
            e = self.binary(op, e, r);
        }
        e
    }

    fn unary(&mut self) -> Eval {
        if self.op() == Some("-") || self.op() == Some("+") {
            if self.depth >= MAX_DEPTH {
                return self.bad_here("less nesting (more than 64 levels)");
            }
            let t = self.peek().expect("an operator");
            self.i += 1;
            self.depth += 1;
            let e = self.unary();
            self.depth -= 1;
            let span = Span::new(t.start, e.span().end);
            return Eval::Unary {
                op: self.src[t.start..t.end].to_string(),
                expr: Box::new(e),
                span,
            };
        }
        self.primary()
    }

    /// Arguments up to the `)` (the `(` already read).
    fn args(&mut self) -> Vec<Eval> {
        let mut out = Vec::new();
        if self.peek().is_some_and(|t| t.t == T::RParen) {
            self.i += 1;
            return out;
        }
        loop {
            if self.depth >= MAX_DEPTH {
                out.push(self.bad_here("less nesting (more than 64 levels)"));
                return out;
            }
            self.depth += 1;
            out.push(self.or());
            self.depth -= 1;
            match self.peek().map(|t| t.t) {
                Some(T::Comma) => self.i += 1,
                Some(T::RParen) => {
                    self.i += 1;
                    return out;
                }
                _ => {
                    out.push(self.bad_here("`,` or `)`"));
                    return out;
                }
            }
        }
    }

    fn primary(&mut self) -> Eval {
        let Some(t) = self.peek() else {
            return self.bad_here("a value");
        };
        let span = Span::new(t.start, t.end);
        let text = &self.src[t.start..t.end];
        match t.t {
            T::Num => {
                self.i += 1;
                Eval::Num(text.to_string(), span)
            }
            T::Str => {
                self.i += 1;
                Eval::Str(crate::lexer::unquote(text), span)
            }
            T::QField => {
                self.i += 1;
                Eval::Field(text.trim_matches('\'').to_string(), span)
            }
            T::Field => {
                self.i += 1;
                // A call (`like(`, and `LIKE (` with a space, which Splunk accepts too).
                let call = self.peek().is_some_and(|n| n.t == T::LParen);
                if call {
                    self.i += 1;
                    if self.depth >= MAX_DEPTH {
                        return self.bad_here("less nesting (more than 64 levels)");
                    }
                    self.depth += 1;
                    let args = self.args();
                    self.depth -= 1;
                    let end = self
                        .toks
                        .get(self.i.saturating_sub(1))
                        .map(|x| x.end)
                        .unwrap_or(t.end);
                    return Eval::Call {
                        name: text.to_string(),
                        args,
                        span: Span::new(t.start, end),
                    };
                }
                Eval::Field(text.to_string(), span)
            }
            T::LParen => {
                self.i += 1;
                if self.depth >= MAX_DEPTH {
                    return self.bad_here("less nesting (more than 64 levels)");
                }
                self.depth += 1;
                let e = self.or();
                self.depth -= 1;
                if self.peek().is_some_and(|x| x.t == T::RParen) {
                    self.i += 1;
                    e
                } else if self.failed {
                    e
                } else {
                    self.errors.push(Error {
                        span,
                        message: "expected `)` to close this `(`".into(),
                    });
                    e
                }
            }
            _ => self.bad_here("a value"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(e: &Eval) -> String {
        match e {
            Eval::Field(f, _) => f.clone(),
            Eval::Str(s, _) => format!("{s:?}"),
            Eval::Num(n, _) => n.clone(),
            Eval::Call { name, args, .. } => format!(
                "{name}({})",
                args.iter().map(show).collect::<Vec<_>>().join(",")
            ),
            Eval::Unary { op, expr, .. } => format!("({op} {})", show(expr)),
            Eval::Binary {
                op, left, right, ..
            } => format!("({} {op} {})", show(left), show(right)),
            Eval::In { expr, list, .. } => format!(
                "({} IN {})",
                show(expr),
                list.iter().map(show).collect::<Vec<_>>().join(",")
            ),
            Eval::Bad(_) => "BAD".into(),
        }
    }

    fn read_all(s: &str) -> (String, Vec<Error>) {
        let mut errs = Vec::new();
        let e = read(s, 0, s.len(), &mut errs);
        (show(&e), errs)
    }

    #[test]
    fn precedence() {
        assert_eq!(
            read_all("a=1 OR b>2 AND NOT c").0,
            "((a = 1) OR ((b > 2) AND (NOT c)))"
        );
        assert_eq!(
            read_all("x + 2 * y - 1 > 'Processes.count'").0,
            "(((x + (2 * y)) - 1) > Processes.count)"
        );
        assert_eq!(
            read_all("like(process, \"%.ps1\") AND user IN (\"a\", \"b\")").0,
            "(like(process,\"%.ps1\") AND (user IN \"a\",\"b\"))"
        );
        assert_eq!(read_all("a . \"-\" . b.c").0, "((a . \"-\") . b.c)");
        assert_eq!(read_all("-x < -1.5").0, "((- x) < (- 1.5))");
        assert_eq!(
            read_all("isnull(x) and process LIKE \"%cmd%\"").0,
            "(isnull(x) AND (process LIKE \"%cmd%\"))"
        );
    }

    #[test]
    fn errors() {
        let (_, e) = read_all("a = (b + ");
        assert_eq!(e.len(), 1, "{e:?}");
        let (_, e) = read_all("f(a b)");
        assert!(e[0].message.contains("`,` or `)`"), "{e:?}");
        let deep = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
        let (_, e) = read_all(&deep);
        assert!(e[0].message.contains("nesting"), "{e:?}");
    }
}
