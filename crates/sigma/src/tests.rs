//! Unit tests over small inline rules: every feature of the front end.

use ir::{CmpOp, CorrelationKind, Expr, Op, Predicate, Quant, Rule, Severity, StageKind, Telemetry, Value};

use crate::detection::{analyse, sigma_tokens};
use crate::yaml::{self, LineIndex, Style};
use crate::{looks_like_sigma, parse_file, FileResult};

fn file(src: &str) -> FileResult {
    parse_file("test", "rules/x.yml", src)
}

fn one(src: &str) -> Rule {
    let r = file(src);
    assert!(r.is_sigma, "not recognised as Sigma");
    assert!(r.failures.is_empty(), "failures: {:?}", r.failures);
    assert_eq!(r.rules.len(), 1, "rules: {:?}", r.rules.iter().map(|r| &r.title).collect::<Vec<_>>());
    r.rules.into_iter().next().unwrap()
}

fn errors(r: &Rule) -> Vec<&ir::Diagnostic> {
    r.diagnostics.iter().filter(|d| d.severity == Severity::Error).collect()
}

fn clean(src: &str) -> Rule {
    let r = one(src);
    assert!(errors(&r).is_empty(), "errors: {:?}", r.diagnostics);
    r
}

fn stage<'a>(r: &'a Rule, name: &str) -> &'a ir::Stage {
    r.logic.stages.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no stage {name}"))
}

fn sel_expr<'a>(r: &'a Rule, name: &str) -> &'a Expr {
    match &stage(r, name).kind {
        StageKind::Selection { expr } => expr,
        k => panic!("{name} is {k:?}"),
    }
}

fn cond_expr(r: &Rule) -> &Expr {
    match &r.logic.stages[0].kind {
        StageKind::Condition { expr } => expr,
        k => panic!("stage 0 is {k:?}"),
    }
}

/// A rule with one selection `sel` made of `body` (indented under it).
fn sel_rule(body: &str) -> Rule {
    let body: String = body.lines().map(|l| format!("    {l}\n")).collect();
    one(&format!("title: t\nlogsource:\n  product: windows\ndetection:\n  sel:\n{body}  condition: sel\n"))
}

fn pred(r: &Rule) -> &Predicate {
    match sel_expr(r, "sel") {
        Expr::Pred(p) => p,
        e => panic!("not a single predicate: {e:?}"),
    }
}

fn s(v: &str) -> Value {
    Value::Str(v.into())
}

// ---------------------------------------------------------------- YAML tree

#[test]
fn yaml_spans_are_bytes_and_one_based_positions() {
    let text = "a: b\nc:\n  - 'q'\n  - {x: [1, 2]}\nd: é ü\ne: z\n";
    let lines = LineIndex::new(text);
    let st = yaml::load(text, &lines);
    assert!(st.error.is_none());
    let root = st.docs[0].root.as_ref().unwrap();
    let (k, v) = root.get_pair("c").unwrap();
    assert_eq!(lines.pos(k.start), (2, 1));
    let items = v.as_seq().unwrap();
    assert_eq!(items[0].src(text), "'q'");
    assert_eq!(items[0].style(), Some(Style::SingleQuoted));
    assert_eq!(lines.pos(items[0].start), (3, 5));
    assert_eq!(items[1].src(text), "{x: [1, 2]}");
    let d = root.get("d").unwrap();
    assert_eq!(d.src(text), "é ü");
    let (ek, _) = root.get_pair("e").unwrap();
    // Byte offsets, not character indexes, after non-ASCII text.
    assert_eq!(&text[ek.start..ek.end], "e");
    assert_eq!(lines.pos(ek.start), (6, 1));
    assert_eq!(lines.pos(d.start + "é ".len()), (5, 6));
}

#[test]
fn yaml_block_and_multiline_scalars_end_where_they_end() {
    let text = "k: |\n  line1\n  line2\n\n# comment\nm: >-\n  a\n  b\nn: plain\n  continued\n# c\no: 1\n";
    let lines = LineIndex::new(text);
    let st = yaml::load(text, &lines);
    let root = st.docs[0].root.as_ref().unwrap();
    assert_eq!(root.get("k").unwrap().src(text), "|\n  line1\n  line2");
    assert_eq!(root.get("k").unwrap().as_str(), Some("line1\nline2\n"));
    assert_eq!(root.get("m").unwrap().src(text), ">-\n  a\n  b");
    assert_eq!(root.get("n").unwrap().src(text), "plain\n  continued");
    assert_eq!(root.get("n").unwrap().as_str(), Some("plain continued"));
    assert_eq!(root.get("o").unwrap().src(text), "1");
}

#[test]
fn yaml_core_schema_scalars() {
    let text = "a: 4688\nb: '4688'\nc: null\nd: ~\ne:\nf: true\ng: False\nh: 1.5\ni: 0x1F\nj: 0o17\nk: -3\nl: 1e3\nm: 1.2.3\nn: \"true\"\no: !!str 12\np: 99999999999999999999\nq: ''\n";
    let lines = LineIndex::new(text);
    let st = yaml::load(text, &lines);
    let root = st.docs[0].root.as_ref().unwrap();
    let v = |k: &str| root.get(k).unwrap().value().unwrap();
    assert_eq!(v("a"), Value::Int(4688));
    assert_eq!(v("b"), s("4688"));
    assert_eq!(v("c"), Value::Null);
    assert_eq!(v("d"), Value::Null);
    assert_eq!(v("e"), Value::Null);
    assert_eq!(v("f"), Value::Bool(true));
    assert_eq!(v("g"), Value::Bool(false));
    assert_eq!(v("h"), Value::Float(1.5));
    assert_eq!(v("i"), Value::Int(31));
    assert_eq!(v("j"), Value::Int(15));
    assert_eq!(v("k"), Value::Int(-3));
    assert_eq!(v("l"), Value::Float(1000.0));
    assert_eq!(v("m"), s("1.2.3"));
    assert_eq!(v("n"), s("true"));
    assert_eq!(v("o"), s("12"));
    assert_eq!(v("p"), s("99999999999999999999"));
    assert_eq!(v("q"), s(""));
    // YAML 1.1 words are plain strings in 1.2.
    assert_eq!(yaml::resolve_scalar("yes", Style::Plain), s("yes"));
    assert_eq!(yaml::resolve_scalar("No", Style::Plain), s("No"));
}

#[test]
fn yaml_duplicate_keys_are_kept_and_reported() {
    let src = "title: t\nlogsource:\n  product: windows\ndetection:\n  sel:\n    A: 1\n    A: 2\n  condition: sel\n";
    let r = one(src);
    let w: Vec<_> = r.diagnostics.iter().filter(|d| d.code == "duplicate-key").collect();
    assert_eq!(w.len(), 1, "{:?}", r.diagnostics);
    assert_eq!(w[0].severity, Severity::Warning);
    let sp = w[0].span.unwrap();
    assert_eq!((sp.line, sp.col), (7, 5));
    assert!(w[0].message.contains("first at 6:5"), "{}", w[0].message);
    // Both entries are kept in the tree, and in the selection.
    match sel_expr(&r, "sel") {
        Expr::And { of } => assert_eq!(of.len(), 2),
        e => panic!("{e:?}"),
    }
}

