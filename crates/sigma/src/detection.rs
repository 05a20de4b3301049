//! Search identifiers (selections, filters, keywords) -> `ir::Expr` of predicates.

use ir::{Diagnostic, Expr, Op, Predicate, Value};

use crate::yaml::{LineIndex, Node, NodeKind, Style};

/// A piece of a Sigma string: a literal character or a wildcard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum G {
    Lit(char),
    Star,
    Quest,
}

/// Splits a Sigma string into literals and wildcards. A backslash escapes only `*`, `?` and
/// itself; any other backslash is a plain character (`C:\Windows\` keeps its backslashes).
pub fn sigma_tokens(s: &str) -> Vec<G> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => match chars.get(i + 1) {
                Some(&c @ ('*' | '?' | '\\')) => {
                    out.push(G::Lit(c));
                    i += 2;
                    continue;
                }
                _ => out.push(G::Lit('\\')),
            },
            '*' => out.push(G::Star),
            '?' => out.push(G::Quest),
            c => out.push(G::Lit(c)),
        }
        i += 1;
    }
    out
}

/// Writes tokens back as a glob in Sigma's escaping convention, escaping only what must be:
/// literal `*` and `?` always, a literal backslash when what follows would otherwise read as an
/// escape.
pub fn glob_text(t: &[G]) -> String {
    let mut s = String::new();
    for (i, g) in t.iter().enumerate() {
        match g {
            G::Star => s.push('*'),
            G::Quest => s.push('?'),
            G::Lit(c @ ('*' | '?')) => {
                s.push('\\');
                s.push(*c);
            }
            G::Lit('\\') => {
                let next_escapable = matches!(t.get(i + 1), Some(G::Star | G::Quest | G::Lit('*' | '?' | '\\')));
                s.push('\\');
                if next_escapable {
                    s.push('\\');
                }
            }
            G::Lit(c) => s.push(*c),
        }
    }
    s
}

fn lits(t: &[G]) -> String {
    t.iter()
        .map(|g| match g {
            G::Lit(c) => *c,
            G::Star => '*',
            G::Quest => '?',
        })
        .collect()
}

/// The operator a glob amounts to: no wildcard -> `Eq`; only a leading `*` -> `EndsWith`; only a
/// trailing `*` -> `StartsWith`; both -> `Contains`; anything else -> `Wildcard` with the glob.
pub fn analyse(tokens: &[G]) -> (Op, String) {
    // Collapse runs of stars.
    let mut t: Vec<G> = Vec::with_capacity(tokens.len());
    for g in tokens {
        if *g == G::Star && t.last() == Some(&G::Star) {
            continue;
        }
        t.push(*g);
    }
    let lead = t.first() == Some(&G::Star);
    let trail = t.len() > 1 && t.last() == Some(&G::Star);
    let inner = &t[lead as usize..t.len() - trail as usize];
    if inner.is_empty() {
        return if lead { (Op::Wildcard, "*".into()) } else { (Op::Eq, String::new()) };
    }
    if inner.iter().any(|g| !matches!(g, G::Lit(_))) {
        return (Op::Wildcard, glob_text(&t));
    }
    let op = match (lead, trail) {
        (true, true) => Op::Contains,
        (true, false) => Op::EndsWith,
        (false, true) => Op::StartsWith,
        (false, false) => Op::Eq,
    };
    (op, lits(inner))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Base {
    Contains,
    StartsWith,
    EndsWith,
}

impl Base {
    fn name(self) -> &'static str {
        match self {
            Base::Contains => "contains",
            Base::StartsWith => "startswith",
            Base::EndsWith => "endswith",
        }
    }
}

/// The meaning of a modifier chain.
#[derive(Debug, Default)]
struct Mods {
    base: Option<Base>,
    all: bool,
    cased: bool,
    neq: bool,
    regex: bool,
    flags: String,
    cidr: bool,
    exists: bool,
    fieldref: bool,
    cmp: Option<Op>,
    transforms: Vec<String>,
}

impl Mods {
    fn kind_name(&self) -> Option<&'static str> {
        if self.regex {
            Some("re")
        } else if self.cidr {
            Some("cidr")
        } else if self.exists {
            Some("exists")
        } else if self.fieldref {
            Some("fieldref")
        } else if self.cmp.is_some() {
            Some("a comparison")
        } else {
            None
        }
    }

    fn has_base64(&self) -> bool {
        self.transforms.iter().any(|t| t == "base64" || t == "base64offset")
    }
}

