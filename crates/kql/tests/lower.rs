use ir::{Expr, Logic, Op, Predicate, StageKind, Value};

fn lower_with(text: &str, functions: &dyn Fn(&str) -> Option<String>) -> kql::Lowered {
    let p = kql::parse(text);
    assert!(!p.has_errors(), "{text}: {:?}", p.diagnostics);
    kql::lower(&p, text, functions)
}

fn lower(text: &str) -> kql::Lowered {
    lower_with(text, &|_| None)
}

/// The condition of the first `where` stage.
fn first_filter(l: &Logic) -> &Expr {
    l.stages
        .iter()
        .find_map(|s| match &s.kind {
            StageKind::Filter { expr } => Some(expr),
            _ => None,
        })
        .expect("a filter stage")
}

/// The single predicate of `T | where <cond>`.
fn one(cond: &str) -> Predicate {
    let l = lower(&format!("T | where {cond}"));
    match first_filter(&l.logic) {
        Expr::Pred(p) => p.clone(),
        other => panic!("{cond}: not one predicate: {other:?}"),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

#[test]
#[allow(clippy::type_complexity)]
fn operator_table() {
    // (condition, op, negated, case_sensitive, all, transforms)
    let cases: &[(&str, Op, bool, bool, bool, &[&str])] = &[
        ("F == \"v\"", Op::Eq, false, true, false, &[]),
        ("F != \"v\"", Op::Eq, true, true, false, &[]),
        ("F <> \"v\"", Op::Eq, true, true, false, &[]),
        ("F =~ \"v\"", Op::Eq, false, false, false, &[]),
        ("F !~ \"v\"", Op::Eq, true, false, false, &[]),
        ("F has \"v\"", Op::Token, false, false, false, &[]),
        ("F !has \"v\"", Op::Token, true, false, false, &[]),
        ("F has_cs \"v\"", Op::Token, false, true, false, &[]),
        ("F !has_cs \"v\"", Op::Token, true, true, false, &[]),
        (
            "F hasprefix \"v\"",
            Op::Token,
            false,
            false,
            false,
            &["prefix"],
        ),
        (
            "F !hasprefix_cs \"v\"",
            Op::Token,
            true,
            true,
            false,
            &["prefix"],
        ),
        (
            "F hassuffix \"v\"",
            Op::Token,
            false,
            false,
            false,
            &["suffix"],
        ),
        ("F contains \"v\"", Op::Contains, false, false, false, &[]),
        ("F !contains \"v\"", Op::Contains, true, false, false, &[]),
        ("F contains_cs \"v\"", Op::Contains, false, true, false, &[]),
        ("F containscs \"v\"", Op::Contains, false, true, false, &[]),
        ("F notcontains \"v\"", Op::Contains, true, false, false, &[]),
        ("F !contains_cs \"v\"", Op::Contains, true, true, false, &[]),
        (
            "F startswith \"v\"",
            Op::StartsWith,
            false,
            false,
            false,
            &[],
        ),
        (
            "F !startswith_cs \"v\"",
            Op::StartsWith,
            true,
            true,
            false,
            &[],
        ),
        ("F endswith \"v\"", Op::EndsWith, false, false, false, &[]),
        ("F !endswith \"v\"", Op::EndsWith, true, false, false, &[]),
        ("F endswith_cs \"v\"", Op::EndsWith, false, true, false, &[]),
        ("F matches regex \"v\"", Op::Regex, false, true, false, &[]),
        ("F < \"v\"", Op::Lt, false, true, false, &[]),
        ("F <= \"v\"", Op::Le, false, true, false, &[]),
        ("F > \"v\"", Op::Gt, false, true, false, &[]),
        ("F >= \"v\"", Op::Ge, false, true, false, &[]),
        ("F in (\"v\")", Op::Eq, false, true, false, &[]),
        ("F in~ (\"v\")", Op::Eq, false, false, false, &[]),
        ("F !in (\"v\")", Op::Eq, true, true, false, &[]),
        ("F !in~ (\"v\")", Op::Eq, true, false, false, &[]),
        ("F has_any (\"v\")", Op::Token, false, false, false, &[]),
        ("F has_all (\"v\")", Op::Token, false, false, true, &[]),
        ("F : \"v\"", Op::Token, false, false, false, &[]),
    ];
    for (cond, op, negated, cased, all, transforms) in cases {
        let p = one(cond);
        assert_eq!(p.field.as_deref(), Some("F"), "{cond}");
        assert_eq!(p.op, *op, "{cond}");
        assert_eq!(p.negated, *negated, "{cond}");
        assert_eq!(p.case_sensitive, *cased, "{cond}");
        assert_eq!(p.all, *all, "{cond}");
        assert_eq!(p.transforms, *transforms, "{cond}");
        assert_eq!(p.values, [s("v")], "{cond}");
        assert_eq!(p.raw, *cond);
    }
}

#[test]
fn values_and_constants() {
    assert_eq!(one("EventID == 4688").values, [Value::Int(4688)]);
    assert_eq!(
        one("EventID in (4624, 4625)").values,
        [Value::Int(4624), Value::Int(4625)]
    );
    assert_eq!(one("Score > 1.5").values, [Value::Float(1.5)]);
    assert_eq!(one("Flag == true").values, [Value::Bool(true)]);
    assert_eq!(one("X == -5").values, [Value::Int(-5)]);
    let p = one("TimeGenerated > ago(1d)");
    assert_eq!(
        (p.op, p.values.clone(), p.transforms.clone()),
        (Op::Gt, vec![s("ago(1d)")], vec!["expr".to_string()])
    );
    let p = one("Duration > 5m");
    assert_eq!(
        (p.values.clone(), p.transforms.clone()),
        (vec![s("5m")], vec!["timespan".to_string()])
    );
    let p = one("TimeGenerated > datetime(2021-01-01)");
    assert_eq!(
        (p.values.clone(), p.transforms.clone()),
        (vec![s("2021-01-01")], vec!["datetime".to_string()])
    );
    // A constant on the left is swapped, with the comparison mirrored.
    let p = one("10 < Count");
    assert_eq!(
        (p.field.as_deref(), p.op, p.values.clone()),
        (Some("Count"), Op::Gt, vec![Value::Int(10)])
    );
    // Adjacent and obfuscated strings.
    assert_eq!(one("F == 'a' \"b\" h@'c'").values, [s("abc")]);
}

#[test]
fn let_constants_are_inlined() {
    let text = r#"let allow = dynamic(["a.exe", "b.exe"]);
let one = "c.exe";
let ids = datatable(id:int) [1, 2, 3];
let n = 5;
let start = ago(7d);
let words = split("x,y", ",");
T
| where F !in~ (allow) and G == one and H in (ids) and I > n and TimeGenerated >= start and J has_any (words)"#;
    let l = lower(text);
    let Expr::And { of } = first_filter(&l.logic) else {
        panic!()
    };
    let preds: Vec<&Predicate> = of
        .iter()
        .map(|e| match e {
            Expr::Pred(p) => p,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(preds[0].values, [s("a.exe"), s("b.exe")]);
    assert!(preds[0].negated && !preds[0].case_sensitive);
    assert_eq!(preds[1].values, [s("c.exe")]);
    assert_eq!(
        preds[2].values,
        [Value::Int(1), Value::Int(2), Value::Int(3)]
    );
    assert_eq!(preds[3].values, [Value::Int(5)]);
    assert_eq!(
        (preds[4].values.clone(), preds[4].transforms.clone()),
        (vec![s("ago(7d)")], vec!["expr".to_string()])
    );
    assert_eq!(preds[5].values, [s("x"), s("y")]);
    // Each let is a named stage; tables are not let names.
    let names: Vec<&str> = l
        .logic
        .stages
        .iter()
        .filter(|s| matches!(s.kind, StageKind::Let { .. }))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["allow", "one", "ids", "n", "start", "words"]);
    assert_eq!(l.tables, ["T"]);
}

#[test]
fn wrappers_fields_and_field_refs() {
    let p = one("tolower(Cmd) == \"abc\"");
    assert_eq!(
        (p.field.as_deref(), p.op, p.case_sensitive),
        (Some("Cmd"), Op::Eq, false)
    );
    let p = one("tostring(Props.Name) =~ \"x\"");
    assert_eq!(p.field.as_deref(), Some("Props.Name"));
    let p = one("strlen(CommandLine) > 100");
    assert_eq!(
        (p.field.as_deref(), p.op),
        (Some("strlen(CommandLine)"), Op::Gt)
    );
    let p = one("LocalIP !~ RemoteIP");
    assert_eq!(
        (p.op, p.negated, p.case_sensitive, p.values.clone()),
        (Op::FieldRef, true, false, vec![s("RemoteIP")])
    );
    let p = one("* has \"mimikatz\"");
    assert_eq!((p.field.clone(), p.op), (None, Op::Token));
    let p = one("isnotempty(User)");
    assert_eq!(
        (p.field.as_deref(), p.op, p.negated),
        (Some("User"), Op::Exists, false)
    );
    let p = one("isempty(User)");
    assert!(p.negated);
    let p = one("ipv4_is_in_range(SrcIp, \"10.0.0.0/8\")");
    assert_eq!((p.op, p.values.clone()), (Op::Cidr, vec![s("10.0.0.0/8")]));
    let p = one("has_any_ipv4(Message, dynamic([\"1.2.3.4\", \"5.6.7.8\"]))");
    assert_eq!((p.op, p.values.len()), (Op::Token, 2));
}

#[test]
fn boolean_structure() {
    let l = lower("T | where (A == 1 or B == 2) and not(C has \"x\") and D between (1 .. 5) and E !between (0 .. 9)");
    let Expr::And { of } = first_filter(&l.logic) else {
        panic!()
    };
    assert_eq!(of.len(), 4);
    assert!(matches!(&of[0], Expr::Or { of } if of.len() == 2));
    assert!(matches!(&of[1], Expr::Not { .. }));
    match &of[2] {
        Expr::And { of } => {
            let ops: Vec<Op> = of
                .iter()
                .map(|e| {
                    if let Expr::Pred(p) = e {
                        p.op
                    } else {
                        panic!()
                    }
                })
                .collect();
            assert_eq!(ops, [Op::Ge, Op::Le]);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(&of[3], Expr::Not { expr } if matches!(**expr, Expr::And { .. })));
}

#[test]
fn unmodeled_is_explicit() {
    let l = lower("T | where A > B + 1 and X like \"%a\" and iff(A, true, false)");
    let Expr::And { of } = first_filter(&l.logic) else {
        panic!()
    };
    assert_eq!(of.len(), 3);
    for e in of {
        let Expr::Unmodeled { text, why } = e else {
            panic!("{e:?}")
        };
        assert!(!text.is_empty() && !why.is_empty());
    }
}

#[test]
fn pipelines_are_dataflow() {
    let text = "let base = SecurityEvent | where EventID == 4624;
base
| join kind=leftouter hint.strategy=shuffle (SigninLogs | where ResultType == 0) on $left.Account == $right.UserPrincipalName, Computer
| union isfuzzy=true withsource=Table Syslog, (Event | where Source == \"x\")
| lookup (Dim) on Key
| summarize Count = count(), dcount(User) by Account, bin(TimeGenerated, 1h)
| where Count > 5
| extend Ratio = Count / 2
| project-away Tmp
| project-rename Who = Account
| sort by Count desc
| top 10 by Ratio asc
| take 3";
    let l = lower(text);
    let st = &l.logic.stages;
    let kinds: Vec<&str> = st.iter().map(|s| s.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "source",
            "filter",
            "view",
            "source",
            "filter",
            "join",
            "source",
            "source",
            "filter",
            "union",
            "source",
            "lookup",
            "aggregate",
            "filter",
            "extend",
            "project_away",
            "rename",
            "sort",
            "take",
            "take"
        ]
    );
    let by_kind = |k: &str| st.iter().find(|s| s.kind.name() == k).unwrap();
    let join = by_kind("join");
    assert_eq!(join.inputs, [2, 4]);
    let StageKind::Join {
        mode,
        implicit_mode,
        on,
        hints,
    } = &join.kind
    else {
        panic!()
    };
    assert_eq!(mode, "leftouter");
    assert!(!implicit_mode);
    assert_eq!(
        on,
        &[
            ("Account".to_string(), "UserPrincipalName".to_string()),
            ("Computer".to_string(), "Computer".to_string())
        ]
    );
    assert_eq!(
        hints,
        &[("hint.strategy".to_string(), "shuffle".to_string())]
    );
    let union = by_kind("union");
    assert_eq!(union.inputs, [5, 6, 8]);
    assert!(
        matches!(&union.kind, StageKind::Union { fuzzy: true, withsource: Some(w) } if w == "Table")
    );
    let StageKind::Lookup { mode, .. } = &by_kind("lookup").kind else {
        panic!()
    };
    assert_eq!(mode, "leftouter");
    let StageKind::Aggregate {
        by,
        aggs,
        within_secs,
        ..
    } = &by_kind("aggregate").kind
    else {
        panic!()
    };
    assert_eq!(by, &["Account", "bin(TimeGenerated, 1h)"]);
    assert_eq!(
        aggs.iter().map(|a| a.alias.as_str()).collect::<Vec<_>>(),
        ["Count", "dcount_User"]
    );
    assert_eq!(*within_secs, Some(3600));
    // Every stage but the first sources feeds the next: the output is the last take.
    assert_eq!(l.logic.output, st.len() - 1);
    assert_eq!(
        l.tables,
        ["SecurityEvent", "SigninLogs", "Syslog", "Event", "Dim"]
    );
    assert_eq!(
        l.outputs,
        [
            "Who",
            "bin(TimeGenerated, 1h)",
            "Count",
            "dcount_User",
            "Ratio"
        ]
    );
    // Stage text and spans point into the query.
    let f = by_kind("lookup");
    assert_eq!(f.text, "lookup (Dim) on Key");
    assert_eq!(f.span.unwrap().line, 5);
}

#[test]
fn subqueries_are_stages_and_inputs() {
    let text = "let threshold = toscalar(T | where A == 1 | count);
let bad = (U | where B has \"x\" | project Id);
S | where C > threshold and Id in (bad) and D in ((V | where E == 2 | project D))";
    let l = lower(text);
    // Every `where` at any depth is a filter stage.
    let filters: Vec<String> = l
        .logic
        .stages
        .iter()
        .filter(|s| matches!(s.kind, StageKind::Filter { .. }))
        .map(|s| s.text.clone())
        .collect();
    assert_eq!(filters.len(), 4, "{filters:?}");
    // The sub-queries' predicates are reachable from the output.
    let reached: Vec<String> = l
        .logic
        .predicates_with_polarity()
        .iter()
        .map(|(p, _)| p.raw.clone())
        .collect();
    for want in ["A == 1", "B has \"x\"", "E == 2"] {
        assert!(
            reached.iter().any(|r| r == want),
            "{want} not in {reached:?}"
        );
    }
    assert_eq!(l.tables, ["T", "U", "S", "V"]);
}

#[test]
fn functions_and_lambdas() {
    // Workspace functions are resolved through the callback.
    let bodies = |name: &str| match name {
        "MyParser" => Some("union (SecurityEvent | where EventID == 1), (Inner())".to_string()),
        "Inner" => Some("WindowsEvent".to_string()),
        _ => None,
    };
    let l = lower_with("MyParser | where Account == \"x\"", &bodies);
    assert_eq!(
        l.tables,
        ["MyParser", "SecurityEvent", "Inner", "WindowsEvent"]
    );

    // `table(name)` in a let lambda: each call reads its own table.
    let text = "let f = (t:string) { table(t) | where X == 1 };
union f(\"A\"), f(\"B\")";
    let l = lower(text);
    assert_eq!(l.tables, ["A", "B"]);
    assert_eq!(
        l.logic
            .stages
            .iter()
            .filter(|s| matches!(s.kind, StageKind::Invoke { .. }))
            .count(),
        2
    );

    // A tabular parameter bound to a table; `invoke` binds the piped input.
    let text = "let g = (T:(*), v:long) { T | where Level > v };
g(Syslog, 3) | invoke g(4)";
    let l = lower(text);
    assert_eq!(l.tables, ["Syslog"]);
    let mut values: Vec<String> = l
        .logic
        .predicates_with_polarity()
        .iter()
        .flat_map(|(p, _)| p.values.iter().map(|v| v.text()))
        .collect();
    values.sort();
    assert_eq!(values, ["3", "4"]);

    // A scalar lambda used as a condition is inlined with its argument.
    let l = lower("let isBad = (x:string) { x has \"evil\" }; T | where isBad(Cmd)");
    let Expr::Pred(p) = first_filter(&l.logic) else {
        panic!()
    };
    assert_eq!((p.field.as_deref(), p.op), (Some("Cmd"), Op::Token));
}

#[test]
fn every_operator_has_a_stage() {
    let text = r#"T
| mv-expand X to typeof(string)
| mv-apply Y on (where Y has "a")
| parse Msg with * "user=" User " " *
| parse-kv Kv as (K:string) with (pair_delimiter=",")
| evaluate bag_unpack(Props)
| make-series C = count() on TimeGenerated step 1h by Host
| distinct Host
| count
| as Named
| render timechart
| serialize
| sample 5
| getschema
| frobnicate 1"#;
    let p = kql::parse(text);
    let l = kql::lower(&p, text, &|_| None);
    let kinds: Vec<(&str, &str)> = l
        .logic
        .stages
        .iter()
        .map(|s| (s.name.as_str(), s.kind.name()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("T", "source"),
            ("mv-expand", "mv_expand"),
            ("mv-apply", "operator"),
            ("where", "filter"),
            ("parse", "parse"),
            ("parse-kv", "parse"),
            ("evaluate", "evaluate"),
            ("make-series", "aggregate"),
            ("distinct", "distinct"),
            ("count", "aggregate"),
            ("as", "operator"),
            ("render", "operator"),
            ("serialize", "operator"),
            ("sample", "operator"),
            ("getschema", "operator"),
            ("frobnicate", "operator"),
        ]
    );
    let parse = l.logic.stages.iter().find(|s| s.name == "parse").unwrap();
    assert!(
        matches!(&parse.kind, StageKind::Parse { field, outputs, .. } if field == "Msg" && outputs == &["User"])
    );
}

#[test]
fn syntax_errors_become_unmodeled_stages() {
    let text = "let x = ;\nT | where A == 1 | where B == | take 1";
    let p = kql::parse(text);
    assert!(p.has_errors());
    let l = kql::lower(&p, text, &|_| None);
    assert!(l
        .logic
        .stages
        .iter()
        .any(|s| s.name == "x" && matches!(s.kind, StageKind::Unmodeled { .. })));
    let broken = l.logic.stages.iter().filter_map(|s| match &s.kind {
        StageKind::Filter {
            expr: Expr::Unmodeled { why, .. },
        } => Some(why.clone()),
        _ => None,
    });
    assert_eq!(broken.count(), 1);
    // The good predicate is still there.
    assert!(l
        .logic
        .predicates_with_polarity()
        .iter()
        .any(|(p, _)| p.raw == "A == 1"));
}

#[test]
fn new_stage_kinds_round_trip_through_json() {
    let text = "let a = dynamic([1]); let v = T | where x == 1; let f = (t:string) { table(t) };
v | join (U) on k | lookup (W) on k | union X | mv-expand m | parse p with * \"a\" q | sort by z | take 1
| distinct d | evaluate e() | extend y = 1 | project-away y | project-rename n = o | render table | invoke f(\"Q\")";
    let l = lower(text);
    let json = serde_json::to_string(&l.logic).unwrap();
    let back: Logic = serde_json::from_str(&json).unwrap();
    assert_eq!(back, l.logic);
    for k in [
        "\"kind\":\"let\"",
        "\"kind\":\"view\"",
        "\"kind\":\"function\"",
        "\"kind\":\"join\"",
        "\"kind\":\"mv_expand\"",
        "\"kind\":\"invoke\"",
    ] {
        assert!(json.contains(k), "{k}");
    }
}

#[test]
fn shifted_spans_point_into_the_file() {
    let file = "id: x\nquery: |\n  T\n  | where A == 1\n";
    let query = "T\n| where A == 1\n";
    let origin = kql::Origin {
        line_offset: 2,
        byte_offset: file.find("T\n").unwrap(),
        indent: 2,
    };
    let l = lower(query);
    let f = l.logic.stages.iter().find(|s| s.name == "where").unwrap();
    let span = kql::shift_span(f.span.unwrap(), origin);
    assert_eq!((span.line, span.col), (4, 5));
    assert_eq!(&file[span.start..span.end], "where A == 1");
}
