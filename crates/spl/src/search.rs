//! The search command's expression world: terms joined by implicit AND, `OR` binding tighter
//! than AND, `NOT`, `field=value` (wildcards in values), `field IN (...)`, comparisons, bare
//! terms and phrases, `TERM()`/`CASE()`, subsearches. `AND`, `OR`, `NOT` are operators only in
//! capitals, as in Splunk; `IN` in any case.

use crate::ast::{Lit, Search, Span};
use crate::lexer::Kind;
use crate::parser::{Parser, MAX_DEPTH};

/// The search over the rest of the parser's range; `None` when it is empty or `*`.
pub(crate) fn read(p: &mut Parser) -> Option<Search> {
    let e = conj(p, false);
    match e {
        Search::And(v) if v.is_empty() => None,
        Search::Term(l) if l.text == "*" && !l.quoted => None,
        e => Some(e),
    }
}

fn conj(p: &mut Parser, in_group: bool) -> Search {
    let mut parts = Vec::new();
    while let Some(t) = p.peek() {
        match t.kind {
            Kind::RParen if in_group => break,
            Kind::RParen | Kind::RBrack => {
                p.error(
                    Span::new(t.start, t.end),
                    format!("unexpected `{}`: nothing to close", p.text(t)),
                );
                p.i += 1;
            }
            Kind::Comma => {
                p.note(
                    Span::new(t.start, t.end),
                    "a stray `,` between search terms: ignored, as Splunk does",
                );
                p.i += 1;
            }
            _ if p.at_keyword("AND") => p.i += 1,
            _ => match disj(p) {
                Some(e) => parts.push(e),
                None => break,
            },
        }
    }
    if parts.len() == 1 {
        parts.remove(0)
    } else {
        Search::And(parts)
    }
}

fn disj(p: &mut Parser) -> Option<Search> {
    let first = unary(p)?;
    let mut parts = vec![first];
    while p.at_keyword("OR") {
        let or = p.span_here();
        p.i += 1;
        match unary(p) {
            Some(e) => parts.push(e),
            None => {
                p.error(or, "expected a search term after `OR`");
                break;
            }
        }
    }
    Some(if parts.len() == 1 {
        parts.remove(0)
    } else {
        Search::Or(parts)
    })
}

fn unary(p: &mut Parser) -> Option<Search> {
    if p.depth >= MAX_DEPTH {
        let s = p.span_here();
        p.error(s, "nested too deeply (more than 64 levels): not read");
        p.i = p.hi;
        return None;
    }
    p.depth += 1;
    let out = if p.at_keyword("NOT") {
        let not = p.span_here();
        p.i += 1;
        match unary(p) {
            Some(e) => {
                let span = not.to(e.span());
                Some(Search::Not(Box::new(e), span))
            }
            None => {
                p.error(not, "expected a search term after `NOT`");
                None
            }
        }
    } else {
        primary(p)
    };
    p.depth -= 1;
    out
}

fn primary(p: &mut Parser) -> Option<Search> {
    let t = p.peek()?;
    match t.kind {
        Kind::LParen => {
            p.i += 1;
            let e = conj(p, true);
            if p.at(Kind::RParen) {
                let close = p.span_here();
                p.i += 1;
                return Some(Search::Group(Box::new(e), Span::new(t.start, close.end)));
            } else if !p
                .errors
                .last()
                .is_some_and(|e| e.message.contains("nested too deeply"))
            {
                p.error(Span::new(t.start, t.end), "expected `)` to close this `(`");
            }
            Some(e)
        }
        Kind::LBrack => p.subsearch(false).map(|s| Search::Sub(Box::new(s))),
        Kind::Cmp => {
            p.error(
                Span::new(t.start, t.end),
                format!("expected a field before `{}`", p.text(t)),
            );
            p.i += 1;
            // Read the value as a term so nothing is lost.
            p.lit().map(Search::Term)
        }
        Kind::Pipe | Kind::RParen | Kind::RBrack | Kind::Comma => None,
        _ => {
            let call = t.kind == Kind::Word
                && p.glued_next()
                && p.peek_at(1).is_some_and(|n| n.kind == Kind::LParen);
            if call {
                return Some(call_term(p));
            }
            let field = p.lit()?;
            if p.at_word("IN") && p.peek_at(1).is_some_and(|n| n.kind == Kind::LParen) {
                return Some(in_list(p, field));
            }
            if let Some(op_tok) = p.peek().filter(|n| n.kind == Kind::Cmp) {
                p.i += 1;
                let op = match p.text(op_tok) {
                    "==" => "=".to_string(),
                    o => o.to_string(),
                };
                // `_time>=relative_time(now(), "-1d")`
                if p.peek().is_some_and(|n| n.kind == Kind::Word)
                    && p.glued_next()
                    && p.peek_at(1).is_some_and(|n| n.kind == Kind::LParen)
                {
                    let start = p.span_here().start;
                    let _ = p.call();
                    let end = p.toks[p.i - 1].end;
                    let span = Span::new(field.span.start, end);
                    return Some(Search::CmpCall {
                        field,
                        op,
                        call: p.src[start..end].to_string(),
                        span,
                    });
                }
                return match p.lit() {
                    Some(value) => {
                        let span = field.span.to(value.span);
                        Some(Search::Cmp {
                            field,
                            op,
                            value,
                            span,
                        })
                    }
                    None => {
                        // `x=` at the end, or before `)`: Splunk reads an empty value.
                        let s = Span::new(field.span.start, op_tok.end);
                        p.note(
                            s,
                            format!(
                                "`{}{op}` has no value: read as the empty string",
                                field.text
                            ),
                        );
                        let value = Lit {
                            text: String::new(),
                            quoted: true,
                            span: Span::new(op_tok.end, op_tok.end),
                        };
                        Some(Search::Cmp {
                            field,
                            op,
                            value,
                            span: s,
                        })
                    }
                };
            }
            Some(Search::Term(field))
        }
    }
}

