//! Sweeps every `query:` of the Sentinel corpus: parse rate, every failure with file:line:col,
//! and the share of rules whose `where` filters lower with nothing unmodelled.

mod common;

use std::collections::BTreeMap;

use ir::{Expr, Severity, StageKind};

fn has_unmodeled(e: &Expr) -> bool {
    match e {
        Expr::Unmodeled { .. } => true,
        Expr::And { of } | Expr::Or { of } => of.iter().any(has_unmodeled),
        Expr::Not { expr } => has_unmodeled(expr),
        _ => false,
    }
}

fn unmodeled_reasons(e: &Expr, out: &mut Vec<String>) {
    match e {
        Expr::Unmodeled { why, .. } => out.push(why.clone()),
        Expr::And { of } | Expr::Or { of } => of.iter().for_each(|x| unmodeled_reasons(x, out)),
        Expr::Not { expr } => unmodeled_reasons(expr, out),
        _ => {}
    }
}

fn generalize(why: &str) -> String {
    // Group reasons that name a function or operator.
    let mut s = String::new();
    let mut in_tick = false;
    for c in why.chars() {
        if c == '`' {
            in_tick = !in_tick;
            s.push_str(if in_tick { "`…" } else { "`" });
        } else if !in_tick {
            s.push(c);
        }
    }
    if why.starts_with("syntax error") {
        return "syntax error".into();
    }
    s
}

#[test]
fn sentinel_corpus() {
    let Some(root) = common::sentinel_or_skip("kql sentinel_corpus") else {
        return;
    };
    let functions = common::functions(&root);
    let lookup = |name: &str| functions.get(name).cloned();
    let queries = common::queries(&root);
    assert!(
        queries.len() > 1000,
        "expected the Sentinel corpus to hold >1000 queries, found {}",
        queries.len()
    );

    let mut ok = 0usize;
    let mut failures = Vec::new();
    let mut with_where = 0usize;
    let mut where_clean = 0usize;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    let mut examples: BTreeMap<String, String> = BTreeMap::new();
    let mut warnings: BTreeMap<String, usize> = BTreeMap::new();
    let mut no_table = Vec::new();
    let mut relational_only = 0usize;
    let mut stage_kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    for q in &queries {
        let parsed = kql::parse(&q.text);
        let rel = q
            .path
            .strip_prefix(&root)
            .unwrap_or(&q.path)
            .display()
            .to_string();
        for d in parsed
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
        {
            *warnings.entry(d.code.clone()).or_default() += 1;
        }
        if parsed.has_errors() {
            let d = parsed.first_error().expect("an error");
            let local = d.span.unwrap_or_default();
            let file_span = kql::shift_span(local, q.origin);
            failures.push(format!(
                "{rel}:{}:{}: {}\n{}",
                file_span.line,
                file_span.col,
                d.message,
                kql::caret(&q.text, local)
                    .lines()
                    .map(|l| format!("    | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        } else {
            ok += 1;
        }
        let lowered = kql::lower(&parsed, &q.text, &lookup);
        if lowered.tables.is_empty() {
            no_table.push(rel.clone());
        }
        let mut any_where = false;
        let mut clean = true;
        let mut only_relational = true;
        for s in &lowered.logic.stages {
            *stage_kinds.entry(s.kind.name()).or_default() += 1;
            if let StageKind::Filter { expr } = &s.kind {
                any_where = true;
                if has_unmodeled(expr) {
                    clean = false;
                    let mut rs = Vec::new();
                    unmodeled_reasons(expr, &mut rs);
                    for r in rs {
                        // Conditions that relate rows to other rows or sub-query results
                        // (semi-joins, column against column) have no predicate form.
                        only_relational &= r.contains("sub-query")
                            || r.contains("columns")
                            || r.contains("bounds are not constants");
                        let g = generalize(&r);
                        *reasons.entry(g.clone()).or_default() += 1;
                        examples.entry(g).or_insert_with(|| format!("{rel}: {}", r));
                    }
                }
            }
        }
        if any_where {
            with_where += 1;
            if clean {
                where_clean += 1;
            } else if only_relational {
                relational_only += 1;
            }
        }
    }

    let total = queries.len();
    println!("\n=== KQL corpus: {total} queries ===");
    println!(
        "parsed with no error node: {ok}/{total} = {:.2}%",
        100.0 * ok as f64 / total as f64
    );
    println!(
        "rules with `where` whose filters lower with no Unmodeled: {where_clean}/{with_where} = {:.1}%",
        100.0 * where_clean as f64 / with_where.max(1) as f64
    );
    println!(
        "  the other {}: {relational_only} only for conditions relating rows to sub-query results or other columns",
        with_where - where_clean
    );
    println!("rules with no table found: {}", no_table.len());
    for r in no_table.iter().take(10) {
        println!("    {r}");
    }
    println!("stages by kind: {stage_kinds:?}");
    println!("warnings by code: {warnings:?}");
    println!("\n--- {} failures ---", failures.len());
    for f in &failures {
        println!("{f}");
    }
    let mut top: Vec<_> = reasons.iter().collect();
    top.sort_by(|a, b| b.1.cmp(a.1));
    println!("\n--- unmodelled conditions by reason ---");
    for (r, n) in top.iter().take(25) {
        println!(
            "{n:5}  {r}    e.g. {}",
            examples.get(*r).map(String::as_str).unwrap_or("")
        );
    }
    assert!(
        ok as f64 >= 0.99 * total as f64,
        "parse rate below 99%: {ok}/{total}"
    );
}

#[test]
fn sentinel_parsers_parse() {
    let Some(root) = common::sentinel_or_skip("kql sentinel_parsers_parse") else {
        return;
    };
    let functions = common::functions(&root);
    let mut ok = 0;
    let mut bad = Vec::new();
    for (name, body) in &functions {
        let parsed = kql::parse(body);
        if parsed.has_errors() {
            bad.push(format!(
                "{name}: {}",
                parsed
                    .first_error()
                    .map(|d| d.located())
                    .unwrap_or_default()
            ));
        } else {
            ok += 1;
        }
        let _ = kql::lower(&parsed, body, &|n| functions.get(n).cloned());
    }
    bad.sort();
    println!(
        "\n=== Sentinel parser functions: {ok}/{} parse with no error node ===",
        functions.len()
    );
    for b in &bad {
        println!("    {b}");
    }
    assert!(
        ok * 100 >= functions.len() * 90,
        "parser functions: only {ok}/{} parse",
        functions.len()
    );
}

/// Every corpus query cut short at several points, and with a slice removed, still parses and
/// lowers without a panic, its tokens still lossless.
#[test]
fn corpus_cut_and_spliced() {
    let Some(root) = common::sentinel_or_skip("kql corpus_cut_and_spliced") else {
        return;
    };
    let mut n = 0;
    for q in common::queries(&root) {
        let t = &q.text;
        let cut = |i: usize| {
            (0..=i.min(t.len()))
                .rev()
                .find(|&j| t.is_char_boundary(j))
                .unwrap_or(0)
        };
        for k in 1..6 {
            let a = cut(t.len() * k / 6);
            let b = cut(t.len() * (k + 1) / 7);
            for text in [
                t[..a].to_string(),
                format!("{}{}", &t[..a.min(b)], &t[a.max(b)..]),
            ] {
                let p = kql::parse(&text);
                let joined: String = p.ast.tokens.iter().map(|x| x.text(&text)).collect();
                assert_eq!(joined, text);
                let _ = kql::lower(&p, &text, &|_| None);
                n += 1;
            }
        }
    }
    println!("{n} cut or spliced queries parsed and lowered");
}
