//! The Sigma condition language: a hand-written lexer and a precedence-climbing parser.
//!
//! ```text
//! condition   := expr [ '|' aggregation ]
//! expr        := expr 'or' expr | expr 'and' expr | 'not' expr | '(' expr ')' | quantified | NAME
//! quantified  := ('1' | 'any' | 'all' | N) 'of' (PATTERN | 'them')
//! aggregation := FUNC '(' [FIELD] ')' ['by' FIELD {',' FIELD}] CMP NUMBER  |  'near' ...
//! ```
//! Precedence: `not` binds tighter than `and`, which binds tighter than `or`. Keywords are
//! case-insensitive. Positions are byte offsets into the condition string.

use ir::{CmpOp, Quant};

/// Deepest nesting of parentheses and `not`s accepted. Kept well below serde_json's recursion
/// limit (128) so that a stored rule can always be read back.
pub const MAX_COND_DEPTH: usize = 48;

#[derive(Debug, Clone, PartialEq)]
pub enum Tok {
    LParen,
    RParen,
    Pipe,
    Comma,
    Cmp(&'static str),
    Word(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.tok {
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::Pipe => "`|`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Cmp(c) => format!("`{c}`"),
            Tok::Word(w) => format!("`{w}`"),
        }
    }

    fn word(&self) -> Option<&str> {
        match &self.tok {
            Tok::Word(w) => Some(w),
            _ => None,
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        self.word().is_some_and(|w| w.eq_ignore_ascii_case(kw))
    }
}

/// A condition error: message and byte range in the condition string.
#[derive(Debug, Clone, PartialEq)]
pub struct CondError {
    pub message: String,
    pub start: usize,
    pub end: usize,
}

pub fn lex(s: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let single = |tok| Token { tok, start: i, end: i + 1 };
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(single(Tok::LParen)),
            ')' => out.push(single(Tok::RParen)),
            '|' => out.push(single(Tok::Pipe)),
            ',' => out.push(single(Tok::Comma)),
            '<' | '>' | '=' | '!' => {
                let two = it.peek().is_some_and(|(_, n)| *n == '=');
                let op = match (c, two) {
                    ('<', true) => "<=",
                    ('>', true) => ">=",
                    ('=', true) => "==",
                    ('!', true) => "!=",
                    ('<', false) => "<",
                    ('>', false) => ">",
                    ('=', false) => "=",
                    _ => "!",
                };
                if two {
                    it.next();
                }
                out.push(Token { tok: Tok::Cmp(op), start: i, end: i + op.len() });
            }
            _ => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, n)) = it.peek() {
                    if n.is_whitespace() || "()|,<>=!".contains(n) {
                        break;
                    }
                    end = j + n.len_utf8();
                    it.next();
                }
                out.push(Token { tok: Tok::Word(s[i..end].to_string()), start: i, end });
            }
        }
    }
    out
}

/// The boolean part of a condition.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    Ref {
        name: String,
        start: usize,
        end: usize,
    },
    /// `quant of pattern`; `them` when `pattern` is `None`.
    Quant {
        quant: Quant,
        pattern: Option<String>,
        start: usize,
        end: usize,
    },
}

/// A legacy aggregation after `|`.
#[derive(Debug, Clone, PartialEq)]
pub enum Pipe {
    Agg(Aggregation),
    Near { text: String, start: usize, end: usize },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregation {
    pub func: String,
    pub field: Option<String>,
    pub by: Vec<String>,
    pub cmp: CmpOp,
    pub threshold: ir::Value,
    pub start: usize,
    pub end: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub expr: Cond,
    pub pipe: Option<Pipe>,
}

struct P<'s> {
    src: &'s str,
    toks: Vec<Token>,
    i: usize,
}

