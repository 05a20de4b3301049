//! Pipeline parser: commands at top-level `|`, each read by its argument grammar (see
//! [`crate::commands`]); subsearches `[...]` are pipelines of their own. Errors are recorded
//! with their span and parsing goes on at the next command, so one bad command loses nothing
//! else.

use crate::ast::{Arg, Body, Command, Error, Lit, Opt, Parsed, Pipeline, Search, Span};
use crate::lexer::{lex, unquote, Kind, Token};

/// Nesting (subsearches, groups, NOTs) beyond this is reported, not followed: real searches nest
/// a handful of levels, and the cap keeps the recursive parser far from the stack's end.
pub(crate) const MAX_DEPTH: usize = 64;

pub fn parse(src: &str) -> Parsed {
    let tokens = lex(src);
    let mut p = Parser {
        src,
        toks: tokens.iter().copied().filter(|t| !t.is_trivia()).collect(),
        i: 0,
        hi: 0,
        depth: 0,
        errors: Vec::new(),
        notes: Vec::new(),
    };
    for t in &tokens {
        let what = match t.kind {
            Kind::Str { closed: false } => "unterminated string: expected a closing `\"`",
            Kind::Comment { closed: false } => "unterminated comment: expected a closing ```",
            Kind::Macro { closed: false } => "unterminated macro call: expected a closing backtick",
            _ => continue,
        };
        p.errors.push(Error {
            span: Span::new(t.start, t.end),
            message: what.into(),
        });
    }
    p.hi = p.toks.len();
    let pipeline = p.pipeline(false, false);
    if p.i < p.toks.len() {
        let t = p.toks[p.i];
        p.error(
            Span::new(t.start, src.len()),
            format!("unexpected `{}`", t.text(src)),
        );
    }
    p.errors.sort_by_key(|e| e.span.start);
    Parsed {
        pipeline,
        tokens,
        errors: p.errors,
        notes: p.notes,
    }
}

pub(crate) struct Parser<'a> {
    pub src: &'a str,
    pub toks: Vec<Token>,
    /// Next token.
    pub i: usize,
    /// End of the range being parsed (exclusive).
    pub hi: usize,
    pub depth: usize,
    pub errors: Vec<Error>,
    pub notes: Vec<Error>,
}

impl<'a> Parser<'a> {
    pub fn error(&mut self, span: Span, message: impl Into<String>) {
        self.errors.push(Error {
            span,
            message: message.into(),
        });
    }

    pub fn note(&mut self, span: Span, message: impl Into<String>) {
        self.notes.push(Error {
            span,
            message: message.into(),
        });
    }

    pub fn peek(&self) -> Option<Token> {
        (self.i < self.hi).then(|| self.toks[self.i])
    }

    pub fn peek_at(&self, n: usize) -> Option<Token> {
        (self.i + n < self.hi).then(|| self.toks[self.i + n])
    }

