//! The command registry: argument grammars for the commands detections use. A command not
//! listed is read by the generic grammar (options, terms, calls, groups, subsearches), so every
//! command parses; a listed command whose arguments break its grammar is reported and kept
//! generically.

use crate::ast::{AggCall, Body, Error, FieldAs, Lit, Opt, Span};
use crate::lexer::Kind;
use crate::parser::Parser;

type Grammar = fn(&mut Parser, &str) -> Result<Body, Error>;

/// Command names and their grammars.
const REGISTRY: &[(&str, Grammar)] = &[
    ("search", search),
    ("where", where_),
    ("eval", eval),
    ("tstats", tstats),
    ("stats", stats),
    ("eventstats", stats),
    ("streamstats", stats),
    ("chart", stats),
    ("timechart", stats),
    ("sistats", stats),
    ("rename", rename),
    ("table", fields),
    ("fields", fields),
    ("lookup", lookup),
    ("inputlookup", inputlookup),
    ("rex", rex),
    ("regex", regex),
    ("bin", bin),
    ("bucket", bin),
    ("join", join),
    ("append", sub),
    ("appendcols", sub),
    ("appendpipe", sub),
    ("union", sub),
    ("mvexpand", mvexpand),
    ("dedup", fielded),
    ("sort", fielded),
    ("fillnull", fielded),
    ("transaction", fielded),
    ("spath", fielded),
    ("convert", fielded),
    ("foreach", foreach),
    ("top", fielded),
    ("rare", fielded),
    ("head", fielded),
    ("tail", fielded),
    ("makemv", fielded),
    ("mvcombine", fielded),
    ("nomv", fielded),
    ("iplocation", fielded),
    ("outputlookup", fielded),
    ("xmlkv", fielded),
    ("kvform", fielded),
    ("extract", fielded),
    ("return", fielded),
    ("format", fielded),
    ("collect", fielded),
];

pub(crate) fn read(p: &mut Parser, name: &str) -> Result<Body, Error> {
    match REGISTRY.iter().find(|(n, _)| *n == name) {
        Some((_, g)) => g(p, name),
        None => Ok(Body::Generic(p.generic())),
    }
}

fn err(span: Span, message: impl Into<String>) -> Error {
    Error {
        span,
        message: message.into(),
    }
}

fn search(p: &mut Parser, _: &str) -> Result<Body, Error> {
    Ok(Body::Search(p.search_expr()))
}

/// Byte range of the rest of the command (from the next token to the range's end).
fn rest(p: &Parser) -> Option<(usize, usize)> {
    if p.at_end() {
        return None;
    }
    Some((p.toks[p.i].start, p.toks[p.hi - 1].end))
}

fn where_(p: &mut Parser, name: &str) -> Result<Body, Error> {
    let Some((lo, hi)) = rest(p) else {
        return Err(err(p.span_here(), format!("`{name}` needs a condition")));
    };
    let e = crate::eval::read(p.src, lo, hi, &mut p.errors);
    p.i = p.hi;
    Ok(Body::Where(e))
}

