use kql::lexer::{lex, string_value, timespan_seconds, TokenKind};

/// (kind, text) of the significant tokens.
fn toks(text: &str) -> Vec<(TokenKind, &str)> {
    let (t, errs) = lex(text);
    assert!(errs.is_empty(), "lex errors for {text:?}: {errs:?}");
    t.iter()
        .filter(|t| !t.is_trivia())
        .map(|t| (t.kind, t.text(text)))
        .collect()
}

fn lossless(text: &str) {
    let (t, _) = lex(text);
    let joined: String = t.iter().map(|t| t.text(text)).collect();
    assert_eq!(joined, text);
    for w in t.windows(2) {
        assert_eq!(w[0].end, w[1].start);
    }
}

#[test]
fn string_literal_forms() {
    use TokenKind::Str;
    let cases: &[(&str, &str)] = &[
        (r#""a\"b\\c""#, "a\"b\\c"),
        (r"'it\'s'", "it's"),
        (r#"@"C:\Windows\""x""#, "C:\\Windows\\\"x"),
        (r"@'C:\a''b'", "C:\\a'b"),
        ("```multi\nline \"x\"```", "multi\nline \"x\""),
        ("~~~tilde ``` text~~~", "tilde ``` text"),
        (r#"h"secret""#, "secret"),
        (r"H'secret'", "secret"),
        (r#"h@"c:\x""#, "c:\\x"),
        (r"h@'c:\x'", "c:\\x"),
        ("h```obf```", "obf"),
        (r#""tab\tnl\n\u0041\x42\101""#, "tab\tnl\nABA"),
        (r#""""#, ""),
    ];
    for (src, value) in cases {
        let t = toks(src);
        assert_eq!(t, vec![(Str, *src)], "{src}");
        assert_eq!(string_value(src), *value, "{src}");
        lossless(src);
    }
}

#[test]
fn adjacent_strings_are_separate_tokens_joined_by_the_parser() {
    let t = toks(r#""a" 'b' @"c""#);
    assert_eq!(t.len(), 3);
    assert!(t.iter().all(|(k, _)| *k == TokenKind::Str));
}

#[test]
fn timespans() {
    for (src, secs) in [
        ("1d", 86400.0),
        ("5m", 300.0),
        ("1hr", 3600.0),
        ("2hrs", 7200.0),
        ("2days", 172800.0),
        ("10ms", 0.01),
        ("30min", 1800.0),
        ("7sec", 7.0),
        ("1.5h", 5400.0),
        ("3seconds", 3.0),
        ("1minute", 60.0),
        ("100tick", 1e-5),
        ("5microseconds", 5e-6),
    ] {
        assert_eq!(toks(src), vec![(TokenKind::Timespan, src)], "{src}");
        let got = timespan_seconds(src).unwrap();
        assert!((got - secs).abs() < 1e-9, "{src}: {got}");
    }
}

#[test]
fn numbers_and_digit_names() {
    assert_eq!(toks("42"), vec![(TokenKind::Int, "42")]);
    assert_eq!(toks("0x1F"), vec![(TokenKind::Int, "0x1F")]);
    assert_eq!(toks("1.5"), vec![(TokenKind::Real, "1.5")]);
    assert_eq!(toks("1e3"), vec![(TokenKind::Real, "1e3")]);
    assert_eq!(toks("2.5E-3"), vec![(TokenKind::Real, "2.5E-3")]);
    // KQL names may start with a digit.
    assert_eq!(toks("10abc"), vec![(TokenKind::Ident, "10abc")]);
    // `0 .. 2` and `0..2`: the range dots are not a decimal point.
    assert_eq!(
        toks("0..2"),
        vec![
            (TokenKind::Int, "0"),
            (TokenKind::Punct, ".."),
            (TokenKind::Int, "2")
        ]
    );
    assert_eq!(
        toks("1.0..2.5"),
        vec![
            (TokenKind::Real, "1.0"),
            (TokenKind::Punct, ".."),
            (TokenKind::Real, "2.5")
        ]
    );
}

#[test]
fn bang_operators_are_single_tokens() {
    for op in [
        "!has",
        "!has_cs",
        "!contains",
        "!contains_cs",
        "!startswith",
        "!startswith_cs",
        "!endswith",
        "!endswith_cs",
        "!hasprefix",
        "!hassuffix_cs",
        "!in",
        "!in~",
        "!between",
    ] {
        let src = format!("x {op} y");
        let t = toks(&src);
        assert_eq!(t[1], (TokenKind::Op, op), "{src}");
        assert_eq!(t.len(), 3);
    }
    assert_eq!(toks("x in~ (1)")[1], (TokenKind::Op, "in~"));
    for p in ["==", "!=", "=~", "!~", "<>", "<=", ">=", "=>", ".."] {
        let src = format!("a {p} b");
        assert_eq!(toks(&src)[1], (TokenKind::Punct, p), "{src}");
    }
    // `!` before something else stays a lone `!`.
    assert_eq!(toks("!x")[0], (TokenKind::Punct, "!"));
    assert_eq!(toks("!inside")[0], (TokenKind::Punct, "!"));
}

#[test]
fn comments_are_trivia_and_not_inside_strings() {
    let src = "T // a comment\n| where x == \"http://a\" // another";
    let (t, errs) = lex(src);
    assert!(errs.is_empty());
    let comments: Vec<&str> = t
        .iter()
        .filter(|t| t.kind == TokenKind::Comment)
        .map(|t| t.text(src))
        .collect();
    assert_eq!(comments, ["// a comment", "// another"]);
    assert!(toks(src).contains(&(TokenKind::Str, "\"http://a\"")));
    lossless(src);
}

#[test]
fn typed_literals() {
    for src in [
        "datetime(2021-01-01 10:00:00)",
        "datetime(null)",
        "timespan(1d)",
        "guid(74be27de-1e4e-49d9-b579-fe0b331d3642)",
        "long(null)",
        "int(5)",
        "real(1.5)",
        "bool(true)",
        "typeof(string)",
    ] {
        assert_eq!(toks(src), vec![(TokenKind::Typed, src)], "{src}");
    }
    // A type name not followed by `(` is a name (schemas, parameters).
    assert_eq!(toks("datetime")[0], (TokenKind::Ident, "datetime"));
    assert_eq!(toks("todatetime(x)")[0], (TokenKind::Ident, "todatetime"));
}

#[test]
fn names() {
    assert_eq!(toks("$left.A")[0], (TokenKind::Ident, "$left"));
    assert_eq!(toks("_x1")[0], (TokenKind::Ident, "_x1"));
    assert_eq!(toks("has_any")[0], (TokenKind::Ident, "has_any"));
}

#[test]
fn errors_do_not_stop_the_lexer() {
    let src = "where x == \"open\n| take 1 § done";
    let (t, errs) = lex(src);
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(errs[0].message.contains("unterminated"));
    assert!(errs[1].message.contains("§"));
    // The unterminated string ends at the line end; the next line still lexes.
    assert!(t.iter().any(|t| t.text(src) == "take"));
    lossless(src);
}

#[test]
fn lossless_on_odd_input() {
    for src in [
        "",
        " ",
        "\u{feff}T",
        "é | where ü == 'ö'",
        "```never closed",
        "@",
        "h",
        "\"\\",
        "'\\\u{e9}",
        "1.",
        "0x",
        "a\r\nb\rc",
        "\u{a0}x\u{2003}",
    ] {
        lossless(src);
    }
}