pub fn parse(src: &str) -> Result<Parsed, CondError> {
    let mut p = P { src, toks: lex(src), i: 0 };
    if p.toks.is_empty() {
        return Err(CondError {
            message: "the condition is empty; expected e.g. `selection and not filter`".into(),
            start: 0,
            end: src.len(),
        });
    }
    let expr = p.expr(0, 0)?;
    let pipe = match p.peek() {
        None => None,
        Some(t) if t.tok == Tok::Pipe => {
            let pipe_at = t.start;
            p.i += 1;
            Some(p.pipe(pipe_at)?)
        }
        Some(t) => {
            return Err(p.err_at(
                t,
                format!("unexpected {}; expected `and`, `or`, `|` or the end of the condition", t.describe()),
            ));
        }
    };
    Ok(Parsed { expr, pipe })
}

fn is_number(w: &str) -> bool {
    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit())
}

impl<'s> P<'s> {
    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.i)
    }

    fn err_at(&self, t: &Token, message: String) -> CondError {
        CondError { message, start: t.start, end: t.end }
    }

    fn err_end(&self, message: String) -> CondError {
        let n = self.src.len();
        CondError { message, start: n, end: n }
    }

    /// Binary operators by precedence climbing: `or` = 1, `and` = 2.
    fn expr(&mut self, min_prec: u8, depth: usize) -> Result<Cond, CondError> {
        let mut lhs = self.unary(depth)?;
        loop {
            let prec = match self.peek() {
                Some(t) if t.is_kw("or") => 1,
                Some(t) if t.is_kw("and") => 2,
                _ => break,
            };
            if prec < min_prec {
                break;
            }
            self.i += 1;
            let rhs = self.expr(prec + 1, depth)?;
            lhs = join(prec == 2, lhs, rhs);
        }
        Ok(lhs)
    }

    fn unary(&mut self, depth: usize) -> Result<Cond, CondError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self
                .err_end("the condition ends too early; expected a selection name, `not`, `(` or `1 of ...`".into()));
        };
        if depth >= MAX_COND_DEPTH && (t.tok == Tok::LParen || t.is_kw("not")) {
            return Err(self
                .err_at(&t, format!("condition nested deeper than {MAX_COND_DEPTH} levels of parentheses or `not`")));
        }
        match &t.tok {
            Tok::LParen => {
                self.i += 1;
                let inner = self.expr(0, depth + 1)?;
                match self.peek() {
                    Some(c) if c.tok == Tok::RParen => {
                        self.i += 1;
                        Ok(inner)
                    }
                    Some(c) => {
                        let c = c.clone();
                        Err(self.err_at(
                            &c,
                            format!(
                                "unexpected {}; expected `)` to close the `(` at offset {}",
                                c.describe(),
                                t.start + 1
                            ),
                        ))
                    }
                    None => Err(CondError {
                        message: "unclosed `(`: expected `)` before the end of the condition".into(),
                        start: t.start,
                        end: t.end,
                    }),
                }
            }
            Tok::Word(w) => {
                let lw = w.to_ascii_lowercase();
                if lw == "not" {
                    self.i += 1;
                    let inner = self.unary(depth + 1)?;
                    return Ok(Cond::Not(Box::new(inner)));
                }
                let next_is_of = self.toks.get(self.i + 1).is_some_and(|n| n.is_kw("of"));
                if next_is_of && (is_number(&lw) || lw == "all" || lw == "any") {
                    let quant = match lw.as_str() {
                        "all" => Quant::All,
                        "any" => Quant::Any,
                        n => match n.parse::<u32>() {
                            Ok(1) => Quant::Any,
                            Ok(n) => Quant::AtLeast(n),
                            Err(_) => return Err(self.err_at(&t, format!("`{w}` is too large a count for `of`"))),
                        },
                    };
                    self.i += 2;
                    let Some(target) = self.peek().cloned() else {
                        return Err(self.err_end(format!("expected a name pattern or `them` after `{w} of`")));
                    };
                    let Some(name) = target.word() else {
                        return Err(self.err_at(
                            &target,
                            format!(
                                "unexpected {}; expected a name pattern or `them` after `{w} of`",
                                target.describe()
                            ),
                        ));
                    };
                    if is_keyword(name) {
                        return Err(self.err_at(
                            &target,
                            format!("unexpected `{name}`; expected a name pattern or `them` after `{w} of`"),
                        ));
                    }
                    self.i += 1;
                    let pattern = if name.eq_ignore_ascii_case("them") { None } else { Some(name.to_string()) };
                    return Ok(Cond::Quant { quant, pattern, start: t.start, end: target.end });
                }
                if is_keyword(&lw) || lw == "of" {
                    return Err(self
                        .err_at(&t, format!("unexpected `{w}`; expected a selection name, `not`, `(` or `1 of ...`")));
                }
                self.i += 1;
                Ok(Cond::Ref { name: w.clone(), start: t.start, end: t.end })
            }
            _ => Err(self.err_at(
                &t,
                format!("unexpected {}; expected a selection name, `not`, `(` or `1 of ...`", t.describe()),
            )),
        }
    }

    fn pipe(&mut self, pipe_at: usize) -> Result<Pipe, CondError> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.err_end("expected an aggregation such as `count() by Field > 10` after `|`".into()));
        };
        let Some(func) = t.word().map(|w| w.to_ascii_lowercase()) else {
            return Err(self.err_at(
                &t,
                format!(
                    "unexpected {}; expected an aggregation such as `count() by Field > 10` after `|`",
                    t.describe()
                ),
            ));
        };
        if func == "near" {
            let text = self.src[t.start..].trim().to_string();
            self.i = self.toks.len();
            return Ok(Pipe::Near { text, start: t.start, end: self.src.len() });
        }
        if !matches!(func.as_str(), "count" | "min" | "max" | "avg" | "sum") {
            return Err(self.err_at(
                &t,
                format!(
                    "unknown aggregation `{}`; expected count(), min(), max(), avg(), sum() or near",
                    t.word().unwrap_or("")
                ),
            ));
        }
        self.i += 1;
        self.expect(Tok::LParen, &format!("expected `(` after `{func}`"))?;
        let mut field = None;
        if let Some(w) = self.peek().and_then(|t| t.word()).map(str::to_string) {
            field = Some(w);
            self.i += 1;
        }
        self.expect(Tok::RParen, &format!("expected `)` to close `{func}(`"))?;
        if func != "count" && field.is_none() {
            return Err(self.err_at(&t, format!("`{func}()` needs a field, e.g. `{func}(Bytes)`")));
        }
        let mut by = Vec::new();
        if self.peek().is_some_and(|t| t.is_kw("by")) {
            self.i += 1;
            loop {
                match self.peek().cloned() {
                    Some(f) if f.word().is_some() => {
                        by.push(f.word().unwrap_or_default().to_string());
                        self.i += 1;
                    }
                    Some(f) => {
                        return Err(
                            self.err_at(&f, format!("unexpected {}; expected a field name after `by`", f.describe()))
                        )
                    }
                    None => return Err(self.err_end("expected a field name after `by`".into())),
                }
                if self.peek().is_some_and(|t| t.tok == Tok::Comma) {
                    self.i += 1;
                } else {
                    break;
                }
            }
        }
        let cmp = match self.peek().cloned() {
            Some(Token { tok: Tok::Cmp(c), .. }) => {
                self.i += 1;
                match c {
                    ">" => CmpOp::Gt,
                    ">=" => CmpOp::Ge,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    "=" | "==" => CmpOp::Eq,
                    "!=" => CmpOp::Ne,
                    _ => {
                        return Err(CondError {
                            message: format!("unknown comparison `{c}`"),
                            start: pipe_at,
                            end: self.src.len(),
                        })
                    }
                }
            }
            Some(o) => {
                return Err(
                    self.err_at(&o, format!("unexpected {}; expected a comparison such as `> 10`", o.describe()))
                )
            }
            None => {
                return Err(self.err_end("the aggregation has no comparison; expected e.g. `> 10` at the end".into()))
            }
        };
        let threshold = match self.peek().cloned() {
            Some(n) => {
                let w = n.word().unwrap_or("");
                let v = if let Ok(i) = w.parse::<i64>() {
                    ir::Value::Int(i)
                } else if let Ok(f) = w.parse::<f64>() {
                    ir::Value::Float(f)
                } else {
                    return Err(
                        self.err_at(&n, format!("unexpected {}; expected a number to compare with", n.describe()))
                    );
                };
                self.i += 1;
                v
            }
            None => return Err(self.err_end("expected a number after the comparison".into())),
        };
        if let Some(extra) = self.peek().cloned() {
            return Err(self.err_at(&extra, format!("unexpected {} after the aggregation", extra.describe())));
        }
        let end = self.toks.last().map(|t| t.end).unwrap_or(self.src.len());
        Ok(Pipe::Agg(Aggregation { func, field, by, cmp, threshold, start: t.start, end }))
    }

    fn expect(&mut self, tok: Tok, msg: &str) -> Result<(), CondError> {
        match self.peek().cloned() {
            Some(t) if t.tok == tok => {
                self.i += 1;
                Ok(())
            }
            Some(t) => Err(self.err_at(&t, format!("unexpected {}; {msg}", t.describe()))),
            None => Err(self.err_end(msg.to_string())),
        }
    }
}

