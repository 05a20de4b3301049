//! SPL's two expression worlds, parsed into `ir::Expr`:
//!
//! - **search** (the `search` command, tstats `where`): terms joined by implicit AND, `OR` binding
//!   tighter than AND, `NOT`, `field=value` with wildcards, `field IN (...)`, comparisons, bare terms.
//!   Values compare case-insensitively.
//! - **where/eval**: the usual precedence (`OR` < `AND` < `NOT` < comparison), quoted strings are
//!   literals and bare words are fields, `=`/`==` compare case-sensitively, `like()` and `match()`.
//!
//! What cannot be modelled becomes `Expr::Unmodeled` with the reason.

use ir::{Expr, Op, Predicate, Value};

/// Nesting beyond this is reported, not followed (real searches nest a handful of levels; the
/// cap keeps the recursive parser far from the stack's end, even in debug builds).
const MAX_DEPTH: usize = 64;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Open,
    /// `(` right after a word: a function call (`relative_time(`, `like(`).
    Call,
    Close,
    Comma,
    Cmp(String),
    Word(String),
    Str(String),
    /// A subsearch `[ ... ]`, kept as text.
    Sub(String),
}

fn lex(s: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                let glued = i > 0
                    && !chars[i - 1].is_whitespace()
                    && matches!(out.last(), Some(Tok::Word(w)) if !matches!(w.as_str(), "NOT" | "AND" | "OR" | "not" | "and" | "or"));
                out.push(if glued { Tok::Call } else { Tok::Open });
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '[' => {
                let (start, mut depth, mut quote) = (i, 0i32, false);
                while i < chars.len() {
                    match chars[i] {
                        '"' => quote = !quote,
                        '[' if !quote => depth += 1,
                        ']' if !quote => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                out.push(Tok::Sub(chars[start..i].iter().collect()));
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') if matches!(chars.get(i + 1), Some('"' | '\\')) => {
                            v.push(chars[i + 1]);
                            i += 2;
                        }
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some(&c) => {
                            v.push(c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '=' | '!' | '<' | '>' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let op = if matches!(two.as_str(), "==" | "!=" | "<=" | ">=") { two } else { c.to_string() };
                if op == "!" {
                    return Err("`!` without `=`".into());
                }
                i += op.len();
                out.push(Tok::Cmp(op));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !matches!(chars[i], '(' | ')' | ',' | '=' | '<' | '>' | '"') {
                    if chars[i] == '!' && chars.get(i + 1) == Some(&'=') {
                        break;
                    }
                    i += 1;
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

/// A value written in the search world: its wildcards give the operator.
fn search_pred(field: Option<&str>, value: &str, negated: bool, raw: &str) -> Predicate {
    let stars = value.matches('*').count();
    let inner = value.trim_matches('*');
    let (op, v) = if value == "*" {
        (Op::Exists, Value::Bool(true))
    } else if stars == 0 {
        (Op::Eq, literal(value))
    } else if stars == 2 && value.starts_with('*') && value.ends_with('*') && !inner.contains('*') {
        (Op::Contains, Value::Str(inner.into()))
    } else if stars == 1 && value.ends_with('*') {
        (Op::StartsWith, Value::Str(inner.into()))
    } else if stars == 1 && value.starts_with('*') {
        (Op::EndsWith, Value::Str(inner.into()))
    } else {
        (Op::Wildcard, Value::Str(value.into()))
    };
    let op = if field.is_none() && op == Op::Eq { Op::Contains } else { op };
    pred(field, op, vec![v], false, negated, raw)
}

fn literal(v: &str) -> Value {
    match v.parse::<i64>() {
        Ok(i) if !v.starts_with('0') || v == "0" => Value::Int(i),
        _ => Value::Str(v.into()),
    }
}

fn pred(field: Option<&str>, op: Op, values: Vec<Value>, cased: bool, negated: bool, raw: &str) -> Predicate {
    Predicate {
        field: field.map(str::to_string),
        op,
        values,
        all: false,
        case_sensitive: cased,
        negated,
        transforms: Vec::new(),
        flags: String::new(),
        raw: raw.trim().to_string(),
        canonical: None,
        span: None,
    }
}

fn cmp_op(op: &str) -> Option<(Op, bool)> {
    Some(match op {
        "=" | "==" => (Op::Eq, false),
        "!=" => (Op::Eq, true),
        "<" => (Op::Lt, false),
        "<=" => (Op::Le, false),
        ">" => (Op::Gt, false),
        ">=" => (Op::Ge, false),
        _ => return None,
    })
}

fn and(mut v: Vec<Expr>) -> Expr {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Expr::And { of: v }
    }
}

fn or(mut v: Vec<Expr>) -> Expr {
    if v.len() == 1 {
        v.remove(0)
    } else {
        Expr::Or { of: v }
    }
}

struct P {
    toks: Vec<Tok>,
    i: usize,
    depth: usize,
}

impl P {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn word_is(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.i).cloned();
        self.i += 1;
        t
    }

    // ---- search world ----

    fn s_conj(&mut self) -> Result<Expr, String> {
        let mut parts = Vec::new();
        while let Some(t) = self.peek() {
            if *t == Tok::Close {
                break;
            }
            if self.word_is("AND") {
                self.i += 1;
                continue;
            }
            parts.push(self.s_disj()?);
        }
        if parts.is_empty() {
            return Ok(Expr::Const { value: true });
        }
        Ok(and(parts))
    }

    fn s_disj(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.s_unary()?];
        while self.word_is("OR") {
            self.i += 1;
            parts.push(self.s_unary()?);
        }
        Ok(or(parts))
    }

    fn s_unary(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let out = if self.word_is("NOT") {
            self.i += 1;
            Expr::Not { expr: Box::new(self.s_unary()?) }
        } else {
            self.s_primary()?
        };
        self.depth -= 1;
        Ok(out)
    }

    fn s_primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Sub(text)) => Ok(Expr::Unmodeled { text, why: "a subsearch's result".into() }),
            Some(Tok::Open) => {
                let e = self.s_conj()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("expected `)`".into()),
                }
            }
            Some(Tok::Word(w)) if self.peek() == Some(&Tok::Call) => {
                // `TERM(x)` / `CASE(x)`: a search term; other functions are not modelled.
                self.i += 1;
                let mut args = Vec::new();
                let mut depth = 1;
                while let Some(t) = self.next() {
                    match t {
                        Tok::Open | Tok::Call => depth += 1,
                        Tok::Close => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    args.push(t);
                }
                match (w.to_ascii_uppercase().as_str(), args.as_slice()) {
                    ("TERM" | "CASE", [Tok::Word(x)] | [Tok::Str(x)]) => {
                        let mut p = search_pred(None, x, false, &format!("{w}({x})"));
                        p.case_sensitive = w.eq_ignore_ascii_case("CASE");
                        Ok(Expr::Pred(p))
                    }
                    _ => Ok(Expr::Unmodeled { text: format!("{w}(...)"), why: format!("the `{w}` function is not modelled") }),
                }
            }
            Some(Tok::Word(w)) | Some(Tok::Str(w)) => {
                // `field IN (a, b)`
                if matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case("IN")) && matches!(self.toks.get(self.i + 1), Some(Tok::Open | Tok::Call)) {
                    self.i += 2;
                    let mut vals = Vec::new();
                    loop {
                        match self.next() {
                            Some(Tok::Word(v)) | Some(Tok::Str(v)) => vals.push(v),
                            Some(Tok::Comma) => {}
                            Some(Tok::Close) => break,
                            _ => return Err("unterminated IN list".into()),
                        }
                    }
                    let raw = format!("{w} IN ({})", vals.join(", "));
                    let preds: Vec<Predicate> = vals.iter().map(|v| search_pred(Some(&w), v, false, &raw)).collect();
                    return Ok(merge_any(preds));
                }
                if let Some(Tok::Cmp(op)) = self.peek().cloned() {
                    self.i += 1;
                    let value = match self.next() {
                        // `_time >= relative_time(now(), "-10m")`: a computed bound.
                        Some(Tok::Word(f)) if self.peek() == Some(&Tok::Call) => {
                            let mut depth = 0;
                            while let Some(t) = self.next() {
                                match t {
                                    Tok::Open | Tok::Call => depth += 1,
                                    Tok::Close => {
                                        depth -= 1;
                                        if depth == 0 {
                                            break;
                                        }
                                    }
                                    _ => {}
                                }
                            }
                            return Ok(Expr::Unmodeled { text: format!("{w}{op}{f}(...)"), why: "compares with a function's result".into() });
                        }
                        Some(Tok::Word(v)) | Some(Tok::Str(v)) => v,
                        _ => return Err(format!("expected a value after `{w}{op}`")),
                    };
                    let raw = format!("{w}{op}{value}");
                    let (o, negated) = cmp_op(&op).ok_or_else(|| format!("unknown operator `{op}`"))?;
                    return Ok(Expr::Pred(if o == Op::Eq {
                        search_pred(Some(&w), &value, negated, &raw)
                    } else {
                        pred(Some(&w), o, vec![literal(&value)], false, false, &raw)
                    }));
                }
                Ok(Expr::Pred(search_pred(None, &w, false, &w)))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }

    // ---- where / eval world ----

    fn w_or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.w_and()?];
        while matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case("OR")) {
            self.i += 1;
            parts.push(self.w_and()?);
        }
        Ok(or(parts))
    }

    fn w_and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.w_not()?];
        while matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case("AND")) {
            self.i += 1;
            parts.push(self.w_not()?);
        }
        Ok(and(parts))
    }

    fn w_not(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let out = if matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case("NOT")) {
            self.i += 1;
            Expr::Not { expr: Box::new(self.w_not()?) }
        } else {
            self.w_cmp()?
        };
        self.depth -= 1;
        Ok(out)
    }

    fn w_cmp(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Open) => {
                let e = self.w_or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(e),
                    _ => Err("expected `)`".into()),
                }
            }
            Some(Tok::Word(w)) => {
                // A function call.
                if self.peek() == Some(&Tok::Call) {
                    self.i += 1;
                    let mut args: Vec<Tok> = Vec::new();
                    let mut depth = 1;
                    while let Some(t) = self.next() {
                        match t {
                            Tok::Open | Tok::Call => depth += 1,
                            Tok::Close => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            _ => {}
                        }
                        args.push(t);
                    }
                    return Ok(function(&w, &args));
                }
                if matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case("IN")) && matches!(self.toks.get(self.i + 1), Some(Tok::Open | Tok::Call)) {
                    self.i += 2;
                    let mut vals = Vec::new();
                    loop {
                        match self.next() {
                            Some(Tok::Str(v)) => vals.push(Value::Str(v)),
                            Some(Tok::Word(v)) => vals.push(literal(&v)),
                            Some(Tok::Comma) => {}
                            Some(Tok::Close) => break,
                            _ => return Err("unterminated IN list".into()),
                        }
                    }
                    return Ok(Expr::Pred(pred(Some(&w), Op::Eq, vals, true, false, &format!("{w} IN (...)"))));
                }
                if let Some(Tok::Cmp(op)) = self.peek().cloned() {
                    self.i += 1;
                    let (o, negated) = cmp_op(&op).ok_or_else(|| format!("unknown operator `{op}`"))?;
                    return Ok(match self.next() {
                        Some(Tok::Str(v)) => Expr::Pred(pred(Some(&w), o, vec![Value::Str(v.clone())], true, negated, &format!("{w}{op}\"{v}\""))),
                        Some(Tok::Word(v)) if v.parse::<f64>().is_ok() => {
                            Expr::Pred(pred(Some(&w), o, vec![literal(&v)], true, negated, &format!("{w}{op}{v}")))
                        }
                        Some(Tok::Word(v)) => Expr::Unmodeled { text: format!("{w}{op}{v}"), why: "compares two fields".into() },
                        _ => return Err(format!("expected a value after `{w}{op}`")),
                    });
                }
                Ok(Expr::Unmodeled { text: w, why: "a bare field in a condition".into() })
            }
            other => Err(format!("unexpected {other:?} in a condition")),
        }
    }
}

