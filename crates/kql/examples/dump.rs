//! Corpus exploration for KQL work: `cargo run -p kql --example dump -- MODE` where MODE is
//! `reason` (unmodelled filters; REASON=text narrows), `warnings`, `stages` or `tables`.

#[path = "../tests/common/mod.rs"]
mod common;

use std::collections::BTreeMap;

use ir::{Expr, Severity, StageKind};

fn main() {
    match std::env::args().nth(1).as_deref() {
        Some("reason") => dump_reason(),
        Some("warnings") => dump_warnings(),
        Some("stages") => dump_stage_odds(),
        Some("tables") => dump_tables(),
        _ => eprintln!("usage: dump reason|warnings|stages|tables"),
    }
}

fn dump_reason() {
    let Some(root) = common::sentinel_or_skip("dump") else {
        return;
    };
    let want = std::env::var("REASON").unwrap_or_default();
    let mut n = 0;
    for q in common::queries(&root) {
        let parsed = kql::parse(&q.text);
        let lowered = kql::lower(&parsed, &q.text, &|_| None);
        for s in &lowered.logic.stages {
            if let StageKind::Filter { expr } = &s.kind {
                let mut v = Vec::new();
                collect(expr, &mut v);
                for (text, why) in v {
                    if why.contains(&want) && n < 40 {
                        n += 1;
                        println!(
                            "{}: {text}  [{why}]",
                            q.path.file_name().unwrap().to_string_lossy()
                        );
                    }
                }
            }
        }
    }
    fn collect(e: &Expr, out: &mut Vec<(String, String)>) {
        match e {
            Expr::Unmodeled { text, why } => out.push((text.clone(), why.clone())),
            Expr::And { of } | Expr::Or { of } => of.iter().for_each(|x| collect(x, out)),
            Expr::Not { expr } => collect(expr, out),
            _ => {}
        }
    }
}

fn dump_warnings() {
    let Some(root) = common::sentinel_or_skip("dump") else {
        return;
    };
    for q in common::queries(&root) {
        let parsed = kql::parse(&q.text);
        for d in parsed
            .diagnostics
            .iter()
            .filter(|d| d.severity == Severity::Warning)
        {
            let s = kql::shift_span(d.span.unwrap_or_default(), q.origin);
            println!(
                "{}:{}:{}: {}\n{}",
                q.path.file_name().unwrap().to_string_lossy(),
                s.line,
                s.col,
                d.message,
                kql::caret(&q.text, d.span.unwrap_or_default())
            );
        }
    }
}

fn dump_stage_odds() {
    let Some(root) = common::sentinel_or_skip("dump") else {
        return;
    };
    let mut ops: BTreeMap<String, usize> = BTreeMap::new();
    for q in common::queries(&root) {
        let parsed = kql::parse(&q.text);
        let l = kql::lower(&parsed, &q.text, &|_| None);
        for s in &l.logic.stages {
            match &s.kind {
                StageKind::Operator { op } => *ops.entry(op.clone()).or_default() += 1,
                StageKind::Unmodeled { why } => println!(
                    "UNMODELED {}: {why}: {}",
                    q.path.file_name().unwrap().to_string_lossy(),
                    s.text.chars().take(100).collect::<String>()
                ),
                _ => {}
            }
        }
        for d in &l.diagnostics {
            println!(
                "LDIAG {}: {}",
                q.path.file_name().unwrap().to_string_lossy(),
                d.located()
            );
        }
    }
    println!("{ops:?}");
}

fn dump_tables() {
    let Some(root) = common::sentinel_or_skip("dump") else {
        return;
    };
    let mut tabs: BTreeMap<String, usize> = BTreeMap::new();
    for q in common::queries(&root) {
        let parsed = kql::parse(&q.text);
        let l = kql::lower(&parsed, &q.text, &|_| None);
        for t in l.tables {
            *tabs.entry(t).or_default() += 1;
        }
    }
    for (t, n) in tabs {
        println!("{n:4} {t}");
    }
}