/// Where a modifier sits in the key, for diagnostics.
struct ModErr {
    message: String,
    offset: usize,
    len: usize,
}

fn parse_mods(mods: &[(usize, &str)]) -> Result<Mods, ModErr> {
    let mut m = Mods::default();
    for &(offset, raw) in mods {
        let name = raw.to_ascii_lowercase();
        let err = |message: String| ModErr { message, offset, len: raw.len() };
        let set_kind = |m: &mut Mods, what: &str| -> Result<(), ModErr> {
            if let Some(k) = m.kind_name() {
                return Err(err(format!("modifier `{what}` cannot be combined with `{k}`")));
            }
            Ok(())
        };
        match name.as_str() {
            "contains" | "startswith" | "endswith" => {
                let b = match name.as_str() {
                    "contains" => Base::Contains,
                    "startswith" => Base::StartsWith,
                    _ => Base::EndsWith,
                };
                if let Some(prev) = m.base {
                    return Err(err(if prev == b {
                        format!("modifier `{name}` is repeated")
                    } else {
                        format!("modifier `{name}` cannot be combined with `{}`", prev.name())
                    }));
                }
                if m.regex || m.cidr || m.exists || m.cmp.is_some() {
                    return Err(err(format!("modifier `{name}` cannot be combined with `{}`", m.kind_name().unwrap_or("?"))));
                }
                m.base = Some(b);
            }
            "all" => m.all = true,
            "cased" => m.cased = true,
            "neq" => m.neq = true,
            "re" => {
                set_kind(&mut m, "re")?;
                if let Some(b) = m.base {
                    return Err(err(format!("modifier `re` cannot be combined with `{}`", b.name())));
                }
                m.regex = true;
            }
            "i" | "m" | "s" | "ignorecase" | "multiline" | "dotall" => {
                if !m.regex {
                    return Err(err(format!("`{name}` is a sub-modifier of `re` and must follow it (e.g. `|re|{name}`)")));
                }
                let f = match name.as_str() {
                    "i" | "ignorecase" => 'i',
                    "m" | "multiline" => 'm',
                    _ => 's',
                };
                if !m.flags.contains(f) {
                    m.flags.push(f);
                }
            }
            "cidr" => {
                set_kind(&mut m, "cidr")?;
                if let Some(b) = m.base {
                    return Err(err(format!("modifier `cidr` cannot be combined with `{}`", b.name())));
                }
                m.cidr = true;
            }
            "exists" => {
                set_kind(&mut m, "exists")?;
                m.exists = true;
            }
            "fieldref" => {
                set_kind(&mut m, "fieldref")?;
                m.fieldref = true;
            }
            "lt" | "lte" | "gt" | "gte" => {
                set_kind(&mut m, &name)?;
                if let Some(b) = m.base {
                    return Err(err(format!("modifier `{name}` cannot be combined with `{}`", b.name())));
                }
                m.cmp = Some(match name.as_str() {
                    "lt" => Op::Lt,
                    "lte" => Op::Le,
                    "gt" => Op::Gt,
                    _ => Op::Ge,
                });
            }
            "base64" | "base64offset" | "utf16le" | "utf16be" | "utf16" | "wide" | "windash" | "expand" | "minute"
            | "hour" | "day" | "week" | "month" | "year" => m.transforms.push(name),
            "" => return Err(ModErr { message: "empty modifier (`||` or a trailing `|`)".into(), offset, len: 1 }),
            _ => {
                return Err(err(format!(
                    "unknown modifier `{raw}`; expected one of contains, startswith, endswith, all, re (i, m, s), cidr, \
                     exists, cased, fieldref, lt, lte, gt, gte, neq, base64, base64offset, utf16le, utf16be, utf16, wide, \
                     windash, expand, minute, hour, day, week, month, year"
                )))
            }
        }
    }
    Ok(m)
}

/// Lowers the search identifiers of a detection (or meta filter) section.
pub struct Lower<'a, 't> {
    pub lines: &'a LineIndex<'t>,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl<'a, 't> Lower<'a, 't> {
    fn text(&self) -> &'t str {
        self.lines.text()
    }

