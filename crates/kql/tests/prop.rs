//! Random, perturbed, deeply nested and long inputs: `parse` + `lower` never panic or overflow,
//! the token list stays lossless and every span stays inside the text.

use proptest::prelude::*;

const SAMPLES: &[&str] = &[
    "SecurityEvent | where EventID == 4688 and CommandLine has_any (\"-enc\", \"iex\") | project TimeGenerated, Computer",
    "let allow = dynamic([\"a.exe\", \"b.exe\"]);\nDeviceProcessEvents\n| where FileName !in~ (allow) and ProcessCommandLine matches regex @\"(?i)\\\\x\"\n| summarize count() by bin(Timestamp, 1h), DeviceId",
    "let f = (T:(*), n:string) { T | where Name =~ n };\nunion isfuzzy=true f(Syslog, \"x\"), (Event | where Source == 'y')\n| join kind=leftouter (Heartbeat) on $left.Computer == $right.Computer",
    "let t = toscalar(T | summarize max(x));\nS | where x > t and y between (0 .. 2) // comment\n| mv-expand z to typeof(string) | parse msg with * \"a=\" A:string \" \" *",
    "datatable(a:int, b:string)[1, \"x\", 2, 'y'] | extend c = strcat(b, h@'z') | top 5 by a desc | render timechart",
    "search in (SecurityEvent) \"mimikatz\" | take 10",
    "T | mv-apply x on (where x has \"a\" | summarize make_list(x)) | evaluate bag_unpack(p) | make-series c = count() on t step 1d by h",
    "externaldata(k:string)[@\"https://x/y.csv\"] with (format=\"csv\") | where k startswith_cs ```multi\nline``` or k !between (1 .. 3)",
];

const TOKENS: &[&str] = &[
    "|",
    "where",
    "(",
    ")",
    "let",
    "=",
    ";",
    "x",
    "\"s\"",
    "'t'",
    "in",
    "!in~",
    "has",
    "has_any",
    "..",
    "between",
    "dynamic",
    "[",
    "]",
    "{",
    "}",
    ",",
    "join",
    "kind=inner",
    "on",
    "$left",
    "$right",
    ".",
    "datatable",
    "union",
    "mv-apply",
    "mv-expand",
    "toscalar",
    "materialize",
    "f",
    "1d",
    "5m",
    "*",
    "-",
    "+",
    "==",
    "=~",
    "!=",
    "<",
    ">=",
    "//c\n",
    "```",
    "~~~",
    "@'",
    "h\"",
    "@\"",
    "\n",
    " ",
    "summarize",
    "by",
    "bin",
    "project",
    "project-away",
    "extend",
    "parse",
    "with",
    "evaluate",
    "search",
    "find",
    "and",
    "or",
    "not",
    "datetime(2020-01-01)",
    "0x1F",
    "1.5e3",
    "[\"q\"]",
    "isnotempty",
    ":",
    "invoke",
    "lookup",
    "top",
    "sort",
    "asc",
    "table",
    "view",
    "externaldata",
    "matches regex",
    "\u{e9}",
    "\u{a0}",
    "§",
    "\t",
    "\r\n",
];

fn check(text: &str) {
    let p = kql::parse(text);
    let joined: String = p.ast.tokens.iter().map(|t| t.text(text)).collect();
    assert_eq!(joined, text, "tokens are not lossless");
    for d in &p.diagnostics {
        if let Some(s) = d.span {
            assert!(
                s.start <= s.end && s.end <= text.len(),
                "diagnostic span out of the text: {d:?}"
            );
            assert!(s.line >= 1 && s.col >= 1);
            let _ = kql::caret(text, s);
        }
    }
    let calls = |name: &str| match name {
        // Functions whose bodies refer to each other (cycles must end).
        "f" | "F" => Some("F | union f".to_string()),
        "x" => Some(text.to_string()),
        _ => None,
    };
    let l = kql::lower(&p, text, &calls);
    for s in &l.logic.stages {
        if let Some(sp) = s.span {
            assert!(
                sp.start <= sp.end && sp.end <= text.len(),
                "stage span out of the text: {s:?}"
            );
        }
        for i in &s.inputs {
            assert!(*i < l.logic.stages.len(), "dangling input");
        }
    }
    assert!(l.logic.stages.is_empty() || l.logic.output < l.logic.stages.len());
    let _ = l.logic.predicates_with_polarity();
}

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize, usize),
    Insert(usize, usize),
    Duplicate(usize, usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 0usize..20).prop_map(|(a, n)| Edit::Delete(a, n)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(a, t)| Edit::Insert(a, t)),
        (any::<usize>(), 0usize..40).prop_map(|(a, n)| Edit::Duplicate(a, n)),
    ]
}

fn boundary(s: &str, i: usize) -> usize {
    let mut i = i % (s.len() + 1);
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn apply(mut s: String, edits: &[Edit]) -> String {
    for e in edits {
        match *e {
            Edit::Delete(a, n) => {
                let a = boundary(&s, a);
                let b = boundary(&s, a + n);
                if b >= a {
                    s.replace_range(a..b, "");
                }
            }
            Edit::Insert(a, t) => {
                let a = boundary(&s, a);
                s.insert_str(a, TOKENS[t]);
            }
            Edit::Duplicate(a, n) => {
                let a = boundary(&s, a);
                let b = boundary(&s, a + n).max(a);
                let piece = s[a..b].to_string();
                s.insert_str(b, &piece);
            }
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in any::<String>()) {
        check(&text);
    }

    #[test]
    fn token_soup(toks in proptest::collection::vec((0..TOKENS.len(), any::<bool>()), 0..200)) {
        let mut text = String::new();
        for (t, space) in toks {
            text.push_str(TOKENS[t]);
            if space {
                text.push(' ');
            }
        }
        check(&text);
    }

    #[test]
    fn perturbed_queries(i in 0..SAMPLES.len(), edits in proptest::collection::vec(edit(), 1..8)) {
        check(&apply(SAMPLES[i].to_string(), &edits));
    }

    #[test]
    fn deep_nesting(depth in 0usize..6000, open in 0usize..6, close in any::<bool>()) {
        let (o, c) = [("(", ")"), ("[", "]"), ("{", "}"), ("f(", ")"), ("-", ""), ("(T | join (", ") on x)")][open];
        let mut text = format!("T | where {}x", o.repeat(depth));
        if close {
            text.push_str(&c.repeat(depth));
        }
        check(&text);
    }

    #[test]
    fn long_inputs(i in 0..SAMPLES.len(), times in 1usize..400, sep in prop_oneof![Just(";\n"), Just("\n| "), Just(" and "), Just(", ")]) {
        let text = vec![SAMPLES[i]; times].join(sep);
        check(&text);
    }
}
