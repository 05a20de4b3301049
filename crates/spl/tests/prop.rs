//! Fuzzing the SPL front end with proptest: any text expands, parses and lowers without a panic;
//! deep nesting is capped; self-expanding macros stop.

use proptest::prelude::*;
use spl::{Macro, Macros};

fn macros() -> Macros {
    let mut m = Macros::default();
    m.add(Macro {
        name: "a".into(),
        args: vec![],
        definition: "`b` x=1".into(),
    });
    m.add(Macro {
        name: "b".into(),
        args: vec![],
        definition: "`a`".into(),
    });
    m.add(Macro {
        name: "f(1)".into(),
        args: vec!["v".into()],
        definition: "y=$v$".into(),
    });
    m
}

fn spl_text() -> impl Strategy<Value = String> {
    let atoms = prop::sample::select(vec![
        "| ",
        "tstats ",
        "count ",
        "from ",
        "datamodel=Endpoint.Processes ",
        "where ",
        "by ",
        "search ",
        "NOT ",
        "OR ",
        "AND ",
        "(",
        ")",
        "[",
        "]",
        "\"",
        "'",
        "`a`",
        "`f(z)`",
        "`",
        "=",
        "!=",
        ">=",
        "IN ",
        ",",
        "x",
        "Processes.process_name",
        "*exe*",
        "like(",
        "match(",
        "```c```",
        " ",
        "\\",
        "$v$",
        "stats ",
        "rename ",
        "as ",
    ]);
    prop::collection::vec(atoms, 0..80).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn never_panics(text in spl_text()) {
        let e = macros().expand(&text);
        let _ = spl::lower(&e.text);
        let _ = spl::lower(&text);
    }

    #[test]
    fn any_bytes(text in "\\PC{0,300}") {
        let _ = spl::lower(&macros().expand(&text).text);
    }

    /// The tokens give the text back, byte for byte; every span is inside the text.
    #[test]
    fn lossless(text in spl_text()) {
        let toks = spl::lexer::lex(&text);
        let back: String = toks.iter().map(|t| t.text(&text)).collect();
        prop_assert_eq!(&back, &text);
        let p = spl::parse(&text);
        for e in p.errors.iter().chain(&p.notes) {
            prop_assert!(e.span.start <= e.span.end && e.span.end <= text.len());
        }
        for c in &p.pipeline.commands {
            prop_assert!(c.span.end <= text.len());
        }
    }

    /// Expansion maps every byte back into the written search.
    #[test]
    fn expansion_maps_back(text in spl_text()) {
        let e = macros().expand(&text);
        for pos in 0..e.text.len() {
            let (at, _) = e.written(pos);
            prop_assert!(at <= text.len());
        }
    }
}

#[test]
fn deep_nesting_and_long_inputs() {
    let deep = format!("search {}x=1{}", "(".repeat(50_000), ")".repeat(50_000));
    let l = spl::lower(&deep);
    assert!(
        !l.diagnostics.is_empty(),
        "a 50,000-deep search is reported"
    );
    let deep_where = format!("where {}x=\"1\"{}", "NOT ".repeat(50_000), "");
    let _ = spl::lower(&deep_where);
    // Linear time: 20,000 terms.
    let long = format!(
        "search {}",
        (0..20_000)
            .map(|i| format!("f{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(" OR ")
    );
    let t = std::time::Instant::now();
    let l = spl::lower(&long);
    assert!(l.diagnostics.is_empty());
    assert!(t.elapsed().as_secs() < 10);
    // Linear time for the lexer and parser on a long unbalanced input too.
    let messy = "a=( [ \"x\" | ".repeat(20_000);
    let t = std::time::Instant::now();
    let p = spl::parse(&messy);
    assert!(!p.errors.is_empty());
    assert!(t.elapsed().as_secs() < 10);
    let r = macros().expand("`a`");
    assert!(r.diagnostics.iter().any(|d| d.code == "recursive-macro"));
}
