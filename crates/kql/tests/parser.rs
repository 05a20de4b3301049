use kql::ast::*;

/// A compact s-expression of an expression, to check the tree's shape.
fn sx(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Name(n) => n.name.clone(),
        ExprKind::Literal { text, kind } => match kind {
            LiteralKind::Str => format!("{text:?}"),
            _ => text.clone(),
        },
        ExprKind::Star => "*".into(),
        ExprKind::Wildcard(w) => w.clone(),
        ExprKind::Paren(x) => format!("({})", sx(x)),
        ExprKind::Binary { first, rest, .. } => {
            let mut s = format!("[{}", sx(first));
            for (op, x) in rest {
                s.push_str(&format!(" {} {}", op.op, sx(x)));
            }
            s + "]"
        }
        ExprKind::Unary { op, expr } => format!("{op}{}", sx(expr)),
        ExprKind::InList { left, op, items } => format!(
            "[{} {} ({})]",
            sx(left),
            op.op,
            items.iter().map(sx).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Between {
            left,
            negated,
            low,
            high,
        } => {
            format!(
                "[{} {}between ({} .. {})]",
                sx(left),
                if *negated { "!" } else { "" },
                sx(low),
                sx(high)
            )
        }
        ExprKind::Call { name, args } => format!(
            "{}({})",
            name.name,
            args.iter().map(sx).collect::<Vec<_>>().join(", ")
        ),
        ExprKind::Path { base, segments } => {
            let mut s = sx(base);
            for seg in segments {
                match seg {
                    Segment::Member(n) => s.push_str(&format!(".{}", n.name)),
                    Segment::Index(i) => s.push_str(&format!("[{}]", sx(i))),
                    Segment::Call(n, a) => s.push_str(&format!(
                        ".{}({})",
                        n.name,
                        a.iter().map(sx).collect::<Vec<_>>().join(", ")
                    )),
                }
            }
            s
        }
        ExprKind::Named { names, expr } => format!(
            "{}={}",
            names
                .iter()
                .map(|n| n.name.clone())
                .collect::<Vec<_>>()
                .join(","),
            sx(expr)
        ),
        ExprKind::Dynamic(x) => format!("dynamic({})", sx(x)),
        ExprKind::Array(xs) => format!("[{}]", xs.iter().map(sx).collect::<Vec<_>>().join(", ")),
        ExprKind::Object(kv) => format!(
            "{{{}}}",
            kv.iter()
                .map(|(k, v)| format!("{}: {}", sx(k), sx(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ExprKind::Datatable { columns, values } => {
            format!("datatable({} cols, {} values)", columns.len(), values.len())
        }
        ExprKind::ExternalData { columns, urls } => {
            format!("externaldata({} cols, {} urls)", columns.len(), urls.len())
        }
        ExprKind::Pipe { source, ops } => format!(
            "{} | {}",
            sx(source),
            ops.iter()
                .map(|o| o.name.clone())
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        ExprKind::SubPipe { ops } => ops
            .iter()
            .map(|o| o.name.clone())
            .collect::<Vec<_>>()
            .join(" | "),
        ExprKind::SourceOp(op) => format!("<{}>", op.name),
        ExprKind::Error(e) => format!("<error {}>", e.message),
    }
}

fn ok(text: &str) -> Parsed {
    let p = kql::parse(text);
    assert!(
        !p.has_errors(),
        "unexpected errors in {text:?}: {:?}",
        p.diagnostics
    );
    p
}

use kql::Parsed;

/// The `where` predicate of `T | where <expr>`.
fn pred(expr: &str) -> String {
    let text = format!("T | where {expr}");
    let p = ok(&text);
    let Statement::Query(q) = &p.ast.statements[0] else {
        panic!("not a query")
    };
    let ExprKind::Pipe { ops, .. } = &q.kind else {
        panic!("not a pipe: {q:?}")
    };
    let OpKind::Where(e) = &ops[0].kind else {
        panic!("not where")
    };
    sx(e)
}

/// The operators of a single-pipeline query.
fn ops(text: &str) -> Vec<Operator> {
    let p = ok(text);
    let Some(Statement::Query(q)) = p.ast.statements.last() else {
        panic!("no query")
    };
    match &q.kind {
        ExprKind::Pipe { ops, .. } => ops.clone(),
        _ => vec![],
    }
}

#[test]
fn precedence() {
    assert_eq!(pred("a or b and c"), "[a or [b and c]]");
    assert_eq!(pred("a and b or c and d"), "[[a and b] or [c and d]]");
    assert_eq!(pred("a == 1 + 2 * 3"), "[a == [1 + [2 * 3]]]");
    assert_eq!(pred("a < b == c"), "[[a < b] == c]");
    // String operators bind tighter than arithmetic (Kql.g4).
    assert_eq!(pred("x has \"a\" + \"b\""), "[[x has \"a\"] + \"b\"]");
    assert_eq!(pred("-x * 2 > 3"), "[[-x * 2] > 3]");
    assert_eq!(pred("a + b - c + d"), "[a + b - c + d]");
    assert_eq!(pred("(a or b) and c"), "[([a or b]) and c]");
    assert_eq!(
        pred("x in (1, 2) and y !in~ (\"a\")"),
        "[[x in (1, 2)] and [y !in~ (\"a\")]]"
    );
    assert_eq!(
        pred("x between (0 .. 2) or y !between (1..3)"),
        "[[x between (0 .. 2)] or [y !between (1 .. 3)]]"
    );
    assert_eq!(
        pred("x matches regex \"a+\" and y"),
        "[[x matches regex \"a+\"] and y]"
    );
    assert_eq!(pred("a.b[0].c(1) == $left.x"), "[a.b[0].c(1) == $left.x]");
    assert_eq!(pred("not(a == 1)"), "not([a == 1])");
}

#[test]
fn every_string_operator() {
    for op in [
        "==",
        "!=",
        "<>",
        "=~",
        "!~",
        "has",
        "!has",
        "has_cs",
        "!has_cs",
        "hasprefix",
        "!hasprefix",
        "hasprefix_cs",
        "!hasprefix_cs",
        "hassuffix",
        "!hassuffix",
        "hassuffix_cs",
        "!hassuffix_cs",
        "contains",
        "!contains",
        "contains_cs",
        "!contains_cs",
        "containscs",
        "notcontains",
        "notcontainscs",
        "startswith",
        "!startswith",
        "startswith_cs",
        "!startswith_cs",
        "endswith",
        "!endswith",
        "endswith_cs",
        "!endswith_cs",
        "like",
        "notlike",
        "likecs",
        "matches regex",
        "<",
        "<=",
        ">",
        ">=",
        ":",
    ] {
        assert_eq!(
            pred(&format!("Col {op} \"v\"")),
            format!("[Col {op} \"v\"]"),
            "{op}"
        );
    }
    for op in ["in", "in~", "!in", "!in~", "has_any", "has_all"] {
        assert_eq!(
            pred(&format!("Col {op} (\"a\", 'b')")),
            format!("[Col {op} (\"a\", \"b\")]"),
            "{op}"
        );
    }
}

#[test]
fn literals() {
    assert_eq!(pred("x == \"a\" 'b' @\"c\""), "[x == \"abc\"]");
    assert_eq!(
        pred("t > ago(1d) and t < now(-5m)"),
        "[[t > ago(1d)] and [t < now(-5m)]]"
    );
    assert_eq!(
        pred("t > datetime(2021-01-01 10:00)"),
        "[t > datetime(2021-01-01 10:00)]"
    );
    assert_eq!(pred("x == h'secret'"), "[x == \"secret\"]");
    assert_eq!(
        pred("x in (dynamic([\"a\", 1, null]))"),
        "[x in (dynamic([\"a\", 1, null]))]"
    );
    assert_eq!(
        pred("x == dynamic({\"k\": [1, 2]})"),
        "[x == dynamic({\"k\": [1, 2]})]"
    );
    assert_eq!(pred("['Odd Name'] == 1"), "[Odd Name == 1]");
    assert_eq!(pred("x == true"), "[x == true]");
}

#[test]
fn keywords_as_names() {
    let o = ops("T | project kind, type, on, count_, where_ = 1, ['by'] = 2");
    let OpKind::Columns(c) = &o[0].kind else {
        panic!()
    };
    assert_eq!(
        c.iter().map(sx).collect::<Vec<_>>(),
        ["kind", "type", "on", "count_", "where_=1", "by=2"]
    );
}

#[test]
fn operator_families() {
    let text = r#"SecurityEvent
| where EventID == 4688
| filter x
| project A, B = tolower(C)
| project-away Tmp*, ['x y']
| project-rename New = Old
| project-reorder B asc, A
| project-keep A*
| extend D = strcat(A, "x"), (E, F) = (1)
| summarize Count = count(), make_set(A, 10) by bin(TimeGenerated, 1h), Computer
| join kind=leftouter hint.strategy=broadcast (Other | where y) on $left.A == $right.B, Computer
| lookup kind=leftouter (Dim) on Key
| union isfuzzy=true withsource=Src T1, (T2 | take 1), Security*
| mv-expand bagexpansion=array with_itemindex=Ix X to typeof(string), Y limit 100
| mv-apply Z on (where Z has "a" | summarize make_list(Z))
| parse kind=regex flags=Ui Msg with * "user=" User:string " " Rest
| parse-where Msg with "a" B
| parse-kv Msg as (K1:string, K2:long) with (pair_delimiter=",", kv_delimiter="=")
| evaluate bag_unpack(Props)
| make-series Cnt = count() default = 0 on TimeGenerated from ago(7d) to now() step 1h by Computer
| top 10 by Cnt desc nulls last
| top-nested 3 of A by count(), top-nested 2 of B by count()
| sort by A asc, B desc
| order by A
| take 10
| limit 5
| distinct A, B
| count as N
| as hint.materialized=true Named
| invoke f(1)
| render timechart with (title="x")
| serialize rn = row_number()
| sample 10
| getschema
| search "x"
| where C has_any (dynamic(["a"]))"#;
    let o = ops(text);
    let names: Vec<&str> = o.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "where",
            "filter",
            "project",
            "project-away",
            "project-rename",
            "project-reorder",
            "project-keep",
            "extend",
            "summarize",
            "join",
            "lookup",
            "union",
            "mv-expand",
            "mv-apply",
            "parse",
            "parse-where",
            "parse-kv",
            "evaluate",
            "make-series",
            "top",
            "top-nested",
            "sort",
            "order",
            "take",
            "limit",
            "distinct",
            "count",
            "as",
            "invoke",
            "render",
            "serialize",
            "sample",
            "getschema",
            "search",
            "where"
        ]
    );
    let by_name = |n: &str| o.iter().find(|x| x.name == n).unwrap();
    let OpKind::Join { right, on, .. } = &by_name("join").kind else {
        panic!()
    };
    assert_eq!(sx(right), "(Other | where)");
    assert_eq!(
        on.iter().map(sx).collect::<Vec<_>>(),
        ["[$left.A == $right.B]", "Computer"]
    );
    assert_eq!(
        by_name("join")
            .params
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str()))
            .collect::<Vec<_>>(),
        [("kind", "leftouter"), ("hint.strategy", "broadcast")]
    );
    let OpKind::Union(items) = &by_name("union").kind else {
        panic!()
    };
    assert_eq!(
        items.iter().map(sx).collect::<Vec<_>>(),
        ["T1", "(T2 | take)", "Security*"]
    );
    let OpKind::Summarize { aggs, by } = &by_name("summarize").kind else {
        panic!()
    };
    assert_eq!(
        aggs.iter().map(sx).collect::<Vec<_>>(),
        ["Count=count()", "make_set(A, 10)"]
    );
    assert_eq!(
        by.iter().map(sx).collect::<Vec<_>>(),
        ["bin(TimeGenerated, 1h)", "Computer"]
    );
    let OpKind::Parse { source, pattern } = &by_name("parse").kind else {
        panic!()
    };
    assert_eq!(sx(source), "Msg");
    assert_eq!(pattern.len(), 5);
    let OpKind::NameList(cols) = &by_name("project-away").kind else {
        panic!()
    };
    assert_eq!(
        cols.iter().map(|c| sx(&c.expr)).collect::<Vec<_>>(),
        ["Tmp*", "x y"]
    );
    let OpKind::MvApply { on, .. } = &by_name("mv-apply").kind else {
        panic!()
    };
    assert_eq!(sx(on), "(where | summarize)");
    assert!(matches!(by_name("top-nested").kind, OpKind::Generic));
}

#[test]
fn make_series_range_forms() {
    let o = ops("T | make-series c = count() default = 0 on TimeGenerated in range(ago(7d), now(), 1d) by Host");
    let OpKind::MakeSeries {
        aggs,
        on,
        range,
        by,
    } = &o[0].kind
    else {
        panic!()
    };
    assert_eq!(aggs.iter().map(sx).collect::<Vec<_>>(), ["c=count()"]);
    assert_eq!(on.as_ref().map(sx).as_deref(), Some("TimeGenerated"));
    assert_eq!(
        range.iter().map(sx).collect::<Vec<_>>(),
        ["ago(7d)", "now()", "1d"]
    );
    assert_eq!(by.iter().map(sx).collect::<Vec<_>>(), ["Host"]);
    let o = ops("T | make-series sum(x) on t from ago(1d) to now() step 1h");
    let OpKind::MakeSeries { range, .. } = &o[0].kind else {
        panic!()
    };
    assert_eq!(range.len(), 3);
}

#[test]
fn statements_lets_and_functions() {
    let text = r#"let threshold = 5;
let starttime = ago(14d);
let list = dynamic(["a", "b"]);
let allow = datatable(name:string) ["x", "y",];
let tab = materialize(SecurityEvent | where EventID == 1);
let f = (T:(*), name:string = "x") { T | where Account == name };
let g = view () { Syslog };
let h = () { 1 };
let ext = externaldata(a:string, b:int) [@"https://example.com/x.csv"] with (format="csv");
f(tab, "y") | union (g), (toscalar(tab | count) | take 1)"#;
    let p = ok(text);
    assert_eq!(p.ast.statements.len(), 10);
    let lets: Vec<&str> = p
        .ast
        .statements
        .iter()
        .filter_map(|s| match s {
            Statement::Let(l) => Some(l.name.name.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        lets,
        [
            "threshold",
            "starttime",
            "list",
            "allow",
            "tab",
            "f",
            "g",
            "h",
            "ext"
        ]
    );
    let Statement::Let(Let {
        value: LetValue::Function(f),
        ..
    }) = &p.ast.statements[5]
    else {
        panic!()
    };
    assert_eq!(f.params.len(), 2);
    assert!(f.params[0].tabular && !f.params[1].tabular);
    assert!(f.params[1].default.is_some());
    let Statement::Let(Let {
        value: LetValue::Function(g),
        ..
    }) = &p.ast.statements[6]
    else {
        panic!()
    };
    assert!(g.view);
}

#[test]
fn source_operators() {
    for text in [
        "union isfuzzy=true SecurityEvent, (Syslog | where x)",
        "search in (SecurityEvent, Syslog) \"mimikatz\"",
        "search *",
        "find in (SecurityEvent) where Account has \"x\" project Account",
        "print x = 1, y = \"a\"",
        "range i from 1 to 10 step 1",
        "evaluate sql_request(\"x\")",
        "datatable(a:int)[1, 2] | where a > 1",
        "externaldata(a:string)[h@\"https://x\"] | take 1",
    ] {
        ok(text);
    }
}

#[test]
fn lossless_tokens_and_spans() {
    let text = "let x = 1; // c\nT\n| where   a == x // trailing\n| take 5";
    let p = ok(text);
    let joined: String = p.ast.tokens.iter().map(|t| t.text(text)).collect();
    assert_eq!(joined, text);
    let Statement::Query(q) = &p.ast.statements[1] else {
        panic!()
    };
    assert_eq!(q.span.line, 2);
    assert_eq!(q.span.col, 1);
    let ExprKind::Pipe { ops, .. } = &q.kind else {
        panic!()
    };
    assert_eq!((ops[0].span.line, ops[0].span.col), (3, 3));
    assert_eq!(&text[ops[0].span.start..ops[0].span.end], "where   a == x");
}

#[test]
fn error_recovery_keeps_the_rest() {
    // A broken `where`; the next operator still parses.
    let text = "T\n| where a == \n| project b";
    let p = kql::parse(text);
    assert!(p.has_errors());
    let d = p.first_error().unwrap();
    let s = d.span.unwrap();
    assert_eq!((s.line, s.col), (3, 1), "{d:?}");
    let o = match &p.ast.statements[0] {
        Statement::Query(Expr {
            kind: ExprKind::Pipe { ops, .. },
            ..
        }) => ops.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(
        o.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(),
        ["where", "project"]
    );

    // Junk inside an operator: reported, skipped to the next `|`.
    let text = "T | where a == 1 b c | take 1";
    let p = kql::parse(text);
    let d = p.first_error().unwrap();
    assert_eq!(d.span.unwrap().col, 18, "{d:?}");
    let Statement::Query(Expr {
        kind: ExprKind::Pipe { ops, .. },
        ..
    }) = &p.ast.statements[0]
    else {
        panic!()
    };
    assert!(ops[0].junk.is_some());
    assert_eq!(ops[1].name, "take");

    // A broken statement; the next one parses.
    let text = "let x = ;\nlet y = 2;\nT | where z == y";
    let p = kql::parse(text);
    assert!(p.has_errors());
    assert_eq!(p.ast.statements.len(), 3);
    assert!(matches!(p.ast.statements[2], Statement::Query(_)));

    // Unbalanced closing parenthesis inside a pipeline: recover at `)`.
    let text = "(T | where a == ) | take 1";
    let p = kql::parse(text);
    assert!(p.has_errors());
    let Statement::Query(Expr {
        kind: ExprKind::Pipe { ops, .. },
        ..
    }) = &p.ast.statements[0]
    else {
        panic!("{:?}", p.ast.statements)
    };
    assert_eq!(ops[0].name, "take");

    // A missing `;` between statements on separate lines.
    let text = "let a = 1\nT | where x == a";
    let p = kql::parse(text);
    assert_eq!(p.diagnostics.len(), 1);
    assert!(p.diagnostics[0].message.contains("expected `;`"));
    assert_eq!(p.ast.statements.len(), 2);

    // Unknown operator: a warning, the query still parses.
    let p = kql::parse("T | frobnicate a b c | take 1");
    assert!(!p.has_errors());
    assert_eq!(p.diagnostics[0].code, "kql-unknown-operator");
}

#[test]
fn error_positions_in_multiline_text() {
    let text = "let a = 1;\nT\n| where x == \"ok\"\n| where y in~ (\"a\" \"b\" c)\n| take 1";
    let p = kql::parse(text);
    let d = p.first_error().expect("an error");
    let s = d.span.unwrap();
    assert_eq!((s.line, s.col), (4, 24), "{}", d.located());
    let shown = kql::caret(text, s);
    assert_eq!(
        shown,
        "| where y in~ (\"a\" \"b\" c)\n                       ^"
    );
}

#[test]
fn deep_nesting_is_capped() {
    // Within the cap: parsed and lowered on a thread with half the default test stack.
    let run = |text: String| {
        std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                let p = kql::parse(&text);
                let _ = kql::lower(&p, &text, &|_| None);
                p.has_errors()
            })
            .unwrap()
            .join()
            .unwrap()
    };
    let nest = |d: usize| {
        format!(
            "T | where {}x == 1{} | take 1",
            "(".repeat(d),
            ")".repeat(d)
        )
    };
    assert!(!run(nest(kql::MAX_DEPTH - 8)));
    assert!(run(nest(kql::MAX_DEPTH + 5)));
    assert!(run(nest(20_000)));
    let calls = |d: usize| format!("T | where {}x{}", "f(".repeat(d), ")".repeat(d));
    assert!(!run(calls(kql::MAX_DEPTH - 8)));
    assert!(run(calls(20_000)));
    let subq = |d: usize| format!("{}T{}", "(T | join (".repeat(d), ") on x)".repeat(d));
    assert!(!run(subq(kql::MAX_DEPTH / 5)));
    assert!(run(subq(5_000)));
    let lists = |d: usize| format!("T | where x in ({}1{})", "(".repeat(d), ")".repeat(d));
    assert!(!run(lists(kql::MAX_DEPTH - 8)));
    let text = format!("T | where {}1", "-".repeat(50_000));
    let p = kql::parse(&text);
    assert!(p.has_errors());
    let text = format!(
        "print x = dynamic({}1{})",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(kql::parse(&text).has_errors());
    let text = format!("T | where x{}", " in (1)".repeat(10_000));
    let _ = kql::lower(&kql::parse(&text), &text, &|_| None);
}

#[test]
fn long_inputs_are_linear() {
    // 100k operators and a 200k-term condition parse in well under a second each.
    let text = "T".to_string() + &"\n| where a == 1".repeat(100_000);
    let t = std::time::Instant::now();
    let p = kql::parse(&text);
    assert!(!p.has_errors());
    let l = kql::lower(&p, &text, &|_| None);
    assert_eq!(l.logic.stages.len(), 100_001);
    let cond = (0..200_000)
        .map(|i| format!("a{i} == {i}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let text = format!("T | where {cond}");
    let p = kql::parse(&text);
    assert!(!p.has_errors());
    let _ = kql::lower(&p, &text, &|_| None);
    // Wide: 100k columns in one project, and 20k extends.
    let cols = (0..100_000)
        .map(|i| format!("c{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    let text = format!("T | project {cols} | project-away c1, c2");
    let p = kql::parse(&text);
    assert!(!p.has_errors());
    let _ = kql::lower(&p, &text, &|_| None);
    let text = "T".to_string()
        + &(0..20_000)
            .map(|i| format!(" | extend e{i} = {i}"))
            .collect::<String>();
    let p = kql::parse(&text);
    let l = kql::lower(&p, &text, &|_| None);
    assert_eq!(l.outputs.len(), 256);
    // One line of 1 MB: spans stay cheap to compute.
    let text = format!("T | where {}", vec!["x == 'é'"; 100_000].join(" or "));
    let p = kql::parse(&text);
    assert!(!p.has_errors());
    assert!(t.elapsed().as_secs_f64() < 30.0, "took {:?}", t.elapsed());
}