    fn span(&self, n: &Node) -> ir::Span {
        self.lines.span(n.start, n.end)
    }

    fn error(&mut self, code: &str, msg: String, start: usize, end: usize) {
        let sp = self.lines.span(start, end);
        self.diags.push(Diagnostic::error(code, msg, Some(sp)));
    }

    fn unmodeled(&mut self, code: &str, msg: String, node_for_text: (usize, usize), at: (usize, usize)) -> Expr {
        let text = self.text().get(node_for_text.0..node_for_text.1).unwrap_or("").to_string();
        self.error(code, msg.clone(), at.0, at.1);
        Expr::Unmodeled { text, why: msg }
    }

    /// One search identifier: `name: value`.
    pub fn item(&mut self, key: &Node, value: &Node) -> Expr {
        let name = key.as_str().unwrap_or("");
        match &value.kind {
            NodeKind::Map(pairs) => {
                if pairs.is_empty() {
                    return self.unmodeled(
                        "empty-selection",
                        format!("search identifier `{name}` is an empty map; expected `field: value` entries"),
                        (key.start, value.end),
                        (key.start, key.end),
                    );
                }
                self.map(pairs)
            }
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    return self.unmodeled(
                        "empty-selection",
                        format!("search identifier `{name}` is an empty list; expected keywords or maps"),
                        (key.start, value.end),
                        (key.start, key.end),
                    );
                }
                let scalars: Vec<&Node> = items.iter().filter(|n| n.is_scalar()).collect();
                let mut of = Vec::new();
                let mut keywords_done = false;
                for it in items {
                    match &it.kind {
                        NodeKind::Map(pairs) if !pairs.is_empty() => of.push(self.map(pairs)),
                        NodeKind::Map(_) => of.push(self.unmodeled(
                            "empty-selection",
                            format!("empty map in search identifier `{name}`"),
                            (it.start, it.end),
                            (it.start, it.end),
                        )),
                        NodeKind::Scalar { .. } => {
                            if !keywords_done {
                                keywords_done = true;
                                let e = self.values_expr(None, name, &[], &scalars, key, value);
                                of.push(e);
                            }
                        }
                        NodeKind::Seq(_) => of.push(self.unmodeled(
                            "bad-selection",
                            format!("a list inside the list of search identifier `{name}`; expected keywords or maps"),
                            (it.start, it.end),
                            (it.start, it.end),
                        )),
                    }
                }
                or_of(of)
            }
            NodeKind::Scalar { .. } => {
                if value.is_null() {
                    return self.unmodeled(
                        "empty-selection",
                        format!("search identifier `{name}` has no value; expected a map of fields or a list"),
                        (key.start, key.end),
                        (key.start, key.end),
                    );
                }
                self.values_expr(None, name, &[], &[value], key, value)
            }
        }
    }

    /// A map of `field|modifiers: values`, ANDed.
    fn map(&mut self, pairs: &[(Node, Node)]) -> Expr {
        let of = pairs.iter().map(|(k, v)| self.entry(k, v)).collect();
        and_of(of)
    }

    fn entry(&mut self, key: &Node, value: &Node) -> Expr {
        let Some(raw) = key.as_str() else {
            return self.unmodeled(
                "bad-selection",
                "a field name must be a plain string".into(),
                (key.start, value.end),
                (key.start, key.end),
            );
        };
        // Split `Field|mod|mod`, keeping each modifier's byte offset inside the key.
        let mut parts = Vec::new();
        let mut off = 0;
        for p in raw.split('|') {
            parts.push((off, p));
            off += p.len() + 1;
        }
        let field = parts.first().map(|(_, f)| *f).unwrap_or("");
        let mods = &parts[1..];
        let values: Vec<&Node> = match &value.kind {
            NodeKind::Scalar { .. } => vec![value],
            NodeKind::Seq(items) => {
                if let Some(bad) = items.iter().find(|n| !n.is_scalar()) {
                    return self.unmodeled(
                        "bad-value",
                        format!(
                            "the values of `{raw}` must be plain values; found a nested {}",
                            if bad.as_map().is_some() { "map" } else { "list" }
                        ),
                        (key.start, value.end),
                        (bad.start, bad.end),
                    );
                }
                items.iter().collect()
            }
            NodeKind::Map(_) => {
                return self.unmodeled(
                    "bad-value",
                    format!("the value of `{raw}` is a map; expected a value or a list of values"),
                    (key.start, value.end),
                    (value.start, value.end),
                );
            }
        };
        let field = if field.is_empty() { None } else { Some(field) };
        self.values_expr(field, raw, mods, &values, key, value)
    }

    /// Predicates for one key and its values.
    fn values_expr(
        &mut self,
        field: Option<&str>,
        raw: &str,
        mods: &[(usize, &str)],
        values: &[&Node],
        key: &Node,
        value: &Node,
    ) -> Expr {
        let keyword = field.is_none();
        // Keyword lists have no field key: the predicate points at the values.
        let (pspan, praw) = if keyword && mods.is_empty() {
            (self.span(value), String::new())
        } else {
            (self.span(key), raw.to_string())
        };
        let m = match parse_mods(mods) {
            Ok(m) => m,
            Err(e) => {
                let (s, len) = key_offset(self.text(), key, e.offset, e.len);
                return self.unmodeled("bad-modifier", e.message, (key.start, value.end), (s, s + len));
            }
        };
        let at = (key.start, key.end.max(value.end));
        let mk = |op: Op, values: Vec<Value>, m: &Mods| Predicate {
            field: field.map(str::to_string),
            op,
            values,
            all: m.all,
            case_sensitive: m.cased || (m.regex && !m.flags.contains('i')),
            negated: m.neq,
            transforms: m.transforms.clone(),
            flags: m.flags.clone(),
            raw: praw.clone(),
            canonical: None,
            span: Some(pspan),
        };
        if m.all && values.len() < 2 && !keyword {
            let sp = self.lines.span(key.start, key.end);
            self.diags.push(Diagnostic::warning(
                "all-single-value",
                format!("`all` on `{raw}` with a single value has no effect"),
                Some(sp),
            ));
        }
        if m.exists {
            let b = match values {
                [v] => match v.value() {
                    Some(Value::Bool(b)) => Some(b),
                    Some(Value::Str(s)) if s.eq_ignore_ascii_case("true") || s.eq_ignore_ascii_case("false") => {
                        Some(s.eq_ignore_ascii_case("true"))
                    }
                    _ => None,
                },
                _ => None,
            };
            return match b {
                Some(b) => Expr::Pred(mk(Op::Exists, vec![Value::Bool(b)], &m)),
                None => self.unmodeled(
                    "bad-value",
                    format!("`{raw}` needs `true` or `false`"),
                    at,
                    (value.start, value.end),
                ),
            };
        }
        if let Some(op) = m.cmp {
            let mut vals = Vec::new();
            for v in values {
                match number(v) {
                    Some(n) => vals.push(n),
                    None => {
                        return self.unmodeled(
                            "bad-value",
                            format!("`{raw}` compares numbers; `{}` is not a number", v.src(self.text())),
                            at,
                            (v.start, v.end),
                        );
                    }
                }
            }
            return Expr::Pred(mk(op, vals, &m));
        }
        if m.regex {
            let mut vals = Vec::new();
            for v in values {
                if v.is_null() {
                    return self.unmodeled(
                        "bad-value",
                        format!("`{raw}` needs a regular expression, not null"),
                        at,
                        (v.start, v.end),
                    );
                }
                vals.push(Value::Str(v.as_str().unwrap_or("").to_string()));
            }
            return Expr::Pred(mk(Op::Regex, vals, &m));
        }
        if m.cidr {
            let mut vals = Vec::new();
            for v in values {
                let s = v.as_str().unwrap_or("").to_string();
                if !valid_cidr(&s) {
                    let sp = self.lines.span(v.start, v.end);
                    self.diags.push(Diagnostic::error(
                        "bad-value",
                        format!("`{s}` is not an IP network in CIDR notation (e.g. 10.0.0.0/8)"),
                        Some(sp),
                    ));
                }
                vals.push(Value::Str(s));
            }
            return Expr::Pred(mk(Op::Cidr, vals, &m));
        }
        if m.fieldref {
            let mut m = m;
            if let Some(b) = m.base {
                m.transforms.push(b.name().to_string());
            }
            let vals = values.iter().map(|v| Value::Str(v.as_str().unwrap_or("").to_string())).collect();
            return Expr::Pred(mk(Op::FieldRef, vals, &m));
        }
        // String matching, with wildcards.
        let mut groups: Vec<(Op, Vec<Value>)> = Vec::new();
        let mut push = |op: Op, v: Value| match groups.iter_mut().find(|(o, _)| *o == op) {
            Some((_, vs)) => vs.push(v),
            None => groups.push((op, vec![v])),
        };
        let b64 = m.has_base64();
        for v in values {
            let val = v.value().unwrap_or(Value::Null);
            let text = match (&val, m.base) {
                (Value::Null, _) => {
                    push(Op::Eq, Value::Null);
                    continue;
                }
                (Value::Str(s), _) => s.clone(),
                (_, None) if !keyword => {
                    push(Op::Eq, val);
                    continue;
                }
                // Numbers and booleans under a string modifier (or as keywords) match as text, as written.
                _ => v.as_str().unwrap_or("").to_string(),
            };
            let mut tokens = sigma_tokens(&text);
            if b64 {
                if tokens.iter().any(|g| !matches!(g, G::Lit(_))) {
                    let sp = self.lines.span(v.start, v.end);
                    self.diags.push(Diagnostic::warning(
                        "wildcard-in-base64",
                        format!("wildcards in `{text}` are taken literally: they cannot be base64-encoded"),
                        Some(sp),
                    ));
                }
                tokens = tokens
                    .into_iter()
                    .map(|g| match g {
                        G::Star => G::Lit('*'),
                        G::Quest => G::Lit('?'),
                        l => l,
                    })
                    .collect();
            }
            match m.base {
                Some(Base::Contains) => {
                    tokens.insert(0, G::Star);
                    tokens.push(G::Star);
                }
                Some(Base::StartsWith) => tokens.push(G::Star),
                Some(Base::EndsWith) => tokens.insert(0, G::Star),
                None => {}
            }
            let (mut op, s) = analyse(&tokens);
            if keyword && op == Op::Eq {
                // A keyword is searched for anywhere in the event.
                op = Op::Contains;
            }
            push(op, Value::Str(s));
        }
        let preds: Vec<Expr> = groups.into_iter().map(|(op, vals)| Expr::Pred(mk(op, vals, &m))).collect();
        if m.all {
            and_of(preds)
        } else {
            or_of(preds)
        }
    }
}