#[test]
fn yaml_depth_is_capped() {
    let deep = format!("title: x\ndetection: {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
    let r = file(&deep);
    assert!(r.is_sigma);
    assert!(r.rules.is_empty());
    assert_eq!(r.failures.len(), 1, "{:?}", r.failures);
    let f = &r.failures[0];
    assert_eq!(f.code, "yaml-depth");
    let sp = f.span.unwrap();
    assert_eq!(sp.line, 2);
    assert!(sp.col > 100);
    // A deep block structure as well.
    let mut block = String::from("detection:\n");
    for i in 0..300 {
        block.push_str(&" ".repeat(2 * (i + 1)));
        block.push_str(&format!("k{i}:\n"));
    }
    let r = file(&block);
    assert_eq!(r.failures[0].code, "yaml-depth");
    // Just below the cap is fine.
    let ok = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
    let lines = LineIndex::new(&ok);
    assert!(yaml::load(&ok, &lines).docs[0].failure.is_none());
}

#[test]
fn yaml_aliases_are_bounded() {
    let mut src = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 0..8 {
        let prev = if i == 0 { "a".to_string() } else { format!("l{}", i - 1) };
        src.push_str(&format!(
            "l{i}: &l{i} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
        ));
    }
    let lines = LineIndex::new(&src);
    let st = yaml::load(&src, &lines);
    let d = &st.docs[0];
    assert!(d.diags.iter().any(|d| d.code == "yaml-alias"));
    assert!(d.root.as_ref().unwrap().size() < 100_000);
}

// ---------------------------------------------------------------- file level

#[test]
fn not_sigma_yaml_is_ignored() {
    let info = "id: a86306af-137b-427f-9e39-680199937bd0\ndescription: N/A\nrule_metadata:\n  - id: x\n    title: y\nregression_tests_info:\n  - name: Positive\n";
    let r = file(info);
    assert!(!r.is_sigma && r.rules.is_empty() && r.failures.is_empty());
    let sentinel = "id: 1\nname: DCOM\nquery: |\n  SecurityEvent\n  | where EventID == 4688\nseverity: Medium\n";
    assert!(!file(sentinel).is_sigma);
    assert!(!file("").is_sigma);
    assert!(!file("just text").is_sigma);
    assert!(!file("- a\n- b\n").is_sigma);
}

#[test]
fn looks_like_sigma_on_raw_text() {
    assert!(looks_like_sigma("title: x\ndetection:\n  sel: 1\n"));
    assert!(looks_like_sigma("correlation:\n  type: temporal\n"));
    assert!(looks_like_sigma("\u{feff}detection: x"));
    assert!(looks_like_sigma("'detection':\n"));
    assert!(looks_like_sigma("title: f\nlogsource:\n  product: w\nfilter:\n  rules: [a]\n"));
    assert!(!looks_like_sigma("filter:\n  x: 1\n"));
    assert!(!looks_like_sigma("title: x\n  detection:\n"));
    assert!(!looks_like_sigma("# detection:\nquery: x\n"));
    assert!(!looks_like_sigma("detections: x\n"));
    assert!(!looks_like_sigma("detection_rule: x\n"));
}

#[test]
fn invalid_yaml_that_looks_like_sigma_is_one_failure_with_position() {
    let src = "title: t\nlogsource:\n  product: windows\ndetection:\n  sel:\n\tImage: x\n  condition: sel\n";
    let r = file(src);
    assert!(r.is_sigma);
    assert!(r.rules.is_empty());
    assert_eq!(r.failures.len(), 1);
    let f = &r.failures[0];
    assert_eq!(f.code, "yaml");
    assert_eq!(f.severity, Severity::Error);
    let sp = f.span.unwrap();
    assert_eq!(sp.line, 6, "{f:?}");
    assert!(f.message.starts_with("invalid YAML: "), "{}", f.message);
    assert!(f.message.contains("tab"), "{}", f.message);
    let src = "title: 'unterminated\ndetection:\n  sel: x\n";
    let r = file(src);
    assert!(r.is_sigma && r.rules.is_empty() && r.failures.len() == 1);
    // Reported where the unterminated quoted scalar starts.
    assert!(r.failures[0].located().starts_with("1:8: invalid YAML"), "{}", r.failures[0].located());
}

#[test]
fn garbage_text_does_not_panic() {
    let inputs = [
        "\0\0\0\u{1}\u{2}detection:",
        "{{{{{{{{",
        "]]]]]]",
        "detection: [\n",
        ":\n:\n:",
        "- - - - -",
        "&a *a",
        "detection: *nope\n",
        "? [a]\n: b\ndetection: x",
        "\u{feff}\u{feff}detection: 1",
        "detection:\n  sel: [}\n",
        "%YAML 1.2\n---\ndetection: 1\n",
        "--- |\n  x\n--- >\n y\n",
        "detection: \"\\x\"\n",
        "detection:\n  condition: |\n    a\n     and\n  a: 1\n",
        "\r\ndetection:\r\n  s: x\r\n  condition: s\r\n",
    ];
    for i in inputs {
        let r = file(i);
        for rule in &r.rules {
            for d in &rule.diagnostics {
                assert!(d.span.is_some(), "{i:?}: {d:?}");
            }
        }
        for f in &r.failures {
            assert!(f.span.is_some(), "{i:?}: {f:?}");
        }
    }
    // Pseudo-random printable junk.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    let alphabet: Vec<char> = "ab:- \n\t'\"[]{}|>#&*!%@`,?\\é".chars().collect();
    for _ in 0..300 {
        let mut t = String::from("detection:\n");
        for _ in 0..200 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            t.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        let _ = file(&t);
    }
}

#[test]
fn empty_and_non_map_documents() {
    let r = file("---\n---\ntitle: a\nlogsource: {product: w}\ndetection:\n  s: {A: 1}\n  condition: s\n---\n");
    assert_eq!(r.rules.len(), 1);
    assert!(r.failures.is_empty(), "{:?}", r.failures);
    let r = file("title: a\ndetection:\n  s: {A: 1}\n  condition: s\n---\n- x\n---\ntitle: only meta\n");
    assert_eq!(r.rules.len(), 1);
    assert_eq!(r.failures.len(), 2, "{:?}", r.failures);
    assert!(r.failures.iter().all(|f| f.code == "not-a-rule"));
    assert_eq!(r.failures[0].span.unwrap().line, 6);
    assert_eq!(r.failures[1].span.unwrap().line, 8);
}

// ---------------------------------------------------------------- metadata

const META: &str = r#"title: Impacket DCOMexec
id: 5f0d7a2c-0000-4000-8000-000000000001
name: dcom_mmc
description: |
  Detects things.
status: experimental
level: HIGH
author: someone
date: 2021-01-01
modified: 2022/02/02
references:
  - https://a
  - https://b
falsepositives: admin activity
tags:
  - attack.lateral_movement
  - attack.t1021.003
  - attack.T1021.003
  - attack.lateral-movement
  - attack.g0016
  - attack.s0002
  - attack.defense-impairment
  - cve.2021-1234
logsource:
  product: windows
  category: process_creation
fields:
  - CommandLine
related:
  - id: x
    type: derived
license: DRL
scope: [server]
custom: {a: [1, true, null, 'x']}
detection:
  sel:
    EventID: 4688
  condition: sel
"#;

#[test]
fn metadata_is_lowered() {
    let r = clean(META);
    assert_eq!(r.title, "Impacket DCOMexec");
    assert_eq!(r.own_id.as_deref(), Some("5f0d7a2c-0000-4000-8000-000000000001"));
    assert_eq!(r.id, "5f0d7a2c-0000-4000-8000-000000000001");
    assert_eq!(r.source, ir::Source::Sigma);
    assert_eq!(
        (r.origin.as_str(), r.path.as_str(), r.doc_index, r.kind.as_str()),
        ("test", "rules/x.yml", 0, "detection")
    );
    assert_eq!(r.name.as_deref(), Some("dcom_mmc"));
    assert_eq!(r.description, "Detects things.\n");
    assert_eq!(r.status.as_deref(), Some("experimental"));
    assert_eq!(r.level.as_deref(), Some("high"));
    assert_eq!(r.author.as_deref(), Some("someone"));
    assert_eq!(r.date.as_deref(), Some("2021-01-01"));
    assert_eq!(r.modified.as_deref(), Some("2022/02/02"));
    assert_eq!(r.references, vec!["https://a", "https://b"]);
    assert_eq!(r.falsepositives, vec!["admin activity"]);
    assert_eq!(r.tags.len(), 8);
    let techniques: Vec<&str> = r.attack.iter().map(|a| a.technique.as_str()).collect();
    assert_eq!(techniques, vec!["T1021.003"]);
    assert!(r.attack.iter().all(|a| a.name.is_none()));
    assert_eq!(r.tactics, vec!["lateral-movement", "defense-impairment"]);
    assert_eq!(
        r.declared,
        vec![Telemetry::LogSource {
            product: Some("windows".into()),
            category: Some("process_creation".into()),
            service: None
        }]
    );
    for k in ["logsource", "fields", "related", "license", "scope", "custom"] {
        assert!(r.meta.contains_key(k), "meta lacks {k}");
    }
    for k in ["title", "id", "detection", "tags", "level"] {
        assert!(!r.meta.contains_key(k), "meta has {k}");
    }
    assert_eq!(r.meta["custom"], serde_json::json!({"a": [1, true, null, "x"]}));
    assert_eq!(r.meta["logsource"], serde_json::json!({"product": "windows", "category": "process_creation"}));
    assert_eq!(r.raw, META);
    assert_eq!(r.raw_line, 1);
}

#[test]
fn rules_without_id_get_a_stable_hash() {
    let src = "title: a\ndetection:\n  s: {A: 1}\n  condition: s\n";
    let r = clean(src);
    assert_eq!(r.own_id, None);
    assert_eq!(r.id, ir::short_hash(&["sigma", "rules/x.yml", "0"]));
    assert_eq!(r.id.len(), 16);
    assert!(r.declared.is_empty());
    // Tags as a single string.
    let r = clean("title: a\ntags: attack.t1059\ndetection:\n  s: {A: 1}\n  condition: s\n");
    assert_eq!(r.attack[0].technique, "T1059");
    assert_eq!(r.tags, vec!["attack.t1059"]);
}

// ---------------------------------------------------------------- stages

#[test]
fn stages_condition_then_selections_with_text_and_spans() {
    let src = "title: t\ndetection:\n  selection_basic:\n    EventID: 4688\n    Version: 2  # note\n  filter:\n    - A: 1\n    - B: 2\n\n  condition: selection_basic and not filter\nlevel: high\n";
    let r = clean(src);
    let names: Vec<&str> = r.logic.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["condition", "selection_basic", "filter"]);
    assert_eq!(r.logic.output, 0);
    let ids: Vec<usize> = r.logic.stages.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![0, 1, 2]);
    let c = &r.logic.stages[0];
    assert_eq!(c.text, "selection_basic and not filter");
    let sp = c.span.unwrap();
    assert_eq!((sp.line, sp.col), (10, 14));
    assert_eq!(&src[sp.start..sp.end], "selection_basic and not filter");
    let s1 = &r.logic.stages[1];
    assert_eq!(s1.text, "selection_basic:\n  EventID: 4688\n  Version: 2");
    assert_eq!(s1.span.map(|s| (s.line, s.col)), Some((3, 3)));
    assert_eq!(r.logic.stages[2].text, "filter:\n  - A: 1\n  - B: 2");
    assert_eq!(
        cond_expr(&r),
        &Expr::And {
            of: vec![
                Expr::Ref { stage: 1, name: "selection_basic".into() },
                Expr::Not { expr: Box::new(Expr::Ref { stage: 2, name: "filter".into() }) }
            ]
        }
    );
    match sel_expr(&r, "filter") {
        Expr::Or { of } => assert!(of.iter().all(|e| matches!(e, Expr::Pred(_)))),
        e => panic!("{e:?}"),
    }
    match sel_expr(&r, "selection_basic") {
        Expr::And { of } => {
            let Expr::Pred(p) = &of[0] else { panic!() };
            assert_eq!(p.raw, "EventID");
            assert_eq!(p.span.map(|s| (s.line, s.col)), Some((4, 5)));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn predicates_polarity_through_the_condition() {
    let r = clean("title: t\ndetection:\n  a: {X: 1}\n  f: {Y: 2}\n  condition: a and not f\n");
    let pol: Vec<(String, bool)> =
        r.logic.predicates_with_polarity().iter().map(|(p, b)| (p.field.clone().unwrap(), *b)).collect();
    assert_eq!(pol, vec![("X".to_string(), true), ("Y".to_string(), false)]);
}

// ---------------------------------------------------------------- values and wildcards

#[test]
fn wildcard_analysis() {
    let a = |v: &str| analyse(&sigma_tokens(v));
    assert_eq!(a("cmd.exe"), (Op::Eq, "cmd.exe".into()));
    assert_eq!(a("*\\cmd.exe"), (Op::EndsWith, "\\cmd.exe".into()));
    assert_eq!(a("C:\\Windows\\\\*"), (Op::StartsWith, "C:\\Windows\\".into()));
    // `\*` is an escaped star: a literal.
    assert_eq!(a("C:\\Windows\\*"), (Op::Eq, "C:\\Windows*".into()));
    assert_eq!(a("*mimikatz*"), (Op::Contains, "mimikatz".into()));
    assert_eq!(a("**x**"), (Op::Contains, "x".into()));
    assert_eq!(a("C:\\Users\\*\\AppData"), (Op::Eq, "C:\\Users*\\AppData".into()));
    assert_eq!(a("C:\\Users\\\\*\\AppData"), (Op::Wildcard, "C:\\Users\\\\*\\AppData".into()));
    assert_eq!(a("prog?.exe"), (Op::Wildcard, "prog?.exe".into()));
    assert_eq!(a("*a*b*"), (Op::Wildcard, "*a*b*".into()));
    assert_eq!(a("*"), (Op::Wildcard, "*".into()));
    assert_eq!(a(""), (Op::Eq, "".into()));
    // Escapes: `\*`, `\?` and `\\` only.
    assert_eq!(a("select \\*"), (Op::Eq, "select *".into()));
    assert_eq!(a("what\\?"), (Op::Eq, "what?".into()));
    assert_eq!(a("C:\\Windows\\"), (Op::Eq, "C:\\Windows\\".into()));
    assert_eq!(a("a\\\\b"), (Op::Eq, "a\\b".into()));
    assert_eq!(a("\\\\\\*"), (Op::Eq, "\\*".into()));
    assert_eq!(a("*\\*"), (Op::EndsWith, "*".into()));
    // A glob keeps literal wildcards escaped.
    assert_eq!(a("a\\*b*c?"), (Op::Wildcard, "a\\*b*c?".into()));
    assert_eq!(a("\\\\\\**x"), (Op::Wildcard, "\\\\\\**x".into()));
}

#[test]
fn plain_values_and_types() {
    let r = sel_rule("EventID: 4688\nName: '4688'\nF: 1.5\nB: true\nN: null\nE: ''\nImage: '*\\cmd.exe'\nC: '*x*'\nS: 'ab*'\nW: 'a*b'");
    let Expr::And { of } = sel_expr(&r, "sel") else { panic!() };
    let got: Vec<(String, Op, Vec<Value>, bool)> = of
        .iter()
        .map(|e| match e {
            Expr::Pred(p) => (p.field.clone().unwrap(), p.op, p.values.clone(), p.case_sensitive),
            e => panic!("{e:?}"),
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("EventID".into(), Op::Eq, vec![Value::Int(4688)], false),
            ("Name".into(), Op::Eq, vec![s("4688")], false),
            ("F".into(), Op::Eq, vec![Value::Float(1.5)], false),
            ("B".into(), Op::Eq, vec![Value::Bool(true)], false),
            ("N".into(), Op::Eq, vec![Value::Null], false),
            ("E".into(), Op::Eq, vec![s("")], false),
            ("Image".into(), Op::EndsWith, vec![s("\\cmd.exe")], false),
            ("C".into(), Op::Contains, vec![s("x")], false),
            ("S".into(), Op::StartsWith, vec![s("ab")], false),
            ("W".into(), Op::Wildcard, vec![s("a*b")], false),
        ]
    );
}

#[test]
fn value_lists_are_or_and_split_by_operator() {
    let r = sel_rule("Image:\n  - '*\\a.exe'\n  - '*\\b.exe'");
    let p = pred(&r);
    assert_eq!((p.op, p.values.clone(), p.all), (Op::EndsWith, vec![s("\\a.exe"), s("\\b.exe")], false));
    let r = sel_rule("CommandLine:\n  - '*x*'\n  - 'exact'\n  - '*y*'\n  - null");
    match sel_expr(&r, "sel") {
        Expr::Or { of } => {
            let ops: Vec<(Op, usize)> = of
                .iter()
                .map(|e| match e {
                    Expr::Pred(p) => (p.op, p.values.len()),
                    _ => panic!(),
                })
                .collect();
            assert_eq!(ops, vec![(Op::Contains, 2), (Op::Eq, 2)]);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn list_of_maps_is_or() {
    let r = sel_rule("- Image|endswith: '\\a.exe'\n- Description|contains: 'Test'\n  Product: X");
    match sel_expr(&r, "sel") {
        Expr::Or { of } => {
            assert_eq!(of.len(), 2);
            assert!(matches!(&of[0], Expr::Pred(p) if p.op == Op::EndsWith));
            assert!(matches!(&of[1], Expr::And { of } if of.len() == 2));
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn keywords() {
    let r = one(
        "title: t\ndetection:\n  keywords:\n    - 'event::clear'\n    - '*drop*'\n    - 'a*b'\n  condition: keywords\n",
    );
    match sel_expr(&r, "keywords") {
        Expr::Or { of } => {
            let got: Vec<(Option<String>, Op, Vec<Value>)> = of
                .iter()
                .map(|e| match e {
                    Expr::Pred(p) => (p.field.clone(), p.op, p.values.clone()),
                    _ => panic!(),
                })
                .collect();
            assert_eq!(
                got,
                vec![(None, Op::Contains, vec![s("event::clear"), s("drop")]), (None, Op::Wildcard, vec![s("a*b")])]
            );
        }
        e => panic!("{e:?}"),
    }
    let sp = stage(&r, "keywords").predicates()[0].span.unwrap();
    assert_eq!((sp.line, sp.col), (4, 5));
    // `'|all'` keywords.
    let r = one("title: t\ndetection:\n  keywords:\n    '|all':\n      - 'OabVirtualDirectory'\n      - ' -ExternalUrl '\n  condition: keywords\n");
    let p = pred_of(&r, "keywords");
    assert_eq!((p.field.clone(), p.op, p.all, p.raw.as_str()), (None, Op::Contains, true, "|all"));
    assert_eq!(p.values, vec![s("OabVirtualDirectory"), s(" -ExternalUrl ")]);
    // A single keyword, and a keyword with a modifier.
    let r = one("title: t\ndetection:\n  kw: 'evil'\n  kw2:\n    '|re': 'a.*b'\n  condition: kw or kw2\n");
    assert_eq!(pred_of(&r, "kw").values, vec![s("evil")]);
    assert_eq!(pred_of(&r, "kw2").op, Op::Regex);
}

fn pred_of<'a>(r: &'a Rule, name: &str) -> &'a Predicate {
    match sel_expr(r, name) {
        Expr::Pred(p) => p,
        e => panic!("{e:?}"),
    }
}

// ---------------------------------------------------------------- modifiers

#[test]
fn modifier_contains_startswith_endswith() {
    let p = pred(&sel_rule("CommandLine|contains: 'mimikatz'")).clone();
    assert_eq!((p.op, p.values.clone(), p.raw.as_str()), (Op::Contains, vec![s("mimikatz")], "CommandLine|contains"));
    assert_eq!(p.field.as_deref(), Some("CommandLine"));
    assert!(!p.case_sensitive && !p.negated && p.transforms.is_empty());
    assert_eq!(pred(&sel_rule("Image|startswith: 'C:\\Temp\\'")).op, Op::StartsWith);
    assert_eq!(pred(&sel_rule("Image|endswith: '\\svchost.exe'")).values, vec![s("\\svchost.exe")]);
    // Inner wildcards make a glob.
    let p = pred(&sel_rule("CommandLine|contains: 'a*b'")).clone();
    assert_eq!((p.op, p.values), (Op::Wildcard, vec![s("*a*b*")]));
    let p = pred(&sel_rule("CommandLine|endswith: 'a?'")).clone();
    assert_eq!((p.op, p.values), (Op::Wildcard, vec![s("*a?")]));
    let p = pred(&sel_rule("CommandLine|startswith: '*x'")).clone();
    assert_eq!((p.op, p.values), (Op::Contains, vec![s("x")]));
    // Numbers under string modifiers match as written.
    let p = pred(&sel_rule("Status|contains: 0x0")).clone();
    assert_eq!((p.op, p.values), (Op::Contains, vec![s("0x0")]));
}

#[test]
fn modifier_all() {
    let p = pred(&sel_rule("CommandLine|contains|all:\n  - ' -a '\n  - ' -b '")).clone();
    assert!(p.all);
    assert_eq!(p.values.len(), 2);
    // Different operators under `all` are ANDed.
    match sel_expr(&sel_rule("C|all:\n  - '*a*'\n  - 'b*'"), "sel") {
        Expr::And { of } => assert_eq!(of.len(), 2),
        e => panic!("{e:?}"),
    }
    let r = sel_rule("C|contains|all: 'x'");
    assert!(r.diagnostics.iter().any(|d| d.code == "all-single-value" && d.severity == Severity::Warning));
}

#[test]
fn modifier_re_and_flags() {
    let p = pred(&sel_rule("CommandLine|re: '\\s-e(nc)?\\s'")).clone();
    assert_eq!(
        (p.op, p.values.clone(), p.case_sensitive, p.flags.as_str()),
        (Op::Regex, vec![s("\\s-e(nc)?\\s")], true, "")
    );
    let p = pred(&sel_rule("CommandLine|re|i: 'abc'")).clone();
    assert_eq!((p.case_sensitive, p.flags.as_str()), (false, "i"));
    let p = pred(&sel_rule("CommandLine|re|m|s: 'a.b'")).clone();
    assert_eq!((p.case_sensitive, p.flags.as_str()), (true, "ms"));
    // Regex values are not wildcard-analysed.
    assert_eq!(pred(&sel_rule("X|re: '.*'")).values, vec![s(".*")]);
}

#[test]
fn modifier_cidr_exists_cased_neq() {
    let p = pred(&sel_rule("DestinationIp|cidr:\n  - '10.0.0.0/8'\n  - 'fe80::/10'\n  - '192.168.1.1'")).clone();
    assert_eq!((p.op, p.values.len()), (Op::Cidr, 3));
    let r = sel_rule("DestinationIp|cidr: '10.0.0.0/33'");
    assert!(errors(&r).iter().any(|d| d.code == "bad-value"));
    let p = pred(&sel_rule("User|exists: true")).clone();
    assert_eq!((p.op, p.values), (Op::Exists, vec![Value::Bool(true)]));
    let p = pred(&sel_rule("User|exists: false")).clone();
    assert_eq!(p.values, vec![Value::Bool(false)]);
    let r = sel_rule("User|exists: maybe");
    assert!(matches!(sel_expr(&r, "sel"), Expr::Unmodeled { .. }));
    assert_eq!(errors(&r).len(), 1);
    let p = pred(&sel_rule("Image|endswith|cased: '\\Cmd.exe'")).clone();
    assert_eq!((p.op, p.case_sensitive), (Op::EndsWith, true));
    let p = pred(&sel_rule("User|neq: 'SYSTEM'")).clone();
    assert_eq!((p.op, p.negated, p.values), (Op::Eq, true, vec![s("SYSTEM")]));
}

#[test]
fn modifier_fieldref() {
    let p = pred(&sel_rule("TargetUserName|fieldref: SubjectUserName")).clone();
    assert_eq!((p.op, p.values.clone(), p.transforms.clone()), (Op::FieldRef, vec![s("SubjectUserName")], vec![]));
    let p = pred(&sel_rule("CommandLine|fieldref|contains: Image")).clone();
    assert_eq!((p.op, p.transforms.clone()), (Op::FieldRef, vec!["contains".to_string()]));
    let p = pred(&sel_rule("A|fieldref|endswith: B")).clone();
    assert_eq!(p.transforms, vec!["endswith"]);
}

#[test]
fn modifier_comparisons() {
    for (m, op) in [("lt", Op::Lt), ("lte", Op::Le), ("gt", Op::Gt), ("gte", Op::Ge)] {
        let p = pred(&sel_rule(&format!("Count|{m}: 10"))).clone();
        assert_eq!((p.op, p.values), (op, vec![Value::Int(10)]), "{m}");
    }
    assert_eq!(pred(&sel_rule("X|gt: '2.5'")).values, vec![Value::Float(2.5)]);
    let r = sel_rule("X|gt: lots");
    assert!(matches!(sel_expr(&r, "sel"), Expr::Unmodeled { .. }));
    assert_eq!(errors(&r)[0].code, "bad-value");
}

#[test]
fn modifier_transforms_in_order() {
    let p = pred(&sel_rule("CommandLine|base64offset|contains: 'http://'")).clone();
    assert_eq!((p.op, p.transforms.clone()), (Op::Contains, vec!["base64offset".to_string()]));
    let p = pred(&sel_rule("CommandLine|utf16le|base64offset|contains: 'IEX'")).clone();
    assert_eq!(p.transforms, vec!["utf16le", "base64offset"]);
    for t in ["base64", "utf16be", "utf16", "wide", "windash", "expand"] {
        let p = pred(&sel_rule(&format!("X|{t}|contains: 'v'"))).clone();
        assert_eq!(p.transforms, vec![t.to_string()], "{t}");
    }
    let p = pred(&sel_rule("CommandLine|windash|contains:\n  - ' -exec '\n  - ' -s '")).clone();
    assert_eq!((p.op, p.transforms.clone(), p.values.len()), (Op::Contains, vec!["windash".to_string()], 2));
    for t in ["minute", "hour", "day", "week", "month", "year"] {
        let p = pred(&sel_rule(&format!("Time|{t}|gte: 3"))).clone();
        assert_eq!((p.op, p.transforms.clone()), (Op::Ge, vec![t.to_string()]), "{t}");
    }
    // Placeholders are values, not errors.
    let p = pred(&sel_rule("IpAddress|expand: '%domain_controllers_ips%'")).clone();
    assert_eq!((p.op, p.values.clone()), (Op::Eq, vec![s("%domain_controllers_ips%")]));
    let p = pred(&sel_rule("IpAddress: '%domain_controllers_ips%'")).clone();
    assert_eq!((p.op, p.transforms.len()), (Op::Eq, 0));
}

#[test]
fn bad_modifiers_are_errors_with_positions() {
    let src = "title: t\ndetection:\n  sel:\n    A: 1\n    Image|endswithh: 'x'\n  condition: sel\n";
    let r = one(src);
    let e = errors(&r);
    assert_eq!(e.len(), 1, "{:?}", r.diagnostics);
    assert_eq!(e[0].code, "bad-modifier");
    assert!(e[0].message.contains("unknown modifier `endswithh`"));
    let sp = e[0].span.unwrap();
    assert_eq!((sp.line, sp.col), (5, 11));
    assert_eq!(&src[sp.start..sp.end], "endswithh");
    match sel_expr(&r, "sel") {
        Expr::And { of } => {
            assert!(matches!(&of[0], Expr::Pred(_)));
            assert!(matches!(&of[1], Expr::Unmodeled { text, .. } if text == "Image|endswithh: 'x'"));
        }
        e => panic!("{e:?}"),
    }
    for bad in [
        "X|contains|re: a",
        "X|re|contains: a",
        "X|i: a",
        "X|contains|startswith: a",
        "X|cidr|contains: a",
        "X||contains: a",
        "X|gt|lt: 1",
    ] {
        let r = sel_rule(bad);
        assert_eq!(errors(&r).len(), 1, "{bad}: {:?}", r.diagnostics);
        assert_eq!(errors(&r)[0].code, "bad-modifier", "{bad}");
    }
}

#[test]
fn bad_selection_shapes() {
    let r = sel_rule("A:\n  B: 1");
    assert_eq!(errors(&r)[0].code, "bad-value");
    let r = sel_rule("A:\n  - [1]");
    assert_eq!(errors(&r)[0].code, "bad-value");
    let r = one("title: t\ndetection:\n  sel:\n  condition: sel\n");
    assert_eq!(errors(&r)[0].code, "empty-selection");
    assert_eq!(errors(&r)[0].span.map(|s| s.line), Some(3));
    let r = one("title: t\ndetection:\n  sel: []\n  condition: sel\n");
    assert_eq!(errors(&r)[0].code, "empty-selection");
}

// ---------------------------------------------------------------- conditions

fn cond_rule(cond: &str, names: &[&str]) -> Rule {
    let mut src = String::from("title: t\ndetection:\n");
    for n in names {
        src.push_str(&format!("  {n}:\n    F: {n}\n"));
    }
    src.push_str(&format!("  condition: {cond}\n"));
    one(&src)
}

fn rf(stage: usize, name: &str) -> Expr {
    Expr::Ref { stage, name: name.into() }
}

#[test]
fn condition_precedence() {
    let rl = cond_rule("a or b and not c", &["a", "b", "c"]);
    assert!(errors(&rl).is_empty());
    assert_eq!(
        cond_expr(&rl),
        &Expr::Or {
            of: vec![rf(1, "a"), Expr::And { of: vec![rf(2, "b"), Expr::Not { expr: Box::new(rf(3, "c")) }] }]
        }
    );
    let rl = cond_rule("(a or b) AND NOT c", &["a", "b", "c"]);
    assert_eq!(
        cond_expr(&rl),
        &Expr::And {
            of: vec![Expr::Or { of: vec![rf(1, "a"), rf(2, "b")] }, Expr::Not { expr: Box::new(rf(3, "c")) }]
        }
    );
}

#[test]
fn condition_quantifiers() {
    let names = ["selection_a", "selection_b", "filter_x", "_hidden"];
    let rl = cond_rule("1 of selection_* and not 1 of filter*", &names);
    assert_eq!(
        cond_expr(&rl),
        &Expr::And {
            of: vec![
                Expr::Quant { quant: Quant::Any, pattern: "selection_*".into(), of: vec![1, 2] },
                Expr::Not { expr: Box::new(Expr::Quant { quant: Quant::Any, pattern: "filter*".into(), of: vec![3] }) }
            ]
        }
    );
    let rl = cond_rule("all of them", &names);
    assert_eq!(cond_expr(&rl), &Expr::Quant { quant: Quant::All, pattern: "them".into(), of: vec![1, 2, 3] });
    let rl = cond_rule("1 of them", &names);
    assert!(matches!(cond_expr(&rl), Expr::Quant { quant: Quant::Any, .. }));
    let rl = cond_rule("2 of selection_*", &names);
    assert!(matches!(cond_expr(&rl), Expr::Quant { quant: Quant::AtLeast(2), of, .. } if of == &vec![1, 2]));
    let rl = cond_rule("2 of them", &names);
    assert!(matches!(cond_expr(&rl), Expr::Quant { quant: Quant::AtLeast(2), of, .. } if of.len() == 3));
    let rl = cond_rule("all of _h*", &names);
    assert!(matches!(cond_expr(&rl), Expr::Quant { of, .. } if of == &vec![4]));
    let rl = cond_rule("3 of selection_*", &names);
    assert!(rl.diagnostics.iter().any(|d| d.code == "quantifier-too-large"));
}

#[test]
fn condition_missing_selection_is_an_error_at_the_name() {
    let src = "title: t\ndetection:\n  selection:\n    A: 1\n  condition: selection and not filterr\n";
    let r = one(src);
    let e = errors(&r);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].code, "missing-selection");
    let sp = e[0].span.unwrap();
    assert_eq!((sp.line, sp.col), (5, 32));
    assert_eq!(&src[sp.start..sp.end], "filterr");
    assert_eq!(e[0].located(), format!("5:32: {}", e[0].message));
    assert!(e[0].message.contains("`filterr`") && e[0].message.contains("selection"));
    match cond_expr(&r) {
        Expr::And { of } => {
            assert_eq!(of[0], rf(1, "selection"));
            assert!(matches!(&of[1], Expr::Not { expr } if matches!(**expr, Expr::Unmodeled { .. })));
        }
        e => panic!("{e:?}"),
    }
    // A pattern matching nothing.
    let r2 = cond_rule("1 of nothing*", &["a"]);
    assert_eq!(errors(&r2)[0].code, "missing-selection");
}

#[test]
fn condition_syntax_errors_keep_the_rest() {
    let src = "title: t\ndetection:\n  a:\n    X: 1\n  b:\n    Y: 2\n  condition: a and (b or\n";
    let r = one(src);
    let e = errors(&r);
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].code, "bad-condition");
    assert_eq!(e[0].span.map(|s| s.line), Some(7));
    assert!(matches!(cond_expr(&r), Expr::Unmodeled { .. }));
    // The selections are still lowered.
    assert!(matches!(sel_expr(&r, "a"), Expr::Pred(_)));
    let src = "title: t\ndetection:\n  a:\n    X: 1\n  condition: a > b\n";
    let e = one(src).diagnostics;
    assert_eq!(e[0].span.map(|s| (s.line, s.col)), Some((5, 16)));
    // Missing condition.
    let r = one("title: t\ndetection:\n  a:\n    X: 1\n");
    assert_eq!(errors(&r)[0].code, "missing-condition");
    assert_eq!(errors(&r)[0].span.map(|s| s.line), Some(2));
}

#[test]
fn condition_deep_nesting_is_a_diagnostic() {
    let deep =
        format!("title: t\ndetection:\n  a:\n    X: 1\n  condition: {}a{}\n", "(".repeat(10_000), ")".repeat(10_000));
    let r = one(&deep);
    let e = errors(&r);
    assert_eq!(e.len(), 1);
    assert!(e[0].message.contains("nested deeper"));
    assert_eq!(e[0].span.map(|s| s.line), Some(5));
    // And the rule still serialises and reads back.
    let json = serde_json::to_string(&r).unwrap();
    let back: Rule = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r);
    // The deepest accepted condition, alternating `and`/`or` so that nothing flattens, reads
    // back too (serde_json's recursion limit is 128).
    let n = crate::cond::MAX_COND_DEPTH;
    let mut c = String::from("a");
    for i in 0..n {
        c = format!("(a {} {c})", if i % 2 == 0 { "and" } else { "or" });
    }
    let deep_ok = format!("title: t\ndetection:\n  a:\n    X: 1\n  condition: a and {c}\n");
    let r = one(&deep_ok);
    assert!(errors(&r).is_empty(), "{:?}", r.diagnostics);
    let json = serde_json::to_string(&r).unwrap();
    let back: Rule = serde_json::from_str(&json).expect("deep rule reads back");
    assert_eq!(back, r);
    let too_deep = format!("title: t\ndetection:\n  a:\n    X: 1\n  condition: (a and {c})\n");
    assert_eq!(errors(&one(&too_deep)).len(), 1);
}

#[test]
fn condition_as_a_list_is_or() {
    let r = one("title: t\ndetection:\n  a: {X: 1}\n  b: {Y: 1}\n  condition:\n    - a\n    - b and a\n");
    assert!(errors(&r).is_empty());
    assert_eq!(cond_expr(&r), &Expr::Or { of: vec![rf(1, "a"), Expr::And { of: vec![rf(2, "b"), rf(1, "a")] }] });
    assert_eq!(r.logic.stages[0].text, "a\nb and a");
}

#[test]
fn condition_in_quoted_and_folded_scalars_maps_positions() {
    let src = "title: t\ndetection:\n  a: {X: 1}\n  condition: 'a and nope'\n";
    let e = one(src).diagnostics;
    let sp = e[0].span.unwrap();
    assert_eq!(&src[sp.start..sp.end], "nope");
    let src = "title: t\ndetection:\n  a: {X: 1}\n  condition: >\n    a and\n    nope\n";
    let e = one(src).diagnostics;
    let sp = e[0].span.unwrap();
    assert_eq!((sp.line, sp.col), (6, 5));
    assert_eq!(&src[sp.start..sp.end], "nope");
}

// ---------------------------------------------------------------- legacy aggregation

#[test]
fn legacy_aggregation_count_by() {
    let src = "title: t\ndetection:\n  selection:\n    EventID: 4625\n  filter:\n    X: 1\n  timeframe: 30m\n  condition: selection and not filter | count(TargetUserName) by IpAddress > 20 # many\n";
    let r = one(src);
    assert!(errors(&r).is_empty(), "{:?}", r.diagnostics);
    let names: Vec<&str> = r.logic.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["condition", "selection", "filter", "aggregate"]);
    assert_eq!(r.logic.output, 3);
    let agg = &r.logic.stages[3];
    assert_eq!(agg.inputs, vec![0]);
    assert_eq!(agg.text, "count(TargetUserName) by IpAddress > 20");
    match &agg.kind {
        StageKind::Aggregate { by, aggs, having, within_secs } => {
            assert_eq!(by, &vec!["IpAddress".to_string()]);
            assert_eq!(
                aggs,
                &vec![ir::Agg {
                    func: "count".into(),
                    field: Some("TargetUserName".into()),
                    alias: "count(TargetUserName)".into()
                }]
            );
            let Some(Expr::Pred(p)) = having else { panic!() };
            assert_eq!(
                (p.field.as_deref(), p.op, p.values.clone()),
                (Some("count(TargetUserName)"), Op::Gt, vec![Value::Int(20)])
            );
            assert_eq!(*within_secs, Some(1800));
        }
        k => panic!("{k:?}"),
    }
    assert_eq!(r.meta["timeframe"], serde_json::json!("30m"));
    assert_eq!(r.logic.stages[0].text, "selection and not filter | count(TargetUserName) by IpAddress > 20");
    // The condition stage only holds the boolean part.
    assert!(matches!(cond_expr(&r), Expr::And { .. }));
    let sp = agg.span.unwrap();
    assert_eq!(&src[sp.start..sp.end], "count(TargetUserName) by IpAddress > 20");
    // Polarity walks from the aggregate into the condition.
    assert_eq!(r.logic.predicates_with_polarity().len(), 2);
}