    pub fn text(&self, t: Token) -> &'a str {
        t.text(self.src)
    }

    pub fn at_end(&self) -> bool {
        self.i >= self.hi
    }

    /// The next token is the word `w` (any case).
    pub fn at_word(&self, w: &str) -> bool {
        self.peek()
            .is_some_and(|t| t.kind == Kind::Word && self.text(t).eq_ignore_ascii_case(w))
    }

    /// The next token is the word `w`, exactly as written (search-world `AND`/`OR`/`NOT`).
    pub fn at_keyword(&self, w: &str) -> bool {
        self.peek()
            .is_some_and(|t| t.kind == Kind::Word && self.text(t) == w)
    }

    pub fn at(&self, k: Kind) -> bool {
        self.peek().is_some_and(|t| t.kind == k)
    }

    pub fn span_here(&self) -> Span {
        match self.peek() {
            Some(t) => Span::new(t.start, t.end),
            None => {
                let end = if self.hi > 0 {
                    self.toks[self.hi - 1].end
                } else {
                    0
                };
                Span::new(end, end)
            }
        }
    }

    /// The token after the next is glued to it (`count(`, not `count (`).
    pub fn glued_next(&self) -> bool {
        match (self.peek(), self.peek_at(1)) {
            (Some(a), Some(b)) => a.end == b.start,
            _ => false,
        }
    }

    /// A word or quoted string as a literal.
    pub fn lit(&mut self) -> Option<Lit> {
        let t = self.peek()?;
        let lit = match t.kind {
            Kind::Word | Kind::Macro { .. } => Lit {
                text: self.text(t).to_string(),
                quoted: false,
                span: Span::new(t.start, t.end),
            },
            Kind::Str { .. } => Lit {
                text: unquote(self.text(t)),
                quoted: true,
                span: Span::new(t.start, t.end),
            },
            _ => return None,
        };
        self.i += 1;
        Some(lit)
    }

    /// Index of the token closing the group opened at `open` (a `(` or `[`), within `hi`.
    pub fn closing(&self, open: usize) -> Option<usize> {
        let (o, c) = match self.toks[open].kind {
            Kind::LParen => (Kind::LParen, Kind::RParen),
            _ => (Kind::LBrack, Kind::RBrack),
        };
        let mut depth = 0usize;
        for j in open..self.hi {
            let k = self.toks[j].kind;
            if k == o {
                depth += 1;
            } else if k == c {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
        }
        None
    }

    /// Runs `f` on tokens `lo..hi`, then moves past them.
    pub fn within<T>(&mut self, lo: usize, hi: usize, f: impl FnOnce(&mut Self) -> T) -> T {
        let (saved_i, saved_hi) = (self.i, self.hi);
        self.i = lo;
        self.hi = hi;
        let out = f(self);
        self.i = saved_i.max(hi);
        self.hi = saved_hi;
        out
    }

    /// Commands until the range ends (or, in a subsearch, until its `]`, which is left unread).
    /// `command_first`: the first command names its command even without a leading `|`
    /// (`foreach` templates).
    pub fn pipeline(&mut self, in_sub: bool, command_first: bool) -> Pipeline {
        let start = self.span_here().start;
        let mut commands = Vec::new();
        let mut piped = false;
        loop {
            if self.at(Kind::Pipe) {
                if piped {
                    let s = self.span_here();
                    self.error(
                        s,
                        "empty command: expected a command name between `|` and `|`",
                    );
                }
                piped = true;
                self.i += 1;
                continue;
            }
            if self.at_end() || (in_sub && self.at(Kind::RBrack)) {
                if piped && !commands.is_empty() {
                    let s = self.span_here();
                    self.error(s, "expected a command after `|`");
                }
                break;
            }
            let end = self.command_end(in_sub);
            let first = commands.is_empty() && !piped && !command_first;
            let cmd = self.within(self.i, end, |p| p.command(first));
            commands.push(cmd);
            piped = false;
            if self.i < self.hi && self.toks[self.i].kind == Kind::RBrack && !in_sub {
                let s = self.span_here();
                self.error(s, "unexpected `]`: no subsearch to close");
                self.i += 1;
            }
        }
        let end = if self.i > 0 {
            self.toks[self.i - 1].end.max(start)
        } else {
            start
        };
        Pipeline {
            commands,
            span: Span::new(start, end),
        }
    }

    /// Where the command starting at `i` ends: the next `|` outside subsearches (quotes are
    /// tokens already; parentheses do not hold pipes, as in Splunk), or the `]` closing the
    /// subsearch.
    fn command_end(&self, in_sub: bool) -> usize {
        let mut brack = 0usize;
        for j in self.i..self.hi {
            match self.toks[j].kind {
                Kind::LBrack => brack += 1,
                Kind::RBrack if brack == 0 && in_sub => return j,
                Kind::RBrack => brack = brack.saturating_sub(1),
                Kind::Pipe if brack == 0 => return j,
                _ => {}
            }
        }
        self.hi
    }

    fn command(&mut self, first: bool) -> Command {
        let start = self.span_here();
        let last = if self.hi > self.i {
            self.toks[self.hi - 1].end
        } else {
            start.end
        };
        let span = Span::new(start.start, last);
        let head = self.peek();
        let word = head
            .filter(|t| t.kind == Kind::Word)
            .map(|t| self.text(t).to_ascii_lowercase());
        let next_is_cmp = self.peek_at(1).is_some_and(|t| t.kind == Kind::Cmp);
        // A pipeline that starts without `|` is a search, named or not.
        if first && (word.as_deref() != Some("search") || next_is_cmp) {
            let body = Body::Search(self.search_expr());
            return Command {
                name: "search".into(),
                name_span: None,
                span,
                body,
            };
        }
        if head.is_some_and(|t| matches!(t.kind, Kind::Macro { closed: true })) {
            // A macro expansion could not resolve (reported there): keep it as a command.
            let name = head.map(|t| self.text(t).to_string()).unwrap_or_default();
            self.i += 1;
            let body = Body::Generic(self.generic());
            return Command {
                name,
                name_span: Some(start),
                span,
                body,
            };
        }
        let Some(name) = word else {
            self.error(
                start,
                format!(
                    "expected a command name, found `{}`",
                    head.map(|t| self.text(t)).unwrap_or("")
                ),
            );
            let body = Body::Generic(self.generic());
            return Command {
                name: String::new(),
                name_span: None,
                span,
                body,
            };
        };
        self.i += 1;
        let name_span = Some(start);
        let mark = (self.i, self.errors.len(), self.notes.len());
        let body = match crate::commands::read(self, &name) {
            Ok(b) => {
                if !self.at_end() {
                    let s = self.span_here();
                    let found = self.text(self.toks[self.i]).to_string();
                    self.error(s, format!("unexpected `{found}` in `{name}`"));
                    self.i = self.hi;
                }
                b
            }
            Err(e) => {
                // The command's own grammar failed: say why, and keep its arguments generically.
                self.i = mark.0;
                self.errors.truncate(mark.1);
                self.notes.truncate(mark.2);
                self.errors.push(e);
                Body::Generic(self.generic())
            }
        };
        Command {
            name,
            name_span,
            span,
            body,
        }
    }

    /// The generic argument grammar: options, literals, calls, groups and subsearches.
    pub fn generic(&mut self) -> Vec<Arg> {
        let mut out = Vec::new();
        while let Some(t) = self.peek() {
            match t.kind {
                Kind::RParen | Kind::RBrack => {
                    let s = Span::new(t.start, t.end);
                    self.error(
                        s,
                        format!("unexpected `{}`: nothing to close", self.text(t)),
                    );
                    self.i += 1;
                }
                Kind::Comma => self.i += 1,
                Kind::Cmp => {
                    out.push(Arg::Op(self.text(t).to_string(), Span::new(t.start, t.end)));
                    self.i += 1;
                }
                Kind::LBrack => {
                    if let Some(sub) = self.subsearch(false) {
                        out.push(Arg::Sub(sub));
                    }
                }
                Kind::LParen => {
                    let open = self.i;
                    match self.closing(open) {
                        Some(close) if self.depth < MAX_DEPTH => {
                            self.depth += 1;
                            let inner = self.within(open + 1, close, |p| p.generic());
                            self.depth -= 1;
                            self.i = close + 1;
                            out.push(Arg::Group(inner, Span::new(t.start, self.toks[close].end)));
                        }
                        Some(_) => {
                            self.error(
                                Span::new(t.start, t.end),
                                "nested too deeply (more than 64 levels): not read",
                            );
                            self.i = self.hi;
                        }
                        None => {
                            self.error(Span::new(t.start, t.end), "expected `)` to close this `(`");
                            self.i += 1;
                        }
                    }
                }
                Kind::Word
                    if self
                        .peek_at(1)
                        .is_some_and(|n| n.kind == Kind::Cmp && self.text(n) == "=") =>
                {
                    if let Some(o) = self.opt() {
                        out.push(Arg::Opt(o));
                    }
                }
                Kind::Word
                    if self.glued_next()
                        && self.peek_at(1).is_some_and(|n| n.kind == Kind::LParen) =>
                {
                    if let Some(c) = self.call() {
                        out.push(c);
                    }
                }
                _ => match self.lit() {
                    Some(l) => out.push(Arg::Lit(l)),
                    None => self.i += 1,
                },
            }
        }
        out
    }

    /// `key=value` (value a word, a string, or a call such as `relative_time(now(),"-1d")`).
    pub fn opt(&mut self) -> Option<Opt> {
        let k = self.peek()?;
        self.i += 2;
        let key = self.text(k).to_string();
        let value = if self.at(Kind::LParen) {
            // `startswith=(EventCode=4698)`: the group's text.
            let open = self.i;
            let Some(close) = self.closing(open) else {
                let t = self.toks[open];
                self.error(Span::new(t.start, t.end), "expected `)` to close this `(`");
                self.i = self.hi;
                return None;
            };
            self.i = close + 1;
            let (s, e) = (self.toks[open].start, self.toks[close].end);
            Lit {
                text: self.src[s..e].to_string(),
                quoted: false,
                span: Span::new(s, e),
            }
        } else if self.peek().is_some_and(|t| t.kind == Kind::Word)
            && self.glued_next()
            && self.peek_at(1).is_some_and(|n| n.kind == Kind::LParen)
        {
            let start = self.span_here().start;
            let _ = self.call();
            let end = self.toks[self.i - 1].end;
            Lit {
                text: self.src[start..end].to_string(),
                quoted: false,
                span: Span::new(start, end),
            }
        } else {
            match self.lit() {
                Some(v) => v,
                None => {
                    let s = Span::new(k.start, self.span_here().start.max(k.end));
                    self.error(s, format!("expected a value after `{key}=`"));
                    return None;
                }
            }
        };
        let span = Span::new(k.start, value.span.end);
        Some(Opt { key, value, span })
    }

    /// `name(...)` with the inside kept as text.
    pub fn call(&mut self) -> Option<Arg> {
        let name_tok = self.peek()?;
        let open = self.i + 1;
        match self.closing(open) {
            Some(close) => {
                self.i = close + 1;
                let inner = self.src[self.toks[open].end..self.toks[close].start].to_string();
                Some(Arg::Call {
                    name: self.text(name_tok).to_string(),
                    inner,
                    span: Span::new(name_tok.start, self.toks[close].end),
                })
            }
            None => {
                self.error(
                    Span::new(self.toks[open].start, self.toks[open].end),
                    "expected `)` to close this `(`",
                );
                self.i = self.hi;
                None
            }
        }
    }

    /// `[ pipeline ]` at the next token.
    pub fn subsearch(&mut self, command_first: bool) -> Option<Pipeline> {
        let open = self.i;
        let t = self.toks[open];
        let Some(close) = self.closing(open) else {
            self.error(
                Span::new(t.start, t.end),
                "expected `]` to close this subsearch",
            );
            self.i = self.hi;
            return None;
        };
        if self.depth >= MAX_DEPTH {
            self.error(
                Span::new(t.start, t.end),
                "nested too deeply (more than 64 levels): not read",
            );
            self.i = close + 1;
            return None;
        }
        self.depth += 1;
        let mut sub = self.within(open + 1, close + 1, |p| {
            let pl = p.pipeline(true, command_first);
            // Anything left before the `]` was reported by the pipeline.
            pl
        });
        self.depth -= 1;
        self.i = close + 1;
        sub.span = Span::new(t.start, self.toks[close].end);
        Some(sub)
    }

    /// The search world over the rest of the range; `None` when empty or `*`.
    pub fn search_expr(&mut self) -> Option<Search> {
        crate::search::read(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(p: &Pipeline) -> Vec<&str> {
        p.commands.iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn pipeline_commands_and_subsearches() {
        let src = "index=x [ search a=1 | fields b ] | join type=left c [| inputlookup t.csv | rename d as c] | where e>1 ```c``` | foo bar=1 (x y) | stats count by c";
        let p = parse(src);
        assert!(p.errors.is_empty(), "{:?}", p.errors);
        assert_eq!(
            names(&p.pipeline),
            ["search", "join", "where", "foo", "stats"]
        );
        let Body::Search(Some(Search::And(parts))) = &p.pipeline.commands[0].body else {
            panic!("{:?}", p.pipeline.commands[0].body)
        };
        let Search::Sub(sub) = &parts[1] else {
            panic!()
        };
        assert_eq!(names(sub), ["search", "fields"]);
        let Body::Join {
            opts,
            fields,
            sub: Some(sub),
        } = &p.pipeline.commands[1].body
        else {
            panic!("{:?}", p.pipeline.commands[1].body)
        };
        assert_eq!(
            (
                opts[0].key.as_str(),
                opts[0].value.text.as_str(),
                fields[0].text.as_str()
            ),
            ("type", "left", "c")
        );
        assert_eq!(names(sub), ["inputlookup", "rename"]);
        assert!(matches!(&p.pipeline.commands[3].body, Body::Generic(a) if a.len() == 2));
        assert_eq!(
            &src[p.pipeline.commands[2].span.start..p.pipeline.commands[2].span.end],
            "where e>1"
        );
    }

    #[test]
    fn errors_are_located_and_the_rest_still_parses() {
        let src = "| tstats count where a=1 (b=2 | rename x | stats count by y | where (a=\"1";
        let p = parse(src);
        assert_eq!(
            names(&p.pipeline),
            ["tstats", "rename", "stats", "where"],
            "{:?}",
            p.errors
        );
        let msgs: Vec<(&str, &str)> = p
            .errors
            .iter()
            .map(|e| (&src[e.span.start..e.span.end], e.message.as_str()))
            .collect();
        assert!(
            msgs.iter().any(|(at, m)| *at == "(" && m.contains("`)`")),
            "{msgs:?}"
        );
        assert!(msgs.iter().any(|(_, m)| m.contains("`as`")), "{msgs:?}");
        assert!(
            msgs.iter()
                .any(|(at, m)| at.starts_with('"') && m.contains("unterminated")),
            "{msgs:?}"
        );
        let p = parse("a=1 | | stats count ]");
        assert!(
            p.errors.iter().any(|e| e.message.contains("empty command")),
            "{:?}",
            p.errors
        );
        assert!(
            p.errors.iter().any(|e| e.message.contains("`]`")),
            "{:?}",
            p.errors
        );
    }
}