/// `like(field, "x%")` and `match(field, "re")`; other functions are not modelled.
fn function(name: &str, args: &[Tok]) -> Expr {
    let text = format!("{name}(...)");
    match (name.to_ascii_lowercase().as_str(), args) {
        ("like", [Tok::Word(f), Tok::Comma, Tok::Str(pat)]) => {
            let glob = pat.replace('%', "*").replace('_', "?");
            let p = search_pred(Some(f), &glob, false, &format!("like({f}, \"{pat}\")"));
            Expr::Pred(Predicate { case_sensitive: true, ..p })
        }
        ("match", [Tok::Word(f), Tok::Comma, Tok::Str(re)]) => Expr::Pred(pred(Some(f), Op::Regex, vec![Value::Str(re.clone())], true, false, &format!("match({f}, \"{re}\")"))),
        ("isnotnull", [Tok::Word(f)]) => Expr::Pred(pred(Some(f), Op::Exists, vec![Value::Bool(true)], false, false, &format!("isnotnull({f})"))),
        ("isnull", [Tok::Word(f)]) => Expr::Pred(pred(Some(f), Op::Exists, vec![Value::Bool(false)], false, false, &format!("isnull({f})"))),
        _ => Expr::Unmodeled { text, why: format!("the `{name}` function is not modelled") },
    }
}