#[test]
fn legacy_aggregation_variants() {
    let base = |c: &str| one(&format!("title: t\ndetection:\n  sel: {{X: 1}}\n  condition: {c}\n"));
    let r = base("sel | count() > 5");
    match &r.logic.stages[2].kind {
        StageKind::Aggregate { by, aggs, having: Some(Expr::Pred(p)), within_secs: None } => {
            assert!(by.is_empty());
            assert_eq!(aggs[0].alias, "count()");
            assert_eq!(aggs[0].field, None);
            assert_eq!((p.op, p.values.clone()), (Op::Gt, vec![Value::Int(5)]));
        }
        k => panic!("{k:?}"),
    }
    for (f, op) in [("min", Op::Lt), ("max", Op::Ge), ("avg", Op::Le), ("sum", Op::Eq)] {
        let sym = match op {
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
            _ => "=",
        };
        let r = base(&format!("sel | {f}(Bytes) by Host {sym} 100"));
        assert!(errors(&r).is_empty(), "{f}");
        match &r.logic.stages[2].kind {
            StageKind::Aggregate { aggs, having: Some(Expr::Pred(p)), .. } => {
                assert_eq!(aggs[0].func, f);
                assert_eq!(aggs[0].alias, format!("{f}(Bytes)"));
                assert_eq!(p.op, op);
            }
            k => panic!("{k:?}"),
        }
    }
    let r = base("sel | near other");
    assert!(errors(&r).is_empty());
    assert!(r.diagnostics.iter().any(|d| d.code == "unmodeled-near" && d.severity == Severity::Warning));
    assert!(matches!(r.logic.stages[2].kind, StageKind::Unmodeled { .. }));
    assert_eq!(r.logic.output, 2);
    let r = base("sel | count() by X");
    assert_eq!(errors(&r)[0].code, "bad-condition");
    let r = one("title: t\ndetection:\n  sel: {X: 1}\n  timeframe: soon\n  condition: sel | count() > 1\n");
    assert_eq!(errors(&r)[0].code, "bad-timeframe");
}