fn is_keyword(w: &str) -> bool {
    ["and", "or", "not", "of"].iter().any(|k| w.eq_ignore_ascii_case(k))
}

/// `a and b` with flattening of chains of the same operator.
fn join(and: bool, lhs: Cond, rhs: Cond) -> Cond {
    let mut of = Vec::new();
    for side in [lhs, rhs] {
        match (and, side) {
            (true, Cond::And(v)) | (false, Cond::Or(v)) => of.extend(v),
            (_, s) => of.push(s),
        }
    }
    if and {
        Cond::And(of)
    } else {
        Cond::Or(of)
    }
}

/// Glob match of a name against a pattern with `*` wildcards (case-sensitive, like the names).
pub fn name_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative wildcard matching with backtracking on the last star.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ni));
            pi += 1;
        } else if pi < p.len() && (p[pi] == n[ni] || p[pi] == '?') {
            pi += 1;
            ni += 1;
        } else if let Some((sp, sn)) = star {
            pi = sp + 1;
            ni = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strips positions so shapes can be compared.
    fn shape(c: &Cond) -> String {
        match c {
            Cond::And(v) => format!("and({})", v.iter().map(shape).collect::<Vec<_>>().join(",")),
            Cond::Or(v) => format!("or({})", v.iter().map(shape).collect::<Vec<_>>().join(",")),
            Cond::Not(x) => format!("not({})", shape(x)),
            Cond::Ref { name, .. } => name.clone(),
            Cond::Quant { quant, pattern, .. } => format!("{quant:?} of {}", pattern.as_deref().unwrap_or("them")),
        }
    }

    fn s(src: &str) -> String {
        shape(&parse(src).expect("parses").expr)
    }

    #[test]
    fn precedence_not_and_or() {
        assert_eq!(s("a or b and c"), "or(a,and(b,c))");
        assert_eq!(s("a and b or c"), "or(and(a,b),c)");
        assert_eq!(s("not a and b"), "and(not(a),b)");
        assert_eq!(s("not (a and b)"), "not(and(a,b))");
        assert_eq!(s("a and not b or not c and d"), "or(and(a,not(b)),and(not(c),d))");
        assert_eq!(s("(a or b) and c"), "and(or(a,b),c)");
        assert_eq!(s("a or b or c"), "or(a,b,c)");
        assert_eq!(s("a and (b and c)"), "and(a,b,c)");
        assert_eq!(s("a AND b Or NOT c"), "or(and(a,b),not(c))");
        assert_eq!(s("not not a"), "not(not(a))");
        assert_eq!(s("sel"), "sel");
    }

    #[test]
    fn quantifiers() {
        assert_eq!(s("1 of sel*"), "Any of sel*");
        assert_eq!(s("all of them"), "All of them");
        assert_eq!(s("3 of sel_*"), "AtLeast(3) of sel_*");
        assert_eq!(s("any of x"), "Any of x");
        assert_eq!(s("1 of them and not 1 of filter*"), "and(Any of them,not(Any of filter*))");
        assert_eq!(s("ALL OF THEM"), "All of them");
    }

    #[test]
    fn positions_of_names() {
        let p = parse("sel and  missing").expect("parses");
        match p.expr {
            Cond::And(v) => match &v[1] {
                Cond::Ref { start, end, .. } => assert_eq!((*start, *end), (9, 16)),
                o => panic!("{o:?}"),
            },
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn syntax_errors() {
        let e = parse("sel and").unwrap_err();
        assert!(e.message.contains("ends too early"), "{e:?}");
        let e = parse("(sel or x").unwrap_err();
        assert!(e.message.contains("unclosed"), "{e:?}");
        assert_eq!(e.start, 0);
        let e = parse("sel x").unwrap_err();
        assert_eq!((e.start, e.end), (4, 5));
        let e = parse("a > b | group(x)").unwrap_err();
        assert_eq!(e.start, 2, "{e:?}");
        let e = parse("and a").unwrap_err();
        assert_eq!(e.start, 0);
        let e = parse("1 of").unwrap_err();
        assert!(e.message.contains("them"));
        assert!(parse("").is_err());
        assert!(parse("   ").is_err());
        assert!(parse("a )").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("{}a{}", "(".repeat(10_000), ")".repeat(10_000));
        let e = parse(&deep).unwrap_err();
        assert!(e.message.contains("nested deeper"), "{e:?}");
        let nots = format!("{}a", "not ".repeat(10_000));
        assert!(parse(&nots).unwrap_err().message.contains("nested deeper"));
        let ok = format!("{}a{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(s(&ok), "a");
        // A long flat chain is fine (no nesting).
        let long = vec!["a"; 5000].join(" or ");
        assert!(parse(&long).is_ok());
    }

    #[test]
    fn aggregations() {
        let p = parse("selection | count() by Computer > 20").expect("parses");
        match p.pipe {
            Some(Pipe::Agg(a)) => {
                assert_eq!(a.func, "count");
                assert_eq!(a.field, None);
                assert_eq!(a.by, vec!["Computer"]);
                assert_eq!(a.cmp, CmpOp::Gt);
                assert_eq!(a.threshold, ir::Value::Int(20));
            }
            o => panic!("{o:?}"),
        }
        let p = parse("sel and not filter | count(ObjectName) by Computer >= 10").expect("parses");
        match p.pipe {
            Some(Pipe::Agg(a)) => {
                assert_eq!(a.field.as_deref(), Some("ObjectName"));
                assert_eq!(a.cmp, CmpOp::Ge);
            }
            o => panic!("{o:?}"),
        }
        match parse("sel | count() > 5").expect("parses").pipe {
            Some(Pipe::Agg(a)) => assert!(a.by.is_empty() && a.threshold == ir::Value::Int(5)),
            o => panic!("{o:?}"),
        }
        match parse("sel | avg(Bytes) by Host, User < 2.5").expect("parses").pipe {
            Some(Pipe::Agg(a)) => {
                assert_eq!(a.func, "avg");
                assert_eq!(a.by, vec!["Host", "User"]);
                assert_eq!(a.cmp, CmpOp::Lt);
                assert_eq!(a.threshold, ir::Value::Float(2.5));
            }
            o => panic!("{o:?}"),
        }
        for f in ["min", "max", "sum"] {
            assert!(parse(&format!("sel | {f}(X) by Y <= 3")).is_ok(), "{f}");
        }
        assert!(matches!(parse("a | near b and c").expect("parses").pipe, Some(Pipe::Near { .. })));
        assert!(parse("sel | count() by X").unwrap_err().message.contains("comparison"));
        assert!(parse("sel | group(X)").unwrap_err().message.contains("unknown aggregation"));
        assert!(parse("sel | sum() > 3").unwrap_err().message.contains("needs a field"));
        assert!(parse("sel | count() > x").unwrap_err().message.contains("number"));
    }

    #[test]
    fn name_patterns() {
        assert!(name_matches("sel*", "selection"));
        assert!(name_matches("*tion", "selection"));
        assert!(name_matches("s*l*n", "selection"));
        assert!(name_matches("selection", "selection"));
        assert!(!name_matches("filter*", "selection"));
        assert!(!name_matches("sel", "selection"));
        assert!(name_matches("*", "x"));
    }
}