/// Values of one `IN` list: one predicate per operator (values of the same kind together).
fn merge_any(preds: Vec<Predicate>) -> Expr {
    let mut groups: Vec<Predicate> = Vec::new();
    for p in preds {
        match groups.iter_mut().find(|g| g.op == p.op && g.negated == p.negated) {
            Some(g) => g.values.extend(p.values),
            None => groups.push(p),
        }
    }
    or(groups.into_iter().map(Expr::Pred).collect())
}

/// The search command's expression.
pub fn search(text: &str) -> Result<Expr, String> {
    // `search *` (an empty `_filter` macro) keeps every row.
    if text.trim() == "*" {
        return Ok(Expr::Const { value: true });
    }
    let mut p = P { toks: lex(text)?, i: 0, depth: 0 };
    let e = p.s_conj()?;
    if p.i < p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.i]));
    }
    Ok(e)
}

/// A `where` command's condition.
pub fn condition(text: &str) -> Result<Expr, String> {
    let mut p = P { toks: lex(text)?, i: 0, depth: 0 };
    let e = p.w_or()?;
    if p.i < p.toks.len() {
        return Err(format!("unexpected {:?}", p.toks[p.i]));
    }
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn preds(e: &Expr) -> Vec<(String, Op, Vec<String>, bool)> {
        let mut v = Vec::new();
        e.collect_predicates(&mut v);
        v.iter().map(|p| (p.field.clone().unwrap_or_default(), p.op, p.values.iter().map(Value::text).collect(), p.negated)).collect()
    }

    #[test]
    fn search_world() {
        let e = search("a=1 b=x OR c=\"*y*\" NOT d=z* e IN (\"*.exe\", \"*.dll\", f)").unwrap();
        // Implicit AND over: a, (b OR c), NOT d, e IN.
        let Expr::And { of } = &e else { panic!("{e:?}") };
        assert_eq!(of.len(), 4);
        assert!(matches!(&of[1], Expr::Or { of } if of.len() == 2));
        assert!(matches!(&of[2], Expr::Not { .. }));
        let p = preds(&e);
        assert_eq!(p[0], ("a".into(), Op::Eq, vec!["1".into()], false));
        assert_eq!(p[2], ("c".into(), Op::Contains, vec!["y".into()], false));
        assert_eq!(p[3], ("d".into(), Op::StartsWith, vec!["z".into()], false));
        assert_eq!(p[4], ("e".into(), Op::EndsWith, vec![".exe".into(), ".dll".into()], false));
        assert_eq!(p[5], ("e".into(), Op::Eq, vec!["f".into()], false));
        assert_eq!(preds(&search("x!=1").unwrap())[0].3, true);
        // A group after a value is an AND, not a call; `NOT(` is a negated group; TERM() a term.
        let e = search("a=cmd.exe (b=2 OR c=3) NOT(d IN(\"x\", \"y\")) TERM(segfault)").unwrap();
        let Expr::And { of } = &e else { panic!("{e:?}") };
        assert_eq!(of.len(), 4, "{e:?}");
        assert_eq!(preds(&e).len(), 5);
        assert!(matches!(search("t>=relative_time(now(), \"-1h\")").unwrap(), Expr::Unmodeled { .. }));
    }

    #[test]
    fn where_world() {
        let e = condition("count > 5 AND (user=\"admin\" OR like(process, \"%.ps1\")) AND NOT isnull(dest)").unwrap();
        let p = preds(&e);
        assert_eq!(p[0], ("count".into(), Op::Gt, vec!["5".into()], false));
        assert_eq!(p[2], ("process".into(), Op::EndsWith, vec![".ps1".into()], false));
        assert!(matches!(condition("a=b").unwrap(), Expr::Unmodeled { .. }));
        assert!(search("(a=1").is_err());
    }
}