#[test]
fn timespans() {
    use crate::rule::parse_timespan;
    assert_eq!(parse_timespan("30s"), Some(30));
    assert_eq!(parse_timespan("5m"), Some(300));
    assert_eq!(parse_timespan("1h"), Some(3600));
    assert_eq!(parse_timespan("2d"), Some(172_800));
    assert_eq!(parse_timespan("1w"), Some(604_800));
    assert_eq!(parse_timespan("1M"), Some(2_592_000));
    assert_eq!(parse_timespan("1y"), Some(31_536_000));
    assert_eq!(parse_timespan("15"), None);
    assert_eq!(parse_timespan("m"), None);
    assert_eq!(parse_timespan("1x"), None);
    assert_eq!(parse_timespan("99999999999999999999d"), None);
    assert_eq!(parse_timespan("é"), None);
}

// ---------------------------------------------------------------- correlations

fn corr(src: &str) -> ir::Correlation {
    let r = one(src);
    assert_eq!(r.kind, "correlation");
    assert!(errors(&r).is_empty(), "{:?}", r.diagnostics);
    assert_eq!(r.logic.stages.len(), 1);
    assert_eq!(r.logic.stages[0].name, "correlation");
    match &r.logic.stages[0].kind {
        StageKind::Correlation(c) => c.clone(),
        k => panic!("{k:?}"),
    }
}