/// `eval a=expr, b=expr`: assignments split at top-level commas.
fn eval(p: &mut Parser, name: &str) -> Result<Body, Error> {
    let mut out = Vec::new();
    if p.at_end() {
        return Err(err(
            p.span_here(),
            format!("`{name}` needs an assignment `field=expression`"),
        ));
    }
    while !p.at_end() {
        let Some(field) = p.lit() else {
            return Err(err(p.span_here(), "expected a field name to assign"));
        };
        if !p
            .peek()
            .is_some_and(|t| t.kind == Kind::Cmp && p.text(t) == "=")
        {
            return Err(err(
                p.span_here(),
                format!("expected `=` after `{}`", field.text),
            ));
        }
        p.i += 1;
        // The expression runs to the next comma outside parentheses.
        let lo_tok = p.i;
        let mut depth = 0usize;
        let mut j = p.i;
        while j < p.hi {
            match p.toks[j].kind {
                Kind::LParen | Kind::LBrack => depth += 1,
                Kind::RParen | Kind::RBrack => depth = depth.saturating_sub(1),
                Kind::Comma if depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        if j == lo_tok {
            return Err(err(
                field.span,
                format!("expected an expression after `{}=`", field.text),
            ));
        }
        let e = crate::eval::read(
            p.src,
            p.toks[lo_tok].start,
            p.toks[j - 1].end,
            &mut p.errors,
        );
        out.push((field, e));
        p.i = j;
        if p.at(Kind::Comma) {
            p.i += 1;
        }
    }
    Ok(Body::Eval(out))
}

/// Leading `key=value` options, as long as the key is not one of `stop`.
fn opts(p: &mut Parser, stop: &[&str]) -> Vec<Opt> {
    let mut out = Vec::new();
    while let Some(t) = p.peek() {
        let is_opt = t.kind == Kind::Word
            && p.peek_at(1)
                .is_some_and(|n| n.kind == Kind::Cmp && p.text(n) == "=")
            && !stop.iter().any(|s| p.text(t).eq_ignore_ascii_case(s));
        if !is_opt {
            break;
        }
        match p.opt() {
            Some(o) => out.push(o),
            None => break,
        }
    }
    out
}

/// Aggregates up to one of the `stop` words: `count`, `dc(x)`, `values(x) as y`, comma or space
/// separated.
fn aggs(p: &mut Parser, stop: &[&str]) -> Result<Vec<AggCall>, Error> {
    let mut out = Vec::new();
    while let Some(t) = p.peek() {
        if t.kind == Kind::Comma {
            p.i += 1;
            continue;
        }
        if t.kind != Kind::Word || stop.iter().any(|s| p.at_word(s)) {
            break;
        }
        // An option among aggregates (`span=1h` in timechart) ends them.
        if p.peek_at(1).is_some_and(|n| n.kind == Kind::Cmp) {
            break;
        }
        out.push(agg(p)?);
    }
    Ok(out)
}

/// One aggregate or call at the next (word) token: `count`, `dc(x)`, `values(x) as y`.
fn agg(p: &mut Parser) -> Result<AggCall, Error> {
    let t = p.peek().expect("a word");
    let func = p.text(t).to_string();
    let mut span = Span::new(t.start, t.end);
    let mut arg = None;
    if p.glued_next() && p.peek_at(1).is_some_and(|n| n.kind == Kind::LParen) {
        let open = p.i + 1;
        let Some(close) = p.closing(open) else {
            return Err(err(
                Span::new(p.toks[open].start, p.toks[open].end),
                "expected `)` to close this `(`",
            ));
        };
        let (lo, hi) = (p.toks[open].end, p.toks[close].start);
        let inner = p.src[lo..hi].trim();
        if !inner.is_empty() {
            arg = Some(Lit {
                text: inner.to_string(),
                quoted: false,
                span: Span::new(lo, hi),
            });
        }
        p.i = close + 1;
        span.end = p.toks[close].end;
    } else {
        p.i += 1;
    }
    let alias = alias(p)?;
    if let Some(a) = &alias {
        span.end = a.span.end;
    }
    Ok(AggCall {
        func,
        arg,
        alias,
        span,
    })
}

/// `as name` after a field or aggregate.
fn alias(p: &mut Parser) -> Result<Option<Lit>, Error> {
    if !p.at_word("as") {
        return Ok(None);
    }
    let as_span = p.span_here();
    p.i += 1;
    match p.lit() {
        Some(mut l) => {
            if glue_group(p, &mut l) {
                p.note(l.span, "a name with parentheses: accepted, as Splunk does");
            }
            Ok(Some(l))
        }
        None => Err(err(as_span, "expected a name after `as`")),
    }
}

/// A field name glued to a `(...)` (`predicted(x)`, an ML output) is one name.
fn glue_group(p: &mut Parser, l: &mut Lit) -> bool {
    let glued = !l.quoted
        && p.peek()
            .is_some_and(|t| t.kind == Kind::LParen && t.start == l.span.end);
    if !glued {
        return false;
    }
    let Some(close) = p.closing(p.i) else {
        return false;
    };
    l.span.end = p.toks[close].end;
    l.text = p.src[l.span.start..l.span.end].to_string();
    p.i = close + 1;
    true
}

/// Field names (comma or space separated) with optional `as` aliases, up to a stop word or an
/// option.
fn field_list(p: &mut Parser, stop: &[&str]) -> Result<Vec<FieldAs>, Error> {
    let mut out = Vec::new();
    while let Some(t) = p.peek() {
        if t.kind == Kind::Comma {
            p.i += 1;
            continue;
        }
        if stop.iter().any(|s| p.at_word(s)) || p.peek_at(1).is_some_and(|n| n.kind == Kind::Cmp) {
            break;
        }
        let Some(mut field) = p.lit() else { break };
        glue_group(p, &mut field);
        let alias = alias(p)?;
        out.push(FieldAs { field, alias });
    }
    Ok(out)
}

/// Fields of a `by` clause, with options (`span=1h`) anywhere among them.
fn by_list(
    p: &mut Parser,
    by: &mut Vec<FieldAs>,
    opts: &mut Vec<Opt>,
    stop: &[&str],
) -> Result<(), Error> {
    loop {
        let n = p.i;
        by.extend(field_list(p, stop)?);
        opts.extend(self::opts(p, stop));
        if p.i == n {
            return Ok(());
        }
    }
}

fn tstats(p: &mut Parser, _: &str) -> Result<Body, Error> {
    // Options may come between aggregates (a macro such as `security_content_summariesonly`
    // expands to options wherever it is written).
    let (mut opts, mut aggs) = (Vec::new(), Vec::new());
    loop {
        let n = p.i;
        opts.extend(self::opts(p, &["from", "where", "by"]));
        aggs.extend(self::aggs(p, &["from", "where", "by"])?);
        if p.i == n {
            break;
        }
    }
    let mut model = None;
    if p.at_word("from") {
        let from = p.span_here();
        p.i += 1;
        // `from datamodel=Endpoint.Processes` (or `datamodel:X`, `datamodel X`).
        match p.peek() {
            Some(t) if t.kind == Kind::Word && p.text(t).eq_ignore_ascii_case("datamodel") => {
                p.i += 1;
                if p.at(Kind::Cmp) {
                    p.i += 1;
                }
                model = p.lit();
            }
            Some(t)
                if t.kind == Kind::Word
                    && p.text(t).to_ascii_lowercase().starts_with("datamodel:") =>
            {
                let l = p.lit().expect("a word");
                let span = Span::new(l.span.start + 10, l.span.end);
                model = Some(Lit {
                    text: l.text[10..].trim_matches('"').to_string(),
                    quoted: false,
                    span,
                });
            }
            _ => model = p.lit(),
        }
        if model.is_none() {
            return Err(err(from, "expected `datamodel=<name>` after `from`"));
        }
    }
    opts.extend(self::opts(p, &["where", "by"]));
    if model.is_none() {
        if let Some(o) = opts
            .iter()
            .find(|o| o.key.eq_ignore_ascii_case("datamodel"))
        {
            model = Some(o.value.clone());
        }
    }
    let mut filter = None;
    if p.at_word("where") {
        p.i += 1;
        // The where clause runs to a `by` outside groups (or, when a group is left open, to the
        // first `by`, so the error stays inside the clause).
        let mut depth = 0usize;
        let (mut end, mut first_by) = (None, None);
        for j in p.i..p.hi {
            let t = p.toks[j];
            match t.kind {
                Kind::LParen | Kind::LBrack => depth += 1,
                Kind::RParen | Kind::RBrack => depth = depth.saturating_sub(1),
                Kind::Word if p.text(t).eq_ignore_ascii_case("by") && !p.toks.get(j + 1).is_some_and(|n| n.kind == Kind::Cmp) => {
                    first_by.get_or_insert(j);
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                }
                _ => {}
            }
        }
        let end = end.or(first_by.filter(|_| depth > 0)).unwrap_or(p.hi);
        filter = p.within(p.i, end, |p| p.search_expr());
        p.i = end;
    }
    let mut by = Vec::new();
    if p.at_word("by") {
        p.i += 1;
        by_list(p, &mut by, &mut opts, &[])?;
    }
    opts.extend(self::opts(p, &[]));
    Ok(Body::Tstats {
        opts,
        aggs,
        model,
        filter,
        by,
    })
}

fn stats(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let mut opts = opts(p, &[]);
    let aggs = aggs(p, &["by", "over"])?;
    opts.extend(self::opts(p, &["by", "over"]));
    let mut by = Vec::new();
    while p.at_word("by") || p.at_word("over") {
        p.i += 1;
        by_list(p, &mut by, &mut opts, &["by", "over"])?;
    }
    Ok(Body::Stats { opts, aggs, by })
}

fn rename(p: &mut Parser, name: &str) -> Result<Body, Error> {
    let mut pairs = Vec::new();
    while !p.at_end() {
        if p.at(Kind::Comma) {
            p.i += 1;
            continue;
        }
        let Some(from) = p.lit() else {
            return Err(err(p.span_here(), "expected a field to rename"));
        };
        if !p.at_word("as") {
            return Err(err(
                p.span_here(),
                format!("expected `as` after `{}`", from.text),
            ));
        }
        match alias(p)? {
            Some(to) => pairs.push((from, to)),
            None => unreachable!("alias saw `as`"),
        }
    }
    if pairs.is_empty() {
        return Err(err(
            p.span_here(),
            format!("`{name}` needs `field as name`"),
        ));
    }
    Ok(Body::Rename(pairs))
}

fn fields(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let mut remove = false;
    if let Some(t) = p
        .peek()
        .filter(|t| t.kind == Kind::Word && matches!(p.text(*t), "-" | "+"))
    {
        remove = p.text(t) == "-";
        p.i += 1;
    }
    let list = field_list(p, &[])?;
    Ok(Body::Fields {
        remove,
        fields: list.into_iter().map(|f| f.field).collect(),
    })
}

fn lookup(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let opts = opts(p, &[]);
    let table = p.lit();
    if table.is_none() {
        return Err(err(p.span_here(), "expected a lookup table name"));
    }
    let inputs = field_list(p, &["output", "outputnew"])?;
    let mut output = None;
    let mut outputs = Vec::new();
    if p.at_word("output") || p.at_word("outputnew") {
        output = Some(p.text(p.toks[p.i]).to_ascii_uppercase());
        p.i += 1;
        outputs = field_list(p, &[])?;
    }
    Ok(Body::Lookup {
        opts,
        table,
        inputs,
        output,
        outputs,
    })
}

fn inputlookup(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let mut opts = opts(p, &["where"]);
    let table = p.lit();
    opts.extend(self::opts(p, &["where"]));
    let mut filter = None;
    if p.at_word("where") {
        p.i += 1;
        filter = p.search_expr();
    }
    Ok(Body::InputLookup {
        opts,
        table,
        filter,
    })
}

fn rex(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let mut opts = opts(p, &[]);
    let regex = p.lit();
    opts.extend(self::opts(p, &[]));
    if regex.is_none() {
        return Err(err(p.span_here(), "expected a quoted regular expression"));
    }
    Ok(Body::Rex { opts, regex })
}

fn regex(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let first = p.lit();
    match (first, p.peek()) {
        (Some(f), Some(t)) if t.kind == Kind::Cmp && matches!(p.text(t), "=" | "!=") => {
            let negated = p.text(t) == "!=";
            p.i += 1;
            let re = p.lit();
            if re.is_none() {
                return Err(err(
                    p.span_here(),
                    format!("expected a regular expression after `{}`", f.text),
                ));
            }
            Ok(Body::Regex {
                field: Some(f),
                negated,
                regex: re,
            })
        }
        (Some(re), _) => Ok(Body::Regex {
            field: None,
            negated: false,
            regex: Some(re),
        }),
        (None, _) => Err(err(p.span_here(), "expected a regular expression")),
    }
}

fn bin(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let mut opts = opts(p, &[]);
    let field = match p.lit() {
        Some(field) => Some(FieldAs {
            field,
            alias: alias(p)?,
        }),
        None => None,
    };
    opts.extend(self::opts(p, &[]));
    if field.is_none() {
        return Err(err(p.span_here(), "expected a field to bin"));
    }
    Ok(Body::Bin { opts, field })
}

/// Options and field names, in any order (commas between them ignored), up to what is neither.
fn opts_and_fields(p: &mut Parser) -> (Vec<Opt>, Vec<Lit>) {
    let (mut opts, mut fields) = (Vec::new(), Vec::new());
    while let Some(t) = p.peek() {
        match t.kind {
            Kind::Comma => p.i += 1,
            Kind::Word if p.peek_at(1).is_some_and(|n| n.kind == Kind::Cmp) => opts.extend(self::opts(p, &[])),
            Kind::Word | Kind::Str { .. } => fields.push(p.lit().expect("a word")),
            _ => break,
        }
    }
    (opts, fields)
}

/// The `[...]` that must come next; `command_first`: see [`Parser::subsearch`].
fn required_sub(p: &mut Parser, what: &str, command_first: bool) -> Result<Option<crate::ast::Pipeline>, Error> {
    if !p.at(Kind::LBrack) {
        return Err(err(p.span_here(), format!("expected {what}")));
    }
    Ok(p.subsearch(command_first))
}

fn join(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let (opts, fields) = opts_and_fields(p);
    let sub = required_sub(p, "a subsearch `[...]` to join with", false)?;
    Ok(Body::Join { opts, fields, sub })
}

fn sub(p: &mut Parser, name: &str) -> Result<Body, Error> {
    let opts = opts(p, &[]);
    // appendpipe's subsearch is commands on the current rows (no leading search).
    let sub = required_sub(p, &format!("a subsearch `[...]` after `{name}`"), name == "appendpipe")?;
    Ok(Body::Sub { opts, sub })
}

fn mvexpand(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let field = p.lit();
    if field.is_none() {
        return Err(err(p.span_here(), "expected a field to expand"));
    }
    let opts = opts(p, &[]);
    Ok(Body::MvExpand { field, opts })
}

/// `foreach fields [opts] [template]`: the template is a command (no leading `|`).
fn foreach(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let (opts, _fields) = opts_and_fields(p);
    let sub = required_sub(p, "a `[...]` template after the fields", true)?;
    Ok(Body::Sub { opts, sub })
}

/// Options, an optional leading count, field names (with `+`/`-` sort prefixes kept), and calls
/// (`ctime(x) as y`, `num(x)`), in any order.
fn fielded(p: &mut Parser, _: &str) -> Result<Body, Error> {
    let mut count = None;
    let (mut opts, mut fields, mut calls) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(t) = p.peek() {
        match t.kind {
            Kind::Comma => p.i += 1,
            Kind::Word
                if p.peek_at(1)
                    .is_some_and(|n| n.kind == Kind::Cmp && p.text(n) == "=") =>
            {
                if let Some(o) = p.opt() {
                    opts.push(o);
                }
            }
            Kind::Word
                if p.glued_next() && p.peek_at(1).is_some_and(|n| n.kind == Kind::LParen) =>
            {
                calls.push(agg(p)?);
            }
            Kind::Word
                if count.is_none()
                    && fields.is_empty()
                    && p.text(t).bytes().all(|b| b.is_ascii_digit()) =>
            {
                count = p.text(t).parse().ok();
                p.i += 1;
            }
            Kind::Word | Kind::Str { .. } | Kind::Macro { .. } => {
                let l = p.lit().expect("a word");
                if p.at_word("as") {
                    let a = alias(p)?;
                    fields.push(l);
                    fields.extend(a);
                } else {
                    fields.push(l);
                }
            }
            Kind::LBrack => {
                // `format` and `return` results are used by the outer search; a subsearch here is
                // not a grammar of these commands.
                return Err(err(Span::new(t.start, t.end), "unexpected subsearch"));
            }
            _ => {
                return Err(err(
                    Span::new(t.start, t.end),
                    format!("unexpected `{}`", p.text(t)),
                ))
            }
        }
    }
    Ok(Body::Fielded {
        count,
        opts,
        fields,
        calls,
    })
}

#[cfg(test)]
mod tests {
    use crate::ast::Body;
    use crate::parser::parse;

    fn body(src: &str) -> Body {
        let p = parse(src);
        assert!(p.errors.is_empty(), "{src}: {:?}", p.errors);
        p.pipeline.commands.last().unwrap().body.clone()
    }

    #[test]
    fn grammars() {
        let Body::Tstats { opts, aggs, model, filter, by } = body(
            "| tstats summariesonly=false allow_old_summaries=true count min(_time) as firstTime values(Processes.process) from datamodel=Endpoint.Processes where Processes.process_name=cmd.exe by Processes.dest Processes.user span=1h",
        ) else {
            panic!()
        };
        assert_eq!(
            opts.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
            ["summariesonly", "allow_old_summaries", "span"]
        );
        assert_eq!(
            aggs.iter()
                .map(|a| (a.func.as_str(), a.alias.as_ref().map(|l| l.text.as_str())))
                .collect::<Vec<_>>(),
            [
                ("count", None),
                ("min", Some("firstTime")),
                ("values", None)
            ]
        );
        assert_eq!(model.unwrap().text, "Endpoint.Processes");
        assert!(filter.is_some());
        assert_eq!(by.len(), 2);
        let Body::Stats { aggs, by, .. } =
            body("| stats count dc(user) as users values(x) by host, dest")
        else {
            panic!()
        };
        assert_eq!((aggs.len(), by.len()), (3, 2));
        assert_eq!(aggs[1].arg.as_ref().unwrap().text, "user");
        let Body::Rename(pairs) = body("| rename a as b, \"c d\" as e") else {
            panic!()
        };
        assert_eq!(pairs[1].0.text, "c d");
        let Body::Lookup {
            table,
            inputs,
            output,
            outputs,
            ..
        } = body("| lookup update=true users user as u OUTPUTNEW role as r, dept")
        else {
            panic!()
        };
        assert_eq!(
            (
                table.unwrap().text,
                inputs.len(),
                output.unwrap(),
                outputs.len()
            ),
            ("users".to_string(), 1, "OUTPUTNEW".to_string(), 2)
        );
        let Body::Rex { opts, regex } = body("| rex field=cmd \"(?<exe>[^\\\\]+)$\" max_match=0")
        else {
            panic!()
        };
        assert_eq!(
            (opts.len(), regex.unwrap().text),
            (2, "(?<exe>[^\\]+)$".to_string())
        );
        assert!(matches!(
            body("| regex process!=\"^a\""),
            Body::Regex { negated: true, .. }
        ));
        assert!(
            matches!(body("| fields - a, b"), Body::Fields { remove: true, ref fields } if fields.len() == 2)
        );
        assert!(
            matches!(body("| eval a=if(x>1, \"y\", \"n\"), b=lower(c)"), Body::Eval(ref v) if v.len() == 2)
        );
        assert!(matches!(
            body("| dedup 1 host sortby -_time"),
            Body::Fielded { count: Some(1), .. }
        ));
        assert!(
            matches!(body("| convert timeformat=\"%c\" ctime(firstTime) as t"), Body::Fielded { ref calls, .. } if calls.len() == 1)
        );
        assert!(
            matches!(body("| foreach * [eval <<FIELD>>=trim('<<FIELD>>')]"), Body::Sub { sub: Some(ref s), .. } if s.commands[0].name == "eval")
        );
        assert!(
            matches!(body("| appendpipe [stats count | where count=0]"), Body::Sub { sub: Some(ref s), .. } if s.commands.len() == 2)
        );
        assert!(matches!(
            body("| inputlookup append=t x.csv where a=1"),
            Body::InputLookup {
                filter: Some(_),
                ..
            }
        ));
        assert!(matches!(
            body("| mvexpand x limit=5"),
            Body::MvExpand { .. }
        ));
        assert!(matches!(body("| bin _time span=5m"), Body::Bin { .. }));
    }
}