/// `TERM(x)`, `CASE(x)`, or any other call, read as a term.
fn call_term(p: &mut Parser) -> Search {
    let name_tok = p.peek().expect("caller saw a word");
    let name = p.text(name_tok).to_string();
    let open = p.i + 1;
    let Some(close) = p.closing(open) else {
        p.error(
            Span::new(p.toks[open].start, p.toks[open].end),
            "expected `)` to close this `(`",
        );
        p.i = p.hi;
        return Search::Call {
            name,
            args: Vec::new(),
            span: Span::new(name_tok.start, name_tok.end),
        };
    };
    let args = p.within(open + 1, close, |p| {
        let mut args = Vec::new();
        while let Some(t) = p.peek() {
            match p.lit() {
                Some(l) => args.push(l),
                None => {
                    // Nested calls and operators inside stay in the span's text.
                    let _ = t;
                    p.i += 1;
                }
            }
        }
        args
    });
    p.i = close + 1;
    Search::Call {
        name,
        args,
        span: Span::new(name_tok.start, p.toks[close].end),
    }
}

/// `field IN (a, b, ...)`: trailing commas and empty elements are accepted, as Splunk does, with
/// a note.
fn in_list(p: &mut Parser, field: Lit) -> Search {
    p.i += 1; // IN
    let open = p.i;
    let Some(close) = p.closing(open) else {
        p.error(
            Span::new(p.toks[open].start, p.toks[open].end),
            "expected `)` to close the `IN` list",
        );
        p.i = p.hi;
        return Search::In {
            span: field.span,
            field,
            values: Vec::new(),
        };
    };
    let mut values = Vec::new();
    let mut expect_value = true;
    for j in open + 1..close {
        let t = p.toks[j];
        match t.kind {
            Kind::Comma => {
                if expect_value {
                    p.note(
                        Span::new(t.start, t.end),
                        "an empty element in an `IN` list: ignored, as Splunk does",
                    );
                }
                expect_value = true;
            }
            Kind::Word | Kind::Str { .. } | Kind::Macro { .. } => {
                p.i = j;
                let l = p.lit().expect("a word or string");
                if !expect_value {
                    p.note(
                        l.span,
                        "`IN` list elements without a comma between them: read as two elements",
                    );
                }
                values.push(l);
                expect_value = false;
            }
            _ => p.error(
                Span::new(t.start, t.end),
                format!("expected a value in the `IN` list, found `{}`", p.text(t)),
            ),
        }
    }
    if expect_value && !values.is_empty() {
        let c = p.toks[close - 1];
        p.note(
            Span::new(c.start, c.end),
            "a trailing `,` in an `IN` list: ignored, as Splunk does",
        );
    }
    if values.is_empty() {
        p.error(
            Span::new(p.toks[open].start, p.toks[close].end),
            "an empty `IN` list",
        );
    }
    p.i = close + 1;
    let span = Span::new(field.span.start, p.toks[close].end);
    Search::In {
        field,
        values,
        span,
    }
}

#[cfg(test)]
mod tests {
    use crate::ast::{Body, Search};
    use crate::parser::parse;

    fn search(src: &str) -> (Option<Search>, Vec<String>, Vec<String>) {
        let p = parse(src);
        let Body::Search(s) = p.pipeline.commands[0].body.clone() else {
            panic!()
        };
        (
            s,
            p.errors.iter().map(|e| e.message.clone()).collect(),
            p.notes.iter().map(|e| e.message.clone()).collect(),
        )
    }

    #[test]
    fn precedence_and_forms() {
        let (s, errs, _) = search("a=1 b=x OR c=\"*y*\" NOT d=z* e IN (\"*.exe\", f) not g");
        assert!(errs.is_empty(), "{errs:?}");
        let Some(Search::And(of)) = s else { panic!() };
        // a, (b OR c), NOT d, e IN, not, g: lower-case `not` is a term.
        assert_eq!(of.len(), 6);
        assert!(matches!(&of[1], Search::Or(v) if v.len() == 2));
        assert!(matches!(&of[2], Search::Not(..)));
        assert!(matches!(&of[4], Search::Term(l) if l.text == "not"));
        let (s, errs, _) =
            search("t>=relative_time(now(), \"-1h\") TERM(10.0.0.1) NOT(x IN(\"a\"))");
        assert!(errs.is_empty(), "{errs:?}");
        let Some(Search::And(of)) = s else { panic!() };
        assert!(matches!(&of[0], Search::CmpCall { op, .. } if op == ">="));
        assert!(
            matches!(&of[1], Search::Call { name, args, .. } if name == "TERM" && args[0].text == "10.0.0.1")
        );
        assert!(matches!(&of[2], Search::Not(..)));
        assert_eq!(search("*").0, None);
    }

    #[test]
    fn lenient_in_lists_get_notes() {
        let (s, errs, notes) = search("x IN (a, , b,)");
        assert!(errs.is_empty());
        assert!(matches!(s, Some(Search::In { ref values, .. }) if values.len() == 2));
        assert_eq!(notes.len(), 2, "{notes:?}");
        let (_, errs, _) = search("x IN ()");
        assert_eq!(errs.len(), 1);
        let (_, errs, _) = search("(a=1 OR");
        assert_eq!(errs.len(), 2, "{errs:?}");
    }
}