#[test]
fn correlation_event_count() {
    let c = corr("title: Many failed logins\nid: 0e95725d-7320-415d-80f7-004da920fc11\ncorrelation:\n  type: event_count\n  rules:\n    - 5638f7c0-ac70-491d-8465-2a65075e0d86\n  group-by:\n    - ComputerName\n  timespan: 1h\n  condition:\n    gte: 100\n");
    assert_eq!(c.kind, CorrelationKind::EventCount);
    assert_eq!(c.rules, vec!["5638f7c0-ac70-491d-8465-2a65075e0d86"]);
    assert_eq!(c.group_by, vec!["ComputerName"]);
    assert_eq!(c.timespan_secs, Some(3600));
    assert_eq!(c.condition, vec![(CmpOp::Ge, 100.0)]);
    assert_eq!(c.field, None);
    assert!(!c.generate);
}

#[test]
fn correlation_value_count_range_and_single_rule() {
    let c = corr("title: t\ncorrelation:\n  type: value_count\n  rules: failed_login\n  group-by: [Computer, WorkstationName]\n  timeframe: 1d\n  condition:\n    field: User\n    gt: 100\n    lte: 200\n  generate: true\n");
    assert_eq!(c.kind, CorrelationKind::ValueCount);
    assert_eq!(c.rules, vec!["failed_login"]);
    assert_eq!(c.group_by.len(), 2);
    assert_eq!(c.timespan_secs, Some(86_400));
    assert_eq!(c.condition, vec![(CmpOp::Gt, 100.0), (CmpOp::Le, 200.0)]);
    assert_eq!(c.field.as_deref(), Some("User"));
    assert!(c.generate);
}