/// Byte position in the file of an offset inside a key's text (exact for plain keys, shifted by
/// the quote for quoted ones).
fn key_offset(text: &str, key: &Node, offset: usize, len: usize) -> (usize, usize) {
    let shift = match key.style() {
        Some(Style::SingleQuoted) | Some(Style::DoubleQuoted) => 1,
        _ => 0,
    };
    let s = (key.start + shift + offset).min(key.end.max(key.start));
    let s = crate::yaml::floor_char(text, s);
    (s, len.min(key.end.saturating_sub(s)).max(1))
}

fn number(v: &Node) -> Option<Value> {
    match v.value()? {
        Value::Int(i) => Some(Value::Int(i)),
        Value::Float(f) => Some(Value::Float(f)),
        Value::Str(s) => {
            let s = s.trim();
            if let Ok(i) = s.parse::<i64>() {
                Some(Value::Int(i))
            } else {
                s.parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::Float)
            }
        }
        _ => None,
    }
}

/// `addr` or `addr/prefix` for IPv4 or IPv6.
pub fn valid_cidr(s: &str) -> bool {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let max = if addr.parse::<std::net::Ipv4Addr>().is_ok() {
        32
    } else if addr.parse::<std::net::Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    match prefix {
        None => true,
        Some(p) => p.parse::<u8>().is_ok_and(|n| n <= max),
    }
}

/// AND of the parts (the part itself when there is one).
pub fn and_of(mut of: Vec<Expr>) -> Expr {
    if of.len() == 1 {
        return of.pop().unwrap_or(Expr::Const { value: true });
    }
    Expr::And { of }
}

pub fn or_of(mut of: Vec<Expr>) -> Expr {
    if of.len() == 1 {
        return of.pop().unwrap_or(Expr::Const { value: false });
    }
    Expr::Or { of }
}