#[test]
fn correlation_temporal_with_aliases_and_top_level_generate() {
    let c = corr("title: t\ncorrelation:\n  type: temporal\n  rules:\n    - internal_error\n    - new_network_connection\n  group-by:\n    - internal_ip\n  timespan: 10s\n  aliases:\n    internal_ip:\n      internal_error: destination.ip\n      new_network_connection: source.ip\ngenerate: true\n");
    assert_eq!(c.kind, CorrelationKind::Temporal);
    assert!(c.condition.is_empty());
    assert_eq!(c.aliases["internal_ip"]["internal_error"], "destination.ip");
    assert_eq!(c.aliases["internal_ip"]["new_network_connection"], "source.ip");
    assert!(c.generate);
    let c =
        corr("title: t\ncorrelation:\n  type: temporal_ordered\n  rules: [a, b]\n  group-by: [User]\n  timespan: 1h\n");
    assert_eq!(c.kind, CorrelationKind::TemporalOrdered);
    let c = corr("title: t\ncorrelation:\n  type: temporal\n  rules: [a, b]\n  group-by: [User]\n  timespan: 5m\n  condition:\n    gte: 2\n");
    assert_eq!(c.condition, vec![(CmpOp::Ge, 2.0)]);
}

#[test]
fn correlation_value_aggregates_and_neq() {
    for (t, k) in [
        ("value_sum", CorrelationKind::ValueSum),
        ("value_avg", CorrelationKind::ValueAvg),
        ("value_percentile", CorrelationKind::ValuePercentile),
        ("value_median", CorrelationKind::ValueMedian),
    ] {
        let c = corr(&format!("title: t\ncorrelation:\n  type: {t}\n  rules: [a]\n  group-by: [Host]\n  timespan: 5m\n  condition:\n    field: Bytes\n    neq: 0\n    eq: 5\n    lt: 1.5\n"));
        assert_eq!(c.kind, k);
        assert_eq!(c.condition, vec![(CmpOp::Ne, 0.0), (CmpOp::Eq, 5.0), (CmpOp::Lt, 1.5)]);
    }
}

#[test]
fn correlation_errors() {
    let r = one("title: t\ncorrelation:\n  type: event_cnt\n  rules: [a]\n");
    assert_eq!(errors(&r)[0].code, "bad-correlation");
    assert_eq!(errors(&r)[0].span.map(|s| (s.line, s.col)), Some((3, 9)));
    assert!(matches!(r.logic.stages[0].kind, StageKind::Unmodeled { .. }));
    let r = one("title: t\ncorrelation:\n  type: event_count\n  rules: [a]\n  group-by: [x]\n  timespan: 1h\n");
    assert!(errors(&r).iter().any(|d| d.message.contains("no `condition`")));
    let r = one(
        "title: t\ncorrelation:\n  type: value_count\n  rules: [a]\n  timespan: soon\n  condition: {gte: x, foo: 1}\n",
    );
    let codes: Vec<&str> = errors(&r).iter().map(|d| d.code.as_str()).collect();
    assert!(codes.contains(&"bad-timespan"));
    assert!(errors(&r).len() >= 3, "{:?}", r.diagnostics);
}

#[test]
fn correlation_without_type_is_not_a_correlation() {
    // With a detection: a detection rule, the text goes to meta.
    let r = clean(
        "title: t\ndetection:\n  s: {A: 1}\n  condition: s\ncorrelation: correlate TargetLogonId with SubjectLogonId\n",
    );
    assert_eq!(r.kind, "detection");
    assert_eq!(r.meta["correlation"], serde_json::json!("correlate TargetLogonId with SubjectLogonId"));
    // Without: not a rule, but a Sigma file.
    let f = file("title: t\ncorrelation:\n  rules: [a]\n");
    assert!(f.is_sigma && f.rules.is_empty());
    assert_eq!(f.failures.len(), 1);
    assert!(f.failures[0].message.contains("no `type`"));
}

// ---------------------------------------------------------------- multi-document and collections

#[test]
fn multi_document_rule_and_correlation() {
    let src = "title: Brutforce\nname: login_non_existing_user\ntags:\n  - attack.t1110\ndetection:\n  selection:\n    EventID: 4625\n  condition: selection\nlevel: high\n\n---\ntitle: Count\ncorrelation:\n  type: value_count\n  rules:\n    - login_non_existing_user # Referenced here\n  group-by:\n    - Computer\n  timespan: 30m\n  condition:\n    gte: 20\n    field: TargetUserName\nlevel: high\n";
    let f = file(src);
    assert!(f.failures.is_empty());
    assert_eq!(f.rules.len(), 2);
    let (a, b) = (&f.rules[0], &f.rules[1]);
    assert_eq!((a.doc_index, b.doc_index), (0, 1));
    assert_eq!((a.kind.as_str(), b.kind.as_str()), ("detection", "correlation"));
    assert_ne!(a.id, b.id);
    assert_eq!(b.id, ir::short_hash(&["sigma", "rules/x.yml", "1"]));
    assert!(a.raw.ends_with("level: high\n") && a.raw.starts_with("title: Brutforce"));
    assert!(b.raw.starts_with("title: Count\n") && b.raw.ends_with("level: high\n"));
    assert_eq!(b.raw_line, 12);
    assert_eq!(b.logic.stages[0].span.map(|s| s.line), Some(13));
    assert!(b.logic.stages[0].text.starts_with("correlation:\n  type: value_count\n"));
    match &b.logic.stages[0].kind {
        StageKind::Correlation(c) => assert_eq!(c.rules, vec!["login_non_existing_user"]),
        k => panic!("{k:?}"),
    }
}

#[test]
fn explicit_document_markers_and_end_markers() {
    let src = "# leading comment\n---\ntitle: A\ndetection:\n  s: {X: 1}\n  condition: s\n...\n---\ntitle: B\ndetection:\n  s: {X: 2}\n  condition: s\n";
    let f = file(src);
    assert_eq!(f.rules.len(), 2, "{:?}", f.failures);
    assert_eq!(f.rules[0].raw, "title: A\ndetection:\n  s: {X: 1}\n  condition: s\n");
    assert_eq!(f.rules[0].raw_line, 3);
    assert_eq!(f.rules[1].raw, "title: B\ndetection:\n  s: {X: 2}\n  condition: s\n");
    assert_eq!(f.rules[1].raw_line, 9);
}

#[test]
fn legacy_collections_global_reset_repeat() {
    let src = "action: global\ntitle: Base\nstatus: test\nlogsource:\n  product: windows\ndetection:\n  filter:\n    User: SYSTEM\n  condition: selection and not filter\n---\nlogsource:\n  service: security\ndetection:\n  selection:\n    EventID: 4688\n---\naction: repeat\ndetection:\n  selection:\n    EventID: 1\n---\naction: reset\n---\ntitle: Alone\ndetection:\n  selection:\n    X: 1\n  condition: selection\n";
    let f = file(src);
    assert!(f.failures.is_empty(), "{:?}", f.failures);
    assert_eq!(f.rules.len(), 3);
    let (a, b, c) = (&f.rules[0], &f.rules[1], &f.rules[2]);
    assert_eq!((a.doc_index, b.doc_index, c.doc_index), (1, 2, 4));
    // Global keys merged into the first rule; logsource maps merged key by key.
    assert_eq!(a.title, "Base");
    assert_eq!(a.status.as_deref(), Some("test"));
    assert_eq!(
        a.declared,
        vec![Telemetry::LogSource {
            product: Some("windows".into()),
            category: None,
            service: Some("security".into())
        }]
    );
    assert!(errors(a).is_empty(), "{:?}", a.diagnostics);
    let names: Vec<&str> = a.logic.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["condition", "filter", "selection"]);
    assert!(!a.meta.contains_key("action"));
    // Repeat: the previous rule with this document's keys replaced.
    assert_eq!(b.title, "Base");
    let sel = b.logic.stages.iter().find(|s| s.name == "selection").unwrap();
    assert_eq!(sel.predicates()[0].values, vec![Value::Int(1)]);
    assert_eq!(sel.span.map(|s| s.line), Some(19));
    // Reset: nothing global any more.
    assert_eq!(c.title, "Alone");
    assert_eq!(c.status, None);
    assert!(c.declared.is_empty());
    // Repeat with nothing before it.
    let f = file("action: repeat\ndetection:\n  s: {X: 1}\n  condition: s\n");
    assert_eq!(f.failures[0].code, "bad-collection");
}

// ---------------------------------------------------------------- meta filters

#[test]
fn meta_filter_rule() {
    let src = "title: Filter Administrator account\ndescription: The valid administrator account start with adm_\nlogsource:\n  category: process_creation\n  product: windows\nfilter:\n  rules:\n    - 6f3e2987-db24-4c78-a860-b4f4095a7095 # Data Compressed - rar.exe\n    - df0841c0-9846-4e9f-ad8a-7df91571771b\n  selection:\n    User|startswith: 'adm_'\n  condition: selection\n";
    let r = clean(src);
    assert_eq!(r.kind, "filter");
    assert_eq!(
        r.meta["filter_rules"],
        serde_json::json!(["6f3e2987-db24-4c78-a860-b4f4095a7095", "df0841c0-9846-4e9f-ad8a-7df91571771b"])
    );
    let names: Vec<&str> = r.logic.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, vec!["condition", "selection"]);
    assert_eq!(cond_expr(&r), &rf(1, "selection"));
    let p = &stage(&r, "selection").predicates()[0].clone();
    assert_eq!((p.op, p.values.clone()), (Op::StartsWith, vec![s("adm_")]));
    assert!(!r.meta.contains_key("filter"));
    let r = one("title: f\nlogsource: {product: w}\nfilter:\n  selection: {A: 1}\n  condition: selection\n");
    assert_eq!(errors(&r)[0].code, "missing-rules");
}

// ---------------------------------------------------------------- raw text and CRLF

#[test]
fn crlf_files() {
    let src = "title: t\r\ndetection:\r\n  sel:\r\n    A: 'x'\r\n  condition: sel and nope\r\n";
    let r = one(src);
    assert_eq!(r.title, "t");
    assert_eq!(r.logic.stages[0].text, "sel and nope");
    let e = errors(&r);
    let sp = e[0].span.unwrap();
    assert_eq!((sp.line, sp.col), (5, 22));
    assert_eq!(&src[sp.start..sp.end], "nope");
    assert_eq!(r.raw, src);
}

#[test]
fn spans_after_non_ascii_block_scalars() {
    // yaml-rust2 counts bytes inside block scalars and characters elsewhere: spans must not drift.
    let src = "title: t\ndescription: |\n    analysis\u{2014}all while \u{fc}n\u{ef}code\nfalsepositives: >\n  \u{e9}\u{e9}\u{e9}\ndetection:\n  selection:\n    Image: x\n  condition: selection and nope\n";
    let r = one(src);
    assert_eq!(stage(&r, "selection").text, "selection:\n  Image: x");
    let p = &stage(&r, "selection").predicates()[0].clone();
    let sp = p.span.unwrap();
    assert_eq!((&src[sp.start..sp.end], sp.line, sp.col), ("Image", 8, 5));
    let e = errors(&r);
    let sp = e[0].span.unwrap();
    assert_eq!((&src[sp.start..sp.end], sp.line, sp.col), ("nope", 9, 28));
    // Non-ASCII in a plain key and value on the same line.
    let src =
        "title: t\ndetection:\n  s\u{e9}l:\n    Ch\u{e2}mp: '\u{e9}t\u{e9}'\n    B: 1\n  condition: s\u{e9}l and x\n";
    let r = one(src);
    let p = &stage(&r, "s\u{e9}l").predicates()[1].clone();
    assert_eq!(p.span.map(|s| (s.line, s.col)), Some((5, 5)));
    let e = errors(&r);
    assert_eq!(e[0].span.map(|s| (s.line, s.col)), Some((6, 22)));
}

#[test]
fn lone_carriage_returns_are_line_breaks() {
    let src = "title: t\rdetection:\r  sel:\r    A: 1\r  condition: sel and x\r";
    let r = one(src);
    let e = errors(&r);
    assert_eq!(e[0].span.map(|s| (s.line, s.col)), Some((5, 22)));
}

#[test]
fn expand_values_on_lowered_predicates() {
    let r = sel_rule("CommandLine|windash|contains: ' -enc '");
    let p = pred(&r);
    assert_eq!(crate::expand_values(p).len(), 5);
    let r = sel_rule("CommandLine|base64offset|contains: '/bin/bash'");
    assert_eq!(crate::expand_values(pred(&r)), vec!["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]);
}

#[test]
fn long_single_lines_stay_linear() {
    // One 1 MB line of flow YAML, with non-ASCII text so that columns must be counted.
    let mut src = String::from("title: t\ndetection: {sel: {");
    for i in 0..40_000 {
        src.push_str(&format!("F\u{e9}{i}: '\u{e9}{i}', "));
    }
    src.push_str("Z: 1}, condition: sel and nope}\n");
    let t = std::time::Instant::now();
    let r = one(&src);
    assert!(t.elapsed().as_secs() < 20, "took {:?}", t.elapsed());
    assert_eq!(stage(&r, "sel").predicates().len(), 40_001);
    let e = errors(&r);
    let sp = e[0].span.unwrap();
    assert_eq!((&src[sp.start..sp.end], sp.line), ("nope", 2));
    let p = &stage(&r, "sel").predicates()[40_000].clone();
    assert_eq!(&src[p.span.unwrap().start..p.span.unwrap().end], "Z");
}

#[test]
fn yaml_error_in_a_later_document_keeps_the_earlier_rules() {
    let src =
        "title: A\ndetection:\n  s: {X: 1}\n  condition: s\n---\ntitle: B\ndetection:\n  s: {X: [1\n  condition: s\n";
    let f = file(src);
    assert!(f.is_sigma);
    assert_eq!(f.rules.len(), 1);
    assert_eq!(f.rules[0].title, "A");
    assert_eq!(f.failures.len(), 1);
    assert_eq!(f.failures[0].code, "yaml");
    assert!(f.failures[0].span.unwrap().line >= 8, "{:?}", f.failures[0]);
}
